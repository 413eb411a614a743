//! The handle services hold on a running session.

use super::{OpenError, Shared};
use crate::codec::{Outbound, StreamKey};
use crate::stream;
use crate::writer::Close;
use nowconnect_protocol::ResetReason;
use nowconnect_telemetry::trace_context;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::net::TcpStream;
use tracing::Instrument;
use uuid::Uuid;

/// A cheap handle on a running session.
#[derive(Clone)]
pub struct SessionHandle {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("peer", &self.shared.peer)
            .field("streams", &self.shared.table.len())
            .finish()
    }
}

impl SessionHandle {
    /// Hub: carries a new client connection as a stream (sends OPEN, then relays). `guard`
    /// is held until the stream ends (e.g. the connection-limit permit). Returns the cid.
    pub fn open_stream<G: Send + 'static>(
        &self,
        connector: &str,
        socket: TcpStream,
        traceparent: Option<String>,
        guard: G,
    ) -> Result<String, OpenError> {
        let shared = &self.shared;
        if shared.cancel.is_cancelled() || shared.tasks.is_closed() {
            return Err(OpenError::Closed);
        }
        let uuid = Uuid::new_v4();
        let cid: Arc<str> = Arc::from(uuid.to_string());
        let key = StreamKey {
            id: shared.table.allocate(),
            cid: cid.clone(),
            uuid,
        };
        let connector: Arc<str> = Arc::from(connector);
        let (mut ctx, rx) = shared
            .register(key.clone(), connector.clone())
            .map_err(|_| OpenError::Full)?;
        let span = tracing::info_span!("stream", cid = %cid, connector = %connector);
        let traceparent = traceparent.or_else(|| trace_context::traceparent(&span));
        let span = trace_context::sampled_or(
            span,
            || tracing::debug_span!("stream", cid = %cid, connector = %connector),
        );
        ctx.trace_frames(&span);
        let written = crate::codec::OpenWritten::default();
        ctx.opened = Some(written.clone());
        let open = Outbound::Open {
            key,
            connector: connector.clone(),
            traceparent,
            written,
        };
        if shared.control.send(open).is_err() {
            shared.table.remove(&ctx.shared.key);
            return Err(OpenError::Closed);
        }
        tracing::info!(event = "stream_open", cid = %cid, connector = %connector, agent_id = %shared.peer);
        shared.tasks.spawn(
            async move {
                stream::relay(ctx, rx, socket).await;
                drop(guard);
            }
            .instrument(span),
        );
        Ok(cid.to_string())
    }

    /// The longest inbound queue (in frames) among this tunnel's live streams, per connector:
    /// what the queue gauge reports.
    pub fn queue_peaks(&self) -> std::collections::HashMap<String, usize> {
        let mut peaks = std::collections::HashMap::new();
        for stream in self.shared.table.all() {
            let peak = peaks.entry(stream.connector.to_string()).or_insert(0);
            *peak = (*peak).max(stream.queue_len());
        }
        peaks
    }

    /// Streams currently open on this tunnel.
    pub fn stream_count(&self) -> usize {
        self.shared.table.len()
    }

    /// The peer's agent id.
    pub fn peer(&self) -> &str {
        &self.shared.peer
    }

    /// Whether the session has ended (or is ending).
    pub fn is_closed(&self) -> bool {
        self.shared.cancel.is_cancelled()
    }

    /// Agent: refuse new streams from now on (RST `shutdown`) while open ones drain.
    pub fn stop_accepting(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
    }

    /// Resets every open stream (telling the peer) — the end of a graceful drain.
    pub fn reset_all(&self, reason: ResetReason) {
        for stream in self.shared.table.all() {
            stream.reset(reason.clone(), &self.shared.control);
        }
    }

    /// Sends a WebSocket close with `code` and `reason` after what is queued; the session then
    /// ends within a couple of seconds.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self.shared.close.send(Some(Close {
            code,
            reason: reason.to_owned(),
        }));
    }

    /// Resolves when the session has been cancelled.
    pub async fn closed(&self) {
        self.shared.cancel.cancelled().await;
    }
}
