//! The etcd source's state, as a pure value: every key under the prefix with the revision it
//! was written at, the last good parsed value of each, and the inventory and cluster view
//! they make. The watcher feeds it events and snapshots; nothing here does I/O.
//!
//! Revisions make delivery exact: an event at or below the revision a key already has is a
//! duplicate and is ignored, and a snapshot (after a compaction or a lost stream) is applied
//! as the difference from what is known, deletes included. A value that does not parse keeps
//! the key's last good value in force and is reported with the key; a value that parses but
//! breaks the inventory as a whole (a node in an unknown zone) falls back to the last value
//! of that key that was in force, or is left out, and is reported the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_route::{AdminState, CoverageZones, FleetSpec, NodeSpec, ServiceSpec, ZoneSpec};

use super::keys::{Key, rel};
use crate::cluster::{ClusterView, Member, NodeVerdicts, Verdict};

/// One change read from etcd (a watch event or a key of a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Key relative to the prefix.
    pub key: String,
    /// The value written, or `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// Revision of the write or delete.
    pub revision: i64,
}

/// A key whose value is not in force, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyProblem {
    /// The full key.
    pub key: String,
    /// What is wrong with its value.
    pub problem: String,
}

/// `{"enabled": true, "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceValue {
    enabled: bool,
    #[serde(default)]
    reason: String,
}

/// `{"admin": "drain"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorValue {
    admin: AdminState,
}

/// The latest parse of a key: its last good value, the problem of the latest value if that
/// one did not parse, and the revision of the latest value.
#[derive(Debug, Clone)]
struct Slot<T> {
    good: Option<T>,
    problem: Option<String>,
    revision: i64,
}

impl<T> Slot<T> {
    fn update(&mut self, parsed: Result<T, String>, revision: i64) {
        self.revision = revision;
        match parsed {
            Ok(v) => {
                self.good = Some(v);
                self.problem = None;
            }
            Err(e) => self.problem = Some(e),
        }
    }

    /// The revision to record the good value at in the cache: its own when it is the latest
    /// value, none (0) when a later value did not parse, so that the later value is read
    /// and reported again once etcd answers.
    fn cache_revision(&self) -> i64 {
        if self.problem.is_some() { 0 } else { self.revision }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self { good: None, problem: None, revision: 0 }
    }
}

/// The inventory as assembled from the keys: always valid.
#[derive(Debug, Clone, Default)]
pub struct Assembled {
    /// Nodes, zones and services, each sorted by key.
    pub spec: FleetSpec,
    /// The coverage zones in force.
    pub coverage: Arc<CoverageZones>,
    /// Operator states by node id.
    pub operator: BTreeMap<String, AdminState>,
}

/// Everything the source knows.
#[derive(Debug)]
pub struct State {
    prefix: String,
    instance: String,
    revision: i64,
    /// Highest revision of an inventory key applied (writes and deletes).
    inventory_revision: i64,
    /// Revision of the keys without a family of their own (coverage, maintenance, keys
    /// outside the layout); the families (nodes, verdicts, ...) keep theirs in their slots,
    /// so a large fleet pays for its ids once.
    revisions: BTreeMap<String, i64>,
    /// The coverage document that is in force, as written, for the cache.
    coverage_raw: Option<Arc<[u8]>>,
    /// Shared with `in_force`: a node that did not change is held once.
    nodes: BTreeMap<String, Slot<Arc<NodeSpec>>>,
    zones: BTreeMap<String, Slot<ZoneSpec>>,
    services: BTreeMap<String, Slot<ServiceSpec>>,
    coverage: Slot<Arc<CoverageZones>>,
    operator: BTreeMap<String, Slot<AdminState>>,
    members: BTreeMap<String, Slot<Member>>,
    /// The good verdicts by node, each node's sorted by instance: the largest family of keys
    /// (nodes times replicas), kept in one entry per node, shared with the published views
    /// while it does not change, and with the instance ids shared.
    verdicts: BTreeMap<Arc<str>, NodeVerdicts>,
    /// Verdict keys whose latest value did not parse, relative to the prefix, with its
    /// revision and problem (the last good verdict, if any, stays in `verdicts`).
    verdict_problems: BTreeMap<String, (i64, String)>,
    /// The instance ids verdicts were seen from, shared by every node's entry.
    instances: BTreeSet<Arc<str>>,
    maintenance_all: Slot<MaintenanceValue>,
    maintenance_this: Slot<MaintenanceValue>,
    other: BTreeSet<String>,
    /// Values that were in force in the last assembled inventory, by key.
    in_force: InForce,
    /// Problems found while assembling, by key.
    assembly_problems: BTreeMap<String, String>,
    inventory_dirty: bool,
    cluster_dirty: bool,
}

