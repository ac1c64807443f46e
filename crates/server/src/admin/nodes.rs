//! `/api/v1/fleet` (the whole fleet as the router sees it) and `/admin/nodes/<id>` (a node's
//! operator state: enabled, drain, maintenance).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_route::{AdminState, NodeSpec, RoutingTable};

use super::context::AdminContext;
use super::respond::{error_response, parse_json};

/// What the prober knows about a node beyond the routing view: observed state, the last
/// failure cause, utilization and load average.
fn probe_json(st: &switchyard_probe::ProbeStatus) -> Value {
    json!({
        "probed": st.probed,
        "state": st.state.as_str(),
        "observed": st.observed.as_str(),
        "last_cause": st.last_cause.map(|c| c.as_str()),
        "degraded_by": st.degraded_by.map(|d| d.as_str()),
        "weight_percent": st.weight_percent,
        "utilization": st.utilization,
        "load_average": st.load_average,
    })
}

fn node_json(ctx: &AdminContext, table: &RoutingTable, n: &NodeSpec) -> Value {
    let (admin, overridden) = ctx.app.routing.admin_state(n);
    let status = table.node_by_id(&n.id).and_then(|id| table.node_status(id));
    let mut v = json!({
        "id": n.id,
        "zone": n.zone,
        "ipv4": n.ipv4.map(|a| a.to_string()),
        "ipv6": n.ipv6.map(|a| a.to_string()),
        "port": n.port,
        "tags": n.tags,
        "admin": admin.as_str(),
        "admin_overridden": overridden,
        "configured_weight": n.configured_weight(),
    });
    if let Some(st) = status {
        let h = st.health;
        v["health"] = json!(h.state.as_str());
        v["utilization"] = json!(h.utilization);
        v["latency_ewma_ms"] = json!(h.latency_ewma_ms);
        v["agent_weight_percent"] = json!(h.agent_weight_percent);
        v["effective_weight"] = json!(st.effective_weight);
    }
    if let Some(engine) = ctx.app.prober.get()
        && let Some(st) = engine.snapshot().nodes.get(n.id.as_str())
    {
        v["probe"] = probe_json(st);
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

/// `GET /admin/nodes/<id>`: the node as in the fleet listing, plus its recent probe results
/// (oldest first, `age_ms` before now).
pub async fn get_node(State(ctx): State<AdminContext>, Path(id): Path<String>) -> Response {
    let table = ctx.app.routing.current();
    let inv = ctx.app.routing.inventory();
    let Some(n) = inv.as_ref().and_then(|i| find(&i.spec, &id)) else {
        return error_response(StatusCode::NOT_FOUND, "unknown_node", &format!("no node {id:?}"));
    };
    let mut v = node_json(&ctx, &table, n);
    if let Some(engine) = ctx.app.prober.get()
        && let Ok(Some(detail)) = engine.node_detail(&std::sync::Arc::from(id.as_str())).await
    {
        let now = std::time::Instant::now();
        let history: Vec<Value> = detail
            .history
            .iter()
            .map(|r| {
                json!({
                    "age_ms": now.saturating_duration_since(r.at).as_millis() as u64,
                    "verdict": r.verdict.as_str(),
                    "tier": format!("{:?}", r.tier),
                    "cause": r.cause.map(|c| c.as_str()),
                    "status": r.status,
                    "latency_ms": r.latency.as_secs_f64() * 1e3,
                })
            })
            .collect();
        v["history"] = json!(history);
        v["probes"] = json!(detail.probes);
        v["transitions"] = json!(detail.transitions);
    }
    axum::Json(v).into_response()
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
