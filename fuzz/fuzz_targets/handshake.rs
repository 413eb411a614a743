//! The first message of a tunnel as HELLO (hub side) or HELLO_ACK (agent side): hub and agent
//! always reach the same outcome, within the negotiated bounds (see `src/protocol.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nowconnect_fuzz::protocol::handshake(data));
