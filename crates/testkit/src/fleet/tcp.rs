//! Line-oriented TCP nodes: a banner service and a HAProxy agent-check responder.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::node::{NodeHandle, hang, reset};
use super::plan::Behavior;

/// Banner written on connect by a healthy TCP node.
pub const TCP_BANNER: &str = "220 switchyard-sim ready\r\n";

/// Writes the banner, then answers each received line with `+OK`.
pub(crate) async fn serve_line(stream: TcpStream, node: NodeHandle) {
    let (config, behavior) = node.next_request();
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    let mut stream = BufReader::new(stream);
    match behavior {
        Behavior::Healthy | Behavior::Degraded | Behavior::Body(_) => {}
        Behavior::Hang => return hang(stream).await,
        Behavior::Reset => return reset(stream.get_ref()),
        Behavior::Garbage => {
            let _ = stream.write_all(b"\x00\xffnot-the-banner\r\n").await;
            return;
        }
        _ => return,
    }
    let banner = match node.behavior() {
        Behavior::Body(b) => b,
        _ => TCP_BANNER.to_owned(),
    };
    if stream.write_all(banner.as_bytes()).await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if stream.write_all(b"+OK\r\n").await.is_err() {
                    return;
                }
            }
        }
    }
}

/// HAProxy agent-check: write the reply line on connect and close (HAProxy configuration
/// manual, `agent-check`: "the agent ... will respond with an ASCII string ... terminated by a
/// newline").
pub(crate) async fn serve_agent(mut stream: TcpStream, node: NodeHandle) {
    let (config, behavior) = node.next_request();
    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }
    match behavior {
        Behavior::Hang => hang(stream).await,
        Behavior::Reset => reset(&stream),
        Behavior::Garbage => {
            let _ = stream.write_all(b"\x00\x01\x02\xff\n").await;
        }
        _ => {
            let line = format!("{}\n", config.agent_reply);
            let _ = stream.write_all(line.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
}
