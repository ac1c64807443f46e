//! What the APIs show, in one place: a routing decision, a node, a zone, the fleet and an
//! error body. `/v1/route`, the redirect's `?format=json`, `/debug/pick`, `/api/v1/fleet`,
//! `/api/v1/cluster` and the status page all serialize these types, so the same fact has the same name and shape
//! wherever it appears.
//!
//! Decision views borrow from the routing table snapshot and serialize lazily (no vector
//! of views is collected), so the hot `/v1/route` path allocates only its output buffer.

mod cluster;
mod decision;
mod error;
mod fleet;
mod json;
mod node;

pub use cluster::ClusterApiView;
pub use decision::{ClientView, DecisionView, NodeJson, NodeView, address_for};
pub use error::{ErrorDetail, ErrorView};
pub use fleet::{
    AdminCounts, FleetView, HealthCounts, NodeListing, ServiceView, ZoneSummaryView, ZoneView,
};
pub use node::{NodeDetailView, NodeStatusView, ProbeResultView, ProbeView, StateChangeView};
