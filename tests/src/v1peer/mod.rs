//! An independent, minimal V1-only peer: an old agent ([`V1Agent`]) and an old hub ([`V1Hub`]).
//!
//! Written from the SPEC's V1 JSON table (§2.1) with `serde_json::Value` and `base64` directly,
//! deliberately without the `nowconnect-protocol` crate, so that talking to the real hub and
//! agent is a genuine interoperability check rather than the product talking to itself.
//!
//! What it speaks: one JSON object per WebSocket text message; `HELLO` / `HELLO_ACK`; `OPEN`
//! (hub → agent, UUID cid); `DATA` (standard padded base64, `seq` counted per cid and per
//! direction from 0, at most [`MAX_WS_PAYLOAD`] raw bytes); `FIN` (`c2a` when the client side
//! finished, `a2c` when the target side finished) with real half-close; `RST`. Objects are
//! written by `serde_json::Value`, whose map sorts keys (so `"t"` is not first), which a V1
//! reader must accept.
//!
//! What it checks about the other side, recorded in [`Observed::violations`] (tests assert it
//! stays empty): non-text messages, invalid JSON, unknown `t`, strict padded base64, DATA larger
//! than [`MAX_WS_PAYLOAD`], `seq` gaps, a FIN whose `dir` names the wrong side, OPEN cids that are
//! not UUIDs, duplicate cids.
//!
//! Layout: `agent` and `hub` are the two peers; `tunnel` (reader and writer tasks, stream
//! bookkeeping), `inbound` (reading and checking V1 messages) and `relay` (one stream's bytes)
//! are shared by both; `observed` keeps what a peer saw, violations included.
//!
//! Not here: V2, reconnects (each peer serves one tunnel), flow control beyond what TCP gives;
//! waiting for a listener to carry traffic ([`crate::wait`]) and the product's log capture
//! ([`crate::logcap`]).

mod agent;
mod hub;
mod inbound;
mod observed;
mod relay;
mod tunnel;

pub use agent::V1Agent;
pub use hub::{RecordedHello, V1Hub};
pub use observed::Observed;

use std::time::Duration;

/// Raw bytes per DATA this peer sends, and the most it accepts (SPEC `max_ws_payload` default).
pub const MAX_WS_PAYLOAD: usize = 8192;

/// How long the handshake steps and target dials may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
