//! The fault proxy over loopback: an echo server behind it for each fault, and a real etcd
//! reached over gRPC (HTTP/2) through it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::proxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const GUARD: Duration = Duration::from_secs(5);
/// How long a read must stay unanswered to count as hanging.
const HANG: Duration = Duration::from_millis(300);

/// An echo server that writes back what it reads and closes after the client's half close.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn connect(proxy: &FaultProxy) -> TcpStream {
    timeout(GUARD, TcpStream::connect(proxy.listen_addr())).await.expect("connect").unwrap()
}

async fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    let mut back = vec![0; msg.len()];
    timeout(GUARD, s.read_exact(&mut back)).await.expect("echo in time").unwrap();
    assert_eq!(back, msg);
}

/// Whether the peer closed or reset the connection within the guard time.
async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match timeout(GUARD, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

/// Polls a counter that has no event to wait on, for at most the guard time.
async fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < GUARD, "{what} did not happen within {GUARD:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn forwards_both_ways_passes_the_half_close_and_counts() {
    let proxy = FaultProxy::start(echo_server().await).unwrap();
    let mut s = connect(&proxy).await;
    let msg: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&msg).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let recv = timeout(GUARD, r.read_to_end(&mut back));
    let ((), got) = tokio::join!(send, recv);
    got.expect("echo and close in time").unwrap();
    assert_eq!(back, msg, "the echo came back whole and then the close");

    let st = proxy.stats();
    assert_eq!((st.accepted, st.refused, st.connect_failures), (1, 0, 0));
    assert_eq!((st.bytes_to_target, st.bytes_to_client), (100_000, 100_000));
    eventually("the connection leaving the active count", || proxy.stats().active == 0).await;
}

#[tokio::test]
async fn pause_hangs_open_and_new_connections_until_resume() {
    let proxy = FaultProxy::start(echo_server().await).unwrap();
    let mut s = connect(&proxy).await;
    round_trip(&mut s, b"one").await;

    proxy.pause();
    s.write_all(b"two").await.unwrap();
    let mut back = [0u8; 3];
    assert!(timeout(HANG, s.read_exact(&mut back)).await.is_err(), "bytes crossed a pause");
    // A new client completes the kernel handshake but is not served.
    let mut late = connect(&proxy).await;
    late.write_all(b"late").await.unwrap();
    let mut late_back = [0u8; 4];
    assert!(timeout(HANG, late.read_exact(&mut late_back)).await.is_err());
    assert_eq!(proxy.stats().accepted, 1);
    assert_eq!(proxy.stats().bytes_to_target, 3);

    proxy.resume();
    timeout(GUARD, s.read_exact(&mut back)).await.expect("delivered after resume").unwrap();
    assert_eq!(&back, b"two");
    timeout(GUARD, late.read_exact(&mut late_back)).await.expect("late one served").unwrap();
    assert_eq!(&late_back, b"late");
    assert_eq!(proxy.stats().accepted, 2);
}

