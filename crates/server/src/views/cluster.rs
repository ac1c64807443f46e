//! `/api/v1/cluster`: the members, the share each probes, and per node what each prober says
//! and what the instance routes from.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_fleet::cluster::{self, Verdict};
use switchyard_route::NodeHealth;

use crate::cluster::ClusterState;

/// `GET /api/v1/cluster`.
#[derive(Serialize)]
pub struct ClusterApiView<'a> {
    /// This instance's id.
    pub instance: &'a str,
    /// The watch on etcd is established.
    pub connected: bool,
    /// No contact with etcd for longer than `stale_after_seconds`.
    pub stale: bool,
    /// The inventory in force came from the cache file, not yet confirmed by etcd.
    pub from_cache: bool,
    /// Store revision applied.
    pub revision: i64,
    /// Revision of the last inventory change applied.
    pub inventory_revision: i64,
    /// Probers per node (0: every member probes every node).
    pub replicas: usize,
    /// How verdicts combine.
    pub merge: &'static str,
    /// Maintenance set in etcd for every instance or for this one, with its reason.
    pub maintenance: Option<&'a str>,
    /// Nodes this instance probes (all of them while the membership cannot be read).
    pub probing: usize,
    /// Whether this instance probes the whole fleet because it cannot read the membership.
    pub probing_everything: bool,
    /// Live members.
    pub members: Vec<MemberView<'a>>,
    /// Per node (filtered by `?node=`): its probers, their verdicts and the merged health.
    pub nodes: Vec<NodeVerdictsView<'a>>,
}

/// A live member.
#[derive(Serialize)]
pub struct MemberView<'a> {
    /// Instance id.
    pub id: &'a str,
    /// Its admin listener.
    pub admin: Option<&'a str>,
    /// Its version.
    pub version: &'a str,
    /// When it joined, Unix ms.
    pub started_unix_ms: u64,
    /// The inventory revision it applied last.
    pub applied_revision: i64,
    /// How many inventory revisions it is behind this instance's view (0 when current).
    pub lag_revisions: i64,
    /// Nodes it probes.
    pub probes: usize,
}

/// One node's verdicts.
#[derive(Serialize)]
pub struct NodeVerdictsView<'a> {
    /// Node id.
    pub id: &'a str,
    /// The members that should probe it.
    pub probers: Vec<&'a str>,
    /// Verdicts by prober instance.
    pub verdicts: BTreeMap<&'a str, &'a Verdict>,
    /// What this instance routes from.
    pub merged: Option<&'a NodeHealth>,
}

impl<'a> ClusterApiView<'a> {
    /// The view of `state` over the inventory's `nodes`; `only` limits the node list.
    pub fn new(
        instance: &'a str,
        state: &'a ClusterState,
        nodes: &'a [String],
        replicas: usize,
        merge: &'static str,
        only: Option<&str>,
    ) -> Self {
        let view = &state.view;
        let probing = state.share.as_ref().map_or(nodes.len(), |s| s.len());
        let mut ids: Vec<&str> = view.members.keys().map(String::as_str).collect();
        if !view.members.contains_key(instance) {
            ids.push(instance);
        }
        let members = view
            .members
            .iter()
            .map(|(id, m)| MemberView {
                id,
                admin: m.admin.as_deref(),
                version: &m.version,
                started_unix_ms: m.started_unix_ms,
                applied_revision: m.applied_revision,
                lag_revisions: (state.status.inventory_revision - m.applied_revision).max(0),
                probes: cluster::share(
                    id,
                    nodes.iter().map(String::as_str),
                    &view.members,
                    replicas,
                )
                .len(),
            })
            .collect();
        let nodes = nodes
            .iter()
            .filter(|n| only.is_none_or(|o| o == n.as_str()))
            .map(|n| NodeVerdictsView {
                id: n,
                probers: cluster::probers(n, &ids, replicas),
                verdicts: {
                    // This instance's own verdict as it holds it now, which etcd may not
                    // have echoed yet.
                    let mut by: BTreeMap<&str, &Verdict> = view
                        .verdicts
                        .get(n.as_str())
                        .map(|by| by.iter().map(|(i, v)| (&**i, v)).collect())
                        .unwrap_or_default();
                    by.remove(instance);
                    if let Some(v) = state.local.get(n.as_str()) {
                        by.insert(instance, v);
                    }
                    by
                },
                merged: state.merged.nodes.get(n),
            })
            .collect();
        Self {
            instance,
            connected: state.status.connected,
            stale: state.stale,
            from_cache: state.status.from_cache,
            revision: state.status.revision,
            inventory_revision: state.status.inventory_revision,
            replicas,
            merge,
            maintenance: view.maintenance(),
            probing,
            probing_everything: state.share.is_none(),
            members,
            nodes,
        }
    }
}
