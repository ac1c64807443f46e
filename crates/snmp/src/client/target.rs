//! One agent: address, security, timing options, and the request/retry engine.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::codec::{
    CommunityMessage, EncodeVarBinds, PduHeader, PduRef, PduType, Version, encode_community,
};
use crate::usm::{Incoming, UsmSession, UsmUser};

use super::error::Error;
use super::shared::Inner;
use super::transport::{Expect, Mailbox};

/// Security settings of a target. Debug output never shows the community.
#[derive(Clone)]
pub enum Security {
    V1 {
        community: Vec<u8>,
    },
    V2c {
        community: Vec<u8>,
    },
    V3 {
        user: UsmUser,
        /// contextName of every request (RFC 3411 SnmpAdminString, at most 32 bytes; empty
        /// is the default context). net-snmp's `-n`.
        context_name: Vec<u8>,
        /// contextEngineID of every request; the agent's engine ID when `None`. net-snmp's
        /// `-E`.
        context_engine_id: Option<Vec<u8>>,
        /// The agent's (authoritative) engine ID when known in advance: engine discovery is
        /// skipped and only the clock is learned from the first reply. net-snmp's `-e`.
        engine_id: Option<Vec<u8>>,
    },
}

impl Security {
    pub fn v1(community: impl Into<Vec<u8>>) -> Self {
        Security::V1 { community: community.into() }
    }
    pub fn v2c(community: impl Into<Vec<u8>>) -> Self {
        Security::V2c { community: community.into() }
    }
    pub fn v3(user: UsmUser) -> Self {
        Security::V3 { user, context_name: Vec::new(), context_engine_id: None, engine_id: None }
    }
    /// SNMPv3 in a named context (an agent serving several MIB instances: VRFs, bridge
    /// domains, snmpsim recordings).
    pub fn v3_in_context(user: UsmUser, context_name: impl Into<Vec<u8>>) -> Self {
        Security::V3 {
            user,
            context_name: context_name.into(),
            context_engine_id: None,
            engine_id: None,
        }
    }
    pub fn version(&self) -> Version {
        match self {
            Security::V1 { .. } => Version::V1,
            Security::V2c { .. } => Version::V2c,
            Security::V3 { .. } => Version::V3,
        }
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::V1 { .. } => f.write_str("V1 { community: <redacted> }"),
            Security::V2c { .. } => f.write_str("V2c { community: <redacted> }"),
            Security::V3 { user, context_name, .. } => f
                .debug_struct("V3")
                .field("user", user)
                .field("context_name", &String::from_utf8_lossy(context_name))
                .finish_non_exhaustive(),
        }
    }
}

/// Timing and concurrency of requests to one target. All durations run on the monotonic
/// clock.
#[derive(Clone, Debug)]
pub struct RequestOptions {
    /// Wait for the first attempt (default 1 s).
    pub timeout: Duration,
    /// Retransmissions after the first attempt (default 2).
    pub retries: u32,
    /// Each retry waits this factor longer than the previous attempt (default 1.5, >= 1).
    pub backoff: f32,
    /// Upper bound for one request including retries and v3 discovery (default: the sum of
    /// the attempt timeouts).
    pub deadline: Option<Duration>,
    /// Requests in flight to this target at once (default 4).
    pub max_in_flight: usize,
    /// Starting max-repetitions for bulk walks (default 25); shrunk on tooBig or timeouts.
    pub max_repetitions: u32,
    /// msgMaxSize announced in v3 requests (default 65507).
    pub max_message_size: i32,
}

/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

impl Default for RequestOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            retries: 2,
            backoff: 1.5,
            deadline: None,
            max_in_flight: 4,
            max_repetitions: 25,
            max_message_size: 65507,
        }
    }
}

