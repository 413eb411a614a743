//! Client-side helpers of the fault-injection tests (`chaos_*.rs`): echo round trips, waiting
//! for a stream to be closed (bounded: a stream that hangs fails the test), and reading one
//! series of a live `/metrics` scrape.

use super::prom::{Scrape, scrape};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any stream may stay open after the fault that must close it.
pub(crate) const CLOSE_BOUND: Duration = Duration::from_secs(15);

/// The bytes of test stream `seed`: each byte depends on its offset, so a lost, duplicated or
/// reordered chunk shows as a mismatch at the first wrong offset.
pub(crate) fn pattern(seed: u64, from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64)
        .map(|i| (splitmix(seed ^ (i >> 3)) >> ((i & 7) * 8)) as u8)
        .collect()
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Opens a stream and checks one echo of `len` pattern bytes; the stream stays open.
pub(crate) async fn open_echo(addr: SocketAddr, seed: u64, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect listener");
    let data = pattern(seed, 0, len);
    s.write_all(&data).await.expect("write");
    let mut got = vec![0u8; len];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(got, data, "echo differs");
    s
}

/// One echo round trip on a fresh stream; `false` if it did not complete within 2 s.
pub(crate) async fn echo_once(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"probe").await.ok()?;
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.ok()?;
        (&got == b"probe").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(()))
    )
}

/// Polls with echo round trips until one succeeds; returns how long that took. Fails after
/// `within`.
pub(crate) async fn served_within(addr: SocketAddr, within: Duration) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        if echo_once(addr).await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{addr} not served within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads (and drops) until the stream is closed — EOF or an error such as a reset — and
/// returns how long that took; fails if it stays open for [`CLOSE_BOUND`].
pub(crate) async fn wait_closed(s: &mut TcpStream) -> Duration {
    let start = tokio::time::Instant::now();
    let closed = tokio::time::timeout(CLOSE_BOUND, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "stream still open after {CLOSE_BOUND:?}");
    start.elapsed()
}

/// Scrapes `addr` and returns the parsed exposition.
pub(crate) async fn metrics(addr: SocketAddr) -> Scrape {
    Scrape::parse(&scrape(addr).await)
}

/// Scrapes `addr` until `name{labels}` satisfies `ok`; returns how long that took. Fails
/// (with the scrape) after 30 s.
pub(crate) async fn wait_metric(
    addr: SocketAddr,
    name: &str,
    labels: &[(&str, &str)],
    ok: impl Fn(f64) -> bool,
) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        let text = scrape(addr).await;
        if ok(Scrape::parse(&text).value(name, labels)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name}{labels:?} never reached the expected value:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
