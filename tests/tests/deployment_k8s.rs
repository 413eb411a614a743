//! The Kubernetes manifests under `deploy/k8s/`, checked without a cluster: every file the
//! kustomization lists parses; the hub's ConfigMap passes `nowconnect-cloud check-config` and
//! the agent's environment `nowconnect-premise --check-config` (the real binaries); probes
//! (`/readyz` readiness, `/healthz` liveness), Services and scrape annotations use the ports the
//! configs bind; pods run as non-root with limits; every Secret a pod mounts is created by a
//! command in docs/operations.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::deploy::{self, list, scalar, split_host_port, yaml, yaml_docs};
use nowconnect_e2e::procs;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

fn manifests() -> Vec<Value> {
    let kustomization = yaml(
        &deploy::read("deploy/k8s/kustomization.yaml"),
        "kustomization",
    );
    let mut docs = Vec::new();
    for file in list(&kustomization["resources"]) {
        docs.extend(yaml_docs(
            &deploy::read(format!("deploy/k8s/{file}")),
            &file,
        ));
    }
    docs
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Container port number of a probe's `port` (a name or a number).
fn port_number(container: &Value, port: &Value) -> u16 {
    if let Some(n) = port.as_u64() {
        return n as u16;
    }
    let name = scalar(port);
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name.as_str())
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port named {name}")) as u16
}

fn check_pod(deployment: &Value, operations: &str) -> (Value, Value) {
    let name = scalar(&deployment["metadata"]["name"]);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
    assert_ne!(pod["securityContext"]["runAsUser"], 0, "{name}");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    assert!(grace > 10, "{name}: the 10 s drain must fit in {grace} s");
    let container = pod["containers"][0].clone();
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(
                !container["resources"][kind][res].is_null(),
                "{name}: {kind}.{res}"
            );
        }
    }
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"], "/readyz",
        "{name}"
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"], "/healthz",
        "{name}"
    );
    for volume in pod["volumes"].as_array().unwrap() {
        if let Some(secret) = volume["secret"]["secretName"].as_str() {
            assert!(
                operations.contains(&format!(
                    "kubectl -n nowconnect create secret generic {secret}"
                )),
                "{name}: docs/operations.md does not say how to create Secret {secret}"
            );
        }
    }
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{name}");
    (pod.clone(), container)
}

