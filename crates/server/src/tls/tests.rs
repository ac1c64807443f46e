//! Certificate sets: loading, the problems of bad files and names, and the choice by SNI.

use std::path::Path;
use std::sync::Arc;

use switchyard_testkit::pki::{Leaf, TestCa};

use super::{CertSet, Match, TlsConfig};

fn write(dir: &Path, name: &str, leaf: &Leaf) {
    std::fs::write(dir.join(format!("{name}.crt")), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), &leaf.key_pem).unwrap();
}

fn config(toml_text: &str) -> TlsConfig {
    toml::from_str(toml_text).unwrap()
}

/// The DER of the leaf `set` serves for `name`, and how it was chosen; `service_of` maps
/// `video.example.net` to the service `video`.
fn chosen(set: &CertSet, name: Option<&str>) -> (Option<Vec<u8>>, Match) {
    let (key, how) = set.choose(name, |n| (n == "video.example.net").then(|| "video".to_owned()));
    (key.map(|k| k.cert[0].as_ref().to_vec()), how)
}

fn der(leaf: &Leaf) -> Option<Vec<u8>> {
    Some(leaf.der.as_ref().to_vec())
}

#[test]
fn names_wildcards_services_and_the_default_choose_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let fallback = ca.leaf(&["router.example.org"]);
    let listed = ca.leaf(&["ignored.example.org"]);
    let by_san = ca.leaf(&["img.example.com", "*.static.example.com"]);
    let video = ca.leaf(&["video.example.net"]);
    for (name, leaf) in [("default", &fallback), ("listed", &listed), ("san", &by_san)] {
        write(dir.path(), name, leaf);
    }
    write(dir.path(), "video", &video);
    let c = config(
        r#"
        cert_file = "default.crt"
        key_file = "default.key"
        [[certificates]]
        names = ["API.example.org", "*.cdn.example.org"]
        cert_file = "listed.crt"
        key_file = "listed.key"
        [[certificates]]
        cert_file = "san.crt"
        key_file = "san.key"
        [[certificates]]
        service = "video"
        cert_file = "video.crt"
        key_file = "video.key"
        "#,
    );
    let set = CertSet::load(&c, dir.path(), true).unwrap();
    // Listed names, case-insensitive as configured; a wildcard covers one label only.
    assert_eq!(chosen(&set, Some("api.example.org")), (der(&listed), Match::Name));
    assert_eq!(chosen(&set, Some("a.cdn.example.org")), (der(&listed), Match::Name));
    assert_eq!(chosen(&set, Some("a.b.cdn.example.org")), (der(&fallback), Match::Default));
    // Listed names replace the certificate's own: its SAN is not served by name.
    assert_eq!(chosen(&set, Some("ignored.example.org")).1, Match::Default);
    // Without `names`, the certificate's DNS names, wildcards included.
    assert_eq!(chosen(&set, Some("img.example.com")), (der(&by_san), Match::Name));
    assert_eq!(chosen(&set, Some("x.static.example.com")), (der(&by_san), Match::Name));
    // By the service the routing table maps the name to.
    assert_eq!(chosen(&set, Some("video.example.net")), (der(&video), Match::Service));
    // Unknown names and no SNI: the default.
    assert_eq!(chosen(&set, Some("other.example")), (der(&fallback), Match::Default));
    assert_eq!(chosen(&set, None), (der(&fallback), Match::Default));
    // A service entry does not serve its certificate's names by name.
    let only_service = CertSet::load(
        &config("[[certificates]]\nservice = \"video\"\ncert_file = \"video.crt\"\nkey_file = \"video.key\""),
        dir.path(),
        true,
    )
    .unwrap();
    assert_eq!(chosen(&only_service, Some("other.example")), (None, Match::None));
    assert_eq!(chosen(&only_service, None), (None, Match::None));
    assert_eq!(chosen(&only_service, Some("video.example.net")).1, Match::Service);
}

