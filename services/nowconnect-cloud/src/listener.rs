//! One TCP listener per configured connector: accept, admit, hand over to the agent's tunnel.

use crate::allowlist::AllowList;
use crate::config::ListenerConfig;
use crate::hub::HubState;
use crate::metrics::{ListenerMetrics, PdpResult, Refusal};
use crate::pdp::Decision;
use nowconnect_mux::SessionHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
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
    let metrics = Arc::new(state.metrics.listener(&cfg.connector));
    let allow = AllowList::new(&state.cfg.security.allow_cidrs);
    tracing::info!(event = "listener_started", name = %cfg.name, connector = %cfg.connector, addr = ?addr);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                metrics.accepted();
                if !allow.permits(peer.ip()) {
                    // Dropping the socket closes it: nothing was read, nothing reaches an agent.
                    tracing::warn!(event = "cidr_blocked", connector = %cfg.connector, peer = %peer);
                    metrics.refused(Refusal::CidrBlocked);
                    continue;
                }
                admit(&state, &metrics, &cfg.connector, socket, peer, &stop);
            }
            Err(e) => {
                tracing::warn!(event = "accept_failed", connector = %cfg.connector, error = %e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!(event = "listener_stopped", name = %cfg.name, connector = %cfg.connector);
}

/// SPEC §2.3 step 1 after the CIDR check, in order: `max_conn_total`, an agent for the
/// connector, the PDP. Any refusal closes the client at once, counts it and sends nothing to
/// the agent. With a PDP the decision runs in its own task, so a slow PDP never holds up the
/// accept loop or other clients.
fn admit(
    state: &Arc<HubState>,
    metrics: &Arc<ListenerMetrics>,
    connector: &str,
    socket: TcpStream,
    peer: SocketAddr,
    stop: &CancellationToken,
) {
    let Ok(permit) = state.conn_permits.clone().try_acquire_owned() else {
        tracing::warn!(event = "max_conn_total", connector, peer = %peer, limit = state.cfg.limits.max_conn_total);
        return metrics.refused(Refusal::MaxConnTotal);
    };
    let Some(session) = state.registry.pick(connector) else {
        tracing::warn!(event = "no_agent_for_connector", connector, peer = %peer);
        return metrics.refused(Refusal::NoAgent);
    };
    if state.pdp.is_none() {
        return open(metrics, connector, session, socket, permit);
    }
    let (state, metrics, connector, stop) = (
        state.clone(),
        metrics.clone(),
        connector.to_owned(),
        stop.clone(),
    );
    tokio::spawn(async move {
        let Some(pdp) = &state.pdp else { return };
        let agent_id = session.peer().to_owned();
        let started = tokio::time::Instant::now();
        let decision = tokio::select! {
            // Shutting down: the client is dropped (closed) without a stream.
            _ = stop.cancelled() => return,
            decision = pdp.decide(&agent_id, &connector) => decision,
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (result, admitted) = match &decision {
            Decision::Allow { cached } => {
                tracing::info!(event = "pdp_decision", result = "allow", cached, %agent_id, %connector, peer = %peer, elapsed_ms);
                (PdpResult::Allow, true)
            }
            Decision::Deny => {
                tracing::warn!(event = "pdp_decision", result = "deny", %agent_id, %connector, peer = %peer, elapsed_ms);
                (PdpResult::Deny, false)
            }
            Decision::Error(e) => {
                let fail_open = pdp.fail_open();
                tracing::warn!(event = "pdp_decision", result = "error", fail_open, error_kind = e.kind(), error = %e, %agent_id, %connector, peer = %peer, elapsed_ms);
                (PdpResult::Error, fail_open)
            }
        };
        metrics.pdp_decision(result);
        if admitted {
            open(&metrics, &connector, session, socket, permit);
        } else {
            metrics.refused(Refusal::Pdp);
        }
    });
}

/// Sends OPEN and hands the client to the agent's session.
fn open(
    metrics: &ListenerMetrics,
    connector: &str,
    session: SessionHandle,
    socket: TcpStream,
    permit: OwnedSemaphorePermit,
) {
    let _ = socket.set_nodelay(true);
    if let Err(e) = session.open_stream(connector, socket, None, permit) {
        tracing::warn!(event = "stream_refused", connector, agent_id = %session.peer(), error = %e);
        metrics.refused(Refusal::SessionRefused);
    }
}
