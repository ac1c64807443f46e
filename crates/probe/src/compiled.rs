//! A probe spec compiled for running: the kind's regexes and TLS settings built once and
//! shared by every node that uses the spec, plus the connections a node keeps between
//! rounds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::error::ProbeError;
use crate::health::HealthPolicy;
use crate::kind::{agent, dns, grpc, http, snmp, tcp, tls};
use crate::outcome::{FailureCause, ProbeOutcome, Verdict};
use crate::spec::{Check, ProbeSpec};

/// A spec with its regexes compiled and TLS configuration built, shared by every node that
/// uses the same spec.
#[derive(Debug)]
pub struct CompiledProbe {
    spec: Arc<ProbeSpec>,
    /// The spec's thresholds and intervals, shared by the health of every node it probes.
    policy: Arc<HealthPolicy>,
    kind: Kind,
    agent: Option<agent::CompiledAgent>,
    /// The SNMP reading beside the main check.
    snmp: Option<snmp::CompiledSnmp>,
}

#[derive(Debug)]
enum Kind {
    Tcp(tcp::CompiledTcp),
    Tls(tls::CompiledTls),
    Http(http::CompiledHttp),
    Dns(dns::CompiledDns),
    Grpc(grpc::CompiledGrpc),
    Agent(agent::CompiledAgent),
    Snmp(snmp::CompiledSnmp),
}

/// Connections a node keeps between probes (keep-alive HTTP, an HTTP/2 session for gRPC).
/// Dropping it closes them. Empty, and one pointer wide, until a kind that pools connections
/// first runs: every node holds one, and the plain TCP, TLS and DNS checks of a large fleet
/// never need the room.
#[derive(Default)]
pub struct ConnState(Option<Box<Pools>>);

#[derive(Default)]
struct Pools {
    http: Option<http::Conn>,
    http_request: http::RequestCache,
    grpc: Option<grpc::Conn>,
    snmp: Option<snmp::Conn>,
    /// Session of the SNMP reading beside the main check.
    side_snmp: Option<snmp::Conn>,
}

impl ConnState {
    fn pools(&mut self) -> &mut Pools {
        self.0.get_or_insert_with(Box::default)
    }
}

impl std::fmt::Debug for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.0.as_deref();
        f.debug_struct("ConnState")
            .field("http", &p.is_some_and(|p| p.http.is_some()))
            .field("grpc", &p.is_some_and(|p| p.grpc.is_some()))
            .field("snmp", &p.is_some_and(|p| p.snmp.is_some()))
            .field("side_snmp", &p.is_some_and(|p| p.side_snmp.is_some()))
            .finish()
    }
}

impl CompiledProbe {
    /// Validates and compiles a spec.
    pub fn new(spec: Arc<ProbeSpec>) -> Result<Self, ProbeError> {
        spec.validate()?;
        let kind = match &spec.check {
            Check::Tcp(c) => Kind::Tcp(tcp::CompiledTcp::new(c)?),
            Check::Tls(c) => Kind::Tls(tls::CompiledTls::new(c)?),
            Check::Http(c) => Kind::Http(http::CompiledHttp::new(c)?),
            Check::Dns(c) => Kind::Dns(dns::CompiledDns::new(c)?),
            Check::Grpc(c) => Kind::Grpc(grpc::CompiledGrpc::new(c)?),
            Check::Agent(c) => Kind::Agent(agent::CompiledAgent::new(c)),
            Check::Snmp(c) => Kind::Snmp(snmp::CompiledSnmp::new(c)?),
        };
        let agent = spec.agent.as_ref().map(agent::CompiledAgent::new);
        let snmp = spec.snmp.as_ref().map(snmp::CompiledSnmp::new).transpose()?;
        let policy = Arc::new(HealthPolicy::from_spec(&spec));
        Ok(CompiledProbe { spec, policy, kind, agent, snmp })
    }

    /// The spec this was compiled from.
    pub fn spec(&self) -> &Arc<ProbeSpec> {
        &self.spec
    }

    /// The health policy the spec sets.
    pub fn policy(&self) -> &Arc<HealthPolicy> {
        &self.policy
    }

