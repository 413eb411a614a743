//! HELLO / HELLO_ACK: the first exchange on a tunnel, which picks the protocol version.
//!
//! The agent's HELLO offers V2 with `"ver":"2"`, `"caps":["v2"]` and the largest DATA payload it
//! accepts (`max_frame`). A hub that speaks V2 answers with the same capability, the agreed
//! `max_frame` and the initial per-stream credit `window`; any other answer (an old hub's bare
//! `{"t":"HELLO_ACK"}`) keeps both sides on V1. The hub decides; the agent follows any sane
//! answer, so both ends always agree on the version (see [`hub_answer`], [`agent_outcome`]).
//! Both messages travel as V1 JSON text (see [`crate::v1`]).

/// Protocol version this crate speaks at best (`ver` of a V2 HELLO).
pub const VERSION: &str = "2";
/// Version word of a HELLO / HELLO_ACK that stays on V1.
pub const VERSION_V1: &str = "1";
/// Capability that offers / accepts the binary protocol.
pub const CAP_V2: &str = "v2";
/// Smallest negotiable V2 DATA payload.
pub const MIN_FRAME: u32 = 1024;
/// Largest negotiable V2 DATA payload.
pub const MAX_FRAME: u32 = 1 << 20;

/// The agent's first message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hello {
    /// Must equal the JWT's `agent_id` claim (else the hub closes with 1008).
    pub agent_id: String,
    /// Connector names the agent exports.
    pub connectors: Vec<String>,
    /// `"1"` or `"2"`; kept as text even when an old agent sent a number.
    pub ver: String,
    /// Capabilities; `"v2"` offers the binary protocol.
    pub caps: Vec<String>,
    /// Largest V2 DATA payload the agent accepts (only with `"v2"`).
    pub max_frame: Option<u32>,
}

/// The hub's answer. Every field is optional: old hubs send `{"t":"HELLO_ACK"}` alone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HelloAck {
    pub ver: Option<String>,
    pub caps: Vec<String>,
    /// Agreed largest V2 DATA payload.
    pub max_frame: Option<u32>,
    /// Initial per-stream credit, in bytes, that each side grants the other.
    pub window: Option<u32>,
}

/// The outcome of the handshake, as both sides apply it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    V1,
    V2 { max_frame: u32, window: u32 },
}

/// Hub-side V2 parameters (None = hub speaks V1 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubV2 {
    pub max_frame: u32,
    pub window: u32,
}

impl Hello {
    /// HELLO of an agent; `v2_max_frame: Some(n)` offers V2 (ver "2", caps ["v2"], max_frame n),
    /// None = plain V1 HELLO with ver "1". `n` is sent as given: an offer below [`MIN_FRAME`]
    /// makes the hub answer V1.
    pub fn new(
        agent_id: impl Into<String>,
        connectors: Vec<String>,
        v2_max_frame: Option<u32>,
    ) -> Self {
        let (ver, caps) = match v2_max_frame {
            Some(_) => (VERSION, vec![CAP_V2.to_owned()]),
            None => (VERSION_V1, Vec::new()),
        };
        Hello {
            agent_id: agent_id.into(),
            connectors,
            ver: ver.to_owned(),
            caps,
            max_frame: v2_max_frame,
        }
    }

    /// Whether the HELLO offers V2 (`caps` contains `"v2"`, case-sensitive).
    pub fn offers_v2(&self) -> bool {
        has_v2(&self.caps)
    }
}

fn has_v2(caps: &[String]) -> bool {
    caps.iter().any(|c| c == CAP_V2)
}

/// The hub's answer to a HELLO: V2 only if the agent offers it and `hub` is Some.
///
/// `max_frame` = min(agent offer (the hub's own if absent), hub's), clamped to
/// [[`MIN_FRAME`], [`MAX_FRAME`]]; an agent offer below [`MIN_FRAME`] gets V1 (clamping up would
/// exceed what the agent accepts). `window` is the hub's, raised to at least `max_frame` so a
/// full-size frame always fits. The V1 answer is `{"t":"HELLO_ACK","ver":"1"}`.
pub fn hub_answer(hello: &Hello, hub: Option<HubV2>) -> (HelloAck, Negotiated) {
    let v1 = (
        HelloAck {
            ver: Some(VERSION_V1.to_owned()),
            ..HelloAck::default()
        },
        Negotiated::V1,
    );
    let Some(hub) = hub else { return v1 };
    if !hello.offers_v2() {
        return v1;
    }
    if hello.max_frame.is_some_and(|offer| offer < MIN_FRAME) {
        return v1;
    }
    let offer = hello.max_frame.unwrap_or(hub.max_frame);
    let max_frame = offer.min(hub.max_frame).clamp(MIN_FRAME, MAX_FRAME);
    let window = hub.window.max(max_frame);
    let ack = HelloAck {
        ver: Some(VERSION.to_owned()),
        caps: vec![CAP_V2.to_owned()],
        max_frame: Some(max_frame),
        window: Some(window),
    };
    (ack, Negotiated::V2 { max_frame, window })
}

/// What the agent applies after reading HELLO_ACK: V2 iff caps contains "v2" and max_frame and
/// window are present and sane (max_frame within [[`MIN_FRAME`], [`MAX_FRAME`]] and not above
/// `offered_max_frame` when that is Some; window >= max_frame); otherwise V1.
pub fn agent_outcome(ack: &HelloAck, offered_max_frame: Option<u32>) -> Negotiated {
    let (Some(max_frame), Some(window)) = (ack.max_frame, ack.window) else {
        return Negotiated::V1;
    };
    let sane = has_v2(&ack.caps)
        && (MIN_FRAME..=MAX_FRAME).contains(&max_frame)
        && offered_max_frame.is_none_or(|offer| max_frame <= offer)
        && window >= max_frame;
    if sane {
        Negotiated::V2 { max_frame, window }
    } else {
        Negotiated::V1
    }
}

#[cfg(test)]
mod tests;
