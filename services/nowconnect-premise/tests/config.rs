//! `NC_*` environment + `premise.yaml` → `AgentConfig`: defaults, overrides and one-line errors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nowconnect_premise::config::{self, AgentConfig, ConfigError, EXIT_CONFIG, LogFormat};

/// The environment of a minimal agent: everything required, nothing else.
const REQUIRED: [(&str, &str); 6] = [
    ("NC_AGENT_URL", "ws://hub:8765/tunnel"),
    ("NC_AGENT_ID", "agent-1"),
    ("NC_CONNECTORS", "addomain"),
    ("NC_TOKEN_FILE", "/run/token"),
    ("NC_TARGET_addomain_HOST", "openldap"),
    ("NC_TARGET_addomain_PORT", "389"),
];

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

/// `REQUIRED` with `changes` applied (an empty value removes the variable).
fn required_with(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = REQUIRED
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .copied()
        .collect();
    env.extend(changes.iter().filter(|(_, v)| !v.is_empty()));
    env
}

fn parse(yaml: &str, env: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/premise.yaml");
    let cfg = config::load(Some(&path), &env_of(&[]))?;
    assert_eq!(cfg.tunnel.url, "ws://nowconnect-cloud:8765/tunnel");
    assert_eq!(cfg.tunnel.connectors, ["addomain"]);
    let target = &cfg.targets["addomain"];
    assert_eq!((target.host.as_str(), target.port), ("openldap", 389));
    assert!(cfg.proxy.https_proxy.is_none());
    Ok(())
}

#[test]
fn env_alone_is_enough_and_defaults_are_the_spec_values() -> anyhow::Result<()> {
    let cfg = config::load(None, &env_of(&REQUIRED))?;
    let t = &cfg.tunnel;
    assert_eq!(t.url, "ws://hub:8765/tunnel");
    assert_eq!(t.agent_id, "agent-1");
    assert_eq!(t.connectors, ["addomain"]);
    assert_eq!(t.token_file, PathBuf::from("/run/token"));
    assert_eq!(t.ping_interval, Duration::from_secs(20));
    assert_eq!(t.ping_timeout, Duration::from_secs(20));
    assert_eq!(t.max_ws_payload, 8192);
    assert!(t.v2);
    assert_eq!(t.v2_max_frame, 65536);
    assert_eq!(t.backoff_base, Duration::from_millis(500));
    assert_eq!(t.backoff_max, Duration::from_millis(30_000));
    let l = &cfg.limits;
    assert_eq!(l.idle_timeout, Duration::from_millis(60_000));
    assert_eq!(l.connect_timeout, Duration::from_millis(3000));
    assert_eq!(l.queue_depth_per_cid, 100);
    assert_eq!(l.max_inflight_cids, 2000);
    assert_eq!(l.shutdown_grace, Duration::from_millis(10_000));
    assert_eq!(cfg.health_addr, "0.0.0.0:8090".parse::<SocketAddr>()?);
    assert_eq!(cfg.metrics_addr, "0.0.0.0:8000".parse::<SocketAddr>()?);
    assert_eq!(cfg.log_level, "info");
    assert_eq!(cfg.log_format, LogFormat::Plain);
    assert!(!cfg.proxy.trust_env);
    assert!(
        cfg.proxy.https_proxy.is_none()
            && cfg.proxy.no_proxy.is_none()
            && cfg.proxy.ca_bundle.is_none()
    );
    assert_eq!(EXIT_CONFIG, 64);
    Ok(())
}

