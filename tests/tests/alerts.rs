//! The alert rules (SPEC §7): `promtool check rules` accepts `alerts/nowconnect.rules.yml`, the
//! promtool unit tests in `alerts/tests/` pass and cover every alert firing and staying silent,
//! every rule carries `severity`, `summary`, `description` and a `runbook_url` whose anchor is a
//! heading of `docs/runbooks.md` with the four parts of a runbook, and every alert expression and
//! runbook query parses as PromQL and names only metrics of the contract
//! (`tests/fixtures/metrics-*.txt`, read by `support/promql.rs`) or Prometheus's own `up`.
//!
//! This crate has no YAML parser among its dependencies, so the rule file is read by [`yaml`], a
//! small reader of the block-style subset the file is written in: it panics on anything else,
//! and the number of rules it finds must equal the number promtool reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/promql.rs"]
mod promql;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL: &str = "/usr/bin/promtool";
const RULES: &str = "alerts/nowconnect.rules.yml";
const RUNBOOKS: &str = "docs/runbooks.md";
const RUNBOOK_BASE: &str = "https://github.com/nowconnect/nowconnect/blob/main/docs/runbooks.md#";

/// The alerts SPEC §7 asks for, and NowConnectTargetDown (a process Prometheus cannot scrape,
/// whose series are gone and whose other alerts cannot fire), with their severity and the labels
/// their summary and description name: the connector, or for a scrape target its job and
/// instance (`up` has no connector).
const ALERTS: [(&str, &str, &[&str]); 7] = [
    ("NowConnectWriteDrainSlow", "warning", &["connector"]),
    ("NowConnectInboundQueueHigh", "warning", &["connector"]),
    ("NowConnectListenerErrorSpike", "warning", &["connector"]),
    ("NowConnectPdpErrors", "critical", &["connector"]),
    ("NowConnectNoAgent", "critical", &["connector"]),
    ("NowConnectOneWayTraffic", "warning", &["connector"]),
    ("NowConnectTargetDown", "critical", &["job", "instance"]),
];

/// Series that no service exports but that rules, runbook queries and unit tests may name
/// besides the contract: only `up`, which Prometheus itself writes for every target it scrapes
/// (1 after a successful scrape, 0 after a failed one) and NowConnectTargetDown reads. Every
/// other name must still be in `tests/fixtures/metrics-*.txt`.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository root")
}

/// Runs promtool in the repository root; returns whether it succeeded and everything it printed.
fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new(PROMTOOL)
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {PROMTOOL} ({e}): install it with scripts/install-deps.sh")
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

/// `alerts/tests/*.yml`, relative to the repository root, sorted.
fn unit_test_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("alerts/tests"))
        .expect("alerts/tests/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("alerts/tests/{name}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool unit tests in alerts/tests/");
    files
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn promtool_check_rules_accepts_the_rule_file() {
    let (ok, report) = promtool(&["check", "rules", RULES]);
    assert!(ok, "promtool check rules {RULES} failed:\n{report}");
    let found = report
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("SUCCESS: ")?
                .strip_suffix(" rules found")
        })
        .unwrap_or_else(|| panic!("no rule count in promtool's report:\n{report}"));
    let rules = rules::load();
    assert_eq!(
        found,
        rules.len().to_string(),
        "promtool and this test's reader disagree on the rule count:\n{report}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let files = unit_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (ok, report) = promtool(&args);
    assert!(ok, "promtool test rules failed:\n{report}");
    assert_eq!(
        report.matches("SUCCESS").count(),
        files.len(),
        "one SUCCESS per file expected:\n{report}"
    );
    assert!(!report.contains("FAILED"), "{report}");
}

