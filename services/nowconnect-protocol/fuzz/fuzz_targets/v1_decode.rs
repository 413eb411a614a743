//! Any text: `v1::decode` never panics, its errors are short ASCII, and a decoded message
//! survives encode → decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nowconnect_protocol::v1;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match v1::decode(text) {
        Ok(msg) => {
            let again = v1::encode(&msg);
            assert_eq!(v1::decode(&again), Ok(msg));
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.is_ascii() && shown.len() <= 160, "{shown}");
        }
    }
});
