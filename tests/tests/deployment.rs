//! The compose stack, checked without a Docker engine (SPEC §10): the file validates with
//! `docker-compose config`; every mounted file exists; the ports, service names, URLs, paths and
//! names in the hub, agent, crud, Prometheus, Alertmanager, Grafana and collector configs agree
//! with each other and with the compose file; Prometheus's config and rules pass `promtool check
//! config` laid out as in the container; Alertmanager's passes `amtool check-config`.
//! Dockerfiles: `deployment_images.rs`; the mounted configs running natively:
//! `deployment_e2e.rs`. Missing programs fail, pointing at `scripts/install-deps.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::deploy::{self, Compose, list, scalar, split_host_port, split_url, yaml};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const SERVICES: [&str; 9] = [
    "keys",
    "nowconnect-cloud",
    "nowconnect-premise",
    "openldap",
    "crud-service",
    "otel-collector",
    "alertmanager",
    "prometheus",
    "grafana",
];

/// Runs `program` in `dir`: (success, stdout and stderr together).
fn run(program: &str, args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let (ok, stdout, stderr) = run_split(program, args, dir);
    (ok, format!("{stdout}{stderr}"))
}

/// Runs `program` in `dir`: (success, stdout, stderr). A missing program fails the test.
fn run_split(program: &str, args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/install-deps.sh"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mounted_yaml(c: &Compose, service: &str, target: &str) -> Value {
    let path = c.host_path_of(service, target);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{target}: {e}"));
    yaml(&text, target)
}

#[test]
fn compose_file_validates_with_docker_compose() {
    let dir = deploy::compose_dir();
    let (ok, out) = run("docker-compose", &["config"], &dir);
    assert!(ok, "docker-compose config failed:\n{out}");
    assert!(!out.contains("WARNING"), "docker-compose warned:\n{out}");
    let (ok, out) = run("docker-compose", &["config", "--services"], &dir);
    assert!(ok, "{out}");
    let got: BTreeSet<&str> = out.lines().collect();
    let want: BTreeSet<&str> = SERVICES.into_iter().collect();
    assert_eq!(got, want);
    let (ok, out) = run("docker-compose", &["config", "--volumes"], &dir);
    assert!(ok, "{out}");
    assert!(out.lines().count() >= 5, "named volumes: {out}");
}

#[test]
fn every_mount_env_file_and_build_input_exists() {
    let c = Compose::load();
    let named: BTreeSet<String> = c.doc["volumes"]
        .as_object()
        .expect("top-level volumes")
        .keys()
        .cloned()
        .collect();
    let mut used = BTreeSet::new();
    for name in c.service_names() {
        for m in c.mounts(&name) {
            if m.is_bind() {
                assert!(m.host_path().exists(), "{name}: {} missing", m.source);
                assert!(m.read_only, "{name}: bind mount {} must be :ro", m.source);
            } else {
                assert!(named.contains(&m.source), "{name}: volume {}", m.source);
                used.insert(m.source.clone());
            }
        }
        let svc = c.service(&name);
        for file in list(&svc["env_file"]) {
            assert!(
                deploy::compose_dir().join(&file).is_file(),
                "{name}: {file}"
            );
        }
        if svc["build"].is_object() {
            let context = deploy::compose_dir().join(scalar(&svc["build"]["context"]));
            let dockerfile = context.join(scalar(&svc["build"]["dockerfile"]));
            assert!(dockerfile.is_file(), "{name}: {}", dockerfile.display());
        }
    }
    assert_eq!(used, named, "every named volume is mounted somewhere");
}

