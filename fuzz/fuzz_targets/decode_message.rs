//! Decodes arbitrary bytes as an SNMP message (v1/v2c and v3) and checks that whatever
//! decodes re-encodes to a message that decodes to the same thing.
//! Run: see docs/reliability.md (Fuzzing). The function is `switchyard::fuzzing::decode_message`, which the corpus
//! replay test calls too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::decode_message(data));
