//! `nowconnect_listener_errors_total{connector,type}`: both services count into one counter.

use crate::labels::{Connectors, ListenerErrorType};
use nowconnect_telemetry::{KeyValue, Meter};
use opentelemetry::metrics::Counter;

/// Handle on the listener-error counter; cheap to clone.
#[derive(Debug, Clone)]
pub struct ListenerErrors {
    counter: Counter<u64>,
    connectors: Connectors,
}

impl ListenerErrors {
    pub(crate) fn new(meter: &Meter, connectors: Connectors) -> Self {
        let counter = meter
            .u64_counter("nowconnect.listener.errors")
            .with_unit("{error}")
            .with_description(
                "Connections a listener could not serve, by type: write = writing to the local \
                 socket failed mid-stream; session = no stream could be started for an accepted \
                 connection (no agent, connection limit, OPEN refused); pdp = denied or \
                 undecidable by the policy decision point",
            )
            .build();
        ListenerErrors {
            counter,
            connectors,
        }
    }

    /// Counts one error of `kind` for `connector`.
    pub fn record(&self, connector: &str, kind: ListenerErrorType) {
        self.counter.add(1, &self.attrs(connector, kind));
    }

    /// A handle on one series, its labels built once (for hot paths).
    pub fn bind(&self, connector: &str, kind: ListenerErrorType) -> BoundListenerError {
        BoundListenerError {
            counter: self.counter.clone(),
            attrs: self.attrs(connector, kind),
        }
    }

    fn attrs(&self, connector: &str, kind: ListenerErrorType) -> [KeyValue; 2] {
        [
            KeyValue::new("connector", self.connectors.label(connector)),
            KeyValue::new("type", kind.as_str()),
        ]
    }

    /// Every `type` of `connector` at 0, so `increase()` sees the first error.
    pub(crate) fn zero_init(&self, connector: &str) {
        for kind in ListenerErrorType::ALL {
            self.counter.add(0, &self.attrs(connector, kind));
        }
    }
}

/// One `nowconnect_listener_errors_total` series with its labels bound.
#[derive(Debug, Clone)]
pub struct BoundListenerError {
    counter: Counter<u64>,
    attrs: [KeyValue; 2],
}

impl BoundListenerError {
    /// Counts one error.
    pub fn add(&self) {
        self.counter.add(1, &self.attrs);
    }
}
