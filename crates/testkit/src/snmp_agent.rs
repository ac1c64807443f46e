//! Simulated SNMP agents built on the `switchyard-snmp` codec, many per process.
//!
//! Each [`SimAgent`] owns a UDP socket on 127.0.0.1 and serves the SNMPv2-MIB system group,
//! IF-MIB ifTable/ifXTable with octet counters advancing at programmable rates, and
//! UCD-SNMP-MIB laLoad, over v2c and v3 (any USM user the codec supports). Faults can be
//! switched on at run time: drop, delay, duplicate, corrupt, forged copies, reboot, tooBig
//! for large bulks, and protocol violations of broken agents ([`Misbehavior`]).
//! [`AgentFarm`] starts thousands of them.

#[cfg(unix)]
mod gso;
mod mib;
mod respond;
mod serve;
#[cfg(all(test, unix))]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_snmp::codec::{
    CommunityMessage, ErrorStatus, Oid, OidRef, PduHeader, PduRef, PduType, Value, ValueRef,
    VarBind, VarBindRef, Version, encode_community,
};
use switchyard_snmp::usm::agent::{AuthoritativeEngine, Rejection};
use switchyard_snmp::usm::{UsmUser, report};
use tokio::task::JoinHandle;

use mib::{Cell, Mib};

/// One simulated interface.
#[derive(Clone, Debug)]
pub struct InterfaceSpec {
    pub name: String,
    pub speed_mbps: u64,
    /// Octet counter rates in bit/s.
    pub in_bps: u64,
    pub out_bps: u64,
    /// Counter values at boot.
    pub start_in_octets: u64,
    pub start_out_octets: u64,
}

impl InterfaceSpec {
    pub fn new(name: &str, speed_mbps: u64, in_bps: u64, out_bps: u64) -> Self {
        Self {
            name: name.into(),
            speed_mbps,
            in_bps,
            out_bps,
            start_in_octets: 0,
            start_out_octets: 0,
        }
    }
}

/// What an agent serves.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// v2c community; `None` disables v1/v2c.
    pub community: Option<String>,
    /// v3 users; empty disables v3.
    pub users: Vec<UsmUser>,
    pub sys_descr: String,
    pub sys_name: String,
    pub interfaces: Vec<InterfaceSpec>,
    /// laLoad 1/5/15; `None` leaves laTable out.
    pub load: Option<[f64; 3]>,
    /// Most varbinds in one GETBULK response (net-snmp's default cap is 100).
    pub max_bulk_varbinds: usize,
    /// v3 context names served (default: the default context, empty). A request naming
    /// another context gets an snmpUnknownContexts report (RFC 3413 section 4.1.2).
    pub context_names: Vec<String>,
}

impl Default for AgentSpec {
    fn default() -> Self {
        Self {
            community: Some("public".into()),
            users: Vec::new(),
            sys_descr: "switchyard simulated agent".into(),
            sys_name: "sim".into(),
            interfaces: vec![InterfaceSpec::new("eth0", 1000, 100_000_000, 50_000_000)],
            load: Some([0.25, 0.5, 0.75]),
            max_bulk_varbinds: 100,
            context_names: vec![String::new()],
        }
    }
}

/// Fault injection, changeable at run time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// Requests dropped per 1000.
    pub drop_per_mille: u16,
    /// Every response is sent this much later.
    pub delay: Duration,
    /// Every response is sent twice.
    pub duplicate: bool,
    /// Responses damaged per 1000 (truncated, or the outer length altered).
    pub corrupt_per_mille: u16,
    /// GETBULK asking for more varbinds than this gets tooBig with an empty varbind list.
    pub too_big_above: Option<usize>,
    /// Every response is preceded by a copy with its last byte flipped: a v3 copy then fails
    /// the manager's digest check (or decryption), as a forged or damaged reply would. Only
    /// meaningful with authentication: a damaged v1/v2c reply may still decode.
    pub damaged_copy_first: bool,
    /// A protocol violation to commit on every request it applies to.
    pub misbehavior: Option<Misbehavior>,
}

