//! Programmable simulated edge nodes (HTTP, TCP, TLS, DNS, agent-check) bound to loopback.
