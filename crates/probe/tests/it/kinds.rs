//! Every probe kind against the loopback fleet simulator, with each fault classified.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_probe::spec::{
    AgentCheck, Check, DnsCheck, GrpcCheck, HttpCheck, ProbeSpec, StatusRange, TcpCheck, TlsCheck,
    TlsClient,
};
use switchyard_probe::{
    CompiledProbe, ConnState, DegradedCause, FailureCause, ProbeOutcome, Tier, Verdict,
};
use switchyard_testkit::fleet::{Behavior, FleetPlan, Protocol, SimFleet, TlsPlan};

fn spec(check: Check) -> ProbeSpec {
    let mut s = ProbeSpec::new(check);
    s.timeout_ms = 400;
    s.connect_timeout_ms = 200;
    s.interval_ms = 1000;
    s
}

fn probe(s: ProbeSpec) -> CompiledProbe {
    CompiledProbe::new(Arc::new(s)).unwrap()
}

/// Runs one probe and checks it ended within its timeout (with slack for a loaded machine).
async fn run(p: &CompiledProbe, addr: SocketAddr, conn: &mut ConnState) -> ProbeOutcome {
    let t = Instant::now();
    let o = p.run(addr, conn).await;
    assert!(
        t.elapsed() < p.spec().timeout() + Duration::from_millis(300),
        "probe outlived timeout"
    );
    o
}

fn assert_fail(o: &ProbeOutcome, cause: FailureCause) {
    assert_eq!(o.verdict, Verdict::Fail, "{o:?}");
    assert_eq!(o.cause, Some(cause), "{o:?}");
}

/// An address with nothing listening.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test]
async fn http_faults_are_classified() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    let node = fleet.node(0);
    let p = probe(spec(Check::Http(HttpCheck {
        path: "/health".into(),
        body_must_match: Some("^ok".into()),
        immediate_down_status: vec![503],
        ..HttpCheck::default()
    })));
    let mut conn = ConnState::default();

    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.verdict, o.tier, o.status), (Verdict::Pass, Tier::L3Service, Some(200)));
    assert!(o.phases.connect.is_some() && o.phases.first_byte.is_some());
    let o = run(&p, addr, &mut conn).await;
    assert!(o.reused_connection, "keep-alive connection reused");
    assert_eq!(node.connections(), 1);

    node.set_behavior(Behavior::Status(503));
    let o = run(&p, addr, &mut conn).await;
    assert_fail(&o, FailureCause::BadStatus);
    assert!(o.immediate_down);
    assert_eq!(o.tier, Tier::L3Service);
    node.set_behavior(Behavior::Status(404));
    assert!(!run(&p, addr, &mut conn).await.immediate_down);

    node.set_behavior(Behavior::Body("maintenance".into()));
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::BodyMismatch);

    node.set_behavior(Behavior::Degraded);
    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.verdict, o.degraded_by), (Verdict::Degraded, Some(DegradedCause::Header)));

    node.set_behavior(Behavior::Hang);
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Timeout);

    node.set_behavior(Behavior::SlowDrip { chunk_delay: Duration::from_millis(50) });
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Timeout);

    node.set_behavior(Behavior::Garbage);
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Protocol);

    node.set_behavior(Behavior::Reset);
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Reset);

    node.set_behavior(Behavior::Healthy);
    node.set_latency(Duration::from_millis(600));
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Timeout);
    node.set_latency(Duration::ZERO);
    assert_eq!(run(&p, addr, &mut conn).await.verdict, Verdict::Pass);

    let o = run(&p, closed_port().await, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Refused);
    assert_eq!(o.tier, Tier::None);
}

