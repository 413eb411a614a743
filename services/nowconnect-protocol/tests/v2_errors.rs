//! V2 decode errors: every malformed frame is reported with its reason, never a panic.

use bytes::Bytes;
use nowconnect_protocol::ResetReason;
use nowconnect_protocol::v2::{DecodeError, Frame, MAX_OPEN_PAYLOAD, MAX_RST_PAYLOAD, decode};

const MAX: u32 = 65536;

#[test]
fn oversized_or_bad_lengths_fail_as_soon_as_the_header_is_there() {
    let header = |kind: u8, len: u32| {
        let mut b = vec![kind, 0, 0, 0, 1];
        b.extend_from_slice(&len.to_be_bytes());
        Bytes::from(b)
    };
    let cases = [
        (
            header(0x02, MAX + 1),
            DecodeError::TooLarge {
                len: MAX + 1,
                max: MAX,
            },
        ),
        (header(0x02, 0), DecodeError::EmptyData),
        (
            header(0x01, 529),
            DecodeError::TooLarge {
                len: 529,
                max: MAX_OPEN_PAYLOAD,
            },
        ),
        (
            header(0x01, 3),
            DecodeError::BadPayload("OPEN payload too short"),
        ),
        (
            header(0x03, 2),
            DecodeError::BadPayload("FIN payload is not 1 byte"),
        ),
        (
            header(0x04, 0),
            DecodeError::BadPayload("RST without a code"),
        ),
        (
            header(0x04, 257),
            DecodeError::TooLarge {
                len: 257,
                max: MAX_RST_PAYLOAD,
            },
        ),
        (
            header(0x05, 8),
            DecodeError::BadPayload("CREDIT payload is not 4 bytes"),
        ),
        (header(0x00, 0), DecodeError::UnknownType(0)),
        (header(0x06, 0), DecodeError::UnknownType(6)),
    ];
    for (mut src, want) in cases {
        assert_eq!(decode(&mut src, MAX), Err(want));
    }
}

#[test]
fn bad_payloads() {
    let frame = |kind: u8, payload: &[u8]| {
        let mut b = vec![kind, 0, 0, 0, 1];
        b.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        b.extend_from_slice(payload);
        Bytes::from(b)
    };
    let open = |tail: &[u8]| {
        let mut p = vec![0u8; 16];
        p.extend_from_slice(tail);
        frame(0x01, &p)
    };
    let cases = [
        (frame(0x05, &[0, 0, 0, 0]), DecodeError::ZeroCredit),
        (
            frame(0x03, &[2]),
            DecodeError::BadPayload("FIN direction is not 0 or 1"),
        ),
        (
            frame(0x04, &[0, 0xFF]),
            DecodeError::BadPayload("RST detail is not UTF-8"),
        ),
        (
            open(&[0, 0, 0]),
            DecodeError::BadPayload("OPEN has trailing bytes"),
        ),
        (
            open(&[0, 0]),
            DecodeError::BadPayload("OPEN payload too short"),
        ),
        (
            open(&[0, 0, 0x7F]),
            DecodeError::BadPayload("OPEN has trailing bytes"),
        ),
        (
            open(&[5, b'a', 0]),
            DecodeError::BadPayload("OPEN connector overruns the frame"),
        ),
        (
            open(&[1, b'a', 3, b'x']),
            DecodeError::BadPayload("OPEN traceparent overruns the frame"),
        ),
        (
            open(&[1, b'a', 1]),
            DecodeError::BadPayload("OPEN traceparent overruns the frame"),
        ),
        (
            open(&[0, 1, b'x']),
            DecodeError::BadPayload("OPEN with an empty connector"),
        ),
        (
            open(&[1, 0xFF, 0]),
            DecodeError::BadPayload("OPEN connector is not UTF-8"),
        ),
        (
            open(&[1, b'a', 1, 0x80]),
            DecodeError::BadPayload("OPEN traceparent is not ASCII"),
        ),
    ];
    for (mut src, want) in cases {
        assert_eq!(decode(&mut src, MAX), Err(want));
    }
}

#[test]
fn rst_codes() {
    let decode_rst = |payload: &[u8]| {
        let mut b = vec![
            0x04,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            u8::try_from(payload.len()).unwrap(),
        ];
        b.extend_from_slice(payload);
        match decode(&mut Bytes::from(b), MAX) {
            Ok(Some(Frame::Rst { reason, .. })) => reason,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(decode_rst(&[1]), ResetReason::ConnectFailed);
    assert_eq!(decode_rst(&[6, b'x']), ResetReason::ProtocolError);
    assert_eq!(
        decode_rst(&[0, b'o', b'k']),
        ResetReason::Other("ok".into())
    );
    assert_eq!(
        decode_rst(&[0, b'w', b's', b'_', b'b', b'r', b'o', b'k', b'e', b'n']),
        ResetReason::WsBroken
    );
    assert_eq!(decode_rst(&[99]), ResetReason::Other("code:99".into()));
}
