//! `/api/v1/fleet` (the whole fleet as the router sees it, zone summaries first for large
//! fleets), `/api/v1/nodes/<id>` (one node with its recent probes) and `/admin/nodes/<id>` (a
//! node's operator state: enabled, drain, maintenance).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchyard_probe::HealthSnapshot;
use switchyard_route::{AdminState, NodeSpec, RoutingTable};

use super::audit::Actor;
use super::context::AdminContext;
use super::etag;
use super::respond::{error_response, parse_json};
use crate::cluster::Cluster;
use crate::views::{ClusterApiView, FleetView, NodeDetailView, NodeListing, NodeStatusView};

/// The prober's latest snapshot, when the prober runs.
fn snapshot(ctx: &AdminContext) -> Option<Arc<HealthSnapshot>> {
    ctx.app.prober.get().map(|e| e.snapshot())
}

fn node_view<'a>(
    ctx: &AdminContext,
    table: &RoutingTable,
    snapshot: Option<&HealthSnapshot>,
    n: &'a NodeSpec,
) -> NodeStatusView<'a> {
    let probe = snapshot.and_then(|s| s.nodes.get(n.id.as_str()));
    NodeStatusView::new(table, n, ctx.app.routing.admin_state(n), probe)
}

type Params = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

/// `GET /api/v1/fleet[?summary | ?zone=NAME...]`: zones with their summaries, nodes with
/// health, utilization and weights (all of them, those of the zones named, or none with
/// `?summary`), services. Answers `304` to an `If-None-Match` naming the current `ETag`.
pub async fn fleet(State(ctx): State<AdminContext>, headers: HeaderMap, q: Params) -> Response {
    let params = match q {
        Ok(Query(p)) => p,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "bad_parameter", &e.body_text());
        }
    };
    let zones: Vec<String> =
        params.iter().filter(|(k, _)| k == "zone").map(|(_, v)| v.clone()).collect();
    let summary = params.iter().any(|(k, _)| k == "summary");
    let table = ctx.app.routing.current();
    let Some(inv) = ctx.app.routing.inventory() else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the inventory is not loaded yet",
        );
    };
    let spec = &inv.spec;
    let listing = match (summary, zones.is_empty()) {
        (true, false) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "bad_parameter",
                "parameters `summary` and `zone` exclude each other",
            );
        }
        (true, true) => NodeListing::None,
        (false, true) => NodeListing::All,
        (false, false) => {
            if let Some(z) = zones.iter().find(|z| !spec.zones.iter().any(|s| &s.name == *z)) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    &format!("parameter `zone`: no zone {z:?}"),
                );
            }
            NodeListing::Zones(&zones)
        }
    };
    let snapshot = snapshot(&ctx);
    let nodes =
        spec.nodes.iter().map(|n| node_view(&ctx, &table, snapshot.as_deref(), n)).collect();
    let mut view = FleetView::new(&table, spec, ctx.app.routing.version(), nodes, listing);
    if let Some(cluster) = ctx.app.cluster.get() {
        view.errors = (*cluster.source.problems()).clone();
    }
    match serde_json::to_vec(&view) {
        Ok(body) => etag::respond(&headers, "application/json", etag::REVALIDATE, body),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()),
    }
}

/// `GET /api/v1/nodes/<id>` and `GET /admin/nodes/<id>`: the node as in the fleet listing,
/// plus its recent probe results and state changes.
pub async fn get_node(State(ctx): State<AdminContext>, Path(id): Path<String>) -> Response {
    let table = ctx.app.routing.current();
    let inv = ctx.app.routing.inventory();
    let Some(n) = inv.as_ref().and_then(|i| i.spec.nodes.iter().find(|n| n.id == id)) else {
        return error_response(StatusCode::NOT_FOUND, "unknown_node", &format!("no node {id:?}"));
    };
    let snapshot = snapshot(&ctx);
    let node = node_view(&ctx, &table, snapshot.as_deref(), n);
    let detail = match ctx.app.prober.get() {
        Some(engine) => engine.node_detail(&Arc::from(id.as_str())).await.ok().flatten(),
        None => None,
    };
    axum::Json(NodeDetailView::new(node, detail.as_ref())).into_response()
}

