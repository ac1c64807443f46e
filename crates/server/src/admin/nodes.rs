//! `/api/v1/fleet` (the whole fleet as the router sees it) and `/admin/nodes/<id>` (a node's
//! operator state: enabled, drain, maintenance).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_route::{AdminState, NodeSpec, RoutingTable};

use super::{AdminContext, error_response, parse_json};

fn admin_str(s: AdminState) -> &'static str {
    match s {
        AdminState::Enabled => "enabled",
        AdminState::Drain => "drain",
        AdminState::Maintenance => "maintenance",
    }
}

fn node_json(ctx: &AdminContext, table: &RoutingTable, n: &NodeSpec) -> Value {
    let overrides = ctx.app.routing.admin_overrides();
    let admin = overrides.get(&n.id).copied().unwrap_or(n.admin);
    let status = table.node_by_id(&n.id).and_then(|id| table.node_status(id));
    let mut v = json!({
        "id": n.id,
        "zone": n.zone,
        "ipv4": n.ipv4.map(|a| a.to_string()),
        "ipv6": n.ipv6.map(|a| a.to_string()),
        "port": n.port,
        "tags": n.tags,
        "admin": admin_str(admin),
        "admin_overridden": overrides.contains_key(&n.id),
        "configured_weight": n.configured_weight(),
    });
    if let Some(st) = status {
        let h = st.health;
        v["health"] = json!(format!("{:?}", h.state).to_lowercase());
        v["utilization"] = json!(h.utilization);
        v["latency_ewma_ms"] = json!(h.latency_ewma_ms);
        v["agent_weight_percent"] = json!(h.agent_weight_percent);
        v["effective_weight"] = json!(st.effective_weight);
    }
    v
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
    let spec = &inv.spec;
    let nodes: Vec<Value> = spec.nodes.iter().map(|n| node_json(&ctx, &table, n)).collect();
    let zones: Vec<Value> = spec
        .zones
        .iter()
        .map(|z| {
            let members: Vec<&str> = spec.nodes.iter().filter(|n| n.zone == z.name).map(|n| n.id.as_str()).collect();
            json!({ "name": z.name, "latitude": z.latitude, "longitude": z.longitude, "backups": z.backups, "nodes": members })
        })
        .collect();
    let services: Vec<Value> = table
        .services()
        .map(|(id, s)| {
            json!({ "name": s.name(), "hostnames": s.hostnames(), "ttl_seconds": s.ttl_seconds(),
                    "dns_answers": s.dns_answers(), "in_panic": table.in_panic(id) })
        })
        .collect();
    axum::Json(json!({
        "table_version": ctx.app.routing.version(),
        "health_version": table.health_version(),
        "zones": zones,
        "nodes": nodes,
        "services": services,
    }))
    .into_response()
}

fn find<'a>(spec: &'a switchyard_route::FleetSpec, id: &str) -> Option<&'a NodeSpec> {
    spec.nodes.iter().find(|n| n.id == id)
}

/// `GET /admin/nodes/<id>`.
pub async fn get_node(State(ctx): State<AdminContext>, Path(id): Path<String>) -> Response {
    let table = ctx.app.routing.current();
    let inv = ctx.app.routing.inventory();
    match inv.as_ref().and_then(|i| find(&i.spec, &id)) {
        Some(n) => axum::Json(node_json(&ctx, &table, n)).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "unknown_node", &format!("no node {id:?}")),
    }
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
            tracing::info!(node.id = %id, admin = admin_str(req.admin), "node operator state changed (admin API)");
            get_node(State(ctx), Path(id)).await
        }
        Err(e) => error_response(StatusCode::NOT_FOUND, "unknown_node", &e.to_string()),
    }
}
