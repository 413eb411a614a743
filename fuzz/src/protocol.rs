//! The properties the protocol fuzz targets check, shared with the corpus-replay and property
//! tests of `nowconnect-protocol` (included there with `#[path]`): each function takes one
//! input and panics when a property fails.

use bytes::{Bytes, BytesMut};
use nowconnect_protocol::hello::{self, HubV2, MAX_FRAME, MIN_FRAME, Negotiated};
use nowconnect_protocol::v1::{self, Message};
use nowconnect_protocol::v2;

/// Longest error text a decoder may produce (it ends up in logs and close reasons).
const MAX_ERROR_LEN: usize = 160;

/// Any text through `v1::decode`: never panics, errors are short ASCII, and a decoded message
/// survives encode → decode unchanged. Input that is not UTF-8 is skipped.
pub fn v1_decode(data: &[u8]) {
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
            assert!(shown.is_ascii() && shown.len() <= MAX_ERROR_LEN, "{shown}");
        }
    }
}

/// Any bytes as one binary message through `v2::decode` until it stops: never panics, errors
/// are ASCII, and every decoded frame survives encode → decode unchanged.
pub fn v2_decode(data: &[u8]) {
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
                let shown = e.to_string();
                assert!(shown.is_ascii() && shown.len() <= MAX_ERROR_LEN, "{shown}");
                break;
            }
        }
    }
}

/// Hub configurations the handshake check negotiates against: V1 only, the smallest and the
/// largest frame, the shipped default, and a window below the frame size.
const HUBS: [Option<HubV2>; 5] = [
    None,
    Some(HubV2 {
        max_frame: MIN_FRAME,
        window: MIN_FRAME,
    }),
    Some(HubV2 {
        max_frame: 65_536,
        window: 819_200,
    }),
    Some(HubV2 {
        max_frame: MAX_FRAME,
        window: u32::MAX,
    }),
    Some(HubV2 {
        max_frame: 16_384,
        window: 1,
    }),
];

/// What an agent may have offered before reading a HELLO_ACK.
const OFFERS: [Option<u32>; 4] = [None, Some(MIN_FRAME), Some(65_536), Some(MAX_FRAME)];

/// The first message of a tunnel, as text (what the hub reads as HELLO and the agent as
/// HELLO_ACK). A HELLO is answered by every hub of [`HUBS`]; the answer crosses the wire as
/// JSON and the agent must reach the hub's outcome, within the negotiated bounds. A HELLO_ACK
/// is applied by agents with every offer of [`OFFERS`]: V2 only with sane parameters. Anything
/// else is refused by both (the decode check of [`v1_decode`] covers the error text).
pub fn handshake(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match v1::decode(text) {
        Ok(Message::Hello(hello)) => {
            assert!(!hello.agent_id.is_empty());
            for hub in HUBS {
                let (ack, at_hub) = hello::hub_answer(&hello, hub);
                let wire = v1::encode(&Message::HelloAck(ack));
                let Ok(Message::HelloAck(ack)) = v1::decode(&wire) else {
                    panic!("HELLO_ACK did not survive the wire: {wire}");
                };
                assert_eq!(hello::agent_outcome(&ack, hello.max_frame), at_hub);
                if let Negotiated::V2 { max_frame, window } = at_hub {
                    let hub = hub.unwrap_or_else(|| panic!("V2 without a V2 hub"));
                    assert!(hello.offers_v2());
                    assert!((MIN_FRAME..=MAX_FRAME).contains(&max_frame));
                    assert!(max_frame <= hub.max_frame.max(MIN_FRAME));
                    assert!(hello.max_frame.is_none_or(|offer| max_frame <= offer));
                    assert_eq!(window, hub.window.max(max_frame));
                }
            }
        }
        Ok(Message::HelloAck(ack)) => {
            for offer in OFFERS {
                if let Negotiated::V2 { max_frame, window } = hello::agent_outcome(&ack, offer) {
                    assert!(ack.caps.iter().any(|c| c == hello::CAP_V2));
                    assert!((MIN_FRAME..=MAX_FRAME).contains(&max_frame));
                    assert!(offer.is_none_or(|o| max_frame <= o));
                    assert!(window >= max_frame);
                    assert_eq!((ack.max_frame, ack.window), (Some(max_frame), Some(window)));
                }
            }
        }
        Ok(_) | Err(_) => {}
    }
}
