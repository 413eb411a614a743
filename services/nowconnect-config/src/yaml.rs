//! YAML text or file → a service's raw structs, with a `serde-saphyr` error turned into one line
//! that names the key.
//!
//! The parser reports a message and a position; it does not know the key path. For block-style
//! YAML (what our examples use) the path is recovered from the indentation above the position,
//! e.g. `listeners[1].bind`, and the value is copied from the line. When the position is inside a
//! flow collection (`{...}`, `[...]`) the path is not guessed and only the position is given.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_saphyr::{SnippetMode, render_options};

use crate::ConfigError;

/// Values quoted in messages are cut to this many characters.
const MAX_VALUE_CHARS: usize = 80;

/// Deserializes YAML `text` into the raw structs `R`; `source_name` (a file name, or the name
/// the service gives in-memory text, e.g. `cloud.yaml`) starts every error.
pub fn parse_yaml<R: DeserializeOwned>(source_name: &str, text: &str) -> Result<R, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| error(source_name, text, &e))
}

/// Reads and deserializes the YAML file at `path`; with no file, `R::default()`.
pub fn read_yaml<R: DeserializeOwned + Default>(path: Option<&Path>) -> Result<R, ConfigError> {
    let Some(path) = path else {
        return Ok(R::default());
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: name.clone(),
        reason: e.to_string(),
    })?;
    parse_yaml(&name, &text)
}

/// The one-line error for `err`, raised while parsing `text` (named `source_name`).
fn error(source_name: &str, text: &str, err: &serde_saphyr::Error) -> ConfigError {
    let rendered = err.render_with_options(render_options! { snippets: SnippetMode::Off });
    let message = match err.location() {
        None => rendered,
        Some(loc) => {
            let (line, column) = (loc.line(), loc.column());
            let suffix = format!(" at line {line}, column {column}");
            let bare = rendered.strip_suffix(&suffix).unwrap_or(&rendered);
            let hint = usize::try_from(line)
                .ok()
                .zip(usize::try_from(column).ok())
                .and_then(|(l, c)| locate(text, l, c));
            with_hint(bare, hint, &format!("line {line}, column {column}"))
        }
    };
    ConfigError::Yaml {
        source_name: source_name.to_owned(),
        message: one_line(&message),
    }
}

fn with_hint(message: &str, hint: Option<Hint>, at: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let key = hint.map_or_else(|| name.to_owned(), |h| h.path);
        let expected = expected.trim_start_matches([',', ' ']);
        return if expected.is_empty() {
            format!("unknown key {key:?} at {at}")
        } else {
            format!("unknown key {key:?} at {at} ({expected})")
        };
    }
    let message = plain(message);
    match hint {
        Some(Hint {
            path,
            value: Some(value),
        }) => format!("{path}: {value:?}: {message} at {at}"),
        Some(Hint { path, value: None }) => format!("{path}: {message} at {at}"),
        None => format!("{message} at {at}"),
    }
}

