//! Answers arbitrary bytes as a DNS query (first byte: transport, source address, slip)
//! from a fixed routing table, and checks the reply's id, QR bit and size.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::dns_query`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::dns_query(data));