/// Body of `POST /admin/nodes/<id>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRequest {
    admin: AdminState,
    /// Why, for the audit log.
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /admin/nodes/<id>` `{"admin": "enabled"|"drain"|"maintenance", "reason": "..."}`.
pub async fn set_node(
    State(ctx): State<AdminContext>,
    Path(id): Path<String>,
    actor: Actor,
    body: Bytes,
) -> Response {
    let req: NodeRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let before = admin_state_value(&ctx, &id);
    let record = |after: serde_json::Value| {
        actor.record("node-state", before.clone(), after).node(&id).reason(req.reason.as_deref())
    };
    if let Some(cluster) = ctx.app.cluster.get() {
        let (resp, revision) = set_node_in_etcd(ctx.clone(), cluster, id.clone(), req.admin).await;
        let after = json!({ "admin": req.admin.as_str(), "etcd_revision": revision });
        let entry = match (revision, resp.status()) {
            // Not written: nothing changed.
            (None, status) => record(before.clone()).refused(status_code_name(status)),
            // Written to etcd; a late application here is still a change made.
            (Some(_), _) => record(after),
        };
        ctx.audit.record(&entry);
        return resp;
    }
    match ctx.app.routing.set_admin_state(&id, req.admin) {
        Ok(()) => {
            tracing::info!(node.id = %id, admin = req.admin.as_str(), "node operator state changed (admin API)");
            ctx.audit.record(&record(admin_state_value(&ctx, &id)));
            get_node(State(ctx), Path(id)).await
        }
        Err(e) => {
            const CODE: &str = "unknown_node";
            ctx.audit.record(&record(before.clone()).refused(CODE));
            error_response(StatusCode::NOT_FOUND, CODE, &e.to_string())
        }
    }
}

/// A node's operator state as audit records show it (`null` for an unknown node).
fn admin_state_value(ctx: &AdminContext, id: &str) -> serde_json::Value {
    match ctx.app.routing.admin_state_of(id) {
        Some(state) => json!({ "admin": state.as_str() }),
        None => serde_json::Value::Null,
    }
}

/// The error code of an answer from [`set_node_in_etcd`] that wrote nothing.
fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "unknown_node",
        _ => "etcd_unavailable",
    }
}

/// How long an operator write waits to be applied here before answering.
const APPLY_WAIT: Duration = Duration::from_secs(3);

/// In etcd mode the operator state goes to `admin/nodes/<id>`, so every instance applies it;
/// the answer waits until this instance has (read-your-writes). Returns the answer and the
/// etcd revision written, if any.
async fn set_node_in_etcd(
    ctx: AdminContext,
    cluster: &Cluster,
    id: String,
    admin: AdminState,
) -> (Response, Option<i64>) {
    let known =
        ctx.app.routing.inventory().is_some_and(|i| i.spec.nodes.iter().any(|n| n.id == id));
    if !known {
        let resp =
            error_response(StatusCode::NOT_FOUND, "unknown_node", &format!("no node {id:?}"));
        return (resp, None);
    }
    let revision = match cluster.source.set_operator_state(&id, admin).await {
        Ok(r) => r,
        Err(e) => {
            let resp =
                error_response(StatusCode::SERVICE_UNAVAILABLE, "etcd_unavailable", &e.to_string());
            return (resp, None);
        }
    };
    tracing::info!(node.id = %id, admin = admin.as_str(), revision, "node operator state written to etcd (admin API)");
    if !cluster.source.wait_applied(revision, APPLY_WAIT).await {
        let resp = error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "not_applied",
            &format!(
                "written to etcd at revision {revision}, not applied here within {APPLY_WAIT:?}"
            ),
        );
        return (resp, Some(revision));
    }
    // The applier may still be debouncing the rebuild: wait for the installed inventory.
    let deadline = tokio::time::Instant::now() + APPLY_WAIT;
    while ctx.app.routing.admin_state_of(&id) != Some(admin)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (get_node(State(ctx), Path(id)).await, Some(revision))
}

/// `GET /api/v1/cluster[?node=ID]`: members, shares, verdicts per prober and merged.
pub async fn cluster(State(ctx): State<AdminContext>, Query(q): Query<ClusterQuery>) -> Response {
    let Some(cluster) = ctx.app.cluster.get() else {
        return error_response(
            StatusCode::NOT_FOUND,
            "not_distributed",
            "this instance does not run in etcd mode ([inventory.etcd] or serve --etcd)",
        );
    };
    let state = cluster.state();
    let ids: Vec<String> = ctx
        .app
        .routing
        .inventory()
        .map(|i| i.spec.nodes.iter().map(|n| n.id.clone()).collect())
        .unwrap_or_default();
    let config = cluster.source.config();
    let view = ClusterApiView::new(
        cluster.source.instance(),
        &state,
        &ids,
        config.replicas,
        config.merge.as_str(),
        q.node.as_deref(),
    );
    axum::Json(view).into_response()
}

/// Query of `/api/v1/cluster`.
#[derive(Debug, Deserialize)]
pub struct ClusterQuery {
    node: Option<String>,
}
