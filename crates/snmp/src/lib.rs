//! switchyard-snmp
pub mod codec;
pub mod usm;
