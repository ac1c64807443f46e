//! The fleet simulator over real loopback sockets: addressing and per-request faults.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GUARD: Duration = Duration::from_secs(10);

async fn get(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await?;
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    loop {
        let n = tokio::time::timeout(GUARD, stream.read(&mut buf)).await.expect("answer")?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(i) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= i + 4 + len {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn nodes_get_their_own_loopback_addresses_and_faults_hit_open_connections() {
    let plan = FleetPlan::new(Protocol::Http, 3)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 3, 7, 1), port: 0 });
    let fleet = SimFleet::start(plan).await.unwrap();
    let addrs = fleet.addrs();
    assert_eq!(addrs[0].ip(), IpAddr::V4(Ipv4Addr::new(127, 3, 7, 1)));
    assert_eq!(addrs[2].ip(), IpAddr::V4(Ipv4Addr::new(127, 3, 7, 3)));
    assert_eq!(addrs[0].port(), addrs[2].port());

    let mut s = TcpStream::connect(addrs[1]).await.unwrap();
    assert!(get(&mut s).await.unwrap().starts_with("HTTP/1.1 200"));
    fleet.node(1).set_behavior(Behavior::Status(503));
    assert!(get(&mut s).await.unwrap().starts_with("HTTP/1.1 503"));
    fleet.node(1).set_behavior(Behavior::Degraded);
    assert!(get(&mut s).await.unwrap().contains("x-switchyard-degraded: 1"));
    fleet.node(1).set_behavior(Behavior::Reset);
    let err = get(&mut s).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(fleet.node(1).requests(), 4);
    fleet.shutdown().await;
}

#[tokio::test]
async fn refuse_closes_the_listener_until_the_behavior_changes() {
    let fleet = SimFleet::start(
        FleetPlan::new(Protocol::Http, 1)
            .with_addressing(Addressing::Ports { ip: IpAddr::V4(Ipv4Addr::LOCALHOST) }),
    )
    .await
    .unwrap();
    let addr = fleet.addrs()[0];
    fleet.node(0).set_behavior(Behavior::Refuse);
    let refused = tokio::time::timeout(GUARD, async {
        loop {
            match TcpStream::connect(addr).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "listener never closed");
    fleet.node(0).set_behavior(Behavior::Healthy);
    let mut s = tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(s) = TcpStream::connect(addr).await {
                break s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    assert!(get(&mut s).await.unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn garbage_and_flapping_patterns() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let addr = fleet.addrs()[0];
    fleet.node(0).set_behavior(Behavior::flapping(1, 2));
    let mut s = TcpStream::connect(addr).await.unwrap();
    let codes: Vec<bool> =
        futures_codes(&mut s, 6).await.into_iter().map(|r| r.starts_with("HTTP/1.1 200")).collect();
    assert_eq!(codes, [true, false, false, true, false, false]);
    fleet.node(0).set_behavior(Behavior::Garbage);
    let reply = get(&mut s).await.unwrap();
    assert!(!reply.starts_with("HTTP/1.1"));
}

async fn futures_codes(s: &mut TcpStream, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(s).await.unwrap());
    }
    out
}

#[tokio::test]
async fn agent_nodes_write_their_reply_line() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Agent, 2)).await.unwrap();
    fleet.node(1).set_agent_reply("drain 50%");
    let mut s = TcpStream::connect(fleet.addrs()[1]).await.unwrap();
    let mut line = String::new();
    tokio::time::timeout(GUARD, s.read_to_string(&mut line)).await.unwrap().unwrap();
    assert_eq!(line, "drain 50%\n");
}