#[test]
fn health_checks_and_start_order() {
    let c = Compose::load();
    for name in c.service_names() {
        let svc = c.service(&name);
        let deps = svc["depends_on"].as_object().cloned().unwrap_or_default();
        for (dep, cond) in deps {
            let cond = scalar(&cond["condition"]);
            match cond.as_str() {
                "service_healthy" => assert!(
                    c.service(&dep)["healthcheck"]["test"].is_array(),
                    "{name} waits for {dep} to be healthy, which has no healthcheck"
                ),
                "service_completed_successfully" => {
                    assert_eq!(scalar(&c.service(&dep)["restart"]), "no", "{dep}")
                }
                "service_started" => {}
                other => panic!("{name}: condition {other}"),
            }
        }
    }
    for name in SERVICES
        .iter()
        .filter(|s| !["keys", "otel-collector"].contains(s))
    {
        assert!(
            c.service(name)["healthcheck"]["test"].is_array(),
            "{name} has no healthcheck"
        );
    }
    let waits = |svc: &str, dep: &str| scalar(&c.service(svc)["depends_on"][dep]["condition"]);
    assert_eq!(
        waits("nowconnect-cloud", "keys"),
        "service_completed_successfully"
    );
    assert_eq!(
        waits("nowconnect-premise", "nowconnect-cloud"),
        "service_healthy"
    );
    assert_eq!(waits("nowconnect-premise", "openldap"), "service_healthy");
    assert_eq!(
        waits("crud-service", "nowconnect-premise"),
        "service_healthy"
    );
    assert_eq!(waits("grafana", "prometheus"), "service_healthy");
    // Docker waits this long after SIGTERM: more than the 10 s drain (limits.shutdown_grace_ms).
    for name in ["nowconnect-cloud", "nowconnect-premise"] {
        let grace = scalar(&c.service(name)["stop_grace_period"]);
        let secs: u64 = grace.trim_end_matches('s').parse().unwrap();
        assert!(secs > 10, "{name}: stop_grace_period {grace}");
    }
}

/// Hub, agent, keys job, OpenLDAP and crud-service agree on names, ports and paths.
#[test]
fn tunnel_side_configs_agree() {
    let c = Compose::load();
    let hub_env = c.env("nowconnect-cloud");
    let cloud = mounted_yaml(&c, "nowconnect-cloud", &hub_env["NC_CONFIG"]);
    let tunnel_port = cloud["tunnel"]["port"].as_u64().unwrap() as u16;
    let published = c.published("nowconnect-cloud");
    assert!(published.contains(&tunnel_port), "{published:?}");
    let listeners = cloud["listeners"].as_array().unwrap();
    let mut listener_ports = Vec::new();
    for l in listeners {
        let (_, port) = split_host_port(&scalar(&l["bind"]));
        assert!(
            published.contains(&port),
            "listener port {port} not published"
        );
        listener_ports.push(port);
    }
    assert!(listener_ports.contains(&389));
    let connectors: BTreeSet<String> = listeners.iter().map(|l| scalar(&l["connector"])).collect();

    // The JWKS the hub reads is the file the keys job writes into the shared volume.
    let jwks = scalar(&cloud["security"]["jwks_url"]);
    let hub_mount = c.mount_covering("nowconnect-cloud", &jwks);
    let keys_mount = c
        .mounts("keys")
        .into_iter()
        .find(|m| m.source == hub_mount.source)
        .expect("keys job writes the hub's JWKS volume");
    let init = deploy::read("compose/keys/init.sh");
    let file = jwks
        .strip_prefix(&format!("{}/", hub_mount.target))
        .unwrap();
    assert!(init.contains(&format!("{}/{file}", keys_dir_var(&keys_mount.target))));

    // The agent: env as SPEC §5, pointing at the hub's service and the directory's.
    let env = c.env("nowconnect-premise");
    let (scheme, host, port, path) = split_url(&env["NC_AGENT_URL"]);
    assert_eq!(
        (scheme.as_str(), host.as_str(), port, path.as_str()),
        ("ws", "nowconnect-cloud", tunnel_port, "/tunnel")
    );
    let exported: BTreeSet<String> = env["NC_CONNECTORS"].split(',').map(str::to_owned).collect();
    assert_eq!(exported, connectors);
    let keys_env = c.env("keys");
    assert_eq!(env["NC_AGENT_ID"], keys_env["AGENT_ID"]);
    assert_eq!(env["NC_CONNECTORS"], keys_env["CONNECTORS"]);
    for connector in &connectors {
        let host = &env[&format!("NC_TARGET_{connector}_HOST")];
        let port: u16 = env[&format!("NC_TARGET_{connector}_PORT")].parse().unwrap();
        assert_eq!(host, "openldap");
        assert_eq!(
            port, 389,
            "slapd's LDAP_URLS default ldap:/// listens on 389"
        );
        let hc = list(&c.service(host)["healthcheck"]["test"]).join(" ");
        assert!(hc.contains(&format!("127.0.0.1:{port}")), "{hc}");
    }
    let token = &env["NC_TOKEN_FILE"];
    let token_mount = c.mount_covering("nowconnect-premise", token);
    assert!(token_mount.read_only && !token_mount.is_bind());
    let keys_token = c
        .mounts("keys")
        .into_iter()
        .find(|m| m.source == token_mount.source)
        .unwrap();
    let file = token
        .strip_prefix(&format!("{}/", token_mount.target))
        .unwrap();
    assert!(init.contains(&format!("{}/{file}", keys_dir_var(&keys_token.target))));
    // The private key stays with the keys job.
    let signing = c
        .mounts("keys")
        .into_iter()
        .find(|m| m.target.ends_with("/signing"))
        .unwrap();
    for name in c.service_names().iter().filter(|n| *n != "keys") {
        assert!(
            c.mounts(name).iter().all(|m| m.source != signing.source),
            "{name}"
        );
    }

    // crud-service: through the hub's LDAP listener, into the seeded suffix.
    let crud_env = c.env("crud-service");
    let dir = &crud_env["SERVICE_CONFIG_DIR"];
    let system = mounted_yaml(&c, "crud-service", &format!("{dir}/systems/corp.yaml"));
    let server = &system["connection"]["server"];
    assert_eq!(scalar(&server["base_url"]), "nowconnect-cloud");
    assert!(listener_ports.contains(&(server["port"].as_u64().unwrap() as u16)));
    let seed = deploy::read("tests/fixtures/seed.ldif");
    let suffix = seed.lines().find_map(|l| l.strip_prefix("dn: ")).unwrap();
    assert_eq!(scalar(&system["base_dn"]), suffix);
    let entrypoint = deploy::read("compose/openldap/entrypoint.sh");
    assert!(entrypoint.contains(&format!("SUFFIX={suffix}")));
    let creds = &system["connection"]["credentials"];
    assert_eq!(scalar(&creds["username"]), format!("cn=admin,{suffix}"));
    let password = scalar(&creds["password"]);
    let var = password
        .trim_start_matches("${{ENV:")
        .trim_end_matches("}}");
    assert_eq!(crud_env[var], c.env("openldap")["LDAP_ADMIN_PASSWORD"]);
    let (_, crud_port) = split_host_port(&crud_env["CRUD_LISTEN"]);
    assert!(c.published("crud-service").contains(&crud_port));
}

