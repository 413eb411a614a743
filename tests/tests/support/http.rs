//! Plain HTTP/1.1 GETs over a real socket, and polling `/readyz` until it answers a status.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a readiness flip may take (ping timeouts and reconnect backoff included).
pub(crate) const WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

/// `GET path` over HTTP/1.1 with `Connection: close`; panics on a transport error.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> Reply {
    let io = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        std::io::Result::Ok(String::from_utf8(raw).expect("UTF-8 reply"))
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), io)
        .await
        .expect("reply in time")
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"));
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let content_type = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_owned())
    });
    Reply {
        status: status.expect("status code"),
        content_type: content_type.unwrap_or_default(),
        body: body.to_owned(),
    }
}

/// Polls `GET /readyz` until it answers `status`; returns that reply.
pub(crate) async fn wait_readyz(addr: SocketAddr, status: u16) -> Reply {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let reply = get(addr, "/readyz").await;
        if reply.status == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never answered {status}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
