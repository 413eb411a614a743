//! The Dockerfiles under `compose/docker/`, checked without building them: every `COPY` source
//! exists in the build context (the repository root, `.dockerignore` keeping `target/` out); the
//! builder compiles with `--locked` a package and binary the workspace has, and the runtime
//! stage's `ENTRYPOINT` is that binary; the runtime stage is Debian slim without build tools,
//! runs as a non-root user, has a `HEALTHCHECK` equal to the compose one and `EXPOSE`s the
//! ports the shipped configs use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::deploy::{self, Compose, list, scalar, split_host_port};
use serde_json::Value;
use std::collections::BTreeSet;

/// One instruction, continuation lines joined.
#[derive(Debug)]
struct Instr {
    op: String,
    args: String,
}

fn instructions(text: &str) -> Vec<Instr> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let (op, args) = full.split_once(' ').unwrap_or((&full, ""));
        out.push(Instr {
            op: op.to_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    out
}

/// The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD.
fn exec_form(args: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(args).unwrap_or_else(|e| panic!("{args}: {e}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// (package, binaries) of every workspace member, from `cargo metadata`.
fn workspace_bins() -> Vec<(String, Vec<String>)> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(deploy::repo())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let bins = p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| list(&t["kind"]).contains(&"bin".to_owned()))
                .map(|t| scalar(&t["name"]))
                .collect();
            (scalar(&p["name"]), bins)
        })
        .collect()
}

/// What each service image must expose: the ports its compose configuration listens on.
fn expected_ports(c: &Compose, service: &str) -> BTreeSet<u16> {
    let env = c.env(service);
    match service {
        "nowconnect-cloud" => {
            let m = c.mount_covering(service, &env["NC_CONFIG"]);
            let cloud = deploy::yaml(
                &std::fs::read_to_string(m.host_path()).unwrap(),
                "cloud.yaml",
            );
            let mut ports: BTreeSet<u16> = cloud["listeners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| split_host_port(&scalar(&l["bind"])).1)
                .collect();
            ports.insert(cloud["tunnel"]["port"].as_u64().unwrap() as u16);
            ports
        }
        "nowconnect-premise" => ["NC_METRICS_PORT", "NC_HEALTH_PORT"]
            .iter()
            .map(|v| env[*v].parse().unwrap())
            .collect(),
        "crud-service" => [split_host_port(&env["CRUD_LISTEN"]).1].into(),
        "openldap" => [389].into(),
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn dockerignore_keeps_build_output_out_of_the_context() {
    let ignore = deploy::read(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(lines.contains(&"target/"), "{ignore}");
    assert!(lines.contains(&".git/"), "{ignore}");
}

#[test]
fn every_built_service_has_a_sound_dockerfile() {
    let c = Compose::load();
    let bins = workspace_bins();
    let mut checked = 0;
    for service in [
        "nowconnect-cloud",
        "nowconnect-premise",
        "crud-service",
        "openldap",
    ] {
        let svc = c.service(service);
        let context = deploy::compose_dir().join(scalar(&svc["build"]["context"]));
        assert_eq!(context.canonicalize().unwrap(), deploy::repo(), "{service}");
        let file = scalar(&svc["build"]["dockerfile"]);
        let instrs = instructions(&deploy::read(&file));
        let stages: Vec<usize> = (0..instrs.len())
            .filter(|&i| instrs[i].op == "FROM")
            .collect();
        let runtime = &instrs[*stages.last().unwrap()..];

        // COPY sources exist (except from another stage).
        for i in instrs
            .iter()
            .filter(|i| i.op == "COPY" && !i.args.starts_with("--from"))
        {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            for src in &words[..words.len() - 1] {
                assert!(
                    deploy::repo().join(src).exists(),
                    "{file}: COPY {src} missing"
                );
            }
        }

        let from = runtime[0].args.as_str();
        assert!(
            from.starts_with("debian:bookworm-slim"),
            "{file}: runtime {from}"
        );
        for i in runtime.iter().filter(|i| i.op == "RUN") {
            for tool in ["cargo", "rustc", "gcc", "build-essential", "make ", "curl"] {
                assert!(!i.args.contains(tool), "{file}: runtime installs {tool}");
            }
        }
        let user = runtime.iter().rfind(|i| i.op == "USER").expect("USER");
        let uid = user.args.split(':').next().unwrap();
        assert!(uid != "0" && uid != "root", "{file}: runs as {uid}");

        let entry = exec_form(&runtime.iter().rfind(|i| i.op == "ENTRYPOINT").unwrap().args);
        let exposed: BTreeSet<u16> = runtime
            .iter()
            .filter(|i| i.op == "EXPOSE")
            .flat_map(|i| i.args.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
            .collect();
        assert_eq!(exposed, expected_ports(&c, service), "{file}: EXPOSE");

        // The image's health check is the compose one (compose repeats it for readability).
        let hc = runtime
            .iter()
            .find(|i| i.op == "HEALTHCHECK")
            .expect("HEALTHCHECK");
        let cmd = hc.args.split_once("CMD ").unwrap().1;
        let mut want = vec!["CMD".to_owned()];
        want.extend(exec_form(cmd));
        assert_eq!(
            list(&svc["healthcheck"]["test"]),
            want,
            "{file}: HEALTHCHECK"
        );

        if service == "openldap" {
            assert_eq!(entry, ["/usr/local/bin/nowconnect-ldap"]);
            continue;
        }
        let build = instrs
            .iter()
            .find(|i| i.op == "RUN" && i.args.contains("cargo build"))
            .expect("cargo build");
        let words: Vec<&str> = build.args.split_whitespace().collect();
        assert!(
            words.contains(&"--release") && words.contains(&"--locked"),
            "{file}"
        );
        let after = |flag: &str| words[words.iter().position(|w| *w == flag).unwrap() + 1];
        let (pkg, bin) = (after("-p"), after("--bin"));
        let (_, pkg_bins) = bins
            .iter()
            .find(|(p, _)| p == pkg)
            .unwrap_or_else(|| panic!("{file}: no workspace package {pkg}"));
        assert!(
            pkg_bins.iter().any(|b| b == bin),
            "{file}: {pkg} has no bin {bin}"
        );
        assert_eq!(
            entry,
            [format!("/usr/local/bin/{bin}")],
            "{file}: ENTRYPOINT"
        );
        let image = scalar(&svc["image"]);
        assert!(image.contains(service), "{service}: image {image}");
        checked += 1;
    }
    assert_eq!(checked, 3);
    // The keys job runs the hub image's binary.
    let keys = c.service("keys");
    assert_eq!(
        scalar(&keys["image"]),
        scalar(&c.service("nowconnect-cloud")["image"])
    );
    assert_eq!(keys["build"], c.service("nowconnect-cloud")["build"]);
}