#[test]
fn every_alert_has_a_firing_and_a_silent_unit_test() {
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for file in unit_test_files() {
        let text = read(&file);
        assert!(
            text.contains("rule_files:\n  - ../nowconnect.rules.yml\n"),
            "{file} must load ../nowconnect.rules.yml"
        );
        // Items of `alert_rule_test` are written eval_time, alertname, exp_alerts.
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("- eval_time:") {
                current = None;
            } else if let Some(name) = line.strip_prefix("alertname:") {
                current = Some(name.trim().to_owned());
            } else if line.starts_with("exp_alerts:") {
                let name = current
                    .clone()
                    .unwrap_or_else(|| panic!("{file}: exp_alerts without alertname before it"));
                match line {
                    "exp_alerts: []" => silent.insert(name),
                    "exp_alerts:" => firing.insert(name),
                    other => panic!("{file}: unexpected {other:?}"),
                };
            }
        }
    }
    for rule in rules::load() {
        assert!(
            firing.contains(&rule.alert),
            "{}: no firing case",
            rule.alert
        );
        assert!(
            silent.contains(&rule.alert),
            "{}: no silent case",
            rule.alert
        );
    }
    let known: BTreeSet<String> = rules::load().into_iter().map(|r| r.alert).collect();
    for name in firing.union(&silent) {
        assert!(
            known.contains(name),
            "unit tests name an unknown alert {name}"
        );
    }
}

#[test]
fn every_rule_has_severity_summary_description_and_runbook() {
    let rules = rules::load();
    let names: Vec<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    let expected: Vec<&str> = ALERTS.iter().map(|(name, _, _)| *name).collect();
    assert_eq!(names, expected, "the alerts of ALERTS, in file order");
    for rule in &rules {
        let name = &rule.alert;
        let (_, severity, subject) = ALERTS.iter().find(|(n, _, _)| n == name).unwrap();
        let labels: Vec<&str> = rule.labels.keys().map(String::as_str).collect();
        assert_eq!(labels, ["severity"], "{name}: labels");
        assert_eq!(
            rule.labels.get("severity").map(String::as_str),
            Some(*severity),
            "{name}"
        );

        let keys: Vec<&str> = rule.annotations.keys().map(String::as_str).collect();
        assert_eq!(keys, ["description", "runbook_url", "summary"], "{name}");
        let summary = &rule.annotations["summary"];
        let description = &rule.annotations["description"];
        for label in *subject {
            let rendered = format!("{{{{ $labels.{label} }}}}");
            assert!(summary.contains(&rendered), "{name}: {summary}");
            assert!(description.contains(&rendered), "{name}: {description}");
        }
        assert!(description.contains("{{ $value"), "{name}: {description}");
        let url = &rule.annotations["runbook_url"];
        assert_eq!(
            *url,
            format!("{RUNBOOK_BASE}{}", name.to_lowercase()),
            "{name}: runbook_url"
        );
        assert!(!rule.expr.trim().is_empty(), "{name}: expr");
    }
}

#[test]
fn every_runbook_url_anchor_is_a_runbook_heading() {
    let text = read(RUNBOOKS);
    let headings = markdown::headings(&text);
    let anchors: BTreeSet<String> = headings.iter().map(|h| markdown::anchor(h)).collect();
    assert_eq!(
        anchors.len(),
        headings.len(),
        "duplicate headings: {headings:?}"
    );
    for rule in rules::load() {
        let url = &rule.annotations["runbook_url"];
        let anchor = url
            .strip_prefix(RUNBOOK_BASE)
            .unwrap_or_else(|| panic!("{}: {url} is not in {RUNBOOKS}", rule.alert));
        assert!(
            anchors.contains(anchor),
            "{}: no heading in {RUNBOOKS} with anchor #{anchor}; anchors: {anchors:?}",
            rule.alert
        );
        // The section is the alert's own and has the four parts.
        let section = markdown::section(&text, &rule.alert)
            .unwrap_or_else(|| panic!("{RUNBOOKS}: no `## {}` section", rule.alert));
        for part in [
            "**Meaning.**",
            "**Confirm.**",
            "**Likely causes",
            "**What to do",
        ] {
            assert!(
                section.contains(part),
                "{}: runbook lacks {part}",
                rule.alert
            );
        }
        assert!(section.contains("```promql"), "{}: no queries", rule.alert);
    }
}

