//! switchyard-snmp
pub mod codec;
