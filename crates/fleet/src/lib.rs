//! Inventory sources for Switchyard: where the fleet (nodes, zones, services), the coverage
//! zones and the operator states come from, and how a change reaches the running server.
//!
//! An [`Inventory`] is everything the routing table is built from besides health. A source
//! publishes versioned inventories on a [`tokio::sync::watch`] channel (an [`InventoryFeed`]);
//! the server installs each one, whatever the source. The [`FileSource`] reads the
//! configuration's inline fleet or fleet file, a Traffic Router coverage zone file (JSON) or a
//! `cidr,zone` CSV, and an optional MaxMind database, at start and on every reload.
//!
//! ```no_run
//! use switchyard_fleet::{FileSource, InventoryConfig};
//!
//! # async fn run() -> Result<(), switchyard_fleet::InventoryError> {
//! let config = InventoryConfig {
//!     coverage_zones_file: Some("coverage-zones.json".into()),
//!     fleet_file: Some("fleet.toml".into()),
//!     ..InventoryConfig::default()
//! };
//! let (source, mut feed) = FileSource::new("/etc/switchyard");
//! let inventory = source.load(&config).await?;
//! source.publish(inventory);
//! feed.changed().await.expect("the source is alive");
//! let current = feed.borrow().clone().expect("published");
//! println!("inventory v{}: {} nodes", current.version, current.spec.nodes.len());
//! # Ok(())
//! # }
//! ```

pub mod cluster;
mod config;
mod error;
pub mod etcd;
mod files;
mod inventory;
mod source;

pub use config::InventoryConfig;
pub use files::{InventoryError, InventoryFiles, load_files, load_fleet_file};
pub use inventory::{Inventory, Origin};
pub use source::{FileSource, InventoryFeed, Publisher};

#[cfg(test)]
mod tests;
