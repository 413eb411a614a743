//! Reading the JSON log lines the hub and the agent write (`log_format: json`, one object per
//! line, fields flattened): the demo measures streams, bytes and the protocol from them.

use anyhow::bail;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);

/// Totals of the hub's `stream_close` lines: one per client connection relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamTotals {
    pub(crate) streams: usize,
    pub(crate) bytes_c2a: u64,
    pub(crate) bytes_a2c: u64,
}

/// Every JSON line of `path` whose `event` is `event` (other lines, e.g. plain stderr, skipped).
pub(crate) fn events(path: &Path, event: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v.get("event").and_then(Value::as_str) == Some(event))
        .collect()
}

/// Sums the `stream_close` lines in `path`.
pub(crate) fn stream_totals(path: &Path) -> StreamTotals {
    let closes = events(path, "stream_close");
    let sum = |field: &str| {
        closes
            .iter()
            .filter_map(|v| v.get(field).and_then(Value::as_u64))
            .sum()
    };
    StreamTotals {
        streams: closes.len(),
        bytes_c2a: sum("bytes_c2a"),
        bytes_a2c: sum("bytes_a2c"),
    }
}

/// Waits until `path` holds at least `streams` `stream_close` lines and returns their totals.
pub(crate) async fn wait_stream_totals(
    path: &Path,
    streams: usize,
    within: Duration,
) -> anyhow::Result<StreamTotals> {
    let deadline = Instant::now() + within;
    loop {
        let totals = stream_totals(path);
        if totals.streams >= streams {
            return Ok(totals);
        }
        if Instant::now() >= deadline {
            bail!(
                "{} logged {} stream_close lines within {within:?}, expected {streams}",
                path.display(),
                totals.streams
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for the first `event` line in `path`.
pub(crate) async fn wait_event(
    path: &Path,
    event: &str,
    within: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = events(path, event).into_iter().next() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!(
                "no `{event}` line in {} within {within:?}{}",
                path.display(),
                last_line(path)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `"; last log line: …"` for error messages, or nothing when the log is empty.
pub(crate) fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => format!("; last log line: {}", line.trim()),
        None => String::new(),
    }
}
