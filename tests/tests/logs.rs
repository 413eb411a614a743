//! SPEC §6.3 logs of the real binaries: the hub logs JSON by default and the agent with
//! `NC_LOG_FORMAT=json`; every line parses; `stream_open` and `stream_close` (bytes each way,
//! duration, close reason) appear on both sides for one client connection with the same cid;
//! and neither the payload nor the agent's token ever reaches a log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::proc_stack::{AGENT_ID, ProcStack};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every line of `log` as JSON; panics on a line that is not.
fn json_lines(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).expect("log file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The field `key` of a JSON log line, whether the formatter nests fields or not.
fn field<'a>(line: &'a Value, key: &str) -> Option<&'a Value> {
    line.get(key).or_else(|| line.get("fields")?.get(key))
}

fn events<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| field(l, "event").and_then(Value::as_str) == Some(event))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_carry_sizes_timings_and_reasons_but_no_payload_or_token() {
    // One worker thread each (`runtime.worker_threads`), as the benchmarks recommend for a small
    // shared machine: the relay below runs on it and both ends say so at start.
    let env: HashMap<String, String> = [
        ("NC_LOG_FORMAT", "json"),
        ("NOWCONNECT_WORKER_THREADS", "1"),
        ("NC_WORKER_THREADS", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut stack = ProcStack::start(&env).await;
    let payload = b"PAYLOAD-must-never-be-logged-7f3a".repeat(100);
    let mut client = TcpStream::connect(stack.listener).await.expect("dial");
    client.write_all(&payload).await.unwrap();
    client.shutdown().await.unwrap();
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, payload);
    drop(client);
    let (agent, hub) = stack.stop().await;
    assert!(
        agent.is_some_and(|s| s.success()) && hub.is_some_and(|s| s.success()),
        "{}",
        stack.logs()
    );

    let all = stack.logs();
    assert!(
        !all.contains("PAYLOAD-must-never"),
        "payload in a log:\n{all}"
    );
    assert!(!all.contains(&stack.token), "token in a log");
    let signature = stack.token.rsplit('.').next().expect("JWT signature");
    assert!(!all.contains(signature), "token signature in a log");

    let len = payload.len() as u64;
    let mut cids = Vec::new();
    for log in [&stack.hub_log, &stack.agent_log] {
        let lines = json_lines(log);
        let opens = events(&lines, "stream_open");
        assert_eq!(opens.len(), 1, "{}: one stream_open\n{all}", log.display());
        let closes = events(&lines, "stream_close");
        assert_eq!(
            closes.len(),
            1,
            "{}: one stream_close\n{all}",
            log.display()
        );
        let close = closes[0];
        for (key, want) in [("bytes_c2a", len), ("bytes_a2c", len)] {
            assert_eq!(
                field(close, key).and_then(Value::as_u64),
                Some(want),
                "{key}: {close}"
            );
        }
        assert!(
            field(close, "duration_ms")
                .and_then(Value::as_u64)
                .is_some(),
            "{close}"
        );
        assert_eq!(
            field(close, "reason").and_then(Value::as_str),
            Some("completed"),
            "{close}"
        );
        assert_eq!(
            field(close, "connector").and_then(Value::as_str),
            Some("echo")
        );
        assert_eq!(
            field(close, "agent_id").and_then(Value::as_str),
            Some(AGENT_ID),
            "{close}"
        );
        let cid = field(close, "cid").and_then(Value::as_str).expect("cid");
        assert_eq!(field(opens[0], "cid").and_then(Value::as_str), Some(cid));
        cids.push(cid.to_owned());
    }
    assert_eq!(cids[0], cids[1], "hub and agent log the same cid");
    for log in [&stack.hub_log, &stack.agent_log] {
        let lines = json_lines(log);
        let started = events(&lines, "runtime_started");
        assert_eq!(started.len(), 1, "{}: {started:?}", log.display());
        assert_eq!(
            field(started[0], "worker_threads").and_then(Value::as_u64),
            Some(1),
            "{}",
            log.display()
        );
    }
    let hub_lines = json_lines(&stack.hub_log);
    for event in ["listener_started", "agent_connected", "agent_disconnected"] {
        assert!(
            !events(&hub_lines, event).is_empty(),
            "hub logs {event}\n{all}"
        );
    }
}
