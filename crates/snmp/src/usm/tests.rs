use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const ENGINE: &str = "000000000000000000000002";

#[test]
fn rfc3414_a3_md5_key_localization() {
    // RFC 3414 appendix A.3.1.
    let ku = password_to_key_uncached(AuthProtocol::Md5, b"maplesyrup");
    assert_eq!(ku.as_slice(), hex("9faf3283884e92834ebc9847d8edd963"));
    let kul = localize(AuthProtocol::Md5, &ku, &hex(ENGINE));
    assert_eq!(kul.as_slice(), hex("526f5eed9fcce26f8964c2930787d82b"));
}

#[test]
fn rfc3414_a3_sha1_key_localization() {
    // RFC 3414 appendix A.3.2.
    let ku = password_to_key_uncached(AuthProtocol::Sha1, b"maplesyrup");
    assert_eq!(ku.as_slice(), hex("9fb5cc0381497b3793528939ff788d5d79145211"));
    let kul = localize(AuthProtocol::Sha1, &ku, &hex(ENGINE));
    assert_eq!(kul.as_slice(), hex("6695febc9288e36282235fc7151f128497b38f3f"));
}

#[test]
fn cached_key_equals_uncached() {
    let a = password_to_key(AuthProtocol::Sha256, b"maplesyrup");
    let b = password_to_key(AuthProtocol::Sha256, b"maplesyrup");
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(*a, password_to_key_uncached(AuthProtocol::Sha256, b"maplesyrup"));
}

#[test]
fn key_extension_variants_differ_after_the_localized_prefix() {
    let ku = password_to_key_uncached(AuthProtocol::Sha1, b"maplesyrup");
    let kul = localize(AuthProtocol::Sha1, &ku, &hex(ENGINE));
    let b = extend_key(AuthProtocol::Sha1, KeyExtension::Blumenthal, &kul, &hex(ENGINE), 32);
    let r = extend_key(AuthProtocol::Sha1, KeyExtension::Reeder, &kul, &hex(ENGINE), 32);
    assert_eq!(&b.as_slice()[..20], kul.as_slice());
    assert_eq!(&r.as_slice()[..20], kul.as_slice());
    assert_eq!(&b.as_slice()[20..], &digest(AuthProtocol::Sha1, &[kul.as_slice()])[..12]);
    assert_ne!(b.as_slice()[20..], r.as_slice()[20..]);
}

#[test]
fn mac_lengths_follow_rfc7860() {
    let lens: Vec<usize> = [
        AuthProtocol::Md5,
        AuthProtocol::Sha1,
        AuthProtocol::Sha224,
        AuthProtocol::Sha256,
        AuthProtocol::Sha384,
        AuthProtocol::Sha512,
    ]
    .iter()
    .map(|p| p.mac_len())
    .collect();
    assert_eq!(lens, [12, 12, 16, 24, 32, 48]);
}

#[test]
fn sign_then_verify_detects_tampering() {
    for p in [AuthProtocol::Md5, AuthProtocol::Sha1, AuthProtocol::Sha512] {
        let key = AuthKey::new(p, &KeyBytes::new(vec![7; 20]));
        let mut msg = vec![1u8; 100];
        msg[40..40 + p.mac_len()].fill(0);
        key.sign(&mut msg, 40);
        let mac = msg[40..40 + p.mac_len()].to_vec();
        assert!(key.verify(&msg, 40, &mac));
        msg[99] ^= 1;
        assert!(!key.verify(&msg, 40, &mac));
    }
}

#[test]
fn every_privacy_protocol_round_trips() {
    let kul = KeyBytes::new((0..20).collect());
    for p in [
        PrivProtocol::Des,
        PrivProtocol::Aes128,
        PrivProtocol::Aes192,
        PrivProtocol::Aes256,
        PrivProtocol::Aes192Reeder,
        PrivProtocol::Aes256Reeder,
    ] {
        let k = PrivKey::new(p, AuthProtocol::Sha1, &kul, b"engine");
        let plain: Vec<u8> = (0..77u8).collect();
        let mut c = Vec::new();
        let params = k.encrypt(5, 1000, 42, &plain, &mut c);
        assert_ne!(&c[..plain.len()], &plain[..]);
        let mut back = Vec::new();
        k.decrypt(5, 1000, &params, &c, &mut back).unwrap();
        assert_eq!(&back[..plain.len()], &plain[..], "{p:?}");
    }
}

#[test]
fn des_rejects_partial_blocks() {
    let k = PrivKey::new(PrivProtocol::Des, AuthProtocol::Md5, &KeyBytes::new(vec![1; 16]), b"e");
    let mut out = Vec::new();
    assert_eq!(k.decrypt(0, 0, &[0; 8], &[0; 7], &mut out), Err(DecryptError));
    assert_eq!(k.decrypt(0, 0, &[0; 7], &[0; 8], &mut out), Err(DecryptError));
}

#[test]
fn debug_output_has_no_secrets() {
    let u = UsmUser::no_auth("alice")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"supersecret1")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"privsecret1")
        .unwrap();
    let s = format!("{u:?} {:?}", LocalizedKeys::new(&u, b"engine"));
    assert!(!s.contains("secret"));
    assert!(s.contains("redacted"));
}
