//! Label values, typed so that every label's cardinality is bounded by its type.

use nowconnect_protocol::ResetReason;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which end's queue overflowed (`nowconnect_queue_overflow_total{side}`); fixed per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Hub,
    Agent,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Hub => "hub",
            Side::Agent => "agent",
        }
    }
}

/// `nowconnect_listener_errors_total{type}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerErrorType {
    /// Writing to the local socket (client on the hub, target on the agent) failed mid-stream.
    Write,
    /// The service could not start a stream for an accepted connection (hub: no agent serves
    /// the connector, `max_conn_total` reached, or the session refused the OPEN).
    Session,
    /// The policy decision point denied the stream or could not be asked.
    Pdp,
}

impl ListenerErrorType {
    pub const ALL: [ListenerErrorType; 3] = [Self::Write, Self::Session, Self::Pdp];

    pub fn as_str(self) -> &'static str {
        match self {
            ListenerErrorType::Write => "write",
            ListenerErrorType::Session => "session",
            ListenerErrorType::Pdp => "pdp",
        }
    }
}

/// The `err` label of the RST counters: the V1 `err` word of a known reason, `other` for
/// anything a peer invented (a peer must not be able to mint label values).
pub fn rst_err_label(reason: &ResetReason) -> &'static str {
    match reason {
        ResetReason::ConnectFailed => "connect_failed",
        ResetReason::WsBroken => "ws_broken",
        ResetReason::QueueOverflow => "queue_overflow",
        ResetReason::IdleTimeout => "idle_timeout",
        ResetReason::Shutdown => "shutdown",
        ResetReason::ProtocolError => "protocol_error",
        ResetReason::TooManyStreams => "too_many_streams",
        ResetReason::UnknownConnector => "unknown_connector",
        ResetReason::PeerReset => "peer_reset",
        ResetReason::Other(_) => "other",
    }
}

/// RST reasons whose series exist at 0 from start-up (the ones alerts watch with `increase()`).
pub const ZERO_INIT_RST_ERRS: [ResetReason; 3] = [
    ResetReason::ConnectFailed,
    ResetReason::QueueOverflow,
    ResetReason::WsBroken,
];

/// The configured connector names: the only values the `connector` label takes. A stream of
/// any other connector (an agent can be asked for anything) is labelled `other`.
#[derive(Debug, Clone)]
pub struct Connectors {
    names: BTreeMap<String, Arc<str>>,
    other: Arc<str>,
}

/// The `connector` value for names outside the configured set.
pub(crate) const OTHER_CONNECTOR: &str = "other";

impl Connectors {
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names = names
            .into_iter()
            .map(Into::into)
            .map(|n| {
                let label = Arc::from(n.as_str());
                (n, label)
            })
            .collect();
        Connectors {
            names,
            other: Arc::from(OTHER_CONNECTOR),
        }
    }

    /// The label value for `connector` (shared, so binding it to a stream does not allocate).
    pub fn label(&self, connector: &str) -> Arc<str> {
        self.names
            .get(connector)
            .cloned()
            .unwrap_or_else(|| self.other.clone())
    }

    /// The configured names, sorted and without duplicates.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_reasons_keep_their_wire_word_and_others_collapse() {
        for word in [
            "connect_failed",
            "ws_broken",
            "queue_overflow",
            "idle_timeout",
            "shutdown",
            "protocol_error",
            "too_many_streams",
            "unknown_connector",
            "peer_reset",
        ] {
            assert_eq!(rst_err_label(&ResetReason::parse(word)), word);
        }
        assert_eq!(rst_err_label(&ResetReason::parse("made-up-123")), "other");
    }

    #[test]
    fn unknown_connectors_are_labelled_other() {
        let c = Connectors::new(["ldap", "ldap", "db"]);
        assert_eq!(c.iter().collect::<Vec<_>>(), ["db", "ldap"]);
        assert_eq!(&*c.label("ldap"), "ldap");
        assert_eq!(&*c.label("anything"), "other");
    }
}
