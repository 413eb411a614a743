//! The demo's Prometheus: Debian's `prometheus` scraping the hub, the agent and the crud-service
//! every second,
//! with the repository's alert rules loaded; the summary reads its HTTP API.

use crate::stack::Ports;
use anyhow::{Context, bail};
use nowconnect_e2e::prometheus::{Job, Prometheus, rule_files};
use std::time::{Duration, Instant};

/// How long the first scrapes of the traffic may take to show.
const SCRAPE_WAIT: Duration = Duration::from_secs(20);
/// Scrape targets: hub, agent, crud-service.
pub(crate) const TARGETS: usize = 3;

/// Starts Prometheus on a free port, scraping the hub's tunnel port, the agent's admin port and
/// the crud-service's HTTP port.
pub(crate) async fn start(ports: &Ports) -> anyhow::Result<Prometheus> {
    let jobs = [
        Job {
            name: "nowconnect-cloud".into(),
            targets: vec![ports.tunnel],
        },
        Job {
            name: "nowconnect-premise".into(),
            targets: vec![ports.metrics],
        },
        Job {
            name: "nowconnect-crud".into(),
            targets: vec![ports.crud],
        },
    ];
    Prometheus::start(&jobs, Duration::from_secs(1)).await
}

/// What Prometheus saw of the traffic.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) targets_up: usize,
    pub(crate) hub_bytes_c2a: f64,
    pub(crate) hub_bytes_a2c: f64,
    pub(crate) alerts: Vec<(String, String)>,
    pub(crate) rules: usize,
}

/// Waits until every target is up and the hub's byte counters (as scraped) reach what the
/// hub logged, then reads every alert's state.
pub(crate) async fn observe(prom: &Prometheus, c2a: u64, a2c: u64) -> anyhow::Result<Seen> {
    let deadline = Instant::now() + SCRAPE_WAIT;
    loop {
        let up = prom.up_targets().await?.len();
        let c2a_seen = scalar(prom, "c2a").await?;
        let a2c_seen = scalar(prom, "a2c").await?;
        if up == TARGETS && c2a_seen >= c2a as f64 && a2c_seen >= a2c as f64 {
            return Ok(Seen {
                targets_up: up,
                hub_bytes_c2a: c2a_seen,
                hub_bytes_a2c: a2c_seen,
                alerts: prom.alert_states().await?,
                rules: rule_files()?.len(),
            });
        }
        if Instant::now() > deadline {
            bail!(
                "prometheus did not scrape the traffic within {SCRAPE_WAIT:?}: {up}/{TARGETS} targets \
                 up, hub bytes c2a {c2a_seen}/{c2a}, a2c {a2c_seen}/{a2c}\n{}",
                prom.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The hub's scraped `nowconnect_tcp_bytes_total` for `direction`, summed over connectors.
async fn scalar(prom: &Prometheus, direction: &str) -> anyhow::Result<f64> {
    let expr = format!(
        "sum(nowconnect_tcp_bytes_total{{job=\"nowconnect-cloud\",direction=\"{direction}\"}})"
    );
    let data = prom.query(&expr).await?;
    let Some(value) = data["result"][0]["value"][1].as_str() else {
        return Ok(0.0);
    };
    value
        .parse()
        .with_context(|| format!("{expr} returned {value}"))
}
