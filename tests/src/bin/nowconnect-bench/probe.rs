//! Readiness probes on the children: HTTP status, an echo through the listener, JSON log lines.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a child gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// The deadline of one probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls `probe` for [`READY_TIMEOUT`]; on timeout names `what` and the log's last line.
pub(crate) async fn wait_until<F, Fut>(log: &Path, what: &str, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if probe().await {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last = text.lines().last().unwrap_or("(empty)");
    bail!(
        "{what} after {READY_TIMEOUT:?} (see {}; last line: {last})",
        log.display()
    )
}

/// `GET <path>` over HTTP/1.1; true on status 200.
pub(crate) async fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let io = async {
        let mut socket = TcpStream::connect(addr).await?;
        socket.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await?;
        std::io::Result::Ok(answer)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, io).await {
        Ok(Ok(answer)) => answer.starts_with(b"HTTP/1.1 200 "),
        _ => false,
    }
}

/// True when a connection to `addr` carries a few bytes both ways (the agent is routable).
pub(crate) async fn echoes(addr: SocketAddr) -> bool {
    let io = async {
        let mut socket = TcpStream::connect(addr).await?;
        socket.write_all(b"probe").await?;
        let mut got = [0u8; 5];
        socket.read_exact(&mut got).await?;
        std::io::Result::Ok(&got == b"probe")
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, io).await, Ok(Ok(true)))
}

/// JSON log lines of `path` (others skipped).
pub(crate) fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// `field` of the first line whose `event` is `event`, as text.
pub(crate) fn event_field(path: &Path, event: &str, field: &str) -> Option<String> {
    json_lines(path)
        .into_iter()
        .find(|v| v.get("event").and_then(Value::as_str) == Some(event))
        .and_then(|v| v.get(field).and_then(Value::as_str).map(str::to_owned))
}

/// Spans the OpenTelemetry SDK reports dropped (queue full) in `path`'s shutdown line.
pub(crate) fn dropped_spans(path: &Path) -> u64 {
    json_lines(path)
        .iter()
        .filter_map(|v| v.get("dropped_span_count").and_then(Value::as_u64))
        .sum()
}

/// What the hub relayed, from its `stream_close` lines: client connections (streams) and
/// payload bytes, both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Relayed {
    pub(crate) streams: u64,
    pub(crate) bytes: u64,
}

pub(crate) fn relayed(path: &Path) -> Relayed {
    json_lines(path)
        .iter()
        .filter(|v| v.get("event").and_then(Value::as_str) == Some("stream_close"))
        .fold(Relayed::default(), |acc, v| Relayed {
            streams: acc.streams + 1,
            bytes: acc.bytes
                + ["bytes_c2a", "bytes_a2c"]
                    .iter()
                    .filter_map(|k| v.get(*k).and_then(Value::as_u64))
                    .sum::<u64>(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn stream_closes_count_streams_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("hub.log");
        let lines = [
            r#"{"event":"stream_open","cid":"a"}"#,
            r#"{"event":"stream_close","cid":"a","bytes_c2a":10,"bytes_a2c":5}"#,
            "not json",
            r#"{"event":"stream_close","cid":"b","bytes_c2a":1}"#,
            r#"{"event":"shutdown","dropped_span_count":3}"#,
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        assert_eq!(
            relayed(&log),
            Relayed {
                streams: 2,
                bytes: 16
            }
        );
        assert_eq!(dropped_spans(&log), 3);
        assert_eq!(relayed(&dir.path().join("missing.log")), Relayed::default());
    }
}
