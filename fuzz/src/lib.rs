//! The properties the fuzz targets check. The same files are included by the workspace's
//! corpus-replay and property tests, so CI checks what the fuzzers check.

pub mod config;
pub mod protocol;