/// Protocol violations seen in broken agents, for the manager's error paths.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Misbehavior {
    /// GET and SET answers name other OIDs than requested (the next instance's).
    RenameOids,
    /// Every answer carries genErr with an error-index past its bindings.
    ErrorIndexOutOfRange,
    /// GETNEXT and GETBULK requests at or after this OID are answered with the requested OID
    /// itself: a walk does not advance.
    RepeatFrom(Oid),
    /// GETNEXT and GETBULK requests at or after this OID are answered with this
    /// error-status, error-index 1.
    ErrorFrom(Oid, ErrorStatus),
}

struct IfState {
    base_in: u64,
    base_out: u64,
    in_bps: u64,
    out_bps: u64,
    since: Instant,
}

impl IfState {
    fn octets(&self, now: Instant) -> (u64, u64) {
        let s = now.saturating_duration_since(self.since).as_secs_f64();
        (
            self.base_in.wrapping_add((self.in_bps as f64 / 8.0 * s) as u64),
            self.base_out.wrapping_add((self.out_bps as f64 / 8.0 * s) as u64),
        )
    }
}

struct Data {
    spec: AgentSpec,
    mib: Arc<Mib>,
    booted: Instant,
    ifs: Vec<IfState>,
    load_text: Vec<String>,
    faults: Faults,
}

struct Core {
    data: Data,
    engine: Option<AuthoritativeEngine>,
}

struct Shared {
    core: Mutex<Core>,
    requests: AtomicU64,
}

/// A running simulated agent. Dropping it stops the agent.
pub struct SimAgent {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for SimAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAgent").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Core> {
    s.core.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimAgent {
    /// Starts an agent on 127.0.0.1 with an ephemeral port.
    pub async fn start(spec: AgentSpec) -> std::io::Result<SimAgent> {
        Self::start_on((Ipv4Addr::LOCALHOST, 0).into(), spec).await
    }

    /// Starts an agent on a given loopback address.
    pub async fn start_on(bind: SocketAddr, spec: AgentSpec) -> std::io::Result<SimAgent> {
        let socket = std::net::UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let now = Instant::now();
        let mut engine_id = b"\x80\x00\x1f\x88\x04sim".to_vec();
        engine_id.extend_from_slice(&addr.port().to_be_bytes());
        engine_id.extend_from_slice(&rand::random::<u32>().to_be_bytes());
        let engine = (!spec.users.is_empty())
            .then(|| AuthoritativeEngine::new(engine_id, 1, now, &spec.users));
        let ifs = spec
            .interfaces
            .iter()
            .map(|i| IfState {
                base_in: i.start_in_octets,
                base_out: i.start_out_octets,
                in_bps: i.in_bps,
                out_bps: i.out_bps,
                since: now,
            })
            .collect();
        let load_text =
            spec.load.map(|l| l.iter().map(|v| format!("{v:.2}")).collect()).unwrap_or_default();
        let mib = Mib::shared(spec.interfaces.len(), spec.load.is_some());
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                data: Data { spec, mib, booted: now, ifs, load_text, faults: Faults::default() },
                engine,
            }),
            requests: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve::serve(socket, shared.clone()));
        Ok(SimAgent { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared).data.faults = faults;
    }

    /// Changes an interface's counter rates (bit/s) from now on.
    pub fn set_rates(&self, interface: usize, in_bps: u64, out_bps: u64) {
        let mut c = lock(&self.shared);
        let now = Instant::now();
        if let Some(i) = c.data.ifs.get_mut(interface) {
            let (a, b) = i.octets(now);
            *i = IfState { base_in: a, base_out: b, in_bps, out_bps, since: now };
        }
    }

    /// Adds to an interface's octet counters at once, as an agent that re-bases its
    /// counters without a discontinuity (or a glitch) does. The 32-bit counters wrap.
    pub fn add_octets(&self, interface: usize, in_octets: u64, out_octets: u64) {
        let mut c = lock(&self.shared);
        if let Some(i) = c.data.ifs.get_mut(interface) {
            i.base_in = i.base_in.wrapping_add(in_octets);
            i.base_out = i.base_out.wrapping_add(out_octets);
        }
    }

    /// Sets the load averages served as laLoad.
    pub fn set_load(&self, load: [f64; 3]) {
        let mut c = lock(&self.shared);
        if c.data.spec.load.is_some() {
            c.data.load_text = load.iter().map(|v| format!("{v:.2}")).collect();
        }
    }

    /// A reboot: sysUpTime and the counters restart from zero, snmpEngineBoots increases.
    pub fn reboot(&self) {
        let mut c = lock(&self.shared);
        let now = Instant::now();
        c.data.booted = now;
        for i in c.data.ifs.iter_mut() {
            *i = IfState {
                base_in: 0,
                base_out: 0,
                in_bps: i.in_bps,
                out_bps: i.out_bps,
                since: now,
            };
        }
        if let Some(e) = c.engine.as_mut() {
            e.reboot(now);
        }
    }

    /// The agent's snmpEngineID, when it serves v3 users.
    pub fn engine_id(&self) -> Option<Vec<u8>> {
        lock(&self.shared).engine.as_ref().map(|e| e.engine_id().to_vec())
    }

    /// Requests received so far (including dropped ones).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

