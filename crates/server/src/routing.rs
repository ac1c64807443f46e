//! The live routing snapshot: one `ArcSwap<RoutingTable>` read lock-free by every front end,
//! and the writer side that rebuilds it when the inventory or operator states change and
//! patches it when only health changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use switchyard_fleet::Inventory;
use switchyard_route::{
    AdminState, BuildError, CoverageZones, FleetSpec, HealthView, NodeSpec, RoutingTable,
};

use crate::metrics::Metrics;
use crate::zone_metrics::ZoneMetrics;

/// Why a table was rebuilt, as a metric label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    kind: &'static str,
}

/// Routing-table metrics.
#[derive(Clone)]
struct RoutingMetrics {
    version: Gauge,
    build_seconds: Family<BuildLabels, Histogram>,
    memory_bytes: Gauge,
}

impl RoutingMetrics {
    fn register(metrics: &Metrics) -> Self {
        let m = Self {
            version: Gauge::default(),
            build_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.0001, 0.001, 0.005, 0.02, 0.1, 0.5, 2.0, 10.0])
            }),
            memory_bytes: Gauge::default(),
        };
        metrics.register(|r| {
            r.register(
                "routing_table_version",
                "Number of routing table snapshots published since start",
                m.version.clone(),
            );
            r.register(
                "routing_table_build_seconds",
                "Time to produce a routing table snapshot, by kind (full rebuild or health patch)",
                m.build_seconds.clone(),
            );
            r.register(
                "routing_table_memory_bytes",
                "Approximate heap size of the current routing table",
                m.memory_bytes.clone(),
            );
        });
        m
    }
}

/// What the current table was built from.
struct Inputs {
    inventory: Option<Arc<Inventory>>,
    /// Operator states set through this instance's admin API, by node id; they win over the
    /// inventory's (its spec's, then its source's).
    admin_overrides: HashMap<String, AdminState>,
    health: Arc<HealthView>,
}

/// Owner of the published routing table.
pub struct Routing {
    table: Arc<ArcSwap<RoutingTable>>,
    inputs: Mutex<Inputs>,
    published: AtomicU64,
    metrics: RoutingMetrics,
    zones: ZoneMetrics,
}

/// A node id that is not in the inventory.
#[derive(Debug, thiserror::Error)]
#[error("unknown node {0:?}")]
pub struct UnknownNode(pub String);

impl Routing {
    /// Starts with an empty table (no services: every name is unknown) so front ends can be
    /// bound before the inventory is loaded.
    pub fn new(metrics: &Metrics) -> Self {
        let empty = RoutingTable::build(
            &FleetSpec::default(),
            &CoverageZones::default(),
            None,
            &HealthView::default(),
        )
        .expect("an empty fleet spec is valid");
        Self {
            table: Arc::new(ArcSwap::from_pointee(empty)),
            inputs: Mutex::new(Inputs {
                inventory: None,
                admin_overrides: HashMap::new(),
                health: Arc::default(),
            }),
            published: AtomicU64::new(0),
            metrics: RoutingMetrics::register(metrics),
            zones: ZoneMetrics::register(metrics),
        }
    }

