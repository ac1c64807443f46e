//! The etcd inventory source: shared inventory, operator states and health verdicts for
//! several instances.

pub mod keys;
pub mod state;
