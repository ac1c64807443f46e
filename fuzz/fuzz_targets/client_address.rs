//! Feeds arbitrary proxy headers (`X-Forwarded-For`, `Forwarded`, `X-MM-Client-IP`,
//! `X-Forwarded-Proto`) to the client-address resolution of both request paths, and checks
//! that they agree and that an untrusted peer is never believed.
//! Run: see docs/reliability.md (Fuzzing). The function is
//! `switchyard::fuzzing::client_address`, which the corpus replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::client_address(data));
