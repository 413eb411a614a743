//! Load and resource exhaustion against the real binaries (hub and agent as processes): a
//! thousand clients that never read while their target streams to them, and connect floods
//! past `max_conn_total` and `max_inflight_cids`. Each asserts the exact outcome, the counters
//! and gauges an operator would watch, and a memory bound derived from the configuration:
//! the processes' resident memory (`VmRSS`, and its peak `VmHWM`, from `/proc`) before,
//! during and after.
//!
//! Memory bounds are `base + streams × per-stream allowance`, with the allowance built from
//! the configured limits (window or queue size) and a fixed per-stream overhead; the measured
//! figures are printed (run with `--nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/load.rs"]
mod load;

use load::{
    PROMPTLY, connect_many, connect_many_small, expect_refused, round_trip, scrape, sum, until,
};
use nowconnect_e2e::proc_stack::{ProcSpec, ProcStack};
use nowconnect_e2e::procstat::{self, Mem};
use nowconnect_e2e::stack::{AgentOpts, HubOpts};
use nowconnect_e2e::targets;
use nowconnect_e2e::wait::wait_routable;
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpStream;

/// The scenarios here each hold hundreds to thousands of sockets with full kernel buffers
/// (~1 GB of TCP memory for the 1000 stuck readers). Run together they reach the kernel's
/// `tcp_mem` limit, and then the kernel fails sockets of every test ("TCP: out of memory"):
/// one at a time, each measures what it claims to.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Clients that never read.
const STUCK: usize = 1000;
/// `limits.queue_depth_per_cid` of both processes.
const QUEUE_DEPTH: usize = 16;
/// `tunnel.max_ws_payload`: with the queue depth, sets the V2 window (and the V1 queue size).
const MAX_WS_PAYLOAD: usize = 4096;
/// `tunnel.v2_max_frame` of the hub (the agent offers more; the smaller one is agreed).
const V2_MAX_FRAME: usize = 16 * 1024;
/// The V2 per-stream credit window: `queue_depth_per_cid × max_ws_payload` (≥ the frame).
const WINDOW: u64 = (QUEUE_DEPTH * MAX_WS_PAYLOAD) as u64;

/// Resident memory a process may use whatever its streams do: runtime, TLS and telemetry
/// libraries, metrics, the WebSocket's buffers (about 16 MiB idle in a debug build).
const BASE: u64 = 32 * MIB;
/// What one open stream costs besides the bytes it holds: its task and futures, the socket
/// and its registration, the stream's table entry, span and metric handles, log lines.
const PER_STREAM: u64 = 32 * KIB;
/// The agent's data lane (frames of all streams waiting for the tunnel writer).
const DATA_LANE_FRAMES: u64 = 256;

/// Long enough that no stream of these tests is reaped as idle, short pings would be noise.
fn stack_spec(targets: &[(&str, std::net::SocketAddr)], v2: bool) -> ProcSpec {
    let mut spec = ProcSpec::new(targets);
    spec.hub = HubOpts {
        v2,
        queue_depth: QUEUE_DEPTH,
        max_ws_payload: MAX_WS_PAYLOAD,
        idle_timeout_ms: 600_000,
        ping_interval_sec: 5,
        ping_timeout_sec: 30,
        ..HubOpts::default()
    };
    spec.agent = AgentOpts {
        v2,
        queue_depth: QUEUE_DEPTH,
        idle_timeout_ms: 600_000,
        ..AgentOpts::default()
    };
    spec.env = HashMap::from([
        ("NC_PING_INTERVAL_SEC".to_owned(), "5".to_owned()),
        ("NC_PING_TIMEOUT_SEC".to_owned(), "30".to_owned()),
    ]);
    let payload = format!("  max_ws_payload: {MAX_WS_PAYLOAD}\n");
    spec.edit_hub_yaml = Box::new(move |yaml| {
        yaml.replace(
            &payload,
            &format!("{payload}  v2_max_frame: {V2_MAX_FRAME}\n"),
        )
    });
    spec
}

