//! What a V1 peer saw on its tunnel(s), and the bookkeeping of the other side's violations.

use crate::lock;
use std::sync::{Arc, Mutex};

/// What a peer saw on its tunnel(s); see [`V1Agent::observed`](super::V1Agent::observed) and
/// [`V1Hub::observed`](super::V1Hub::observed).
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Departures from the V1 protocol by the other side. Must stay empty.
    pub violations: Vec<String>,
    /// OPENs sent (hub) or received (agent): `(cid, connector)`.
    pub opens: Vec<(String, String)>,
    /// RSTs received: `(cid, err)`.
    pub resets_received: Vec<(String, String)>,
    /// DATA / FIN / RST that named a cid this peer does not know (dropped).
    pub unknown_cid_frames: usize,
    /// DATA messages received.
    pub data_frames: usize,
    /// The close frame the other side sent, if it closed the tunnel: `(code, reason)`.
    pub peer_close: Option<(u16, String)>,
}

/// A peer's record, shared by its tunnel tasks and the test.
pub(super) type Log = Arc<Mutex<Observed>>;

/// Updates the record.
pub(super) fn note(log: &Log, f: impl FnOnce(&mut Observed)) {
    f(&mut lock(log));
}

/// Records (and logs) a departure from the V1 protocol by the other side.
pub(super) fn violation(log: &Log, what: String) {
    tracing::warn!(what, "v1 peer: protocol violation by the other side");
    note(log, |o| o.violations.push(what));
}
