//! The fault relay itself, on plain sockets in front of an echo server: each mode does what the
//! chaos tests rely on (a black hole sends neither FIN nor RST and holds what it got, a reset
//! is an RST, a refused port refuses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::faultrelay::FaultRelay;
use nowconnect_e2e::targets;
use std::io::ErrorKind;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(got, msg);
}

/// Nothing arrives within `quiet`: no byte, no EOF, no reset.
async fn silent(s: &mut TcpStream, quiet: Duration) {
    let mut b = [0u8; 16];
    let read = tokio::time::timeout(quiet, s.read(&mut b)).await;
    assert!(read.is_err(), "expected silence, got {read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_and_delay_forward_everything() {
    let relay = FaultRelay::start(targets::echo_server().await).await;
    let mut s = TcpStream::connect(relay.addr()).await.unwrap();
    round_trip(&mut s, b"plain").await;
    relay.delay(Duration::from_millis(200));
    let start = tokio::time::Instant::now();
    round_trip(&mut s, b"slow").await;
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "held each way"
    );
    relay.heal();
    round_trip(&mut s, b"again").await;
    assert_eq!((relay.accepted(), relay.active()), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_holds_everything_without_closing_and_heal_delivers_it() {
    let relay = FaultRelay::start(targets::echo_server().await).await;
    let mut old = TcpStream::connect(relay.addr()).await.unwrap();
    round_trip(&mut old, b"before").await;
    relay.blackhole();
    old.write_all(b"held").await.unwrap();
    silent(&mut old, Duration::from_millis(500)).await;
    let mut new = TcpStream::connect(relay.addr()).await.unwrap(); // accepted, then nothing
    new.write_all(b"queued").await.unwrap();
    silent(&mut new, Duration::from_millis(300)).await;
    assert_eq!(relay.accepted(), 2);
    relay.heal();
    let mut got = [0u8; 4];
    old.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"held");
    let mut got = [0u8; 6];
    new.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_sends_rst_to_current_and_new_connections() {
    let relay = FaultRelay::start(targets::echo_server().await).await;
    let mut old = TcpStream::connect(relay.addr()).await.unwrap();
    round_trip(&mut old, b"before").await;
    relay.reset();
    let mut b = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(5), old.read(&mut b))
        .await
        .expect("reset in time");
    assert_eq!(read.unwrap_err().kind(), ErrorKind::ConnectionReset);
    // A new connection is reset right after its accept: the RST may even beat the connect.
    match TcpStream::connect(relay.addr()).await {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        Ok(mut new) => {
            let read = tokio::time::timeout(Duration::from_secs(5), new.read(&mut b))
                .await
                .expect("reset in time");
            assert_eq!(read.unwrap_err().kind(), ErrorKind::ConnectionReset);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while relay.active() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relayed connection left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.heal();
    round_trip(&mut TcpStream::connect(relay.addr()).await.unwrap(), b"ok").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_the_port_and_heal_opens_it_again() {
    let relay = FaultRelay::start(targets::echo_server().await).await;
    let mut old = TcpStream::connect(relay.addr()).await.unwrap();
    relay.refuse().await;
    let refused = TcpStream::connect(relay.addr()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    round_trip(&mut old, b"still relayed").await;
    relay.heal();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = TcpStream::connect(relay.addr()).await {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "port never reopened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    round_trip(&mut s, b"back").await;
}
