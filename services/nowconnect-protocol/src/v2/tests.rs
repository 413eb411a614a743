use bytes::BytesMut;

use super::*;

const MAX: u32 = 65536;

fn enc(frame: &Frame) -> Bytes {
    let mut buf = BytesMut::new();
    encode(frame, &mut buf);
    assert_eq!(buf.len(), frame.encoded_len());
    buf.freeze()
}

fn cid() -> Uuid {
    Uuid::from_bytes([7; 16])
}

#[test]
fn header_layout_is_big_endian() {
    let bytes = enc(&Frame::Data {
        id: StreamId(0x0102_0304),
        payload: Bytes::from_static(b"hi"),
    });
    assert_eq!(&bytes[..], &[0x02, 1, 2, 3, 4, 0, 0, 0, 2, b'h', b'i']);
    let credit = enc(&Frame::Credit {
        id: StreamId(1),
        bytes: 0x0A0B_0C0D,
    });
    assert_eq!(
        &credit[..],
        &[0x05, 0, 0, 0, 1, 0, 0, 0, 4, 0x0A, 0x0B, 0x0C, 0x0D]
    );
    let fin = enc(&Frame::Fin {
        id: StreamId(9),
        dir: Direction::A2c,
    });
    assert_eq!(&fin[..], &[0x03, 0, 0, 0, 9, 0, 0, 0, 1, 1]);
    let rst = enc(&Frame::Rst {
        id: StreamId(9),
        reason: ResetReason::Other("x".into()),
    });
    assert_eq!(&rst[..], &[0x04, 0, 0, 0, 9, 0, 0, 0, 2, 0, b'x']);
}

#[test]
fn open_layout() {
    let frame = Frame::Open {
        id: StreamId(2),
        cid: cid(),
        connector: "ad".into(),
        traceparent: Some("tp".into()),
    };
    let bytes = enc(&frame);
    let mut want = vec![0x01, 0, 0, 0, 2, 0, 0, 0, 22];
    want.extend_from_slice(&[7; 16]);
    want.extend_from_slice(&[2, b'a', b'd', 2, b't', b'p']);
    assert_eq!(&bytes[..], &want[..]);
}

#[test]
fn every_frame_round_trips() {
    let frames = [
        Frame::Open {
            id: StreamId(1),
            cid: cid(),
            connector: "addomain".into(),
            traceparent: None,
        },
        Frame::Open {
            id: StreamId(1),
            cid: cid(),
            connector: "é".repeat(100),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        },
        Frame::Data {
            id: StreamId(u32::MAX),
            payload: Bytes::from(vec![0xAB; MAX as usize]),
        },
        Frame::Fin {
            id: StreamId(3),
            dir: Direction::C2a,
        },
        Frame::Rst {
            id: StreamId(3),
            reason: ResetReason::ConnectFailed,
        },
        Frame::Rst {
            id: StreamId(3),
            reason: ResetReason::Other("new_reason".into()),
        },
        Frame::Credit {
            id: StreamId(0),
            bytes: u32::MAX,
        },
    ];
    let mut all = BytesMut::new();
    for frame in &frames {
        encode(frame, &mut all);
    }
    let mut src = all.freeze();
    for frame in &frames {
        assert_eq!(decode(&mut src, MAX).unwrap().as_ref(), Some(frame));
    }
    assert!(src.is_empty());
    assert_eq!(decode(&mut src, MAX), Ok(None));
}

#[test]
fn data_payload_is_zero_copy() {
    let mut src = enc(&Frame::Data {
        id: StreamId(1),
        payload: Bytes::from_static(b"abc"),
    });
    let base = src.as_ptr() as usize;
    let Some(Frame::Data { payload, .. }) = decode(&mut src, MAX).unwrap() else {
        panic!("not DATA")
    };
    assert_eq!(payload.as_ptr() as usize, base + HEADER_LEN);
}

#[test]
fn partial_frames_wait_and_leave_src_untouched() {
    let whole = enc(&Frame::Data {
        id: StreamId(1),
        payload: Bytes::from_static(b"hello"),
    });
    for cut in 0..whole.len() {
        let mut part = whole.slice(..cut);
        assert_eq!(decode(&mut part, MAX), Ok(None), "cut at {cut}");
        assert_eq!(part.len(), cut);
    }
}

#[test]
fn encode_cuts_what_the_format_cannot_carry() {
    let long = Frame::Open {
        id: StreamId(1),
        cid: cid(),
        connector: "c".repeat(300),
        traceparent: Some("t".repeat(300)),
    };
    let Some(Frame::Open {
        connector,
        traceparent,
        ..
    }) = decode(&mut enc(&long), MAX).unwrap()
    else {
        panic!("not OPEN")
    };
    assert_eq!((connector.len(), traceparent), (255, None));
    let rst = Frame::Rst {
        id: StreamId(1),
        reason: ResetReason::Other("é".repeat(200)),
    };
    let Some(Frame::Rst { reason, .. }) = decode(&mut enc(&rst), MAX).unwrap() else {
        panic!("not RST")
    };
    assert_eq!(reason.as_str().len(), 254);
}

#[test]
fn data_header_matches_full_encoding() {
    let payload = Bytes::from_static(b"payload");
    let mut split = BytesMut::new();
    encode_data_header(StreamId(5), payload.len(), &mut split);
    split.extend_from_slice(&payload);
    assert_eq!(
        split.freeze(),
        enc(&Frame::Data {
            id: StreamId(5),
            payload
        })
    );
}

#[test]
fn frame_id() {
    assert_eq!(
        Frame::Credit {
            id: StreamId(4),
            bytes: 1
        }
        .id(),
        StreamId(4)
    );
    assert_eq!(
        Frame::Fin {
            id: StreamId(5),
            dir: Direction::C2a
        }
        .id(),
        StreamId(5)
    );
}