#[tokio::test]
async fn cut_resets_open_connections_and_refuses_until_resume() {
    let proxy = FaultProxy::start(echo_server().await).unwrap();
    let mut s = connect(&proxy).await;
    round_trip(&mut s, b"before").await;

    proxy.cut();
    assert!(closed(&mut s).await, "an open connection survived the cut");
    // The reset may land before the client's connect call returns.
    match timeout(GUARD, TcpStream::connect(proxy.listen_addr())).await.expect("connect") {
        Ok(mut refused) => assert!(closed(&mut refused).await, "served while cut"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    eventually("the refusal being counted", || proxy.stats().refused == 1).await;

    proxy.resume();
    let mut again = connect(&proxy).await;
    round_trip(&mut again, b"after").await;

    // A reset drops what is open and goes on serving.
    proxy.reset_connections();
    assert!(closed(&mut again).await, "a connection survived the reset");
    let mut fresh = connect(&proxy).await;
    round_trip(&mut fresh, b"fresh").await;
    assert_eq!(proxy.stats().refused, 1);
}

#[tokio::test]
async fn delay_applies_each_way_and_can_be_lifted() {
    let proxy = FaultProxy::start(echo_server().await).unwrap();
    let mut s = connect(&proxy).await;
    round_trip(&mut s, b"warm").await;

    let delay = Duration::from_millis(150);
    proxy.set_delay(delay);
    let start = Instant::now();
    round_trip(&mut s, b"slow").await;
    let rtt = start.elapsed();
    assert!(rtt >= 2 * delay, "round trip {rtt:?} is shorter than the delay both ways");

    proxy.set_delay(Duration::ZERO);
    let start = Instant::now();
    round_trip(&mut s, b"fast").await;
    assert!(start.elapsed() < 2 * delay, "delay still applied: {:?}", start.elapsed());
}

#[tokio::test]
async fn an_unreachable_target_resets_the_client() {
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let proxy = FaultProxy::start(gone).unwrap();
    // The reset can arrive before the client has seen its own handshake complete, and then
    // it fails the connect itself.
    match timeout(GUARD, TcpStream::connect(proxy.listen_addr())).await.expect("connect") {
        Ok(mut s) => assert!(closed(&mut s).await),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    assert_eq!(proxy.stats().connect_failures, 1);
}

#[tokio::test]
async fn drop_closes_connections_and_the_listener() {
    let proxy = FaultProxy::start(echo_server().await).unwrap();
    let addr = proxy.listen_addr();
    let mut s = connect(&proxy).await;
    round_trip(&mut s, b"hi").await;
    drop(proxy);
    assert!(closed(&mut s).await, "a connection outlived the proxy");
    assert!(TcpStream::connect(addr).await.is_err(), "the listener outlived the proxy");
}

/// A gRPC `KV/Range` for `key`: the length-prefixed `RangeRequest { key = 1 }`.
fn range_request(key: &[u8]) -> Bytes {
    let mut msg = vec![0x0a, key.len() as u8];
    msg.extend_from_slice(key);
    let mut frame = vec![0];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    frame.into()
}

type H2 = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// Sends one gRPC Range and returns the response body, checking `grpc-status: 0`.
async fn grpc_range(sender: &mut H2, authority: SocketAddr, key: &[u8]) -> hyper::Result<Bytes> {
    let req = hyper::Request::post(format!("http://{authority}/etcdserverpb.KV/Range"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(range_request(key)))
        .unwrap();
    let resp = sender.send_request(req).await?;
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await?;
    let status = body.trailers().and_then(|t| t.get("grpc-status")).cloned();
    assert_eq!(status.as_ref().map(|s| s.as_bytes()), Some(&b"0"[..]), "{status:?}");
    Ok(body.to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_streams_to_etcd_hang_on_pause_and_die_on_cut() {
    let etcd = tokio::task::spawn_blocking(Etcd::start).await.unwrap();
    etcd.put("/switchyard/leader", "node-7");
    let proxy = FaultProxy::start(etcd.client_addr()).unwrap();

    let io = TokioIo::new(connect(&proxy).await);
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
    let conn = tokio::spawn(conn);
    let body = timeout(GUARD, grpc_range(&mut sender, etcd.client_addr(), b"/switchyard/leader"))
        .await
        .expect("answer in time")
        .unwrap();
    assert!(body.windows(6).any(|w| w == b"node-7"), "{body:?}");

    // The same HTTP/2 connection hangs while paused and the pending call completes after.
    proxy.pause();
    let mut call = Box::pin(grpc_range(&mut sender, etcd.client_addr(), b"/switchyard/leader"));
    assert!(timeout(HANG, &mut call).await.is_err(), "a call crossed the pause");
    proxy.resume();
    let body = timeout(GUARD, call).await.expect("answer after resume").unwrap();
    assert!(body.windows(6).any(|w| w == b"node-7"));

    // A cut kills the connection; the client sees its calls fail rather than hang.
    proxy.cut();
    let failed = timeout(GUARD, conn).await.expect("connection ended after the cut").unwrap();
    assert!(failed.is_err(), "the HTTP/2 connection ended cleanly after a cut");
    assert!(sender.send_request(hyper::Request::new(Full::new(Bytes::new()))).await.is_err());

    let st = proxy.stats();
    assert_eq!(st.accepted, 1);
    assert!(st.bytes_to_target > 0 && st.bytes_to_client > 0, "{st:?}");
}
