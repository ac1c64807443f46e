//! The server's integration tests, linked as one binary: the real `switchyard` binary, the
//! front ends on loopback sockets, and the shared helpers they use.

#![allow(dead_code)]

mod common;
mod dns_common;
mod traffic_common;

mod admin_api;
mod check_config;
mod cli;
mod demo;
mod dns_conformance;
mod dns_listener;
mod docs;
mod e2e_probe;
mod etcd_mode;
mod faulty_fleet;
mod foundation;
mod http_conformance;
mod metrics_audit;
mod observability;
mod overload;
mod profiling;
mod replay;
mod restart;
mod secrets;
mod snmp_cli;
mod snmp_outages;
mod soak;
mod status_page;
mod tls;
mod tracing;
mod traffic_e2e;
mod traffic_edges;
mod traffic_loopback;
mod traffic_router;