/// A server that answers one request per connection and then closes it, as servers do with
/// idle keep-alive connections.
async fn one_shot_server() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n").await;
            // Dropped: the connection closes while the client believes it is reusable.
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn http_retries_once_when_the_pooled_connection_was_closed() {
    let (addr, accepted) = one_shot_server().await;
    let p = probe(spec(Check::Http(HttpCheck::default())));
    let mut conn = ConnState::default();
    for _ in 0..3 {
        let o = run(&p, addr, &mut conn).await;
        assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn fresh_connection_mode_opens_one_connection_per_probe() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let fresh = probe(spec(Check::Http(HttpCheck { keep_alive: false, ..HttpCheck::default() })));
    let mut conn = ConnState::default();
    for _ in 0..3 {
        let o = run(&fresh, fleet.addrs()[0], &mut conn).await;
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(!o.reused_connection);
    }
    assert_eq!(fleet.node(0).connections(), 3);
}

#[tokio::test]
async fn http_header_rules_and_status_ranges() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    let mut check = HttpCheck {
        method: "HEAD".into(),
        expected_status: vec![StatusRange { low: 500, high: 503 }],
        ..HttpCheck::default()
    };
    check.header_must_match.insert("server".into(), "^switchyard".into());
    let p = probe(spec(Check::Http(check.clone())));
    let mut conn = ConnState::default();
    fleet.node(0).set_behavior(Behavior::Status(502));
    assert_eq!(run(&p, addr, &mut conn).await.verdict, Verdict::Pass, "HEAD has no body");
    check.header_must_not_match.insert("content-type".into(), "text/".into());
    let p = probe(spec(Check::Http(check)));
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::HeaderMismatch);
}

#[tokio::test]
async fn https_certificates_verified_and_expiry_reported() {
    let fleet = SimFleet::start(
        FleetPlan::new(Protocol::Https, 1)
            .with_tls(TlsPlan { valid_days: 10, ..TlsPlan::default() }),
    )
    .await
    .unwrap();
    let addr = fleet.addrs()[0];
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
    let client = TlsClient { ca_file: Some(ca.clone()), ..TlsClient::default() };

    let https =
        probe(spec(Check::Http(HttpCheck { tls: Some(client.clone()), ..HttpCheck::default() })));
    let o = run(&https, addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert!(o.phases.tls.is_some());
    assert!(matches!(o.cert_days_left, Some(9..=10)), "{o:?}");

    // Default thresholds: degraded under 14 days.
    let tls = probe(spec(Check::Tls(TlsCheck {
        client: TlsClient { alpn: vec!["http/1.1".into()], ..client.clone() },
        expect_alpn: Some("http/1.1".into()),
        ..TlsCheck::default()
    })));
    let o = run(&tls, addr, &mut ConnState::default()).await;
    assert_eq!((o.verdict, o.tier), (Verdict::Degraded, Tier::L3Service), "{o:?}");
    assert_eq!(o.degraded_by, Some(DegradedCause::CertExpiring));
    let tls_down = probe(spec(Check::Tls(TlsCheck {
        client: client.clone(),
        expiry_down_days: 12,
        expiry_degraded_days: 30,
        ..TlsCheck::default()
    })));
    assert_fail(&run(&tls_down, addr, &mut ConnState::default()).await, FailureCause::CertExpiring);

    // Wrong SNI name and untrusted anchors fail verification.
    let wrong_name = probe(spec(Check::Tls(TlsCheck {
        client: TlsClient { sni: Some("other.example".into()), ..client.clone() },
        ..TlsCheck::default()
    })));
    assert_fail(&run(&wrong_name, addr, &mut ConnState::default()).await, FailureCause::Tls);
    let untrusted = probe(spec(Check::Tls(TlsCheck::default())));
    let o = run(&untrusted, addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Tls);
    assert_eq!(o.tier, Tier::L1Tcp);

    // TLS to a plain HTTP node is a TLS failure, not a timeout.
    let plain = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    assert_fail(&run(&https, plain.addrs()[0], &mut ConnState::default()).await, FailureCause::Tls);
}

#[tokio::test]
async fn expired_certificates_fail_verification_and_are_judged_when_skipped() {
    let fleet = SimFleet::start(
        FleetPlan::new(Protocol::Https, 1)
            .with_tls(TlsPlan { valid_days: -3, ..TlsPlan::default() }),
    )
    .await
    .unwrap();
    let addr = fleet.addrs()[0];
    let insecure = TlsClient { insecure_skip_verify: true, ..TlsClient::default() };
    let o = run(
        &probe(spec(Check::Tls(TlsCheck { client: insecure, ..TlsCheck::default() }))),
        addr,
        &mut ConnState::default(),
    )
    .await;
    assert_fail(&o, FailureCause::CertExpiring);
    assert!(matches!(o.cert_days_left, Some(d) if d < 0));
}

#[tokio::test]
async fn tcp_connect_send_expect() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Tcp, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    let connect_only = probe(spec(Check::Tcp(TcpCheck::default())));
    let o = run(&connect_only, addr, &mut ConnState::default()).await;
    assert_eq!((o.verdict, o.tier), (Verdict::Pass, Tier::L1Tcp));
    let banner = probe(spec(Check::Tcp(TcpCheck { send: None, expect: Some("^220 ".into()) })));
    assert_eq!(run(&banner, addr, &mut ConnState::default()).await.verdict, Verdict::Pass);
    fleet.node(0).set_behavior(Behavior::Body("500 busy\r\n".into()));
    assert_fail(&run(&banner, addr, &mut ConnState::default()).await, FailureCause::ExpectMismatch);
    fleet.node(0).set_behavior(Behavior::Hang);
    assert_fail(&run(&banner, addr, &mut ConnState::default()).await, FailureCause::Timeout);
    fleet.node(0).set_behavior(Behavior::Reset);
    assert_fail(&run(&banner, addr, &mut ConnState::default()).await, FailureCause::Reset);
    // A wrong answer followed by a hang-up is judged on what was said, not on the close.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let blunt = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"-ERR go away").await;
        }
    });
    let o = run(&banner, blunt, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::ExpectMismatch);
    assert_eq!(o.tier, Tier::L3Service);
}