    /// Runs one probe against `addr`. Never takes longer than `timeout_ms` (plus scheduling
    /// noise): the whole probe, agent check included, runs under one deadline. The agent is
    /// queried beside the main check; an agent that does not answer by the deadline is
    /// treated like an unreachable one (it changes nothing), and the main check's own result
    /// and latency stand.
    pub async fn run(&self, addr: SocketAddr, state: &mut ConnState) -> ProbeOutcome {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.spec.timeout();
        let mut out = ProbeOutcome::new();
        let mut agent_reply = None;
        // The side reading keeps its own session; it is put back after the round.
        let mut state_side = state.0.as_mut().and_then(|p| p.side_snmp.take());
        let main = async {
            self.run_kind(addr, state, &mut out, start).await;
            start.elapsed()
        };
        let mut reading = None;
        let main_elapsed = if self.agent.is_none() && self.snmp.is_none() {
            tokio::time::timeout_at(deadline, Box::pin(main)).await
        } else {
            // Boxed, like the rarer kinds: the common probe's task stays small.
            Box::pin(async {
                let agent = async {
                    match &self.agent {
                        Some(a) => a.query(addr, self.spec.connect_timeout()).await.ok(),
                        None => None,
                    }
                };
                let side = async {
                    let s = self.snmp.as_ref()?;
                    let mut r = ProbeOutcome::new();
                    s.run(addr, self.spec.timeout(), &mut state_side, &mut r, start).await;
                    Some(r)
                };
                let (main, reply, side) = tokio::join!(
                    tokio::time::timeout_at(deadline, main),
                    tokio::time::timeout_at(deadline, agent),
                    tokio::time::timeout_at(deadline, side),
                );
                agent_reply = reply.ok().flatten();
                reading = side.ok().flatten();
                main
            })
            .await
        };
        if main_elapsed.is_err() {
            // The connection may be mid-exchange; it cannot be reused.
            if let Some(p) = state.0.as_mut() {
                p.http = None;
                p.grpc = None;
            }
            out.fail(FailureCause::Timeout);
        }
        if out.agent.is_none() {
            out.agent = agent_reply;
        }
        if state_side.is_some() {
            state.pools().side_snmp = state_side;
        }
        if let Some(r) = &reading {
            apply_reading(&mut out, r);
        }
        out.phases.total = main_elapsed.unwrap_or_else(|_| start.elapsed());
        out
    }

    async fn run_kind(
        &self,
        addr: SocketAddr,
        state: &mut ConnState,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        let ct = self.spec.connect_timeout();
        // Kinds whose futures are large (TLS, HTTP/2, DNS and SNMP codecs) are boxed, so the
        // task spawned per probe stays small for the common plain TCP/HTTP probes: every
        // spawn copies the whole future into its task.
        match &self.kind {
            Kind::Tcp(c) => c.run(addr, ct, out, start).await,
            Kind::Tls(c) => Box::pin(c.run(addr, ct, out, start)).await,
            Kind::Http(c) => {
                let p = state.pools();
                c.run(addr, ct, &mut p.http, &mut p.http_request, out, start).await
            }
            Kind::Dns(c) => Box::pin(c.run(addr, out, start)).await,
            Kind::Grpc(c) => Box::pin(c.run(addr, ct, &mut state.pools().grpc, out, start)).await,
            Kind::Agent(c) => Box::pin(c.run(addr, ct, out, start)).await,
            Kind::Snmp(c) => {
                let timeout = self.spec.timeout();
                Box::pin(c.run(addr, timeout, &mut state.pools().snmp, out, start)).await
            }
        }
    }
}

/// Folds the SNMP reading taken beside the main check into its outcome. The reading's
/// utilization and load are kept whatever the main check found; a threshold at `down` fails
/// a passing node (overloaded), one at `degraded` degrades it; a reading that failed for any
/// other reason (no answer, wrong credentials) changes nothing, like an unreachable agent.
fn apply_reading(out: &mut ProbeOutcome, reading: &ProbeOutcome) {
    out.utilization = reading.utilization;
    out.load_average = reading.load_average;
    out.snmp_dropped = reading.snmp_dropped;
    if !out.is_success() {
        return;
    }
    match (reading.verdict, reading.cause) {
        (Verdict::Fail, Some(FailureCause::Threshold)) => {
            out.fail(FailureCause::Threshold);
        }
        (Verdict::Degraded, _) if out.degraded_by.is_none() => {
            out.pass(reading.degraded_by);
        }
        _ => {}
    }
}