#[test]
fn env_beats_yaml() -> anyhow::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/premise.yaml");
    let env = [
        ("NC_AGENT_URL", "wss://hub.example.com/tunnel"),
        ("NC_AGENT_ID", "env-agent"),
        ("NC_CONNECTORS", "addomain, ssh"),
        ("NC_TOKEN_FILE", "/env/token"),
        ("NC_TARGET_addomain_PORT", "636"),
        ("NC_TARGET_ssh_HOST", "bastion"),
        ("NC_TARGET_ssh_PORT", "22"),
        ("NC_PROTOCOL_V2", "0"),
        ("NC_PING_INTERVAL_SEC", "5"),
        ("NC_PING_TIMEOUT_SEC", "7"),
        ("NC_MAX_WS_PAYLOAD", "1024"),
        ("NC_CONNECT_TIMEOUT_MS", "100"),
        ("NC_IDLE_TIMEOUT_MS", "200"),
        ("NC_MAX_INFLIGHT_CIDS", "3"),
        ("NC_QUEUE_DEPTH_PER_CID", "4"),
        ("NC_HEALTH_HOST", "127.0.0.1"),
        ("NC_HEALTH_PORT", "0"),
        ("NC_METRICS_HOST", "::1"),
        ("NC_METRICS_PORT", "9000"),
        ("NC_LOG_LEVEL", "DEBUG"),
        ("NC_LOG_FORMAT", "json"),
        ("NC_CA_BUNDLE", "/env/ca.pem"),
    ];
    let cfg = config::load(Some(&path), &env_of(&env))?;
    assert_eq!(cfg.tunnel.url, "wss://hub.example.com/tunnel");
    assert_eq!(cfg.tunnel.agent_id, "env-agent");
    assert_eq!(cfg.tunnel.connectors, ["addomain", "ssh"]);
    assert_eq!(cfg.tunnel.token_file, PathBuf::from("/env/token"));
    // Per field: the host stays from the YAML, the port comes from the environment.
    let ad = &cfg.targets["addomain"];
    assert_eq!((ad.host.as_str(), ad.port), ("openldap", 636));
    let ssh = &cfg.targets["ssh"];
    assert_eq!((ssh.host.as_str(), ssh.port), ("bastion", 22));
    assert!(!cfg.tunnel.v2);
    assert_eq!(cfg.tunnel.ping_interval, Duration::from_secs(5));
    assert_eq!(cfg.tunnel.ping_timeout, Duration::from_secs(7));
    assert_eq!(cfg.tunnel.max_ws_payload, 1024);
    assert_eq!(cfg.limits.connect_timeout, Duration::from_millis(100));
    assert_eq!(cfg.limits.idle_timeout, Duration::from_millis(200));
    assert_eq!(cfg.limits.max_inflight_cids, 3);
    assert_eq!(cfg.limits.queue_depth_per_cid, 4);
    assert_eq!(cfg.health_addr, "127.0.0.1:0".parse::<SocketAddr>()?);
    assert_eq!(cfg.metrics_addr, "[::1]:9000".parse::<SocketAddr>()?);
    assert_eq!(cfg.log_level, "debug");
    assert_eq!(cfg.log_format, LogFormat::Json);
    assert_eq!(cfg.proxy.ca_bundle, Some(PathBuf::from("/env/ca.pem")));
    Ok(())
}

#[test]
fn proxy_env_applies_only_when_trusted() -> anyhow::Result<()> {
    let proxy_env = [
        ("HTTPS_PROXY", "http://u:p@envproxy:3128"),
        ("no_proxy", "localhost"),
    ];
    let yaml = "proxy:\n  https_proxy: http://yamlproxy:3128\n";
    let untrusted = parse(yaml, &[&REQUIRED[..], &proxy_env[..]].concat())?;
    assert_eq!(
        untrusted.proxy.https_proxy.as_ref().map(|s| s.expose()),
        Some("http://yamlproxy:3128")
    );
    assert_eq!(untrusted.proxy.no_proxy, None);
    let trusted = parse(
        yaml,
        &[&REQUIRED[..], &proxy_env[..], &[("NC_TRUST_ENV", "true")]].concat(),
    )?;
    assert!(trusted.proxy.trust_env);
    assert_eq!(
        trusted.proxy.https_proxy.as_ref().map(|s| s.expose()),
        Some("http://u:p@envproxy:3128")
    );
    assert_eq!(trusted.proxy.no_proxy.as_deref(), Some("localhost"));
    Ok(())
}

