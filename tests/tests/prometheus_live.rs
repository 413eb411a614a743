//! SPEC §7 proven live: slapd + hub + agent + a real Prometheus (Debian's package, started here
//! on a free port, scraping hub and agent every second and loading the shipped rule files)
//! under real LDAP traffic and a client that stops reading. Then every dashboard query and
//! every alert expression, evaluated through Prometheus's HTTP API, is well-formed; the tunnel
//! dashboards' queries all return series; and the stalled client puts the queue alert into
//! `pending` with its expression true for that connector alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/promql.rs"]
mod promql;

use nowconnect_e2e::prometheus::{Job, Prometheus};
use nowconnect_e2e::slapd::{self, Slapd};
use nowconnect_e2e::stack::{AgentOpts, HubOpts, Stack};
use nowconnect_e2e::targets;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;

fn dashboard_queries(file: &str) -> Vec<String> {
    let path = format!("{}/../dashboards/{file}", env!("CARGO_MANIFEST_DIR"));
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
        .map(|t| promql::concrete(t["expr"].as_str().unwrap()))
        .collect()
}

fn series(data: &Value) -> usize {
    assert_eq!(data["resultType"], "vector", "{data}");
    data["result"].as_array().map_or(0, Vec::len)
}

/// Polls `expr` until it returns at least one series.
async fn wait_series(prom: &Prometheus, expr: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let data = prom.query(expr).await.expect("query");
        if series(&data) > 0 {
            return data;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{expr} never returned a series\n{}",
            prom.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboards_and_alerts_evaluate_on_real_traffic() {
    let slapd = Slapd::start().expect("slapd");
    let hose = targets::firehose_server().await;
    let stack = Stack::start(
        &[("ldap", slapd.addr()), ("hose", hose)],
        HubOpts::default(),
        AgentOpts::default(),
    )
    .await;
    let jobs = [
        Job {
            name: "nowconnect-cloud".into(),
            targets: vec![stack.hub.addrs.tunnel],
        },
        Job {
            name: "nowconnect-premise".into(),
            targets: vec![stack.agent.admin],
        },
    ];
    let prom = Prometheus::start(&jobs, Duration::from_secs(1))
        .await
        .expect("prometheus");

    // Real LDAP through the tunnel, a few times so rates have samples.
    let listener = stack.hub.listener("ldap");
    for _ in 0..5 {
        let out = tokio::task::spawn_blocking(move || {
            slapd::ldapsearch(listener, Slapd::BASE_DN, "(objectClass=*)", &["dn"])
        })
        .await
        .unwrap()
        .expect("ldapsearch through the tunnel");
        assert!(out.entries > 0);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // A client that never reads while the target streams to it.
    let stalled = TcpStream::connect(stack.hub.listener("hose"))
        .await
        .unwrap();

    for expr in [
        r#"nowconnect_tcp_bytes_total{job="nowconnect-cloud",connector="ldap",direction="a2c"} > 0"#,
        r#"nowconnect_tcp_bytes_total{job="nowconnect-premise",connector="ldap",direction="c2a"} > 0"#,
        r#"nowconnect_tcp_connections_total{connector="ldap"} >= 5"#,
        r#"nowconnect_write_drain_seconds_bucket{connector="ldap",phase="drain",le="+Inf"} > 0"#,
        r#"nowconnect_connection_duration_seconds_count{job="nowconnect-cloud",connector="ldap"} >= 5"#,
        r#"nowconnect_inbound_queue_size{job="nowconnect-cloud",connector="hose"} / nowconnect_inbound_queue_limit > 0.75"#,
    ] {
        wait_series(&prom, expr).await;
    }
    // Rates need two samples of each counter after the traffic.
    tokio::time::sleep(Duration::from_secs(3)).await;

    for file in ["nowconnect-overview.json", "nowconnect-connector.json"] {
        for expr in dashboard_queries(file) {
            let data = prom
                .query(&expr)
                .await
                .unwrap_or_else(|e| panic!("{file}: {expr}: {e}"));
            assert!(series(&data) > 0, "{file}: no series for {expr}");
        }
    }
    // The CRUD dashboard is well-formed; its series come with the crud-service.
    for expr in dashboard_queries("nowconnect-crud-ldap.json") {
        let data = prom.query(&expr).await.expect("CRUD query");
        series(&data);
    }

    let rules = prom.alert_rules().await.expect("rules");
    let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "NowConnectWriteDrainSlow",
        "NowConnectInboundQueueHigh",
        "NowConnectListenerErrorSpike",
        "NowConnectPdpErrors",
        "NowConnectNoAgent",
        "NowConnectOneWayTraffic",
        "NowConnectTargetDown",
    ] {
        assert!(names.contains(&want), "{want} not loaded: {names:?}");
    }
    for (name, expr) in &rules {
        let data = prom
            .query(expr)
            .await
            .unwrap_or_else(|e| panic!("{name}: {expr}: {e}"));
        let firing = series(&data);
        if name == "NowConnectInboundQueueHigh" {
            assert_eq!(firing, 1, "only the stalled connector: {data}");
            assert_eq!(data["result"][0]["metric"]["connector"], "hose", "{data}");
        }
        if name == "NowConnectNoAgent" || name == "NowConnectPdpErrors" {
            assert_eq!(firing, 0, "{name}: {data}");
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = prom.alerts().await.expect("alerts");
        if alerts
            .iter()
            .any(|(n, s)| n == "NowConnectInboundQueueHigh" && s == "pending")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queue alert never pending: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(stalled);
}
