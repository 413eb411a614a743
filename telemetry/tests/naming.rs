//! Instrument name + unit → exported Prometheus name, for every SPEC §6.1 family of the hub and
//! the agent, proven by rendering through the real bridge and checked by `promtool`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use nowconnect_telemetry::{DURATION_BUCKETS, KeyValue, LATENCY_BUCKETS, Meter, Telemetry};

#[derive(Clone, Copy)]
enum Kind {
    Histogram(&'static [f64]),
    Counter,
    UpDownCounter,
    Gauge,
    F64Gauge,
}

struct Row {
    kind: Kind,
    name: &'static str,
    unit: &'static str,
    labels: &'static [(&'static str, &'static str)],
    prometheus: &'static str,
    prom_type: &'static str,
}

const fn row(
    kind: Kind,
    name: &'static str,
    unit: &'static str,
    labels: &'static [(&'static str, &'static str)],
    prometheus: &'static str,
    prom_type: &'static str,
) -> Row {
    Row {
        kind,
        name,
        unit,
        labels,
        prometheus,
        prom_type,
    }
}

const C: &[(&str, &str)] = &[("connector", "ldap")];

/// The naming table the services follow (see the crate doc).
#[rustfmt::skip]
const TABLE: &[Row] = &[
    row(Kind::Histogram(LATENCY_BUCKETS), "nowconnect.write_drain", "s", &[("connector", "ldap"), ("phase", "write")], "nowconnect_write_drain_seconds", "histogram"),
    row(Kind::Gauge, "nowconnect.inbound.queue.size", "{frame}", C, "nowconnect_inbound_queue_size", "gauge"),
    row(Kind::Gauge, "nowconnect.inbound.queue.limit", "{frame}", C, "nowconnect_inbound_queue_limit", "gauge"),
    row(Kind::Counter, "nowconnect.listener.errors", "{error}", &[("connector", "ldap"), ("type", "write")], "nowconnect_listener_errors_total", "counter"),
    row(Kind::Counter, "nowconnect.tcp.connections", "{connection}", C, "nowconnect_tcp_connections_total", "counter"),
    row(Kind::UpDownCounter, "nowconnect.tcp.active_connections", "{connection}", C, "nowconnect_tcp_active_connections", "gauge"),
    row(Kind::Counter, "nowconnect.tcp", "By", &[("direction", "c2a"), ("connector", "ldap")], "nowconnect_tcp_bytes_total", "counter"),
    row(Kind::Histogram(DURATION_BUCKETS), "nowconnect.connection.duration", "s", C, "nowconnect_connection_duration_seconds", "histogram"),
    row(Kind::Counter, "nowconnect.fin.sent", "{frame}", C, "nowconnect_fin_sent_total", "counter"),
    row(Kind::Counter, "nowconnect.fin.recv", "{frame}", C, "nowconnect_fin_recv_total", "counter"),
    row(Kind::Counter, "nowconnect.rst.sent", "{frame}", &[("connector", "ldap"), ("err", "timeout")], "nowconnect_rst_sent_total", "counter"),
    row(Kind::Counter, "nowconnect.rst.recv", "{frame}", &[("connector", "ldap"), ("err", "refused")], "nowconnect_rst_recv_total", "counter"),
    row(Kind::Counter, "nowconnect.queue.overflow", "{overflow}", &[("side", "a2c"), ("connector", "ldap")], "nowconnect_queue_overflow_total", "counter"),
    row(Kind::Counter, "nowconnect.pdp.decisions", "{decision}", &[("result", "allow"), ("connector", "ldap")], "nowconnect_pdp_decisions_total", "counter"),
    row(Kind::Gauge, "nowconnect.agents.connected", "{agent}", &[("agent", "a1")], "nowconnect_agents_connected", "gauge"),
    row(Kind::F64Gauge, "nowconnect.tunnel.uptime", "s", &[("agent", "a1")], "nowconnect_tunnel_uptime_seconds", "gauge"),
    row(Kind::Gauge, "nowconnect.connector.up", "", C, "nowconnect_connector_up", "gauge"),
    row(Kind::Counter, "nowconnect.tunnel.reconnects", "{reconnect}", &[("agent", "a1"), ("reason", "ping_timeout")], "nowconnect_tunnel_reconnects_total", "counter"),
];

fn attrs(labels: &[(&'static str, &'static str)]) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect()
}