#[test]
fn debug_redacts_the_proxy_password() -> anyhow::Result<()> {
    let yaml = "proxy:\n  https_proxy: http://alice:s3cr3t-pw@proxy.corp:3128\n";
    let cfg = parse(yaml, &REQUIRED)?;
    let debug = format!("{cfg:?}");
    assert!(
        debug.contains("https_proxy: Some(Secret(<redacted>))"),
        "{debug}"
    );
    assert!(
        !debug.contains("s3cr3t-pw") && !debug.contains("alice"),
        "{debug}"
    );
    // A refused proxy URL is not echoed either, from the file or from the environment.
    let bad = "proxy:\n  https_proxy: socks5://alice:s3cr3t-pw@proxy.corp:1080\n";
    let line = error_line(bad, &REQUIRED, "proxy.https_proxy");
    assert!(!line.contains("s3cr3t-pw"), "{line}");
    let env = [
        &REQUIRED[..],
        &[
            ("NC_TRUST_ENV", "1"),
            ("HTTPS_PROXY", "ftp://bob:hunter2@p"),
        ],
    ]
    .concat();
    let line = error_line("", &env, "HTTPS_PROXY");
    assert!(!line.contains("hunter2"), "{line}");
    Ok(())
}

#[test]
fn unknown_key_and_wrong_type_are_one_line() {
    let line = error_line("tunel:\n  url: x\n", &REQUIRED, "\"tunel\"");
    assert!(
        line.starts_with("premise.yaml: unknown key \"tunel\" at line 1"),
        "{line}"
    );
    error_line(
        "targets:\n  addomain:\n    host: a\n    prot: 1\n",
        &REQUIRED,
        "\"targets.addomain.prot\"",
    );
    let line = error_line(
        "targets:\n  addomain:\n    port: ldap\n",
        &REQUIRED,
        "targets.addomain.port",
    );
    assert!(line.contains("\"ldap\""), "{line}");
    error_line("tunnel:\n  v2: perhaps\n", &REQUIRED, "tunnel.v2");
}

#[test]
fn invalid_values_are_one_line() {
    let line = error_line(
        "",
        &required_with(&[("NC_AGENT_URL", "http://hub:8765/tunnel")]),
        "NC_AGENT_URL",
    );
    assert_eq!(
        line,
        "NC_AGENT_URL=\"http://hub:8765/tunnel\": must start with ws:// or wss://"
    );
    error_line(
        "",
        &required_with(&[("NC_AGENT_URL", "ws://hub:8765")]),
        "must end with a path",
    );
    error_line(
        "tunnel:\n  url: wss:///tunnel\n",
        &required_with(&[("NC_AGENT_URL", "")]),
        "tunnel.url",
    );
    let line = error_line(
        "",
        &required_with(&[("NC_AGENT_ID", "")]),
        "tunnel.agent_id: missing",
    );
    assert!(line.contains("NC_AGENT_ID"), "{line}");
    error_line("", &required_with(&[("NC_AGENT_ID", "a b")]), "NC_AGENT_ID");
    error_line(
        "",
        &required_with(&[("NC_CONNECTORS", "a,,b")]),
        "NC_CONNECTORS",
    );
    error_line(
        "",
        &required_with(&[("NC_CONNECTORS", "addomain,addomain")]),
        "listed twice",
    );
    error_line(
        "",
        &required_with(&[("NC_TOKEN_FILE", "")]),
        "tunnel.auth.token_file: missing",
    );
    let line = error_line(
        "",
        &required_with(&[("NC_QUEUE_DEPTH_PER_CID", "0")]),
        "NC_QUEUE_DEPTH_PER_CID",
    );
    assert_eq!(
        line,
        "NC_QUEUE_DEPTH_PER_CID=\"0\": must be between 1 and 100000"
    );
    let line = error_line(
        "limits:\n  queue_depth_per_cid: 0\n",
        &REQUIRED,
        "limits.queue_depth_per_cid",
    );
    assert_eq!(
        line,
        "limits.queue_depth_per_cid: 0: must be between 1 and 100000"
    );
    error_line(
        "",
        &required_with(&[("NC_TRUST_ENV", "yes")]),
        "NC_TRUST_ENV=\"yes\": not a boolean",
    );
    error_line(
        "",
        &required_with(&[("NC_HEALTH_HOST", "localhost")]),
        "NC_HEALTH_HOST",
    );
    error_line(
        "",
        &required_with(&[("NC_LOG_FORMAT", "xml")]),
        "NC_LOG_FORMAT",
    );
    error_line(
        "tunnel:\n  backoff_max_ms: 100\n",
        &REQUIRED,
        "tunnel.backoff_max_ms",
    );
    error_line(
        "tunnel:\n  ping_timeout_sec: 0\n",
        &REQUIRED,
        "tunnel.ping_timeout_sec",
    );
}

