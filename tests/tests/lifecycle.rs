//! Streams and tunnels coming and going: refusals, dead agents, restarts, takeover, idle, drain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;
use nowconnect_e2e::stack::{self, AgentOpts, HubOpts, Stack, start_agent, start_hub, wait_health};
use nowconnect_e2e::targets;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROMPTLY: Duration = Duration::from_secs(5);

/// Connects and expects the hub to close the connection without sending anything. A refusal
/// that resets the stream can beat the connect itself on loopback (`connect` then fails with
/// `ECONNRESET`): that is closed too.
async fn expect_closed_at_once(addr: SocketAddr) {
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "connect: {e}"
            );
            return;
        }
    };
    let _ = s.write_all(b"hello?").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PROMPTLY, s.read(&mut buf))
        .await
        .expect("closed promptly");
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "refused connection gets no bytes: {n:?}"
    );
}

/// Connects and expects the stream to be reset (a failed connect or a read error), never
/// ended with a FIN: a client must be able to tell a cut stream from a complete one.
async fn expect_reset(addr: SocketAddr) {
    let mut s = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Err(e) => panic!("connect: {e}"),
    };
    let _ = s.write_all(b"hello?").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(PROMPTLY, s.read(&mut buf))
        .await
        .expect("reset promptly");
    assert!(
        matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a refused stream is reset, not ended as if complete: {n:?}"
    );
}

/// One echo round trip of `len` bytes.
async fn echo_ok(addr: SocketAddr, len: usize) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    s.write_all(&data).await.unwrap();
    let mut got = vec![0u8; len];
    tokio::time::timeout(PROMPTLY, s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(got, data);
}

