//! Distributed mode in the server: the task that joins this instance's probing to the
//! cluster's. From the members it computes the share of the fleet this instance probes (all
//! of it while it cannot read the membership), reports its verdicts on that share, merges
//! every live member's verdicts into the health view the routing table uses, and follows the
//! cluster-wide maintenance switch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use switchyard_fleet::cluster::{self, ClusterView, MergePolicy, NodeVerdicts, Verdict};
use switchyard_fleet::etcd::{EtcdSource, SourceStatus};
use switchyard_fleet::{Inventory, InventoryFeed};
use switchyard_probe::{HealthSnapshot, ProbeStatus};
use switchyard_route::{HealthState, HealthView};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::install::{Installer, Share};
use crate::maintenance::Maintenance;
use crate::routing::Routing;

/// What `/api/v1/cluster` shows, recomputed on every change.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// The cluster as read from etcd.
    pub view: Arc<ClusterView>,
    /// The nodes this instance probes (`None`: all of them, membership unknown).
    pub share: Share,
    /// This instance's verdicts on its share.
    pub local: Arc<BTreeMap<Arc<str>, Verdict>>,
    /// The merged health the routing table uses.
    pub merged: Arc<HealthView>,
    /// The source's standing with etcd.
    pub status: SourceStatus,
    /// No contact with etcd for longer than `stale_after_seconds`.
    pub stale: bool,
}

/// The distributed-mode handle kept by the application.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The etcd source.
    pub source: EtcdSource,
    state: watch::Receiver<Arc<ClusterState>>,
}

impl Cluster {
    /// The latest cluster state.
    pub fn state(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    /// Whether the inventory is stale (etcd silent for longer than `stale_after_seconds`).
    pub fn stale_for(&self) -> Option<Duration> {
        let silence = self.source.status().silence(self.source.started());
        let limit = Duration::from_secs(self.source.config().stale_after_seconds);
        (silence > limit).then_some(silence)
    }
}

/// Inputs of the cluster task.
pub struct Inputs {
    /// The etcd source.
    pub source: EtcdSource,
    /// The inventory feed (node ids for the share).
    pub feed: InventoryFeed,
    /// Probe snapshots of this instance.
    pub snapshots: watch::Receiver<Arc<HealthSnapshot>>,
    /// Where the share goes.
    pub installer: Installer,
    /// Where the merged health goes.
    pub routing: Arc<Routing>,
    /// The maintenance switch the cluster's key drives.
    pub maintenance: Maintenance,
    /// `switchyard_inventory_stale`.
    pub stale_gauge: Gauge,
}

/// Starts the cluster task; it runs until `stop`.
pub fn spawn(inputs: Inputs, stop: CancellationToken) -> Cluster {
    let (tx, state) = watch::channel(Arc::new(ClusterState::default()));
    let cluster = Cluster { source: inputs.source.clone(), state };
    tokio::spawn(run(inputs, tx, cluster.clone(), stop));
    cluster
}

async fn run(
    inputs: Inputs,
    tx: watch::Sender<Arc<ClusterState>>,
    handle: Cluster,
    stop: CancellationToken,
) {
    let Inputs { source, mut feed, mut snapshots, installer, routing, maintenance, stale_gauge } =
        inputs;
    let mut views = source.cluster();
    let mut status = source.subscribe_status();
    let me = source.instance().to_owned();
    let replicas = source.config().replicas;
    let policy = source.config().merge;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut version = 0u64;
    let mut share_inputs: Option<(Vec<String>, u64, bool)> = None;
    let mut share: Share = None;
    let mut was_stale = false;
    let now = tokio::time::Instant::now();
    let mut last_merge = now.checked_sub(MERGE_GAP).unwrap_or(now);
    let mut merge_gap = MERGE_GAP;
    loop {
        // The tick re-evaluates staleness and whether etcd is out of reach for longer than
        // the grace; anything else recomputes the views.
        let mut changed = tokio::select! {
            _ = stop.cancelled() => return,
            r = feed.changed() => if r.is_err() { return } else { true },
            r = snapshots.changed() => if r.is_err() { return } else { true },
            r = views.changed() => if r.is_err() { return } else { true },
            r = status.changed() => if r.is_err() { return } else { true },
            _ = tick.tick() => false,
        };
        // Probe snapshots come every `publish_debounce_ms` on a busy fleet; merging a large
        // fleet that often would cost more than it tells. Coalesce to one merge per gap.
        let grace = Duration::from_secs(source.config().member_ttl_seconds);
        if !changed
            && share_inputs.as_ref().is_some_and(|k| k.2 != reachable(&status.borrow(), grace))
        {
            changed = true;
        }
        if changed {
            let since = last_merge.elapsed();
            if since < merge_gap {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(merge_gap - since) => {}
                }
            }
            last_merge = tokio::time::Instant::now();
        }
        if !changed {
            let stale = handle.stale_for();
            stale_gauge.set(i64::from(stale.is_some()));
            if stale.is_some() != was_stale {
                log_staleness(stale);
                was_stale = stale.is_some();
                tx.send_modify(|s| Arc::make_mut(s).stale = was_stale);
            }
            continue;
        }
        let inventory = feed.borrow_and_update().clone();
        let snapshot = snapshots.borrow_and_update().clone();
        let view = views.borrow_and_update().clone();
        let st = status.borrow_and_update().clone();

        // Share: recomputed only when the members, the inventory or the connection change.
        let members: Vec<String> = view.members.keys().cloned().collect();
        // A reconnect shorter than a lease does not move the probing: the members are as
        // they were until etcd has been out of reach for a lease's time.
        let readable = reachable(&st, grace) && !view.members.is_empty();
        let inv_version = inventory.as_ref().map_or(0, |i| i.version);
        let key = (members, inv_version, reachable(&st, grace));
        if share_inputs.as_ref() != Some(&key) {
            share = match (&inventory, readable) {
                (Some(inv), true) => Some(Arc::new(share_of(&me, inv, &view, replicas))),
                _ => None,
            };
            // Without an inventory there is nothing to share yet; the installer holds the
            // probing back until the first share is known.
            if inventory.is_some() {
                installer.set_share(share.clone());
            }
            share_inputs = Some(key);
        }

        let merge_began = std::time::Instant::now();
        let local = Arc::new(local_verdicts(&snapshot, share.as_deref()));
        source.report_verdicts(local.clone());
        version += 1;
        let merged = if readable {
            merged_view(&view, &local, &me, policy, version)
        } else {
            // Cut off from the others: this instance probes everything and trusts itself.
            merged_view(&ClusterView::default(), &local, &me, MergePolicy::Pessimistic, version)
        };
        source.metrics().nodes(local.len(), merged.nodes.len());
        // Unchanged health keeps the view the routing table already holds: on a large fleet
        // a second copy of it is tens of megabytes.
        let previous = tx.borrow().merged.clone();
        let merged = if previous.nodes == merged.nodes {
            previous
        } else {
            let merged = Arc::new(merged);
            routing.apply_health(merged.clone());
            merged
        };
        maintenance.set_cluster(view.maintenance());
        // On a large fleet a merge takes a good part of a second: space them so that merging
        // never takes more than a fifth of a core.
        merge_gap = MERGE_GAP.max(merge_began.elapsed() * MERGE_SHARE);

        let stale = handle.stale_for();
        stale_gauge.set(i64::from(stale.is_some()));
        if stale.is_some() != was_stale {
            log_staleness(stale);
        }
        was_stale = stale.is_some();
        tx.send_replace(Arc::new(ClusterState {
            view,
            share: share.clone(),
            local,
            merged,
            status: st,
            stale: was_stale,
        }));
    }
}

