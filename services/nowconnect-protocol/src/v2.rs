//! V2: the binary protocol, used after a HELLO that negotiated it.
//!
//! One or more frames back to back in one WebSocket binary message; a frame never spans
//! messages. Every frame is a 9-byte header, then the payload:
//!
//! ```text
//! type u8 | stream id u32 BE | payload length u32 BE | payload
//! 0x01 OPEN    cid (16 raw UUID bytes) | connector len u8 | connector UTF-8
//!              | traceparent len u8 | traceparent ASCII (len 0 = none)
//! 0x02 DATA    raw bytes (at least 1; at most the negotiated max_frame)
//! 0x03 FIN     dir u8 (0 = c2a, 1 = a2c)
//! 0x04 RST     code u8 | UTF-8 detail (only read for code 0 = other; at most 255 bytes)
//! 0x05 CREDIT  increment u32 BE (> 0)
//! ```
//!
//! Decoding is incremental: [`decode`] returns `Ok(None)` while the front of the buffer holds
//! no whole frame. The length is checked against the frame type's bound as soon as the header
//! is there, so a bogus length fails at once instead of waiting for bytes that never come.

use bytes::{Buf, Bytes};
use uuid::Uuid;

use crate::{Direction, ResetReason, StreamId};

mod encode;
#[cfg(test)]
mod tests;

use encode::payload_len;
pub use encode::{encode, encode_data_header};

/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 9;
/// Largest OPEN payload: cid, two length bytes, two strings of at most 255 bytes.
pub const MAX_OPEN_PAYLOAD: u32 = 16 + 1 + 255 + 1 + 255;
/// Largest RST payload: code and at most 255 bytes of detail.
pub const MAX_RST_PAYLOAD: u32 = 1 + 255;

const OPEN: u8 = 0x01;
const DATA: u8 = 0x02;
const FIN: u8 = 0x03;
const RST: u8 = 0x04;
const CREDIT: u8 = 0x05;
const MIN_OPEN_PAYLOAD: u32 = 16 + 1 + 1 + 1;

/// One V2 frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Hub → agent: a new stream; `cid` is the same stream's V1-style name for logs.
    Open {
        id: StreamId,
        cid: Uuid,
        connector: String,
        traceparent: Option<String>,
    },
    /// Both ways: stream bytes; never empty.
    Data { id: StreamId, payload: Bytes },
    /// Both ways: the side named by `dir` finished sending.
    Fin { id: StreamId, dir: Direction },
    /// Both ways: the stream is gone; never answered with an RST.
    Rst { id: StreamId, reason: ResetReason },
    /// Both ways: the receiver of this frame may send `bytes` more DATA bytes on the stream.
    Credit { id: StreamId, bytes: u32 },
}

impl Frame {
    /// The stream this frame belongs to.
    pub fn id(&self) -> StreamId {
        match self {
            Frame::Open { id, .. }
            | Frame::Data { id, .. }
            | Frame::Fin { id, .. }
            | Frame::Rst { id, .. }
            | Frame::Credit { id, .. } => *id,
        }
    }

    /// Bytes [`encode`] appends for this frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + payload_len(self)
    }
}

/// Why the bytes at the front of a binary message are not a valid frame. Any of these is a
/// protocol violation by the peer: the tunnel closes with WebSocket code 1002.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: u32, max: u32 },
    #[error("empty DATA frame")]
    EmptyData,
    #[error("CREDIT frame with zero increment")]
    ZeroCredit,
    #[error("malformed frame: {0}")]
    BadPayload(&'static str),
}

