//! Feeds arbitrary bytes to the HTTP fast path as one read of a connection, and checks
//! that what it writes is a sequence of well-formed responses.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::http_fast_path`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::http_fast_path(data));