/// Whether etcd answers, or did within `grace` (a reconnect shorter than a lease).
fn reachable(st: &SourceStatus, grace: Duration) -> bool {
    st.connected || st.last_contact.is_some_and(|t| t.elapsed() < grace)
}

/// The least time between two merges of the verdicts.
const MERGE_GAP: Duration = Duration::from_millis(200);
/// The gap is at least this many times the last merge's duration.
const MERGE_SHARE: u32 = 5;

/// Merges the verdicts of the other members in `view` with this instance's own (`local`,
/// fresher than what etcd echoes back), node by node.
fn merged_view<'v>(
    view: &'v ClusterView,
    local: &'v BTreeMap<Arc<str>, Verdict>,
    me: &'v str,
    policy: MergePolicy,
    version: u64,
) -> HealthView {
    let mut merged = HealthView::new(version);
    merged.nodes.reserve(view.verdicts.len().max(local.len()));
    // One node's verdicts in prober order (every instance averages in the same order):
    // the others' as etcd has them, this instance's own as it holds it now.
    let mut one: Vec<(&'v str, &'v Verdict)> = Vec::new();
    let mut merge_node = |node: &str, others: Option<&'v NodeVerdicts>| {
        one.clear();
        let others = others.into_iter().flat_map(NodeVerdicts::iter);
        one.extend(others.map(|(prober, v)| (&**prober, v)).filter(|(prober, _)| *prober != me));
        if let Some(v) = local.get(node) {
            one.insert(one.partition_point(|(prober, _)| *prober < me), (me, v));
        }
        if let Some(h) = cluster::merge(one.iter().map(|(_, v)| *v), policy) {
            merged.nodes.insert(node.to_owned(), h);
        }
    };
    for (node, others) in &view.verdicts {
        merge_node(node, Some(others));
    }
    for node in local.keys().filter(|n| !view.verdicts.contains_key(&***n)) {
        merge_node(node, None);
    }
    merged
}

fn log_staleness(stale: Option<Duration>) {
    match stale {
        Some(silence) => tracing::warn!(
            silence_s = silence.as_secs(),
            "no contact with etcd: serving the last known inventory, now stale"
        ),
        None => tracing::info!("etcd answers again: the inventory is current"),
    }
}

fn share_of(me: &str, inv: &Inventory, view: &ClusterView, replicas: usize) -> BTreeSet<String> {
    let ids = inv.spec.nodes.iter().map(|n| n.id.as_str());
    cluster::share(me, ids, &view.members, replicas)
}

/// This instance's verdicts on the nodes of its share that it has probed.
fn local_verdicts(
    snapshot: &HealthSnapshot,
    share: Option<&BTreeSet<String>>,
) -> BTreeMap<Arc<str>, Verdict> {
    snapshot
        .nodes
        .iter()
        .filter(|(id, st)| st.probed && share.is_none_or(|s| s.contains(&***id)))
        .filter(|(_, st)| st.state != HealthState::Unknown)
        .map(|(id, st)| (id.clone(), verdict(st)))
        .collect()
}

fn verdict(st: &ProbeStatus) -> Verdict {
    let cause = match st.state {
        HealthState::Up | HealthState::Unknown => None,
        _ => st.last_cause.map(|c| c.as_str()),
    };
    Verdict::new(
        st.state,
        cause,
        st.latency_ewma_ms,
        st.utilization,
        st.load_average,
        (st.weight_percent != 100).then_some(st.weight_percent),
    )
}
