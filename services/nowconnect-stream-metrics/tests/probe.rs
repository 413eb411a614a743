//! The shared families, driven through the `Observer` seam and rendered by the real bridge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_mux::{CloseReason, Observer, WritePhase};
use nowconnect_protocol::{Direction, ResetReason};
use nowconnect_stream_metrics::{Connectors, ListenerErrorType, Side, StreamMetrics};
use nowconnect_telemetry::Telemetry;
use std::time::Duration;

fn setup(side: Side) -> (Telemetry, StreamMetrics) {
    let telemetry = Telemetry::for_tests();
    let metrics = StreamMetrics::new(
        &telemetry.meter("nowconnect"),
        side,
        Connectors::new(["ldap", "db"]),
    );
    (telemetry, metrics)
}

fn has(text: &str, line: &str) {
    assert!(text.contains(line), "missing {line:?} in\n{text}");
}

#[test]
fn zero_init_creates_every_alert_series_at_zero() {
    let (telemetry, metrics) = setup(Side::Hub);
    metrics.zero_init_all();
    let text = telemetry.metrics_text();
    for c in ["ldap", "db"] {
        for t in ["write", "session", "pdp"] {
            has(
                &text,
                &format!("nowconnect_listener_errors_total{{connector=\"{c}\",type=\"{t}\"}} 0\n"),
            );
        }
        for err in ["connect_failed", "queue_overflow", "ws_broken"] {
            has(
                &text,
                &format!("nowconnect_rst_sent_total{{connector=\"{c}\",err=\"{err}\"}} 0\n"),
            );
            has(
                &text,
                &format!("nowconnect_rst_recv_total{{connector=\"{c}\",err=\"{err}\"}} 0\n"),
            );
        }
        has(
            &text,
            &format!("nowconnect_fin_sent_total{{connector=\"{c}\"}} 0\n"),
        );
        has(
            &text,
            &format!("nowconnect_fin_recv_total{{connector=\"{c}\"}} 0\n"),
        );
        has(
            &text,
            &format!("nowconnect_queue_overflow_total{{connector=\"{c}\",side=\"hub\"}} 0\n"),
        );
        has(
            &text,
            &format!("nowconnect_tcp_active_connections{{connector=\"{c}\"}} 0\n"),
        );
        has(
            &text,
            &format!("nowconnect_tcp_bytes_total{{connector=\"{c}\",direction=\"a2c\"}} 0\n"),
        );
    }
    assert_eq!(
        text.matches("# HELP ").count(),
        text.matches("# TYPE ").count()
    );
}

#[test]
fn a_stream_reports_through_its_bound_labels() {
    let (telemetry, metrics) = setup(Side::Agent);
    let probe = metrics.stream("ldap");
    probe.bytes(Direction::C2a, 10);
    probe.bytes(Direction::A2c, 32);
    probe.write_phase(WritePhase::Write, Duration::from_micros(20));
    probe.write_phase(WritePhase::Drain, Duration::from_millis(300));
    probe.fin_sent();
    probe.fin_received();
    probe.rst_sent(&ResetReason::QueueOverflow);
    probe.rst_received(&ResetReason::Other("invented by a peer".into()));
    probe.local_write_failed();
    let text = telemetry.metrics_text();
    has(
        &text,
        "nowconnect_tcp_active_connections{connector=\"ldap\"} 1\n",
    );
    probe.closed(&CloseReason::Completed, Duration::from_secs(2));
    drop(probe);
    let text2 = telemetry.metrics_text();
    for line in [
        "nowconnect_tcp_bytes_total{connector=\"ldap\",direction=\"c2a\"} 10\n",
        "nowconnect_tcp_bytes_total{connector=\"ldap\",direction=\"a2c\"} 32\n",
        "nowconnect_write_drain_seconds_bucket{connector=\"ldap\",phase=\"drain\",le=\"0.1\"} 0\n",
        "nowconnect_write_drain_seconds_count{connector=\"ldap\",phase=\"drain\"} 1\n",
        "nowconnect_write_drain_seconds_bucket{connector=\"ldap\",phase=\"write\",le=\"0.1\"} 1\n",
        "nowconnect_fin_sent_total{connector=\"ldap\"} 1\n",
        "nowconnect_fin_recv_total{connector=\"ldap\"} 1\n",
        "nowconnect_rst_sent_total{connector=\"ldap\",err=\"queue_overflow\"} 1\n",
        "nowconnect_rst_recv_total{connector=\"ldap\",err=\"other\"} 1\n",
        "nowconnect_queue_overflow_total{connector=\"ldap\",side=\"agent\"} 1\n",
        "nowconnect_listener_errors_total{connector=\"ldap\",type=\"write\"} 1\n",
        "nowconnect_connection_duration_seconds_count{connector=\"ldap\"} 1\n",
        "nowconnect_tcp_active_connections{connector=\"ldap\"} 0\n",
    ] {
        has(&text2, line);
    }
}

#[test]
fn the_active_gauge_balances_without_closed_and_unknown_connectors_collapse() {
    let (telemetry, metrics) = setup(Side::Hub);
    let refused = metrics.stream("not-configured");
    has(
        &telemetry.metrics_text(),
        "nowconnect_tcp_active_connections{connector=\"other\"} 1\n",
    );
    drop(refused);
    has(
        &telemetry.metrics_text(),
        "nowconnect_tcp_active_connections{connector=\"other\"} 0\n",
    );
    metrics
        .listener_errors()
        .record("db", ListenerErrorType::Session);
    has(
        &telemetry.metrics_text(),
        "nowconnect_listener_errors_total{connector=\"db\",type=\"session\"} 1\n",
    );
}

/// A stream that dies with its tunnel never sends an RST frame, yet it was reset: it counts as
/// `rst_sent{err="ws_broken"}` (on both ends, each for its own streams).
#[test]
fn a_stream_lost_with_its_tunnel_counts_as_a_ws_broken_reset() {
    let (telemetry, metrics) = setup(Side::Hub);
    metrics.zero_init_all();
    let lost = metrics.stream("db");
    lost.closed(&CloseReason::TunnelLost, Duration::from_millis(5));
    let done = metrics.stream("db");
    done.closed(&CloseReason::Completed, Duration::from_millis(5));
    let text = telemetry.metrics_text();
    has(
        &text,
        "nowconnect_rst_sent_total{connector=\"db\",err=\"ws_broken\"} 1\n",
    );
    has(
        &text,
        "nowconnect_rst_recv_total{connector=\"db\",err=\"ws_broken\"} 0\n",
    );
}
