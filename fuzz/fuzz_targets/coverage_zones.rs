//! Parses arbitrary text as a coverage zone file (first byte: coverage zone JSON, CSV,
//! deep coverage zone JSON), looks addresses up and routes over it.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::coverage_zones`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::coverage_zones(data));