/// Memory of the hub and the agent at one moment.
#[derive(Debug, Clone, Copy)]
struct Both {
    hub: Mem,
    agent: Mem,
}

fn both(stack: &ProcStack) -> Both {
    Both {
        hub: procstat::mem(stack.hub_pid().expect("hub running")),
        agent: procstat::mem(stack.agent_pid().expect("agent running")),
    }
}

fn report(scenario: &str, phase: &str, m: Both, stack: &ProcStack) {
    let fds = |pid: Option<u32>| pid.map_or(0, procstat::open_fds);
    eprintln!(
        "[{scenario}] {phase}: hub {} fds {} | agent {} fds {}",
        m.hub,
        fds(stack.hub_pid()),
        m.agent,
        fds(stack.agent_pid())
    );
}

fn assert_within(who: &str, m: Mem, bound: u64, why: &str, logs: impl Fn() -> String) {
    let peak = m.hwm_kib * KIB;
    assert!(
        peak <= bound,
        "{who} peaked at {} MiB, above its bound of {} MiB ({why})\n{}",
        peak / MIB,
        bound / MIB,
        logs()
    );
}

async fn active(addr: std::net::SocketAddr, connector: &str) -> f64 {
    let text = scrape(addr).await;
    sum(
        &text,
        "nowconnect_tcp_active_connections",
        &[("connector", connector)],
    )
}

/// Waits until both processes count `n` open streams of `connector`.
async fn wait_active(stack: &ProcStack, connector: &str, n: usize, within: Duration) {
    let want = n as f64;
    let (tunnel, admin) = (stack.tunnel, stack.admin);
    until(
        within,
        &format!("{n} open {connector} streams"),
        move || async move {
            let hub = active(tunnel, connector).await;
            let agent = active(admin, connector).await;
            (hub == want && agent == want).then_some(())
        },
    )
    .await;
}

/// V2: a thousand clients that never read while their target writes without pause. Credit
/// flow control stops the agent reading each target once the stream's window is in flight,
/// so the hub holds at most one window per stream and the agent holds almost nothing; an echo
/// stream on the same tunnel keeps flowing; the queue gauge sits at 75–100% of its limit;
/// and when the clients go, every drain that was waiting on them shows in the drain
/// histogram as slower than 100 ms. Two waves: the second must not need more memory than the
/// first (what the first freed is reused, nothing leaked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_thousand_clients_that_never_read_keep_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().await;
    procstat::raise_nofile(4 * STUCK as u64 + 256);
    let (echo, hose) = (
        targets::echo_server().await,
        targets::firehose_server_with_sndbuf(32 * 1024).await,
    );
    let stack = ProcStack::start_with(stack_spec(&[("echo", echo), ("hose", hose)], true)).await;
    let echo_at = stack.listener_of("echo");
    wait_routable(echo_at, Duration::from_secs(20)).await;
    let mut probe = TcpStream::connect(echo_at).await.unwrap();
    round_trip(&mut probe, 64 * 1024, 1).await;
    scrape(stack.tunnel).await;
    scrape(stack.admin).await;
    let idle = both(&stack);
    report("v2 stuck readers", "idle", idle, &stack);

    // Bounds from the configuration. The hub holds at most one window per stream (in the
    // stream's queue, or already copied into its write buffer), plus that write buffer's own
    // allocation (up to one window here: the mux drains it at 64 KiB); the agent reads a
    // target only with credit, so it holds at most what its data lane and the tunnel's
    // buffers carry.
    let hub_bound = BASE + STUCK as u64 * (2 * WINDOW + PER_STREAM);
    let agent_bound = BASE + STUCK as u64 * PER_STREAM + DATA_LANE_FRAMES * V2_MAX_FRAME as u64 * 2;
    let first = stuck_wave(&stack, &mut probe, 1, hub_bound, agent_bound).await;
    let second = stuck_wave(&stack, &mut probe, 2, hub_bound, agent_bound).await;
    // No growth from wave to wave: the second wave's streams reuse what the first freed. (A
    // leak of the first wave's streams would add all they used; the allocator's own slack
    // stays well below half of it.)
    for (who, idle, first, second) in [
        ("hub", idle.hub, first.hub, second.hub),
        ("agent", idle.agent, first.agent, second.agent),
    ] {
        let used = first.hwm_kib.saturating_sub(idle.rss_kib);
        let growth = second.rss_kib.saturating_sub(first.rss_kib);
        assert!(
            growth <= used / 2,
            "the {who} grew by {growth} KiB from one wave of stuck streams to the next \
             (a wave used {used} KiB)"
        );
    }
}

