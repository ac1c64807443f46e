//! The SNMP crate's integration tests, linked as one binary.

mod golden;
mod net_snmp_display;
mod sim_agent;
mod snmpd_interop;
