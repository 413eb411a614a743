//! One TCP listener per configured connector: accept, admit, hand over to the agent's tunnel.

use crate::config::ListenerConfig;
use crate::hub::HubState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Accepts until `stop` fires. Accept errors (e.g. out of file descriptors) are logged and
/// retried after a short pause instead of ending the listener.
pub(crate) async fn serve(
    listener: TcpListener,
    cfg: ListenerConfig,
    state: Arc<HubState>,
    stop: CancellationToken,
) {
    let addr = listener.local_addr().ok();
    let metrics = state.metrics.listener(&cfg.connector);
    tracing::info!(event = "listener_started", name = %cfg.name, connector = %cfg.connector, addr = ?addr);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                metrics.accepted();
                if !admit(&state, &cfg.connector, socket, peer) {
                    metrics.session_error();
                }
            }
            Err(e) => {
                tracing::warn!(event = "accept_failed", connector = %cfg.connector, error = %e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!(event = "listener_stopped", name = %cfg.name, connector = %cfg.connector);
}

/// SPEC §2.3 step 1, in order; any refusal closes the client at once and sends nothing to the
/// agent. Returns whether a stream started (a refusal counts as a `session` listener error).
/// (The CIDR allowlist and the PDP come with the security work, before `max_conn_total`
/// and after the agent check respectively.)
fn admit(state: &HubState, connector: &str, socket: TcpStream, peer: SocketAddr) -> bool {
    let Ok(permit) = state.conn_permits.clone().try_acquire_owned() else {
        tracing::warn!(event = "max_conn_total", connector, peer = %peer, limit = state.cfg.limits.max_conn_total);
        return false;
    };
    let Some(session) = state.registry.pick(connector) else {
        tracing::warn!(event = "no_agent_for_connector", connector, peer = %peer);
        return false;
    };
    let _ = socket.set_nodelay(true);
    match session.open_stream(connector, socket, None, permit) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(event = "stream_refused", connector, agent_id = %session.peer(), error = %e);
            false
        }
    }
}