#[tokio::test]
async fn connect_timeout_is_separate_from_total_timeout() {
    // A full accept backlog makes SYNs go unanswered: the connect phase times out.
    let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    l.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(100), tokio::net::TcpStream::connect(addr))
                .await
        {
            fill.push(s);
        }
    }
    // A generous total budget: only the connect timeout (200 ms) can produce this cause.
    let mut s = spec(Check::Tcp(TcpCheck::default()));
    s.timeout_ms = 3000;
    s.interval_ms = 5000;
    let p = probe(s);
    let t = Instant::now();
    let o = p.run(addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::ConnectTimeout);
    assert!(t.elapsed() < Duration::from_millis(2500), "connect timeout applied first");
}

#[tokio::test]
async fn agent_kind_and_auxiliary_agent() {
    let agents = SimFleet::start(FleetPlan::new(Protocol::Agent, 1)).await.unwrap();
    let addr = agents.addrs()[0];
    let p = probe(spec(Check::Agent(AgentCheck::default())));
    agents.node(0).set_agent_reply("up 60%");
    let o = run(&p, addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.agent.as_ref().unwrap().weight_percent, Some(60));
    agents.node(0).set_agent_reply("down#overheated");
    assert_fail(&run(&p, addr, &mut ConnState::default()).await, FailureCause::AgentDown);
    agents.node(0).set_agent_reply("gibberish");
    assert_fail(&run(&p, addr, &mut ConnState::default()).await, FailureCause::Protocol);
    // `maint` is no failure: the probe passes and carries the word, which holds the node down
    // through health precedence without counting towards `fall`.
    agents.node(0).set_agent_reply("maint#kernel upgrade");
    let o = run(&p, addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_eq!(o.agent.unwrap().state, Some(switchyard_probe::AgentState::Maint));

    // Agent alongside an HTTP check on another port of the same address: the agent's word
    // rides on the outcome; an unreachable agent is not a failure of the node.
    let web = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let web_addr = web.addrs()[0];
    assert_eq!(web_addr.ip(), addr.ip());
    let mut s = spec(Check::Http(HttpCheck::default()));
    s.agent = Some(AgentCheck { port: Some(addr.port()), send: Some("status\n".into()) });
    let both = probe(s);
    agents.node(0).set_agent_reply("drain");
    let o = run(&both, web_addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.agent.unwrap().state, Some(switchyard_probe::AgentState::Drain));
    let t = Instant::now();
    // An agent that accepts and never answers is no more than an unreachable one: the main
    // check's result and its own latency stand.
    agents.node(0).set_behavior(Behavior::Hang);
    let o = run(&both, web_addr, &mut ConnState::default()).await;
    assert_eq!((o.verdict, o.cause, o.agent.as_ref()), (Verdict::Pass, None, None), "{o:?}");
    assert!(o.phases.total < both.spec().timeout(), "main check latency, not the wait: {o:?}");
    assert!(t.elapsed() >= both.spec().timeout(), "the agent was waited for until the deadline");
    agents.node(0).set_behavior(Behavior::Refuse);
    let o = run(&both, web_addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.agent, None);
}

#[tokio::test]
async fn dns_rcode_and_answers() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Dns, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    let expect_self = DnsCheck {
        qname: "edge.switchyard.test.".into(),
        qtype: "A".into(),
        expected_rcode: "NOERROR".into(),
        min_answers: None,
        expect_answers: vec![addr.ip().to_string()],
    };
    let p = probe(spec(Check::Dns(expect_self.clone())));
    let o = run(&p, addr, &mut ConnState::default()).await;
    assert_eq!((o.verdict, o.tier, o.status), (Verdict::Pass, Tier::L3Service, Some(0)), "{o:?}");
    let wrong = probe(spec(Check::Dns(DnsCheck {
        expect_answers: vec!["192.0.2.77".into()],
        ..expect_self.clone()
    })));
    assert_fail(&run(&wrong, addr, &mut ConnState::default()).await, FailureCause::DnsAnswer);
    fleet.node(0).set_behavior(Behavior::Status(2));
    let o = run(&p, addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::BadStatus);
    assert_eq!(o.status, Some(2));
    fleet.node(0).set_behavior(Behavior::Hang);
    assert_fail(&run(&p, addr, &mut ConnState::default()).await, FailureCause::Timeout);
    fleet.node(0).set_behavior(Behavior::Garbage);
    assert_fail(&run(&p, addr, &mut ConnState::default()).await, FailureCause::Protocol);
    // Nothing bound: ICMP port unreachable.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = sock.local_addr().unwrap();
    drop(sock);
    assert_fail(&run(&p, dead, &mut ConnState::default()).await, FailureCause::Refused);
}

