//! Raw WebSocket ends for hostile and interoperability tests: a fake agent dials the real hub,
//! a fake hub ([`RawHub`]) accepts the real agent, and the test writes and reads messages by
//! hand (V1 JSON as [`serde_json::Value`], V2 frames with [`crate::v2frames`]), never through
//! the product's codec.
//!
//! Reads skip pings and pongs and panic with the step's name when the expected message does not
//! come within the bound.

use crate::v2frames::{Frame, parse_frames};
use futures_util::StreamExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for anything that should happen "at once".
pub const PROMPT: Duration = Duration::from_secs(5);

/// A WebSocket this side dialed (a fake agent).
pub type ClientWs = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// A WebSocket this side accepted (a fake hub).
pub type ServerWs = WebSocketStream<TcpStream>;

/// One JSON object as a text message.
pub fn text(v: &Value) -> Message {
    Message::text(v.to_string())
}

/// Upgrades to `url` with `Authorization: Bearer <token>`; panics unless accepted within `within`.
pub async fn dial(url: &str, token: &str, within: Duration) -> ClientWs {
    let mut request = url.into_client_request().expect("tunnel URL");
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("token header");
    request.headers_mut().insert("authorization", bearer);
    let (ws, _) = tokio::time::timeout(within, tokio_tungstenite::connect_async(request))
        .await
        .expect("upgrade in time")
        .expect("the hub accepts the upgrade");
    ws
}

/// The next message that is not a ping or pong; `None` when the connection ended.
pub async fn next_msg<S>(ws: &mut WebSocketStream<S>, within: Duration) -> Option<Message>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(msg)) => return Some(msg),
                Some(Err(_)) | None => return None,
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("no message within {within:?}"))
}

/// The next message, which must be one JSON text object, within [`PROMPT`].
pub async fn next_json<S>(ws: &mut WebSocketStream<S>, what: &str) -> Value
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    next_json_within(ws, what, PROMPT).await
}

/// The next message, which must be one JSON text object, within `within`.
pub async fn next_json_within<S>(ws: &mut WebSocketStream<S>, what: &str, within: Duration) -> Value
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match next_msg(ws, within).await {
        Some(Message::Text(t)) => serde_json::from_str(t.as_str())
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {t}")),
        other => panic!("expected {what} as JSON text, got {other:?}"),
    }
}

/// The next binary message, parsed into V2 frames.
pub async fn next_frames<S>(ws: &mut WebSocketStream<S>, what: &str) -> Vec<Frame>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match next_msg(ws, PROMPT).await {
        Some(Message::Binary(b)) => parse_frames(&b),
        other => panic!("expected {what} as a binary message, got {other:?}"),
    }
}

/// How the other side ended the WebSocket.
#[derive(Debug)]
pub struct Closed {
    /// The close code; `None` for a close frame without one, or no close frame at all.
    pub code: Option<u16>,
    pub reason: String,
    /// Whether a close frame arrived at all (not just a dropped connection).
    pub frame: bool,
}

/// Reads until the other side closes; other messages are skipped.
pub async fn expect_close<S>(ws: &mut WebSocketStream<S>) -> Closed
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    return Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        frame: true,
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    return Closed {
                        code: None,
                        reason: String::new(),
                        frame: false,
                    };
                }
            }
        }
    };
    tokio::time::timeout(PROMPT, read)
        .await
        .expect("the peer closes the tunnel within 5 s")
}

/// Asserts a close frame with `code` and a non-empty reason.
pub fn assert_closed_with(closed: &Closed, code: u16, case: &str) {
    assert!(
        closed.frame,
        "{case}: the peer sends a close frame, not just a dropped connection: {closed:?}"
    );
    assert_eq!(
        closed.code,
        Some(code),
        "{case}: expected close code {code}, got {closed:?}"
    );
    assert!(
        !closed.reason.is_empty(),
        "{case}: the close frame carries a reason"
    );
}

/// A tiny fake hub: accepts WebSockets on 127.0.0.1:0 and hands each to the test.
#[derive(Debug)]
pub struct RawHub {
    pub addr: SocketAddr,
    conns: mpsc::UnboundedReceiver<ServerWs>,
}

impl RawHub {
    pub async fn start() -> RawHub {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake hub");
        let addr = listener.local_addr().expect("fake hub addr");
        let (tx, conns) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(socket).await {
                        let _ = tx.send(ws);
                    }
                });
            }
        });
        RawHub { addr, conns }
    }

    /// The `ws://…/tunnel` URL agents dial.
    pub fn url(&self) -> String {
        format!("ws://{}/tunnel", self.addr)
    }

    /// The next upgraded connection; panics if none comes within `within`.
    pub async fn accept(&mut self, within: Duration) -> ServerWs {
        tokio::time::timeout(within, self.conns.recv())
            .await
            .unwrap_or_else(|_| panic!("the agent (re)connects within {within:?}"))
            .expect("fake hub running")
    }
}
