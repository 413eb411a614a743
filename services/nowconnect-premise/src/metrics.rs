//! The agent's own instruments (SPEC §6.1): tunnel reconnects and tunnel uptime. The stream
//! families shared with the hub (bytes, write/drain, FIN/RST, …) are not declared here.
//!
//! | instrument | unit | Prometheus | labels |
//! |---|---|---|---|
//! | `nowconnect.tunnel.reconnects` (counter) | `{reconnect}` | `nowconnect_tunnel_reconnects_total` | `agent`, `reason` |
//! | `nowconnect.tunnel.uptime` (observable gauge, f64) | `s` | `nowconnect_tunnel_uptime_seconds` | `agent` |

use nowconnect_telemetry::{KeyValue, Meter};
use opentelemetry::metrics::Counter;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Reconnect reasons exported at 0 from start-up, so `increase()` sees them before the first.
pub(crate) const ZERO_INIT_REASONS: [&str; 5] = [
    "connect_failed",
    "unauthorized",
    "ws_broken",
    "ping_timeout",
    crate::tunnel::TOKEN_REFRESH,
];

/// Handles to the agent's instruments; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AgentMetrics {
    agent: String,
    reconnects: Counter<u64>,
    /// When the current tunnel came up; `None` while it is down.
    up_since: Arc<Mutex<Option<Instant>>>,
}

impl AgentMetrics {
    /// Declares the instruments on `meter`, labelled with this agent's id.
    pub(crate) fn new(meter: &Meter, agent: &str) -> Self {
        let reconnects = meter
            .u64_counter("nowconnect.tunnel.reconnects")
            .with_unit("{reconnect}")
            .with_description(
                "Times the agent had to (re)connect its tunnel: after a failed connection \
                 attempt or a dropped tunnel, by reason",
            )
            .build();
        for reason in ZERO_INIT_REASONS {
            reconnects.add(0, &labels(agent, reason));
        }
        let up_since: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let (observed, id) = (up_since.clone(), KeyValue::new("agent", agent.to_owned()));
        meter
            .f64_observable_gauge("nowconnect.tunnel.uptime")
            .with_unit("s")
            .with_description(
                "Seconds since the agent's current tunnel was acknowledged by the hub; 0 while down",
            )
            .with_callback(move |gauge| {
                let secs = lock(&observed).map_or(0.0, |at| at.elapsed().as_secs_f64());
                gauge.observe(secs, std::slice::from_ref(&id));
            })
            .build();
        AgentMetrics {
            agent: agent.to_owned(),
            reconnects,
            up_since,
        }
    }

    /// The agent must connect again: `reason` is `ConnectError::reason()` after a failed
    /// attempt or `SessionEnd::as_str()` after a dropped tunnel.
    pub(crate) fn reconnect(&self, reason: &'static str) {
        self.reconnects.add(1, &labels(&self.agent, reason));
    }

    /// An acknowledged tunnel is up: uptime counts from now.
    pub(crate) fn tunnel_up(&self) {
        *lock(&self.up_since) = Some(Instant::now());
    }

    /// The tunnel is down: uptime reads 0.
    pub(crate) fn tunnel_down(&self) {
        *lock(&self.up_since) = None;
    }
}

fn labels(agent: &str, reason: &'static str) -> [KeyValue; 2] {
    [
        KeyValue::new("agent", agent.to_owned()),
        KeyValue::new("reason", reason),
    ]
}

/// Locks `m`, ignoring poisoning (the value is a plain timestamp, always consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use nowconnect_telemetry::Telemetry;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn reasons_start_at_zero_and_count() {
        let telemetry = Telemetry::for_tests();
        let metrics = AgentMetrics::new(&telemetry.meter("nowconnect"), "a1");
        let text = telemetry.metrics_text();
        assert!(
            text.contains("# TYPE nowconnect_tunnel_reconnects_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP nowconnect_tunnel_reconnects_total Times"),
            "{text}"
        );
        for reason in ZERO_INIT_REASONS {
            let series =
                format!("nowconnect_tunnel_reconnects_total{{agent=\"a1\",reason=\"{reason}\"}}");
            assert_eq!(value(&text, &series), Some(0.0), "{series}\n{text}");
        }
        metrics.reconnect("peer_closed");
        metrics.reconnect("connect_failed");
        metrics.reconnect("connect_failed");
        let text = telemetry.metrics_text();
        let series =
            |r: &str| format!("nowconnect_tunnel_reconnects_total{{agent=\"a1\",reason=\"{r}\"}}");
        assert_eq!(value(&text, &series("connect_failed")), Some(2.0), "{text}");
        assert_eq!(value(&text, &series("peer_closed")), Some(1.0), "{text}");
        assert_eq!(value(&text, &series("ws_broken")), Some(0.0), "{text}");
    }

    #[test]
    fn uptime_is_zero_while_down_and_grows_while_up() {
        let telemetry = Telemetry::for_tests();
        let metrics = AgentMetrics::new(&telemetry.meter("nowconnect"), "a1");
        let series = "nowconnect_tunnel_uptime_seconds{agent=\"a1\"}";
        let text = telemetry.metrics_text();
        assert!(
            text.contains("# TYPE nowconnect_tunnel_uptime_seconds gauge"),
            "{text}"
        );
        assert_eq!(value(&text, series), Some(0.0), "{text}");
        metrics.tunnel_up();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let up = value(&telemetry.metrics_text(), series).unwrap();
        assert!((0.02..60.0).contains(&up), "{up}");
        metrics.tunnel_down();
        assert_eq!(value(&telemetry.metrics_text(), series), Some(0.0));
    }
}
