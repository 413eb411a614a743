//! V2 frames built and parsed by hand from `docs/protocol.md` §4, without the product's codec:
//! `type (1) | stream id (4, BE) | payload length (4, BE) | payload`, several per message.

use uuid::Uuid;

pub const OPEN: u8 = 0x01;
pub const DATA: u8 = 0x02;
pub const FIN: u8 = 0x03;
pub const RST: u8 = 0x04;
pub const CREDIT: u8 = 0x05;

/// One parsed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub kind: u8,
    pub id: u32,
    pub payload: Vec<u8>,
}

/// One encoded frame.
pub fn frame(kind: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend(id.to_be_bytes());
    f.extend(u32::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend(payload);
    f
}

/// An OPEN: cid, connector (length-prefixed), no traceparent.
pub fn open_frame(id: u32, cid: Uuid, connector: &str) -> Vec<u8> {
    let mut p = cid.as_bytes().to_vec();
    p.push(u8::try_from(connector.len()).unwrap());
    p.extend(connector.as_bytes());
    p.push(0); // no traceparent
    frame(OPEN, id, &p)
}

/// Parses a whole binary message; panics on a truncated one (the product must never send it).
pub fn parse_frames(mut b: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 9, "truncated V2 header from the product");
        let id = u32::from_be_bytes(b[1..5].try_into().unwrap());
        let len = u32::from_be_bytes(b[5..9].try_into().unwrap()) as usize;
        assert!(b.len() >= 9 + len, "truncated V2 payload from the product");
        frames.push(Frame {
            kind: b[0],
            id,
            payload: b[9..9 + len].to_vec(),
        });
        b = &b[9 + len..];
    }
    frames
}
