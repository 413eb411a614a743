//! Serving an axum router on a bound socket, as plain HTTP or behind TLS (`wss://`).
//!
//! Both keep TCP_NODELAY on every accepted socket and stop accepting when `stop` fires. The TLS
//! path handshakes in the connection's own task (a slow or hostile client never blocks the
//! accept loop) under [`TLS_HANDSHAKE_TIMEOUT`]; a failed handshake is logged at debug
//! (`tls_handshake_failed`: scanners and agents with the wrong CA are common) and counted
//! nowhere else.

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client has to complete the TLS handshake.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open HTTPS connections get to finish after `stop` (tunnels end on their own token).
const TLS_DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `socket` until `stop` fires: plain HTTP, or TLS when `tls` is set.
pub(crate) fn spawn(
    socket: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: &CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    let stop = stop.clone();
    match tls {
        None => tokio::spawn(plain(socket, app, stop)),
        Some(cfg) => tokio::spawn(https(socket, app, TlsAcceptor::from(cfg), stop)),
    }
}

async fn plain(socket: TcpListener, app: Router, stop: CancellationToken) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // No Nagle on the tunnel: a small frame (an OPEN, a short LDAP answer) must not wait for
    // the ACK of the previous one (measured: ~45 ms stalls on 40% of stream set-ups).
    let socket = socket.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(socket, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

async fn https(
    socket: TcpListener,
    app: Router,
    acceptor: TlsAcceptor,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let conns = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = socket.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(event = "accept_failed", error = %e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        conns.spawn(connection(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            stop.clone(),
        ));
    }
    conns.close();
    let _ = tokio::time::timeout(TLS_DRAIN, conns.wait()).await;
    Ok(())
}

/// One HTTPS connection: handshake, then HTTP/1.1 with upgrades (the tunnel's WebSocket).
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    stop: CancellationToken,
) {
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(event = "tls_handshake_failed", %peer, error = %e);
            return;
        }
        Err(_) => {
            tracing::debug!(event = "tls_handshake_failed", %peer, error = "timed out");
            return;
        }
    };
    let service = TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(TLS_DRAIN, conn.as_mut()).await;
        }
    }
}