#[tokio::test]
async fn grpc_health_over_tls_verifies_the_server_and_negotiates_h2() {
    // The node offers only h2, as gRPC servers do: the probe must ask for it by default.
    let plan = TlsPlan { alpn: vec!["h2".into()], valid_days: 40, ..TlsPlan::default() };
    let fleet = SimFleet::start(FleetPlan::new(Protocol::GrpcTls, 1).with_tls(plan)).await.unwrap();
    let addr = fleet.addrs()[0];
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
    let trusted = TlsClient { ca_file: Some(ca.clone()), ..TlsClient::default() };
    let check = GrpcCheck {
        service: "edge".into(),
        authority: Some("sim.switchyard.test:443".into()),
        tls: Some(trusted.clone()),
    };
    let p = probe(spec(Check::Grpc(check.clone())));
    assert_eq!(p.spec().check.kind_str(), "grpcs");
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.verdict, o.tier, o.status), (Verdict::Pass, Tier::L3Service, Some(1)), "{o:?}");
    assert!(o.phases.tls.is_some(), "{o:?}");
    assert!(matches!(o.cert_days_left, Some(39..=40)), "{o:?}");
    let o = run(&p, addr, &mut conn).await;
    assert!(o.reused_connection, "the TLS session is pooled like the cleartext one");
    fleet.node(0).set_behavior(Behavior::Status(503));
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::NotServing);

    // The SNI name comes from the authority; a name the certificate lacks fails verification.
    let wrong_name = GrpcCheck { authority: Some("other.example".into()), ..check.clone() };
    let o = run(&probe(spec(Check::Grpc(wrong_name))), addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Tls);
    assert_eq!(o.tier, Tier::L1Tcp);
    // Untrusted anchors fail; an ALPN list without h2 is refused before any probe runs.
    let untrusted = GrpcCheck { tls: Some(TlsClient::default()), ..check.clone() };
    let o = run(&probe(spec(Check::Grpc(untrusted))), addr, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Tls);
    let h1 = TlsClient { alpn: vec!["http/1.1".into()], ..trusted.clone() };
    let h1 = spec(Check::Grpc(GrpcCheck { tls: Some(h1), ..check.clone() }));
    assert!(CompiledProbe::new(Arc::new(h1)).is_err());
    // TLS towards a cleartext gRPC node is a TLS failure, not a timeout.
    let plain = SimFleet::start(FleetPlan::new(Protocol::Grpc, 1)).await.unwrap();
    let o = run(&p, plain.addrs()[0], &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Tls);
}