#[test]
fn hub_manifests_agree_with_its_config() {
    let docs = manifests();
    let operations = deploy::read("docs/operations.md");
    let deployment = find(&docs, "Deployment", "nowconnect-cloud");
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one hub per connector set"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let (pod, container) = check_pod(deployment, &operations);

    let config_map = find(&docs, "ConfigMap", "nowconnect-cloud-config");
    let cloud_text = scalar(&config_map["data"]["cloud.yaml"]);
    let cloud = yaml(&cloud_text, "cloud.yaml");
    let tunnel = cloud["tunnel"]["port"].as_u64().unwrap() as u16;
    let metrics = cloud["observability"]["metrics_port"].as_u64().unwrap() as u16;
    let probe = |p: &str| port_number(&container, &container[p]["httpGet"]["port"]);
    assert_eq!(probe("readinessProbe"), tunnel);
    assert_eq!(probe("livenessProbe"), tunnel);
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        scalar(&annotations["prometheus.io/port"]),
        metrics.to_string()
    );
    let listener = split_host_port(&scalar(&cloud["listeners"][0]["bind"])).1;

    // The config is mounted where the args say, and the JWKS where the config says.
    let args = list(&container["args"]);
    let config_path = &args[args.iter().position(|a| a == "--config").unwrap() + 1];
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == config_path.as_str())
    );
    let jwks = scalar(&cloud["security"]["jwks_url"]);
    let jwks_mount = mounts
        .iter()
        .find(|m| jwks.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("JWKS mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == jwks_mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "nowconnect-jwks");

    // Agents reach the tunnel even before the hub is ready; clients only when it is.
    let tunnel_svc = find(&docs, "Service", "nowconnect-cloud-tunnel");
    assert_eq!(tunnel_svc["spec"]["publishNotReadyAddresses"], true);
    let target = port_number(&container, &tunnel_svc["spec"]["ports"][0]["targetPort"]);
    assert_eq!(target, tunnel);
    let ldap_svc = find(&docs, "Service", "nowconnect-cloud-ldap");
    assert!(ldap_svc["spec"]["publishNotReadyAddresses"].is_null());
    assert_eq!(ldap_svc["spec"]["ports"][0]["port"], 389);
    let target = port_number(&container, &ldap_svc["spec"]["ports"][0]["targetPort"]);
    assert_eq!(target, listener);

    // The real binary accepts the ConfigMap's cloud.yaml.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cloud.yaml");
    std::fs::write(&file, &cloud_text).unwrap();
    let (code, out, err) = procs::run(
        "nowconnect-cloud",
        &["--config", file.to_str().unwrap(), "check-config"],
        &HashMap::new(),
    );
    assert_eq!(code, 0, "check-config: {out}{err}");
}

#[test]
fn agent_manifests_agree_with_its_config() {
    let docs = manifests();
    let operations = deploy::read("docs/operations.md");
    let deployment = find(&docs, "Deployment", "nowconnect-premise");
    assert_eq!(
        deployment["spec"]["replicas"], 2,
        "two agents per connector"
    );
    let (pod, container) = check_pod(deployment, &operations);
    let env: HashMap<String, String> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (scalar(&e["name"]), scalar(&e["value"])))
        .collect();
    let metrics: u16 = env["NC_METRICS_PORT"].parse().unwrap();
    let probe = |p: &str| port_number(&container, &container[p]["httpGet"]["port"]);
    assert_eq!(probe("readinessProbe"), metrics);
    assert_eq!(probe("livenessProbe"), metrics);
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        scalar(&annotations["prometheus.io/port"]),
        metrics.to_string()
    );
    let health: u16 = env["NC_HEALTH_PORT"].parse().unwrap();
    let ports: BTreeSet<u16> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap() as u16)
        .collect();
    assert_eq!(ports, [metrics, health].into());

    // The token file is in the mounted Secret, readable by the pod's group.
    let token = &env["NC_TOKEN_FILE"];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| token.starts_with(m["mountPath"].as_str().unwrap()))
        .expect("token mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "nowconnect-agent-token");
    assert!(!pod["securityContext"]["fsGroup"].is_null());

    // The agent URL is the hub's tunnel Service.
    let hub = find(&docs, "Service", "nowconnect-cloud-tunnel");
    let url = &env["NC_AGENT_URL"];
    let port = hub["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert!(
        url.starts_with(&format!(
            "ws://nowconnect-cloud-tunnel.nowconnect.svc:{port}/"
        )),
        "{url}"
    );

    // The real binary accepts this environment.
    let env: HashMap<String, String> = env.into_iter().collect();
    let (code, out, err) = procs::run("nowconnect-premise", &["--check-config"], &env);
    assert_eq!(code, 0, "--check-config: {out}{err}");
}

#[test]
fn podmonitor_names_jobs_as_the_alerts_expect() {
    let pm = yaml(&deploy::read("deploy/k8s/podmonitor.yaml"), "podmonitor");
    assert_eq!(pm["spec"]["jobLabel"], "app.kubernetes.io/name");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
    for d in manifests().iter().filter(|d| d["kind"] == "Deployment") {
        let name = scalar(&d["metadata"]["name"]);
        assert!(
            name.starts_with("nowconnect-"),
            "job {name} must match nowconnect-.*"
        );
        let labels = &d["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], name.as_str());
        assert_eq!(labels["app.kubernetes.io/part-of"], "nowconnect");
        let ports = &d["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert!(
            ports
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "metrics"),
            "{name}: no port named metrics"
        );
    }
}
