//! One-shot operations on the shared inventory, for `switchyard etcd import|export|status`:
//! pushing a file inventory into etcd, reading it back as a file inventory, and describing
//! the members and their shares.

use std::collections::BTreeMap;

use etcd_client::{Client, Txn, TxnOp};
use switchyard_route::{AdminState, FleetSpec};

use super::MAX_TXN_OPS;
use super::client::{self, describe};
use super::config::{EtcdConfig, Password};
use super::keys::{Key, rel};
use super::state::{KeyProblem, State};
use crate::cluster::{self, Member};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Keys written because they were missing or held another value.
    pub written: usize,
    /// Keys that already held the value to write.
    pub unchanged: usize,
    /// Keys deleted by `--prune`.
    pub deleted: usize,
    /// Transactions committed.
    pub transactions: usize,
    /// Store revision after the last transaction (or before, when nothing changed).
    pub revision: i64,
}

/// The inventory as it stands in etcd.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    /// Nodes, zones and services in force (last good values).
    pub spec: FleetSpec,
    /// The `coverage` document, verbatim, when there is one.
    pub coverage: Option<String>,
    /// Operator states set in `admin/nodes/`.
    pub operator: BTreeMap<String, AdminState>,
    /// Keys whose value is not in force.
    pub problems: Vec<KeyProblem>,
    /// Store revision read.
    pub revision: i64,
}

/// Members, their shares and lag.
#[derive(Debug, Clone, Default)]
pub struct ClusterStatus {
    /// Store revision read.
    pub revision: i64,
    /// Revision of the last inventory change in the store.
    pub inventory_revision: i64,
    /// Nodes in the inventory.
    pub nodes: usize,
    /// Probers per node (as the members are configured; `replicas` from the local settings).
    pub replicas: usize,
    /// Live members with the number of nodes each probes.
    pub members: Vec<(String, Member, usize)>,
    /// Maintenance for every instance, with its reason.
    pub maintenance: Option<String>,
    /// Keys whose value is not in force.
    pub problems: Vec<KeyProblem>,
}

/// A connection for one-shot operations under a prefix.
pub struct EtcdAdmin {
    client: Client,
    prefix: String,
}

impl std::fmt::Debug for EtcdAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdAdmin").field("prefix", &self.prefix).finish()
    }
}

impl EtcdAdmin {
    /// Connects with the configured credentials; operations work under `config.prefix`.
    pub async fn connect(
        config: &EtcdConfig,
        base_dir: &std::path::Path,
        password: Option<&Password>,
    ) -> Result<Self, String> {
        let client = client::connect(config, base_dir, password).await?;
        Ok(Self { client, prefix: config.prefix.clone() })
    }

    /// See [`import`].
    pub async fn import(
        &mut self,
        spec: &FleetSpec,
        coverage: Option<&str>,
        prune: bool,
        progress: impl FnMut(usize, usize),
    ) -> Result<ImportReport, String> {
        import(&mut self.client, &self.prefix, spec, coverage, prune, progress).await
    }

    /// See [`export`].
    pub async fn export(&mut self) -> Result<Exported, String> {
        export(&mut self.client, &self.prefix).await
    }

    /// See [`status`].
    pub async fn status(&mut self, replicas: usize) -> Result<ClusterStatus, String> {
        status(&mut self.client, &self.prefix, replicas).await
    }