impl RequestOptions {
    pub(crate) fn attempt_timeouts(&self) -> impl Iterator<Item = Duration> + '_ {
        let b = self.backoff.max(1.0) as f64;
        // Capped so a large retry count cannot overflow Duration.
        (0..=self.retries).map(move |i| {
            let secs = self.timeout.as_secs_f64() * b.powi(i.min(30) as i32).min(1e6);
            Duration::try_from_secs_f64(secs).unwrap_or(MAX_WAIT).min(MAX_WAIT)
        })
    }

    pub(crate) fn total(&self) -> Duration {
        self.deadline
            .unwrap_or_else(|| {
                self.attempt_timeouts().fold(Duration::ZERO, |a, b| a.saturating_add(b))
            })
            .min(MAX_WAIT)
    }
}

pub(crate) struct TargetInner {
    pub(crate) client: Arc<Inner>,
    pub(crate) addr: SocketAddr,
    pub(crate) security: Security,
    pub(crate) opts: RequestOptions,
    expect: Expect,
    community: Arc<[u8]>,
    permits: Semaphore,
    usm: Option<Mutex<UsmSession>>,
}

/// An agent reachable through a [`Client`]. Cheap to clone.
#[derive(Clone)]
pub struct Target {
    pub(crate) inner: Arc<TargetInner>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.inner.addr)
            .field("security", &self.inner.security)
            .finish()
    }
}

/// Unregisters request IDs when a request ends, however it ends.
struct Registered<'a> {
    client: &'a Inner,
    ids: Vec<i32>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            self.client.pending.unregister(*id);
        }
    }
}

/// No single request waits longer than a day, whatever the options say.
const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// Maximum engine/time re-synchronisations within one request.
const MAX_RESYNC: u32 = 3;

