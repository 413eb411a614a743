//! One stream: a relay between a local socket and the tunnel, with half-close.
//!
//! The upstream pump reads the local socket and queues DATA (waiting for V2 credit first, so a
//! stream without credit stops reading its socket and nothing else); local EOF sends FIN. The
//! downstream pump writes what the peer sent into a buffered writer ("write") and flushes it into
//! the kernel ("drain") when its queue runs empty or enough bytes wait; in V2 every drained byte
//! is granted back as credit. A peer FIN shuts down the local write side. Either pump failing, an
//! RST from the peer, the idle sweeper or the tunnel dropping cancels the stream at once.

use crate::codec::{Outbound, StreamKey};
use crate::credit::SendCredit;
use crate::observe::{StreamObserver, WritePhase};
use crate::table::{Delivery, StreamTable};
use bytes::{BufMut, BytesMut};
use nowconnect_protocol::credit::RecvWindow;
use nowconnect_protocol::{Direction, ResetReason};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes the downstream pump lets wait in its buffer before draining anyway.
const DRAIN_AT: usize = 64 * 1024;

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Both sides finished sending (FIN each way).
    Completed,
    /// The peer reset the stream.
    PeerReset(ResetReason),
    /// This side reset the stream and told the peer.
    LocalReset(ResetReason),
    /// The tunnel dropped; the stream could not be told anything (`ws_broken`).
    TunnelLost,
}

impl CloseReason {
    /// Short word for logs.
    pub fn as_str(&self) -> &str {
        match self {
            CloseReason::Completed => "completed",
            CloseReason::PeerReset(r) | CloseReason::LocalReset(r) => r.as_str(),
            CloseReason::TunnelLost => "ws_broken",
        }
    }
}

/// State a stream shares with the session reader, the sweeper and the handle.
#[derive(Debug)]
pub(crate) struct StreamShared {
    pub(crate) key: StreamKey,
    pub(crate) connector: Arc<str>,
    cancel: CancellationToken,
    reason: Mutex<Option<CloseReason>>,
    /// Milliseconds since `clock` at the last byte either way.
    activity: AtomicU64,
    clock: Instant,
    pub(crate) send_credit: Option<SendCredit>,
    pub(crate) recv_window: Option<Mutex<RecvWindow>>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// Frames waiting in the inbound queue (the queue gauge on V1).
    queued: AtomicUsize,
    /// V2: bytes per queue slot (`window / queue_depth`) for the queue gauge; `None` on V1.
    slot_bytes: Option<usize>,
    pub(crate) probe: Arc<dyn StreamObserver>,
}

impl StreamShared {
    pub(crate) fn new(
        key: StreamKey,
        connector: Arc<str>,
        cancel: CancellationToken,
        clock: Instant,
        window: Option<u32>,
        queue_depth: usize,
        probe: Arc<dyn StreamObserver>,
    ) -> Self {
        let slot_bytes = window.map(|w| (w as usize / queue_depth.max(1)).max(1));
        let shared = Self {
            key,
            connector,
            cancel,
            reason: Mutex::new(None),
            activity: AtomicU64::new(0),
            clock,
            send_credit: window.map(SendCredit::new),
            recv_window: window.map(|w| Mutex::new(RecvWindow::new(w))),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            slot_bytes,
            probe,
        };
        shared.touch();
        shared
    }

    /// Ends the stream with `reason` unless it already has one. Returns whether this call won.
    pub(crate) fn abort(&self, reason: CloseReason) -> bool {
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        let won = slot.is_none();
        if won {
            *slot = Some(reason);
        }
        drop(slot);
        self.cancel.cancel();
        won
    }

    /// Resets the stream from this side: ends it and tells the peer, once.
    pub(crate) fn reset(&self, reason: ResetReason, control: &mpsc::UnboundedSender<Outbound>) {
        if self.abort(CloseReason::LocalReset(reason.clone())) {
            self.probe.rst_sent(&reason);
            let _ = control.send(Outbound::Rst {
                key: self.key.clone(),
                reason,
            });
        }
    }

    /// Adjusts the inbound-queue count (+1 before a push, -1 after a pop or a failed push).
    pub(crate) fn queued_add(&self, delta: isize) {
        let d = delta.unsigned_abs();
        let now = if delta >= 0 {
            self.queued.fetch_add(d, Ordering::Relaxed) + d
        } else {
            self.queued
                .fetch_sub(d, Ordering::Relaxed)
                .saturating_sub(d)
        };
        self.probe.queue_len(now);
    }

    /// Queue slots in use (the queue gauge). V1: frames waiting in the inbound queue. V2:
    /// bytes received and not yet written to the local socket (queued or being written), in
    /// slots of `window / queue_depth` bytes, so a stalled local reader shows between 75%
    /// (credit granted back in quarter-window steps) and 100% of `queue_depth`.
    pub(crate) fn queue_len(&self) -> usize {
        match (&self.recv_window, self.slot_bytes) {
            (Some(window), Some(unit)) => {
                let buffered = window.lock().unwrap_or_else(|p| p.into_inner()).buffered();
                usize::try_from(buffered)
                    .unwrap_or(usize::MAX)
                    .div_ceil(unit)
            }
            _ => self.queued.load(Ordering::Relaxed),
        }
    }