#[test]
fn every_expression_and_runbook_query_parses_and_names_only_contract_metrics() {
    let mut contract = promql::contract();
    // The one explicit allowance: see PROMETHEUS_SERIES.
    contract.extend(PROMETHEUS_SERIES.map(String::from));
    let check = |what: &str, expr: &str| {
        let names = promql::metric_names(&promql::concrete(expr))
            .unwrap_or_else(|e| panic!("{what}: does not parse: {e}\n{expr}"));
        assert!(!names.is_empty(), "{what}: names no metric: {expr}");
        for name in names {
            assert!(
                contract.contains(&name),
                "{what}: {name} is not in tests/fixtures/metrics-*.txt (nor {PROMETHEUS_SERIES:?}):\n{expr}"
            );
        }
    };
    for rule in rules::load() {
        check(&rule.alert, &rule.expr);
    }
    let queries = markdown::promql_queries(&read(RUNBOOKS));
    assert!(queries.len() >= ALERTS.len(), "{queries:?}");
    for query in &queries {
        check(RUNBOOKS, query);
    }
    for file in unit_test_files() {
        for line in read(&file).lines() {
            let Some(series) = line.trim().strip_prefix("- series: '") else {
                continue;
            };
            let name = series.split('{').next().unwrap_or_default();
            assert!(
                contract.contains(name),
                "{file}: input series {name} is not in the contract"
            );
        }
    }
}

/// The rule file, read into plain structs.
mod rules {
    use super::yaml::Node;
    use std::collections::BTreeMap;

    #[derive(Debug)]
    pub(super) struct Rule {
        pub(super) alert: String,
        pub(super) expr: String,
        pub(super) labels: BTreeMap<String, String>,
        pub(super) annotations: BTreeMap<String, String>,
    }

    pub(super) fn load() -> Vec<Rule> {
        let root = super::yaml::parse(&super::read(super::RULES));
        let groups = root.get("groups").list();
        assert_eq!(groups.len(), 1, "one group");
        let group = &groups[0];
        group.keys_within(&["name", "rules"]);
        assert_eq!(group.get("name").text(), "nowconnect");
        group.get("rules").list().iter().map(rule).collect()
    }

    fn rule(node: &Node) -> Rule {
        node.keys_within(&["alert", "expr", "for", "labels", "annotations"]);
        let alert = node.get("alert").text().to_owned();
        let map = |key: &str| -> BTreeMap<String, String> {
            node.get(key)
                .map()
                .iter()
                .map(|(k, v)| (k.clone(), v.text().to_owned()))
                .collect()
        };
        Rule {
            expr: node.get("expr").text().to_owned(),
            labels: map("labels"),
            annotations: map("annotations"),
            alert,
        }
    }
}

/// A reader for block-style YAML: mappings with plain keys, `- ` sequences, plain, single- and
/// double-quoted scalars, `|` / `>` block scalars, `[]` / `{}`, and comment lines. Anything
/// else (anchors, tags, flow collections with content, escapes) panics.
mod yaml {
    #[derive(Debug)]
    pub(super) enum Node {
        Map(Vec<(String, Node)>),
        List(Vec<Node>),
        Scalar(String),
    }

    impl Node {
        pub(super) fn get(&self, key: &str) -> &Node {
            self.map()
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no key {key:?} in {self:?}"))
        }

        pub(super) fn map(&self) -> &[(String, Node)] {
            match self {
                Node::Map(m) => m,
                other => panic!("expected a mapping, got {other:?}"),
            }
        }

        pub(super) fn list(&self) -> &[Node] {
            match self {
                Node::List(l) => l,
                other => panic!("expected a sequence, got {other:?}"),
            }
        }

        pub(super) fn text(&self) -> &str {
            match self {
                Node::Scalar(s) => s,
                other => panic!("expected a scalar, got {other:?}"),
            }
        }

        /// Panics on a key outside `allowed` (a typo such as `annotation:` must not pass).
        pub(super) fn keys_within(&self, allowed: &[&str]) {
            for (k, _) in self.map() {
                assert!(allowed.contains(&k.as_str()), "unexpected key {k:?}");
            }
        }
    }

