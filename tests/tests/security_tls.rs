//! The hub serving `wss://` itself (test CA via `tunnel.tls_cert_file`), the agent verifying it
//! with `NC_CA_BUNDLE`, a wrong CA refused, and the agent going through a real HTTP CONNECT
//! proxy (tinyproxy with Basic auth), or around it when `NO_PROXY` matches the hub.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::slapd::{self, Slapd};
use nowconnect_e2e::stack::{
    AgentOpts, HubOpts, TestAgent, TestHub, agent_env, hub_yaml, start_agent_with_env,
    start_hub_yaml,
};
use nowconnect_e2e::tinyproxy::Tinyproxy;
use nowconnect_e2e::tls::TestCa;
use nowconnect_e2e::{logcap, targets, wait};
use std::collections::HashMap;
use std::time::Duration;

/// A hub with an `echo` listener serving TLS on its tunnel port with a `localhost` certificate.
async fn tls_hub(creds: &Creds, ca: &TestCa) -> TestHub {
    tls_hub_for(creds, ca, &["echo"]).await
}

async fn tls_hub_for(creds: &Creds, ca: &TestCa, connectors: &[&str]) -> TestHub {
    let cert = ca.issue("hub", &["localhost", "127.0.0.1"]);
    let yaml = hub_yaml(creds, connectors, &HubOpts::default()).replace(
        "tunnel:\n",
        &format!(
            "tunnel:\n  tls_cert_file: \"{}\"\n  tls_key_file: \"{}\"\n",
            cert.cert.display(),
            cert.key.display()
        ),
    );
    start_hub_yaml(&yaml).await
}

fn wss_url(hub: &TestHub) -> String {
    format!("wss://localhost:{}/tunnel", hub.addrs.tunnel.port())
}

/// The agent's environment for `hub` over `wss://`, trusting `ca`, plus `extra`.
async fn agent(
    creds: &Creds,
    hub: &TestHub,
    ca: &std::path::Path,
    extra: &[(&str, String)],
) -> TestAgent {
    let echo = targets::echo_server().await;
    agent_for(creds, hub, ca, &[("echo", echo)], extra).await
}

async fn agent_for(
    creds: &Creds,
    hub: &TestHub,
    ca: &std::path::Path,
    targets: &[(&str, std::net::SocketAddr)],
    extra: &[(&str, String)],
) -> TestAgent {
    let token_file = creds.token_file("agent-tls", &creds.token("agent-tls"));
    let mut env: HashMap<String, String> = agent_env(
        &wss_url(hub),
        "agent-tls",
        &token_file,
        targets,
        &AgentOpts::default(),
    );
    env.insert("NC_CA_BUNDLE".into(), ca.display().to_string());
    for (k, v) in extra {
        env.insert((*k).into(), v.clone());
    }
    start_agent_with_env(env).await
}

