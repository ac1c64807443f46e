//! Simulated SNMP agents built on the `switchyard-snmp` codec, many per process.
