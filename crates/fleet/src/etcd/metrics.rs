//! Metrics of the etcd source: what the watch applied, how far behind the applier is, how
//! often it had to start over, what failed, and the membership it sees.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why the source listed the whole prefix again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resync {
    /// The first listing.
    Start,
    /// The watch fell behind a compaction.
    Compacted,
    /// The stream was lost and could not resume.
    Reconnect,
}

impl Resync {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Compacted => "compacted",
            Self::Reconnect => "reconnect",
        }
    }
}

/// What failed talking to etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Connecting or listing.
    Connect,
    /// The watch stream.
    Watch,
    /// Granting or keeping the membership lease.
    Lease,
    /// Writing a verdict, member or operator key.
    Write,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Watch => "watch",
            Self::Lease => "lease",
            Self::Write => "write",
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// A verdict put or delete.
    Verdict,
    /// The member key.
    Member,
    /// An operator state or maintenance key.
    Operator,
}

impl WriteKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verdict => "verdict",
            Self::Member => "member",
            Self::Operator => "operator",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Label {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

/// Handles, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EtcdMetrics {
    events: Counter,
    queue_depth: Gauge,
    resyncs: Family<ReasonLabel, Counter>,
    errors: Family<Label, Counter>,
    writes: Family<Label, Counter>,
    lease_held: Gauge,
    connected: Gauge,
    members: Gauge,
    nodes: Family<ScopeLabel, Gauge>,
    revision: Gauge,
    invalid_keys: Gauge,
    publishes: Counter,
}

impl EtcdMetrics {
    /// Registers every metric in `registry` under `switchyard_` names.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("switchyard");
        r.register(
            "etcd_watch_events",
            "Watch events applied (duplicates excluded)",
            self.events.clone(),
        );
        r.register(
            "etcd_watch_queue_depth",
            "Watch responses waiting between the stream and the applier",
            self.queue_depth.clone(),
        );
        r.register(
            "etcd_resyncs",
            "Full listings of the prefix, by reason (start, compacted, reconnect)",
            self.resyncs.clone(),
        );
        r.register("etcd_errors", "Failed etcd operations, by kind", self.errors.clone());
        r.register("etcd_writes", "Keys written or deleted, by kind", self.writes.clone());
        r.register(
            "etcd_lease_held",
            "1 while this instance holds its membership lease",
            self.lease_held.clone(),
        );
        r.register(
            "etcd_connected",
            "1 while the watch on etcd is established",
            self.connected.clone(),
        );
        r.register("cluster_members", "Live members seen", self.members.clone());
        r.register(
            "cluster_nodes",
            "Nodes probed by this instance (local) and nodes with a merged verdict (merged)",
            self.nodes.clone(),
        );
        r.register("etcd_revision", "Store revision applied last", self.revision.clone());
        r.register(
            "etcd_invalid_keys",
            "Keys whose value is not in force (malformed, or breaking the inventory)",
            self.invalid_keys.clone(),
        );
        r.register(
            "etcd_inventory_publishes",
            "Inventories published from etcd (each rebuilds the routing table)",
            self.publishes.clone(),
        );
    }

    pub(crate) fn events(&self, n: u64) {
        self.events.inc_by(n);
    }
    pub(crate) fn queue_depth(&self, n: usize) {
        self.queue_depth.set(n as i64);
    }
    pub(crate) fn resync(&self, why: Resync) {
        self.resyncs.get_or_create(&ReasonLabel { reason: why.as_str() }).inc();
    }
    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors.get_or_create(&Label { kind: kind.as_str() }).inc();
    }
    pub(crate) fn wrote(&self, kind: WriteKind, n: u64) {
        self.writes.get_or_create(&Label { kind: kind.as_str() }).inc_by(n);
    }
    pub(crate) fn lease_held(&self, held: bool) {
        self.lease_held.set(i64::from(held));
    }
    pub(crate) fn connected(&self, up: bool) {
        self.connected.set(i64::from(up));
    }
    pub(crate) fn members(&self, n: usize) {
        self.members.set(n as i64);
    }
    /// Nodes probed here and nodes with a merged verdict.
    pub fn nodes(&self, local: usize, merged: usize) {
        self.nodes.get_or_create(&ScopeLabel { scope: "local" }).set(local as i64);
        self.nodes.get_or_create(&ScopeLabel { scope: "merged" }).set(merged as i64);
    }
    pub(crate) fn revision(&self, rev: i64) {
        self.revision.set(rev);
    }
    pub(crate) fn invalid_keys(&self, n: usize) {
        self.invalid_keys.set(n as i64);
    }
    pub(crate) fn published(&self) {
        self.publishes.inc();
    }
}
