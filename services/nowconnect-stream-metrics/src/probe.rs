//! One stream's observer: its label sets are built once, when the stream starts.

use crate::labels::{ListenerErrorType, rst_err_label};
use crate::listener_errors::BoundListenerError;
use crate::stream_metrics::Instruments;
use nowconnect_mux::{CloseReason, StreamObserver, WritePhase};
use nowconnect_protocol::{Direction, ResetReason};
use nowconnect_telemetry::KeyValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub(crate) struct Probe {
    m: Arc<Instruments>,
    connector: [KeyValue; 1],
    c2a: [KeyValue; 2],
    a2c: [KeyValue; 2],
    write: [KeyValue; 2],
    drain: [KeyValue; 2],
    overflow: [KeyValue; 2],
    write_failed: BoundListenerError,
    /// Whether the active-stream gauge was already decremented (by `closed` or the drop).
    ended: AtomicBool,
}

impl Probe {
    /// A stream of `connector` starts: counts it as active.
    pub(crate) fn start(m: Arc<Instruments>, connector: &str) -> Self {
        let c = KeyValue::new("connector", m.connectors.label(connector));
        let with = |k: &'static str, v: &'static str| [c.clone(), KeyValue::new(k, v)];
        let probe = Probe {
            c2a: with("direction", Direction::C2a.as_str()),
            a2c: with("direction", Direction::A2c.as_str()),
            write: with("phase", "write"),
            drain: with("phase", "drain"),
            overflow: with("side", m.side.as_str()),
            write_failed: m.listener_errors.bind(connector, ListenerErrorType::Write),
            connector: [c],
            ended: AtomicBool::new(false),
            m,
        };
        probe.m.active.add(1, &probe.connector);
        probe
    }

    fn end(&self) {
        if !self.ended.swap(true, Ordering::Relaxed) {
            self.m.active.add(-1, &self.connector);
        }
    }

    fn rst_attrs(&self, reason: &ResetReason) -> [KeyValue; 2] {
        [
            self.connector[0].clone(),
            KeyValue::new("err", rst_err_label(reason)),
        ]
    }
}

impl StreamObserver for Probe {
    fn bytes(&self, dir: Direction, n: usize) {
        let attrs = match dir {
            Direction::C2a => &self.c2a,
            Direction::A2c => &self.a2c,
        };
        self.m.bytes.add(n as u64, attrs);
    }

    fn write_phase(&self, phase: WritePhase, elapsed: Duration) {
        let attrs = match phase {
            WritePhase::Write => &self.write,
            WritePhase::Drain => &self.drain,
        };
        self.m.write_drain.record(elapsed.as_secs_f64(), attrs);
    }

    fn fin_sent(&self) {
        self.m.fin_sent.add(1, &self.connector);
    }

    fn fin_received(&self) {
        self.m.fin_recv.add(1, &self.connector);
    }

    fn rst_sent(&self, reason: &ResetReason) {
        self.m.rst_sent.add(1, &self.rst_attrs(reason));
        if *reason == ResetReason::QueueOverflow {
            self.m.queue_overflow.add(1, &self.overflow);
        }
    }

    fn rst_received(&self, reason: &ResetReason) {
        self.m.rst_recv.add(1, &self.rst_attrs(reason));
    }

    fn local_write_failed(&self) {
        self.write_failed.add();
    }

    fn closed(&self, reason: &CloseReason, duration: Duration) {
        // A stream lost with its tunnel is reset here (its local socket closed) without an RST
        // frame, which could not reach the peer; it still counts as a `ws_broken` reset.
        if *reason == CloseReason::TunnelLost {
            self.m
                .rst_sent
                .add(1, &self.rst_attrs(&ResetReason::WsBroken));
        }
        self.end();
        self.m
            .duration
            .record(duration.as_secs_f64(), &self.connector);
    }
}

/// A stream that never reached `closed` (refused right after it was registered) still leaves
/// the active gauge.
impl Drop for Probe {
    fn drop(&mut self) {
        self.end();
    }
}
