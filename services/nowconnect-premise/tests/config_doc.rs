#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Drift tests: `docs/configuration.md` (its `## Agent` part) against the agent's config code.
//!
//! Fails when a variable in `config::env` or a key of `examples/premise.yaml` is not documented,
//! when a documented key does not exist, when a documented default or range differs from
//! `config::defaults`, or when the page's complete examples (environment only, and YAML) no
//! longer load.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::Path;

use nowconnect_premise::config::{self, LogFormat, defaults, env};

/// Heading that opens the agent's part of the page.
const SECTION: &str = "## Agent";
/// Columns of every key table.
const HEADER: [&str; 5] = ["key", "type", "default", "env override", "meaning"];
const TYPE: usize = 1;
const DEFAULT: usize = 2;
const ENV: usize = 3;

type Rows = BTreeMap<String, Vec<String>>;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The agent's part of the page: from its `## ` heading to the next one.
fn section() -> String {
    let doc = read("../../docs/configuration.md");
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(SECTION));
    let first = lines
        .next()
        .expect("docs/configuration.md has no `## Agent` section");
    let rest: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
    format!("{first}\n{}", rest.join("\n"))
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_owned()).collect()
}

/// The text between backticks in `cell`.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Rows of the section's key tables, by key (backticks stripped).
fn rows(section: &str) -> Rows {
    let mut rows = BTreeMap::new();
    let mut in_key_table = false;
    for line in section.lines() {
        if !line.trim_start().starts_with('|') {
            in_key_table = false;
            continue;
        }
        let row = cells(line);
        if row.first().is_some_and(|c| c == "key") {
            assert_eq!(row, HEADER, "key table header");
            in_key_table = true;
            continue;
        }
        if !in_key_table || row.iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        assert_eq!(row.len(), HEADER.len(), "row with a stray `|`: {line}");
        let key = code_spans(&row[0])
            .first()
            .unwrap_or_else(|| panic!("key cell is not `code`: {line}"))
            .to_string();
        assert!(
            rows.insert(key.clone(), row).is_none(),
            "{key} documented twice"
        );
    }
    assert!(!rows.is_empty(), "no key tables in the agent section");
    rows
}

/// The first fenced block in `lang` after the `### Complete example` heading.
fn example_block(section: &str, lang: &str) -> String {
    let after = section
        .split_once("### Complete example")
        .expect("no `### Complete example` heading")
        .1;
    let body = after
        .split_once(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no ```{lang} block in the complete example"))
        .1;
    body.split_once("```")
        .expect("unterminated block")
        .0
        .to_owned()
}

/// The documented form of every key in `text`: `targets.<name>...` is documented once, as
/// `targets.<connector>...`.
fn yaml_keys(text: &str) -> BTreeSet<String> {
    scan_keys(text)
        .into_iter()
        .map(|key| match key.strip_prefix("targets.") {
            Some(rest) => match rest.split_once('.') {
                Some((_, field)) => format!("targets.<connector>.{field}"),
                None => "targets.<connector>".to_owned(),
            },
            None => key,
        })
        .collect()
}

/// Dotted keys of block-style YAML, found by indentation: `a.b` for nested mappings, `a[].b` for
/// keys of list entries; a key with a value on its line (scalar or flow `[...]`) is a leaf.
/// Keys written only as comments (`  # ca_bundle: ...`) count too, under their enclosing key.
fn scan_keys(text: &str) -> BTreeSet<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let (commented, body) = match body.strip_prefix('#') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, body),
        };
        let (indent, body) = match body.strip_prefix("- ") {
            // `- key:` opens a list entry whose keys sit two columns further in.
            Some(rest) if !commented => {
                if let Some((_, parent)) = stack.last_mut()
                    && !parent.ends_with("[]")
                {
                    parent.push_str("[]");
                }
                (indent + 2, rest)
            }
            _ => (indent, body),
        };
        let Some((key, value)) = split_key(body, commented) else {
            continue;
        };
        stack.retain(|(i, _)| *i < indent);
        let value = value.trim_start();
        if !commented && (value.is_empty() || value.starts_with('#')) {
            stack.push((indent, key.to_owned()));
        } else {
            let mut path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            path.push(key);
            keys.insert(path.join("."));
        }
    }
    keys
}

/// `key` and the rest of a `key: value` line. In a comment only a plain lowercase identifier
/// counts as a key, so prose such as `# TCP health port: ...` is skipped.
fn split_key(body: &str, commented: bool) -> Option<(&str, &str)> {
    let (key, value) = body.split_once(':')?;
    let plain = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let shaped = !key.is_empty() && !key.contains(char::is_whitespace) && !key.starts_with('#');
    let ok = if commented { plain } else { shaped };
    (ok && (value.is_empty() || value.starts_with(' '))).then_some((key, value))
}

#[test]
fn every_env_variable_is_documented() {
    let source = read("src/config/env.rs");
    let constants: Vec<(String, String)> = source
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("pub const ")?;
            let (name, rest) = rest.split_once(": &str = \"")?;
            Some((name.trim().to_owned(), rest.split_once('"')?.0.to_owned()))
        })
        .collect();
    assert!(
        constants.iter().any(|(_, v)| v == env::NC_AGENT_URL),
        "the scan of env.rs found {constants:?}"
    );
    let rows = rows(&section());
    let documented: BTreeSet<&str> = rows.values().flat_map(|r| code_spans(&r[ENV])).collect();
    let missing: Vec<&String> = constants
        .iter()
        .filter(|(_, value)| {
            !documented
                .iter()
                .any(|d| d == value || (value.ends_with('_') && d.starts_with(value.as_str())))
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "not in any `env override` cell of docs/configuration.md: {missing:?}"
    );
}

