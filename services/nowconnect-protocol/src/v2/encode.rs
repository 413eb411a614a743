//! V2 encoder: appends frames to a buffer; cannot fail.

use bytes::{BufMut, BytesMut};

use super::{CREDIT, DATA, FIN, Frame, OPEN, RST};
use crate::types::{MAX_REASON_LEN, truncate_str};
use crate::v1::{MAX_CONNECTOR_LEN, MAX_TRACEPARENT_LEN};
use crate::{Direction, ResetReason, StreamId};

/// Appends the encoded frame to dst.
///
/// Values the format cannot carry are cut, never rejected: a connector or RST detail longer
/// than 255 bytes is truncated on a char boundary, a traceparent that is not ASCII or longer
/// than 255 bytes is sent as none. Callers never send an empty DATA or an OPEN with an empty
/// connector (the peer rejects both).
pub fn encode(frame: &Frame, dst: &mut BytesMut) {
    dst.reserve(frame.encoded_len());
    put_header(dst, kind(frame), frame.id(), payload_len(frame));
    match frame {
        Frame::Open {
            cid,
            connector,
            traceparent,
            ..
        } => {
            dst.put_slice(cid.as_bytes());
            put_short_str(dst, open_connector(connector));
            put_short_str(dst, open_traceparent(traceparent.as_deref()));
        }
        Frame::Data { payload, .. } => dst.put_slice(payload),
        Frame::Fin { dir, .. } => dst.put_u8(dir_byte(*dir)),
        Frame::Rst { reason, .. } => {
            dst.put_u8(reason.code());
            dst.put_slice(rst_detail(reason).as_bytes());
        }
        Frame::Credit { bytes, .. } => dst.put_u32(*bytes),
    }
}

/// Appends only a DATA header for a payload of `len` bytes (caller appends the payload right
/// after). `len` must be at least 1 and fit the negotiated max_frame.
pub fn encode_data_header(id: StreamId, len: usize, dst: &mut BytesMut) {
    put_header(dst, DATA, id, len);
}

fn put_header(dst: &mut BytesMut, kind: u8, id: StreamId, len: usize) {
    dst.put_u8(kind);
    dst.put_u32(id.0);
    // Payloads are bounded far below 4 GiB (MAX_FRAME is 1 MiB).
    dst.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
}

fn put_short_str(dst: &mut BytesMut, s: &str) {
    // Callers cut `s` to 255 bytes.
    dst.put_u8(u8::try_from(s.len()).unwrap_or(u8::MAX));
    dst.put_slice(s.as_bytes());
}

fn kind(frame: &Frame) -> u8 {
    match frame {
        Frame::Open { .. } => OPEN,
        Frame::Data { .. } => DATA,
        Frame::Fin { .. } => FIN,
        Frame::Rst { .. } => RST,
        Frame::Credit { .. } => CREDIT,
    }
}

pub(super) fn payload_len(frame: &Frame) -> usize {
    match frame {
        Frame::Open {
            connector,
            traceparent,
            ..
        } => {
            16 + 1
                + open_connector(connector).len()
                + 1
                + open_traceparent(traceparent.as_deref()).len()
        }
        Frame::Data { payload, .. } => payload.len(),
        Frame::Fin { .. } => 1,
        Frame::Rst { reason, .. } => 1 + rst_detail(reason).len(),
        Frame::Credit { .. } => 4,
    }
}

fn open_connector(connector: &str) -> &str {
    truncate_str(connector, MAX_CONNECTOR_LEN)
}

fn open_traceparent(tp: Option<&str>) -> &str {
    tp.filter(|tp| tp.is_ascii() && tp.len() <= MAX_TRACEPARENT_LEN)
        .unwrap_or("")
}

fn rst_detail(reason: &ResetReason) -> &str {
    match reason {
        ResetReason::Other(text) => truncate_str(text, MAX_REASON_LEN),
        _ => "",
    }
}

fn dir_byte(dir: Direction) -> u8 {
    match dir {
        Direction::C2a => 0,
        Direction::A2c => 1,
    }
}
