//! YAML (+ NUL + `KEY=VALUE` environment lines) through the hub's and the agent's config
//! loaders: no panic, one-line refusals, deterministic acceptance (see `src/config.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = nowconnect_fuzz::config::config(data);
});
