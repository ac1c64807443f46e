//! The HTTP/1.1 probe against loopback servers that send hostile or unusual framing: chunk
//! sizes beyond memory, interim (1xx) responses, and chunks larger than `max_body_bytes`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec, StatusRange};
use switchyard_probe::{CompiledProbe, ConnState, FailureCause, ProbeOutcome, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn probe(check: HttpCheck) -> CompiledProbe {
    let mut s = ProbeSpec::new(Check::Http(check));
    // Generous: every probe here ends on an answer, never on the timeout, when the parser is
    // right.
    s.timeout_ms = 2000;
    s.connect_timeout_ms = 1000;
    s.interval_ms = 5000;
    CompiledProbe::new(Arc::new(s)).unwrap()
}

fn assert_fail(o: &ProbeOutcome, cause: FailureCause) {
    assert_eq!(o.verdict, Verdict::Fail, "{o:?}");
    assert_eq!(o.cause, Some(cause), "{o:?}");
}

fn assert_pass(o: &ProbeOutcome) {
    assert_eq!((o.verdict, o.status), (Verdict::Pass, Some(200)), "{o:?}");
}

/// One reply: the byte strings are written one by one with a pause between them, so the
/// probe sees them in separate reads (an interim head alone, then the final response).
type Reply = Vec<Vec<u8>>;

/// A keep-alive server that answers the n-th request on each connection with `replies[n]`
/// (the last one again once the list runs out) and keeps the connection open until the
/// client closes it. Counts accepted connections.
async fn scripted_server(replies: Vec<Reply>) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let replies = Arc::new(replies);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let replies = replies.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                for n in 0.. {
                    // One request: everything up to the empty line (probes send no body).
                    let end = loop {
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => pending.extend_from_slice(&buf[..k]),
                        }
                    };
                    pending.drain(..end);
                    let reply = &replies[n.min(replies.len() - 1)];
                    for (i, part) in reply.iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                        }
                        if s.write_all(part).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// A reply written in one piece.
fn whole(bytes: impl Into<Vec<u8>>) -> Reply {
    vec![bytes.into()]
}

const OK_200: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const CHUNKED_200: &str = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";

#[tokio::test]
async fn chunk_sizes_beyond_memory_are_protocol_failures() {
    let cases = [
        // After a non-empty chunk: the body length plus this size overflows.
        "1\r\na\r\nffffffffffffffff\r\nxyz",
        // As the first chunk.
        "ffffffffffffffff\r\nxyz",
        // Just above isize::MAX: no chunk can be that large.
        "1\r\na\r\n8000000000000000\r\nxyz",
        // More hex digits than fit in 64 bits.
        "1\r\na\r\n1ffffffffffffffff\r\nxyz",
    ];
    for body in cases {
        let (addr, _) = scripted_server(vec![whole(format!("{CHUNKED_200}{body}"))]).await;
        let p = probe(HttpCheck::default());
        let o = p.run(addr, &mut ConnState::default()).await;
        assert_fail(&o, FailureCause::Protocol);
        assert_eq!(o.status, Some(200), "{body:?}: {o:?}");
    }
}

#[tokio::test]
async fn broken_framing_is_a_protocol_failure() {
    let cases = [
        // Chunk data longer than its size says.
        format!("{CHUNKED_200}2\r\nokXX\r\n0\r\n\r\n"),
        // A chunk-size line without a size.
        format!("{CHUNKED_200}\r\n\r\n"),
        // A chunk-size line that never ends.
        format!("{CHUNKED_200}1;{}", "x".repeat(8192)),
        // Two different lengths: the end of the message is unknown.
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 40\r\n\r\nok".to_owned(),
        // A length that is not a number.
        "HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok".to_owned(),
    ];
    for reply in cases {
        let (addr, _) = scripted_server(vec![whole(reply.clone())]).await;
        let p = probe(HttpCheck::default());
        let o = p.run(addr, &mut ConnState::default()).await;
        assert_eq!(
            o.cause,
            Some(FailureCause::Protocol),
            "{:?}: {o:?}",
            &reply[..reply.len().min(80)]
        );
    }
}

