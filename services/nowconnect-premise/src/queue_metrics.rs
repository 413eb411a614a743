//! The agent's queue gauges, the same families as the hub's with the agent's meaning:
//! `nowconnect_inbound_queue_size{connector}` is the fullest queue of frames from the hub
//! (client-to-agent) waiting to be written to the target among the connector's live streams;
//! `nowconnect_inbound_queue_limit{connector}` is `limits.queue_depth_per_cid`. Both are read
//! at scrape (or OTLP export) time from the current tunnel; with no tunnel the size is 0.

use nowconnect_mux::SessionHandle;
use nowconnect_stream_metrics::Connectors;
use nowconnect_telemetry::{KeyValue, Meter};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which tunnel the gauges read; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct QueueGauges {
    session: Arc<Mutex<Option<SessionHandle>>>,
}

impl std::fmt::Debug for QueueGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let up = lock(&self.session).is_some();
        f.debug_struct("QueueGauges").field("tunnel", &up).finish()
    }
}

impl QueueGauges {
    /// Registers both gauges with one series per configured connector.
    pub(crate) fn new(meter: &Meter, connectors: &Connectors, limit: usize) -> Self {
        let gauges = QueueGauges::default();
        let labels: Arc<Vec<(String, [KeyValue; 1])>> = Arc::new(
            connectors
                .iter()
                .map(|c| {
                    (
                        c.to_owned(),
                        [KeyValue::new("connector", connectors.label(c))],
                    )
                })
                .collect(),
        );
        let (session, by_connector) = (gauges.session.clone(), labels.clone());
        meter
            .u64_observable_gauge("nowconnect.inbound.queue.size")
            .with_unit("{frame}")
            .with_description(
                "Frames from the hub waiting to be written to the target in the fullest queue \
                 among the connector's open streams",
            )
            .with_callback(move |gauge| {
                let peaks = lock(&session).as_ref().map(SessionHandle::queue_peaks);
                for (c, attrs) in by_connector.iter() {
                    let peak = peaks.as_ref().and_then(|p| p.get(c)).copied().unwrap_or(0);
                    gauge.observe(u64::try_from(peak).unwrap_or(u64::MAX), attrs);
                }
            })
            .build();
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        meter
            .u64_observable_gauge("nowconnect.inbound.queue.limit")
            .with_unit("{frame}")
            .with_description(
                "Frames one stream's queue toward the target may hold (limits.queue_depth_per_cid)",
            )
            .with_callback(move |gauge| {
                for (_, attrs) in labels.iter() {
                    gauge.observe(limit, attrs);
                }
            })
            .build();
        gauges
    }

    /// Reads the queues of `session` from now on.
    pub(crate) fn watch(&self, session: SessionHandle) {
        *lock(&self.session) = Some(session);
    }

    /// The tunnel is gone: sizes read 0.
    pub(crate) fn clear(&self) {
        *lock(&self.session) = None;
    }
}

/// Locks `m`, ignoring poisoning (the value is a handle, always consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
