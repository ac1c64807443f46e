//! Starts a real net-snmp `snmpd` on a loopback port with a generated configuration.
