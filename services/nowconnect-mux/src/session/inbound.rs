//! What the session reader does with each WebSocket message.

use super::{DialError, SessionEnd, Shared};
use crate::codec::{Outbound, StreamKey};
use crate::config::Role;
use crate::stream::{self, CloseReason};
use crate::table::{Delivery, InsertError, PushError};
use bytes::Bytes;
use nowconnect_protocol::hello::Negotiated;
use nowconnect_protocol::{ResetReason, StreamId, v1, v2};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;
use uuid::Uuid;

/// How long the V1 reader waits on a full stream queue before `queue_overflow` (not at all
/// for a stream that has taken nothing from its queue for twice as long; see
/// `StreamShared::queue_wait`).
const V1_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One inbound frame, version-independent.
enum Event {
    Open {
        key: StreamKey,
        connector: String,
        traceparent: Option<String>,
    },
    Data {
        id: StreamId,
        payload: Bytes,
    },
    Fin {
        id: StreamId,
    },
    Rst {
        id: StreamId,
        reason: ResetReason,
    },
    Credit {
        id: StreamId,
        bytes: u32,
    },
}

/// Handles one message; `Some` ends the session.
pub(super) async fn handle(shared: &Arc<Shared>, msg: Message) -> Option<SessionEnd> {
    let is_pong = matches!(msg, Message::Pong(_));
    shared.liveness.received(is_pong);
    match (msg, shared.cfg.protocol) {
        (Message::Text(text), Negotiated::V1) => match v1::decode(text.as_str()) {
            Ok(msg) => match v1_event(shared, msg) {
                Some(ev) => apply(shared, ev).await,
                None => None,
            },
            Err(e) => Some(protocol_error(shared, format!("bad V1 frame: {e}"))),
        },
        (Message::Binary(mut bytes), Negotiated::V2 { max_frame, .. }) => loop {
            match v2::decode(&mut bytes, max_frame) {
                Ok(Some(frame)) => {
                    if let Some(end) = apply(shared, v2_event(frame)).await {
                        return Some(end);
                    }
                }
                Ok(None) if bytes.is_empty() => return None,
                Ok(None) => return Some(protocol_error(shared, "truncated V2 frame".into())),
                Err(e) => return Some(protocol_error(shared, format!("bad V2 frame: {e}"))),
            }
        },
        (Message::Text(_), _) => Some(protocol_error(shared, "text message on a V2 tunnel".into())),
        (Message::Binary(_), _) => Some(protocol_error(
            shared,
            "binary message on a V1 tunnel".into(),
        )),
        (Message::Close(frame), _) => Some(SessionEnd::PeerClosed {
            code: frame.as_ref().map_or(1005, |f| u16::from(f.code)),
            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
        }),
        (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => None,
    }
}

fn protocol_error(shared: &Shared, reason: String) -> SessionEnd {
    tracing::warn!(event = "protocol_error", agent_id = %shared.peer, %reason);
    let short: String = reason.chars().take(120).collect();
    let _ = shared.close.send(Some(super::Close {
        code: 1002,
        reason: short,
    }));
    SessionEnd::ProtocolError(reason)
}

fn v2_event(frame: v2::Frame) -> Event {
    match frame {
        v2::Frame::Open {
            id,
            cid,
            connector,
            traceparent,
        } => {
            let key = StreamKey {
                id,
                cid: Arc::from(cid.to_string()),
                uuid: cid,
            };
            Event::Open {
                key,
                connector,
                traceparent,
            }
        }
        v2::Frame::Data { id, payload } => Event::Data { id, payload },
        v2::Frame::Fin { id, .. } => Event::Fin { id },
        v2::Frame::Rst { id, reason } => Event::Rst { id, reason },
        v2::Frame::Credit { id, bytes } => Event::Credit { id, bytes },
    }
}

/// Resolves a V1 cid to its stream; `None` = dropped (unknown cid, or a HELLO after the handshake).
fn v1_event(shared: &Shared, msg: v1::Message) -> Option<Event> {
    let lookup = |cid: &str| {
        let id = shared.table.id_of(cid);
        if id.is_none() {
            tracing::debug!(
                event = "unknown_stream",
                cid,
                "frame for an unknown cid dropped"
            );
        }
        id
    };
    match msg {
        v1::Message::Open {
            cid,
            connector,
            traceparent,
        } => {
            let uuid = Uuid::parse_str(&cid).unwrap_or(Uuid::nil());
            let key = StreamKey {
                id: shared.table.allocate(),
                cid: Arc::from(cid),
                uuid,
            };
            Some(Event::Open {
                key,
                connector,
                traceparent,
            })
        }
        v1::Message::Data { cid, payload, .. } => Some(Event::Data {
            id: lookup(&cid)?,
            payload,
        }),
        v1::Message::Fin { cid, .. } => Some(Event::Fin { id: lookup(&cid)? }),
        v1::Message::Rst { cid, err } => Some(Event::Rst {
            id: lookup(&cid)?,
            reason: err,
        }),
        v1::Message::Hello(_) | v1::Message::HelloAck(_) => {
            tracing::debug!(
                event = "unexpected_hello",
                "HELLO after the handshake ignored"
            );
            None
        }
    }
}

async fn apply(shared: &Arc<Shared>, event: Event) -> Option<SessionEnd> {
    let id = match &event {
        Event::Open {
            key,
            connector,
            traceparent,
        } => return open(shared, key.clone(), connector, traceparent.as_deref()),
        Event::Data { id, .. }
        | Event::Fin { id }
        | Event::Rst { id, .. }
        | Event::Credit { id, .. } => *id,
    };
    let Some(entry) = shared.table.get(id) else {
        tracing::debug!(event = "unknown_stream", stream = %id, "frame for an unknown stream dropped");
        return None;
    };
    let stream = &entry.shared;
    let reset = |reason: ResetReason| {
        tracing::info!(event = "stream_reset", cid = %stream.key.cid, reason = reason.as_str());
        stream.reset(reason, &shared.control);
    };
    match event {
        Event::Data { payload, .. } => {
            if let Some(window) = &stream.recv_window {
                let ok = window
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .on_data(payload.len());
                if ok.is_err() {
                    reset(ResetReason::ProtocolError);
                    return None;
                }
            }
            stream.queued_add(1);
            let wait = stream.queue_wait(V1_QUEUE_WAIT);
            let payload = stream.own_payload(payload);
            let pushed = entry.tx.push(Delivery::Data(payload), wait).await;
            if pushed.is_err() {
                stream.queued_add(-1);
            }
            if pushed == Err(PushError::Overflow) {
                reset(ResetReason::QueueOverflow);
            }
        }
        Event::Fin { .. } => {
            stream.probe.fin_received();
            stream.queued_add(1);
            let wait = stream.queue_wait(V1_QUEUE_WAIT);
            let pushed = entry.tx.push(Delivery::Fin, wait).await;
            if pushed.is_err() {
                stream.queued_add(-1);
            }
            if pushed == Err(PushError::Overflow) {
                reset(ResetReason::QueueOverflow);
            }
        }
        Event::Rst { reason, .. } => {
            tracing::info!(event = "stream_reset_by_peer", cid = %stream.key.cid, reason = reason.as_str());
            stream.probe.rst_received(&reason);
            stream.abort(CloseReason::PeerReset(reason));
        }
        Event::Credit { bytes, .. } => {
            if let Some(credit) = &stream.send_credit
                && credit.grant(bytes).is_err()
            {
                reset(ResetReason::ProtocolError);
            }
        }
        Event::Open { .. } => {}
    }
    None
}

/// Agent: registers the stream (so early DATA is queued), then dials in its own task.
fn open(
    shared: &Arc<Shared>,
    key: StreamKey,
    connector: &str,
    traceparent: Option<&str>,
) -> Option<SessionEnd> {
    let Some(dialer) = shared
        .dialer
        .clone()
        .filter(|_| shared.cfg.role == Role::Agent)
    else {
        return Some(protocol_error(shared, "OPEN sent to a hub".into()));
    };
    let connector: Arc<str> = Arc::from(connector);
    if shared.draining.load(std::sync::atomic::Ordering::SeqCst) {
        tracing::info!(event = "stream_refused", cid = %key.cid, %connector, reason = "shutdown");
        shared
            .cfg
            .observer
            .open_refused(&connector, &ResetReason::Shutdown);
        let _ = shared.control.send(Outbound::Rst {
            key,
            reason: ResetReason::Shutdown,
        });
        return None;
    }
    let (mut ctx, rx) = match shared.register(key.clone(), connector.clone()) {
        Ok(registered) => registered,
        Err(InsertError::Full) => {
            tracing::warn!(event = "stream_refused", cid = %key.cid, %connector, reason = "too_many_streams");
            shared
                .cfg
                .observer
                .open_refused(&connector, &ResetReason::TooManyStreams);
            let _ = shared.control.send(Outbound::Rst {
                key,
                reason: ResetReason::TooManyStreams,
            });
            return None;
        }
        Err(InsertError::Duplicate) => {
            tracing::warn!(event = "stream_refused", cid = %key.cid, %connector, reason = "duplicate_stream");
            return None;
        }
    };
    let span = tracing::info_span!("stream", cid = %key.cid, connector = %connector);
    if let Some(tp) = traceparent {
        // false = malformed or not recorded: the span then stays a root (or its local parent's).
        let _ = nowconnect_telemetry::trace_context::set_remote_parent(&span, tp);
    }
    let span = nowconnect_telemetry::trace_context::sampled_or(
        span,
        || tracing::debug_span!("stream", cid = %key.cid, connector = %connector),
    );
    ctx.trace_frames(&span);
    shared.tasks.spawn(
        async move {
            let dialed = tokio::select! {
                _ = ctx.shared_cancelled() => return,
                dialed = dialer.dial(&connector) => dialed,
            };
            match dialed {
                Ok(socket) => {
                    tracing::info!(event = "stream_open", cid = %key.cid, connector = %connector, agent_id = %ctx.peer);
                    let _ = socket.set_nodelay(true);
                    stream::relay(ctx, rx, socket).await;
                }
                Err(e) => {
                    tracing::warn!(event = "connect_failed", cid = %key.cid, connector = %connector, error = %e);
                    ctx.reset_local(match e {
                        DialError::UnknownConnector(_) => ResetReason::UnknownConnector,
                        DialError::Failed { .. } => ResetReason::ConnectFailed,
                    });
                    ctx.table.remove(&key);
                }
            }
        }
        .instrument(span),
    );
    None
}
