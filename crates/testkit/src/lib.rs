//! Test fixtures for Switchyard: a programmable fleet simulator (HTTP, TCP, TLS, DNS and agent
//! nodes on loopback), a simulated SNMP agent population, and launchers for the real services
//! the tests talk to (net-snmp `snmpd`), an OTLP trace receiver, and a runner for the
//! `switchyard` binary itself.

pub mod etcd;
pub mod fleet;
pub mod otlp;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod snmp_agent;
pub mod snmpd;
pub mod snmpsim;
