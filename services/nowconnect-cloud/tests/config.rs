//! `cloud.yaml` + environment → `HubConfig`: defaults, overrides and one-line errors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nowconnect_cloud::config::{self, ConfigError, EXIT_CONFIG, HubConfig, LogFormat};

const MINIMAL: &str = "security:\n  jwks_url: /etc/nowconnect/jwks.json\n";

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn parse(yaml: &str, env: &[(&str, &str)]) -> Result<HubConfig, ConfigError> {
    config::from_yaml_str(yaml, &env_of(env))
}

/// The error's one line; asserts it is one line and names `key`.
fn error_line(yaml: &str, env: &[(&str, &str)], key: &str) -> String {
    let line = match parse(yaml, env) {
        Ok(cfg) => panic!("expected an error naming {key}, got {cfg:?}"),
        Err(e) => e.to_string(),
    };
    assert!(!line.contains('\n'), "not one line: {line}");
    assert!(line.contains(key), "{line:?} does not name {key}");
    line
}

#[test]
fn example_parses() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cloud.yaml");
    let cfg = config::load(Some(&path), &env_of(&[]))?;
    assert_eq!(cfg.listeners.len(), 1);
    assert_eq!(cfg.listeners[0].name, "ldap");
    assert_eq!(cfg.listeners[0].bind, "0.0.0.0:389".parse::<SocketAddr>()?);
    assert_eq!(cfg.listeners[0].connector, "addomain");
    assert_eq!(cfg.security.jwks, "/etc/nowconnect/jwks.json");
    assert_eq!(cfg.observability.log_level, "info");
    assert_eq!(cfg.pdp.url, None);
    Ok(())
}

#[test]
fn defaults_are_the_spec_values() -> anyhow::Result<()> {
    let cfg = parse(MINIMAL, &[])?;
    assert!(cfg.listeners.is_empty());
    let t = &cfg.tunnel;
    assert_eq!(t.host.to_string(), "0.0.0.0");
    assert_eq!(t.port, 8765);
    assert_eq!(t.max_ws_payload, 8192);
    assert_eq!(t.ping_interval, Duration::from_secs(20));
    assert_eq!(t.ping_timeout, Duration::from_secs(20));
    assert!(t.v2);
    assert_eq!(t.v2_max_frame, 65536);
    let l = &cfg.limits;
    assert_eq!(l.idle_timeout, Duration::from_millis(60_000));
    assert_eq!(l.queue_depth_per_cid, 100);
    assert_eq!(l.max_conn_total, 2000);
    assert_eq!(l.shutdown_grace, Duration::from_millis(10_000));
    let s = &cfg.security;
    assert_eq!(s.audience, "nowconnect");
    assert_eq!(s.issuer, None);
    assert_eq!(s.leeway, Duration::from_secs(30));
    assert!(s.allow_cidrs.is_empty());
    assert!(!s.require_connector_scopes);
    assert_eq!(s.fapi_mode, 0);
    let o = &cfg.observability;
    assert_eq!(o.metrics_port, None);
    assert_eq!(o.log_level, "info");
    assert_eq!(o.log_format, LogFormat::Json);
    let p = &cfg.pdp;
    assert_eq!(p.url, None);
    assert_eq!(p.cache_ttl, Duration::from_secs(5));
    assert_eq!(p.timeout, Duration::from_millis(500));
    assert!(!p.fail_open);
    assert_eq!(EXIT_CONFIG, 64);
    Ok(())
}

#[test]
fn no_file_means_defaults_plus_env() -> anyhow::Result<()> {
    let cfg = config::load(
        None,
        &env_of(&[("NOWCONNECT_JWKS_URL", "https://idp/jwks")]),
    )?;
    assert_eq!(cfg.security.jwks, "https://idp/jwks");
    assert_eq!(cfg.tunnel.port, 8765);
    let err = config::load(None, &env_of(&[]))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "security.jwks_url: missing: required (URL or path of the agents' JWKS; or set NOWCONNECT_JWKS_URL)"
        )
    );
    Ok(())
}

