//! A controllable TCP relay on loopback for fault injection: put it between the agent and the
//! hub (the agent's hub URL names the relay) or between the agent and a target (the agent's
//! target address is the relay), then switch its [`Mode`] while traffic flows.
//!
//! A mode applies at once to every current and future connection:
//! - [`Mode::Pass`]: forward both ways (EOF is forwarded as a half-close, a reset as a reset);
//! - [`Mode::Delay`]: hold each chunk for the given time before forwarding it, both ways;
//! - [`Mode::Blackhole`]: forward nothing either way and keep every socket open (no FIN, no
//!   RST); new connections are accepted and get nothing; a chunk in flight waits for the heal;
//! - [`Mode::Reset`]: reset (RST via `SO_LINGER` 0, `TcpStream::set_zero_linger`) both sockets of every connection, and every
//!   new connection right after its accept;
//! - [`Mode::Refuse`]: the listening port is closed (a connect is refused); connections already
//!   relayed carry on as in `Pass`. Leaving it binds the same port again.
//!
//! [`FaultRelay::heal`] goes back to `Pass`. A connection whose upstream cannot be reached is
//! reset, as a middlebox would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the relay does to traffic (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Delay(Duration),
    Blackhole,
    Reset,
    Refuse,
}

#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicUsize,
    active: AtomicUsize,
}

/// A running relay; stops accepting when dropped (connections it relays end with the runtime).
#[derive(Debug)]
pub struct FaultRelay {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Whether the listening port is open (false in `Refuse`, once it is closed).
    listening: watch::Receiver<bool>,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl FaultRelay {
    /// Listens on `127.0.0.1:0` and relays every connection to `upstream`, in `Pass`.
    pub async fn start(upstream: SocketAddr) -> FaultRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let (mode, rx) = watch::channel(Mode::Pass);
        let counts = Arc::new(Counts::default());
        let (open, listening) = watch::channel(true);
        let task = tokio::spawn(accept_loop(listener, upstream, rx, open, counts.clone()));
        FaultRelay {
            addr,
            mode,
            listening,
            counts,
            task,
        }
    }

    /// Where clients of the relay connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode at once (for `Refuse`, [`FaultRelay::refuse`] also waits until the
    /// port is closed).
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    pub fn pass(&self) {
        self.set(Mode::Pass);
    }

    pub fn delay(&self, per_chunk: Duration) {
        self.set(Mode::Delay(per_chunk));
    }

    pub fn blackhole(&self) {
        self.set(Mode::Blackhole);
    }

    pub fn reset(&self) {
        self.set(Mode::Reset);
    }

    /// Closes the listening port; returns once it is closed (a connect is then refused).
    pub async fn refuse(&self) {
        self.set(Mode::Refuse);
        let mut listening = self.listening.clone();
        listening
            .wait_for(|open| !*open)
            .await
            .expect("relay running");
    }

    /// Back to `Pass` (leaving `Refuse`, the port is bound again a moment later).
    pub fn heal(&self) {
        self.set(Mode::Pass);
    }

    /// Connections accepted since the start (including the ones then reset).
    pub fn accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections being relayed now (both sockets open).
    pub fn active(&self) -> usize {
        self.counts.active.load(Ordering::SeqCst)
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    mut listener: TcpListener,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    open: watch::Sender<bool>,
    counts: Arc<Counts>,
) {
    let addr = listener.local_addr().expect("relay addr");
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = mode.changed() => {
                if *mode.borrow_and_update() == Mode::Refuse {
                    drop(listener);
                    open.send_replace(false);
                    while *mode.borrow_and_update() == Mode::Refuse {
                        if mode.changed().await.is_err() {
                            return;
                        }
                    }
                    listener = rebind(addr).await;
                    open.send_replace(true);
                }
                continue;
            }
        };
        let Ok((client, _)) = accepted else { continue };
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        let (rx, counts) = (mode.clone(), counts.clone());
        tokio::spawn(relay(client, upstream, rx, counts));
    }
}

/// The port was ours a moment ago; binding it again can race a socket in TIME_WAIT only on
/// platforms without `SO_REUSEADDR` semantics, so retry briefly.
async fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("relay could not bind {addr} again");
}

/// Closes `socket` with an RST instead of a FIN.
fn rst(socket: &TcpStream) {
    let _ = socket.set_zero_linger();
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    counts: Arc<Counts>,
) {
    // A new connection gets nothing while the path is a black hole; it is reset in `Reset`.
    loop {
        match *mode.borrow_and_update() {
            Mode::Reset => return rst(&client),
            Mode::Blackhole => {}
            _ => break,
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return rst(&client);
    };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    counts.active.fetch_add(1, Ordering::SeqCst);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let aborted = {
        let up = pump(&mut cr, &mut sw, mode.clone());
        let down = pump(&mut sr, &mut cw, mode);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                end = &mut up, if !up_done => { up_done = true; end }
                end = &mut down, if !down_done => { down_done = true; end }
            };
            if end == End::Abort {
                break true;
            }
            if up_done && down_done {
                break false;
            }
        }
    };
    // Reunited, so that no half's drop sends a FIN ahead of the RST.
    let (client, server) = (cr.reunite(cw), sr.reunite(sw));
    if aborted {
        for socket in [client, server].into_iter().flatten() {
            rst(&socket);
        }
    }
    counts.active.fetch_sub(1, Ordering::SeqCst);
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// EOF forwarded as a half-close.
    Eof,
    /// A reset (read or write failed, or `Mode::Reset`): both sockets get an RST.
    Abort,
}

/// Forwards one direction, obeying the mode before every read and every write.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) -> End {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_open(&mut mode).await {
            return End::Abort;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(n) => n,
                Err(_) => return End::Abort,
            },
            _ = mode.changed() => continue,
        };
        if n == 0 {
            let _ = to.shutdown().await;
            return End::Eof;
        }
        let delay = match *mode.borrow() {
            Mode::Delay(d) => Some(d),
            _ => None,
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if !wait_open(&mut mode).await {
            return End::Abort;
        }
        let written = tokio::select! {
            written = to.write_all(&buf[..n]) => written.is_ok(),
            _ = until(&mut mode, Mode::Reset) => false,
        };
        if !written {
            return End::Abort;
        }
    }
}

/// Waits while the mode is `Blackhole`; false when it is (or becomes) `Reset`.
async fn wait_open(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Reset => return false,
            Mode::Blackhole => {}
            _ => return true,
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// Resolves once the mode is `want`.
async fn until(mode: &mut watch::Receiver<Mode>, want: Mode) {
    loop {
        if *mode.borrow_and_update() == want {
            return;
        }
        if mode.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
