//! Switchyard: a CDN traffic scheduler with a built-in fleet health prober.
//!
//! This crate is the binary's library half: the CLI, configuration, wiring of the prober,
//! routing table and front ends, the admin listener and the shutdown sequence. The reusable
//! pieces live in their own crates (`switchyard-health`, `switchyard-snmp`,
//! `switchyard-route`, `switchyard-probe`, `switchyard-fleet`).

pub mod admin;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod dns;
pub mod etcd_cmd;
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod import_tr;
pub mod install;
pub mod lifecycle;
pub mod logging;
pub mod maintenance;
pub mod metrics;
pub mod net;
pub mod prober;
pub mod replay;
pub mod route_cmd;
pub mod routing;
pub mod sampling;
pub mod serve;
pub mod snmp_cmd;
pub mod telemetry;
pub mod tls;
pub mod traffic;
pub mod views;
pub mod zone_metrics;
