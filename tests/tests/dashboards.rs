//! Lint of every shipped Grafana dashboard (SPEC §7): valid JSON that file provisioning accepts
//! (stable unique `uid`, no `__inputs`), the `datasource` and `connector` variables, unique
//! panel ids, a unit on every panel, every query parsing as PromQL and naming only metrics of
//! the contract, the 100 ms and 75% lines where the alerts put them; and the Grafana
//! provisioning files under compose/ pointing at these dashboards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/promql.rs"]
mod promql;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(repo().join("dashboards"))
        .expect("dashboards/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "overview, connector and CRUD dashboards");
    out
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

fn has_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.contains_key(key) || m.values().any(|v| has_key(v, key)),
        Value::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

fn threshold_values(panel: &Value) -> Vec<f64> {
    panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["value"].as_f64()).collect())
        .unwrap_or_default()
}

#[test]
fn every_dashboard_is_provisionable_and_complete() {
    let mut uids = BTreeSet::new();
    for (file, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(
            !uid.is_empty() && uid.len() <= 40,
            "{file}: a stable uid of at most 40 characters"
        );
        assert!(
            uids.insert(uid.to_owned()),
            "{file}: uid {uid} is not unique"
        );
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "{file}");
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{file}: schemaVersion"
        );
        assert!(
            d.get("id").is_none_or(Value::is_null),
            "{file}: no instance id"
        );
        assert!(
            !has_key(&d, "__inputs"),
            "{file}: __inputs breaks file provisioning"
        );
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        let var = |name: &str| vars.iter().find(|v| v["name"] == name);
        let ds = var("datasource").unwrap_or_else(|| panic!("{file}: datasource variable"));
        assert_eq!(ds["type"], "datasource", "{file}");
        assert_eq!(ds["query"], "prometheus", "{file}");
        let connector = var("connector").unwrap_or_else(|| panic!("{file}: connector variable"));
        assert_eq!(connector["type"], "query", "{file}");

        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: panel id"));
            assert!(ids.insert(id), "{file}: panel id {id} twice");
            assert!(
                p["gridPos"]["w"].as_u64().is_some(),
                "{file}: panel {id} gridPos"
            );
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{file}: panel {id} title");
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file}: {title} uses the datasource variable"
            );
            let unit = p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default();
            assert!(!unit.is_empty(), "{file}: {title} has no unit");
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{file}: {title} has no query");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{file}: {title}");
            }
        }
    }
}

#[test]
fn every_query_parses_and_names_only_exported_metrics() {
    let contract = promql::contract();
    let mut used = BTreeSet::new();
    for (file, d) in dashboards() {
        let mut exprs: Vec<String> = panels(&d)
            .iter()
            .filter_map(|p| p["targets"].as_array())
            .flatten()
            .map(|t| t["expr"].as_str().expect("expr").to_owned())
            .collect();
        for v in d["templating"]["list"].as_array().expect("list") {
            if let Some(q) = v["query"]["query"].as_str() {
                // label_values(metric, label): the metric must exist too.
                let metric = q
                    .strip_prefix("label_values(")
                    .and_then(|r| r.split(',').next())
                    .unwrap_or_else(|| panic!("{file}: variable query {q}"));
                exprs.push(metric.trim().to_owned());
            }
        }
        for expr in exprs {
            let names = promql::metric_names(&promql::concrete(&expr))
                .unwrap_or_else(|e| panic!("{file}: {expr}: {e}"));
            assert!(!names.is_empty(), "{file}: {expr} selects no metric");
            for name in names {
                assert!(
                    contract.contains(&name),
                    "{file}: {name} is not an exported metric ({expr})"
                );
                used.insert(name);
            }
        }
    }
    // The panels SPEC §7 asks for are there.
    for family in [
        "nowconnect_write_drain_seconds_bucket",
        "nowconnect_inbound_queue_size",
        "nowconnect_inbound_queue_limit",
        "nowconnect_tcp_bytes_total",
        "nowconnect_tcp_connections_total",
        "nowconnect_tcp_active_connections",
        "nowconnect_listener_errors_total",
        "nowconnect_pdp_decisions_total",
        "nowconnect_fin_sent_total",
        "nowconnect_rst_sent_total",
        "nowconnect_agents_connected",
        "nowconnect_tunnel_uptime_seconds",
        "nowconnect_tunnel_reconnects_total",
        "nowconnect_ldap_membership_batch_total",
    ] {
        assert!(used.contains(family), "no panel shows {family}");
    }
}

#[test]
fn thresholds_match_the_alerts() {
    for (file, d) in dashboards() {
        for p in panels(&d) {
            let exprs: Vec<&str> = p["targets"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["expr"].as_str()).collect())
                .unwrap_or_default();
            let title = p["title"].as_str().unwrap_or_default();
            let quantile = exprs.iter().any(|e| e.starts_with("histogram_quantile"));
            if quantile
                && exprs.iter().any(|e| e.contains("_seconds_bucket"))
                && p["fieldConfig"]["defaults"]["unit"] == "s"
                && title.contains("atency")
            {
                assert!(
                    threshold_values(p).contains(&0.1),
                    "{file}: {title} shows the 100 ms line"
                );
            }
            if exprs
                .iter()
                .any(|e| e.contains("nowconnect_inbound_queue_size"))
            {
                let line = exprs.iter().any(|e| e.starts_with("0.75 * "));
                assert!(
                    line || threshold_values(p).contains(&0.75),
                    "{file}: {title} shows 75% of the limit"
                );
            }
        }
    }
}

#[test]
fn grafana_provisioning_points_at_the_shipped_dashboards() {
    let base = repo().join("compose/grafana/provisioning");
    let ds = std::fs::read_to_string(base.join("datasources/prometheus.yml")).expect("datasource");
    assert!(ds.contains("type: prometheus") && ds.contains("url: http://prometheus:9090"));
    let provider =
        std::fs::read_to_string(base.join("dashboards/nowconnect.yml")).expect("provider");
    assert!(provider.contains("type: file"), "{provider}");
    assert!(
        provider.contains("path: /var/lib/grafana/dashboards/nowconnect"),
        "{provider}"
    );
}
