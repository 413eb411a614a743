//! One tunnel: the reader loop, the writer task, keepalive and the idle sweeper.

use crate::codec::{Outbound, StreamKey};
use crate::config::{Role, SessionConfig};
use crate::stream::{CloseReason, InboundRx, StreamCtx, StreamShared};
use crate::table::{Entry, InboundTx, InsertError, StreamTable};
use crate::writer::{self, Close, Lanes};
use futures_util::future::BoxFuture;
use futures_util::{Sink, Stream, StreamExt};
use nowconnect_protocol::hello::Negotiated;
use nowconnect_protocol::{Direction, ResetReason};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod handle;
mod inbound;
mod liveness;

pub use handle::SessionHandle;
pub(crate) use liveness::Liveness;

/// Frames the data lane holds before stream pumps wait (shared by all streams of a tunnel).
const DATA_LANE: usize = 256;

/// How the agent reaches targets. Implemented by the agent; the hub passes none.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to the target of `connector` (with the agent's connect timeout).
    fn dial<'a>(&'a self, connector: &'a str) -> BoxFuture<'a, Result<TcpStream, DialError>>;
}

/// Why a target could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("connector {0:?} is not exported by this agent")]
    UnknownConnector(String),
    #[error("connect to {target} failed: {reason}")]
    Failed { target: String, reason: String },
}

/// Why [`SessionHandle::open_stream`] refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("the tunnel is closed")]
    Closed,
    #[error("the tunnel carries its maximum number of streams")]
    Full,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The peer closed the WebSocket (code and reason as sent).
    PeerClosed { code: u16, reason: String },
    /// This side closed it ([`SessionHandle::close`]).
    Closed { code: u16, reason: String },
    /// No pong (and nothing else) within the ping timeout.
    PingTimeout,
    /// The peer broke the protocol; the tunnel was closed with 1002.
    ProtocolError(String),
    /// The WebSocket failed or the connection dropped.
    Broken(String),
    /// The shutdown token fired.
    Shutdown,
}

impl SessionEnd {
    /// Short word for logs and the reconnect counter.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionEnd::PeerClosed { .. } => "peer_closed",
            SessionEnd::Closed { .. } => "closed",
            SessionEnd::PingTimeout => "ping_timeout",
            SessionEnd::ProtocolError(_) => "protocol_error",
            SessionEnd::Broken(_) => "ws_broken",
            SessionEnd::Shutdown => "shutdown",
        }
    }
}

pub(crate) struct Shared {
    pub(crate) cfg: SessionConfig,
    pub(crate) table: Arc<StreamTable>,
    pub(crate) control: mpsc::UnboundedSender<Outbound>,
    pub(crate) data: mpsc::Sender<Outbound>,
    close: watch::Sender<Option<Close>>,
    pub(crate) cancel: CancellationToken,
    liveness: Liveness,
    pub(crate) clock: Instant,
    pub(crate) dialer: Option<Arc<dyn Dialer>>,
    pub(crate) tasks: TaskTracker,
    pub(crate) peer: Arc<str>,
    /// Set by [`SessionHandle::stop_accepting`]: new OPENs are answered with RST `shutdown`.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// Entry point: see [`Session::spawn`].
#[derive(Debug)]
pub struct Session;

impl Session {
    /// Starts a session on an already negotiated WebSocket. The session ends when the peer
    /// closes or fails, when [`SessionHandle::close`] is called, or when `shutdown` fires; every
    /// stream still open is then reset at once.
    pub fn spawn<S>(
        ws: S,
        cfg: SessionConfig,
        dialer: Option<Arc<dyn Dialer>>,
        shutdown: &CancellationToken,
    ) -> (SessionHandle, JoinHandle<SessionEnd>)
    where
        S: Stream<Item = Result<Message, WsError>>
            + Sink<Message, Error = WsError>
            + Send
            + 'static,
    {
        Session::spawn_greeting(ws, None, cfg, dialer, shutdown)
    }

