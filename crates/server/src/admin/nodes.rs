//! `/api/v1/fleet` (the whole fleet as the router sees it) and `/admin/nodes/<id>` (a node's
//! operator state: enabled, drain, maintenance).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchyard_probe::HealthSnapshot;
use switchyard_route::{AdminState, NodeSpec, RoutingTable};

use super::context::AdminContext;
use super::respond::{error_response, parse_json};
use crate::views::{FleetView, NodeDetailView, NodeStatusView};

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

/// `GET /api/v1/fleet`: zones, nodes with health, utilization and weights, services.
pub async fn fleet(State(ctx): State<AdminContext>) -> Response {
    let table = ctx.app.routing.current();
    let Some(inv) = ctx.app.routing.inventory() else {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the inventory is not loaded yet",
        );
    };
    let snapshot = snapshot(&ctx);
    let spec = &inv.spec;
    let nodes =
        spec.nodes.iter().map(|n| node_view(&ctx, &table, snapshot.as_deref(), n)).collect();
    let view = FleetView::new(&table, spec, ctx.app.routing.version(), nodes);
    axum::Json(view).into_response()
}

/// `GET /admin/nodes/<id>`: the node as in the fleet listing, plus its recent probe results.
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
}

/// `POST /admin/nodes/<id>` `{"admin": "enabled"|"drain"|"maintenance"}`.
pub async fn set_node(
    State(ctx): State<AdminContext>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let req: NodeRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match ctx.app.routing.set_admin_state(&id, req.admin) {
        Ok(()) => {
            tracing::info!(node.id = %id, admin = req.admin.as_str(), "node operator state changed (admin API)");
            get_node(State(ctx), Path(id)).await
        }
        Err(e) => error_response(StatusCode::NOT_FOUND, "unknown_node", &e.to_string()),
    }
}
