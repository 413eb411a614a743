//! PromQL as the dashboards and rules write it: Grafana variables replaced by concrete values,
//! parsed with `promql-parser`, and the metric names each expression selects — checked against
//! the metric contract of every service (`tests/fixtures/metrics-*.txt`).
#![allow(dead_code, reason = "each test binary uses a part of it")]

use promql_parser::parser::{self, Expr};
use std::collections::BTreeSet;

/// Grafana's variables replaced by values Prometheus accepts: an interval for the `$__…`
/// intervals, a match-all regex for template variables (always used with `=~`).
pub(crate) fn concrete(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    for var in [
        "${connector}",
        "$connector",
        "${job}",
        "$job",
        "${system}",
        "$system",
    ] {
        out = out.replace(var, ".*");
    }
    assert!(!out.contains('$'), "an unknown Grafana variable in {expr}");
    out
}

/// Parses `expr` (already [`concrete`]); returns the metric names it selects.
pub(crate) fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr)?;
    let mut names = BTreeSet::new();
    collect(&ast, &mut names);
    Ok(names)
}

fn collect(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            collect(&a.expr, names);
            if let Some(p) = &a.param {
                collect(p, names);
            }
        }
        Expr::Unary(u) => collect(&u.expr, names),
        Expr::Binary(b) => {
            collect(&b.lhs, names);
            collect(&b.rhs, names);
        }
        Expr::Paren(p) => collect(&p.expr, names),
        Expr::Subquery(s) => collect(&s.expr, names),
        Expr::VectorSelector(v) => names.extend(v.name.clone()),
        Expr::MatrixSelector(m) => names.extend(m.vs.name.clone()),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, names)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Every series name the services export: each family of the contract files, histograms with
/// their `_bucket`, `_count` and `_sum` series.
pub(crate) fn contract() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let mut names = BTreeSet::new();
    for file in ["metrics-hub.txt", "metrics-agent.txt", "metrics-crud.txt"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("contract file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let (name, kind) = (parts.next().expect("name"), parts.next().expect("type"));
            if kind == "histogram" {
                for suffix in ["_bucket", "_count", "_sum"] {
                    names.insert(format!("{name}{suffix}"));
                }
            } else {
                names.insert(name.to_owned());
            }
        }
    }
    names
}
