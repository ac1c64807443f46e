//! `tcp`: connect, optionally send a line and match the first data received.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ProbeError;
use crate::outcome::{FailureCause, ProbeOutcome, Tier};
use serde::{Deserialize, Serialize};

/// `kind = "tcp"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// Bytes to send after connecting (escape sequences are not interpreted). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Regex the first data received must match; without it a connect is enough. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

#[derive(Debug)]
pub(crate) struct CompiledTcp {
    send: Option<Vec<u8>>,
    expect: Option<Regex>,
}

impl CompiledTcp {
    pub(crate) fn new(c: &TcpCheck) -> Result<Self, ProbeError> {
        let expect = match &c.expect {
            Some(e) => Some(Regex::new(e).map_err(|e| ProbeError::Regex(e.to_string()))?),
            None => None,
        };
        Ok(CompiledTcp { send: c.send.as_ref().map(|s| s.as_bytes().to_vec()), expect })
    }

    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        let Some(mut s) = super::connect(addr, connect_timeout, out, start).await else { return };
        if let Some(send) = &self.send
            && let Err(e) = s.write_all(send).await
        {
            return out.fail(FailureCause::from_io(&e));
        }
        let Some(expect) = &self.expect else {
            out.verdict = crate::outcome::Verdict::Pass;
            super::close_with_reset(&s);
            return;
        };
        let mut buf = vec![0u8; 1024];
        let mut len = 0;
        loop {
            match s.read(&mut buf[len..]).await {
                // The peer said something and hung up: what it said is what is judged.
                Ok(0) if len > 0 => {
                    out.tier = Tier::L3Service;
                    return out.fail(FailureCause::ExpectMismatch);
                }
                Ok(0) => return out.fail(FailureCause::Closed),
                Ok(n) => {
                    if len == 0 {
                        out.phases.first_byte = Some(start.elapsed());
                        out.tier = Tier::L2Handshake;
                    }
                    len += n;
                    if expect.is_match(&buf[..len]) {
                        return out.pass(None);
                    }
                    if len == buf.len() || buf[..len].contains(&b'\n') {
                        out.tier = Tier::L3Service;
                        return out.fail(FailureCause::ExpectMismatch);
                    }
                }
                Err(e) => return out.fail(FailureCause::from_io(&e)),
            }
        }
    }
}
