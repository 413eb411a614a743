//! The compose stack's own files, running natively with every container hostname mapped to
//! loopback: the `keys` job script makes the JWKS and the agent token; the OpenLDAP entrypoint
//! seeds and runs slapd; the hub runs the mounted `cloud.yaml` (only the listener's bind moved
//! to a free loopback port, tunnel address and JWKS path through `NOWCONNECT_*`); the agent runs
//! the compose environment (`premise.env` + `environment:`) with its host:port values mapped;
//! crud-service runs the mounted system file with the host and port mapped. Then LDAP flows
//! through the tunnel (the real `ldapsearch` against the hub's listener), crud-service answers
//! through it, the compose health checks (`nc-healthcheck`, `ldapwhoami`) pass, every
//! Prometheus job's target serves `nowconnect_*` metrics, and the services' OTLP export reaches
//! a collector at the address compose gives them. Nothing else is changed, so the shipped
//! configs are known to work. The keys job's re-issue and rotation (docs/operations.md) run too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::crud::request;
use nowconnect_e2e::deploy::{self, Compose, list, scalar, split_url};
use nowconnect_e2e::otlp::{Receiver, start_grpc, start_http};
use nowconnect_e2e::procs::{Proc, binary};
use nowconnect_e2e::slapd::{Slapd, ldapsearch};
use nowconnect_e2e::targets::closed_port;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A script's process (slapd after `exec`), killed and reaped on drop.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `PATH` with the workspace binaries and the sbin directories first.
fn path_env() -> String {
    let bins = binary("nowconnect-cloud").parent().unwrap().to_path_buf();
    format!(
        "{}:/usr/sbin:/usr/local/sbin:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Replaces `from` (which must occur exactly once) by `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from} in:\n{text}");
    text.replacen(from, to, 1)
}