#[test]
fn env_beats_yaml() -> anyhow::Result<()> {
    let yaml = "tunnel:\n  host: 127.0.0.1\n  port: 9000\nsecurity:\n  jwks_url: /a.json\n  audience: yaml\n  issuer: https://yaml\n  require_connector_scopes: false\nobservability:\n  metrics_port: 9100\n  log_level: debug\n  log_format: plain\npdp:\n  url: http://pdp/yaml\n  cache_ttl_sec: 9\n  timeout_ms: 900\n";
    let env = [
        ("NOWCONNECT_JWKS_URL", "file:///env.json"),
        ("NOWCONNECT_AUDIENCE", "env-aud"),
        ("NOWCONNECT_ISSUER", ""),
        ("NOWCONNECT_REQUIRE_CONNECTOR_SCOPES", "1"),
        ("NOWCONNECT_FAPI_MODE", "2"),
        ("NOWCONNECT_PDP_URL", "https://pdp/env"),
        ("NOWCONNECT_PDP_CACHE_TTL_SEC", "0"),
        ("NOWCONNECT_PDP_TIMEOUT_MS", "250"),
        ("NOWCONNECT_PDP_FAIL_OPEN", "TRUE"),
        ("LOG_LEVEL", "WARNING"),
        ("NOWCONNECT_LOG_FORMAT", "json"),
        ("NOWCONNECT_TUNNEL_HOST", "::"),
        ("NOWCONNECT_TUNNEL_PORT", "0"),
        ("NOWCONNECT_METRICS_PORT", "9200"),
    ];
    let cfg = parse(yaml, &env)?;
    assert_eq!(cfg.security.jwks, "file:///env.json");
    assert_eq!(cfg.security.audience, "env-aud");
    assert_eq!(
        cfg.security.issuer, None,
        "empty NOWCONNECT_ISSUER turns the check off"
    );
    assert!(cfg.security.require_connector_scopes);
    assert_eq!(cfg.security.fapi_mode, 2);
    assert_eq!(cfg.pdp.url.as_deref(), Some("https://pdp/env"));
    assert_eq!(cfg.pdp.cache_ttl, Duration::ZERO);
    assert_eq!(cfg.pdp.timeout, Duration::from_millis(250));
    assert!(cfg.pdp.fail_open);
    assert_eq!(cfg.observability.log_level, "warn");
    assert_eq!(cfg.observability.log_format, LogFormat::Json);
    assert_eq!(cfg.observability.metrics_port, Some(9200));
    assert_eq!(cfg.tunnel.host.to_string(), "::");
    assert_eq!(cfg.tunnel.port, 0);
    // Without the environment the file's values stand.
    let cfg = parse(yaml, &[])?;
    assert_eq!(cfg.security.issuer.as_deref(), Some("https://yaml"));
    assert_eq!(cfg.pdp.url.as_deref(), Some("http://pdp/yaml"));
    assert_eq!(cfg.observability.log_format, LogFormat::Plain);
    // An empty NOWCONNECT_PDP_URL turns a configured PDP off.
    let cfg = parse(yaml, &[("NOWCONNECT_PDP_URL", "")])?;
    assert_eq!(cfg.pdp.url, None);
    Ok(())
}

#[test]
fn listeners_are_validated() -> anyhow::Result<()> {
    let ok = format!(
        "{MINIMAL}listeners:\n  - name: a\n    bind: 127.0.0.1:0\n    connector: x\n  - name: b\n    bind: 127.0.0.1:0\n    connector: x\n"
    );
    assert_eq!(parse(&ok, &[])?.listeners.len(), 2, "port 0 may repeat");

    let bad_bind =
        format!("{MINIMAL}listeners:\n  - name: a\n    bind: ldap:389\n    connector: x\n");
    let line = error_line(&bad_bind, &[], "listeners[0].bind");
    assert!(line.contains("\"ldap:389\""), "{line}");

    let dup_name = format!(
        "{MINIMAL}listeners:\n  - {{name: a, bind: \"0.0.0.0:1\", connector: x}}\n  - {{name: a, bind: \"0.0.0.0:2\", connector: x}}\n"
    );
    let line = error_line(&dup_name, &[], "listeners[1].name");
    assert!(line.contains("duplicate"), "{line}");

    let dup_bind = format!(
        "{MINIMAL}listeners:\n  - {{name: a, bind: \"0.0.0.0:1\", connector: x}}\n  - {{name: b, bind: \"0.0.0.0:1\", connector: y}}\n"
    );
    error_line(&dup_bind, &[], "listeners[1].bind");

    let bad_connector =
        format!("{MINIMAL}listeners:\n  - {{name: a, bind: \"0.0.0.0:1\", connector: \"a b\"}}\n");
    error_line(&bad_connector, &[], "listeners[0].connector");
    let no_connector = format!("{MINIMAL}listeners:\n  - {{name: a, bind: \"0.0.0.0:1\"}}\n");
    error_line(&no_connector, &[], "listeners[0].connector: missing");
    Ok(())
}