/// `/keys/jwks` → `$KEYS_DIR/jwks` as init.sh writes it (KEYS_DIR=/keys in compose).
fn keys_dir_var(target: &str) -> String {
    let c = Compose::load();
    let dir = c.env("keys")["KEYS_DIR"].clone();
    target.replacen(&dir, "$KEYS_DIR", 1)
}

/// Prometheus scrapes every service where it serves /metrics, under the job names the alerts
/// and dashboards expect; the services export OTLP to the collector's receiver; Grafana reads
/// Prometheus and the mounted dashboards.
#[test]
fn observability_configs_agree() {
    let c = Compose::load();
    let args = list(&c.service("prometheus")["command"]);
    let config_file = args
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .unwrap();
    let prom = mounted_yaml(&c, "prometheus", config_file);
    let jobs: Vec<(String, Vec<String>)> = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                scalar(&j["job_name"]),
                list(&j["static_configs"][0]["targets"]),
            )
        })
        .collect();
    let target_of = |job: &str| {
        let (_, targets) = jobs
            .iter()
            .find(|(j, _)| j == job)
            .unwrap_or_else(|| panic!("job {job}"));
        assert_eq!(targets.len(), 1, "{job}");
        split_host_port(&targets[0])
    };
    let cloud = mounted_yaml(
        &c,
        "nowconnect-cloud",
        &c.env("nowconnect-cloud")["NC_CONFIG"],
    );
    let hub_metrics = cloud["observability"]["metrics_port"]
        .as_u64()
        .or(cloud["tunnel"]["port"].as_u64())
        .unwrap() as u16;
    assert_eq!(
        target_of("nowconnect-cloud"),
        ("nowconnect-cloud".into(), hub_metrics)
    );
    let agent_port: u16 = c.env("nowconnect-premise")["NC_METRICS_PORT"]
        .parse()
        .unwrap();
    assert_eq!(
        target_of("nowconnect-premise"),
        ("nowconnect-premise".into(), agent_port)
    );
    let crud = split_host_port(&c.env("crud-service")["CRUD_LISTEN"]).1;
    assert_eq!(target_of("nowconnect-crud"), ("crud-service".into(), crud));

    // NowConnectTargetDown covers exactly the three service jobs.
    let rules = deploy::read("alerts/nowconnect.rules.yml");
    assert!(rules.contains(r#"up{job=~"nowconnect-.*"}"#));
    let ours: Vec<&String> = jobs
        .iter()
        .map(|(j, _)| j)
        .filter(|j| j.starts_with("nowconnect-"))
        .collect();
    assert_eq!(ours.len(), 3, "{ours:?}");

    // Rules: the mounted alerts directory, matched by the rule_files glob.
    let rule_glob = list(&prom["rule_files"]);
    assert_eq!(rule_glob, ["rules/*.rules.yml"]);
    let rules_mount = c.mount_covering("prometheus", "/etc/prometheus/rules/x");
    assert_eq!(
        rules_mount.host_path().canonicalize().unwrap(),
        deploy::repo().join("alerts")
    );
    let am = list(&prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]);
    assert_eq!(am, ["alertmanager:9093"]);
    assert!(c.published("alertmanager").contains(&9093));

    // The collector: OTLP in on 4317/4318, traces and metrics out to debug, metrics to the
    // Prometheus exporter that the otel-collector job scrapes (renamed otlp_*).
    let otel_args = list(&c.service("otel-collector")["command"]);
    let otel_file = otel_args[0].strip_prefix("--config=").unwrap();
    let otel = mounted_yaml(&c, "otel-collector", otel_file);
    let protocols = &otel["receivers"]["otlp"]["protocols"];
    assert_eq!(scalar(&protocols["grpc"]["endpoint"]), "0.0.0.0:4317");
    assert_eq!(scalar(&protocols["http"]["endpoint"]), "0.0.0.0:4318");
    let pipelines = &otel["service"]["pipelines"];
    assert_eq!(list(&pipelines["traces"]["receivers"]), ["otlp"]);
    assert_eq!(list(&pipelines["traces"]["exporters"]), ["debug"]);
    assert_eq!(list(&pipelines["metrics"]["receivers"]), ["otlp"]);
    assert_eq!(
        list(&pipelines["metrics"]["exporters"]),
        ["debug", "prometheus"]
    );
    for section in ["receivers", "processors", "exporters"] {
        for p in ["traces", "metrics"] {
            for name in list(&pipelines[p][section]) {
                assert!(
                    otel[section][&name].is_object(),
                    "{section}.{name} not defined"
                );
            }
        }
    }
    let exporter = &otel["exporters"]["prometheus"];
    assert_eq!(scalar(&exporter["namespace"]), "otlp", "no double counting");
    let (_, exporter_port) = split_host_port(&scalar(&exporter["endpoint"]));
    assert_eq!(
        target_of("otel-collector"),
        ("otel-collector".into(), exporter_port)
    );
    let published = c.published("otel-collector");
    assert!(published.contains(&4317) && published.contains(&4318));
    for svc in ["nowconnect-cloud", "nowconnect-premise", "crud-service"] {
        let env = c.env(svc);
        let (scheme, host, port, _) = split_url(&env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        assert_eq!(
            (scheme.as_str(), host.as_str()),
            ("http", "otel-collector"),
            "{svc}"
        );
        let want = match env["OTEL_EXPORTER_OTLP_PROTOCOL"].as_str() {
            "grpc" => 4317,
            "http/protobuf" => 4318,
            other => panic!("{svc}: protocol {other}"),
        };
        assert_eq!(port, want, "{svc}");
    }

    // Grafana: Prometheus datasource and the repository's dashboards, provisioned.
    let ds = mounted_yaml(
        &c,
        "grafana",
        "/etc/grafana/provisioning/datasources/prometheus.yml",
    );
    let ds = &ds["datasources"][0];
    assert_eq!(scalar(&ds["type"]), "prometheus");
    assert_eq!(scalar(&ds["url"]), "http://prometheus:9090");
    assert!(c.published("prometheus").contains(&9090));
    let prov = mounted_yaml(
        &c,
        "grafana",
        "/etc/grafana/provisioning/dashboards/nowconnect.yml",
    );
    let path = scalar(&prov["providers"][0]["options"]["path"]);
    let dashboards = c.mount_covering("grafana", &path);
    assert_eq!(dashboards.target, path);
    let dir = dashboards.host_path().canonicalize().unwrap();
    assert_eq!(dir, deploy::repo().join("dashboards"));
    let json = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert!(json >= 3, "{json} dashboards");
}

/// promtool checks the config and the rule files it loads, laid out as in the container.
#[test]
fn prometheus_config_passes_promtool_as_mounted() {
    let c = Compose::load();
    let root = c.container_root("prometheus");
    let config = root.path().join("etc/prometheus/prometheus.yml");
    let (ok, out) = run(
        "promtool",
        &["check", "config", config.to_str().unwrap()],
        root.path(),
    );
    assert!(ok, "promtool check config:\n{out}");
    // The glob found the shipped rule file (and not the unit tests under alerts/tests).
    assert!(out.contains("nowconnect.rules.yml"), "{out}");
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
}

#[test]
fn alertmanager_config_passes_amtool_and_its_inhibit_rule_names_shipped_alerts() {
    let c = Compose::load();
    let root = c.container_root("alertmanager");
    let config = root.path().join("etc/alertmanager/alertmanager.yml");
    let (ok, out) = run(
        "amtool",
        &["check-config", config.to_str().unwrap()],
        root.path(),
    );
    assert!(ok, "amtool check-config:\n{out}");
    assert!(out.contains("1 inhibit rules"), "{out}");
    // The names and labels of the inhibit rule exist in the shipped rules.
    let am = mounted_yaml(&c, "alertmanager", "/etc/alertmanager/alertmanager.yml");
    let rule = &am["inhibit_rules"][0];
    assert_eq!(
        list(&rule["source_matchers"]),
        [r#"alertname="NowConnectNoAgent""#]
    );
    assert_eq!(
        list(&rule["target_matchers"]),
        [
            r#"alertname="NowConnectListenerErrorSpike""#,
            r#"type="session""#
        ]
    );
    assert_eq!(list(&rule["equal"]), ["connector"]);
    let rules = deploy::read("alerts/nowconnect.rules.yml");
    assert!(rules.contains("alert: NowConnectNoAgent"));
    assert!(
        rules.contains("sum by (job, connector, type) (increase(nowconnect_listener_errors_total")
    );
    let (ok, out, err) = run_split(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file",
            config.to_str().unwrap(),
            "severity=critical",
            "alertname=NowConnectNoAgent",
        ],
        root.path(),
    );
    assert!(ok && out.trim() == "default", "{out}{err}");
}

/// The three service configs exactly as mounted pass the binaries' own checks.
#[test]
fn mounted_service_configs_pass_the_binaries_checks() {
    use nowconnect_e2e::procs;
    use std::collections::HashMap;
    let c = Compose::load();
    let hub = c.env("nowconnect-cloud");
    let cloud = c.mount_covering("nowconnect-cloud", &hub["NC_CONFIG"]);
    let path = cloud.host_path();
    let args = ["--config", path.to_str().unwrap(), "check-config"];
    let (code, out, err) = procs::run("nowconnect-cloud", &args, &HashMap::new());
    assert_eq!(code, 0, "hub check-config: {out}{err}");

    let agent: HashMap<String, String> = c.env("nowconnect-premise").into_iter().collect();
    let (code, out, err) = procs::run("nowconnect-premise", &["--check-config"], &agent);
    assert_eq!(code, 0, "agent --check-config: {out}{err}");

    let mut crud: HashMap<String, String> = c.env("crud-service").into_iter().collect();
    let dir = c.mount_covering("crud-service", &crud["SERVICE_CONFIG_DIR"]);
    crud.insert(
        "SERVICE_CONFIG_DIR".into(),
        dir.host_path().display().to_string(),
    );
    let (code, out, err) = procs::run("crud-service", &["--check-config"], &crud);
    assert_eq!(code, 0, "crud-service --check-config: {out}{err}");
}