/// The problems of `toml_text` under `services` (the traffic listener) or not.
fn problems(dir: &Path, toml_text: &str, services: bool) -> Vec<String> {
    match CertSet::load(&config(toml_text), dir, services) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn bad_files_and_names_are_reported_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let a = ca.leaf(&["a.example.com"]);
    let b = ca.leaf(&["b.example.com"]);
    write(dir.path(), "a", &a);
    write(dir.path(), "b", &b);
    std::fs::write(dir.path().join("junk.crt"), "not a certificate").unwrap();
    let has = |found: &[String], key: &str, what: &str| {
        assert!(
            found.iter().any(|p| p.starts_with(key) && p.contains(what)),
            "no problem at {key} saying {what:?} in {found:#?}"
        );
    };

    let p = problems(dir.path(), "", true);
    has(&p, "", "names no certificate");
    let p = problems(dir.path(), "cert_file = \"a.crt\"", true);
    has(&p, "key_file", "needed with cert_file");
    let p = problems(dir.path(), "cert_file = \"missing.crt\"\nkey_file = \"a.key\"", true);
    has(&p, "cert_file", "cannot read");
    let p = problems(dir.path(), "cert_file = \"junk.crt\"\nkey_file = \"a.key\"", true);
    has(&p, "cert_file", "no CERTIFICATE");
    // A key of another certificate, and a certificate where the key should be.
    let p = problems(dir.path(), "cert_file = \"a.crt\"\nkey_file = \"b.key\"", true);
    has(&p, "key_file", "does not match the certificate");
    let p = problems(dir.path(), "cert_file = \"a.crt\"\nkey_file = \"a.crt\"", true);
    has(&p, "key_file", "no PEM private key");
    // Never the key's content.
    assert!(p.iter().all(|m| !m.contains("PRIVATE KEY")), "{p:#?}");

    let entries = r#"
        [[certificates]]
        names = ["a.example.com", "*.com", "bad_name!.example.com"]
        cert_file = "a.crt"
        key_file = "a.key"
        [[certificates]]
        names = ["A.example.com"]
        service = "video"
        cert_file = "b.crt"
        key_file = "b.key"
    "#;
    let p = problems(dir.path(), entries, true);
    has(&p, "certificates[0].names[1]", "one-label wildcard");
    has(&p, "certificates[0].names[2]", "not a host name");
    has(&p, "certificates[1].names[0]", "already listed by certificates[0]");
    let p = problems(dir.path(), entries, false);
    has(&p, "certificates[1].service", "only [http.tls]");
}

#[test]
fn the_sections_parse_with_their_defaults_and_refuse_unknown_keys() {
    let c = config("cert_file = \"a.crt\"\nkey_file = \"a.key\"");
    assert_eq!(c.min_version, super::TlsVersion::Tls12);
    assert!(c.certificates.is_empty());
    let c = config("min_version = \"1.3\"\ncert_file = \"a.crt\"\nkey_file = \"a.key\"");
    assert_eq!(c.min_version, super::TlsVersion::Tls13);
    assert!(toml::from_str::<TlsConfig>("min_version = \"1.1\"").is_err());
    assert!(toml::from_str::<TlsConfig>("cert = \"a.crt\"").is_err());
}

#[test]
fn the_resolver_swaps_the_whole_set() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("test CA");
    let (old, new) = (ca.leaf(&["a.example.com"]), ca.leaf(&["a.example.com"]));
    write(dir.path(), "old", &old);
    write(dir.path(), "new", &new);
    let metrics = crate::metrics::Metrics::new();
    let state = super::TlsState::default();
    let c = config("cert_file = \"old.crt\"\nkey_file = \"old.key\"");
    let server = state.acceptor(super::Listener::Https, &c, dir.path(), None, &metrics).unwrap();
    let served = |certs: &super::Certificates| {
        certs.set.load().choose(Some("a.example.com"), |_| None).0.unwrap().cert[0].clone()
    };
    assert_eq!(served(&server.certs), old.der);
    assert!(metrics.encode().contains(
        "switchyard_tls_certificate_expiry_timestamp_seconds{listener=\"https\",certificate=\"default\"}"
    ));
    // A staged set that fails leaves the set in force.
    std::fs::write(dir.path().join("broken.crt"), "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let broken = config("cert_file = \"broken.crt\"\nkey_file = \"new.key\"");
    let err = state.stage(Some(&broken), None, dir.path()).err().expect("refused");
    assert!(err[0].path.starts_with("http.tls.cert_file"), "{err:?}");
    assert_eq!(served(&server.certs), old.der);
    // A good one is put in force by commit, not before.
    let good = config("cert_file = \"new.crt\"\nkey_file = \"new.key\"");
    let staged = state.stage(Some(&good), None, dir.path()).unwrap();
    assert_eq!(served(&server.certs), old.der);
    staged.commit();
    assert_eq!(served(&server.certs), new.der);
    let _ = Arc::clone(&server.certs);
}
