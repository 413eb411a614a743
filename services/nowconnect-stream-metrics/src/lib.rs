//! The stream metrics the hub and the agent share (SPEC §6.1), behind the mux's
//! [`nowconnect_mux::Observer`] seam: the relay reports what a stream does, this crate turns it
//! into instruments, and neither the relay nor the services name these metrics themselves.
//!
//! Main types:
//! - [`StreamMetrics`]: declares the shared instruments once per process and implements
//!   [`Observer`](nowconnect_mux::Observer); each stream gets a probe with its label sets
//!   already built, so the hot path is one counter add or histogram record per event.
//! - [`ListenerErrors`]: `nowconnect_listener_errors_total{connector,type}`; the probe counts
//!   `type="write"` (a local write failed), the services count `session` and `pdp`.
//! - Typed labels: [`Side`], [`ListenerErrorType`], [`Connectors`] (the configured connector
//!   names; anything else is reported as `connector="other"`), [`rst_err_label`].
//!
//! | instrument | unit | Prometheus | labels |
//! |---|---|---|---|
//! | `nowconnect.write_drain` (histogram, [`LATENCY_BUCKETS`](nowconnect_telemetry::LATENCY_BUCKETS)) | `s` | `nowconnect_write_drain_seconds` | `connector`, `phase` |
//! | `nowconnect.tcp` (counter) | `By` | `nowconnect_tcp_bytes_total` | `direction`, `connector` |
//! | `nowconnect.fin.sent` / `.fin.recv` (counters) | `{frame}` | `nowconnect_fin_sent_total` / `_recv_total` | `connector` |
//! | `nowconnect.rst.sent` / `.rst.recv` (counters) | `{frame}` | `nowconnect_rst_sent_total` / `_recv_total` | `connector`, `err` |
//! | `nowconnect.queue.overflow` (counter) | `{overflow}` | `nowconnect_queue_overflow_total` | `side`, `connector` |
//! | `nowconnect.connection.duration` (histogram, [`DURATION_BUCKETS`](nowconnect_telemetry::DURATION_BUCKETS)) | `s` | `nowconnect_connection_duration_seconds` | `connector` |
//! | `nowconnect.tcp.active_connections` (up-down counter) | `{connection}` | `nowconnect_tcp_active_connections` | `connector` |
//! | `nowconnect.listener.errors` (counter) | `{error}` | `nowconnect_listener_errors_total` | `connector`, `type` |
//!
//! Not here: families only one side has (the hub's accepted connections, queue gauges, agents
//! and connector state; the agent's reconnects), the `/metrics` endpoint, and the per-stream
//! queue length (services read [`SessionHandle::queue_peaks`](nowconnect_mux::SessionHandle::queue_peaks)
//! at scrape time instead of recording every push and pop).

mod labels;
mod listener_errors;
mod probe;
mod stream_metrics;

pub use labels::{Connectors, ListenerErrorType, Side, ZERO_INIT_RST_ERRS, rst_err_label};
pub use listener_errors::{BoundListenerError, ListenerErrors};
pub use stream_metrics::StreamMetrics;