#[derive(Debug, Default)]
struct InForce {
    nodes: BTreeMap<String, Arc<NodeSpec>>,
    zones: BTreeMap<String, ZoneSpec>,
    services: BTreeMap<String, ServiceSpec>,
}

impl State {
    /// An empty state for `instance`, whose keys live under `prefix`.
    pub fn new(prefix: &str, instance: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            instance: instance.to_owned(),
            revision: 0,
            inventory_revision: 0,
            revisions: BTreeMap::new(),
            coverage_raw: None,
            nodes: BTreeMap::new(),
            zones: BTreeMap::new(),
            services: BTreeMap::new(),
            coverage: Slot::default(),
            operator: BTreeMap::new(),
            members: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            verdict_problems: BTreeMap::new(),
            instances: BTreeSet::new(),
            maintenance_all: Slot::default(),
            maintenance_this: Slot::default(),
            other: BTreeSet::new(),
            in_force: InForce::default(),
            assembly_problems: BTreeMap::new(),
            inventory_dirty: true,
            cluster_dirty: true,
        }
    }

    /// The store revision everything up to which has been applied.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The revision of the last inventory change applied.
    pub fn inventory_revision(&self) -> i64 {
        self.inventory_revision
    }

    /// Moves the applied revision forward (a progress notification says nothing changed up
    /// to `revision`).
    pub fn advance(&mut self, revision: i64) {
        self.revision = self.revision.max(revision);
    }

    /// Applies one change. Returns false for a duplicate or stale one (already applied).
    pub fn apply(&mut self, c: Change) -> bool {
        let known = self.revision_of(&c.key);
        if c.revision <= known.unwrap_or(0) || (c.value.is_none() && known.is_none()) {
            // A delete of a key never seen (or deleted already) changes nothing either, but
            // it still moves the revision.
            self.advance(c.revision);
            return false;
        }
        self.advance(c.revision);
        self.set(&c.key, c.value, c.revision);
        true
    }

    /// Replaces everything with a full listing taken at `revision`: keys not listed are
    /// deleted, keys listed at a revision already known are left alone. Returns how many
    /// keys changed.
    pub fn apply_snapshot(&mut self, kvs: Vec<(String, Vec<u8>, i64)>, revision: i64) -> usize {
        let listed: BTreeSet<&str> = kvs.iter().map(|(k, _, _)| k.as_str()).collect();
        let gone: Vec<String> =
            self.known_keys().into_iter().filter(|k| !listed.contains(k.as_str())).collect();
        let mut changed = 0;
        for key in gone {
            self.set(&key, None, revision);
            changed += 1;
        }
        for (key, value, rev) in kvs {
            if self.revision_of(&key) != Some(rev) {
                self.set(&key, Some(value), rev);
                changed += 1;
            }
        }
        self.revision = self.revision.max(revision);
        changed
    }

    /// Every key applied, relative to the prefix.
    fn known_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.revisions.keys().cloned().collect();
        keys.extend(self.nodes.keys().map(|id| rel::node(id)));
        keys.extend(self.zones.keys().map(|name| rel::zone(name)));
        keys.extend(self.services.keys().map(|name| rel::service(name)));
        keys.extend(self.operator.keys().map(|id| rel::operator(id)));
        keys.extend(self.members.keys().map(|id| rel::member(id)));
        for (node, list) in &self.verdicts {
            keys.extend(list.iter().map(|(instance, _)| rel::verdict(node, instance)));
        }
        // A verdict key with no good value yet is known by its problem alone.
        keys.extend(self.verdict_problems.keys().cloned());
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The revision of the key `rel` as applied, if it exists.
    fn revision_of(&self, rel: &str) -> Option<i64> {
        match Key::parse(rel) {
            Key::Node(id) => self.nodes.get(id).map(|s| s.revision),
            Key::Zone(name) => self.zones.get(name).map(|s| s.revision),
            Key::Service(name) => self.services.get(name).map(|s| s.revision),
            Key::Operator(id) => self.operator.get(id).map(|s| s.revision),
            Key::Member(id) => self.members.get(id).map(|s| s.revision),
            // A problem is the key's latest value, newer than any good one.
            Key::Verdict { node, instance } => match self.verdict_problems.get(rel) {
                Some((revision, _)) => Some(*revision),
                None => self.verdicts.get(node)?.revision(instance),
            },
            Key::Coverage | Key::MaintenanceAll | Key::MaintenanceOf(_) | Key::Other(_) => {
                self.revisions.get(rel).copied()
            }
        }
    }

    fn set(&mut self, rel: &str, value: Option<Vec<u8>>, revision: i64) {
        let key = Key::parse(rel);
        if matches!(
            key,
            Key::Coverage | Key::MaintenanceAll | Key::MaintenanceOf(_) | Key::Other(_)
        ) {
            if value.is_some() {
                self.revisions.insert(rel.to_owned(), revision);
            } else {
                self.revisions.remove(rel);
            }
        }
        if key.is_inventory() {
            self.inventory_dirty = true;
            self.inventory_revision = self.inventory_revision.max(revision);
        } else {
            self.cluster_dirty = true;
        }
        let bytes = value.as_deref();
        match key {
            Key::Node(id) => slot(&mut self.nodes, id, bytes, revision, |b| {
                parse_named(b, "id", id).map(Arc::new)
            }),
            Key::Zone(name) => {
                slot(&mut self.zones, name, bytes, revision, |b| parse_named(b, "name", name))
            }
            Key::Service(name) => {
                slot(&mut self.services, name, bytes, revision, |b| parse_named(b, "name", name))
            }
            Key::Coverage => match bytes {
                None => {
                    self.coverage = Slot::default();
                    self.coverage_raw = None;
                }
                Some(b) => {
                    let parsed = parse_coverage(b);
                    if parsed.is_ok() {
                        self.coverage_raw = Some(Arc::from(b));
                    }
                    self.coverage.update(parsed, revision);
                }
            },
            Key::Operator(id) => slot(&mut self.operator, id, bytes, revision, |b| {
                json::<OperatorValue>(b).map(|o| o.admin)
            }),
            Key::MaintenanceAll => match bytes {
                None => self.maintenance_all = Slot::default(),
                Some(b) => self.maintenance_all.update(json(b), revision),
            },
            Key::MaintenanceOf(inst) if inst == self.instance => match bytes {
                None => self.maintenance_this = Slot::default(),
                Some(b) => self.maintenance_this.update(json(b), revision),
            },
            Key::MaintenanceOf(_) => {}
            Key::Member(inst) => slot(&mut self.members, inst, bytes, revision, json::<Member>),
            Key::Verdict { node, instance } => {
                let verdict = match bytes.map(json::<Verdict>) {
                    Some(Err(e)) => {
                        self.verdict_problems.insert(rel.to_owned(), (revision, e));
                        return;
                    }
                    parsed => parsed.and_then(Result::ok),
                };
                self.verdict_problems.remove(rel);
                let list = match verdict {
                    Some(v) => {
                        let id = self.instance_id(instance);
                        self.verdicts.get(node).cloned().unwrap_or_default().with(id, v, revision)
                    }
                    None => match self.verdicts.get(node) {
                        Some(list) => list.without(instance),
                        None => return,
                    },
                };
                if list.is_empty() {
                    self.verdicts.remove(node);
                } else if let Some(slot) = self.verdicts.get_mut(node) {
                    *slot = list;
                } else {
                    self.verdicts.insert(Arc::from(node), list);
                }
            }
            Key::Other(rel) => {
                if bytes.is_some() {
                    self.other.insert(rel.to_owned());
                } else {
                    self.other.remove(rel);
                }
            }
        }
    }

    /// The one shared copy of an instance id seen in verdict keys.
    fn instance_id(&mut self, instance: &str) -> Arc<str> {
        if let Some(id) = self.instances.get(instance) {
            return id.clone();
        }
        let id: Arc<str> = Arc::from(instance);
        self.instances.insert(id.clone());
        id
    }

    /// Whether inventory keys changed since the last [`State::assemble`].
    pub fn inventory_dirty(&self) -> bool {
        self.inventory_dirty
    }

    /// Whether cluster keys changed since the last [`State::cluster_view`].
    pub fn cluster_dirty(&self) -> bool {
        self.cluster_dirty
    }

    /// The inventory the keys make, always valid: values that break it are left out (or
    /// their last value in force kept) and reported by [`State::problems`].
    pub fn assemble(&mut self) -> Assembled {
        self.inventory_dirty = false;
        self.assembly_problems.clear();
        let mut nodes: BTreeMap<String, Arc<NodeSpec>> = good(&self.nodes);
        let mut zones: BTreeMap<String, ZoneSpec> = good(&self.zones);
        let mut services: BTreeMap<String, ServiceSpec> = good(&self.services);
        let spec_of = |nodes: &BTreeMap<String, Arc<NodeSpec>>,
                       zones: &BTreeMap<String, ZoneSpec>,
                       services: &BTreeMap<String, ServiceSpec>| FleetSpec {
            nodes: nodes.values().cloned().collect(),
            zones: zones.values().cloned().collect(),
            services: services.values().cloned().collect(),
        };
        // Each round takes out (or reverts) what the validation blames; a zone taken out can
        // only make its nodes fail in the next round, so a few rounds settle it. The spec
        // that passes is the one published.
        let mut valid = None;
        for _ in 0..8 {
            let spec = spec_of(&nodes, &zones, &services);
            let problems = match spec.validate() {
                Ok(()) => {
                    valid = Some(spec);
                    break;
                }
                Err(problems) => problems,
            };
            drop(spec);
            let node_ids: Vec<String> = nodes.keys().cloned().collect();
            let zone_ids: Vec<String> = zones.keys().cloned().collect();
            let service_ids: Vec<String> = services.keys().cloned().collect();
            let mut blamed = false;
            for p in problems {
                let (kind, index) = match parse_index(&p.path) {
                    Some(x) => x,
                    None => continue,
                };
                let (map_key, full) = match kind {
                    "nodes" => (node_ids.get(index), "nodes/"),
                    "zones" => (zone_ids.get(index), "zones/"),
                    "services" => (service_ids.get(index), "services/"),
                    _ => continue,
                };
                let Some(id) = map_key else { continue };
                let key = format!("{}{full}{id}", self.prefix);
                self.assembly_problems.entry(key).or_insert_with(|| p.to_string());
                blamed = true;
                match kind {
                    "nodes" => revert(&mut nodes, &self.in_force.nodes, id),
                    "zones" => revert(&mut zones, &self.in_force.zones, id),
                    _ => revert(&mut services, &self.in_force.services, id),
                }
            }
            if !blamed {
                // Nothing could be blamed on one key: keep the last inventory in force.
                break;
            }
        }
        let spec = match valid {
            Some(spec) => {
                self.in_force = InForce { nodes, zones, services };
                spec
            }
            // Nothing to blame, or the rounds ran out: the last inventory in force stays.
            None => spec_of(&self.in_force.nodes, &self.in_force.zones, &self.in_force.services),
        };
        let operator = self
            .operator
            .iter()
            .filter_map(|(id, s)| s.good.map(|state| (id.clone(), state)))
            .collect();
        Assembled { spec, coverage: self.coverage.good.clone().unwrap_or_default(), operator }
    }

    /// The cluster as the keys describe it: live members, their verdicts, maintenance.
    pub fn cluster_view(&mut self) -> ClusterView {
        self.cluster_dirty = false;
        let members: BTreeMap<String, Member> = good(&self.members);
        // Nodes come sorted, so the map is built from a sorted run (its nodes come out full).
        // The lists are shared with the state, not copied.
        let verdicts: BTreeMap<Arc<str>, NodeVerdicts> = self
            .verdicts
            .iter()
            // A verdict outlives its writer only until the writer's lease expires; in
            // between it is not counted.
            .map(|(node, list)| (node.clone(), list.only(|i| members.contains_key(i))))
            .filter(|(_, list)| !list.is_empty())
            .collect();
        let on = |s: &Slot<MaintenanceValue>| {
            s.good.as_ref().filter(|m| m.enabled).map(|m| {
                if m.reason.is_empty() { "no reason given".to_owned() } else { m.reason.clone() }
            })
        };
        ClusterView {
            members,
            verdicts,
            maintenance_all: on(&self.maintenance_all),
            maintenance_this: on(&self.maintenance_this),
        }
    }

    /// Every key whose value is not in force, and why.
    pub fn problems(&self) -> Vec<KeyProblem> {
        let p = &self.prefix;
        let mut out = Vec::new();
        let mut add =
            |key: String, problem: &str| out.push(KeyProblem { key, problem: problem.to_owned() });
        for (id, s) in &self.nodes {
            if let Some(e) = &s.problem {
                add(format!("{p}nodes/{id}"), e);
            }
        }
        for (id, s) in &self.zones {
            if let Some(e) = &s.problem {
                add(format!("{p}zones/{id}"), e);
            }
        }
        for (id, s) in &self.services {
            if let Some(e) = &s.problem {
                add(format!("{p}services/{id}"), e);
            }
        }
        if let Some(e) = &self.coverage.problem {
            add(format!("{p}coverage"), e);
        }
        for (id, s) in &self.operator {
            if let Some(e) = &s.problem {
                add(format!("{p}admin/nodes/{id}"), e);
            }
        }
        if let Some(e) = &self.maintenance_all.problem {
            add(format!("{p}maintenance"), e);
        }
        if let Some(e) = &self.maintenance_this.problem {
            add(format!("{p}maintenance/{}", self.instance), e);
        }
        for (id, s) in &self.members {
            if let Some(e) = &s.problem {
                add(format!("{p}members/{id}"), e);
            }
        }
        for (rel, (_, e)) in &self.verdict_problems {
            add(format!("{p}{rel}"), e);
        }
        for rel in &self.other {
            add(format!("{p}{rel}"), "not a key of the layout: ignored");
        }
        for (key, problem) in &self.assembly_problems {
            add(key.clone(), &format!("left out of the inventory: {problem}"));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The inventory keys with their last good values, and the revision, for the
    /// last-known-good cache. Values are written out from what was parsed (the source keeps
    /// no second, raw copy of a large fleet), so they read back to the same inventory.
    pub fn inventory_keys(&self) -> (i64, Vec<(String, Vec<u8>, i64)>) {
        fn family<T>(
            out: &mut Vec<(String, Vec<u8>, i64)>,
            map: &BTreeMap<String, Slot<T>>,
            key: fn(&str) -> String,
            value: impl Fn(&T) -> Vec<u8>,
        ) {
            out.extend(map.iter().filter_map(|(id, s)| {
                Some((key(id), value(s.good.as_ref()?), s.cache_revision()))
            }));
        }
        let mut kvs = Vec::new();
        family(&mut kvs, &self.operator, rel::operator, |a| {
            format!(r#"{{"admin":"{}"}}"#, a.as_str()).into_bytes()
        });
        family(&mut kvs, &self.nodes, rel::node, |n| to_json(&**n));
        family(&mut kvs, &self.zones, rel::zone, to_json);
        family(&mut kvs, &self.services, rel::service, to_json);
        if let Some(raw) = &self.coverage_raw {
            kvs.push(("coverage".to_owned(), raw.to_vec(), self.coverage.cache_revision()));
        }
        kvs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        (self.revision, kvs)
    }
}

fn good<T: Clone>(m: &BTreeMap<String, Slot<T>>) -> BTreeMap<String, T> {
    m.iter().filter_map(|(k, s)| s.good.clone().map(|v| (k.clone(), v))).collect()
}

/// Puts back the value of `id` that was in force; when that is the value being blamed (or
/// there is none), leaves the key out.
fn revert<T: Clone + PartialEq>(
    map: &mut BTreeMap<String, T>,
    in_force: &BTreeMap<String, T>,
    id: &str,
) {
    match in_force.get(id) {
        Some(old) if map.get(id) != Some(old) => {
            map.insert(id.to_owned(), old.clone());
        }
        _ => {
            map.remove(id);
        }
    }
}

/// `nodes[3].zone` -> `("nodes", 3)`.
fn parse_index(path: &str) -> Option<(&str, usize)> {
    let (kind, rest) = path.split_once('[')?;
    let (index, _) = rest.split_once(']')?;
    Some((kind, index.parse().ok()?))
}

fn slot<T>(
    map: &mut BTreeMap<String, Slot<T>>,
    id: &str,
    value: Option<&[u8]>,
    revision: i64,
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) {
    match value {
        None => {
            map.remove(id);
        }
        Some(b) => {
            let parsed = parse(b);
            match map.get_mut(id) {
                Some(s) => s.update(parsed, revision),
                None => {
                    let mut s = Slot::default();
                    s.update(parsed, revision);
                    map.insert(id.to_owned(), s);
                }
            }
        }
    }
}

/// A spec as a key's JSON value. Specs are plain data (no maps with other than string keys),
/// which always serialize.
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("specs serialize to JSON")
}

fn json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| format!("invalid JSON value: {e}"))
}

/// A node, zone or service object whose `field` (id or name), when present, must match the
/// key; when absent it is taken from the key.
fn parse_named<T: serde::de::DeserializeOwned>(
    b: &[u8],
    field: &str,
    key_name: &str,
) -> Result<T, String> {
    let mut v: serde_json::Value = json(b)?;
    let Some(obj) = v.as_object_mut() else {
        return Err("must be a JSON object".to_owned());
    };
    match obj.get(field) {
        None => {
            obj.insert(field.to_owned(), serde_json::Value::String(key_name.to_owned()));
        }
        Some(serde_json::Value::String(s)) if s == key_name => {}
        Some(other) => {
            return Err(format!(
                "`{field}` is {other}, which does not match the key ({key_name:?})"
            ));
        }
    }
    // The path names the field at fault (`zone: invalid type: ...`).
    serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

fn parse_coverage(b: &[u8]) -> Result<Arc<CoverageZones>, String> {
    let text = std::str::from_utf8(b).map_err(|_| "not UTF-8".to_owned())?;
    CoverageZones::from_czf_json(text).map(Arc::new).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
