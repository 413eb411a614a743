//! Small value types shared by both protocol versions.

use std::fmt;

/// Numeric stream identifier used on the V2 wire; allocated by the hub, never reused within a
/// tunnel while the stream lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which side finished sending: `c2a` = the client (toward the target), `a2c` = the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    C2a,
    A2c,
}

impl Direction {
    /// The V1 wire word (`"c2a"` / `"a2c"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::C2a => "c2a",
            Direction::A2c => "a2c",
        }
    }

    /// Parses the V1 wire word.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "c2a" => Some(Direction::C2a),
            "a2c" => Some(Direction::A2c),
            _ => None,
        }
    }
}

/// Why a stream was reset. V1 carries the text form (`err`), V2 a one-byte code.
/// Unknown codes from newer peers are kept as [`ResetReason::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// The agent could not dial the target (refused, unreachable, timed out).
    ConnectFailed,
    /// The tunnel broke; every stream on it is reset.
    WsBroken,
    /// A V1 per-stream queue was full.
    QueueOverflow,
    /// No bytes either way for `idle_timeout_ms`.
    IdleTimeout,
    /// The sender is shutting down and its grace period ended.
    Shutdown,
    /// The peer broke the protocol for this stream (bad frame, credit exceeded).
    ProtocolError,
    /// Over `max_inflight_cids` / `max_conn_total`.
    TooManyStreams,
    /// The agent does not export the requested connector.
    UnknownConnector,
    /// The local socket failed (reset by the client or the target).
    PeerReset,
    /// A reason this version does not know; kept verbatim (V1) or as `code:N` (V2).
    Other(String),
}

impl ResetReason {
    /// The V1 `err` word.
    pub fn as_str(&self) -> &str {
        match self {
            ResetReason::ConnectFailed => "connect_failed",
            ResetReason::WsBroken => "ws_broken",
            ResetReason::QueueOverflow => "queue_overflow",
            ResetReason::IdleTimeout => "idle_timeout",
            ResetReason::Shutdown => "shutdown",
            ResetReason::ProtocolError => "protocol_error",
            ResetReason::TooManyStreams => "too_many_streams",
            ResetReason::UnknownConnector => "unknown_connector",
            ResetReason::PeerReset => "peer_reset",
            ResetReason::Other(s) => s,
        }
    }

    /// Parses the V1 `err` word; unknown words become [`ResetReason::Other`].
    pub fn parse(s: &str) -> Self {
        match s {
            "connect_failed" => ResetReason::ConnectFailed,
            "ws_broken" => ResetReason::WsBroken,
            "queue_overflow" => ResetReason::QueueOverflow,
            "idle_timeout" => ResetReason::IdleTimeout,
            "shutdown" => ResetReason::Shutdown,
            "protocol_error" => ResetReason::ProtocolError,
            "too_many_streams" => ResetReason::TooManyStreams,
            "unknown_connector" => ResetReason::UnknownConnector,
            "peer_reset" => ResetReason::PeerReset,
            other => ResetReason::Other(other.to_owned()),
        }
    }
}

/// Longest [`ResetReason::Other`] text carried on the wire (V2 detail; V1 `err` is cut to it).
pub(crate) const MAX_REASON_LEN: usize = 255;

impl ResetReason {
    /// The V2 one-byte code. [`ResetReason::Other`] is code 0 and travels with its text as detail.
    pub fn code(&self) -> u8 {
        match self {
            ResetReason::Other(_) => 0,
            ResetReason::ConnectFailed => 1,
            ResetReason::WsBroken => 2,
            ResetReason::QueueOverflow => 3,
            ResetReason::IdleTimeout => 4,
            ResetReason::Shutdown => 5,
            ResetReason::ProtocolError => 6,
            ResetReason::TooManyStreams => 7,
            ResetReason::UnknownConnector => 8,
            ResetReason::PeerReset => 9,
        }
    }

    /// Builds a reason from a V2 code and its detail text. Code 0 parses the detail like a V1
    /// word (so a known word sent as text still maps to its variant); a known code ignores the
    /// detail; an unknown code keeps the detail, or becomes `code:N` when there is none.
    pub fn from_code(code: u8, detail: &str) -> Self {
        match code {
            0 => ResetReason::parse(detail),
            1 => ResetReason::ConnectFailed,
            2 => ResetReason::WsBroken,
            3 => ResetReason::QueueOverflow,
            4 => ResetReason::IdleTimeout,
            5 => ResetReason::Shutdown,
            6 => ResetReason::ProtocolError,
            7 => ResetReason::TooManyStreams,
            8 => ResetReason::UnknownConnector,
            9 => ResetReason::PeerReset,
            n if detail.is_empty() => ResetReason::Other(format!("code:{n}")),
            _ => ResetReason::parse(detail),
        }
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub(crate) fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [ResetReason; 9] = [
        ResetReason::ConnectFailed,
        ResetReason::WsBroken,
        ResetReason::QueueOverflow,
        ResetReason::IdleTimeout,
        ResetReason::Shutdown,
        ResetReason::ProtocolError,
        ResetReason::TooManyStreams,
        ResetReason::UnknownConnector,
        ResetReason::PeerReset,
    ];

    #[test]
    fn known_reasons_round_trip_as_word_and_code() {
        for r in KNOWN {
            assert_eq!(ResetReason::parse(r.as_str()), r);
            assert_eq!(ResetReason::from_code(r.code(), ""), r);
            assert_ne!(r.code(), 0);
        }
    }

    #[test]
    fn other_reasons() {
        let other = ResetReason::Other("weird".into());
        assert_eq!(other.code(), 0);
        assert_eq!(ResetReason::from_code(0, "weird"), other);
        assert_eq!(ResetReason::from_code(0, "shutdown"), ResetReason::Shutdown);
        assert_eq!(
            ResetReason::from_code(200, ""),
            ResetReason::Other("code:200".into())
        );
        assert_eq!(
            ResetReason::from_code(200, "new_thing"),
            ResetReason::Other("new_thing".into())
        );
        assert_eq!(
            ResetReason::from_code(1, "ignored"),
            ResetReason::ConnectFailed
        );
        assert_eq!(other.to_string(), "weird");
    }

    #[test]
    fn directions() {
        for d in [Direction::C2a, Direction::A2c] {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Direction::parse("C2A"), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_str("abc", 5), "abc");
        assert_eq!(truncate_str("abc", 2), "ab");
        assert_eq!(truncate_str("aé", 2), "a");
    }
}