async fn echo_eventually(addr: SocketAddr, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(2), async {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(b"ping").await.ok()?;
            let mut got = [0u8; 4];
            s.read_exact(&mut got).await.ok()?;
            (&got == b"ping").then_some(())
        })
        .await;
        if matches!(attempt, Ok(Some(()))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "connector never served again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_for_connector_is_closed_at_once() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &["nobody"], HubOpts::default()).await;
    expect_closed_at_once(hub.listener("nobody")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_conn_total_is_refused_and_admitted_ones_keep_working() {
    let echo = targets::echo_server().await;
    let stack = Stack::start(
        &[("echo", echo)],
        HubOpts {
            max_conn_total: 2,
            ..HubOpts::default()
        },
        AgentOpts::default(),
    )
    .await;
    let addr = stack.hub.listener("echo");
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        held.push(s);
    }
    expect_closed_at_once(addr).await;
    // Counted (before the close) as a refusal by reason and, per SPEC §6.1, a session error.
    let text = stack.hub.telemetry.metrics_text();
    for series in [
        "nowconnect_listener_refused_total{connector=\"echo\",reason=\"max_conn_total\"} 1\n",
        "nowconnect_listener_errors_total{connector=\"echo\",type=\"session\"} 1\n",
    ] {
        assert!(text.contains(series), "{series}{text}");
    }
    for s in &mut held {
        s.write_all(b"still here").await.unwrap();
        let mut b = [0u8; 10];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"still here");
    }
    drop(held);
    echo_eventually(addr, PROMPTLY).await; // permits come back when streams end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_down_closes_the_client_and_logs_connect_failed() {
    let creds = Creds::new();
    let hub = start_hub(&creds, &["down"], HubOpts::default()).await;
    let dead = targets::closed_port().await;
    let work = tempfile::tempdir().unwrap();
    let token = creds.token_file("agent-down", &creds.token("agent-down"));
    let mut env = stack::agent_env(
        &hub.url(),
        "agent-down",
        &token,
        &[("down", dead)],
        &AgentOpts::default(),
    );
    env.insert("NC_LOG_FORMAT".into(), "json".into());
    let health = targets::closed_port().await;
    env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
    let log = work.path().join("agent.log");
    let _agent = Proc::spawn("nowconnect-premise", &[], &env, &log);
    wait_health(health, "READY", Duration::from_secs(20)).await;
    expect_reset(hub.listener("down")).await;
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().any(|l| {
            l.contains("\"event\":\"connect_failed\"") && l.contains("\"connector\":\"down\"")
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connect_failed not logged:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_transfer_closes_clients_then_comes_back() {
    let creds = Creds::new();
    let hose = targets::firehose_server().await;
    let hub = start_hub(&creds, &["hose"], HubOpts::default()).await;
    let token = creds.token_file("agent-k", &creds.token("agent-k"));
    let mut env = stack::agent_env(
        &hub.url(),
        "agent-k",
        &token,
        &[("hose", hose)],
        &AgentOpts::default(),
    );
    let health = targets::closed_port().await;
    env.insert("NC_HEALTH_PORT".into(), health.port().to_string());
    let work = tempfile::tempdir().unwrap();
    let mut agent = Proc::spawn("nowconnect-premise", &[], &env, &work.path().join("a1.log"));
    wait_health(health, "READY", Duration::from_secs(20)).await;

    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(hub.listener("hose")).await.unwrap();
        let mut buf = vec![0u8; 4096];
        s.read_exact(&mut buf).await.unwrap(); // data is flowing
        clients.push(s);
    }
    agent.kill();
    for mut s in clients {
        let ended = tokio::time::timeout(PROMPTLY, async {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) => return Ok(()),
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("client of a dead agent is closed promptly");
        assert!(
            matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "a stream cut by a dead agent is reset, not ended as if complete: {ended:?}"
        );
    }
    expect_closed_at_once(hub.listener("hose")).await;

    let _agent = Proc::spawn("nowconnect-premise", &[], &env, &work.path().join("a2.log"));
    wait_health(health, "READY", Duration::from_secs(20)).await;
    let mut s = TcpStream::connect(hub.listener("hose")).await.unwrap();
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(PROMPTLY, s.read_exact(&mut buf))
        .await
        .expect("served again")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_restart_agent_reconnects() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let port = hub.addrs.tunnel.port();
    let agent = start_agent(
        &creds,
        &hub.url(),
        "agent-r",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;
    agent.wait_ready().await;
    echo_ok(hub.listener("echo"), 1000).await;
    let report = hub.stop().await;
    assert_eq!(report.reset_streams, 0);
    let hub = start_hub(
        &creds,
        &["echo"],
        HubOpts {
            tunnel_port: port,
            ..HubOpts::default()
        },
    )
    .await;
    echo_eventually(hub.listener("echo"), Duration::from_secs(15)).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_agent_takes_over_when_the_first_leaves() {
    let creds = Creds::new();
    let (echo_a, echo_b) = (
        targets::echo_server().await,
        targets::answer_after_eof_server(0).await,
    );
    let hub = start_hub(&creds, &["svc"], HubOpts::default()).await;
    let a = start_agent(
        &creds,
        &hub.url(),
        "agent-a",
        &[("svc", echo_a)],
        AgentOpts::default(),
    )
    .await;
    a.wait_ready().await;
    let b = start_agent(
        &creds,
        &hub.url(),
        "agent-b",
        &[("svc", echo_b)],
        AgentOpts::default(),
    )
    .await;
    b.wait_ready().await;
    echo_ok(hub.listener("svc"), 100).await; // first registered (a, the echo) wins
    a.stop().await;
    // b's target answers "got N bytes" after EOF.
    let mut s = TcpStream::connect(hub.listener("svc")).await.unwrap();
    s.write_all(b"abc").await.unwrap();
    s.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PROMPTLY, s.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer, "got 3 bytes\n");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_agent_id_replaces_its_stale_session() {
    let creds = Creds::new();
    let echo = targets::echo_server().await;
    let hub = start_hub(&creds, &["echo"], HubOpts::default()).await;
    let first = start_agent(
        &creds,
        &hub.url(),
        "same-id",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;
    first.wait_ready().await;
    let second = start_agent(
        &creds,
        &hub.url(),
        "same-id",
        &[("echo", echo)],
        AgentOpts::default(),
    )
    .await;
    second.wait_ready().await;
    for _ in 0..5 {
        echo_eventually(hub.listener("echo"), PROMPTLY).await;
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_are_reaped() {
    let echo = targets::echo_server().await;
    let stack = Stack::start(
        &[("echo", echo)],
        HubOpts {
            idle_timeout_ms: 300,
            ..HubOpts::default()
        },
        AgentOpts::default(),
    )
    .await;
    let mut s = TcpStream::connect(stack.hub.listener("echo"))
        .await
        .unwrap();
    s.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await.unwrap();
    let n = tokio::time::timeout(PROMPTLY, s.read(&mut b))
        .await
        .expect("reaped");
    assert!(matches!(n, Ok(0) | Err(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_process_exits_zero_on_sigterm_after_draining() {
    let creds = Creds::new();
    let work = tempfile::tempdir().unwrap();
    let opts = HubOpts {
        tunnel_port: targets::closed_port().await.port(),
        ..HubOpts::default()
    };
    let cfg = work.path().join("cloud.yaml");
    std::fs::write(&cfg, stack::hub_yaml(&creds, &[], &opts)).unwrap();
    let cfg_arg = cfg.display().to_string();
    let mut hub = Proc::spawn(
        "nowconnect-cloud",
        &["--config", &cfg_arg],
        &Default::default(),
        &work.path().join("hub.log"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", opts.tunnel_port).parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "hub never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = hub.terminate(Duration::from_secs(10)).expect("hub exited");
    assert_eq!(status.code(), Some(0));
}

/// An agent that completes the handshake and then never reads (so never answers a ping) is
/// dropped after ping interval + timeout; its connector is then refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agent_is_dropped_by_the_ping_timeout() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let creds = Creds::new();
    let hub = start_hub(
        &creds,
        &["quiet"],
        HubOpts {
            ping_interval_sec: 1,
            ping_timeout_sec: 1,
            ..HubOpts::default()
        },
    )
    .await;
    let mut req = hub.url().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", creds.token("quiet-agent"))
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let hello = r#"{"t":"HELLO","agent_id":"quiet-agent","connectors":["quiet"],"ver":"1"}"#;
    ws.send(Message::Text(hello.into())).await.unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("HELLO_ACK"));
    // From here on the fake agent never reads: no pong goes back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut s = TcpStream::connect(hub.listener("quiet")).await.unwrap();
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await
        {
            break; // refused at once: the silent agent is gone
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "silent agent never dropped"
        );
    }
    drop(ws);
}

/// SIGTERM-equivalent on the agent: an open stream keeps working during the drain, new streams
/// are refused, and the agent finishes as soon as the last stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_drains_open_streams_on_shutdown() {
    let echo = targets::echo_server().await;
    let stack = Stack::start(&[("echo", echo)], HubOpts::default(), AgentOpts::default()).await;
    let addr = stack.hub.listener("echo");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"before").await.unwrap();
    let mut b = [0u8; 6];
    s.read_exact(&mut b).await.unwrap();
    let Stack {
        agent,
        hub,
        creds: _creds,
    } = stack;
    let stopping = tokio::spawn(agent.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(b"during").await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"during", "the open stream still flows while draining");
    expect_closed_at_once(addr).await; // new streams are refused meanwhile
    assert!(
        !stopping.is_finished(),
        "the agent waits for its open stream"
    );
    drop(s);
    tokio::time::timeout(PROMPTLY, stopping)
        .await
        .expect("agent stops once drained")
        .unwrap();
    drop(hub);
}
