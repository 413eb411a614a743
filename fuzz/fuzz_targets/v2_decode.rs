//! Any bytes as one binary message: `v2::decode` never panics, its errors are short ASCII,
//! and every decoded frame survives encode → decode unchanged (see `src/protocol.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nowconnect_fuzz::protocol::v2_decode(data));
