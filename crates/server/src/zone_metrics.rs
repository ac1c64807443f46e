//! Per-zone gauges of the fleet as the router sees it: nodes by health state, and the mean
//! utilization the nodes report, recomputed each time a routing table is published.
//!
//! `switchyard_nodes{state}` counts the whole fleet; operators read capacity per zone (a zone
//! whose nodes are all down sends its clients to a backup), so the zone is a label here. Zone
//! names come from the inventory, which bounds the label set.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use switchyard_route::{FleetSpec, HealthState, HealthView};

use crate::metrics::Metrics;

/// `switchyard_zone_nodes{zone,state}`: nodes of the zone in each health state.
pub const ZONE_NODES: &str = "zone_nodes";
/// `switchyard_zone_utilization_ratio{zone}`: mean reported utilization (0..=1) of the
/// zone's nodes that report one; absent while none does.
pub const ZONE_UTILIZATION: &str = "zone_utilization_ratio";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneStateLabels {
    zone: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabels {
    zone: String,
}

/// Counts of one zone.
#[derive(Default)]
struct ZoneCount {
    by_state: [i64; HealthState::ALL.len()],
    utilization_sum: f64,
    reporting: u32,
}

/// The per-zone families and the zones they were last set for.
pub(crate) struct ZoneMetrics {
    nodes: Family<ZoneStateLabels, Gauge>,
    utilization: Family<ZoneLabels, Gauge<f64, AtomicU64>>,
    /// Zones of the last observation: series are cleared only when this set changes, so a
    /// scrape never sees a steady zone's series missing.
    zones: Mutex<Vec<String>>,
}

impl ZoneMetrics {
    /// Registers both families under the `switchyard_` prefix.
    pub(crate) fn register(metrics: &Metrics) -> Self {
        let m = Self {
            nodes: Family::default(),
            utilization: Family::default(),
            zones: Mutex::new(Vec::new()),
        };
        metrics.register(|r| {
            r.register(ZONE_NODES, "Nodes of each zone by effective health state", m.nodes.clone());
            r.register(
                ZONE_UTILIZATION,
                "Mean utilization (0..=1) reported by the zone's nodes that report one",
                m.utilization.clone(),
            );
        });
        m
    }

    /// Sets the gauges from the fleet and the health view the table was built with. Nodes
    /// absent from the view are `unknown`, as the router takes them.
    pub(crate) fn observe(&self, spec: &FleetSpec, health: &HealthView) {
        let mut zones: BTreeMap<&str, ZoneCount> =
            spec.zones.iter().map(|z| (z.name.as_str(), ZoneCount::default())).collect();
        for node in &spec.nodes {
            let h = health.nodes.get(&node.id).copied().unwrap_or_default();
            let count = zones.entry(node.zone.as_str()).or_default();
            let i = HealthState::ALL.iter().position(|s| *s == h.state).unwrap_or(0);
            count.by_state[i] += 1;
            if let Some(u) = h.utilization.filter(|u| u.is_finite()) {
                count.utilization_sum += f64::from(u);
                count.reporting += 1;
            }
        }

        let mut last = self.zones.lock().unwrap_or_else(|e| e.into_inner());
        if !last.iter().map(String::as_str).eq(zones.keys().copied()) {
            self.nodes.clear();
            self.utilization.clear();
            *last = zones.keys().map(|z| (*z).to_owned()).collect();
        }
        for (zone, count) in &zones {
            for (state, n) in HealthState::ALL.iter().zip(count.by_state) {
                let labels = ZoneStateLabels { zone: (*zone).to_owned(), state: state.as_str() };
                self.nodes.get_or_create(&labels).set(n);
            }
            let labels = ZoneLabels { zone: (*zone).to_owned() };
            if count.reporting == 0 {
                self.utilization.remove(&labels);
            } else {
                let mean = count.utilization_sum / f64::from(count.reporting);
                self.utilization.get_or_create(&labels).set(mean);
            }
        }
    }
}

#[cfg(test)]
mod tests;