#[test]
fn unknown_key_is_one_line() {
    let line = error_line("tunel:\n  port: 1\n", &[], "\"tunel\"");
    assert!(
        line.starts_with("cloud.yaml: unknown key \"tunel\" at line 1"),
        "{line}"
    );
    let line = error_line(
        &format!("{MINIMAL}tunnel:\n  port: 1\n  bogus: 2\n"),
        &[],
        "\"tunnel.bogus\"",
    );
    assert!(line.contains("line 5"), "{line}");
}

#[test]
fn wrong_type_is_one_line() {
    let line = error_line(
        &format!("{MINIMAL}tunnel:\n  port: abc\n"),
        &[],
        "tunnel.port",
    );
    assert!(line.contains("\"abc\""), "{line}");
    error_line(
        &format!("{MINIMAL}listeners:\n  - name: a\n    bind: [1]\n"),
        &[],
        "listeners[0].bind",
    );
    error_line(
        &format!("{MINIMAL}limits:\n  max_conn_total: -1\n"),
        &[],
        "limits.max_conn_total",
    );
}

#[test]
fn out_of_range_values_are_one_line() {
    let line = error_line(
        &format!("{MINIMAL}limits:\n  queue_depth_per_cid: 0\n"),
        &[],
        "limits.queue_depth_per_cid",
    );
    assert_eq!(
        line,
        "limits.queue_depth_per_cid: 0: must be between 1 and 100000"
    );
    error_line(
        &format!("{MINIMAL}tunnel:\n  ping_interval_sec: 0\n"),
        &[],
        "tunnel.ping_interval_sec",
    );
    error_line(
        &format!("{MINIMAL}tunnel:\n  max_ws_payload: 100\n"),
        &[],
        "tunnel.max_ws_payload",
    );
    error_line(
        &format!("{MINIMAL}tunnel:\n  v2_max_frame: 2000000\n"),
        &[],
        "tunnel.v2_max_frame",
    );
    error_line(
        &format!("{MINIMAL}limits:\n  max_conn_total: 0\n"),
        &[],
        "limits.max_conn_total",
    );
    error_line(
        &format!("{MINIMAL}observability:\n  log_level: loud\n"),
        &[],
        "observability.log_level",
    );
    error_line(
        &format!("{MINIMAL}pdp:\n  url: ftp://pdp\n"),
        &[],
        "pdp.url",
    );
    error_line(
        "security:\n  jwks_url: ldap://x\n",
        &[],
        "security.jwks_url",
    );
}

#[test]
fn bad_cidr_is_one_line() {
    let yaml = format!("{MINIMAL}  allow_cidrs: [10.0.0.0/8, \"::1\", 10.0.0.0/40]\n");
    let line = error_line(&yaml, &[], "security.allow_cidrs[2]");
    assert!(line.contains("10.0.0.0/40"), "{line}");
}

#[test]
fn bad_env_values_are_one_line() {
    let line = error_line(
        MINIMAL,
        &[("NOWCONNECT_PDP_FAIL_OPEN", "maybe")],
        "NOWCONNECT_PDP_FAIL_OPEN",
    );
    assert_eq!(
        line,
        "NOWCONNECT_PDP_FAIL_OPEN=\"maybe\": not a boolean (true, false, 1 or 0)"
    );
    let line = error_line(
        MINIMAL,
        &[("NOWCONNECT_PDP_TIMEOUT_MS", "abc")],
        "NOWCONNECT_PDP_TIMEOUT_MS",
    );
    assert_eq!(line, "NOWCONNECT_PDP_TIMEOUT_MS=\"abc\": not an integer");
    error_line(
        MINIMAL,
        &[("NOWCONNECT_PDP_TIMEOUT_MS", "0")],
        "NOWCONNECT_PDP_TIMEOUT_MS=\"0\"",
    );
    error_line(
        MINIMAL,
        &[("NOWCONNECT_TUNNEL_PORT", "70000")],
        "NOWCONNECT_TUNNEL_PORT",
    );
    error_line(
        MINIMAL,
        &[("NOWCONNECT_TUNNEL_HOST", "hub.local")],
        "NOWCONNECT_TUNNEL_HOST",
    );
    error_line(
        MINIMAL,
        &[("NOWCONNECT_REQUIRE_CONNECTOR_SCOPES", "yes")],
        "NOWCONNECT_REQUIRE_CONNECTOR_SCOPES",
    );
    error_line(MINIMAL, &[("LOG_LEVEL", "verbose")], "LOG_LEVEL");
    error_line(
        MINIMAL,
        &[("NOWCONNECT_LOG_FORMAT", "xml")],
        "NOWCONNECT_LOG_FORMAT",
    );
}