#[tokio::test]
async fn interim_responses_are_skipped_and_the_pool_stays_in_step() {
    let (addr, accepted) = scripted_server(vec![
        // Early Hints alone in the first read, the final response later.
        vec![
            b"HTTP/1.1 103 Early Hints\r\nlink: </app.css>; rel=preload\r\n\r\n".to_vec(),
            OK_200.to_vec(),
        ],
        // 100 Continue and the final response in one read.
        whole([b"HTTP/1.1 100 Continue\r\n\r\n".as_slice(), OK_200].concat()),
        whole(OK_200),
    ])
    .await;
    let p = probe(HttpCheck { body_must_match: Some("^ok$".into()), ..HttpCheck::default() });
    let mut conn = ConnState::default();
    let o = p.run(addr, &mut conn).await;
    assert_pass(&o);
    assert!(o.phases.first_byte.is_some());
    for _ in 0..2 {
        let o = p.run(addr, &mut conn).await;
        assert_pass(&o);
        assert!(o.reused_connection, "{o:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_interim_response_before_a_bad_status_judges_the_final_one() {
    let (addr, _) = scripted_server(vec![vec![
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".to_vec(),
    ]])
    .await;
    let p = probe(HttpCheck { immediate_down_status: vec![503], ..HttpCheck::default() });
    let o = p.run(addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::BadStatus);
    assert_eq!(o.status, Some(503));
    assert!(o.immediate_down);
}

#[tokio::test]
async fn interim_responses_are_bounded() {
    let interim = |n: usize| b"HTTP/1.1 100 Continue\r\n\r\n".repeat(n);
    let p = probe(HttpCheck::default());

    // Eight are skipped.
    let (addr, _) = scripted_server(vec![whole([interim(8), OK_200.to_vec()].concat())]).await;
    assert_pass(&p.run(addr, &mut ConnState::default()).await);

    // A ninth means a peer that may never answer.
    let (addr, _) = scripted_server(vec![whole([interim(9), OK_200.to_vec()].concat())]).await;
    assert_fail(&p.run(addr, &mut ConnState::default()).await, FailureCause::Protocol);

    // Also when they arrive one read at a time.
    let flood = (0..20).map(|_| interim(1)).collect();
    let (addr, _) = scripted_server(vec![flood]).await;
    assert_fail(&p.run(addr, &mut ConnState::default()).await, FailureCause::Protocol);
}

#[tokio::test]
async fn switching_protocols_is_a_failure_and_not_pooled() {
    let (addr, accepted) = scripted_server(vec![whole(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
    )])
    .await;
    // Even when the accepted statuses include it.
    let p = probe(HttpCheck {
        expected_status: vec![StatusRange { low: 100, high: 399 }],
        ..HttpCheck::default()
    });
    let mut conn = ConnState::default();
    for _ in 0..2 {
        let o = p.run(addr, &mut conn).await;
        assert_fail(&o, FailureCause::BadStatus);
        assert_eq!(o.status, Some(101));
        assert!(!o.reused_connection, "{o:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_chunk_larger_than_max_body_is_truncated_like_a_content_length_body() {
    let payload = format!("OK{}", "x".repeat(100_000 - 2));
    let chunked = format!("{CHUNKED_200}{:x}\r\n{payload}\r\n0\r\n\r\n", payload.len());
    let sized = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{payload}", payload.len());
    let p = probe(HttpCheck { body_must_match: Some("^OK".into()), ..HttpCheck::default() });
    for reply in [chunked, sized] {
        let (addr, _) = scripted_server(vec![whole(reply)]).await;
        // Pooled or not (the rest may or may not have been read), each probe sees its own
        // reply.
        let mut conn = ConnState::default();
        for _ in 0..3 {
            assert_pass(&p.run(addr, &mut conn).await);
        }
    }

    // The body keeps exactly its first `max_body_bytes`, across chunk boundaries.
    let p = probe(HttpCheck {
        body_must_match: Some("^OKab$".into()),
        max_body_bytes: 4,
        ..HttpCheck::default()
    });
    let (addr, _) =
        scripted_server(vec![whole(format!("{CHUNKED_200}2\r\nOK\r\n5\r\nabcde\r\n0\r\n\r\n"))])
            .await;
    let mut conn = ConnState::default();
    for _ in 0..3 {
        assert_pass(&p.run(addr, &mut conn).await);
    }
}
