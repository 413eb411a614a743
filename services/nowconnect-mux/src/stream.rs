//! One stream: a relay between a local socket and the tunnel, with half-close.
//!
//! The upstream pump reads the local socket and queues DATA (waiting for V2 credit first, so a
//! stream without credit stops reading its socket and nothing else); local EOF sends FIN. The
//! downstream pump writes what the peer sent into a write buffer ("write") and writes that into
//! the kernel ("drain") when its queue runs empty or enough bytes wait (a frame with nothing
//! queued behind it goes to the socket directly, without a copy); in V2 every drained byte
//! is granted back as credit. A peer FIN shuts down the local write side. Either pump failing, an
//! RST from the peer, the idle sweeper or the tunnel dropping cancels the stream at once.

use crate::codec::{Outbound, StreamKey};
use crate::credit::SendCredit;
use crate::observe::{StreamObserver, WritePhase};
use crate::table::{Delivery, StreamTable};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use nowconnect_protocol::credit::RecvWindow;
use nowconnect_protocol::{Direction, ResetReason};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes the downstream pump lets wait in its buffer before draining anyway.
const DRAIN_AT: usize = 64 * 1024;
/// The upstream pump's first read size, and its size again after a short read. It doubles
/// after every read that filled it, up to the frame size: small messages get small buffers,
/// bulk gets whole frames.
const MIN_READ: usize = 4 * 1024;

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
    /// Milliseconds since `clock` when the downstream pump last took an item from the inbound
    /// queue (or the stream started): how long a full V1 queue has not moved.
    taken: AtomicU64,
    clock: Instant,
    pub(crate) send_credit: Option<SendCredit>,
    pub(crate) recv_window: Option<Mutex<RecvWindow>>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// Frames waiting in the inbound queue (the queue gauge on V1).
    queued: AtomicUsize,
    /// V2: bytes per queue slot (`window / queue_depth`) for the queue gauge; `None` on V1.
    slot_bytes: Option<usize>,
    /// The downstream pump is waiting for the local peer to take bytes (the kernel's buffer
    /// toward it is full): what arrives for this stream now will wait, so the session reader
    /// copies it out of the shared WebSocket read buffer (see [`StreamShared::own_payload`]).
    peer_stalled: AtomicBool,
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
            taken: AtomicU64::new(0),
            clock,
            send_credit: window.map(SendCredit::new),
            recv_window: window.map(|w| Mutex::new(RecvWindow::new(w))),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            slot_bytes,
            peer_stalled: AtomicBool::new(false),
            probe,
        };
        shared.touch();
        shared.taken.store(shared.now_ms(), Ordering::Relaxed);
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

    /// A received payload as this stream should hold it. Payloads are zero-copy slices of
    /// the WebSocket read buffer, which also holds other streams' frames; one queued behind a
    /// stalled local peer may wait indefinitely and would keep that whole buffer alive, so it
    /// gets an allocation of its own. Streams whose peer keeps up pay no copy, and neither
    /// does V1 (its payloads are decoded from base64 into their own buffers).
    pub(crate) fn own_payload(&self, payload: Bytes) -> Bytes {
        if self.recv_window.is_some() && self.peer_stalled.load(Ordering::Relaxed) {
            Bytes::copy_from_slice(&payload)
        } else {
            payload
        }
    }

    fn reason(&self) -> CloseReason {
        let slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        slot.clone().unwrap_or(CloseReason::Completed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.activity.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long the session reader may wait on this stream's full V1 queue: `max`, unless
    /// the stream has taken nothing from it for twice that already — its local peer stopped
    /// reading and it has had its chance — then not at all. However many streams are stuck,
    /// the tunnel stalls for about two `max` in all rather than one `max` per stream, while a
    /// stream that is merely slow keeps the full wait on every push.
    pub(crate) fn queue_wait(&self, max: std::time::Duration) -> std::time::Duration {
        let since = self
            .now_ms()
            .saturating_sub(self.taken.load(Ordering::Relaxed));
        if std::time::Duration::from_millis(since) >= 2 * max {
            std::time::Duration::ZERO
        } else {
            max
        }
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
    Credited(crate::inbox::InboxRx),
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
///
/// A stream that did not complete (reset by either side, its tunnel lost, reaped idle) closes
/// its socket with a TCP RST, never a FIN: a client must not mistake a cut transfer for a
/// complete one. The halves are borrowed, so nothing sends a FIN on their drop.
pub(crate) async fn relay(
    ctx: StreamCtx,
    inbound: InboundRx,
    mut socket: TcpStream,
) -> CloseReason {
    let started = Instant::now();
    let cancelled = {
        let (reader, writer) = socket.split();
        tokio::select! {
            _ = ctx.shared.cancel.cancelled() => true,
            _ = async { tokio::join!(pump_up(&ctx, reader.as_ref()), pump_down(&ctx, inbound, writer)) } => false,
        }
    };
    if cancelled {
        // Cancelled without a reason of its own: the session's token fired (the tunnel ended or
        // shut down) before the session got to abort this stream. That is a lost stream, not a
        // completed one; a reason already set wins.
        ctx.shared.abort(CloseReason::TunnelLost);
    }
    ctx.table.remove(&ctx.shared.key);
    let reason = ctx.shared.reason();
    if !matches!(reason, CloseReason::Completed) {
        // SO_LINGER 0: the close below sends RST and drops what is unsent.
        let _ = socket.set_zero_linger();
    }
    drop(socket);
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

/// Reads the local socket into DATA frames. A buffer exists only from the moment the socket is
/// readable until the bytes are read (then it is the frame's payload), so an idle stream holds
/// no read buffer.
async fn pump_up(ctx: &StreamCtx, reader: &TcpStream) {
    let shared = &ctx.shared;
    if let Some(opened) = &ctx.opened {
        opened.wait().await;
    }
    let mut want = MIN_READ.min(ctx.max_payload);
    let mut seq = 0u64;
    loop {
        let max = match &shared.send_credit {
            Some(credit) => match credit.available(ctx.max_payload) {
                Some(max) => max,
                None => match wait_for_credit(ctx, credit, reader).await {
                    Some(max) => max,
                    None => return,
                },
            },
            None => ctx.max_payload,
        };
        let read = match reader.readable().await {
            Ok(()) => {
                let cap = want.min(max).max(1);
                let mut buf = BytesMut::with_capacity(cap);
                reader
                    .try_read_buf(&mut (&mut buf).limit(cap))
                    .map(|n| (n, cap, buf))
            }
            Err(e) => Err(e),
        };
        let (n, cap, buf) = match read {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                // Why a stream was cut is what an operator asks first; one line per stream.
                tracing::info!(event = "local_read_failed", cid = %shared.key.cid, error = %e);
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
        want = if n == cap {
            (cap * 2).min(ctx.max_payload)
        } else {
            MIN_READ.min(ctx.max_payload)
        };
        if let Some(credit) = &shared.send_credit {
            credit.spend(n);
        }
        shared.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
        shared.probe.bytes(ctx.up_dir, n);
        shared.touch();
        let payload = buf.freeze();
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

/// Waits for send credit, or for the socket to fail meanwhile: the stream does not read its
/// socket while it has no credit, so a reset (the client or target gave up) is only seen as
/// error readiness; without this the stream would be held until the idle timeout. `None`: the
/// socket failed and the stream was reset.
async fn wait_for_credit(
    ctx: &StreamCtx,
    credit: &SendCredit,
    reader: &TcpStream,
) -> Option<usize> {
    tokio::select! {
        biased;
        max = credit.wait(ctx.max_payload) => Some(max),
        _ = reader.ready(Interest::ERROR) => {
            let error = match reader.take_error() {
                Ok(Some(e)) => e.to_string(),
                Ok(None) => "socket error".to_owned(),
                Err(e) => e.to_string(),
            };
            tracing::info!(
                event = "local_read_failed",
                cid = %ctx.shared.key.cid,
                error = %error,
                waiting_for_credit = true
            );
            ctx.reset_local(ResetReason::PeerReset);
            None
        }
    }
}

async fn pump_down<W: AsyncWrite + Unpin>(ctx: &StreamCtx, mut inbound: InboundRx, writer: W) {
    let shared = &ctx.shared;
    let down_dir = match ctx.up_dir {
        Direction::C2a => Direction::A2c,
        Direction::A2c => Direction::C2a,
    };
    let mut out = Downstream {
        writer,
        buf: Vec::new(),
        undrained: 0,
    };
    let mut seq = 0u64;
    while let Some(item) = inbound.recv().await {
        shared.queued_add(-1);
        shared.taken.store(shared.now_ms(), Ordering::Relaxed);
        let result = match item {
            Delivery::Data(bytes) => {
                let _frame = ctx.frame_span(down_dir, seq, bytes.len());
                seq = seq.wrapping_add(1);
                let len = bytes.len();
                let written = if out.buf.is_empty() && inbound.is_empty() {
                    // Nothing buffered and nothing behind it: straight to the socket, no copy.
                    out.direct(ctx, bytes).await
                } else {
                    match out.write(ctx, &bytes).await {
                        Ok(()) if inbound.is_empty() || out.buf.len() >= DRAIN_AT => {
                            out.drain(ctx, inbound.is_empty()).await
                        }
                        other => other,
                    }
                };
                shared.bytes_down.fetch_add(len as u64, Ordering::Relaxed);
                shared.probe.bytes(down_dir, len);
                shared.touch();
                written
            }
            Delivery::Fin => match out.drain(ctx, true).await {
                Ok(()) => match out.writer.shutdown().await {
                    Ok(()) => return,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::info!(event = "local_write_failed", cid = %shared.key.cid, error = %e);
            shared.probe.local_write_failed();
            ctx.reset_local(ResetReason::PeerReset);
            return;
        }
    }
}

/// The downstream side's socket and write buffer. The buffer is allocated when frames queue up
/// behind each other and released once drained, so an idle stream holds none.
struct Downstream<W> {
    writer: W,
    buf: Vec<u8>,
    /// Bytes handed to the socket (buffered or written) but not yet granted back (V2).
    undrained: usize,
}

impl<W: AsyncWrite + Unpin> Downstream<W> {
    /// The `write` phase (SPEC §3): copies `bytes` into the buffer, draining first whenever
    /// it would grow past [`DRAIN_AT`], so that every wait on the kernel is timed as `drain`.
    async fn write(&mut self, ctx: &StreamCtx, bytes: &[u8]) -> std::io::Result<()> {
        if !self.buf.is_empty() && self.buf.len() + bytes.len() > DRAIN_AT {
            self.drain(ctx, false).await?;
        }
        let started = Instant::now();
        if self.buf.capacity() == 0 {
            // Room for a few such frames at once, so the buffer rarely grows by copying.
            self.buf
                .reserve((bytes.len() * 4).clamp(MIN_READ, DRAIN_AT));
        }
        self.buf.extend_from_slice(bytes);
        self.undrained += bytes.len();
        ctx.shared
            .probe
            .write_phase(WritePhase::Write, started.elapsed());
        Ok(())
    }

    /// One frame alone: handed over without a copy (a `write` phase of zero), written into
    /// the kernel as the `drain` phase, then granted back. What the kernel does not take at
    /// once is first copied into the stream's own buffer: a payload is a slice of a whole
    /// WebSocket read buffer shared with other streams' frames, and waiting on a stalled peer
    /// while holding it would keep that whole buffer alive — one per stuck stream.
    async fn direct(&mut self, ctx: &StreamCtx, bytes: Bytes) -> std::io::Result<()> {
        ctx.shared
            .probe
            .write_phase(WritePhase::Write, std::time::Duration::ZERO);
        self.undrained += bytes.len();
        let started = Instant::now();
        // Cancel-safe: a write that is not ready has written nothing.
        let written = match self.writer.write(&bytes).now_or_never() {
            Some(Ok(n)) if n == bytes.len() => Ok(()),
            Some(Err(e)) => Err(e),
            taken => {
                let taken = match taken {
                    Some(Ok(n)) => n,
                    _ => 0,
                };
                self.buf.extend_from_slice(&bytes[taken..]);
                drop(bytes);
                let written = stalled(&ctx.shared, self.writer.write_all(&self.buf)).await;
                self.buf = Vec::new();
                written
            }
        };
        ctx.shared
            .probe
            .write_phase(WritePhase::Drain, started.elapsed());
        written?;
        self.grant(ctx);
        Ok(())
    }

    /// The `drain` phase: writes the buffer into the kernel and grants the drained bytes back
    /// (V2). With `release` (nothing more queued) the buffer's memory is given back too.
    async fn drain(&mut self, ctx: &StreamCtx, release: bool) -> std::io::Result<()> {
        let started = Instant::now();
        let written = if self.buf.is_empty() {
            Ok(())
        } else {
            let mut write = std::pin::pin!(self.writer.write_all(&self.buf));
            match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
                Poll::Ready(written) => written,
                Poll::Pending => stalled(&ctx.shared, write).await,
            }
        };
        ctx.shared
            .probe
            .write_phase(WritePhase::Drain, started.elapsed());
        written?;
        if release {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.grant(ctx);
        Ok(())
    }

    fn grant(&mut self, ctx: &StreamCtx) {
        let n = std::mem::take(&mut self.undrained);
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
    }
}

/// Awaits a write the kernel could not take at once, with the stream marked as stalled on its
/// local peer meanwhile.
async fn stalled<F>(shared: &StreamShared, write: F) -> std::io::Result<()>
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    shared.peer_stalled.store(true, Ordering::Relaxed);
    let written = write.await;
    shared.peer_stalled.store(false, Ordering::Relaxed);
    written
}