#[test]
fn unreadable_file_is_one_line() {
    let err = config::load(Some(Path::new("/nonexistent/cloud.yaml")), &env_of(&[]));
    let line = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        line.starts_with("/nonexistent/cloud.yaml: cannot read: "),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn tls_files_are_both_or_neither() -> anyhow::Result<()> {
    assert!(parse(MINIMAL, &[])?.tunnel.tls.is_none());
    let both = format!("{MINIMAL}tunnel:\n  tls_cert_file: /c.pem\n  tls_key_file: /k.pem\n");
    let tls = parse(&both, &[])?
        .tunnel
        .tls
        .ok_or_else(|| anyhow::anyhow!("no tls"))?;
    assert_eq!(
        (tls.cert.as_path(), tls.key.as_path()),
        (Path::new("/c.pem"), Path::new("/k.pem"))
    );
    let env = parse(
        MINIMAL,
        &[
            ("NOWCONNECT_TLS_CERT_FILE", "/e.pem"),
            ("NOWCONNECT_TLS_KEY_FILE", "/ek.pem"),
        ],
    )?;
    assert_eq!(env.tunnel.tls.map(|t| t.cert), Some("/e.pem".into()));
    let cert_only = format!("{MINIMAL}tunnel:\n  tls_cert_file: /c.pem\n");
    let line = error_line(&cert_only, &[], "tunnel.tls_key_file");
    assert!(
        line.contains("required when tunnel.tls_cert_file is set"),
        "{line}"
    );
    error_line(
        MINIMAL,
        &[("NOWCONNECT_TLS_KEY_FILE", "/k.pem")],
        "tunnel.tls_cert_file",
    );
    Ok(())
}

#[test]
fn jwks_ca_bundle_from_yaml_or_env() -> anyhow::Result<()> {
    assert!(parse(MINIMAL, &[])?.security.jwks_ca_bundle.is_none());
    let yaml = "security:\n  jwks_url: https://idp/jwks\n  jwks_ca_bundle: /ca.pem\n";
    assert_eq!(
        parse(yaml, &[])?.security.jwks_ca_bundle,
        Some("/ca.pem".into())
    );
    let env = parse(yaml, &[("NOWCONNECT_JWKS_CA_BUNDLE", "/env-ca.pem")])?;
    assert_eq!(env.security.jwks_ca_bundle, Some("/env-ca.pem".into()));
    Ok(())
}

#[test]
fn worker_threads_from_yaml_or_env_zero_means_one_per_cpu() -> anyhow::Result<()> {
    assert_eq!(parse(MINIMAL, &[])?.worker_threads, None);
    let yaml = format!("{MINIMAL}runtime:\n  worker_threads: 2\n");
    assert_eq!(parse(&yaml, &[])?.worker_threads.map(|n| n.get()), Some(2));
    let env = [("NOWCONNECT_WORKER_THREADS", "1")];
    assert_eq!(parse(&yaml, &env)?.worker_threads.map(|n| n.get()), Some(1));
    let env = [("NOWCONNECT_WORKER_THREADS", "0")];
    assert_eq!(parse(&yaml, &env)?.worker_threads, None);
    let line = error_line(
        &format!("{MINIMAL}runtime:\n  worker_threads: 5000\n"),
        &[],
        "runtime.worker_threads",
    );
    assert_eq!(
        line,
        "runtime.worker_threads: 5000: must be between 0 and 1024"
    );
    error_line(
        MINIMAL,
        &[("NOWCONNECT_WORKER_THREADS", "-1")],
        "NOWCONNECT_WORKER_THREADS",
    );
    Ok(())
}