#[test]
fn every_example_key_is_documented() {
    let example = read("examples/premise.yaml");
    let keys = yaml_keys(&example);
    for known in [
        "tunnel.auth.token_file",
        "targets.<connector>.port",
        "proxy.https_proxy",
        "proxy.ca_bundle",
    ] {
        assert!(
            keys.contains(known),
            "the scan of premise.yaml found {keys:?}"
        );
    }
    let rows = rows(&section());
    let missing: Vec<&String> = keys.iter().filter(|k| !rows.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "keys of examples/premise.yaml missing from docs/configuration.md: {missing:?}"
    );
}

#[test]
fn documented_env_only_example_loads() {
    let block = example_block(&section(), "sh");
    let vars: HashMap<String, String> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=value: {l}"));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let env = |name: &str| vars.get(name).cloned();
    if let Err(e) = config::load(None, &env) {
        panic!("the documented environment-only example is refused: {e}");
    }
}

#[test]
fn every_documented_key_exists() {
    let section = section();
    let example = example_block(&section, "yaml");
    let keys = yaml_keys(&example);
    let env = |_: &str| -> Option<String> { None };
    if let Err(e) = config::from_yaml_str(&example, &env) {
        panic!("the documented complete example is refused: {e}");
    }
    for key in rows(&section).keys() {
        let used = keys.iter().any(|k| {
            k == key || k.starts_with(&format!("{key}.")) || k.starts_with(&format!("{key}[]"))
        });
        assert!(
            used,
            "{key} is documented but missing from the complete example (which the loader checks)"
        );
    }
}

/// The first `code` span of `key`'s default cell equals `value`.
fn assert_default(rows: &Rows, key: &str, value: impl ToString) {
    let row = rows
        .get(key)
        .unwrap_or_else(|| panic!("{key} not documented"));
    let documented = code_spans(&row[DEFAULT]).first().map(|s| s.to_string());
    assert_eq!(
        documented,
        Some(value.to_string()),
        "documented default of {key}"
    );
}

/// `key`'s type cell states `range` as `min..=max`.
fn assert_range<T: Display>(rows: &Rows, key: &str, range: &RangeInclusive<T>) {
    let text = format!("{}..={}", range.start(), range.end());
    assert!(
        rows[key][TYPE].contains(&text),
        "documented range of {key}: expected {text}"
    );
}

#[test]
fn documented_defaults_and_ranges_match_the_code() {
    let rows = rows(&section());
    assert_default(
        &rows,
        "tunnel.ping_interval_sec",
        defaults::PING_INTERVAL_SEC,
    );
    assert_default(&rows, "tunnel.ping_timeout_sec", defaults::PING_TIMEOUT_SEC);
    assert_default(&rows, "tunnel.max_ws_payload", defaults::MAX_WS_PAYLOAD);
    assert_default(&rows, "tunnel.v2", defaults::V2);
    assert_default(&rows, "tunnel.v2_max_frame", defaults::V2_MAX_FRAME);
    assert_default(&rows, "tunnel.backoff_base_ms", defaults::BACKOFF_BASE_MS);
    assert_default(&rows, "tunnel.backoff_max_ms", defaults::BACKOFF_MAX_MS);
    assert_default(&rows, "limits.idle_timeout_ms", defaults::IDLE_TIMEOUT_MS);
    assert_default(
        &rows,
        "limits.connect_timeout_ms",
        defaults::CONNECT_TIMEOUT_MS,
    );
    assert_default(
        &rows,
        "limits.queue_depth_per_cid",
        defaults::QUEUE_DEPTH_PER_CID,
    );
    assert_default(
        &rows,
        "limits.max_inflight_cids",
        defaults::MAX_INFLIGHT_CIDS,
    );
    assert_default(
        &rows,
        "limits.shutdown_grace_ms",
        defaults::SHUTDOWN_GRACE_MS,
    );
    assert_default(&rows, "health.host", defaults::HEALTH_ADDR.ip());
    assert_default(&rows, "health.port", defaults::HEALTH_ADDR.port());
    assert_default(
        &rows,
        "observability.metrics_host",
        defaults::METRICS_ADDR.ip(),
    );
    assert_default(
        &rows,
        "observability.metrics_port",
        defaults::METRICS_ADDR.port(),
    );
    assert_default(&rows, "observability.log_level", defaults::LOG_LEVEL);
    let log_format = match defaults::LOG_FORMAT {
        LogFormat::Json => "json",
        LogFormat::Plain => "plain",
    };
    assert_default(&rows, "observability.log_format", log_format);
    assert_default(&rows, "proxy.trust_env", defaults::TRUST_ENV);
    assert_default(&rows, "runtime.worker_threads", defaults::WORKER_THREADS);
    assert_range(
        &rows,
        "runtime.worker_threads",
        &defaults::WORKER_THREADS_RANGE,
    );

    assert_range(
        &rows,
        "tunnel.max_ws_payload",
        &defaults::MAX_WS_PAYLOAD_RANGE,
    );
    assert_range(&rows, "tunnel.v2_max_frame", &defaults::V2_MAX_FRAME_RANGE);
    assert_range(
        &rows,
        "limits.queue_depth_per_cid",
        &defaults::QUEUE_DEPTH_RANGE,
    );
}