    #[derive(Debug, Clone)]
    struct Line {
        indent: usize,
        text: String,
        /// 1-based, for messages.
        number: usize,
    }

    pub(super) fn parse(text: &str) -> Node {
        assert!(!text.contains('\t'), "tabs in YAML");
        let mut lines: Vec<Line> = text
            .lines()
            .enumerate()
            .map(|(i, raw)| Line {
                indent: raw.len() - raw.trim_start().len(),
                text: raw.trim().to_owned(),
                number: i + 1,
            })
            .collect();
        let mut pos = 0;
        skip_blank(&lines, &mut pos);
        let node = node(&mut lines, &mut pos, 0);
        skip_blank(&lines, &mut pos);
        assert!(
            pos == lines.len(),
            "unread YAML from line {}",
            lines[pos].number
        );
        node
    }

    fn skip_blank(lines: &[Line], pos: &mut usize) {
        while *pos < lines.len()
            && (lines[*pos].text.is_empty() || lines[*pos].text.starts_with('#'))
        {
            *pos += 1;
        }
    }

    fn is_item(text: &str) -> bool {
        text == "-" || text.starts_with("- ")
    }

    fn node(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
        if is_item(&lines[*pos].text) {
            list(lines, pos, indent)
        } else {
            map(lines, pos, indent)
        }
    }

    fn list(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
        let mut items = Vec::new();
        loop {
            skip_blank(lines, pos);
            if *pos >= lines.len() || lines[*pos].indent != indent || !is_item(&lines[*pos].text) {
                break;
            }
            let rest = lines[*pos].text[1..].trim_start().to_owned();
            if key_value(&rest).is_some() {
                // `- key: value` opens a mapping two columns in.
                lines[*pos].indent = indent + 2;
                lines[*pos].text = rest;
                items.push(map(lines, pos, indent + 2));
            } else {
                items.push(Node::Scalar(scalar(&rest, lines[*pos].number)));
                *pos += 1;
            }
        }
        Node::List(items)
    }

    fn map(lines: &mut [Line], pos: &mut usize, indent: usize) -> Node {
        let mut entries: Vec<(String, Node)> = Vec::new();
        loop {
            skip_blank(lines, pos);
            if *pos >= lines.len() || lines[*pos].indent != indent || is_item(&lines[*pos].text) {
                break;
            }
            let number = lines[*pos].number;
            let (key, value) = key_value(&lines[*pos].text)
                .unwrap_or_else(|| panic!("line {number}: expected `key: value`"));
            assert!(
                entries.iter().all(|(k, _)| *k != key),
                "line {number}: duplicate key {key:?}"
            );
            *pos += 1;
            let child = if value.is_empty() {
                skip_blank(lines, pos);
                match lines.get(*pos) {
                    Some(next) if next.indent > indent => {
                        let inner = next.indent;
                        node(lines, pos, inner)
                    }
                    Some(next) if next.indent == indent && is_item(&next.text) => {
                        list(lines, pos, indent)
                    }
                    _ => Node::Scalar(String::new()),
                }
            } else if value.starts_with('|') || value.starts_with('>') {
                block(lines, pos, indent, &value, number)
            } else {
                match value.as_str() {
                    "[]" => Node::List(Vec::new()),
                    "{}" => Node::Map(Vec::new()),
                    v => Node::Scalar(scalar(v, number)),
                }
            };
            entries.push((key, child));
        }
        Node::Map(entries)
    }

    /// `key: value` or `key:` with a plain key; `None` for anything else.
    fn key_value(text: &str) -> Option<(String, String)> {
        let (key, value) = match text.split_once(": ") {
            Some((k, v)) => (k, v.trim()),
            None => (text.strip_suffix(':')?, ""),
        };
        let plain = key.chars().next()?.is_ascii_alphabetic()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        plain.then(|| (key.to_owned(), value.to_owned()))
    }