    /// Writes `value` at `key` (relative to the prefix).
    pub async fn put(&mut self, key: &str, value: &str) -> Result<i64, String> {
        let resp = self
            .client
            .put(format!("{}{key}", self.prefix), value, None)
            .await
            .map_err(|e| describe(&e))?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    /// Deletes the keys given (relative to the prefix).
    pub async fn delete(&mut self, keys: &[String]) -> Result<(), String> {
        delete(&mut self.client, &self.prefix, keys).await
    }
}

/// Writes `spec` (and the coverage document, when given) under the prefix, skipping keys
/// that already hold the same value, in transactions of at most [`MAX_TXN_OPS`] operations.
/// With `prune`, inventory keys the file does not name are deleted. `progress` is called
/// with (done, total) after each transaction.
async fn import(
    client: &mut Client,
    prefix: &str,
    spec: &FleetSpec,
    coverage: Option<&str>,
    prune: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, String> {
    let mut wanted: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for n in &spec.nodes {
        wanted.insert(rel::node(&n.id), to_json(n)?);
    }
    for z in &spec.zones {
        wanted.insert(rel::zone(&z.name), to_json(z)?);
    }
    for s in &spec.services {
        wanted.insert(rel::service(&s.name), to_json(s)?);
    }
    if let Some(doc) = coverage {
        switchyard_route::CoverageZones::from_czf_json(doc)
            .map_err(|e| format!("the coverage zone document does not load: {e}"))?;
        wanted.insert(rel::COVERAGE.to_owned(), doc.as_bytes().to_vec());
    }
    let (existing, mut revision) = client::list(client, prefix).await.map_err(|e| describe(&e))?;
    let existing: BTreeMap<String, Vec<u8>> =
        existing.into_iter().map(|(k, v, _)| (k, v)).collect();

    let mut ops = Vec::new();
    let mut report = ImportReport::default();
    for (key, value) in &wanted {
        if existing.get(key) == Some(value) {
            report.unchanged += 1;
        } else {
            ops.push(TxnOp::put(format!("{prefix}{key}"), value.clone(), None));
            report.written += 1;
        }
    }
    if prune {
        for key in existing.keys() {
            let inventory = Key::parse(key).is_inventory() && !key.starts_with("admin/");
            if inventory && !wanted.contains_key(key) {
                ops.push(TxnOp::delete(format!("{prefix}{key}"), None));
                report.deleted += 1;
            }
        }
    }
    let total = ops.len();
    let mut done = 0;
    progress(done, total);
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let chunk: Vec<TxnOp> = ops.by_ref().take(MAX_TXN_OPS).collect();
        done += chunk.len();
        let resp = client.txn(Txn::new().and_then(chunk)).await.map_err(|e| describe(&e))?;
        revision = resp.header().map_or(revision, |h| h.revision());
        report.transactions += 1;
        progress(done, total);
    }
    report.revision = revision;
    Ok(report)
}

/// Reads the inventory in force from etcd, as the source assembles it.
async fn export(client: &mut Client, prefix: &str) -> Result<Exported, String> {
    let (kvs, revision) = client::list(client, prefix).await.map_err(|e| describe(&e))?;
    let coverage = kvs
        .iter()
        .find(|(k, _, _)| k == rel::COVERAGE)
        .map(|(_, v, _)| String::from_utf8_lossy(v).into_owned());
    let mut state = State::new(prefix, "");
    state.apply_snapshot(kvs, revision);
    let assembled = state.assemble();
    let problems = state.problems();
    Ok(Exported {
        spec: assembled.spec,
        coverage,
        operator: assembled.operator,
        problems,
        revision,
    })
}

/// Describes the cluster: members, the nodes each probes with `replicas`, lag.
async fn status(
    client: &mut Client,
    prefix: &str,
    replicas: usize,
) -> Result<ClusterStatus, String> {
    let (kvs, revision) = client::list(client, prefix).await.map_err(|e| describe(&e))?;
    let inventory_revision = kvs
        .iter()
        .filter(|(k, _, _)| Key::parse(k).is_inventory())
        .map(|(_, _, r)| *r)
        .max()
        .unwrap_or(0);
    let mut state = State::new(prefix, "");
    state.apply_snapshot(kvs, revision);
    let assembled = state.assemble();
    let view = state.cluster_view();
    let ids: Vec<&str> = assembled.spec.nodes.iter().map(|n| n.id.as_str()).collect();
    let members = view
        .members
        .iter()
        .map(|(id, m)| {
            let share = cluster::share(id, ids.iter().copied(), &view.members, replicas);
            (id.clone(), m.clone(), share.len())
        })
        .collect();
    Ok(ClusterStatus {
        revision,
        inventory_revision,
        nodes: ids.len(),
        replicas,
        members,
        maintenance: view.maintenance_all.clone(),
        problems: state.problems(),
    })
}

async fn delete(client: &mut Client, prefix: &str, keys: &[String]) -> Result<(), String> {
    for chunk in keys.chunks(MAX_TXN_OPS) {
        let ops: Vec<TxnOp> =
            chunk.iter().map(|k| TxnOp::delete(format!("{prefix}{k}"), None)).collect();
        client.txn(Txn::new().and_then(ops)).await.map_err(|e| describe(&e))?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| e.to_string())
}
