//! What the APIs show, in one place: a routing decision, a node, a zone, the fleet and an
//! error body. `/v1/route`, the redirect's `?format=json`, `/debug/pick`, `/api/v1/fleet` and
//! the status page all serialize these types, so the same fact has the same name and shape
//! wherever it appears.
//!
//! Decision views borrow from the routing table snapshot and serialize lazily (no vector
//! of views is collected), so the hot `/v1/route` path allocates only its output buffer.

mod decision;
mod error;
mod fleet;

pub use decision::{ClientView, DecisionView, NodeView, address_for};
pub use error::{ErrorDetail, ErrorView};
pub use fleet::{FleetView, NodeDetailView, NodeStatusView, ProbeView};