    /// [`Session::spawn`] that first sends `greeting` (the hub's HELLO_ACK). The hub can then
    /// make the session routable before the agent learns it is accepted: an agent that reports
    /// ready on the acknowledgement is never refused `no_agent` by a client racing it.
    pub fn spawn_greeting<S>(
        ws: S,
        greeting: Option<Message>,
        cfg: SessionConfig,
        dialer: Option<Arc<dyn Dialer>>,
        shutdown: &CancellationToken,
    ) -> (SessionHandle, JoinHandle<SessionEnd>)
    where
        S: Stream<Item = Result<Message, WsError>>
            + Sink<Message, Error = WsError>
            + Send
            + 'static,
    {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (data, data_rx) = mpsc::channel(DATA_LANE);
        let (close, close_rx) = watch::channel(None);
        let shared = Arc::new(Shared {
            peer: Arc::from(cfg.peer.as_str()),
            cfg,
            table: Arc::new(StreamTable::default()),
            control,
            data,
            close,
            cancel: shutdown.child_token(),
            liveness: Liveness::new(),
            clock: Instant::now(),
            dialer,
            tasks: TaskTracker::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        let lanes = Lanes {
            control: control_rx,
            data: data_rx,
            close: close_rx,
            greeting,
        };
        let handle = SessionHandle {
            shared: shared.clone(),
        };
        // The tunnel's span covers its lifetime and is never entered: instrumenting the reader
        // with it cost an enter/exit per WebSocket message (SPEC §6.2 asks for stream and frame
        // spans only). Streams are therefore trace roots unless the OPEN carries a parent.
        let span = nowconnect_telemetry::trace_context::sampled_or(
            tracing::info_span!("tunnel", agent_id = %shared.peer, end = tracing::field::Empty),
            || tracing::debug_span!("tunnel", agent_id = %shared.peer),
        );
        let task = tokio::spawn(async move {
            let end = run(shared, ws, lanes).await;
            span.record("end", end.as_str());
            end
        });
        (handle, task)
    }
}

async fn run<S>(shared: Arc<Shared>, ws: S, lanes: Lanes) -> SessionEnd
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + 'static,
{
    let (sink, mut source) = ws.split();
    let writer_cancel = CancellationToken::new();
    let writer = {
        let shared = shared.clone();
        let cancel = writer_cancel.clone();
        tokio::spawn(async move {
            let cfg = &shared.cfg;
            writer::run(
                sink,
                lanes,
                cfg.protocol,
                cfg.ping_interval,
                &shared.liveness,
                cancel,
            )
            .await
        })
    };
    let end = read_loop(&shared, &mut source).await;
    // Each stream gets its reason before the session's token cancels it.
    for stream in shared.table.all() {
        stream.abort(CloseReason::TunnelLost);
    }
    shared.cancel.cancel();
    shared.tasks.close();
    // Give the writer a moment to send a close frame, then stop it.
    let writer_done = tokio::time::timeout(Duration::from_secs(3), async {
        if !matches!(end, SessionEnd::Closed { .. }) {
            writer_cancel.cancel();
        }
        writer.await
    });
    let _ = writer_done.await;
    writer_cancel.cancel();
    shared.tasks.wait().await;
    end
}

async fn read_loop<S>(shared: &Arc<Shared>, source: &mut S) -> SessionEnd
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let cfg = &shared.cfg;
    let tick_every =
        (cfg.ping_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut close_rx = shared.close.subscribe();
    let mut closing: Option<(Instant, Close)> = None;
    loop {
        tokio::select! {
            biased;
            _ = shared.cancel.cancelled(), if closing.is_none() => return SessionEnd::Shutdown,
            _ = close_rx.changed(), if closing.is_none() => {
                if let Some(close) = close_rx.borrow().clone() {
                    closing = Some((Instant::now(), close));
                }
            }
            msg = source.next() => {
                let Some(msg) = msg else {
                    return ended(closing, &close_rx, SessionEnd::Broken("connection closed".into()));
                };
                let msg = match msg {
                    Ok(msg) => msg,
                    Err(e) => return ended(closing, &close_rx, SessionEnd::Broken(e.to_string())),
                };
                if let Some(end) = inbound::handle(shared, msg).await {
                    return ended(closing, &close_rx, end);
                }
            }
            _ = tick.tick() => {
                if let Some((since, close)) = &closing {
                    if since.elapsed() > Duration::from_secs(2) {
                        return SessionEnd::Closed { code: close.code, reason: close.reason.clone() };
                    }
                } else if shared.liveness.dead(cfg.ping_timeout) {
                    return SessionEnd::PingTimeout;
                }
                sweep_idle(shared);
            }
        }
    }
}

/// After this side asked to close, however the socket ends counts as our close. The request
/// is read again here because the peer's answer can arrive in the same poll that would have
/// noticed it.
fn ended(
    closing: Option<(Instant, Close)>,
    close_rx: &tokio::sync::watch::Receiver<Option<Close>>,
    end: SessionEnd,
) -> SessionEnd {
    // A protocol error requests its own close (code 1002); that one is not ours to report.
    let requested = match closing {
        Some((_, close)) => Some(close),
        None if matches!(end, SessionEnd::ProtocolError(_)) => None,
        None => close_rx.borrow().clone(),
    };
    match requested {
        Some(close) => SessionEnd::Closed {
            code: close.code,
            reason: close.reason,
        },
        None => end,
    }
}

fn sweep_idle(shared: &Shared) {
    for stream in shared.table.all() {
        if stream.idle_for() > shared.cfg.idle_timeout {
            tracing::info!(event = "stream_idle", cid = %stream.key.cid, connector = %stream.connector);
            stream.reset(ResetReason::IdleTimeout, &shared.control);
        }
    }
}

impl Shared {
    /// Registers a stream and returns its context and inbound queue.
    pub(crate) fn register(
        self: &Arc<Self>,
        key: StreamKey,
        connector: Arc<str>,
    ) -> Result<(StreamCtx, InboundRx), InsertError> {
        let window = match self.cfg.protocol {
            Negotiated::V1 => None,
            Negotiated::V2 { window, .. } => Some(window),
        };
        let (tx, rx) = match window {
            None => {
                let (tx, rx) = mpsc::channel(self.cfg.queue_depth.max(1));
                (InboundTx::Bounded(tx), InboundRx::Bounded(rx))
            }
            Some(_) => {
                let (tx, rx) = crate::inbox::inbox();
                (InboundTx::Credited(tx), InboundRx::Credited(rx))
            }
        };
        let cancel = self.cancel.child_token();
        let probe = self.cfg.observer.stream(&connector);
        let shared = Arc::new(StreamShared::new(
            key.clone(),
            connector,
            cancel,
            self.clock,
            window,
            self.cfg.queue_depth,
            probe,
        ));
        let max = match self.cfg.role {
            Role::Hub => usize::MAX,
            Role::Agent => self.cfg.max_streams,
        };
        self.table.insert(
            &key,
            Entry {
                shared: shared.clone(),
                tx,
            },
            max,
        )?;
        let ctx = StreamCtx {
            shared,
            control: self.control.clone(),
            data: self.data.clone(),
            table: self.table.clone(),
            max_payload: self.cfg.max_payload(),
            up_dir: match self.cfg.role {
                Role::Hub => Direction::C2a,
                Role::Agent => Direction::A2c,
            },
            peer: self.peer.clone(),
            frames: None,
            opened: None,
        };
        Ok((ctx, rx))
    }
}