    fn reason(&self) -> CloseReason {
        let slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        slot.clone().unwrap_or(CloseReason::Completed)
    }

    fn touch(&self) {
        let ms = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(ms, Ordering::Relaxed);
    }

    /// How long no byte moved either way.
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        let now = self.clock.elapsed();
        let last = std::time::Duration::from_millis(self.activity.load(Ordering::Relaxed));
        now.saturating_sub(last)
    }
}

/// The receiving end of a stream's inbound queue.
#[derive(Debug)]
pub(crate) enum InboundRx {
    Bounded(mpsc::Receiver<Delivery>),
    Credited(mpsc::UnboundedReceiver<Delivery>),
}

impl InboundRx {
    async fn recv(&mut self) -> Option<Delivery> {
        match self {
            InboundRx::Bounded(rx) => rx.recv().await,
            InboundRx::Credited(rx) => rx.recv().await,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            InboundRx::Bounded(rx) => rx.is_empty(),
            InboundRx::Credited(rx) => rx.is_empty(),
        }
    }
}

/// Everything a stream task needs besides its socket.
#[derive(Debug, Clone)]
pub(crate) struct StreamCtx {
    pub(crate) shared: Arc<StreamShared>,
    pub(crate) control: mpsc::UnboundedSender<Outbound>,
    pub(crate) data: mpsc::Sender<Outbound>,
    pub(crate) table: Arc<StreamTable>,
    pub(crate) max_payload: usize,
    /// Direction of what this side reads locally (`c2a` on the hub, `a2c` on the agent).
    pub(crate) up_dir: Direction,
    pub(crate) peer: Arc<str>,
    /// The stream's span when it is sampled: only then does each DATA frame get a `frame` child
    /// span, so an unsampled stream pays one `None` check per frame (SPEC §6.2).
    pub(crate) frames: Option<tracing::Span>,
    /// On streams this side opened: fires once the OPEN is in a message; nothing of the stream
    /// is sent before (see [`OpenWritten`](crate::codec::OpenWritten)).
    pub(crate) opened: Option<crate::codec::OpenWritten>,
}

impl StreamCtx {
    /// Resolves when the stream is cancelled (reset, idle, tunnel lost).
    pub(crate) async fn shared_cancelled(&self) {
        self.shared.cancel.cancelled().await;
    }

    /// Sets the stream's span: decided once per stream whether DATA frames get child spans.
    /// Call after the span's parent is final (the agent's remote parent decides sampling).
    pub(crate) fn trace_frames(&mut self, span: &tracing::Span) {
        self.frames = nowconnect_telemetry::trace_context::is_sampled(span).then(|| span.clone());
    }

    /// A `frame` span for one DATA frame, only on a sampled stream.
    fn frame_span(&self, dir: Direction, seq: u64, bytes: usize) -> Option<tracing::Span> {
        // Signed: the OTel layer exports u64 fields as strings, i64 as integers.
        self.frames.as_ref().map(|stream| {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            tracing::info_span!(parent: stream, "frame", dir = dir.as_str(), seq, bytes)
        })
    }

    /// Resets the stream from this side: tells the peer (once) and cancels the local pumps.
    pub(crate) fn reset_local(&self, reason: ResetReason) {
        self.shared.reset(reason, &self.control);
    }
}

/// Relays until both directions finished or the stream is cancelled; then unregisters it and
/// logs `stream_close`.
pub(crate) async fn relay<R, W>(
    ctx: StreamCtx,
    inbound: InboundRx,
    reader: R,
    writer: W,
) -> CloseReason
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let started = Instant::now();
    tokio::select! {
        _ = ctx.shared.cancel.cancelled() => {}
        _ = async { tokio::join!(pump_up(&ctx, reader), pump_down(&ctx, inbound, writer)) } => {}
    }
    ctx.table.remove(&ctx.shared.key);
    let reason = ctx.shared.reason();
    ctx.shared.probe.closed(&reason, started.elapsed());
    let (up, down) = (
        ctx.shared.bytes_up.load(Ordering::Relaxed),
        ctx.shared.bytes_down.load(Ordering::Relaxed),
    );
    let (bytes_c2a, bytes_a2c) = match ctx.up_dir {
        Direction::C2a => (up, down),
        Direction::A2c => (down, up),
    };
    tracing::info!(
        event = "stream_close",
        cid = %ctx.shared.key.cid,
        connector = %ctx.shared.connector,
        agent_id = %ctx.peer,
        bytes_c2a,
        bytes_a2c,
        duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        reason = reason.as_str(),
    );
    reason
}

