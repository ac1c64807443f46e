//! Connecting to etcd as configured, and the reads every part of the source shares: a
//! consistent listing of the prefix in bounded pages.

use std::path::Path;

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};

use super::config::{EtcdConfig, Password};

/// Keys per page of a listing: bounded so no response nears gRPC's message size limit,
/// however large the fleet.
const PAGE: i64 = 2000;

/// Builds a client for `config`. Without authentication this does not dial (the first
/// request does); with it, it authenticates at once and fails when etcd is unreachable.
pub async fn connect(
    config: &EtcdConfig,
    base_dir: &Path,
    password: Option<&Password>,
) -> Result<Client, String> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(config.dial_timeout())
        .with_timeout(config.request_timeout())
        .with_keep_alive(
            config.dial_timeout().max(std::time::Duration::from_secs(1)),
            config.dial_timeout(),
        )
        .with_keep_alive_while_idle(true);
    if let (Some(user), Some(pw)) = (&config.username, password) {
        options = options.with_user(user.clone(), pw.0.clone());
    }
    if let Some(ca) = &config.ca_file {
        let read = |f: &Path| {
            std::fs::read(base_dir.join(f))
                .map_err(|e| format!("{}: {e}", base_dir.join(f).display()))
        };
        let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(tls);
    }
    let endpoints: Vec<String> = config
        .endpoints
        .iter()
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else if config.ca_file.is_some() {
                format!("https://{e}")
            } else {
                format!("http://{e}")
            }
        })
        .collect();
    Client::connect(endpoints, Some(options)).await.map_err(|e| describe(&e))
}

/// One key of a listing: relative key, value, revision of its last write.
pub type Listed = (String, Vec<u8>, i64);

/// Lists every key under `prefix` as of one revision, in pages, and returns them (keys
/// relative to the prefix) with that revision.
pub async fn list(
    client: &mut Client,
    prefix: &str,
) -> Result<(Vec<Listed>, i64), etcd_client::Error> {
    let end = prefix_end(prefix.as_bytes());
    let mut out = Vec::new();
    let mut from = prefix.as_bytes().to_vec();
    let mut revision = 0;
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        let resp = client.get(from.clone(), Some(opts)).await?;
        if revision == 0 {
            revision = resp.header().map_or(0, |h| h.revision());
        }
        let kvs = resp.kvs();
        for kv in kvs {
            let key = String::from_utf8_lossy(&kv.key()[prefix.len()..]).into_owned();
            out.push((key, kv.value().to_vec(), kv.mod_revision()));
        }
        match kvs.last() {
            Some(last) if resp.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => return Ok((out, revision)),
        }
    }
}

/// The end of the key range of everything that starts with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Whether etcd refused a read or watch because the revision was compacted away.
pub fn is_compacted(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::OutOfRange && s.message().contains("compacted"))
}

/// An etcd error in one line, without secrets (the client never echoes the password).
pub fn describe(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            format!("{:?}: {}", s.code(), s.message())
        }
        other => other.to_string(),
    }
}
