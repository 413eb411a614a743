//! The tunnel writer: the only task that writes to the WebSocket.
//!
//! Two lanes feed it. The control lane (unbounded; its volume is bounded by the number of
//! streams and by received data) carries OPEN, CREDIT and RST and always goes first, so control
//! never waits behind other streams' bulk data. The data lane (bounded) carries DATA and FIN; FIN
//! rides with data so it can never overtake its own stream's last bytes. In V2 several frames are
//! packed into one binary message, up to [`BATCH_BYTES`].

use crate::codec::Outbound;
use bytes::BytesMut;
use futures_util::{Sink, SinkExt};
use nowconnect_protocol::hello::Negotiated;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

/// Where the V2 writer stops adding frames to a message (the last one added may take it past
/// this by less than a frame).
///
/// The peer's keepalive sees a message only once all of it has arrived, so on a slow link a
/// message must take well under the ping timeout to cross: at 256 KiB (messages of up to
/// 320 KiB), a ~100 KB/s path took 3 s per message and a tunnel with a 2 s ping timeout was
/// dropped as dead while it carried data (`tests/tests/chaos_tunnel.rs`, the delayed path).
pub(crate) const BATCH_BYTES: usize = 64 * 1024;

/// How the writer should end the WebSocket.
#[derive(Debug, Clone)]
pub(crate) struct Close {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

pub(crate) struct Lanes {
    pub(crate) control: mpsc::UnboundedReceiver<Outbound>,
    pub(crate) data: mpsc::Receiver<Outbound>,
    pub(crate) close: tokio::sync::watch::Receiver<Option<Close>>,
    /// Sent before anything else (the hub's HELLO_ACK), so no frame can overtake it.
    pub(crate) greeting: Option<Message>,
}

/// Runs until the session is cancelled, a close is requested, or the sink fails.
pub(crate) async fn run<S>(
    mut sink: S,
    mut lanes: Lanes,
    protocol: Negotiated,
    ping_interval: Duration,
    pings: &crate::session::Liveness,
    cancel: CancellationToken,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if let Some(greeting) = lanes.greeting.take() {
        sink.send(greeting).await?;
    }
    let mut ping = tokio::time::interval(ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(out) = lanes.control.recv() => out,
            changed = lanes.close.changed() => {
                let close = lanes.close.borrow().clone();
                if changed.is_err() || close.is_some() {
                    send_close(&mut sink, close).await;
                    return Ok(());
                }
                continue;
            }
            Some(out) = lanes.data.recv() => out,
            _ = ping.tick() => {
                pings.ping_sent();
                sink.send(Message::Ping(Default::default())).await?;
                continue;
            }
            else => break,
        };
        match protocol {
            Negotiated::V1 => write_v1(&mut sink, first, &mut lanes).await?,
            Negotiated::V2 { .. } => write_v2(&mut sink, first, &mut lanes).await?,
        }
    }
    // Cancelled: send what control frames are queued (RSTs of a drain), then the close that
    // was asked for, if any.
    let mut last = Vec::new();
    while let Ok(out) = lanes.control.try_recv() {
        last.push(out);
    }
    let flush = async {
        for out in last {
            out.mark_written();
            match protocol {
                Negotiated::V1 => {
                    if let Some(text) = out.encode_v1() {
                        sink.feed(Message::Text(text.into())).await?;
                    }
                }
                Negotiated::V2 { .. } => {
                    let mut buf = BytesMut::new();
                    out.encode_v2(&mut buf);
                    sink.feed(Message::Binary(buf.freeze())).await?;
                }
            }
        }
        sink.flush().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
    let close = lanes.close.borrow().clone();
    send_close(&mut sink, close).await;
    Ok(())
}

fn next_ready(lanes: &mut Lanes) -> Option<Outbound> {
    lanes
        .control
        .try_recv()
        .ok()
        .or_else(|| lanes.data.try_recv().ok())
}

async fn write_v2<S>(sink: &mut S, first: Outbound, lanes: &mut Lanes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut buf = BytesMut::with_capacity(first.wire_len().max(4096));
    first.mark_written();
    first.encode_v2(&mut buf);
    while buf.len() < BATCH_BYTES {
        let Some(next) = next_ready(lanes) else { break };
        buf.reserve(next.wire_len());
        next.mark_written();
        next.encode_v2(&mut buf);
    }
    sink.send(Message::Binary(buf.freeze())).await
}

async fn write_v1<S>(sink: &mut S, first: Outbound, lanes: &mut Lanes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut pending = 0usize;
    let mut item = Some(first);
    while let Some(out) = item.take() {
        out.mark_written();
        if let Some(text) = out.encode_v1() {
            pending += text.len();
            sink.feed(Message::Text(text.into())).await?;
        }
        if pending < BATCH_BYTES {
            item = next_ready(lanes);
        }
    }
    sink.flush().await
}

async fn send_close<S>(sink: &mut S, close: Option<Close>)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let frame = close.map(|c| CloseFrame {
        code: CloseCode::from(c.code),
        reason: c.reason.into(),
    });
    // The peer may already be gone; a failed close is not an error worth reporting.
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(frame))).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
}