/// One wave of [`STUCK`] clients that never read: fill, check, release. Returns the memory
/// after the wave.
async fn stuck_wave(
    stack: &ProcStack,
    probe: &mut TcpStream,
    wave: u8,
    hub_bound: u64,
    agent_bound: u64,
) -> Both {
    let scenario = format!("v2 stuck readers, wave {wave}");
    let started = std::time::Instant::now();
    let bytes = |text: &str, dir: &str| {
        sum(
            text,
            "nowconnect_tcp_bytes_total",
            &[("connector", "hose"), ("direction", dir)],
        )
    };
    let (hub_text, agent_text) = (scrape(stack.tunnel).await, scrape(stack.admin).await);
    let (hub_base, agent_base) = (bytes(&hub_text, "a2c"), bytes(&agent_text, "a2c"));
    let stuck = connect_many_small(stack.listener_of("hose"), STUCK, 16 * 1024).await;
    wait_active(stack, "hose", STUCK, Duration::from_secs(120)).await;
    // Stuck: the agent has read at least a window from every target and, for three scrapes
    // in a row, nothing more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let (mut last, mut stable) = (-1.0, 0);
    let (agent_a2c, hub_text) = loop {
        let read = bytes(&scrape(stack.admin).await, "a2c") - agent_base;
        stable = if read == last { stable + 1 } else { 0 };
        last = read;
        if read >= (STUCK as u64 * WINDOW) as f64 && stable >= 3 {
            break (read, scrape(stack.tunnel).await);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never stopped reading: {read} bytes, stable for {stable} scrapes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let during = both(stack);
    report(&scenario, "1000 stuck", during, stack);
    let hub_a2c = bytes(&hub_text, "a2c") - hub_base;
    eprintln!(
        "[{scenario}] stuck after {:?}: agent read {:.1} MiB from targets, hub wrote {:.1} MiB \
         to clients, {:.1} KiB held per stream",
        started.elapsed(),
        agent_a2c / MIB as f64,
        hub_a2c / MIB as f64,
        (agent_a2c - hub_a2c) / STUCK as f64 / KIB as f64,
    );
    // Credit: what the agent read and the hub did not hand to a client is at most one
    // window per stream.
    assert!(
        agent_a2c - hub_a2c <= (STUCK as u64 * WINDOW) as f64,
        "held {} bytes, more than {STUCK} windows",
        agent_a2c - hub_a2c
    );
    let gauge = sum(
        &hub_text,
        "nowconnect_inbound_queue_size",
        &[("connector", "hose")],
    );
    let limit = sum(
        &hub_text,
        "nowconnect_inbound_queue_limit",
        &[("connector", "hose")],
    );
    assert_eq!(limit, QUEUE_DEPTH as f64);
    assert!(
        gauge >= 0.75 * limit && gauge <= limit,
        "queue gauge {gauge} of {limit}"
    );

    // Other streams keep flowing while a thousand are stuck.
    for seed in 0..8 {
        round_trip(probe, 256 * 1024, seed).await;
    }
    let mut fresh = TcpStream::connect(stack.listener_of("echo")).await.unwrap();
    round_trip(&mut fresh, 1024 * 1024, 9).await;
    drop(fresh);

    let logs = || stack.logs();
    assert_within("hub", both(stack).hub, hub_bound, "1000 windows", logs);
    assert_within(
        "agent",
        both(stack).agent,
        agent_bound,
        "no buffering",
        logs,
    );

    // The clients go: every stream ends on both sides, and each drain that was waiting on a
    // client that never read is in the histogram, above 100 ms.
    let slow_drains = |text: &str| {
        let all = [("connector", "hose"), ("phase", "drain")];
        let fast = [("connector", "hose"), ("phase", "drain"), ("le", "0.1")];
        sum(text, "nowconnect_write_drain_seconds_count", &all)
            - sum(text, "nowconnect_write_drain_seconds_bucket", &fast)
    };
    let slow_before = slow_drains(&hub_text);
    drop(stuck);
    wait_active(stack, "hose", 0, Duration::from_secs(120)).await;
    let slow = slow_drains(&scrape(stack.tunnel).await) - slow_before;
    assert!(
        slow >= STUCK as f64,
        "{slow} drains slower than 100 ms after {STUCK} stuck clients left"
    );
    round_trip(probe, 64 * 1024, 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = both(stack);
    report(&scenario, "after", after, stack);
    assert_within("hub", after.hub, hub_bound, "peak so far", logs);
    assert_within("agent", after.agent, agent_bound, "peak so far", logs);
    after
}

/// Clients each flood test admits before its flood, and the size of the flood.
const ADMITTED: usize = 500;
const FLOOD: usize = 1000;

/// The flood tests' start: a stack in front of an echo target with a limit of [`ADMITTED`]
/// streams set by `limit`, its idle memory reported, and [`ADMITTED`] clients connected, each
/// with one round trip done.
async fn flooded_stack(
    scenario: &str,
    limit: impl FnOnce(&mut ProcSpec),
) -> (ProcStack, Vec<TcpStream>) {
    procstat::raise_nofile(2 * (ADMITTED + FLOOD) as u64 + 256);
    let echo = targets::echo_server().await;
    let mut spec = stack_spec(&[("echo", echo)], true);
    limit(&mut spec);
    let stack = ProcStack::start_with(spec).await;
    wait_routable(stack.listener, Duration::from_secs(20)).await;
    wait_active(&stack, "echo", 0, PROMPTLY).await;
    let idle = both(&stack);
    report(scenario, "idle", idle, &stack);
    let mut admitted = connect_many(stack.listener, ADMITTED).await;
    for (i, s) in admitted.iter_mut().enumerate() {
        round_trip(s, 100, i as u8).await;
    }
    wait_active(&stack, "echo", ADMITTED, PROMPTLY).await;
    (stack, admitted)
}

/// A connect flood past `limits.max_conn_total`: every excess client is closed at once without
/// a byte and counted (`nowconnect_listener_refused_total{reason="max_conn_total"}`, and as a
/// `session` listener error); nothing reaches the agent; the admitted connections keep
/// working; the hub's memory stays that of its admitted streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_flood_past_max_conn_total_is_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    const SCENARIO: &str = "flood max_conn_total";
    let (stack, mut admitted) =
        flooded_stack(SCENARIO, |spec| spec.hub.max_conn_total = ADMITTED).await;
    let addr = stack.listener;
    let agent_streams = |text: &str| {
        sum(
            text,
            "nowconnect_connection_duration_seconds_count",
            &[("connector", "echo")],
        ) + sum(
            text,
            "nowconnect_tcp_active_connections",
            &[("connector", "echo")],
        )
    };
    let refused = |text: &str| {
        sum(
            text,
            "nowconnect_listener_refused_total",
            &[("connector", "echo"), ("reason", "max_conn_total")],
        )
    };
    let session_errors = |text: &str| {
        sum(
            text,
            "nowconnect_listener_errors_total",
            &[("connector", "echo"), ("type", "session")],
        )
    };
    let (hub_before, agent_before) = (scrape(stack.tunnel).await, scrape(stack.admin).await);
    assert_eq!(refused(&hub_before), 0.0);

    flood(addr, FLOOD).await;
    let during = both(&stack);
    report(SCENARIO, "500 admitted + 1000 refused", during, &stack);

    let (hub_after, agent_after) = (scrape(stack.tunnel).await, scrape(stack.admin).await);
    assert_eq!(
        refused(&hub_after),
        FLOOD as f64,
        "each excess client counted"
    );
    assert_eq!(
        session_errors(&hub_after) - session_errors(&hub_before),
        FLOOD as f64
    );
    assert_eq!(
        agent_streams(&agent_after),
        agent_streams(&agent_before),
        "no refused client reached the agent"
    );
    for (i, s) in admitted.iter_mut().enumerate() {
        round_trip(s, 4096, i as u8).await;
    }
    // Echo streams between round trips hold no payload: their fixed cost only.
    let bound = BASE + ADMITTED as u64 * PER_STREAM;
    let logs = || stack.logs();
    assert_within(
        "hub",
        both(&stack).hub,
        bound,
        "admitted streams only",
        logs,
    );
    assert_within(
        "agent",
        both(&stack).agent,
        bound,
        "admitted streams only",
        logs,
    );

    // The permits come back when the admitted ones leave.
    drop(admitted);
    wait_active(&stack, "echo", 0, Duration::from_secs(60)).await;
    let mut again = connect_many(addr, ADMITTED).await;
    for (i, s) in again.iter_mut().enumerate() {
        round_trip(s, 100, i as u8).await;
    }
    drop(again);
    let after = both(&stack);
    report(SCENARIO, "after", after, &stack);
    assert_within("hub", after.hub, bound, "peak of the whole run", logs);
}

/// A connect flood past the agent's `limits.max_inflight_cids`: the hub opens each stream,
/// the agent answers the excess OPENs with RST `too_many_streams` (counted on both sides,
/// logged as `stream_refused`), the hub closes those clients at once without a byte, and the
/// admitted streams keep working; the agent's memory stays that of its admitted streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_flood_past_max_inflight_cids_is_refused_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    const SCENARIO: &str = "flood max_inflight_cids";
    let (stack, mut admitted) =
        flooded_stack(SCENARIO, |spec| spec.agent.max_inflight = ADMITTED).await;
    let addr = stack.listener;
    let too_many = |text: &str, family: &str| {
        sum(
            text,
            family,
            &[("connector", "echo"), ("err", "too_many_streams")],
        )
    };

    flood(addr, FLOOD).await;
    let during = both(&stack);
    report(SCENARIO, "500 admitted + 1000 refused", during, &stack);

    let (hub, agent) = (scrape(stack.tunnel).await, scrape(stack.admin).await);
    assert_eq!(
        too_many(&hub, "nowconnect_rst_recv_total"),
        FLOOD as f64,
        "the hub counts each refused OPEN"
    );
    assert_eq!(
        too_many(&agent, "nowconnect_rst_sent_total"),
        FLOOD as f64,
        "the agent counts each OPEN it refused"
    );
    let refusals = std::fs::read_to_string(&stack.agent_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("stream_refused") && l.contains("too_many_streams"))
        .count();
    assert_eq!(
        refusals, FLOOD,
        "one stream_refused log line per refused OPEN"
    );
    wait_active(&stack, "echo", ADMITTED, PROMPTLY).await;
    for (i, s) in admitted.iter_mut().enumerate() {
        round_trip(s, 4096, i as u8).await;
    }
    // Echo streams between round trips hold no payload: their fixed cost only.
    let bound = BASE + ADMITTED as u64 * PER_STREAM;
    let logs = || stack.logs();
    assert_within(
        "agent",
        both(&stack).agent,
        bound,
        "admitted streams only",
        logs,
    );
    assert_within(
        "hub",
        both(&stack).hub,
        bound,
        "admitted streams only",
        logs,
    );
    drop(admitted);
    wait_active(&stack, "echo", 0, Duration::from_secs(60)).await;
    wait_routable(addr, PROMPTLY).await;
    let after = both(&stack);
    report(SCENARIO, "after", after, &stack);
}

/// `n` clients at once (in waves of 100 concurrent connects), each of which must be refused.
async fn flood(addr: std::net::SocketAddr, n: usize) {
    let mut left = n;
    while left > 0 {
        let wave = left.min(100);
        let tasks: Vec<_> = (0..wave)
            .map(|_| tokio::spawn(expect_refused(addr)))
            .collect();
        for t in tasks {
            t.await.expect("refused client task");
        }
        left -= wave;
    }
}

/// V1 (no flow control, the old agents' protocol): clients that never read while their target
/// streams. Each stuck stream fills its queue (`queue_depth_per_cid` frames) and is reset with
/// `queue_overflow` (counted `side="hub"`); the client gets what was buffered, then the end.
/// The hub never holds more than a queue per stream, and the tunnel keeps serving an echo
/// stream meanwhile: a stream that has taken nothing from its full queue for the V1 wait is
/// reset without stalling the tunnel again, so many stuck streams cost one wait, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_clients_that_never_read_are_reset_with_queue_overflow() {
    let _one = ONE_AT_A_TIME.lock().await;
    const SCENARIO: &str = "v1 stuck readers";
    const V1_STUCK: usize = 300;
    procstat::raise_nofile(4 * V1_STUCK as u64 + 256);
    let (echo, hose) = (
        targets::echo_server().await,
        targets::firehose_server_with_sndbuf(32 * 1024).await,
    );
    let stack = ProcStack::start_with(stack_spec(&[("echo", echo), ("hose", hose)], false)).await;
    let (echo_at, hose_at) = (stack.listener_of("echo"), stack.listener_of("hose"));
    wait_routable(echo_at, Duration::from_secs(20)).await;
    let mut probe = TcpStream::connect(echo_at).await.unwrap();
    round_trip(&mut probe, 64 * 1024, 1).await;
    let idle = both(&stack);
    report(SCENARIO, "idle", idle, &stack);
    // The hub's queue holds at most `queue_depth_per_cid` frames of `max_ws_payload` bytes
    // (each in its own allocation), and its write buffer about as much again.
    let queue = (QUEUE_DEPTH * MAX_WS_PAYLOAD) as u64;
    let hub_bound = BASE + V1_STUCK as u64 * (2 * queue + PER_STREAM);
    let agent_bound = BASE + V1_STUCK as u64 * (queue + PER_STREAM);

    let mut stuck = connect_many_small(hose_at, V1_STUCK, 16 * 1024).await;
    let overflowed = |text: &str| {
        sum(
            text,
            "nowconnect_queue_overflow_total",
            &[("connector", "hose"), ("side", "hub")],
        )
    };
    // While the stuck streams overflow, the echo stream keeps working.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut seed = 0u8;
    let hub_text = loop {
        seed = seed.wrapping_add(1);
        round_trip(&mut probe, 16 * 1024, seed).await;
        let text = scrape(stack.tunnel).await;
        if overflowed(&text) >= V1_STUCK as f64 {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {V1_STUCK} stuck streams reset with queue_overflow",
            overflowed(&text)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let during = both(&stack);
    report(SCENARIO, "300 stuck, all overflowed", during, &stack);
    assert_eq!(overflowed(&hub_text), V1_STUCK as f64);
    assert_eq!(
        sum(
            &hub_text,
            "nowconnect_rst_sent_total",
            &[("connector", "hose"), ("err", "queue_overflow")],
        ),
        V1_STUCK as f64
    );
    // Each client gets what was buffered for it, then the end of the stream.
    for s in &mut stuck {
        let ended = tokio::time::timeout(Duration::from_secs(60), async {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match tokio::io::AsyncReadExt::read(s, &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "an overflowed stream still flows");
    }
    drop(stuck);
    wait_active(&stack, "hose", 0, Duration::from_secs(60)).await;
    round_trip(&mut probe, 256 * 1024, 3).await;
    let after = both(&stack);
    report(SCENARIO, "after", after, &stack);
    let logs = || stack.logs();
    assert_within("hub", after.hub, hub_bound, "a queue per stream", logs);
    assert_within("agent", after.agent, agent_bound, "the data lane", logs);
}

/// Started with a low soft open-file limit (as many distributions set it), both binaries
/// raise it to the hard limit and log `fd_limit`; with a hard limit below what their
/// connection limit needs, they still start and warn `fd_limit_low`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binaries_raise_their_open_file_limit_at_start() {
    let _one = ONE_AT_A_TIME.lock().await;
    use nowconnect_e2e::creds::Creds;
    use nowconnect_e2e::procs;
    use nowconnect_e2e::stack::{agent_env, hub_yaml};
    use std::process::{Child, Command, Stdio};

    /// Starts `name` under `sh` after `ulimit` lowered the limits as `limits` says.
    fn spawn_limited(
        name: &str,
        limits: &str,
        args: &[&str],
        env: &HashMap<String, String>,
        log: &std::path::Path,
    ) -> Child {
        let out = std::fs::File::create(log).unwrap();
        Command::new("sh")
            .arg("-c")
            .arg(format!("{limits}; exec \"$0\" \"$@\""))
            .arg(procs::binary(name))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap()
    }

    async fn wait_log(log: &std::path::Path, event: &str) -> String {
        until(
            PROMPTLY,
            &format!("{event} in {}", log.display()),
            || async {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                text.lines().find(|l| l.contains(event)).map(str::to_owned)
            },
        )
        .await
    }

    procstat::raise_nofile(4096);
    let (_, hard) = procstat::nofile(std::process::id());
    let hard = hard.expect("a finite hard limit");
    assert!(
        hard > 1024,
        "this test needs a hard limit above 1024, not {hard}"
    );
    let creds = Creds::new();
    let work = tempfile::tempdir().unwrap();

    // Hub: soft 256, hard 1024 (below max_conn_total 2000 + listeners + 64).
    let opts = HubOpts {
        tunnel_port: targets::closed_port().await.port(),
        ..HubOpts::default()
    };
    let cfg = work.path().join("cloud.yaml");
    std::fs::write(&cfg, hub_yaml(&creds, &["echo"], &opts)).unwrap();
    let hub_log = work.path().join("hub.log");
    let cfg_arg = cfg.display().to_string();
    let mut hub = spawn_limited(
        "nowconnect-cloud",
        "ulimit -S -n 256 && ulimit -H -n 1024",
        &["--config", &cfg_arg],
        &HashMap::new(),
        &hub_log,
    );
    // Agent: soft 256, the hard limit left as it is.
    let token = creds.token_file("fd-agent", &creds.token("fd-agent"));
    let url = format!("ws://127.0.0.1:{}/tunnel", opts.tunnel_port);
    let echo = targets::echo_server().await;
    let env = agent_env(
        &url,
        "fd-agent",
        &token,
        &[("echo", echo)],
        &AgentOpts::default(),
    );
    let agent_log = work.path().join("agent.log");
    let mut agent = spawn_limited(
        "nowconnect-premise",
        "ulimit -S -n 256",
        &[],
        &env,
        &agent_log,
    );

    let line = wait_log(&agent_log, "fd_limit").await;
    assert_eq!(
        procstat::nofile(agent.id()),
        (Some(hard), Some(hard)),
        "{line}"
    );
    assert!(
        line.contains("256"),
        "the log says what it started with: {line}"
    );
    wait_log(&hub_log, "fd_limit_low").await;
    assert_eq!(procstat::nofile(hub.id()), (Some(1024), Some(1024)));
    // Both keep running and serve: an echo goes through the listener (ephemeral port, as
    // logged in listener_started), the hub and the agent.
    let started = wait_log(&hub_log, "listener_started").await;
    let port = started
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("listener port in {started}"));
    wait_routable(([127, 0, 0, 1], port).into(), Duration::from_secs(20)).await;
    let _ = agent.kill();
    let _ = hub.kill();
    let _ = agent.wait();
    let _ = hub.wait();
}
