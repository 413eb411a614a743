//! The shared instruments, declared once per process, and the [`Observer`] that hands each
//! stream its probe.

use crate::labels::{Connectors, Side, ZERO_INIT_RST_ERRS, rst_err_label};
use crate::listener_errors::ListenerErrors;
use crate::probe::Probe;
use nowconnect_mux::{Observer, StreamObserver};
use nowconnect_protocol::{Direction, ResetReason};
use nowconnect_telemetry::{DURATION_BUCKETS, KeyValue, LATENCY_BUCKETS, Meter};
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use std::sync::Arc;

/// Every shared instrument; probes hold it through an `Arc`.
#[derive(Debug)]
pub(crate) struct Instruments {
    pub(crate) side: Side,
    pub(crate) connectors: Connectors,
    pub(crate) write_drain: Histogram<f64>,
    pub(crate) bytes: Counter<u64>,
    pub(crate) fin_sent: Counter<u64>,
    pub(crate) fin_recv: Counter<u64>,
    pub(crate) rst_sent: Counter<u64>,
    pub(crate) rst_recv: Counter<u64>,
    pub(crate) queue_overflow: Counter<u64>,
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
    pub(crate) listener_errors: ListenerErrors,
}

/// The shared stream families of one service (hub or agent). Pass a clone as the session's
/// observer; cheap to clone.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    inner: Arc<Instruments>,
}

fn counter(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    help: &'static str,
) -> Counter<u64> {
    meter
        .u64_counter(name)
        .with_unit(unit)
        .with_description(help)
        .build()
}

impl StreamMetrics {
    /// Declares the instruments on `meter`. `side` labels queue overflows; `connectors` are
    /// the configured names (any other connector is labelled `other`).
    pub fn new(meter: &Meter, side: Side, connectors: Connectors) -> Self {
        let inner = Instruments {
            side,
            write_drain: meter
                .f64_histogram("nowconnect.write_drain")
                .with_unit("s")
                .with_description(
                    "Time of each local write, by phase: write = copying into the stream's \
                     buffer, drain = flushing it into the kernel (where a slow peer shows)",
                )
                .with_boundaries(LATENCY_BUCKETS.to_vec())
                .build(),
            bytes: counter(
                meter,
                "nowconnect.tcp",
                "By",
                "Payload bytes relayed, by direction (c2a = client to target, a2c = back)",
            ),
            fin_sent: counter(
                meter,
                "nowconnect.fin.sent",
                "{frame}",
                "FIN frames sent: the local socket finished sending",
            ),
            fin_recv: counter(
                meter,
                "nowconnect.fin.recv",
                "{frame}",
                "FIN frames received: the peer's socket finished sending",
            ),
            rst_sent: counter(
                meter,
                "nowconnect.rst.sent",
                "{frame}",
                "Streams this side reset, by reason (err)",
            ),
            rst_recv: counter(
                meter,
                "nowconnect.rst.recv",
                "{frame}",
                "Streams the peer reset, by reason (err)",
            ),
            queue_overflow: counter(
                meter,
                "nowconnect.queue.overflow",
                "{overflow}",
                "Streams reset because their inbound queue was full (V1), by side",
            ),
            duration: meter
                .f64_histogram("nowconnect.connection.duration")
                .with_unit("s")
                .with_description("Lifetime of relayed streams, from start to close")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter("nowconnect.tcp.active_connections")
                .with_unit("{connection}")
                .with_description("Streams open now")
                .build(),
            listener_errors: ListenerErrors::new(meter, connectors.clone()),
            connectors,
        };
        StreamMetrics {
            inner: Arc::new(inner),
        }
    }

    /// The listener-error counter (the service counts `session` and `pdp` errors into it).
    pub fn listener_errors(&self) -> &ListenerErrors {
        &self.inner.listener_errors
    }

    /// The configured connector names.
    pub fn connectors(&self) -> &Connectors {
        &self.inner.connectors
    }

    /// Creates at 0 every counter series of `connector` that an alert reads with `increase()`
    /// (and the byte and active-stream series dashboards draw), so the first event counts.
    pub fn zero_init(&self, connector: &str) {
        let m = &self.inner;
        let c = KeyValue::new("connector", m.connectors.label(connector));
        let one = std::slice::from_ref(&c);
        m.listener_errors.zero_init(connector);
        m.fin_sent.add(0, one);
        m.fin_recv.add(0, one);
        m.active.add(0, one);
        for dir in [Direction::C2a, Direction::A2c] {
            m.bytes
                .add(0, &[KeyValue::new("direction", dir.as_str()), c.clone()]);
        }
        for reason in &ZERO_INIT_RST_ERRS {
            let attrs = [c.clone(), KeyValue::new("err", rst_err_label(reason))];
            m.rst_sent.add(0, &attrs);
            m.rst_recv.add(0, &attrs);
        }
        m.queue_overflow
            .add(0, &[KeyValue::new("side", m.side.as_str()), c]);
    }

    /// [`zero_init`](Self::zero_init) for every configured connector.
    pub fn zero_init_all(&self) {
        for connector in self.inner.connectors.iter() {
            self.zero_init(connector);
        }
    }
}

impl Observer for StreamMetrics {
    fn stream(&self, connector: &str) -> Arc<dyn StreamObserver> {
        Arc::new(Probe::start(self.inner.clone(), connector))
    }

    /// Counted as a sent RST, like every other reset this side sends.
    fn open_refused(&self, connector: &str, reason: &ResetReason) {
        let attrs = [
            KeyValue::new("connector", self.inner.connectors.label(connector)),
            KeyValue::new("err", rst_err_label(reason)),
        ];
        self.inner.rst_sent.add(1, &attrs);
    }
}
