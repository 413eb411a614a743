//! The config fuzz target's properties in CI. `fuzz/src/config.rs` (what `cargo fuzz run
//! config` runs) is included here unchanged: every committed corpus file of the `config` target
//! is replayed through the hub's and the agent's loaders, and proptest edits corpus files (one
//! value replaced by a hostile scalar, or raw byte edits) and checks the same properties: no
//! panic, one-line refusals, deterministic results.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/config.rs"]
mod checks;

use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

fn corpus() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .collect();
        paths.sort();
        assert!(
            paths.len() >= 5,
            "{}: only {} files",
            dir.display(),
            paths.len()
        );
        paths
            .iter()
            .map(|p| std::fs::read(p).expect("read corpus file"))
            .collect()
    })
}

/// Every corpus file keeps the properties, and the corpus (seeded from the shipped configs)
/// holds configs each loader accepts, so the replay reaches past the YAML parser.
#[test]
fn every_corpus_file_keeps_the_properties() {
    let (mut hub, mut agent) = (0, 0);
    for data in corpus() {
        let (h, a) = checks::config(data);
        hub += usize::from(h);
        agent += usize::from(a);
    }
    assert!(hub >= 1 && agent >= 1, "accepted: hub {hub}, agent {agent}");
}

/// Values that have broken config loaders somewhere: out of range, wrong type, huge, empty,
/// odd YAML.
const HOSTILE: &[&str] = &[
    "0",
    "-1",
    "65536",
    "4294967296",
    "18446744073709551616",
    "1e400",
    "-0",
    "0x10",
    "NaN",
    ".inf",
    "~",
    "null",
    "\"\"",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "yes",
    "on",
    "!!binary AAAA",
    "&a 1",
    "*a",
    "'\u{0}'",
    "\"\\u0000\"",
    "ws://",
    "ws://h:0/tunnel",
    "wss://[::1]:99999/x",
    "300.1.1.1:80",
    "127.0.0.1:",
    ":80",
    "/",
    "\"é😀\"",
    "|\n  multi\n  line",
    "a: b: c",
];

fn replace_value(data: &[u8], line: usize, value: &str) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(data) else {
        return data.to_vec();
    };
    let (yaml, env) = text
        .split_once('\0')
        .map_or((text, None), |(y, e)| (y, Some(e)));
    let lines: Vec<&str> = yaml.lines().collect();
    let candidates: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(": "))
        .collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some(&i) = candidates.get(line % candidates.len().max(1)) {
        let key = lines[i].split_once(": ").map_or(lines[i], |(k, _)| k);
        out[i] = format!("{key}: {value}");
    }
    let mut yaml = out.join("\n");
    if let Some(env) = env {
        yaml.push('\0');
        yaml.push_str(env);
    }
    yaml.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_hostile_value_anywhere_keeps_the_properties(
        pick in any::<prop::sample::Index>(),
        line in any::<usize>(),
        value in prop::sample::select(HOSTILE),
    ) {
        let files = corpus();
        checks::config(&replace_value(&files[pick.index(files.len())], line, value));
    }

    #[test]
    fn byte_edits_keep_the_properties(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let files = corpus();
        let mut data = files[pick.index(files.len())].clone();
        for (i, b) in edits {
            if !data.is_empty() {
                let len = data.len();
                data[i % len] = b;
            }
        }
        checks::config(&data);
    }
}
