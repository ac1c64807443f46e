//! Loads arbitrary text as `switchyard.toml` and as a fleet file, rendering every problem.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::config`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::config(data));