/// Many agents on loopback, one socket each.
#[derive(Debug, Default)]
pub struct AgentFarm {
    pub agents: Vec<SimAgent>,
}

impl AgentFarm {
    /// Starts `count` agents, the i-th serving `spec(i)`.
    pub async fn start(
        count: usize,
        mut spec: impl FnMut(usize) -> AgentSpec,
    ) -> std::io::Result<AgentFarm> {
        let mut agents = Vec::with_capacity(count);
        for i in 0..count {
            agents.push(SimAgent::start(spec(i)).await?);
        }
        Ok(AgentFarm { agents })
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.agents.iter().map(|a| a.addr).collect()
    }
}

/// Damages a response so that a strict decoder must reject it: cut short at a random point,
/// or its outer length field altered. (Damage that still decodes is indistinguishable from a
/// genuine answer in v1/v2c, which carry no integrity check.)
fn corrupt(out: &mut Vec<u8>) {
    if out.len() < 2 {
        return;
    }
    if rand::random::<bool>() {
        let keep = rand::random_range(0..out.len());
        out.truncate(keep);
    } else {
        out[1] ^= 1 << rand::random_range(0..8);
    }
}

/// Builds the response to one datagram into `out`; false when nothing is to be sent.
fn answer(c: &mut Core, msg: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> bool {
    let now = Instant::now();
    if let Ok(m) = CommunityMessage::decode(msg) {
        let d = &c.data;
        if m.version != Version::V2c
            || d.spec.community.as_deref().map(str::as_bytes) != Some(m.community)
        {
            return false;
        }
        let (h, vbs) = respond(d, now, &m.pdu, usize::MAX);
        encode_community(out, Version::V2c, m.community, &h, &vbs[..]);
        return true;
    }
    let Some(engine) = c.engine.as_mut() else { return false };
    match engine.process(now, msg, scratch, out) {
        Ok(req) => {
            let known = std::str::from_utf8(&req.context.context_name)
                .is_ok_and(|n| c.data.spec.context_names.iter().any(|k| k == n));
            if !known {
                let vbs = [VarBind::new(
                    Oid::from_static(&report::UNKNOWN_CONTEXTS),
                    Value::Counter32(1),
                )];
                let h = PduHeader::request(PduType::Report, req.scoped.pdu.request_id);
                engine.encode(now, &req.context, &h, &vbs[..], out);
                return true;
            }
            let (h, vbs) = respond(&c.data, now, &req.scoped.pdu, req.context.max_size as usize);
            engine.encode(now, &req.context, &h, &vbs[..], out);
            true
        }
        Err(Rejection::Report) => true,
        Err(Rejection::Drop) => false,
    }
}

fn value<'d>(d: &'d Data, now: Instant, cell: Cell) -> ValueRef<'d> {
    let ifs = &d.spec.interfaces;
    match cell {
        Cell::SysDescr => ValueRef::OctetString(d.spec.sys_descr.as_bytes()),
        Cell::SysObjectId => ValueRef::ObjectId(
            OidRef::parse(&SYS_OBJECT_ID_BER).unwrap_or_else(|_| unreachable!("valid constant")),
        ),
        Cell::SysUpTime => ValueRef::TimeTicks(uptime(d, now)),
        Cell::SysContact => ValueRef::OctetString(b"noc@example.net"),
        Cell::SysName => ValueRef::OctetString(d.spec.sys_name.as_bytes()),
        Cell::SysLocation => ValueRef::OctetString(b"loopback"),
        Cell::IfNumber => ValueRef::Integer(ifs.len() as i32),
        Cell::IfIndex(i) => ValueRef::Integer(i as i32 + 1),
        Cell::IfDescr(i) | Cell::IfName(i) => ValueRef::OctetString(ifs[i].name.as_bytes()),
        Cell::IfType => ValueRef::Integer(6),
        Cell::IfMtu => ValueRef::Integer(1500),
        Cell::IfSpeed(i) => ValueRef::Gauge32(
            (ifs[i].speed_mbps.saturating_mul(1_000_000)).min(u32::MAX as u64) as u32,
        ),
        Cell::IfAdminStatus | Cell::IfOperStatus(_) => ValueRef::Integer(1),
        Cell::IfInOctets(i) => ValueRef::Counter32(d.ifs[i].octets(now).0 as u32),
        Cell::IfOutOctets(i) => ValueRef::Counter32(d.ifs[i].octets(now).1 as u32),
        Cell::IfHcInOctets(i) => ValueRef::Counter64(d.ifs[i].octets(now).0),
        Cell::IfHcOutOctets(i) => ValueRef::Counter64(d.ifs[i].octets(now).1),
        Cell::IfHighSpeed(i) => ValueRef::Gauge32(ifs[i].speed_mbps.min(u32::MAX as u64) as u32),
        Cell::IfCounterDiscontinuityTime => ValueRef::TimeTicks(0),
        Cell::LaIndex(k) => ValueRef::Integer(k as i32 + 1),
        Cell::LaNames(k) => ValueRef::OctetString([&b"Load-1"[..], b"Load-5", b"Load-15"][k]),
        Cell::LaLoad(k) => ValueRef::OctetString(d.load_text[k].as_bytes()),
        Cell::LaLoadInt(k) => {
            ValueRef::Integer((d.load_text[k].parse::<f64>().unwrap_or(0.0) * 100.0) as i32)
        }
    }
}

