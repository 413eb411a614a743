//! `--exit-on` gates: small conditions on a report's figures that make the run exit non-zero,
//! so CI or an operator can use a load run as a smoke test.
//!
//! Grammar (whitespace is free; several gates are joined by `,` or `||`, and `--exit-on` may be
//! given several times — any one gate that holds trips the run):
//!
//! ```text
//! gates  := gate ( ("," | "||") gate )*
//! gate   := name op number
//! name   := [A-Za-z_][A-Za-z0-9_.]*      e.g. errors_total, p99_ms, ratio.bulk_1
//! op     := ">" | ">=" | "<" | "<=" | "==" | "!="
//! number := a decimal number (sign, fraction and exponent allowed)
//! ```
//!
//! A name is a dotted path into the JSON report (`latency_ms.p99_ms`) or, when it has no dot,
//! a field name that occurs exactly once anywhere in it (`p99_ms`). Names are checked against
//! the report's shape before the run starts. A figure that is missing from a finished report
//! (JSON `null`, e.g. a ratio over a zero) trips its gate: a smoke test must not pass on
//! nothing.

use std::fmt;

use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => a == b,
            Op::Ne => a != b,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// One condition: `name op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub name: String,
    pub op: Op,
    pub value: f64,
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.op.as_str(), self.value)
    }
}

/// Why an `--exit-on` expression or name was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    #[error("--exit-on {expr:?}: {reason} at column {column}")]
    Syntax {
        expr: String,
        column: usize,
        reason: String,
    },
    #[error("--exit-on: unknown figure {name:?} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("--exit-on: {name:?} is ambiguous, say which: {candidates}")]
    Ambiguous { name: String, candidates: String },
}

/// A gate that held on a finished report.
#[derive(Debug, Clone, PartialEq)]
pub struct Tripped {
    pub gate: Gate,
    /// The figure's value; `None` when the report had no number there.
    pub actual: Option<f64>,
}

impl fmt::Display for Tripped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.actual {
            Some(v) => write!(f, "{} (actual {v})", self.gate),
            None => write!(f, "{} (no figure)", self.gate),
        }
    }
}

/// Parses every `--exit-on` expression into gates.
pub fn parse_all<S: AsRef<str>>(exprs: &[S]) -> Result<Vec<Gate>, GateError> {
    let mut gates = Vec::new();
    for e in exprs {
        gates.extend(parse(e.as_ref())?);
    }
    Ok(gates)
}

/// Parses one expression (`gate ("," | "||") gate …`).
pub fn parse(expr: &str) -> Result<Vec<Gate>, GateError> {
    let mut p = Parser { expr, pos: 0 };
    let mut gates = vec![p.gate()?];
    loop {
        p.skip_ws();
        if p.pos == expr.len() {
            return Ok(gates);
        }
        if p.eat("||") || p.eat(",") {
            gates.push(p.gate()?);
        } else {
            return Err(p.error("expected `,` or `||` between gates"));
        }
    }
}

struct Parser<'a> {
    expr: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.expr[self.pos..]
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn error(&self, reason: &str) -> GateError {
        GateError::Syntax {
            expr: self.expr.to_owned(),
            column: self.expr[..self.pos].chars().count() + 1,
            reason: reason.to_owned(),
        }
    }

    fn gate(&mut self) -> Result<Gate, GateError> {
        self.skip_ws();
        let name = self.name()?;
        self.skip_ws();
        let op = self.op()?;
        self.skip_ws();
        let value = self.number()?;
        Ok(Gate { name, op, value })
    }

    fn name(&mut self) -> Result<String, GateError> {
        let rest = self.rest();
        let starts_well = rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !starts_well {
            return Err(self.error("expected a figure name (e.g. errors_total, p99_ms)"));
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let name = rest[..len].to_owned();
        if name.ends_with('.') || name.contains("..") {
            return Err(self.error("a dotted name needs a field after every `.`"));
        }
        self.pos += len;
        Ok(name)
    }

    fn op(&mut self) -> Result<Op, GateError> {
        // Two-character operators first, so `>=` is not read as `>`.
        for (token, op) in [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        Err(self.error("expected one of > >= < <= == !="))
    }

    fn number(&mut self) -> Result<f64, GateError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let parsed = rest[..len].parse::<f64>();
        match parsed {
            Ok(v) if len > 0 && v.is_finite() => {
                self.pos += len;
                Ok(v)
            }
            _ => Err(self.error("expected a number")),
        }
    }
}

/// Checks that every gate names exactly one numeric field of `shape` (a report of the mode
/// that will run, its figures may be zero).
pub fn check_names(gates: &[Gate], shape: &Value) -> Result<(), GateError> {
    for g in gates {
        resolve(&g.name, shape)?;
    }
    Ok(())
}

/// The gates that hold on `report`, in order.
pub fn evaluate(gates: &[Gate], report: &Value) -> Result<Vec<Tripped>, GateError> {
    let mut tripped = Vec::new();
    for g in gates {
        let path = resolve(&g.name, report)?;
        let actual = lookup(report, &path).and_then(Value::as_f64);
        let holds = match actual {
            Some(v) => g.op.holds(v, g.value),
            None => true,
        };
        if holds {
            tripped.push(Tripped {
                gate: g.clone(),
                actual,
            });
        }
    }
    Ok(tripped)
}