/// The parser's wording for common mistakes, in operator terms; other messages pass through.
fn plain(message: &str) -> &str {
    match message {
        m if m.starts_with("duplicate mapping key") => "duplicate key",
        "invalid boolean" => "not a boolean (true or false)",
        "invalid u8" => "not an integer in 0..=255",
        "invalid u16" => "not an integer in 0..=65535",
        "invalid u32" => "not an integer in 0..=4294967295",
        "invalid u64" => "not a non-negative integer",
        "expected string scalar" => "not a string",
        "expected sequence start" => "not a list",
        "expected mapping start" => "not a mapping",
        m => m,
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key path at a position and the value written there (if the position is a value).
#[derive(Debug, PartialEq)]
struct Hint {
    path: String,
    value: Option<String>,
}

/// One structural element at the start of a line: `- ` (a sequence entry) or `key:`.
#[derive(Debug, Clone)]
struct Node {
    indent: usize,
    key: Option<String>,
}

/// The structural prefix of a line.
#[derive(Debug)]
struct Line {
    nodes: Vec<Node>,
    /// Character index just past the prefix (after `key:` or the last `- `).
    end: usize,
    /// The line ends right after `key:`, so its value is the block below.
    bare: bool,
}

fn parse_line(line: &str) -> Option<Line> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = chars.iter().take_while(|c| **c == ' ').count();
    if chars.get(i).is_none_or(|c| *c == '#') {
        return None;
    }
    let mut nodes = Vec::new();
    while chars.get(i) == Some(&'-') && chars.get(i + 1).is_none_or(|c| *c == ' ') {
        nodes.push(Node {
            indent: i,
            key: None,
        });
        i += 1;
        i += chars[i..].iter().take_while(|c| **c == ' ').count();
    }
    let rest: String = chars[i..].iter().collect();
    let colon = rest
        .find(": ")
        .or_else(|| rest.strip_suffix(':').map(str::len));
    let key = colon
        .map(|at| rest[..at].trim())
        .filter(|k| !k.is_empty() && !k.starts_with(['{', '[', '#']));
    match key {
        Some(key) => {
            let colon_chars = rest[..colon.unwrap_or(0)].chars().count();
            let after = rest[colon.unwrap_or(0) + 1..].trim_start();
            let bare = after.is_empty() || after.starts_with('#');
            nodes.push(Node {
                indent: i,
                key: Some(unquote(key).to_owned()),
            });
            Some(Line {
                nodes,
                end: i + colon_chars + 1,
                bare,
            })
        }
        None if nodes.is_empty() => None,
        None => Some(Line {
            nodes,
            end: i,
            bare: false,
        }),
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The key path and value at 1-based `line`/`column` of `text`.
fn locate(text: &str, line: usize, column: usize) -> Option<Hint> {
    let lines: Vec<&str> = text.lines().collect();
    let mut row = line.checked_sub(1)?;
    let col = column.checked_sub(1)?;
    let src = lines.get(row)?;
    let parsed = parse_line(src)?;
    let chars: Vec<char> = src.chars().collect();
    let value = if parsed.nodes.iter().any(|n| n.indent == col) {
        None
    } else if col >= parsed.end && chars.get(parsed.end..col)?.iter().all(|c| *c == ' ') {
        let rest: String = chars[col..].iter().collect();
        let rest = rest.split(" #").next().unwrap_or("").trim();
        Some(unquote(rest).chars().take(MAX_VALUE_CHARS).collect())
    } else {
        return None;
    };
    let mut nodes: Vec<Node> = parsed
        .nodes
        .into_iter()
        .filter(|n| n.indent <= col)
        .collect();
    let mut path = Vec::new();
    loop {
        let outer = nodes.first()?.clone();
        while let Some(node) = nodes.pop() {
            match node.key {
                Some(key) => path.push(key),
                None => path.push(format!("[{}]", sibling_index(&lines, row, node.indent))),
            }
        }
        match parent(&lines, row, &outer) {
            Some((r, ns)) => (row, nodes) = (r, ns),
            None => break,
        }
    }
    let mut joined = String::new();
    for part in path.iter().rev() {
        if !joined.is_empty() && !part.starts_with('[') {
            joined.push('.');
        }
        joined.push_str(part);
    }
    Some(Hint {
        path: joined,
        value,
    })
}

/// The nearest line above `row` holding the parent of `outer`, with the nodes that lead to it.
fn parent(lines: &[&str], row: usize, outer: &Node) -> Option<(usize, Vec<Node>)> {
    for r in (0..row).rev() {
        let Some(line) = lines.get(r).and_then(|l| parse_line(l)) else {
            continue;
        };
        let above: Vec<Node> = line
            .nodes
            .iter()
            .filter(|n| n.indent < outer.indent)
            .cloned()
            .collect();
        if !above.is_empty() {
            return Some((r, above));
        }
        // `key:` followed by a sequence at the same indentation (compact form).
        let last = line.nodes.last()?;
        if outer.key.is_none() && line.bare && last.indent == outer.indent && last.key.is_some() {
            return Some((r, line.nodes));
        }
    }
    None
}

/// How many entries of the sequence at `indent` precede the one starting on `row`.
fn sibling_index(lines: &[&str], row: usize, indent: usize) -> usize {
    let mut index = 0;
    for r in (0..row).rev() {
        let Some(line) = lines.get(r).and_then(|l| parse_line(l)) else {
            continue;
        };
        let Some(first) = line.nodes.first() else {
            continue;
        };
        if first.indent < indent || (first.indent == indent && first.key.is_some()) {
            break;
        }
        if line
            .nodes
            .iter()
            .any(|n| n.key.is_none() && n.indent == indent)
        {
            index += 1;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(path: &str, value: Option<&str>) -> Option<Hint> {
        Some(Hint {
            path: path.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    #[test]
    fn nested_key_and_value() {
        let text = "tunnel:\n  host: x\n  # note\n  port: abc # comment\n";
        assert_eq!(locate(text, 4, 9), hint("tunnel.port", Some("abc")));
        assert_eq!(locate(text, 4, 3), hint("tunnel.port", None));
    }

    #[test]
    fn sequence_entries_are_indexed() {
        let text = "listeners:\n  - name: a\n    bind: x\n  - name: b\n    bind: \"y\"\n";
        assert_eq!(locate(text, 5, 11), hint("listeners[1].bind", Some("y")));
        assert_eq!(locate(text, 2, 5), hint("listeners[0].name", None));
        let compact = "listeners:\n- name: a\n- name: b\n  bogus: 1\n";
        assert_eq!(locate(compact, 4, 3), hint("listeners[1].bogus", None));
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        tunnel: Option<RawTunnel>,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawTunnel {
        port: Option<u16>,
    }

    fn parse_error(text: &str) -> Option<String> {
        parse_yaml::<Raw>("x.yaml", text)
            .err()
            .map(|e| e.to_string())
    }

    #[test]
    fn errors_name_the_source_and_key() {
        let ok = parse_yaml::<Raw>("x.yaml", "tunnel:\n  port: 1\n");
        assert_eq!(ok.ok().and_then(|r| r.tunnel?.port), Some(1));
        let wrong = parse_error("tunnel:\n  port: abc\n").unwrap_or_default();
        assert!(
            wrong.starts_with(r#"x.yaml: tunnel.port: "abc": "#),
            "{wrong}"
        );
        assert!(wrong.ends_with("at line 2, column 9"), "{wrong}");
        let unknown = parse_error("tunnel:\n  bogus: 1\n").unwrap_or_default();
        assert!(
            unknown.starts_with(r#"x.yaml: unknown key "tunnel.bogus" at line 2, column 3"#),
            "{unknown}"
        );
    }

    #[test]
    fn no_file_is_the_default_and_a_missing_file_is_named() {
        assert!(read_yaml::<Raw>(None).is_ok_and(|r| r.tunnel.is_none()));
        let missing = read_yaml::<Raw>(Some(Path::new("/nonexistent/x.yaml")));
        assert!(matches!(
            missing,
            Err(ConfigError::Read { path, .. }) if path == "/nonexistent/x.yaml"
        ));
    }

    #[test]
    fn flow_collections_are_not_guessed() {
        assert_eq!(locate("tunnel: {port: abc}\n", 1, 16), None);
    }
}
