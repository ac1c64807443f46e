//! HAProxy agent-check: connect to the node's agent, read one ASCII line and parse it (HAProxy
//! configuration manual, `agent-check`). Words are separated by spaces, tabs or commas; text
//! after `#` is a reason.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::outcome::{AgentReply, AgentState, FailureCause, ProbeOutcome, Tier};
use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

/// HAProxy agent-check (`agent-check`, `agent-port`, `agent-send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentCheck {
    /// Agent port. Required when the agent runs beside another check (`ProbeSpec::agent`):
    /// the agent listens on a port of its own, like HAProxy's `agent-port`, and the node's port
    /// serves the main check, where the agent's read would only time out. Default, for
    /// `kind = "agent"` alone: the node's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// String sent after connecting (HAProxy `agent-send`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
}

impl AgentCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        if self.port == Some(0) {
            p.push("port", "must not be 0");
        }
    }
}

/// Parses one reply line; `None` when no word is understood (the reply is then ignored, as
/// HAProxy does with unknown words).
pub fn parse_reply(line: &str) -> Option<AgentReply> {
    let (words, reason) = match line.split_once('#') {
        Some((w, r)) => (w, Some(r.trim())),
        None => (line, None),
    };
    let mut reply = AgentReply {
        reason: reason.filter(|r| !r.is_empty()).map(|r| truncate(r, 64)),
        ..AgentReply::default()
    };
    let mut understood = false;
    for word in words.split([' ', '\t', ',', '\r', '\n']).filter(|w| !w.is_empty()) {
        let lower = word.to_ascii_lowercase();
        let w = lower.as_str();
        let state = match w {
            "up" | "ready" => Some(AgentState::Up),
            "down" | "fail" | "failed" | "stopped" => Some(AgentState::Down),
            "drain" => Some(AgentState::Drain),
            "maint" => Some(AgentState::Maint),
            _ => None,
        };
        if let Some(s) = state {
            reply.state = Some(s);
            understood = true;
        } else if let Some(pct) = w.strip_prefix("weight:").unwrap_or(w).strip_suffix('%') {
            if let Ok(p) = pct.parse::<u16>() {
                reply.weight_percent = Some(p.min(256));
                understood = true;
            }
        } else if let Some(n) = w.strip_prefix("maxconn:")
            && let Ok(n) = n.parse::<u32>()
        {
            reply.maxconn = Some(n);
            understood = true;
        }
    }
    understood.then_some(reply)
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[derive(Debug)]
pub(crate) struct CompiledAgent {
    port: Option<u16>,
    send: Option<Vec<u8>>,
}

/// Why an agent query gave no reply.
#[derive(Debug)]
pub(crate) enum AgentError {
    Io(FailureCause),
    Unparsable,
}

impl CompiledAgent {
    pub(crate) fn new(c: &AgentCheck) -> Self {
        CompiledAgent { port: c.port, send: c.send.as_ref().map(|s| s.as_bytes().to_vec()) }
    }

    fn target(&self, addr: SocketAddr) -> SocketAddr {
        SocketAddr::new(addr.ip(), self.port.unwrap_or(addr.port()))
    }

    async fn read_line(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        out: &mut ProbeOutcome,
        start: Instant,
    ) -> Result<AgentReply, AgentError> {
        let Some(mut s) = super::connect(self.target(addr), connect_timeout, out, start).await
        else {
            return Err(AgentError::Io(out.cause.unwrap_or(FailureCause::Io)));
        };
        exchange(&mut s, self.send.as_deref(), out, start).await
    }

    /// Queries the agent alongside another check; connection failures are not errors of the
    /// node (HAProxy: "failure to connect to the agent is not considered an error").
    pub(crate) async fn query(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<AgentReply, AgentError> {
        let mut scratch = ProbeOutcome::new();
        self.read_line(addr, connect_timeout, &mut scratch, Instant::now()).await
    }

    /// The agent as the node's only check: its reply is the verdict.
    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        match self.read_line(addr, connect_timeout, out, start).await {
            Err(AgentError::Io(cause)) => out.fail(cause),
            Err(AgentError::Unparsable) => out.fail(FailureCause::Protocol),
            Ok(reply) => {
                out.tier = Tier::L3Service;
                let down = reply.state == Some(AgentState::Down);
                out.agent = Some(reply);
                // `maint` is not a failure: the probe passes and the agent's word holds the
                // node down (health precedence), so `up` later clears it at once, without
                // `rise` successes, exactly as beside a main check.
                if down { out.fail(FailureCause::AgentDown) } else { out.pass(None) }
            }
        }
    }
}

async fn exchange(
    s: &mut TcpStream,
    send: Option<&[u8]>,
    out: &mut ProbeOutcome,
    start: Instant,
) -> Result<AgentReply, AgentError> {
    if let Some(b) = send {
        s.write_all(b).await.map_err(|e| AgentError::Io(FailureCause::from_io(&e)))?;
    }
    let mut buf = [0u8; 512];
    let mut len = 0;
    loop {
        let n =
            s.read(&mut buf[len..]).await.map_err(|e| AgentError::Io(FailureCause::from_io(&e)))?;
        if n > 0 && len == 0 {
            out.phases.first_byte = Some(start.elapsed());
            out.tier = Tier::L2Handshake;
        }
        len += n;
        if n == 0 || len == buf.len() || buf[..len].contains(&b'\n') {
            break;
        }
    }
    if len == 0 {
        return Err(AgentError::Io(FailureCause::Closed));
    }
    let text = std::str::from_utf8(&buf[..len]).map_err(|_| AgentError::Unparsable)?;
    let line = text.lines().next().unwrap_or("");
    parse_reply(line).ok_or(AgentError::Unparsable)
}
