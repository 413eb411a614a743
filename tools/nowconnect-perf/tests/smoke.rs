//! A very short run of `tcp::run` against in-process echo services (the "tunnel" is a second
//! echo here): every figure is produced and positive. No timing assertions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nowconnect_perf::report::TcpReport;
use nowconnect_perf::tcp::{self, TcpOpts};

async fn echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(nowconnect_perf::echo::serve(listener));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_produces_positive_figures_and_json() {
    let opts = TcpOpts {
        tunnel: echo().await,
        direct: echo().await,
        streams: 3,
        connections_per_stream: 2,
        duration: Duration::from_millis(100),
        round_trips: 50,
        warmup: 5,
        rtt_connections: 4,
        message_size: 64,
        connections: 10,
    };
    let report = tcp::run(&opts).await.expect("run");
    for f in [&report.tunnel, &report.direct] {
        assert!(f.bulk_1_mb_s > 0.0 && f.bulk_n_mb_s > 0.0, "{f:?}");
        assert_eq!(f.rtt.count, 50);
        assert!(f.rtt.p50_us > 0.0 && f.rtt.p99_us >= f.rtt.p50_us, "{f:?}");
        assert_eq!(f.setup.latency.count, 10);
        assert!(f.setup.conns_per_s > 0.0, "{f:?}");
    }
    let r = report.ratio;
    for v in [r.bulk_1, r.bulk_n, r.rtt_p50, r.rtt_p99, r.setup_rate] {
        assert!(v.is_finite() && v > 0.0, "{r:?}");
    }
    let table = report.render();
    assert!(table.contains("throughput, 3 streams"), "{table}");
    assert!(table.contains("tunnel/direct"), "{table}");
    let json = report.to_json().unwrap();
    let back: TcpReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.mode, "tcp");
    assert_eq!(back.options, report.options);
    assert!(
        back.tunnel.rtt.p50_us > 0.0 && back.ratio.bulk_n > 0.0,
        "{json}"
    );
}

#[tokio::test]
async fn a_dead_target_is_an_error_not_a_hang() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let opts = TcpOpts {
        tunnel: closed,
        direct: echo().await,
        streams: 1,
        connections_per_stream: 1,
        duration: Duration::from_millis(50),
        round_trips: 1,
        warmup: 0,
        rtt_connections: 1,
        message_size: 1,
        connections: 1,
    };
    let err = tcp::run(&opts).await.expect_err("refused");
    assert!(err.to_string().contains("bulk connect"), "{err}");
}

/// An echo service that counts the connections it accepted.
async fn counting_echo() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut r, mut w) = socket.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_and_bulk_streams_are_spread_over_connections() {
    let (tunnel, accepted) = counting_echo().await;
    let opts = TcpOpts {
        tunnel,
        direct: echo().await,
        streams: 3,
        connections_per_stream: 4,
        duration: Duration::from_millis(200),
        round_trips: 60,
        warmup: 10,
        rtt_connections: 5,
        message_size: 16,
        connections: 7,
    };
    let report = tcp::run(&opts).await.expect("run");
    assert_eq!(report.tunnel.rtt.count, 60);
    assert_eq!(
        (
            report.options.rtt_connections,
            report.options.connections_per_stream
        ),
        (5, 4)
    );
    // Bulk: 1 stream and 3 streams of 4 connections each; round trips: 5; set-ups: 7.
    assert_eq!(accepted.load(Ordering::SeqCst), 4 + 3 * 4 + 5 + 7);
}