#[tokio::test]
async fn grpc_health_serving_and_not_serving() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Grpc, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    let p = probe(spec(Check::Grpc(GrpcCheck { service: "edge".into(), ..GrpcCheck::default() })));
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.verdict, o.tier, o.status), (Verdict::Pass, Tier::L3Service, Some(1)), "{o:?}");
    let o = run(&p, addr, &mut conn).await;
    assert!(o.reused_connection);
    fleet.node(0).set_behavior(Behavior::Status(503));
    let o = run(&p, addr, &mut conn).await;
    assert_fail(&o, FailureCause::NotServing);
    assert_eq!(o.status, Some(2));
    fleet.node(0).set_behavior(Behavior::Status(1014)); // gRPC UNAVAILABLE
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::BadStatus);
    fleet.node(0).set_behavior(Behavior::Hang);
    assert_fail(&run(&p, addr, &mut conn).await, FailureCause::Timeout);
    let o = run(&p, closed_port().await, &mut ConnState::default()).await;
    assert_fail(&o, FailureCause::Refused);
    // No HTTP/2 session without the server's answer: a silent listener and an HTTP/1.1
    // server both stay at L1.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let o = run(&p, silent, &mut ConnState::default()).await;
    assert_eq!((o.cause, o.tier), (Some(FailureCause::Timeout), Tier::L1Tcp), "{o:?}");
    held.abort();
    let h1 = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let o = run(&p, h1.addrs()[0], &mut ConnState::default()).await;
    assert_eq!(o.tier, Tier::L1Tcp, "{o:?}");
    assert_eq!(o.verdict, Verdict::Fail);
}

/// A keep-alive server that writes the header and the body of each reply apart with Nagle on
/// (as Python's http.server does): the body leaves only once the header is acknowledged.
fn split_reply_server() -> SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else { return };
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {
            let head = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n";
            if s.write_all(head).is_err() || s.write_all(b"ok\n").is_err() {
                return;
            }
        }
    });
    addr
}

#[tokio::test]
async fn pooled_probes_do_not_wait_for_delayed_acks_on_split_replies() {
    let addr = split_reply_server();
    let p = probe(spec(Check::Http(HttpCheck::default())));
    let mut conn = ConnState::default();
    const PROBES: usize = 40;
    // The kernel's shortest delayed-ACK timeout (TCP_ATO_MIN): a reply held for that ACK
    // takes at least this long, whatever the machine's load.
    const DELAYED_ACK: Duration = Duration::from_millis(40);
    let mut stalled = 0;
    for i in 0..PROBES {
        // Back to back: each request follows the previous reply within the delayed-ACK
        // timeout, which is what puts a connection in Linux's delayed-ACK ("ping-pong") mode.
        let o = run(&p, addr, &mut conn).await;
        assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
        assert_eq!(o.reused_connection, i > 0);
        stalled += usize::from(o.phases.total >= DELAYED_ACK);
    }
    // Left in ping-pong mode nearly every pooled probe stalls; a loaded machine may slow a
    // few probes past 40 ms, not a quarter of them.
    assert!(stalled <= PROBES / 4, "{stalled} of {PROBES} probes waited for a delayed ACK");
}
