//! The binaries refuse bad configuration with one line naming the key, and exit 64.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::procs;
use std::collections::HashMap;

fn hub_check(yaml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, _, err) = procs::run(
        "nowconnect-cloud",
        &["check-config", "--config", path.to_str().unwrap()],
        &HashMap::new(),
    );
    (code, err)
}

#[test]
fn hub_rejects_bad_config_with_one_line_and_exit_64() {
    let base = "security:\n  jwks_url: /etc/nowconnect/jwks.json\n";
    let cases = [
        (format!("{base}tunel:\n  port: 1\n"), "tunel"),
        (format!("{base}tunnel:\n  port: abc\n"), "tunnel.port"),
        (
            format!("{base}limits:\n  queue_depth_per_cid: 0\n"),
            "queue_depth_per_cid",
        ),
        (
            format!("{base}listeners:\n  - name: l\n    bind: nowhere\n    connector: c\n"),
            "bind",
        ),
        ("tunnel:\n  port: 8765\n".to_string(), "jwks_url"),
    ];
    for (yaml, key) in cases {
        let (code, err) = hub_check(&yaml);
        assert_eq!(code, 64, "exit code for {key}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(key), "names {key}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, err) = hub_check(base);
    assert_eq!(code, 0, "a minimal valid config passes: {err}");
}

#[test]
fn hub_env_override_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.yaml");
    std::fs::write(&path, "security:\n  jwks_url: /x.json\n").unwrap();
    let env = HashMap::from([("NOWCONNECT_PDP_TIMEOUT_MS".to_string(), "soon".to_string())]);
    let (code, _, err) = procs::run(
        "nowconnect-cloud",
        &["check-config", "--config", path.to_str().unwrap()],
        &env,
    );
    assert_eq!(code, 64);
    assert!(err.contains("NOWCONNECT_PDP_TIMEOUT_MS=\"soon\""), "{err}");
}

#[test]
fn agent_rejects_bad_env_with_one_line_and_exit_64() {
    let good = HashMap::from([
        ("NC_AGENT_URL", "ws://hub:8765/tunnel"),
        ("NC_AGENT_ID", "a1"),
        ("NC_TOKEN_FILE", "/run/secrets/agent.jwt"),
        ("NC_CONNECTORS", "addomain"),
        ("NC_TARGET_addomain_HOST", "openldap"),
        ("NC_TARGET_addomain_PORT", "389"),
    ]);
    let owned = |m: &HashMap<&str, &str>| {
        m.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>()
    };
    let (code, _, err) = procs::run("nowconnect-premise", &["--check-config"], &owned(&good));
    assert_eq!(code, 0, "{err}");
    let cases = [
        ("NC_AGENT_URL", "http://hub/tunnel", "NC_AGENT_URL"),
        (
            "NC_TARGET_addomain_PORT",
            "99999",
            "NC_TARGET_addomain_PORT",
        ),
        ("NC_CONNECTORS", "addomain,other", "other"),
        ("NC_CONNECT_TIMEOUT_MS", "-1", "NC_CONNECT_TIMEOUT_MS"),
    ];
    for (var, value, named) in cases {
        let mut env = good.clone();
        env.insert(var, value);
        let (code, _, err) = procs::run("nowconnect-premise", &["--check-config"], &owned(&env));
        assert_eq!(code, 64, "{var}={value}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(err.contains(named), "names {named}: {err}");
    }
    let mut env = good.clone();
    env.remove("NC_AGENT_ID");
    let (code, _, err) = procs::run("nowconnect-premise", &["--check-config"], &owned(&env));
    assert_eq!(code, 64);
    assert!(
        err.contains("NC_AGENT_ID") || err.contains("agent_id"),
        "{err}"
    );
}

#[test]
fn every_example_config_in_the_repo_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let hub = root.join("services/nowconnect-cloud/examples/cloud.yaml");
    let (code, _, err) = procs::run(
        "nowconnect-cloud",
        &["check-config", "--config", hub.to_str().unwrap()],
        &HashMap::new(),
    );
    assert_eq!(code, 0, "{err}");
    let agent = root.join("services/nowconnect-premise/examples/premise.yaml");
    let (code, _, err) = procs::run(
        "nowconnect-premise",
        &["--check-config", "--config", agent.to_str().unwrap()],
        &HashMap::new(),
    );
    assert_eq!(code, 0, "{err}");
}