/// NET-SNMP-MIB::netSnmpAgentOIDs.10 (Linux), as net-snmp reports.
const SYS_OBJECT_ID_BER: [u8; 10] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0xbf, 0x08, 0x03, 0x02, 0x0a];

fn uptime(d: &Data, now: Instant) -> u32 {
    (now.saturating_duration_since(d.booted).as_millis() / 10) as u32
}

fn entry<'d>(d: &'d Data, now: Instant, i: usize) -> VarBindRef<'d> {
    let e = &d.mib.entries[i];
    VarBindRef {
        oid: OidRef::parse(&e.ber).unwrap_or_else(|_| unreachable!("built from a valid OID")),
        value: value(d, now, e.cell),
    }
}

/// Computes the response PDU for a request (RFC 3416 section 4.2).
fn respond<'a>(
    d: &'a Data,
    now: Instant,
    req: &PduRef<'a>,
    max_size: usize,
) -> (PduHeader, Vec<VarBindRef<'a>>) {
    if let Some(m) = &d.faults.misbehavior
        && let Some(broken) = misbehave(d, now, req, m)
    {
        return broken;
    }
    let mut h = PduHeader::request(PduType::Response, req.request_id);
    let mut vbs = Vec::with_capacity(req.varbinds.len());
    match req.pdu_type {
        PduType::Get => {
            for vb in req.varbinds.iter() {
                let value = match d.mib.find(&vb.oid) {
                    Some(i) => entry(d, now, i).value,
                    None if d.mib.has_object(&vb.oid) => ValueRef::NoSuchInstance,
                    None => ValueRef::NoSuchObject,
                };
                vbs.push(VarBindRef { oid: vb.oid, value });
            }
        }
        PduType::GetNext => {
            for vb in req.varbinds.iter() {
                vbs.push(match d.mib.next_after(&vb.oid) {
                    Some(i) => entry(d, now, i),
                    None => VarBindRef { oid: vb.oid, value: ValueRef::EndOfMibView },
                });
            }
        }
        PduType::GetBulk => {
            let non_rep = (req.error_status.max(0) as usize).min(req.varbinds.len());
            let reps = req.error_index.max(0) as usize;
            let asked = non_rep + reps * (req.varbinds.len() - non_rep);
            if d.faults.too_big_above.is_some_and(|n| asked > n) {
                h.error_status = ErrorStatus::TooBig.as_i32();
                return (h, vbs);
            }
            let cap = d.spec.max_bulk_varbinds.max(1);
            let mut cursors: Vec<(OidRef<'a>, Option<usize>)> = Vec::new();
            for (k, vb) in req.varbinds.iter().enumerate() {
                let next = d.mib.next_after(&vb.oid);
                if k < non_rep {
                    vbs.push(
                        next.map_or(
                            VarBindRef { oid: vb.oid, value: ValueRef::EndOfMibView },
                            |i| entry(d, now, i),
                        ),
                    );
                } else {
                    cursors.push((vb.oid, next));
                }
            }
            // Past the end of the MIB a repeater yields endOfMibView (RFC 3416 4.2.3); once
            // every repeater has, one such row ends the response, as net-snmp's agent does.
            'rows: for _ in 0..reps {
                let ended = cursors.iter().all(|c| c.1.is_none());
                for c in cursors.iter_mut() {
                    if vbs.len() >= cap {
                        break 'rows;
                    }
                    match c.1 {
                        Some(i) => {
                            let e = entry(d, now, i);
                            c.0 = e.oid;
                            vbs.push(e);
                            c.1 = (i + 1 < d.mib.entries.len()).then_some(i + 1);
                        }
                        None => vbs.push(VarBindRef { oid: c.0, value: ValueRef::EndOfMibView }),
                    }
                }
                if ended {
                    break;
                }
            }
            // Keep the message within the manager's limit (RFC 3416 4.2.3: drop trailing rows).
            let budget = max_size.min(65000).saturating_sub(100);
            let mut size = 0;
            let mut keep = vbs.len();
            for (k, vb) in vbs.iter().enumerate() {
                size += vb.oid.as_bytes().len() + 24;
                if size > budget {
                    keep = k;
                    break;
                }
            }
            vbs.truncate(keep);
        }
        PduType::Set => {
            h.error_status = ErrorStatus::NotWritable.as_i32();
            h.error_index = 1;
            vbs.extend(req.varbinds.iter());
        }
        _ => {
            h.error_status = ErrorStatus::GenErr.as_i32();
        }
    }
    (h, vbs)
}

