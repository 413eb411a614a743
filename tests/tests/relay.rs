//! Bytes through the tunnel: integrity under concurrency, half-close, V2 isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_e2e::targets;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// V1 has no flow control: a queue that stays full for 2 s resets its stream
/// (`queue_overflow`, tested below). For the integrity tests V1 gets room for 1000 frames, so
/// 64 parallel 8 MB echoes on a loaded CI machine measure integrity, not scheduling.
fn opts(v2: bool) -> (HubOpts, AgentOpts) {
    let queue_depth = if v2 { 100 } else { 1000 };
    (
        HubOpts {
            v2,
            queue_depth,
            ..HubOpts::default()
        },
        AgentOpts {
            v2,
            queue_depth,
            ..AgentOpts::default()
        },
    )
}

/// Sends `len` random bytes, half-closes, reads the echo to EOF; returns (sent, received) hashes.
async fn echo_once(
    addr: std::net::SocketAddr,
    len: usize,
    seed: u64,
) -> ([u8; 32], [u8; 32], usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    let sent = Sha256::digest(&data).into();
    let socket = TcpStream::connect(addr).await.expect("connect listener");
    let (mut r, mut w) = socket.into_split();
    let writer = tokio::spawn(async move {
        for chunk in data.chunks(37 * 1024) {
            w.write_all(chunk).await.expect("write");
        }
        w.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::with_capacity(len);
    r.read_to_end(&mut got).await.expect("read echo");
    writer.await.expect("writer");
    (sent, Sha256::digest(&got).into(), got.len())
}

async fn many_streams_integrity(v2: bool) {
    let echo = targets::echo_server().await;
    let (hub, agent) = opts(v2);
    let stack = Stack::start(&[("echo", echo)], hub, agent).await;
    let addr = stack.hub.listener("echo");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let sizes: Vec<usize> = (0..64)
        .map(|i| match i {
            0 => 1,
            1 => 8 * 1024 * 1024,
            _ => rng.gen_range(1..=8 * 1024 * 1024),
        })
        .collect();
    let tasks: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| tokio::spawn(echo_once(addr, len, i as u64)))
        .collect();
    for (task, len) in tasks.into_iter().zip(sizes) {
        let (sent, got, n) = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("stream finished")
            .expect("task");
        assert_eq!(n, len, "length of echo");
        assert_eq!(sent, got, "sha256 of a {len}-byte stream");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_streams_sha256_v2() {
    many_streams_integrity(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_streams_sha256_v1() {
    many_streams_integrity(false).await;
}

async fn half_close(v2: bool) {
    let target = targets::answer_after_eof_server(300_000).await;
    let (hub, agent) = opts(v2);
    let stack = Stack::start(&[("lazy", target)], hub, agent).await;
    let mut socket = TcpStream::connect(stack.hub.listener("lazy"))
        .await
        .unwrap();
    socket.write_all(&[1u8; 12345]).await.unwrap();
    socket.shutdown().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .expect("read answer");
    let header = b"got 12345 bytes\n";
    assert_eq!(&answer[..header.len()], header);
    assert_eq!(
        answer.len(),
        header.len() + 300_000,
        "the whole answer arrives after our EOF"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_target_answers_after_eof_v2() {
    half_close(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_target_answers_after_eof_v1() {
    half_close(false).await;
}

/// One client never reads while the target floods it; another stream on the same tunnel still
/// completes its echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_slow_reader_does_not_stall_other_streams() {
    let echo = targets::echo_server().await;
    let hose = targets::firehose_server().await;
    let (hub, agent) = opts(true);
    let stack = Stack::start(&[("echo", echo), ("hose", hose)], hub, agent).await;
    let _stuck = TcpStream::connect(stack.hub.listener("hose"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // let the window fill
    for round in 0..5 {
        let (sent, got, n) = tokio::time::timeout(
            Duration::from_secs(20),
            echo_once(stack.hub.listener("echo"), 1 << 20, round),
        )
        .await
        .expect("the echo stream is not blocked by the stuck one");
        assert_eq!(n, 1 << 20);
        assert_eq!(sent, got);
    }
}

/// V1 has no flow control: a client that never reads while the target floods it fills its
/// bounded queue, and the stream is reset (`queue_overflow`) instead of growing without bound;
/// the tunnel then serves other streams again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_full_queue_resets_the_stream_and_the_tunnel_recovers() {
    let echo = targets::echo_server().await;
    let hose = targets::firehose_server().await;
    let (mut hub, agent) = opts(false);
    hub.queue_depth = 8;
    let stack = Stack::start(&[("echo", echo), ("hose", hose)], hub, agent).await;
    let mut stuck = TcpStream::connect(stack.hub.listener("hose"))
        .await
        .unwrap();
    // Never read until the hub gives up on this stream; then whatever is buffered drains and
    // the connection ends (reset or EOF) instead of flowing forever.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let drained = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0usize;
        loop {
            match stuck.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    })
    .await
    .expect("the overflowing stream was reset, not left flowing");
    assert!(drained > 0, "some data arrived before the reset");
    let (sent, got, n) = tokio::time::timeout(
        Duration::from_secs(20),
        echo_once(stack.hub.listener("echo"), 100_000, 1),
    )
    .await
    .expect("tunnel serves other streams after the overflow");
    assert_eq!(n, 100_000);
    assert_eq!(sent, got);
}
