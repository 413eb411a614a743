//! Any text: `v1::decode` never panics, its errors are short ASCII, and a decoded message
//! survives encode → decode unchanged (see `src/protocol.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nowconnect_fuzz::protocol::v1_decode(data));
