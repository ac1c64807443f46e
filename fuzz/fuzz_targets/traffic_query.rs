//! Answers a request with an arbitrary query string at `/v1/route`, `/d` or a redirect
//! path (first byte: path, `Host`, client), and checks the JSON body and `Location`.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::traffic_query`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::traffic_query(data));
