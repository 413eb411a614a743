//! Turns what streams want to send into WebSocket messages, for either protocol version.

use bytes::{Bytes, BytesMut};
use nowconnect_protocol::{Direction, ResetReason, StreamId, v1, v2};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;
use uuid::Uuid;

/// How a stream is named on the wire: V2 uses `id`, V1 uses `cid`.
#[derive(Debug, Clone)]
pub(crate) struct StreamKey {
    pub(crate) id: StreamId,
    pub(crate) cid: Arc<str>,
    /// The cid as a UUID (V2 OPEN carries 16 raw bytes); nil when a V1 peer chose another form.
    pub(crate) uuid: Uuid,
}

/// Fired by the writer when an OPEN is about to go into a message: the stream's DATA and FIN
/// (data lane) must wait for it. Two lanes fed by many tasks give no order between them — an
/// OPEN can sit behind another task's half-written control frame while its stream's first DATA
/// is already readable on the data lane — and a DATA before its OPEN is dropped by the peer.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenWritten(Arc<(AtomicBool, Notify)>);

impl OpenWritten {
    pub(crate) fn fire(&self) {
        self.0.0.store(true, Ordering::Release);
        self.0.1.notify_waiters();
    }

    /// Resolves once [`OpenWritten::fire`] has run (at once if it already has).
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.0.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.0.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// One frame queued for the tunnel writer.
#[derive(Debug)]
pub(crate) enum Outbound {
    Open {
        key: StreamKey,
        connector: Arc<str>,
        traceparent: Option<String>,
        written: OpenWritten,
    },
    Data {
        key: StreamKey,
        seq: u64,
        payload: Bytes,
    },
    Fin {
        key: StreamKey,
        dir: Direction,
    },
    Rst {
        key: StreamKey,
        reason: ResetReason,
    },
    /// V2 only.
    Credit {
        id: StreamId,
        bytes: u32,
    },
}

impl Outbound {
    /// Bytes this frame puts on the wire, roughly (batching bound).
    /// Tells an OPEN's stream that its frames may follow (see [`OpenWritten`]). The writer
    /// calls it right before encoding, in the task that then pulls the next frames.
    pub(crate) fn mark_written(&self) {
        if let Outbound::Open { written, .. } = self {
            written.fire();
        }
    }

    pub(crate) fn wire_len(&self) -> usize {
        match self {
            Outbound::Data { payload, .. } => payload.len() + v2::HEADER_LEN,
            _ => 64,
        }
    }

    /// Appends the V2 encoding to `dst`.
    pub(crate) fn encode_v2(self, dst: &mut BytesMut) {
        let frame = match self {
            Outbound::Data { key, payload, .. } => {
                v2::encode_data_header(key.id, payload.len(), dst);
                dst.extend_from_slice(&payload);
                return;
            }
            Outbound::Open {
                key,
                connector,
                traceparent,
                ..
            } => v2::Frame::Open {
                id: key.id,
                cid: key.uuid,
                connector: connector.to_string(),
                traceparent,
            },
            Outbound::Fin { key, dir } => v2::Frame::Fin { id: key.id, dir },
            Outbound::Rst { key, reason } => v2::Frame::Rst { id: key.id, reason },
            Outbound::Credit { id, bytes } => v2::Frame::Credit { id, bytes },
        };
        v2::encode(&frame, dst);
    }

    /// The V1 JSON text, or `None` for frames V1 does not have (credit).
    pub(crate) fn encode_v1(self) -> Option<String> {
        let msg = match self {
            Outbound::Open {
                key,
                connector,
                traceparent,
                ..
            } => v1::Message::Open {
                cid: key.cid.to_string(),
                connector: connector.to_string(),
                traceparent,
            },
            Outbound::Data { key, seq, payload } => v1::Message::Data {
                cid: key.cid.to_string(),
                seq,
                payload,
            },
            Outbound::Fin { key, dir } => v1::Message::Fin {
                cid: key.cid.to_string(),
                dir,
            },
            Outbound::Rst { key, reason } => v1::Message::Rst {
                cid: key.cid.to_string(),
                err: reason,
            },
            Outbound::Credit { .. } => return None,
        };
        Some(v1::encode(&msg))
    }
}

#[cfg(test)]
mod tests {
    use super::OpenWritten;
    use std::time::Duration;

    #[tokio::test]
    async fn frames_wait_for_their_open_and_not_after_it() {
        let written = OpenWritten::default();
        let waiter = tokio::spawn({
            let written = written.clone();
            async move { written.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no frame before the OPEN is written");
        written.fire();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("released by fire")
            .expect("task");
        // Already written: a later wait returns at once.
        tokio::time::timeout(Duration::from_secs(5), written.wait())
            .await
            .expect("no wait after fire");
    }
}
