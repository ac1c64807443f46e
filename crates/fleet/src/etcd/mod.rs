//! The etcd inventory source: inventory, operator states, maintenance and health verdicts
//! shared by several instances through etcd, with a watch that loses and duplicates nothing,
//! a last-known-good cache, membership leases and sharded probing. The key layout is in
//! [`keys`]; the rules shared with the server (shares, merging) in [`crate::cluster`].

mod cache;
pub mod client;
mod config;
pub mod keys;
mod metrics;
mod source;
pub mod state;

pub use config::{EtcdConfig, PASSWORD_ENV, Password, check_instance_id, hostname};
pub use metrics::EtcdMetrics;
pub use source::{EtcdSource, LocalFiles, MAX_TXN_OPS, SourceStatus, WriteError};
pub use state::KeyProblem;