/// Decodes the next frame from the front of `src`, advancing it past the frame.
///
/// `Ok(None)`: `src` holds no whole frame and is left untouched; leftover bytes at the end of
/// a WebSocket message mean a truncated message. DATA payloads are zero-copy slices of `src`.
/// `max_payload` bounds DATA payloads; control payloads are bounded by their formats.
/// Never panics on any input.
pub fn decode(src: &mut Bytes, max_payload: u32) -> Result<Option<Frame>, DecodeError> {
    let Some(h) = src.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let kind = h[0];
    let id = StreamId(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
    let len = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    check_len(kind, len, max_payload)?;
    // check_len bounds `len` by a u32 limit, so this only saturates on 16-bit targets.
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if src.len() - HEADER_LEN < len {
        return Ok(None);
    }
    src.advance(HEADER_LEN);
    let payload = src.split_to(len);
    parse(kind, id, payload).map(Some)
}

fn check_len(kind: u8, len: u32, max_payload: u32) -> Result<(), DecodeError> {
    match kind {
        OPEN if len < MIN_OPEN_PAYLOAD => Err(DecodeError::BadPayload("OPEN payload too short")),
        OPEN if len > MAX_OPEN_PAYLOAD => Err(DecodeError::TooLarge {
            len,
            max: MAX_OPEN_PAYLOAD,
        }),
        DATA if len == 0 => Err(DecodeError::EmptyData),
        DATA if len > max_payload => Err(DecodeError::TooLarge {
            len,
            max: max_payload,
        }),
        FIN if len != 1 => Err(DecodeError::BadPayload("FIN payload is not 1 byte")),
        RST if len == 0 => Err(DecodeError::BadPayload("RST without a code")),
        RST if len > MAX_RST_PAYLOAD => Err(DecodeError::TooLarge {
            len,
            max: MAX_RST_PAYLOAD,
        }),
        CREDIT if len != 4 => Err(DecodeError::BadPayload("CREDIT payload is not 4 bytes")),
        OPEN | DATA | FIN | RST | CREDIT => Ok(()),
        other => Err(DecodeError::UnknownType(other)),
    }
}

/// Parses a payload whose length `check_len` accepted.
fn parse(kind: u8, id: StreamId, payload: Bytes) -> Result<Frame, DecodeError> {
    match kind {
        OPEN => parse_open(id, &payload),
        DATA => Ok(Frame::Data { id, payload }),
        FIN => match payload.first() {
            Some(0) => Ok(Frame::Fin {
                id,
                dir: Direction::C2a,
            }),
            Some(1) => Ok(Frame::Fin {
                id,
                dir: Direction::A2c,
            }),
            _ => Err(DecodeError::BadPayload("FIN direction is not 0 or 1")),
        },
        RST => {
            let (&code, detail) = payload
                .split_first()
                .ok_or(DecodeError::BadPayload("RST without a code"))?;
            let detail = std::str::from_utf8(detail)
                .map_err(|_| DecodeError::BadPayload("RST detail is not UTF-8"))?;
            Ok(Frame::Rst {
                id,
                reason: ResetReason::from_code(code, detail),
            })
        }
        CREDIT => match payload.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) {
            Some(0) => Err(DecodeError::ZeroCredit),
            Some(bytes) => Ok(Frame::Credit { id, bytes }),
            None => Err(DecodeError::BadPayload("CREDIT payload is not 4 bytes")),
        },
        other => Err(DecodeError::UnknownType(other)),
    }
}

fn parse_open(id: StreamId, p: &[u8]) -> Result<Frame, DecodeError> {
    let (cid, rest) = p
        .split_first_chunk::<16>()
        .ok_or(DecodeError::BadPayload("OPEN payload too short"))?;
    let (connector, rest) =
        short_field(rest).ok_or(DecodeError::BadPayload("OPEN connector overruns the frame"))?;
    let (traceparent, rest) = short_field(rest).ok_or(DecodeError::BadPayload(
        "OPEN traceparent overruns the frame",
    ))?;
    if !rest.is_empty() {
        return Err(DecodeError::BadPayload("OPEN has trailing bytes"));
    }
    if connector.is_empty() {
        return Err(DecodeError::BadPayload("OPEN with an empty connector"));
    }
    let connector = std::str::from_utf8(connector)
        .map_err(|_| DecodeError::BadPayload("OPEN connector is not UTF-8"))?;
    if !traceparent.is_ascii() {
        return Err(DecodeError::BadPayload("OPEN traceparent is not ASCII"));
    }
    let traceparent =
        (!traceparent.is_empty()).then(|| String::from_utf8_lossy(traceparent).into_owned());
    Ok(Frame::Open {
        id,
        cid: Uuid::from_bytes(*cid),
        connector: connector.to_owned(),
        traceparent,
    })
}

/// `len u8 | bytes`, returning the bytes and what follows.
fn short_field(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = p.split_first()?;
    let len = usize::from(len);
    (rest.len() >= len).then(|| rest.split_at(len))
}
