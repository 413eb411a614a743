//! V1 encoder: hand-written JSON so the field order is the documented one and encoding cannot
//! fail. `"t"` first, then the fields as in the protocol table; absent optionals omitted.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Message;
use crate::hello::{Hello, HelloAck};

/// Encodes one message as a JSON text (one WebSocket text message).
///
/// DATA payloads are standard base64 with padding. An `OPEN` with `traceparent: Some("")`
/// omits the field (the decoder reads an absent or empty one as None).
pub fn encode(msg: &Message) -> String {
    let mut out = String::with_capacity(capacity(msg));
    match msg {
        Message::Hello(hello) => encode_hello(&mut out, hello),
        Message::HelloAck(ack) => encode_ack(&mut out, ack),
        Message::Open {
            cid,
            connector,
            traceparent,
        } => {
            start(&mut out, "OPEN", cid);
            field_str(&mut out, "connector", connector);
            if let Some(tp) = traceparent.as_deref().filter(|tp| !tp.is_empty()) {
                field_str(&mut out, "traceparent", tp);
            }
        }
        Message::Data { cid, seq, payload } => {
            start(&mut out, "DATA", cid);
            field_num(&mut out, "seq", *seq);
            out.push_str(",\"b64\":\"");
            STANDARD.encode_string(payload, &mut out);
            out.push('"');
        }
        Message::Fin { cid, dir } => {
            start(&mut out, "FIN", cid);
            field_str(&mut out, "dir", dir.as_str());
        }
        Message::Rst { cid, err } => {
            start(&mut out, "RST", cid);
            field_str(&mut out, "err", err.as_str());
        }
    }
    out.push('}');
    out
}

fn capacity(msg: &Message) -> usize {
    match msg {
        Message::Data { payload, .. } => 96 + payload.len().div_ceil(3) * 4,
        _ => 128,
    }
}

fn encode_hello(out: &mut String, hello: &Hello) {
    out.push_str("{\"t\":\"HELLO\"");
    field_str(out, "agent_id", &hello.agent_id);
    field_list(out, "connectors", &hello.connectors);
    field_str(out, "ver", &hello.ver);
    if !hello.caps.is_empty() {
        field_list(out, "caps", &hello.caps);
    }
    if let Some(n) = hello.max_frame {
        field_num(out, "max_frame", n.into());
    }
}

fn encode_ack(out: &mut String, ack: &HelloAck) {
    out.push_str("{\"t\":\"HELLO_ACK\"");
    if let Some(ver) = &ack.ver {
        field_str(out, "ver", ver);
    }
    if !ack.caps.is_empty() {
        field_list(out, "caps", &ack.caps);
    }
    if let Some(n) = ack.max_frame {
        field_num(out, "max_frame", n.into());
    }
    if let Some(n) = ack.window {
        field_num(out, "window", n.into());
    }
}

/// `{"t":"<t>","cid":"<cid>"`
fn start(out: &mut String, t: &str, cid: &str) {
    out.push_str("{\"t\":\"");
    out.push_str(t);
    out.push('"');
    field_str(out, "cid", cid);
}

fn field_str(out: &mut String, name: &str, value: &str) {
    key(out, name);
    string(out, value);
}

fn field_num(out: &mut String, name: &str, value: u64) {
    key(out, name);
    // Writing into a String cannot fail.
    let _ = write!(out, "{value}");
}

fn field_list(out: &mut String, name: &str, values: &[String]) {
    key(out, name);
    out.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, v);
    }
    out.push(']');
}

fn key(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
}

/// A JSON string literal: escapes `"`, `\` and control characters, copies everything else.
fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}