async fn pump_up<R: AsyncRead + Unpin>(ctx: &StreamCtx, mut reader: R) {
    let shared = &ctx.shared;
    if let Some(opened) = &ctx.opened {
        opened.wait().await;
    }
    let mut buf = BytesMut::new();
    let mut seq = 0u64;
    loop {
        let max = match &shared.send_credit {
            Some(credit) => credit.wait(ctx.max_payload).await,
            None => ctx.max_payload,
        };
        buf.reserve(max);
        let n = match reader.read_buf(&mut (&mut buf).limit(max)).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(cid = %shared.key.cid, error = %e, "local read failed");
                ctx.reset_local(ResetReason::PeerReset);
                return;
            }
        };
        if n == 0 {
            let fin = Outbound::Fin {
                key: shared.key.clone(),
                dir: ctx.up_dir,
            };
            if ctx.data.send(fin).await.is_ok() {
                shared.probe.fin_sent();
            }
            return;
        }
        if let Some(credit) = &shared.send_credit {
            credit.spend(n);
        }
        shared.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
        shared.probe.bytes(ctx.up_dir, n);
        shared.touch();
        let payload = buf.split_to(n).freeze();
        let _frame = ctx.frame_span(ctx.up_dir, seq, n);
        let data = Outbound::Data {
            key: shared.key.clone(),
            seq,
            payload,
        };
        if ctx.data.send(data).await.is_err() {
            return; // the session is gone; it cancels every stream
        }
        seq = seq.wrapping_add(1);
    }
}

async fn pump_down<W: AsyncWrite + Unpin>(ctx: &StreamCtx, mut inbound: InboundRx, writer: W) {
    let shared = &ctx.shared;
    let down_dir = match ctx.up_dir {
        Direction::C2a => Direction::A2c,
        Direction::A2c => Direction::C2a,
    };
    // `write_buffered` relies on the capacity being `DRAIN_AT`.
    let mut out = BufWriter::with_capacity(DRAIN_AT, writer);
    let mut undrained = 0usize;
    let mut seq = 0u64;
    while let Some(item) = inbound.recv().await {
        shared.queued_add(-1);
        let result = match item {
            Delivery::Data(bytes) => {
                let _frame = ctx.frame_span(down_dir, seq, bytes.len());
                seq = seq.wrapping_add(1);
                let written = write_buffered(ctx, &mut out, &mut undrained, &bytes).await;
                shared
                    .bytes_down
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                shared.probe.bytes(down_dir, bytes.len());
                shared.touch();
                if written.is_ok() && (inbound.is_empty() || undrained >= DRAIN_AT) {
                    drain(ctx, &mut out, &mut undrained).await
                } else {
                    written
                }
            }
            Delivery::Fin => match drain(ctx, &mut out, &mut undrained).await {
                Ok(()) => match out.shutdown().await {
                    Ok(()) => return,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::debug!(cid = %shared.key.cid, error = %e, "local write failed");
            shared.probe.local_write_failed();
            ctx.reset_local(ResetReason::PeerReset);
            return;
        }
    }
}

/// Copies `bytes` into the write buffer, draining first whenever the next piece would not fit,
/// so that the `write` phase is only ever a copy and every wait on the kernel (a slow peer)
/// is timed as `drain` (SPEC §3). Left to itself, `BufWriter` would flush inside `write_all`.
async fn write_buffered<W: AsyncWrite + Unpin>(
    ctx: &StreamCtx,
    out: &mut BufWriter<W>,
    undrained: &mut usize,
    bytes: &[u8],
) -> std::io::Result<()> {
    // Pieces stay below the capacity: `BufWriter` writes a piece as large as its buffer
    // straight to the socket.
    for piece in bytes.chunks(DRAIN_AT / 2) {
        if out.buffer().len() + piece.len() > DRAIN_AT {
            drain(ctx, out, undrained).await?;
        }
        let started = Instant::now();
        let written = out.write_all(piece).await;
        ctx.shared
            .probe
            .write_phase(WritePhase::Write, started.elapsed());
        written?;
        *undrained += piece.len();
    }
    Ok(())
}

/// Flushes the buffered writer into the kernel and grants the drained bytes back (V2).
async fn drain<W: AsyncWrite + Unpin>(
    ctx: &StreamCtx,
    out: &mut BufWriter<W>,
    undrained: &mut usize,
) -> std::io::Result<()> {
    let started = Instant::now();
    let flushed = out.flush().await;
    ctx.shared
        .probe
        .write_phase(WritePhase::Drain, started.elapsed());
    flushed?;
    let n = std::mem::take(undrained);
    if let Some(window) = &ctx.shared.recv_window {
        let grant = window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .on_consumed(n);
        if let Some(bytes) = grant {
            let _ = ctx.control.send(Outbound::Credit {
                id: ctx.shared.key.id,
                bytes,
            });
        }
    }
    Ok(())
}