    /// A `|` (literal) or `>` (folded) block scalar, with `-` (strip) or default (clip) chomping.
    fn block(lines: &[Line], pos: &mut usize, indent: usize, header: &str, number: usize) -> Node {
        assert!(
            matches!(header, "|" | "|-" | ">" | ">-"),
            "line {number}: unsupported block header {header:?}"
        );
        let mut content: Vec<&str> = Vec::new();
        let mut inner = None;
        while let Some(line) = lines.get(*pos) {
            if !line.text.is_empty() && line.indent <= indent {
                break;
            }
            if !line.text.is_empty() {
                let first = *inner.get_or_insert(line.indent);
                assert!(line.indent >= first, "line {}: dedented block", line.number);
            }
            content.push(&line.text);
            *pos += 1;
        }
        while content.last().is_some_and(|l| l.is_empty()) {
            content.pop();
        }
        let sep = if header.starts_with('|') { "\n" } else { " " };
        let mut text = content.join(sep);
        if !header.ends_with('-') {
            text.push('\n');
        }
        Node::Scalar(text)
    }

    fn scalar(value: &str, number: usize) -> String {
        if let Some(body) = value.strip_prefix('"') {
            let body = body
                .strip_suffix('"')
                .unwrap_or_else(|| panic!("line {number}: unterminated \"string\""));
            assert!(
                !body.contains('\\') && !body.contains('"'),
                "line {number}: escapes are not supported"
            );
            body.to_owned()
        } else if let Some(body) = value.strip_prefix('\'') {
            let body = body
                .strip_suffix('\'')
                .unwrap_or_else(|| panic!("line {number}: unterminated 'string'"));
            assert!(
                !body.replace("''", "").contains('\''),
                "line {number}: stray quote"
            );
            body.replace("''", "'")
        } else {
            let first = value.chars().next().unwrap_or(' ');
            assert!(
                !"{[&*!|>%@`#,?:-".contains(first) && !value.contains(" #"),
                "line {number}: unsupported plain scalar {value:?}"
            );
            value.to_owned()
        }
    }
}

/// Headings, anchors, sections and ```promql blocks of a Markdown file.
mod markdown {
    /// ATX headings outside code fences, without the `#`s.
    pub(super) fn headings(text: &str) -> Vec<String> {
        outside_fences(text)
            .filter_map(|l| {
                let rest = l.trim_start_matches('#');
                (rest.len() < l.len() && rest.starts_with(' ')).then(|| rest.trim().to_owned())
            })
            .collect()
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
    pub(super) fn anchor(heading: &str) -> String {
        heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    /// The text under `## {title}` up to the next `## ` heading (the file has no `# ` after
    /// its title; `# ` lines inside code blocks are PromQL comments).
    pub(super) fn section(text: &str, title: &str) -> Option<String> {
        let start = text.find(&format!("\n## {title}\n"))? + 1;
        let body = &text[start..];
        let end = body[1..].find("\n## ").map_or(body.len(), |e| e + 1);
        Some(body[..end].to_owned())
    }

    /// The queries in the ```promql fenced blocks: a line that starts a query is not indented,
    /// indented lines continue it; `#` comment lines and blank lines separate queries.
    pub(super) fn promql_queries(text: &str) -> Vec<String> {
        let mut queries: Vec<String> = Vec::new();
        let mut open = false;
        let mut continues = false;
        for line in text.lines() {
            match (open, line.trim()) {
                (false, "```promql") => open = true,
                (true, "```") => (open, continues) = (false, false),
                (true, l) if l.is_empty() || l.starts_with('#') => continues = false,
                (true, l) => {
                    match queries.last_mut() {
                        Some(q) if continues && line.starts_with(' ') => {
                            q.push('\n');
                            q.push_str(l);
                        }
                        _ => queries.push(l.to_owned()),
                    }
                    continues = true;
                }
                (false, _) => {}
            }
        }
        assert!(!open, "unterminated ```promql block");
        queries
    }

    fn outside_fences(text: &str) -> impl Iterator<Item = &str> {
        let mut fenced = false;
        text.lines().filter(move |l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
    }
}