fn record(meter: &Meter, row: &Row) {
    let help = format!("help for {}", row.name);
    let a = attrs(row.labels);
    match row.kind {
        Kind::Histogram(bounds) => {
            let h = meter
                .f64_histogram(row.name)
                .with_unit(row.unit)
                .with_description(help);
            let h = h.with_boundaries(bounds.to_vec()).build();
            h.record(0.042, &a);
            h.record(0.2, &a);
        }
        Kind::Counter => {
            let c = meter
                .u64_counter(row.name)
                .with_unit(row.unit)
                .with_description(help)
                .build();
            c.add(0, &a);
            c.add(5, &a);
        }
        Kind::UpDownCounter => {
            let u = meter.i64_up_down_counter(row.name).with_unit(row.unit);
            let u = u.with_description(help).build();
            u.add(3, &a);
            u.add(-1, &a);
        }
        Kind::Gauge => {
            let g = meter
                .u64_gauge(row.name)
                .with_unit(row.unit)
                .with_description(help)
                .build();
            g.record(7, &a);
        }
        Kind::F64Gauge => {
            let g = meter
                .f64_gauge(row.name)
                .with_unit(row.unit)
                .with_description(help)
                .build();
            g.record(12.5, &a);
        }
    }
}

fn rendered_table() -> String {
    let telemetry = Telemetry::for_tests();
    let meter = telemetry.meter("nowconnect");
    for row in TABLE {
        record(&meter, row);
    }
    let (content_type, body) = telemetry.render();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(body, telemetry.metrics_text());
    body
}

#[test]
fn instrument_names_render_exactly_as_spec_6_1() {
    let text = rendered_table();
    let types: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let mut expected: Vec<(&str, &str)> =
        TABLE.iter().map(|r| (r.prometheus, r.prom_type)).collect();
    let mut got = types.clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "families and types\n{text}");

    for row in TABLE {
        let help = format!("# HELP {} help for {}\n", row.prometheus, row.name);
        assert!(text.contains(&help), "missing {help:?}\n{text}");
        // The exact label set, sorted by name as the bridge writes it.
        let mut labels: Vec<_> = row.labels.to_vec();
        labels.sort_unstable();
        let set: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let series = match row.prom_type {
            "histogram" => format!("{}_count{{{}}} 2\n", row.prometheus, set.join(",")),
            _ => format!("{}{{{}}} ", row.prometheus, set.join(",")),
        };
        assert!(text.contains(&series), "missing series {series:?}\n{text}");
    }

    let bucket =
        "nowconnect_write_drain_seconds_bucket{connector=\"ldap\",phase=\"write\",le=\"0.1\"} 1\n";
    assert!(text.contains(bucket), "no le=0.1 bucket\n{text}");
    assert!(text.contains(
        "nowconnect_connection_duration_seconds_bucket{connector=\"ldap\",le=\"14400\"} 2\n"
    ));
    assert!(text.contains("nowconnect_tcp_bytes_total{connector=\"ldap\",direction=\"c2a\"} 5\n"));
    assert!(text.contains("nowconnect_tcp_active_connections{connector=\"ldap\"} 2\n"));
    for surprise in [
        "_seconds_seconds",
        "_total_total",
        "_bytes_bytes",
        "_ratio",
        "otel_scope",
        "target_info",
        "service_",
    ] {
        assert!(!text.contains(surprise), "{surprise} in\n{text}");
    }
}

/// The trap the table avoids: these names double their suffixes through the bridge.
#[test]
fn suffixed_names_double_up_through_the_bridge() {
    let telemetry = Telemetry::for_tests();
    let meter = telemetry.meter("nowconnect");
    meter
        .u64_counter("nowconnect.tcp.bytes")
        .with_unit("By")
        .with_description("d")
        .build()
        .add(1, &[]);
    meter
        .u64_counter("nowconnect_errors_total")
        .with_description("d")
        .build()
        .add(1, &[]);
    meter
        .f64_histogram("nowconnect_drain_seconds")
        .with_unit("s")
        .with_description("d")
        .build()
        .record(1.0, &[]);
    let text = telemetry.metrics_text();
    assert!(
        text.contains("# TYPE nowconnect_tcp_bytes_bytes_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE nowconnect_errors_total_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE nowconnect_drain_seconds_seconds histogram"),
        "{text}"
    );
}

#[test]
fn promtool_check_metrics_accepts_the_rendered_text() {
    let text = rendered_table();
    let mut child = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed at /usr/bin/promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {report}\n{text}");
    assert!(report.trim().is_empty(), "promtool complained: {report}");
}

#[test]
fn buckets_are_sorted_and_include_the_alert_thresholds() {
    for buckets in [LATENCY_BUCKETS, DURATION_BUCKETS] {
        assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
    }
    assert!(LATENCY_BUCKETS.contains(&0.1));
    assert_eq!(DURATION_BUCKETS.first(), Some(&0.001));
    assert_eq!(DURATION_BUCKETS.last(), Some(&14400.0));
    assert!(DURATION_BUCKETS.contains(&3600.0));
}