/// The value of `nowconnect_tunnel_reconnects_total{reason=…}` in an agent's metrics.
fn reconnects(agent: &TestAgent, reason: &str) -> f64 {
    let (_, body) = agent.telemetry.render();
    body.lines()
        .filter(|l| l.starts_with("nowconnect_tunnel_reconnects_total{"))
        .filter(|l| l.contains(&format!("reason=\"{reason}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_dials_wss_with_the_ca_bundle_and_probes_are_https() {
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    let hub = tls_hub(&creds, &ca).await;
    let agent = agent(&creds, &hub, &ca.ca_path(), &[]).await;
    agent.wait_ready().await;
    wait::wait_routable(hub.listener("echo"), Duration::from_secs(10)).await;

    // The tunnel port's probes are HTTPS now; plain HTTP gets no answer.
    let tls = nowconnect_auth::tls::client_config(Some(&ca.ca_path())).unwrap();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let port = hub.addrs.tunnel.port();
    let res = client
        .get(format!("https://localhost:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let metrics = client
        .get(format!("https://localhost:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert!(metrics.text().await.unwrap().contains("nowconnect_"));
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_the_wrong_ca_is_refused_with_a_tls_error() {
    let (creds, ca, wrong) = (Creds::new(), TestCa::new("hub"), TestCa::new("wrong"));
    let hub = tls_hub(&creds, &ca).await;
    let agent = agent(&creds, &hub, &wrong.ca_path(), &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reconnects(&agent, "tls_failed") < 2.0 {
        assert!(tokio::time::Instant::now() < deadline, "no tls_failed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Never connected: nothing routes to the echo connector.
    let health = tokio::net::TcpStream::connect(agent.health).await;
    let mut answer = String::new();
    if let Ok(mut s) = health {
        use tokio::io::AsyncReadExt;
        let _ = s.read_to_string(&mut answer).await;
    }
    assert_eq!(answer.trim(), "OK", "agent must not be READY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_goes_through_an_http_connect_proxy_with_basic_auth() {
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    let proxy = Tinyproxy::start().await;
    let hub = tls_hub(&creds, &ca).await;
    let agent = agent(
        &creds,
        &hub,
        &ca.ca_path(),
        &[
            ("NC_TRUST_ENV", "true".into()),
            ("HTTPS_PROXY", proxy.url_with_auth()),
            ("NO_PROXY", "example.com,.internal".into()),
        ],
    )
    .await;
    agent.wait_ready().await;
    wait::wait_routable(hub.listener("echo"), Duration::from_secs(10)).await;
    let log = proxy.log();
    let connect = format!("CONNECT localhost:{} HTTP/1.1", hub.addrs.tunnel.port());
    assert!(
        log.contains(&connect),
        "proxy log lacks {connect:?}:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_proxy_credentials_are_a_clear_refusal() {
    logcap::install();
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    let proxy = Tinyproxy::start().await;
    let hub = tls_hub(&creds, &ca).await;
    let url = format!("http://agent:not-the-pr0xy-pw@{}", proxy.addr);
    let agent = agent(
        &creds,
        &hub,
        &ca.ca_path(),
        &[("NC_TRUST_ENV", "true".into()), ("HTTPS_PROXY", url)],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reconnects(&agent, "proxy_refused") < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "no proxy_refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One clear line naming the proxy's answer; the password is never logged.
    let events = logcap::events();
    let refused = events.iter().find(|e| {
        logcap::has(e, "event", "tunnel_connect_failed")
            && logcap::has(e, "reason", "proxy_refused")
    });
    let error = refused
        .and_then(|e| e.get("error"))
        .cloned()
        .unwrap_or_default();
    // tinyproxy answers a bad Basic auth with 401 (RFC 9110 says 407); both get the hint.
    assert!(error.contains("HTTP 401"), "{error:?}");
    assert!(
        error.contains("proxy authentication required or rejected"),
        "{error:?}"
    );
    let all = format!("{events:?}");
    assert!(
        !all.contains("not-the-pr0xy-pw"),
        "proxy password in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_matching_the_hub_bypasses_the_proxy() {
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    // Nothing listens on the proxy address: if the agent used it, it could never connect.
    let dead_proxy = targets::closed_port().await;
    let hub = tls_hub(&creds, &ca).await;
    let agent = agent(
        &creds,
        &hub,
        &ca.ca_path(),
        &[
            ("NC_TRUST_ENV", "true".into()),
            ("HTTPS_PROXY", format!("http://{dead_proxy}")),
            ("NO_PROXY", "example.com, LOCALHOST".into()),
        ],
    )
    .await;
    agent.wait_ready().await;
    wait::wait_routable(hub.listener("echo"), Duration::from_secs(10)).await;
    assert_eq!(reconnects(&agent, "proxy_failed"), 0.0);
}

#[test]
fn unreadable_or_invalid_tls_files_stop_the_hub_with_one_line_and_exit_64() {
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    let cert = ca.issue("hub", &["localhost"]);
    let garbage = ca.dir().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let other_key = ca.issue("other", &["localhost"]).key;
    let cases = [
        (
            ca.dir().join("missing.pem"),
            cert.key.clone(),
            "missing.pem",
        ),
        (garbage.clone(), cert.key.clone(), "no CERTIFICATE block"),
        (cert.cert.clone(), garbage, "no usable PRIVATE KEY block"),
        (cert.cert.clone(), other_key, "certificate and key"),
    ];
    for (cert_file, key_file, want) in cases {
        let yaml = hub_yaml(&creds, &[], &HubOpts::default());
        let path = ca.dir().join("cloud.yaml");
        std::fs::write(&path, yaml).unwrap();
        let env = HashMap::from([
            (
                "NOWCONNECT_TLS_CERT_FILE".to_owned(),
                cert_file.display().to_string(),
            ),
            (
                "NOWCONNECT_TLS_KEY_FILE".to_owned(),
                key_file.display().to_string(),
            ),
        ]);
        let (code, _, stderr) = nowconnect_e2e::procs::run(
            "nowconnect-cloud",
            &["--config", path.to_str().unwrap()],
            &env,
        );
        assert_eq!(code, 64, "{want}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{want}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_flows_over_wss_through_the_proxy() {
    let slapd = Slapd::start().expect("slapd");
    let (creds, ca) = (Creds::new(), TestCa::new("hub"));
    let proxy = Tinyproxy::start().await;
    let hub = tls_hub_for(&creds, &ca, &["addomain"]).await;
    let agent = agent_for(
        &creds,
        &hub,
        &ca.ca_path(),
        &[("addomain", slapd.addr())],
        &[
            ("NC_TRUST_ENV", "true".into()),
            ("HTTPS_PROXY", proxy.url_with_auth()),
        ],
    )
    .await;
    agent.wait_ready().await;
    let (tunnel, direct) = (hub.listener("addomain"), slapd.addr());
    let search = |addr| {
        tokio::task::spawn_blocking(move || {
            slapd::ldapsearch(addr, Slapd::BASE_DN, "(objectClass=*)", &["dn"])
        })
    };
    let through = search(tunnel)
        .await
        .unwrap()
        .expect("ldapsearch through the tunnel");
    let expected = search(direct).await.unwrap().expect("ldapsearch direct");
    assert!(through.entries > 1, "{}", through.stdout);
    assert_eq!(through.stdout, expected.stdout);
    assert!(
        proxy.log().contains("CONNECT localhost:"),
        "{}",
        proxy.log()
    );
}
