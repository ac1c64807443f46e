//! Authoritative DNS front end: UDP and TCP listeners answering service names from the routing table.
