//! Property tests for the V2 binary codec: round trips (one frame, many frames in one buffer,
//! every split point), and decoding arbitrary bytes never panics.

use bytes::{Bytes, BytesMut};
use nowconnect_protocol::v2::{self, Frame};
use nowconnect_protocol::{Direction, ResetReason, StreamId};
use proptest::prelude::*;
use uuid::Uuid;

const MAX: u32 = 4096;

fn text(chars: std::ops::Range<usize>, max_bytes: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), chars)
        .prop_map(String::from_iter)
        .prop_filter("too long", move |s| s.len() <= max_bytes)
}

fn reason() -> impl Strategy<Value = ResetReason> {
    let other = text(0..70, 255)
        .prop_map(ResetReason::Other)
        .prop_filter("known word", |r| ResetReason::parse(r.as_str()) == *r);
    prop_oneof![
        Just(ResetReason::ConnectFailed),
        Just(ResetReason::WsBroken),
        Just(ResetReason::IdleTimeout),
        Just(ResetReason::Shutdown),
        Just(ResetReason::ProtocolError),
        Just(ResetReason::TooManyStreams),
        Just(ResetReason::UnknownConnector),
        Just(ResetReason::PeerReset),
        other,
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    let id = || any::<u32>().prop_map(StreamId);
    prop_oneof![
        (
            id(),
            any::<[u8; 16]>(),
            text(1..70, 255),
            prop::option::of("[ -~]{1,255}")
        )
            .prop_map(|(id, cid, connector, traceparent)| Frame::Open {
                id,
                cid: Uuid::from_bytes(cid),
                connector,
                traceparent
            }),
        (id(), prop::collection::vec(any::<u8>(), 1..600)).prop_map(|(id, p)| Frame::Data {
            id,
            payload: Bytes::from(p)
        }),
        (
            id(),
            prop_oneof![Just(Direction::C2a), Just(Direction::A2c)]
        )
            .prop_map(|(id, dir)| Frame::Fin { id, dir }),
        (id(), reason()).prop_map(|(id, reason)| Frame::Rst { id, reason }),
        (id(), 1..=u32::MAX).prop_map(|(id, bytes)| Frame::Credit { id, bytes }),
    ]
}

fn encode_all(frames: &[Frame]) -> Bytes {
    let mut buf = BytesMut::new();
    for f in frames {
        v2::encode(f, &mut buf);
    }
    buf.freeze()
}

/// Header-shaped bytes: a plausible type and a length that mostly matches the bytes that follow.
fn frame_like() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..7,
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..40),
        0u32..3,
    )
        .prop_map(|(kind, id, payload, skew)| {
            let len = u32::try_from(payload.len())
                .unwrap_or(0)
                .saturating_add(skew)
                .saturating_sub(1);
            let mut b = vec![kind];
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&payload);
            b
        })
}

/// Decodes until the buffer runs out or fails; every decoded frame must round-trip again.
fn decode_everything(bytes: &[u8]) {
    let mut src = Bytes::copy_from_slice(bytes);
    loop {
        match v2::decode(&mut src, MAX) {
            Ok(Some(frame)) => {
                let mut again = encode_all(std::slice::from_ref(&frame));
                assert_eq!(v2::decode(&mut again, MAX), Ok(Some(frame)));
                assert!(again.is_empty());
            }
            Ok(None) => break,
            Err(e) => {
                assert!(e.to_string().is_ascii());
                break;
            }
        }
    }
}

proptest! {
    #[test]
    fn one_frame_round_trips(frame in frame()) {
        let mut src = encode_all(std::slice::from_ref(&frame));
        prop_assert_eq!(src.len(), frame.encoded_len());
        prop_assert_eq!(v2::decode(&mut src, MAX), Ok(Some(frame)));
        prop_assert!(src.is_empty());
    }

    #[test]
    fn packed_frames_round_trip(frames in prop::collection::vec(frame(), 0..8)) {
        let mut src = encode_all(&frames);
        for frame in frames {
            prop_assert_eq!(v2::decode(&mut src, MAX), Ok(Some(frame)));
        }
        prop_assert_eq!(v2::decode(&mut src, MAX), Ok(None));
    }

    #[test]
    fn every_split_point_waits_for_the_whole_frame(frames in prop::collection::vec(frame(), 1..4)) {
        let whole = encode_all(&frames);
        let ends: Vec<usize> = frames.iter().scan(0, |end, f| { *end += f.encoded_len(); Some(*end) }).collect();
        for cut in 0..=whole.len() {
            let mut src = whole.slice(..cut);
            let complete = ends.iter().filter(|&&end| end <= cut).count();
            for frame in &frames[..complete] {
                prop_assert_eq!(v2::decode(&mut src, MAX), Ok(Some(frame.clone())));
            }
            let consumed = if complete == 0 { 0 } else { ends[complete - 1] };
            prop_assert_eq!(v2::decode(&mut src, MAX), Ok(None), "cut at {}", cut);
            prop_assert_eq!(src.len(), cut - consumed);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        decode_everything(&bytes);
    }

    #[test]
    fn frame_like_bytes_never_panic(parts in prop::collection::vec(frame_like(), 1..5)) {
        decode_everything(&parts.concat());
    }

    #[test]
    fn data_over_the_limit_is_refused(len in (MAX + 1)..=u32::MAX) {
        let mut header = vec![0x02, 0, 0, 0, 1];
        header.extend_from_slice(&len.to_be_bytes());
        let got = v2::decode(&mut Bytes::from(header), MAX);
        prop_assert_eq!(got, Err(v2::DecodeError::TooLarge { len, max: MAX }));
    }
}
