//! Any bytes as one binary message: `v2::decode` never panics, its errors are ASCII, and
//! every decoded frame survives encode → decode unchanged.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use nowconnect_protocol::hello::MAX_FRAME;
use nowconnect_protocol::v2;

fuzz_target!(|data: &[u8]| {
    let mut src = Bytes::copy_from_slice(data);
    loop {
        match v2::decode(&mut src, MAX_FRAME) {
            Ok(Some(frame)) => {
                let mut buf = BytesMut::new();
                v2::encode(&frame, &mut buf);
                assert_eq!(buf.len(), frame.encoded_len());
                let mut again = buf.freeze();
                assert_eq!(v2::decode(&mut again, MAX_FRAME), Ok(Some(frame)));
                assert!(again.is_empty());
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.to_string().is_ascii());
                break;
            }
        }
    }
});
