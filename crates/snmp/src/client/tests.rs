use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::transport::{Expect, Mailbox, Pending};
use super::*;
use crate::codec::{Oid, PduHeader, PduType, Version, encode_community};

fn response(version: Version, community: &[u8], id: i32) -> Vec<u8> {
    let mut out = Vec::new();
    let oids = [Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0])];
    encode_community(
        &mut out,
        version,
        community,
        &PduHeader::request(PduType::Response, id),
        &oids[..],
    );
    out
}

#[test]
fn replies_are_routed_by_id_version_community_and_source() {
    let pending = Pending::new(true);
    let mailbox = Arc::new(Mailbox::default());
    let agent: SocketAddr = "127.0.0.1:161".parse().unwrap();
    let other: SocketAddr = "127.0.0.2:161".parse().unwrap();
    let expect = Expect::Community { version: Version::V2c, community: Arc::from(&b"public"[..]) };
    let id = pending.register(&mailbox, agent, &expect);
    assert!(id > 0);
    assert!(!pending.dispatch(&response(Version::V2c, b"public", id + 1), agent), "unknown id");
    assert!(!pending.dispatch(&response(Version::V1, b"public", id), agent), "wrong version");
    assert!(!pending.dispatch(&response(Version::V2c, b"secret", id), agent), "wrong community");
    assert!(!pending.dispatch(&response(Version::V2c, b"public", id), other), "wrong source");
    assert!(pending.dispatch(&response(Version::V2c, b"public", id), agent));
    assert_eq!(mailbox.try_recv(), Some(response(Version::V2c, b"public", id).into()));
    assert_eq!(mailbox.try_recv(), None);
    pending.unregister(id);
    assert!(!pending.dispatch(&response(Version::V2c, b"public", id), agent), "unregistered");

    let loose = Pending::new(false);
    let id = loose.register(&mailbox, agent, &expect);
    assert!(loose.dispatch(&response(Version::V2c, b"public", id), other), "source not checked");
}

#[test]
fn ids_are_unique_and_positive() {
    let pending = Pending::new(true);
    let mailbox = Arc::new(Mailbox::default());
    let agent: SocketAddr = "127.0.0.1:161".parse().unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10_000 {
        let id = pending.register(&mailbox, agent, &Expect::V3);
        assert!(id > 0 && seen.insert(id));
    }
}

#[test]
fn backoff_schedule_and_deadline() {
    let o = RequestOptions {
        timeout: Duration::from_millis(100),
        retries: 2,
        backoff: 2.0,
        ..Default::default()
    };
    let t: Vec<Duration> = o.attempt_timeouts().collect();
    assert_eq!(
        t,
        [Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)]
    );
    assert_eq!(o.total(), Duration::from_millis(700));
    let capped = RequestOptions { deadline: Some(Duration::from_millis(150)), ..o };
    assert_eq!(capped.total(), Duration::from_millis(150));
}

#[test]
fn debug_output_hides_communities() {
    let s = format!("{:?} {:?}", Security::v2c("s3cret-community"), Security::v1("other-s3cret"));
    assert!(!s.contains("s3cret"), "{s}");
}

#[tokio::test]
async fn timeout_when_nobody_answers() {
    // A bound socket that never replies: the request must end with Timeout at the deadline.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = Client::new().unwrap();
    let opts =
        RequestOptions { timeout: Duration::from_millis(20), retries: 2, ..Default::default() };
    let t = client.target_with(silent.local_addr().unwrap(), Security::v2c("public"), opts);
    let err = t.get(&[Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0])]).await.unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    let mut buf = [0u8; 1500];
    silent.set_nonblocking(true).unwrap();
    let mut sent = 0;
    while silent.recv_from(&mut buf).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 3, "first attempt plus two retries");
}

#[tokio::test]
async fn several_sockets_share_one_routing_table() {
    let cfg = ClientConfig { sockets: 4, ..Default::default() };
    let client = Client::with_config(cfg).unwrap();
    assert_eq!(client.inner.v4.len(), 4);
    let a: SocketAddr = "127.0.0.1:1161".parse().unwrap();
    let first = client.socket_for(&a).unwrap().local_addr().unwrap();
    assert_eq!(client.socket_for(&a).unwrap().local_addr().unwrap(), first, "stable per target");
    assert!(Client::with_config(ClientConfig { sockets: 0, ..Default::default() }).is_err());
}

#[tokio::test]
async fn send_errors_reach_the_request() {
    // Port 0 is not a valid destination: the kernel refuses the datagram (EINVAL). Several
    // equal requests in one tick form one segmented send; its refusal must still fail every
    // request with Io, not leave it to time out.
    let client = Client::new().unwrap();
    let opts = RequestOptions { timeout: Duration::from_secs(30), ..Default::default() };
    let t = client.target_with("127.0.0.1:0".parse().unwrap(), Security::v2c("public"), opts);
    let oid = Oid::from_static(&[1, 3, 6, 1, 2, 1, 1, 3, 0]);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (t, oid) = (t.clone(), oid.clone());
        set.spawn(async move { t.get(&[oid]).await });
    }
    let guard = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(r) = set.join_next().await {
            let err = r.unwrap().unwrap_err();
            assert!(matches!(err, Error::Io(_)), "{err:?}");
        }
    });
    guard.await.expect("send failures are reported at once, not as timeouts");
}
