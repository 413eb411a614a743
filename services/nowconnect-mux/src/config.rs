//! Per-tunnel settings.

use crate::observe::Observer;
use nowconnect_protocol::hello::Negotiated;
use std::sync::Arc;
use std::time::Duration;

/// Which end of the tunnel this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The cloud hub: allocates stream ids and sends OPEN.
    Hub,
    /// The premise agent: answers OPEN by dialing a target.
    Agent,
}

/// Settings of one session; built by the service from its config and the handshake outcome.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub role: Role,
    /// Outcome of the HELLO negotiation.
    pub protocol: Negotiated,
    /// V1 `max_ws_payload`: raw bytes per DATA frame when `protocol` is V1.
    pub max_ws_payload: usize,
    /// Frames held per stream in V1 before `queue_overflow`.
    pub queue_depth: usize,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Streams with no bytes either way for this long are reset (`idle_timeout`).
    pub idle_timeout: Duration,
    /// Agent: streams allowed at once (`max_inflight_cids`); OPENs beyond are refused with RST.
    pub max_streams: usize,
    /// Who the peer is, for logs (`agent_id`).
    pub peer: String,
    /// Where streams report bytes, write phases, FIN/RST and their end (metrics).
    pub observer: Arc<dyn Observer>,
}

impl SessionConfig {
    /// Largest DATA payload this session sends.
    pub(crate) fn max_payload(&self) -> usize {
        match self.protocol {
            Negotiated::V1 => self.max_ws_payload,
            Negotiated::V2 { max_frame, .. } => max_frame as usize,
        }
    }
}
