//! Helpers of the load scenarios: scraping `/metrics` over HTTP, reading series out of the
//! exposition, many client sockets at once.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for anything that should happen "at once" on a loaded two-core machine.
pub(crate) const PROMPTLY: Duration = Duration::from_secs(10);

/// `GET /metrics` of `addr` (the hub's tunnel port or the agent's admin port).
pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let url = format!("http://{addr}/metrics");
    let get = async {
        let reply = reqwest::get(&url).await?.error_for_status()?;
        reply.text().await
    };
    tokio::time::timeout(Duration::from_secs(30), get)
        .await
        .unwrap_or_else(|_| panic!("{url} did not answer in 30 s"))
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The sum of every sample of `name` whose labels include all of `labels`.
pub(crate) fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let has = |(k, v): &(&str, &str)| {
                rest.split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\"").as_str())
            };
            labels.iter().all(has).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Connects `n` clients to `addr` (sequentially: the listener's backlog is not the subject).
pub(crate) async fn connect_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let s = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("client {i} of {n} to {addr}: {e}"));
        all.push(s);
    }
    all
}

/// Like [`connect_many`], with each client's receive buffer set to `rcvbuf` bytes before it
/// connects, so what the kernel absorbs for a client that never reads does not depend on the
/// machine's TCP autotuning.
pub(crate) async fn connect_many_small(addr: SocketAddr, n: usize, rcvbuf: u32) -> Vec<TcpStream> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let connect = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_recv_buffer_size(rcvbuf)?;
            socket.connect(addr).await
        };
        let s = connect
            .await
            .unwrap_or_else(|e| panic!("client {i} of {n} to {addr}: {e}"));
        all.push(s);
    }
    all
}

/// One echo round trip of `len` bytes of a pattern seeded by `seed`, checked byte for byte.
pub(crate) async fn round_trip(s: &mut TcpStream, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>();
    let io = async {
        let (mut r, mut w) = s.split();
        let write = async {
            w.write_all(&data).await?;
            std::io::Result::Ok(())
        };
        let mut got = vec![0u8; len];
        let (wrote, read) = tokio::join!(write, r.read_exact(&mut got));
        wrote?;
        read?;
        std::io::Result::Ok(got)
    };
    let got = tokio::time::timeout(Duration::from_secs(60), io)
        .await
        .expect("echo round trip within 60 s")
        .expect("echo round trip");
    assert!(got == data, "echo returned other bytes");
}

/// Connects, says something, and expects the connection to be closed without a byte. A stream
/// the agent refuses is reset, and that RST can beat `connect` returning: counted as closed.
pub(crate) async fn expect_refused(addr: SocketAddr) {
    let attempt = async {
        let mut s = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(0),
            Err(e) => return Err(e),
        };
        let _ = s.write_all(b"hello?").await;
        let mut buf = [0u8; 64];
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => std::io::Result::Ok(0),
            Ok(n) => Ok(n),
        }
    };
    let got = tokio::time::timeout(PROMPTLY, attempt)
        .await
        .unwrap_or_else(|_| {
            panic!("a refused client of {addr} was not closed within {PROMPTLY:?}")
        });
    // A connect error would mean the listener itself failed; a refusal is accept-then-close.
    let n = got.unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    assert_eq!(n, 0, "a refused client got {n} bytes");
}

/// Polls `check` every 250 ms until it returns `Some`; panics with `what` after `within`.
pub(crate) async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