/// Runs a compose health check (`test: [CMD, ...]`) natively until it passes, with the
/// container-side `port` replaced by `addr`'s.
fn wait_healthcheck(c: &Compose, service: &str, port: u16, addr: SocketAddr, logs: &[&Path]) {
    let test = list(&c.service(service)["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD");
    let args: Vec<String> = test[1..]
        .iter()
        .map(|a| {
            if *a == port.to_string() {
                addr.port().to_string()
            } else {
                a.replace(&format!("127.0.0.1:{port}"), &addr.to_string())
            }
        })
        .collect();
    let program = match args[0].as_str() {
        "nc-healthcheck" => deploy::repo().join("compose/docker/healthcheck.sh"),
        other => PathBuf::from(other),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new(&program)
            .args(&args[1..])
            .env("PATH", path_env())
            .env("LDAPNOINIT", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        let logs: Vec<String> = logs
            .iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect();
        assert!(
            Instant::now() < deadline,
            "{service}: health check {args:?} never passed\n{}",
            logs.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One run of `nc-healthcheck MODE PORT ARG` against `addr`.
fn healthcheck_passes(mode: &str, addr: SocketAddr, arg: &str) -> bool {
    Command::new(deploy::repo().join("compose/docker/healthcheck.sh"))
        .args([mode, &addr.port().to_string(), arg])
        .env("HEALTHCHECK_HOST", addr.ip().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// The keys job's script into `dir` (as $KEYS_DIR), as the compose service runs it, with
/// `extra` variables (`KEYS_ROTATE`).
fn run_keys_job(c: &Compose, dir: &Path, extra: &[(&str, &str)]) {
    let script = c.mount_covering("keys", "/usr/local/lib/nowconnect/keys-init.sh");
    let mut env = c.env("keys");
    env.insert("KEYS_DIR".into(), dir.display().to_string());
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let out = Command::new("/bin/sh")
        .arg(script.host_path())
        .env_clear()
        .env("PATH", path_env())
        .envs(&env)
        .output()
        .unwrap();
    assert!(out.status.success(), "keys job {extra:?}: {out:?}");
}

/// The OpenLDAP entrypoint on `addr`, data in `dir`, seed files as the image has them.
fn start_openldap(c: &Compose, dir: &Path, addr: SocketAddr, log: &Path) -> Script {
    let env = c.env("openldap");
    let file = std::fs::File::create(log).unwrap();
    let child = Command::new(deploy::repo().join("compose/openldap/entrypoint.sh"))
        .env_clear()
        .env("PATH", path_env())
        .env("LDAP_ADMIN_PASSWORD", &env["LDAP_ADMIN_PASSWORD"])
        .env("LDAP_DATA_DIR", dir)
        .env("LDAP_SEED_DIR", deploy::repo().join("tests/fixtures"))
        .env("LDAP_URLS", format!("ldap://{addr}/"))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    Script(child)
}

/// The compose environment of `service` with `(from, to)` replacements applied to its values,
/// each used exactly once overall; `OTEL_*` endpoints go to `otlp`.
fn mapped_env(
    c: &Compose,
    service: &str,
    map: &[(&str, String)],
    otlp: &HashMap<u16, SocketAddr>,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = c.env(service).into_iter().collect();
    let (_, host, port, _) = split_url(&env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    assert_eq!(host, "otel-collector");
    env.insert(
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        format!("http://{}", otlp[&port]),
    );
    for (from, to) in map {
        let keys: Vec<String> = env
            .iter()
            .filter(|(_, v)| *v == from || v.contains(&format!("{from}/")))
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(keys.len(), 1, "{service}: {from} in {keys:?}");
        let value = env[&keys[0]].replacen(from, to, 1);
        env.insert(keys[0].clone(), value);
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_configs_carry_ldap_through_the_tunnel() {
    let c = Compose::load();
    let work = tempfile::tempdir().unwrap();
    let log = |name: &str| work.path().join(format!("{name}.log"));

    // OTLP: the collector's two receivers, at the ports compose gives them.
    let receiver = Receiver::default();
    let otlp: HashMap<u16, SocketAddr> = [
        (4317, start_grpc(receiver.clone()).await),
        (4318, start_http(receiver.clone()).await),
    ]
    .into();

    // keys job → volumes nowconnect-jwks / nowconnect-token.
    let keys = work.path().join("keys");
    run_keys_job(&c, &keys, &[]);
    let volume_dir = |service: &str, target: &str| {
        let mount = c.mount_covering(service, target);
        let keys_mount = c
            .mounts("keys")
            .into_iter()
            .find(|m| m.source == mount.source)
            .unwrap();
        let sub = keys_mount
            .target
            .trim_start_matches(&c.env("keys")["KEYS_DIR"]);
        let rest = target.strip_prefix(&mount.target).unwrap();
        format!("{}{sub}{rest}", keys.display())
    };

    // OpenLDAP, seeded by its entrypoint.
    let ldap_addr = closed_port().await;
    let ldap_log = log("openldap");
    let _ldap = start_openldap(&c, &work.path().join("ldap"), ldap_addr, &ldap_log);
    let ldap_port = 389;
    wait_healthcheck(&c, "openldap", ldap_port, ldap_addr, &[&ldap_log]);

    // Hub: the mounted cloud.yaml with the listener moved; the rest through NOWCONNECT_*.
    let hub_env = c.env("nowconnect-cloud");
    let cloud_mount = c.mount_covering("nowconnect-cloud", &hub_env["NC_CONFIG"]);
    let cloud = std::fs::read_to_string(cloud_mount.host_path()).unwrap();
    let listener = closed_port().await;
    let cloud = replace_once(&cloud, "bind: 0.0.0.0:389", &format!("bind: {listener}"));
    let cloud_file = work.path().join("cloud.yaml");
    std::fs::write(&cloud_file, &cloud).unwrap();
    let tunnel = closed_port().await;
    let jwks = deploy::yaml(&cloud, "cloud.yaml")["security"]["jwks_url"].clone();
    let mut env = mapped_env(&c, "nowconnect-cloud", &[], &otlp);
    env.insert("NC_CONFIG".into(), cloud_file.display().to_string());
    env.insert("NOWCONNECT_TUNNEL_HOST".into(), tunnel.ip().to_string());
    env.insert("NOWCONNECT_TUNNEL_PORT".into(), tunnel.port().to_string());
    env.insert(
        "NOWCONNECT_JWKS_URL".into(),
        volume_dir("nowconnect-cloud", &scalar(&jwks)),
    );
    let hub_log = log("hub");
    let mut hub = Proc::spawn("nowconnect-cloud", &[], &env, &hub_log);
    wait_healthcheck(&c, "nowconnect-cloud", 8765, tunnel, &[&hub_log]);
    // The same check fails on a non-200 answer: /readyz is 503 while `addomain` has no agent.
    assert!(!healthcheck_passes("http", tunnel, "/readyz"));

    // Agent: the compose environment, host:port values mapped to loopback.
    let (health, admin) = (closed_port().await, closed_port().await);
    let agent_env = c.env("nowconnect-premise");
    let token = volume_dir("nowconnect-premise", &agent_env["NC_TOKEN_FILE"]);
    let map = [
        ("nowconnect-cloud:8765", tunnel.to_string()),
        ("openldap", "127.0.0.1".to_owned()),
        ("389", ldap_addr.port().to_string()),
        ("8090", health.port().to_string()),
        ("8000", admin.port().to_string()),
        (agent_env["NC_TOKEN_FILE"].as_str(), token),
    ];
    let env = mapped_env(&c, "nowconnect-premise", &map, &otlp);
    let agent_log = log("agent");
    let mut agent = Proc::spawn("nowconnect-premise", &[], &env, &agent_log);
    wait_healthcheck(
        &c,
        "nowconnect-premise",
        8090,
        health,
        &[&hub_log, &agent_log],
    );

    // LDAP through the tunnel: the real ldapsearch against the hub's listener.
    assert_eq!(
        c.env("openldap")["LDAP_ADMIN_PASSWORD"],
        Slapd::ADMIN_PASSWORD
    );
    let found = tokio::task::spawn_blocking(move || {
        ldapsearch(
            listener,
            Slapd::BASE_DN,
            "(objectClass=inetOrgPerson)",
            &["uid"],
        )
    })
    .await
    .unwrap()
    .expect("ldapsearch through the tunnel");
    assert_eq!(found.entries, Slapd::SEED_USERS, "{}", found.stdout);
    assert!(healthcheck_passes("http", tunnel, "/readyz"));
    assert!(
        !healthcheck_passes("line", health, "OK"),
        "the agent says READY now"
    );

    // crud-service: the mounted system file, pointed at the hub's listener on loopback.
    let crud_env = c.env("crud-service");
    let dir = c.mount_covering("crud-service", &crud_env["SERVICE_CONFIG_DIR"]);
    let systems = work.path().join("crud/systems");
    std::fs::create_dir_all(&systems).unwrap();
    let corp = std::fs::read_to_string(dir.host_path().join("systems/corp.yaml")).unwrap();
    let corp = replace_once(
        &corp,
        "base_url: nowconnect-cloud",
        &format!("base_url: {}", listener.ip()),
    );
    let corp = replace_once(&corp, "port: 389", &format!("port: {}", listener.port()));
    std::fs::write(systems.join("corp.yaml"), corp).unwrap();
    let crud_addr = closed_port().await;
    let map = [
        (
            "/etc/crud-service",
            work.path().join("crud").display().to_string(),
        ),
        ("0.0.0.0:8000", crud_addr.to_string()),
    ];
    let env = mapped_env(&c, "crud-service", &map, &otlp);
    let crud_log = log("crud");
    let mut crud = Proc::spawn("crud-service", &[], &env, &crud_log);
    wait_healthcheck(&c, "crud-service", 8000, crud_addr, &[&crud_log]);
    let http = reqwest::Client::new();
    let body = request("corp", "user", "get", json!({"uid": "user01"}));
    let answer = http
        .post(format!("http://{crud_addr}/execute"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Ada Lovelace"), "{text}");

    // Every Prometheus job of ours scrapes a target that serves nowconnect_* metrics.
    let targets: HashMap<&str, SocketAddr> = [
        ("nowconnect-cloud:8765", tunnel),
        ("nowconnect-premise:8000", admin),
        ("crud-service:8000", crud_addr),
    ]
    .into();
    let prom = c.mount_covering("prometheus", "/etc/prometheus/prometheus.yml");
    let prom = deploy::yaml(
        &std::fs::read_to_string(prom.host_path()).unwrap(),
        "prometheus",
    );
    let mut scraped = BTreeSet::new();
    for job in prom["scrape_configs"].as_array().unwrap() {
        let name = scalar(&job["job_name"]);
        if !name.starts_with("nowconnect-") {
            continue;
        }
        let target = list(&job["static_configs"][0]["targets"]).remove(0);
        let addr = targets[target.as_str()];
        let text = http
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("# TYPE nowconnect_"),
            "{name} at {target}: {text}"
        );
        scraped.insert(name);
    }
    assert_eq!(scraped.len(), 3, "{scraped:?}");

    // SIGTERM flushes each service's OTLP metrics to the collector address compose gives it.
    let stopped = tokio::task::spawn_blocking(move || {
        [&mut crud, &mut agent, &mut hub]
            .into_iter()
            .map(|p| {
                p.terminate(Duration::from_secs(20))
                    .is_some_and(|s| s.success())
            })
            .collect::<Vec<bool>>()
    })
    .await
    .unwrap();
    assert_eq!(stopped, [true, true, true]);
    let services: BTreeSet<String> = receiver.with(|r| {
        r.metric_names()
            .into_iter()
            .filter(|(_, m)| m.starts_with("nowconnect."))
            .map(|(s, _)| s)
            .collect()
    });
    let want: BTreeSet<String> = ["crud-service", "nowconnect-cloud", "nowconnect-premise"]
        .map(str::to_owned)
        .into();
    let names = receiver.with(|r| r.metric_names());
    assert_eq!(services, want, "OTLP metrics by service.name: {names:?}");
}

/// The `kid` of a JWT's header and of the JWKS's only key.
fn kids(keys: &Path) -> (String, String) {
    use base64::Engine as _;
    let token = std::fs::read_to_string(keys.join("token/agent.token")).unwrap();
    let header = token.trim().split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    let jwks = std::fs::read_to_string(keys.join("jwks/jwks.json")).unwrap();
    let jwks: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    (scalar(&header["kid"]), scalar(&jwks["keys"][0]["kid"]))
}

/// The keys job as docs/operations.md runs it: a re-run keeps the key and issues a fresh token;
/// `KEYS_ROTATE=1` makes a new key (new `kid`), its JWKS and a token signed by it.
#[test]
fn the_keys_job_reissues_tokens_and_rotates_keys() {
    let c = Compose::load();
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    run_keys_job(&c, &keys, &[]);
    let key = std::fs::read(keys.join("signing/signing-key.pem")).unwrap();
    let (token_kid, jwks_kid) = kids(&keys);
    assert_eq!(token_kid, jwks_kid);

    run_keys_job(&c, &keys, &[]);
    assert_eq!(
        std::fs::read(keys.join("signing/signing-key.pem")).unwrap(),
        key
    );
    assert_eq!(kids(&keys), (jwks_kid.clone(), jwks_kid.clone()));

    run_keys_job(&c, &keys, &[("KEYS_ROTATE", "1")]);
    assert_ne!(
        std::fs::read(keys.join("signing/signing-key.pem")).unwrap(),
        key
    );
    let (token_kid, new_kid) = kids(&keys);
    assert_ne!(new_kid, jwks_kid);
    assert_eq!(token_kid, new_kid);
}
