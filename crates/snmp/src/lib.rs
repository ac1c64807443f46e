//! switchyard-snmp
