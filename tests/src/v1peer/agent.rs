//! The old (V1-only) agent: HELLO without capabilities, then OPENs served by dialing targets.

use super::STEP_TIMEOUT;
use super::observed::{Log, Observed, note, violation};
use super::tunnel::{Side, Tunnel};
use crate::{lock, rawws};
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An old (V1-only) agent: HELLO without capabilities, then serves OPENs by dialing `targets`.
/// One tunnel, no reconnects; dropping it closes the tunnel.
#[derive(Debug)]
pub struct V1Agent {
    /// The hub's HELLO_ACK as received.
    pub hello_ack: Value,
    log: Log,
    cancel: CancellationToken,
}

impl V1Agent {
    /// Connects to `url` with `Authorization: Bearer <token>`, sends
    /// `{"t":"HELLO","agent_id":..,"connectors":[..],"ver":"1","tenant":"legacy"}` (the extra
    /// field on purpose) and waits for HELLO_ACK. Panics if the hub refuses.
    pub async fn start(
        url: &str,
        token: &str,
        agent_id: &str,
        targets: &[(&str, SocketAddr)],
    ) -> V1Agent {
        let mut ws = rawws::dial(url, token, STEP_TIMEOUT).await;
        let connectors: Vec<&str> = targets.iter().map(|(c, _)| *c).collect();
        let hello = json!({
            "t": "HELLO",
            "agent_id": agent_id,
            "connectors": connectors,
            "ver": "1",
            "tenant": "legacy",
        });
        ws.send(rawws::text(&hello)).await.expect("send HELLO");
        let hello_ack = rawws::next_json_within(&mut ws, "HELLO_ACK", STEP_TIMEOUT).await;
        assert_eq!(hello_ack["t"], "HELLO_ACK", "answer to HELLO: {hello_ack}");
        let log = Log::default();
        let cancel = CancellationToken::new();
        let targets = targets.iter().map(|(c, a)| ((*c).to_owned(), *a)).collect();
        Tunnel::spawn(ws, Side::Agent, targets, log.clone(), cancel.clone());
        V1Agent {
            hello_ack,
            log,
            cancel,
        }
    }

    /// A snapshot of what this agent saw.
    pub fn observed(&self) -> Observed {
        lock(&self.log).clone()
    }

    /// Whether the tunnel has ended (closed by either side).
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Closes the tunnel (code 1000) and resets nothing: streams simply end.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for V1Agent {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Tunnel {
    /// Agent: dial the connector's target and relay, or answer RST.
    pub(super) fn on_open(self: &Arc<Self>, cid: String, connector: String) {
        if Uuid::parse_str(&cid).is_err() {
            violation(&self.log, format!("OPEN cid {cid:?} is not a UUID"));
        }
        note(&self.log, |o| {
            o.opens.push((cid.clone(), connector.clone()))
        });
        let Some(&target) = self.targets.get(&connector) else {
            self.send(&json!({"t": "RST", "cid": cid, "err": "unknown_connector"}));
            return;
        };
        let Some((rx, cancel)) = self.register(&cid) else {
            return;
        };
        let tunnel = self.clone();
        tokio::spawn(async move {
            let dialed = tokio::select! {
                _ = cancel.cancelled() => return,
                dialed = tokio::time::timeout(STEP_TIMEOUT, TcpStream::connect(target)) => dialed,
            };
            match dialed {
                Ok(Ok(socket)) => tunnel.relay(cid, socket, rx, cancel).await,
                _ => {
                    tunnel.remove(&cid);
                    tunnel.send(&json!({"t": "RST", "cid": cid, "err": "connect_failed"}));
                }
            }
        });
    }
}