#[test]
fn every_connector_needs_a_target() {
    let env = required_with(&[
        ("NC_TARGET_addomain_HOST", ""),
        ("NC_TARGET_addomain_PORT", ""),
    ]);
    let line = error_line("", &env, "targets.addomain");
    assert_eq!(
        line,
        "targets.addomain: missing: every exported connector needs a target (NC_TARGET_addomain_HOST/_PORT)"
    );
    let only_host = required_with(&[("NC_TARGET_addomain_PORT", "")]);
    error_line("", &only_host, "targets.addomain.port: missing");
    error_line(
        "",
        &required_with(&[("NC_TARGET_addomain_PORT", "0")]),
        "NC_TARGET_addomain_PORT",
    );
    error_line(
        "",
        &required_with(&[("NC_TARGET_addomain_PORT", "65536")]),
        "NC_TARGET_addomain_PORT",
    );
    error_line(
        "targets:\n  addomain:\n    host: x\n    port: 0\n",
        &env,
        "targets.addomain.port",
    );
    error_line(
        "",
        &required_with(&[("NC_TARGET_addomain_HOST", "bad host")]),
        "NC_TARGET_addomain_HOST",
    );
}

#[test]
fn targets_of_other_connectors_are_ignored() -> anyhow::Result<()> {
    let cfg = parse("targets:\n  other:\n    host: x\n    port: 1\n", &REQUIRED)?;
    assert_eq!(cfg.targets.keys().collect::<Vec<_>>(), ["addomain"]);
    Ok(())
}

#[test]
fn worker_threads_from_yaml_or_env_zero_means_one_per_cpu() -> anyhow::Result<()> {
    assert_eq!(parse("", &REQUIRED)?.worker_threads, None);
    let yaml = "runtime:\n  worker_threads: 2\n";
    assert_eq!(
        parse(yaml, &REQUIRED)?.worker_threads.map(|n| n.get()),
        Some(2)
    );
    let env = required_with(&[("NC_WORKER_THREADS", "1")]);
    assert_eq!(parse(yaml, &env)?.worker_threads.map(|n| n.get()), Some(1));
    let env = required_with(&[("NC_WORKER_THREADS", "0")]);
    assert_eq!(parse(yaml, &env)?.worker_threads, None);
    let line = error_line(
        "runtime:\n  worker_threads: 5000\n",
        &REQUIRED,
        "runtime.worker_threads",
    );
    assert_eq!(
        line,
        "runtime.worker_threads: 5000: must be between 0 and 1024"
    );
    let env = required_with(&[("NC_WORKER_THREADS", "many")]);
    error_line("", &env, "NC_WORKER_THREADS");
    Ok(())
}
