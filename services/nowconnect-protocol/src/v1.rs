//! V1: the documented JSON protocol, one object per WebSocket text message, discriminated by
//! `"t"`. This is also the handshake encoding of V2 (HELLO / HELLO_ACK are always JSON).
//!
//! Tolerant on input: unknown fields are ignored (`tenant`, `epoch`, …), `ver` may be a number,
//! an optional field that does not fit (a bad `traceparent`) is dropped rather than failing the
//! message. Exact on output: fields in the documented order, absent optionals omitted (no
//! `null`). Error messages are short and never quote payload bytes.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::hello::{Hello, HelloAck, VERSION_V1};
use crate::types::{MAX_REASON_LEN, truncate_str};
use crate::{Direction, ResetReason};

mod encode;
#[cfg(test)]
mod tests;

pub use encode::encode;

/// Longest accepted `cid` (bytes); the hub's are 36-character UUIDs.
pub const MAX_CID_LEN: usize = 128;
/// Longest accepted connector name in OPEN (bytes), the same bound as V2's one-byte length.
pub const MAX_CONNECTOR_LEN: usize = 255;
/// Longest `traceparent` kept from OPEN (bytes); a longer one is dropped.
pub const MAX_TRACEPARENT_LEN: usize = 255;
/// How much of an unknown `"t"` value an error quotes.
const MAX_QUOTED_TYPE: usize = 32;
/// RST `err` when the peer sent none.
const UNSPECIFIED_ERR: &str = "unspecified";

/// One V1 message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Agent → hub, first message.
    Hello(Hello),
    /// Hub → agent, answer to HELLO.
    HelloAck(HelloAck),
    /// Hub → agent: dial the connector's target for this new stream.
    Open {
        cid: String,
        connector: String,
        traceparent: Option<String>,
    },
    /// Both ways: bytes of one stream; `seq` counts per cid and per direction from 0.
    Data {
        cid: String,
        seq: u64,
        payload: Bytes,
    },
    /// Both ways: the side named by `dir` finished sending (half-close).
    Fin { cid: String, dir: Direction },
    /// Both ways: the stream is gone; never answered with an RST.
    Rst { cid: String, err: ResetReason },
}

/// Why a text message could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("missing or invalid field `{0}`")]
    Field(&'static str),
    #[error("field `b64` is not valid base64")]
    Base64,
    #[error("field `{0}` is too long")]
    TooLong(&'static str),
}

/// Standard alphabet; padding accepted whether present or not (we always send it).
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Every field of every message type; serde ignores the ones nobody knows.
#[derive(Deserialize)]
struct Raw {
    t: Option<String>,
    agent_id: Option<String>,
    connectors: Option<Vec<String>>,
    ver: Option<Value>,
    caps: Option<Vec<String>>,
    max_frame: Option<u32>,
    window: Option<u32>,
    cid: Option<String>,
    connector: Option<String>,
    traceparent: Option<Value>,
    seq: Option<u64>,
    b64: Option<String>,
    dir: Option<String>,
    err: Option<String>,
}

/// Decodes one text message. Never panics.
pub fn decode(text: &str) -> Result<Message, DecodeError> {
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::Json("not a JSON object".to_owned()));
    }
    let mut raw: Raw = serde_json::from_str(text).map_err(json_error)?;
    let t = raw.t.take().ok_or(DecodeError::Field("t"))?;
    match t.as_str() {
        "HELLO" => hello(raw).map(Message::Hello),
        "HELLO_ACK" => Ok(Message::HelloAck(HelloAck {
            ver: raw.ver.map(ver_text).transpose()?,
            caps: raw.caps.unwrap_or_default(),
            max_frame: raw.max_frame,
            window: raw.window,
        })),
        "OPEN" => Ok(Message::Open {
            cid: cid(raw.cid)?,
            connector: connector(raw.connector)?,
            traceparent: raw.traceparent.and_then(traceparent),
        }),
        "DATA" => Ok(Message::Data {
            cid: cid(raw.cid)?,
            seq: raw.seq.ok_or(DecodeError::Field("seq"))?,
            payload: payload(raw.b64)?,
        }),
        "FIN" => Ok(Message::Fin {
            cid: cid(raw.cid)?,
            dir: raw
                .dir
                .as_deref()
                .and_then(Direction::parse)
                .ok_or(DecodeError::Field("dir"))?,
        }),
        "RST" => Ok(Message::Rst {
            cid: cid(raw.cid)?,
            err: ResetReason::parse(truncate_str(
                raw.err.as_deref().unwrap_or(UNSPECIFIED_ERR),
                MAX_REASON_LEN,
            )),
        }),
        other => Err(DecodeError::UnknownType(quote_type(other))),
    }
}

fn hello(raw: Raw) -> Result<Hello, DecodeError> {
    let agent_id = raw
        .agent_id
        .filter(|a| !a.is_empty())
        .ok_or(DecodeError::Field("agent_id"))?;
    Ok(Hello {
        agent_id,
        connectors: raw.connectors.ok_or(DecodeError::Field("connectors"))?,
        ver: raw
            .ver
            .map(ver_text)
            .transpose()?
            .unwrap_or_else(|| VERSION_V1.to_owned()),
        caps: raw.caps.unwrap_or_default(),
        max_frame: raw.max_frame,
    })
}

/// `ver` as text: old agents send a number (`"ver": 1`).
fn ver_text(v: Value) -> Result<String, DecodeError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(DecodeError::Field("ver")),
    }
}

fn cid(cid: Option<String>) -> Result<String, DecodeError> {
    match cid {
        Some(c) if c.len() > MAX_CID_LEN => Err(DecodeError::TooLong("cid")),
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(DecodeError::Field("cid")),
    }
}

fn connector(connector: Option<String>) -> Result<String, DecodeError> {
    match connector {
        Some(c) if c.len() > MAX_CONNECTOR_LEN => Err(DecodeError::TooLong("connector")),
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(DecodeError::Field("connector")),
    }
}

/// Trace context is a hint: a value that V2 could not carry (empty, too long, not ASCII, not a
/// string) is dropped instead of failing the OPEN.
fn traceparent(v: Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= MAX_TRACEPARENT_LEN && s.is_ascii() => {
            Some(s)
        }
        _ => None,
    }
}

fn payload(b64: Option<String>) -> Result<Bytes, DecodeError> {
    let b64 = b64.ok_or(DecodeError::Field("b64"))?;
    B64_LENIENT
        .decode(b64.as_bytes())
        .map(Bytes::from)
        .map_err(|_| DecodeError::Base64)
}

/// At most [`MAX_QUOTED_TYPE`] characters of an unknown type, printable ASCII only (others
/// become `?`), so error messages stay short, ASCII and safe to log or cut anywhere.
fn quote_type(t: &str) -> String {
    t.chars()
        .take(MAX_QUOTED_TYPE)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// serde_json's message, unless it would quote a string from the input (which may be payload).
/// The result is always ASCII.
fn json_error(e: serde_json::Error) -> DecodeError {
    let msg = e.to_string();
    if msg.contains('"') || msg.contains('\'') || !msg.is_ascii() {
        let what = match e.classify() {
            serde_json::error::Category::Data => "wrong type or value",
            serde_json::error::Category::Eof => "unexpected end",
            _ => "syntax error",
        };
        DecodeError::Json(format!("{what} at line {} column {}", e.line(), e.column()))
    } else {
        DecodeError::Json(msg)
    }
}
