//! Dial the hub: read the token file, open the stream (direct or through the proxy, TLS for
//! `wss://`, see `transport`), upgrade with `Authorization: Bearer`, HELLO, HELLO_ACK.

use crate::config::AgentConfig;
use crate::transport::{self, HubAddr, Io, TransportError};
use futures_util::{SinkExt, StreamExt};
use nowconnect_protocol::hello::{self, Hello, Negotiated};
use nowconnect_protocol::v1;
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The agent's tunnel socket.
pub(crate) type Tunnel = WebSocketStream<Box<dyn Io>>;

/// An acknowledged tunnel and what the agent needs to keep it.
pub(crate) struct Connected {
    pub(crate) ws: Tunnel,
    pub(crate) negotiated: Negotiated,
    /// The presented token's `exp` (unix seconds), when it has one: rotation is due before.
    pub(crate) token_exp: Option<u64>,
}

/// How long the hub has to answer the upgrade and the HELLO.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection attempt failed. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("read token file {path}: {reason}")]
    Token { path: String, reason: String },
    #[error("hub refused the upgrade with HTTP {status}{}", if *.status == 401 { " (token rejected: check the key, aud, exp and agent_id)" } else { "" })]
    Http { status: u16 },
    #[error("connect {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{} {url}: {source}", if *.via_proxy { "connect (via proxy)" } else { "connect" })]
    Stream {
        url: String,
        via_proxy: bool,
        source: TransportError,
    },
    #[error("hub closed the tunnel during the handshake: {code} {reason}")]
    Refused { code: u16, reason: String },
    #[error("handshake: {0}")]
    Handshake(String),
}

impl ConnectError {
    /// Short word for the reconnect reason.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ConnectError::Token { .. } => "token_unreadable",
            ConnectError::Http { status: 401 } => "unauthorized",
            ConnectError::Http { .. } => "http_error",
            ConnectError::Transport { .. } => "connect_failed",
            ConnectError::Stream { source, .. } => source.reason(),
            ConnectError::Refused { .. } => "refused",
            ConnectError::Handshake(_) => "handshake_failed",
        }
    }
}

/// Opens one tunnel and completes the HELLO handshake.
pub(crate) async fn connect(cfg: &AgentConfig) -> Result<Connected, ConnectError> {
    let token = read_token(&cfg.tunnel.token_file)?;
    let token_exp = crate::rotation::token_exp(&token);
    let url = cfg.tunnel.url.clone();
    let transport = |reason: String| ConnectError::Transport {
        url: url.clone(),
        reason,
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| transport(e.to_string()))?;
    let bearer =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ConnectError::Token {
            path: cfg.tunnel.token_file.display().to_string(),
            reason: "not a valid header value".into(),
        })?;
    request.headers_mut().insert("authorization", bearer);
    let hub =
        HubAddr::from_url(&url).ok_or_else(|| transport("not a ws:// or wss:// URL".into()))?;
    let stream_err = |via_proxy: bool| {
        let url = url.clone();
        move |source| ConnectError::Stream {
            url,
            via_proxy,
            source,
        }
    };
    let via = transport::route(cfg, &hub).map_err(stream_err(true))?;
    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, transport::open(cfg, &hub, via.as_ref()))
        .await
        .map_err(|_| transport("timed out".into()))?
        .map_err(stream_err(via.is_some()))?;
    let dial = tokio_tungstenite::client_async_with_config(
        request,
        opened,
        Some(nowconnect_mux::ws_config()),
    );
    let (mut ws, _) = match tokio::time::timeout(HANDSHAKE_TIMEOUT, dial).await {
        Err(_) => return Err(transport("timed out".into())),
        Ok(Err(WsError::Http(res))) => {
            return Err(ConnectError::Http {
                status: res.status().as_u16(),
            });
        }
        Ok(Err(e)) => return Err(transport(e.to_string())),
        Ok(Ok(pair)) => pair,
    };
    let offer = cfg.tunnel.v2.then_some(cfg.tunnel.v2_max_frame);
    let hello = Hello::new(
        cfg.tunnel.agent_id.clone(),
        cfg.tunnel.connectors.clone(),
        offer,
    );
    let text = v1::encode(&v1::Message::Hello(hello));
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| transport(e.to_string()))?;
    let ack = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_ack(&mut ws))
        .await
        .map_err(|_| ConnectError::Handshake("no HELLO_ACK in time".into()))??;
    Ok(Connected {
        ws,
        negotiated: hello::agent_outcome(&ack, offer),
        token_exp,
    })
}

async fn read_ack(ws: &mut Tunnel) -> Result<hello::HelloAck, ConnectError> {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(text)) => {
                return match v1::decode(text.as_str()) {
                    Ok(v1::Message::HelloAck(ack)) => Ok(ack),
                    Ok(_) => Err(ConnectError::Handshake("expected HELLO_ACK".into())),
                    Err(e) => Err(ConnectError::Handshake(format!("bad HELLO_ACK: {e}"))),
                };
            }
            Ok(Message::Close(frame)) => {
                return Err(ConnectError::Refused {
                    code: frame.as_ref().map_or(1005, |f| u16::from(f.code)),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                });
            }
            Ok(_) => continue,
            Err(e) => return Err(ConnectError::Handshake(e.to_string())),
        }
    }
    Err(ConnectError::Handshake(
        "connection closed before HELLO_ACK".into(),
    ))
}

/// Re-read at every connect, so a rotated token is picked up without a restart.
pub(crate) fn read_token(path: &std::path::Path) -> Result<String, ConnectError> {
    let err = |reason: String| ConnectError::Token {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(err("empty".into()));
    }
    Ok(token.to_owned())
}