    /// The shared handle front ends read from.
    pub fn table(&self) -> Arc<ArcSwap<RoutingTable>> {
        self.table.clone()
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    /// Whether an inventory has been installed.
    pub fn has_inventory(&self) -> bool {
        self.lock().inventory.is_some()
    }

    /// The installed inventory.
    pub fn inventory(&self) -> Option<Arc<Inventory>> {
        self.lock().inventory.clone()
    }

    /// The latest health view applied.
    pub fn health(&self) -> Arc<HealthView> {
        self.lock().health.clone()
    }

    /// Operator states set through the admin API.
    pub fn admin_overrides(&self) -> HashMap<String, AdminState> {
        self.lock().admin_overrides.clone()
    }

    /// The operator state in force for a node, and whether this instance's admin API set it:
    /// the local override, else the source's state, else the spec's.
    pub fn admin_state(&self, node: &NodeSpec) -> (AdminState, bool) {
        let inputs = self.lock();
        if let Some(&state) = inputs.admin_overrides.get(&node.id) {
            return (state, true);
        }
        let source = inputs.inventory.as_ref().and_then(|i| i.operator.get(&node.id).copied());
        (source.unwrap_or(node.admin), false)
    }

    /// The operator state in force for the node with `id`, if it exists.
    pub fn admin_state_of(&self, id: &str) -> Option<AdminState> {
        let node = self.inventory()?.spec.nodes.iter().find(|n| n.id == id)?.clone();
        Some(self.admin_state(&node).0)
    }

    /// Builds a table from a new inventory with the current health and operator overrides,
    /// and publishes it. On error nothing changes. Overrides for nodes that no longer exist
    /// are dropped.
    pub fn install(&self, inventory: Arc<Inventory>) -> Result<(), BuildError> {
        let mut inputs = self.lock();
        let spec = &inventory.spec;
        inputs.admin_overrides.retain(|id, _| spec.nodes.iter().any(|n| &n.id == id));
        let table = build(&inventory, &inputs.admin_overrides, &inputs.health, &self.metrics)?;
        inputs.inventory = Some(inventory);
        self.publish(&inputs, table);
        Ok(())
    }

    /// Applies a new health view: the heavy parts of the table are shared, only per-node
    /// status and panic flags are recomputed.
    pub fn apply_health(&self, health: Arc<HealthView>) {
        let mut inputs = self.lock();
        let started = Instant::now();
        let table = self.table.load().with_health(&health);
        self.metrics
            .build_seconds
            .get_or_create(&BuildLabels { kind: "health" })
            .observe(started.elapsed().as_secs_f64());
        inputs.health = health;
        self.publish(&inputs, table);
    }

    /// Sets a node's operator state (enabled, drain, maintenance) and republishes.
    pub fn set_admin_state(&self, node_id: &str, state: AdminState) -> Result<(), UnknownNode> {
        let mut inputs = self.lock();
        let Some(inventory) = inputs.inventory.clone() else {
            return Err(UnknownNode(node_id.to_string()));
        };
        let Some(node) = inventory.spec.nodes.iter().find(|n| n.id == node_id) else {
            return Err(UnknownNode(node_id.to_string()));
        };
        let from_inventory = inventory.operator.get(node_id).copied().unwrap_or(node.admin);
        if from_inventory == state {
            inputs.admin_overrides.remove(node_id);
        } else {
            inputs.admin_overrides.insert(node_id.to_string(), state);
        }
        // The inventory was valid when installed and overrides only change admin states, so
        // the build cannot fail; keep the old table if it somehow does.
        match build(&inventory, &inputs.admin_overrides, &inputs.health, &self.metrics) {
            Ok(table) => self.publish(&inputs, table),
            Err(e) => tracing::error!("rebuilding after an operator state change failed: {e}"),
        }
        Ok(())
    }

    /// Number of snapshots published.
    pub fn version(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    fn publish(&self, inputs: &Inputs, table: RoutingTable) {
        self.metrics.memory_bytes.set(table.memory_bytes() as i64);
        if let Some(inventory) = &inputs.inventory {
            self.zones.observe(&inventory.spec, &inputs.health);
        }
        self.table.store(Arc::new(table));
        let v = self.published.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.version.set(v as i64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inputs> {
        self.inputs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn build(
    inventory: &Inventory,
    overrides: &HashMap<String, AdminState>,
    health: &HealthView,
    metrics: &RoutingMetrics,
) -> Result<RoutingTable, BuildError> {
    let started = Instant::now();
    let table = if overrides.is_empty() && inventory.operator.is_empty() {
        RoutingTable::build(&inventory.spec, &inventory.coverage, inventory.geo.as_ref(), health)?
    } else {
        // The nodes are shared with the inventory: only those whose state changes are copied.
        let mut spec = (*inventory.spec).clone();
        for node in &mut spec.nodes {
            let state = overrides.get(&node.id).or_else(|| inventory.operator.get(&node.id));
            if let Some(&state) = state
                && node.admin != state
            {
                Arc::make_mut(node).admin = state;
            }
        }
        RoutingTable::build(&spec, &inventory.coverage, inventory.geo.as_ref(), health)?
    };
    metrics
        .build_seconds
        .get_or_create(&BuildLabels { kind: "full" })
        .observe(started.elapsed().as_secs_f64());
    Ok(table)
}
