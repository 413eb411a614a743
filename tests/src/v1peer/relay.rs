//! One stream's bytes between its local socket and the tunnel, both directions, half-close
//! included.

use super::MAX_WS_PAYLOAD;
use super::tunnel::{Inbound, Tunnel};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

impl Tunnel {
    /// Relays one stream until both sides sent FIN, either side failed, or it is cancelled
    /// (RST from the other side, or the tunnel went away).
    pub(super) async fn relay(
        &self,
        cid: String,
        socket: TcpStream,
        mut rx: mpsc::UnboundedReceiver<Inbound>,
        cancel: CancellationToken,
    ) {
        let _ = socket.set_nodelay(true);
        let (mut reader, mut writer) = socket.into_split();
        let reset = |err: &str| {
            if !cancel.is_cancelled() {
                self.send(&json!({"t": "RST", "cid": cid, "err": err}));
                cancel.cancel();
            }
        };
        let up = async {
            let mut buf = vec![0u8; MAX_WS_PAYLOAD];
            let mut seq = 0u64;
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) => {
                        self.send(&json!({"t": "FIN", "cid": cid, "dir": self.side.up_dir()}));
                        return;
                    }
                    Ok(n) => {
                        let b64 = STANDARD.encode(&buf[..n]);
                        self.send(&json!({"t": "DATA", "cid": cid, "seq": seq, "b64": b64}));
                        seq += 1;
                    }
                    Err(_) => return reset("peer_reset"),
                }
            }
        };
        let down = async {
            while let Some(item) = rx.recv().await {
                match item {
                    Inbound::Data(bytes) => {
                        if writer.write_all(&bytes).await.is_err() {
                            return reset("peer_reset");
                        }
                    }
                    Inbound::Fin => {
                        let _ = writer.shutdown().await;
                        return;
                    }
                }
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = async { tokio::join!(up, down) } => {}
        }
        self.remove(&cid);
    }
}