impl Target {
    pub(crate) fn new(
        client: Arc<Inner>,
        addr: SocketAddr,
        security: Security,
        opts: RequestOptions,
    ) -> Self {
        let (expect, community, usm) = match &security {
            Security::V1 { community } | Security::V2c { community } => (
                Expect::Community {
                    version: security.version(),
                    community: community.as_slice().into(),
                },
                Arc::from(community.as_slice()),
                None,
            ),
            Security::V3 { user, context_engine_id, engine_id, .. } => {
                let mut session = UsmSession::new(user.clone(), rand::random());
                session.set_context_engine_id(context_engine_id.clone());
                if let Some(id) = engine_id {
                    // Boots and time stay unknown (0): an authenticated request gets a
                    // notInTimeWindow report that teaches them (RFC 3414 section 4).
                    session.set_engine(id, 0, 0, std::time::Instant::now());
                }
                (Expect::V3, Arc::from(&b""[..]), Some(Mutex::new(session)))
            }
        };
        let permits = Semaphore::new(opts.max_in_flight.max(1));
        Self {
            inner: Arc::new(TargetInner {
                client,
                addr,
                security,
                opts,
                expect,
                community,
                permits,
                usm,
            }),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub fn security(&self) -> &Security {
        &self.inner.security
    }

    pub fn options(&self) -> &RequestOptions {
        &self.inner.opts
    }

    /// Sends one request and hands the response PDU to `f`. Retries, v3 discovery and
    /// re-synchronisation happen here.
    ///
    /// The first Response that carries one of this request's ids is the answer: whatever it
    /// says (an error-status, OIDs that do not fit the request) is judged by `f` at once and
    /// never retried until the deadline. Datagrams that are not an answer are dropped and
    /// the wait goes on: undecodable ones, other PDU types, and v3 messages that fail
    /// security processing (counted in [`super::ClientStats`]). Only a Report or the deadline
    /// ends a v3 request without a Response, as net-snmp does for authPriv.
    pub(crate) async fn request<V, R>(
        &self,
        header: PduHeader,
        varbinds: &V,
        f: impl FnOnce(PduRef<'_>) -> Result<R, Error>,
    ) -> Result<R, Error>
    where
        V: EncodeVarBinds + ?Sized,
    {
        let t = &*self.inner;
        // The per-target permit first: waiting on a slow agent must not hold a global slot.
        let _local =
            t.permits.acquire().await.map_err(|_| Error::InvalidRequest("target closed"))?;
        let _global =
            t.client.global.acquire().await.map_err(|_| Error::InvalidRequest("client closed"))?;
        let start = Instant::now();
        let deadline = start + t.opts.total();
        let mailbox = Arc::new(Mailbox::default());
        let mut reg = Registered { client: &t.client, ids: Vec::with_capacity(4) };
        let endpoint = t.client.endpoint_for(&t.addr)?;
        let _in_flight = endpoint.outbox.enter();
        let mut scratch = Vec::new();
        let mut resyncs = 0u32;
        let mut timeouts = t.opts.attempt_timeouts();
        let mut discovering = false;
        let mut first = true;
        'attempt: loop {
            let Some(wait) = timeouts.next() else { return Err(Error::Timeout) };
            let now = if std::mem::take(&mut first) { start } else { Instant::now() };
            let id = t.client.pending.register(&mailbox, t.addr, &t.expect);
            reg.ids.push(id);
            let mut out = endpoint.outbox.buffer();
            match &t.usm {
                None => {
                    let version = t.security.version();
                    let h = PduHeader { request_id: id, ..header };
                    encode_community(&mut out, version, &t.community, &h, varbinds);
                }
                Some(session) => {
                    let mut s = session.lock().unwrap_or_else(|e| e.into_inner());
                    let ctx = match &t.security {
                        Security::V3 { context_name, .. } => context_name.as_slice(),
                        _ => b"",
                    };
                    let h = PduHeader { request_id: id, ..header };
                    match s.encode_request(
                        now.into_std(),
                        id,
                        t.opts.max_message_size,
                        ctx,
                        &h,
                        varbinds,
                        &mut out,
                    ) {
                        Ok(()) => discovering = false,
                        Err(crate::usm::UsmError::UnknownEngine) => {
                            discovering = true;
                            UsmSession::encode_discovery(id, id, &mut out);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            endpoint.outbox.send(out, t.addr, mailbox.clone());
            let attempt_end = (now + wait).min(deadline);
            let timer = tokio::time::sleep_until(attempt_end);
            tokio::pin!(timer);
            loop {
                let data = tokio::select! {
                    biased;
                    r = mailbox.recv() => r?,
                    _ = &mut timer => {
                        if attempt_end >= deadline {
                            return Err(Error::Timeout);
                        }
                        continue 'attempt;
                    }
                };
                match &t.usm {
                    None => {
                        let Ok(m) = CommunityMessage::decode(&data) else {
                            t.client.stats.parse_error();
                            continue;
                        };
                        if m.pdu.pdu_type != PduType::Response
                            || !reg.ids.contains(&m.pdu.request_id)
                        {
                            continue;
                        }
                        return f(m.pdu);
                    }
                    Some(session) => {
                        let mut s = session.lock().unwrap_or_else(|e| e.into_inner());
                        match s.process(Instant::now().into_std(), &data, &mut scratch) {
                            Ok(Incoming::Pdu(p)) => {
                                if discovering
                                    || p.pdu.pdu_type != PduType::Response
                                    || !reg.ids.contains(&p.pdu.request_id)
                                {
                                    continue;
                                }
                                drop(s);
                                return f(p.pdu);
                            }
                            Ok(Incoming::Resync) => {
                                drop(s);
                                resyncs += 1;
                                if resyncs > MAX_RESYNC {
                                    return Err(Error::NotInTimeWindow);
                                }
                                // A resend after a report is not a retry: restart the schedule.
                                timeouts = t.opts.attempt_timeouts();
                                continue 'attempt;
                            }
                            Ok(Incoming::Report(e)) => return Err(e.into()),
                            Err(e) => {
                                t.client.stats.refused(&e);
                                tracing::debug!(agent = %t.addr, error = %e, "SNMPv3 reply dropped");
                                continue;
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Target {
    /// For v3 targets: the agent's engine ID, boots and estimated time as currently known.
    pub fn engine_info(&self) -> Option<(Vec<u8>, u32, u32)> {
        let s = self.inner.usm.as_ref()?.lock().unwrap_or_else(|e| e.into_inner());
        let e = s.engine()?;
        Some((e.id.clone(), e.boots, e.time_at(std::time::Instant::now())))
    }
}