/// The full dotted path `name` stands for in `report`.
fn resolve(name: &str, report: &Value) -> Result<String, GateError> {
    let leaves = leaves(report);
    if leaves.iter().any(|l| l == name) {
        return Ok(name.to_owned());
    }
    let suffix = format!(".{name}");
    let matches: Vec<&String> = if name.contains('.') {
        Vec::new()
    } else {
        leaves.iter().filter(|l| l.ends_with(&suffix)).collect()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(GateError::Unknown {
            name: name.to_owned(),
            known: leaves.join(", "),
        }),
        many => Err(GateError::Ambiguous {
            name: name.to_owned(),
            candidates: many
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Dotted paths of every number (or null, a number that could not be computed) in `v`.
fn leaves(v: &Value) -> Vec<String> {
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(child, &path, out);
                }
            }
            Value::Number(_) | Value::Null if !prefix.is_empty() => out.push(prefix.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, "", &mut out);
    out
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "run_id": "x",
            "requests_total": 100,
            "errors_total": 0,
            "latency_ms": {"count": 100, "p50_ms": 3.5, "p99_ms": 250.0},
            "tunnel": {"rtt": {"p99_us": 10.0}},
            "direct": {"rtt": {"p99_us": 8.0}},
            "ratio": {"bulk_1": null}
        })
    }

    #[test]
    fn parses_gates_and_separators() {
        let g = parse("errors_total > 0, p99_ms>=200 || latency_ms.p50_ms != 1e-3").unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(
            g[0],
            Gate {
                name: "errors_total".into(),
                op: Op::Gt,
                value: 0.0
            }
        );
        assert_eq!((g[1].op, g[1].value), (Op::Ge, 200.0));
        assert_eq!((g[2].name.as_str(), g[2].op), ("latency_ms.p50_ms", Op::Ne));
        assert_eq!(g[2].value, 0.001);
        assert_eq!(parse("x<=-1.5").unwrap()[0].op, Op::Le);
        assert_eq!(parse(" x == 2 ").unwrap()[0].op, Op::Eq);
        assert_eq!(parse("x < 2").unwrap()[0].op, Op::Lt);
        assert_eq!(g[0].to_string(), "errors_total > 0");
    }

    #[test]
    fn bad_expressions_say_where_and_why() {
        for (bad, column, reason) in [
            ("", 1, "figure name"),
            ("> 3", 1, "figure name"),
            ("p99_ms 200", 8, "one of >"),
            ("p99_ms => 200", 8, "one of >"),
            ("p99_ms > ", 10, "number"),
            ("p99_ms > abc", 10, "number"),
            ("p99_ms > 1 errors_total > 0", 12, "`,` or `||`"),
            ("p99_ms > 1,", 12, "figure name"),
            ("latency_ms. > 1", 1, "after every"),
            ("p99_ms > inf", 10, "number"),
        ] {
            match parse(bad) {
                Err(GateError::Syntax {
                    column: c,
                    reason: r,
                    ..
                }) => {
                    assert_eq!(c, column, "{bad:?}: {r}");
                    assert!(r.contains(reason), "{bad:?}: {r}");
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let msg = parse("p99_ms 200").unwrap_err().to_string();
        assert!(
            msg.contains("\"p99_ms 200\"") && msg.contains("column 8"),
            "{msg}"
        );
    }

    #[test]
    fn names_resolve_fully_or_by_unique_field() {
        let r = report();
        let ok = parse_all(&["errors_total > 0", "p99_ms > 200", "latency_ms.count < 1"]).unwrap();
        check_names(&ok, &r).unwrap();
        let unknown = parse("p98_ms > 1").unwrap();
        let err = check_names(&unknown, &r).unwrap_err();
        assert!(matches!(err, GateError::Unknown { .. }), "{err}");
        assert!(err.to_string().contains("latency_ms.p99_ms"), "{err}");
        let ambiguous = parse("p99_us > 1").unwrap();
        let err = check_names(&ambiguous, &r).unwrap_err();
        assert!(err.to_string().contains("tunnel.rtt.p99_us"), "{err}");
        assert!(err.to_string().contains("direct.rtt.p99_us"), "{err}");
        check_names(&parse("tunnel.rtt.p99_us > 1").unwrap(), &r).unwrap();
        // Text fields are not figures.
        assert!(check_names(&parse("run_id > 1").unwrap(), &r).is_err());
    }

    #[test]
    fn evaluation_trips_and_passes() {
        let r = report();
        let gates = parse("errors_total > 0, p99_ms > 200").unwrap();
        let tripped = evaluate(&gates, &r).unwrap();
        assert_eq!(tripped.len(), 1);
        assert_eq!(tripped[0].gate.name, "p99_ms");
        assert_eq!(tripped[0].actual, Some(250.0));
        assert_eq!(tripped[0].to_string(), "p99_ms > 200 (actual 250)");
        let passing = parse("errors_total > 0, p99_ms > 300").unwrap();
        assert!(evaluate(&passing, &r).unwrap().is_empty());
        let eq = parse("requests_total == 100").unwrap();
        assert_eq!(evaluate(&eq, &r).unwrap().len(), 1);
        // A figure without a value trips.
        let null = evaluate(&parse("ratio.bulk_1 < 0.6").unwrap(), &r).unwrap();
        assert_eq!(null.len(), 1);
        assert_eq!(null[0].actual, None);
    }
}
