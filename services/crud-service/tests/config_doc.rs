#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Drift test: the `## CRUD service` part of `docs/configuration.md` against the config code.
//! Fails when a key of an example system file or an environment variable is undocumented, a
//! documented key does not exist in the raw structs, or a documented default differs from
//! `config::defaults`.

use std::collections::BTreeSet;
use std::path::Path;

use crud_service::config::{self, defaults};
use serde_json::Value;

const SECTION: &str = "## CRUD service";
const RAW: &str = include_str!("../src/config/raw.rs");

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn section() -> String {
    let doc = read("../../docs/configuration.md");
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(SECTION));
    let first = lines
        .next()
        .expect("docs/configuration.md has no `## CRUD service` section");
    let rest: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
    format!("{first}\n{}", rest.join("\n"))
}

/// Rows of the tables whose header's first cell is `first`: (code spans of cell 0, cell 1).
fn rows(section: &str, first: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in section.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            inside = false;
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        if cells[0] == first {
            inside = true;
            continue;
        }
        if !inside || cells[0].chars().all(|c| c == '-') {
            continue;
        }
        let spans = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        out.push((spans, cells.get(1).cloned().unwrap_or_default()));
    }
    out
}

fn leaves(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

#[test]
fn every_key_and_variable_is_documented_and_exists() {
    let section = section();
    let keys = rows(&section, "key");
    let documented: BTreeSet<String> = keys.iter().flat_map(|(k, _)| k.clone()).collect();
    for file in ["corp-tunnel.yaml", "corp-direct.yaml"] {
        let text = read(&format!("examples/systems/{file}"));
        let yaml: Value = nowconnect_config::parse_yaml(file, &text).unwrap();
        let mut used = BTreeSet::new();
        leaves("", &yaml, &mut used);
        assert!(used.len() >= 6, "{file}: {used:?}");
        assert!(
            used.contains("connection.credentials.password"),
            "{file}: {used:?}"
        );
        for key in used {
            assert!(documented.contains(&key), "{file}: {key} is not documented");
        }
    }
    for key in &documented {
        let field = key.rsplit('.').next().unwrap();
        assert!(
            RAW.contains(&format!("pub(super) {field}:")),
            "documented key {key} does not exist"
        );
    }
    let vars: BTreeSet<String> = rows(&section, "variable")
        .into_iter()
        .flat_map(|(k, _)| k)
        .collect();
    for var in [
        config::SERVICE_CONFIG_DIR,
        config::CRUD_LISTEN,
        config::CRUD_MAX_BODY_BYTES,
        config::LOG_LEVEL,
    ] {
        assert!(vars.contains(var), "{var} is not documented");
    }
}

#[test]
fn documented_defaults_match_the_code() {
    let section = section();
    let default_of = |key: &str| -> String {
        rows(&section, "key")
            .into_iter()
            .find(|(k, _)| k.first().is_some_and(|k| k == key))
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("{key} not documented"))
    };
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    for (key, want) in [
        ("pool_size", defaults::POOL_SIZE.to_string()),
        ("page_size", defaults::PAGE_SIZE.to_string()),
        (
            "search_max_entries",
            defaults::SEARCH_MAX_ENTRIES.to_string(),
        ),
        (
            "membership_batch_size",
            defaults::MEMBERSHIP_BATCH_SIZE.to_string(),
        ),
        (
            "membership_max_concurrency",
            defaults::MEMBERSHIP_MAX_CONCURRENCY.to_string(),
        ),
        (
            "connection.connect_timeout_ms",
            ms(defaults::CONNECT_TIMEOUT),
        ),
        ("connection.timeout_ms", ms(defaults::OPERATION_TIMEOUT)),
        ("connection.idle_check_ms", ms(defaults::IDLE_CHECK)),
    ] {
        assert_eq!(default_of(key), format!("`{want}`"), "{key}");
    }
    assert_eq!(
        default_of("connection.server.port"),
        format!(
            "`{}` (`{}` with `use_ssl`)",
            defaults::PORT,
            defaults::PORT_LDAPS
        )
    );
    let var_default = |var: &str| {
        rows(&section, "variable")
            .into_iter()
            .find(|(k, _)| k.first().is_some_and(|k| k == var))
            .map(|(_, d)| d)
            .unwrap()
    };
    assert_eq!(
        var_default(config::CRUD_LISTEN),
        format!("`{}`", defaults::LISTEN)
    );
    assert_eq!(
        var_default(config::CRUD_MAX_BODY_BYTES),
        format!("`{}`", defaults::MAX_BODY_BYTES)
    );
}

/// The complete example of the section parses with the real loader and uses every documented
/// key (`connection.base_dn` is the alternative spelling of `base_dn`, not both).
#[test]
fn the_complete_example_parses_and_uses_every_key() {
    let section = section();
    let example: String = section
        .lines()
        .skip_while(|l| !l.starts_with("### Complete example"))
        .skip_while(|l| !l.starts_with("```yaml"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !example.is_empty(),
        "no ```yaml block under ### Complete example"
    );
    let env = |name: &str| (name == "LDAP_BIND_PASSWORD").then(|| "secret".to_owned());
    // The documented CA path does not exist here: load the example with a real PEM instead.
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/example-ca.pem");
    let loadable = example.replace(
        "ca_file: /etc/crud-service/corp-ca.pem",
        &format!("ca_file: {}", ca.display()),
    );
    assert_ne!(loadable, example, "the example's ca_file line changed");
    let system = config::system_from_yaml_str("docs", "corp", &loadable, &env)
        .unwrap_or_else(|e| panic!("the complete example does not load: {e}"));
    assert_eq!(system.pool_size, defaults::POOL_SIZE);
    assert_eq!(system.url(), "ldaps://nowconnect-cloud:636");
    assert!(system.tls.is_some());
    let yaml: Value = nowconnect_config::parse_yaml("docs", &example).unwrap();
    let mut used = BTreeSet::new();
    leaves("", &yaml, &mut used);
    for (keys, _) in rows(&section, "key") {
        let key = &keys[0];
        assert!(
            used.contains(key),
            "{key} is missing from the complete example"
        );
    }
}