/// The answer a [`Misbehavior`] gives instead of the right one, if it applies to `req`.
fn misbehave<'a>(
    d: &'a Data,
    now: Instant,
    req: &PduRef<'a>,
    m: &Misbehavior,
) -> Option<(PduHeader, Vec<VarBindRef<'a>>)> {
    let mut h = PduHeader::request(PduType::Response, req.request_id);
    let walking = matches!(req.pdu_type, PduType::GetNext | PduType::GetBulk);
    let reached = |from: &Oid| req.varbinds.get(0).is_some_and(|vb| vb.oid.cmp_oid(from).is_ge());
    match m {
        Misbehavior::RenameOids if matches!(req.pdu_type, PduType::Get | PduType::Set) => {
            let vbs = req
                .varbinds
                .iter()
                .map(|vb| entry(d, now, d.mib.next_after(&vb.oid).unwrap_or(0)))
                .collect();
            Some((h, vbs))
        }
        Misbehavior::ErrorIndexOutOfRange => {
            h.error_status = ErrorStatus::GenErr.as_i32();
            h.error_index = req.varbinds.len() as i32 + 5;
            Some((h, req.varbinds.iter().collect()))
        }
        Misbehavior::RepeatFrom(from) if walking && reached(from) => {
            let first = req.varbinds.get(0)?;
            let value = d.mib.find(&first.oid).map_or(ValueRef::Null, |i| entry(d, now, i).value);
            Some((h, vec![VarBindRef { oid: first.oid, value }]))
        }
        Misbehavior::ErrorFrom(from, status) if walking && reached(from) => {
            h.error_status = status.as_i32();
            h.error_index = 1;
            Some((h, req.varbinds.iter().collect()))
        }
        _ => None,
    }
}
