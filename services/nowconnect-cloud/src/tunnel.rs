//! `GET /tunnel`: authenticate, upgrade, HELLO, then run the agent's session until it ends.

use crate::hub::HubState;
use crate::metrics::TunnelRefusal;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use nowconnect_auth::AgentClaims;
use nowconnect_mux::{Role, Session, SessionConfig};
use nowconnect_protocol::hello::{self, HubV2, Negotiated};
use nowconnect_protocol::v1;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role as WsRole};

/// How long an agent has to send HELLO after the upgrade.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Verifies the bearer token (401 before any upgrade), then switches protocols.
pub(crate) async fn upgrade(State(state): State<Arc<HubState>>, mut req: Request) -> Response {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match state.verifier.verify_header(auth).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(event = "agent_auth_failed", reason = e.reason(), error = %e);
            state.metrics.tunnel_refused(TunnelRefusal::Unauthorized);
            let body = Json(serde_json::json!({"error": "unauthorized", "reason": e.reason()}));
            return (StatusCode::UNAUTHORIZED, body).into_response();
        }
    };
    let Some(accept) = websocket_accept(req.headers()) else {
        return (
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade (version 13)",
        )
            .into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let tunnels = state.tunnels.clone();
    tunnels.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let ws = WebSocketStream::from_raw_socket(
                    io,
                    WsRole::Server,
                    Some(nowconnect_mux::ws_config()),
                )
                .await;
                serve_agent(state, claims, ws).await;
            }
            Err(e) => {
                tracing::warn!(event = "upgrade_failed", agent_id = %claims.agent_id, error = %e)
            }
        }
    });
    let mut res = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(value) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
    }
    res
}

fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::SEC_WEBSOCKET_VERSION, "13") {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    Some(derive_accept_key(key.as_bytes()))
}

async fn serve_agent<S>(state: Arc<HubState>, claims: AgentClaims, mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let hello = match read_hello(&mut ws).await {
        Ok(hello) => hello,
        Err(reason) => {
            let why = TunnelRefusal::BadHello;
            return refuse(&state, ws, &claims.agent_id, why, reason.into()).await;
        }
    };
    if hello.agent_id != claims.agent_id {
        let reason = "HELLO agent_id does not match the token".into();
        let why = TunnelRefusal::AgentIdMismatch;
        return refuse(&state, ws, &claims.agent_id, why, reason).await;
    }
    if state.cfg.security.require_connector_scopes
        && let Some(denied) = crate::scopes::first_not_granted(&hello.connectors, &claims.scopes)
    {
        tracing::warn!(
            event = "connector_not_granted",
            agent_id = %claims.agent_id,
            connector = denied,
            announced = ?hello.connectors,
            granted = ?claims.scopes,
        );
        let reason = crate::scopes::close_reason(denied);
        let why = TunnelRefusal::ConnectorNotGranted;
        return refuse(&state, ws, &claims.agent_id, why, reason).await;
    }
    let cfg = &state.cfg;
    let hub_v2 = cfg.tunnel.v2.then(|| HubV2 {
        max_frame: cfg.tunnel.v2_max_frame,
        window: u32::try_from(
            cfg.limits
                .queue_depth_per_cid
                .saturating_mul(cfg.tunnel.max_ws_payload),
        )
        .unwrap_or(u32::MAX)
        .max(cfg.tunnel.v2_max_frame),
    });
    let (ack, negotiated) = hello::hub_answer(&hello, hub_v2);
    let ack = Message::Text(v1::encode(&v1::Message::HelloAck(ack)).into());
    let session_cfg = SessionConfig {
        role: Role::Hub,
        protocol: negotiated,
        max_ws_payload: cfg.tunnel.max_ws_payload,
        queue_depth: cfg.limits.queue_depth_per_cid,
        ping_interval: cfg.tunnel.ping_interval,
        ping_timeout: cfg.tunnel.ping_timeout,
        idle_timeout: cfg.limits.idle_timeout,
        max_streams: usize::MAX,
        peer: hello.agent_id.clone(),
        observer: state.metrics.observer(),
    };
    // Registered before the agent reads its HELLO_ACK (the session's first message).
    let (handle, task) =
        Session::spawn_greeting(ws, Some(ack), session_cfg, None, &state.sessions_stop);
    let (ticket, stale) =
        state
            .registry
            .register(&hello.agent_id, hello.connectors.clone(), handle);
    if let Some(stale) = stale {
        tracing::info!(event = "agent_replaced", agent_id = %hello.agent_id);
        stale.close(1000, "replaced by a newer session of this agent");
    }
    tracing::info!(
        event = "agent_connected",
        agent_id = %hello.agent_id,
        connectors = ?hello.connectors,
        protocol = match negotiated { Negotiated::V1 => "v1", Negotiated::V2 { .. } => "v2" },
    );
    let end = task
        .await
        .unwrap_or_else(|e| nowconnect_mux::SessionEnd::Broken(e.to_string()));
    state.registry.unregister(ticket);
    tracing::info!(event = "agent_disconnected", agent_id = %hello.agent_id, reason = end.as_str(), detail = ?end);
}

async fn read_hello<S>(ws: &mut WebSocketStream<S>) -> Result<hello::Hello, &'static str>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let first = tokio::time::timeout(HELLO_TIMEOUT, ws.next())
        .await
        .map_err(|_| "no HELLO in time")?;
    match first {
        Some(Ok(Message::Text(text))) => match v1::decode(text.as_str()) {
            Ok(v1::Message::Hello(hello)) => Ok(hello),
            Ok(_) => Err("first message must be HELLO"),
            Err(_) => Err("first message is not valid JSON HELLO"),
        },
        _ => Err("first message must be a HELLO text message"),
    }
}

/// Closes the handshake with 1008 and `reason` (at most 123 bytes: a close frame's limit).
async fn refuse<S>(
    state: &HubState,
    mut ws: WebSocketStream<S>,
    agent_id: &str,
    why: TunnelRefusal,
    reason: String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tracing::warn!(event = "hello_rejected", agent_id, cause = why.as_str(), reason = %reason);
    state.metrics.tunnel_refused(why);
    let frame = CloseFrame {
        code: CloseCode::Policy,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(Some(frame))).await;
}
