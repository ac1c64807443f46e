//! The probe crate's integration tests, linked as one binary.

mod engine;
mod http_parsing;
mod kinds;
mod leaks;
mod limits;
mod snmp;
