//! One V1 tunnel after the handshake, shared by the agent and the hub: the writer and reader
//! tasks, and the per-stream bookkeeping (`seq` checks, queued DATA / FIN).

use super::observed::{Log, note, violation};
use crate::lock;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

/// Which end of the tunnel a peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Agent,
    Hub,
}

impl Side {
    /// Direction word of what this side reads from its local socket (and sends FIN for).
    pub(super) fn up_dir(self) -> &'static str {
        match self {
            Side::Agent => "a2c",
            Side::Hub => "c2a",
        }
    }

    /// Direction word of the FIN this side expects from the other.
    pub(super) fn down_dir(self) -> &'static str {
        match self {
            Side::Agent => "c2a",
            Side::Hub => "a2c",
        }
    }
}

/// What the tunnel reader hands a stream.
#[derive(Debug)]
pub(super) enum Inbound {
    Data(Vec<u8>),
    Fin,
}

/// A live stream as the tunnel reader sees it.
#[derive(Debug)]
struct Slot {
    tx: mpsc::UnboundedSender<Inbound>,
    cancel: CancellationToken,
    /// Next `seq` expected from the other side.
    next_seq: u64,
}

/// One V1 tunnel after the handshake: a reader, a writer, and one relay task per stream.
#[derive(Debug)]
pub(super) struct Tunnel {
    pub(super) side: Side,
    pub(super) targets: HashMap<String, SocketAddr>,
    out: mpsc::UnboundedSender<Message>,
    streams: Mutex<HashMap<String, Slot>>,
    pub(super) log: Log,
    pub(super) cancel: CancellationToken,
}

impl Tunnel {
    /// Starts the reader and writer tasks on a WebSocket whose handshake is done.
    pub(super) fn spawn<S>(
        ws: WebSocketStream<S>,
        side: Side,
        targets: HashMap<String, SocketAddr>,
        log: Log,
        cancel: CancellationToken,
    ) -> Arc<Tunnel>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut source) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let tunnel = Arc::new(Tunnel {
            side,
            targets,
            out,
            streams: Mutex::new(HashMap::new()),
            log,
            cancel: cancel.clone(),
        });
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    msg = out_rx.recv() => match msg {
                        Some(msg) => {
                            if sink.send(msg).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = stop.cancelled() => {
                        let frame = CloseFrame { code: CloseCode::Normal, reason: "v1 peer done".into() };
                        let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(frame)))).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
                        break;
                    }
                }
            }
            stop.cancel();
        });
        let reader = tunnel.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = reader.cancel.cancelled() => break,
                    msg = source.next() => msg,
                };
                match msg {
                    Some(Ok(Message::Text(text))) => reader.on_text(text.as_str()),
                    Some(Ok(Message::Binary(_))) => {
                        violation(&reader.log, "binary message on a V1 tunnel".into())
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let close = frame.map_or((1005, String::new()), |f| {
                            (u16::from(f.code), f.reason.to_string())
                        });
                        note(&reader.log, |o| o.peer_close = Some(close));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
            // The tunnel is gone: every stream ends at once (ws_broken), the writer closes.
            reader.cancel.cancel();
        });
        tunnel
    }

    pub(super) fn send(&self, msg: &Value) {
        let _ = self.out.send(Message::text(msg.to_string()));
    }

    /// Hands DATA / FIN to the stream's relay; checks `seq` for DATA.
    pub(super) fn deliver(&self, cid: &str, seq: Option<u64>, item: Inbound) {
        let mismatch = {
            let mut streams = lock(&self.streams);
            let Some(slot) = streams.get_mut(cid) else {
                drop(streams);
                note(&self.log, |o| o.unknown_cid_frames += 1);
                return;
            };
            let mismatch = seq
                .filter(|&got| got != slot.next_seq)
                .map(|got| (got, slot.next_seq));
            if let Some(got) = seq {
                slot.next_seq = got.wrapping_add(1);
            }
            let _ = slot.tx.send(item);
            mismatch
        };
        if let Some((got, want)) = mismatch {
            violation(
                &self.log,
                format!("DATA seq {got} on cid {cid}, expected {want}"),
            );
        }
    }

    /// Registers a stream so that DATA arriving before its socket is ready is queued.
    pub(super) fn register(
        &self,
        cid: &str,
    ) -> Option<(mpsc::UnboundedReceiver<Inbound>, CancellationToken)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = self.cancel.child_token();
        let mut streams = lock(&self.streams);
        if streams.contains_key(cid) {
            drop(streams);
            violation(&self.log, format!("duplicate cid {cid}"));
            return None;
        }
        streams.insert(
            cid.to_owned(),
            Slot {
                tx,
                cancel: cancel.clone(),
                next_seq: 0,
            },
        );
        Some((rx, cancel))
    }

    pub(super) fn remove(&self, cid: &str) {
        lock(&self.streams).remove(cid);
    }

    /// Ends a stream the other side reset; `false` if no stream has that cid.
    pub(super) fn cancel_stream(&self, cid: &str) -> bool {
        let slot = lock(&self.streams).remove(cid);
        slot.map(|slot| slot.cancel.cancel()).is_some()
    }
}
