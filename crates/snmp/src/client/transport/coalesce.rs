//! The receive-side batching settings, shared by the transport and its pacer.

use std::time::Duration;

/// Receive-side batching: with at least `min_in_flight` requests outstanding, the receive
/// task reads after a delay of at most `max_delay` instead of on each arrival.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct Coalesce {
    pub(crate) max_delay: Duration,
    pub(crate) min_in_flight: usize,
}
