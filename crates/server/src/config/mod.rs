//! The `switchyard.toml` configuration: typed sections, defaults, and the `validate()` pass.
//!
//! Every section rejects unknown keys; every duration or size names its unit in the key. Loading
//! (with file:line:col locations for every problem) lives in [`load`].

mod check;
mod load;
mod sections;
mod telemetry;
#[cfg(test)]
mod tests;
pub mod token;

pub use check::{CheckReport, check_file};
pub use load::{load_file, load_str};
pub use sections::{
    AdminConfig, Config, EtcdOverrides, LifecycleConfig, ListenConfig, ListenOverrides,
    MaintenanceConfig,
};
pub use switchyard_config::ConfigError;
pub use telemetry::TelemetryConfig;
