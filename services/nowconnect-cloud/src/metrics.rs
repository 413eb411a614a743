//! Every instrument the hub exports (SPEC §6.1), declared here and nowhere else.
//!
//! - The stream families shared with the agent (bytes, write/drain, FIN/RST, queue overflow,
//!   durations, active streams, listener errors) come from `nowconnect-stream-metrics`; the
//!   sessions report them through [`HubMetrics::observer`].
//! - Hub-only counters: `nowconnect_tcp_connections_total{connector}` (every client connection
//!   a listener accepted), `nowconnect_pdp_decisions_total{result,connector}`,
//!   `nowconnect_listener_refused_total{connector,reason}` (accepted clients turned away before
//!   any stream, by [`Refusal`]) and `nowconnect_tunnel_refused_total{reason}` (agents turned
//!   away at the upgrade or the HELLO, by [`TunnelRefusal`]).
//! - Hub-only gauges, read from the registry at scrape time: `nowconnect_inbound_queue_size`
//!   and `_limit{connector}`, `nowconnect_agents_connected{agent}`,
//!   `nowconnect_tunnel_uptime_seconds{agent}`, `nowconnect_connector_up{connector}`.
//!
//! `nowconnect_listener_errors_total{type="session"}` counts accepted clients the hub could not
//! give a stream: over `max_conn_total`, no agent serving the connector, or the session refused
//! the OPEN (full or closing). `type="write"` is counted by the stream probe; `type="pdp"` counts
//! every PDP decision that was not a clean allow (deny, or error — even one `fail_open` let
//! through). A CIDR block is a refusal, not a listener error. Every counter series an alert reads exists at 0 for every configured
//! connector from start-up. Label values are bounded: connectors are the configured ones,
//! agents are authenticated agent ids.

use crate::config::HubConfig;
use crate::registry::Registry;
use nowconnect_mux::Observer;
use nowconnect_stream_metrics::{
    BoundListenerError, Connectors, ListenerErrorType, Side, StreamMetrics,
};
use nowconnect_telemetry::{KeyValue, Meter, Telemetry};
use opentelemetry::metrics::Counter;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// What the policy decision point answered (`nowconnect_pdp_decisions_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PdpResult {
    Allow,
    Deny,
    Error,
}

impl PdpResult {
    const ALL: [PdpResult; 3] = [Self::Allow, Self::Deny, Self::Error];

    fn as_str(self) -> &'static str {
        match self {
            PdpResult::Allow => "allow",
            PdpResult::Deny => "deny",
            PdpResult::Error => "error",
        }
    }
}

/// Why an accepted client was closed before any stream (`nowconnect_listener_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address is outside `security.allow_cidrs`.
    CidrBlocked,
    /// `limits.max_conn_total` streams were open.
    MaxConnTotal,
    /// No agent serves the connector.
    NoAgent,
    /// The agent's session refused the OPEN (closing or full).
    SessionRefused,
    /// The PDP denied it, or could not answer and `fail_open` is off.
    Pdp,
}

impl Refusal {
    const ALL: [Refusal; 5] = [
        Self::CidrBlocked,
        Self::MaxConnTotal,
        Self::NoAgent,
        Self::SessionRefused,
        Self::Pdp,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::CidrBlocked => "cidr_blocked",
            Refusal::MaxConnTotal => "max_conn_total",
            Refusal::NoAgent => "no_agent",
            Refusal::SessionRefused => "session_refused",
            Refusal::Pdp => "pdp",
        }
    }

    /// The `nowconnect_listener_errors_total{type="session"}` share of refusals (SPEC §6.1).
    fn is_session_error(self) -> bool {
        matches!(
            self,
            Refusal::MaxConnTotal | Refusal::NoAgent | Refusal::SessionRefused
        )
    }
}

/// Why an agent's tunnel was refused (`nowconnect_tunnel_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TunnelRefusal {
    /// The bearer token was missing or invalid (401 before the upgrade).
    Unauthorized,
    /// No HELLO, or not a valid one, in time.
    BadHello,
    /// HELLO's `agent_id` differs from the token's.
    AgentIdMismatch,
    /// `require_connector_scopes` is on and the token does not grant a HELLO connector.
    ConnectorNotGranted,
}

impl TunnelRefusal {
    const ALL: [TunnelRefusal; 4] = [
        Self::Unauthorized,
        Self::BadHello,
        Self::AgentIdMismatch,
        Self::ConnectorNotGranted,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TunnelRefusal::Unauthorized => "unauthorized",
            TunnelRefusal::BadHello => "bad_hello",
            TunnelRefusal::AgentIdMismatch => "agent_id_mismatch",
            TunnelRefusal::ConnectorNotGranted => "connector_not_granted",
        }
    }
}

/// The hub's instrument handles; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HubMetrics {
    streams: StreamMetrics,
    connections: Counter<u64>,
    pdp: Counter<u64>,
    refused: Counter<u64>,
    tunnel_refused: Counter<u64>,
}

/// What one listener's accept loop records, with its labels bound once.
#[derive(Debug)]
pub(crate) struct ListenerMetrics {
    hub: HubMetrics,
    connector_name: String,
    connector: [KeyValue; 1],
    session_error: BoundListenerError,
}

impl ListenerMetrics {
    /// A client connection was accepted.
    pub(crate) fn accepted(&self) {
        self.hub.connections.add(1, &self.connector);
    }

    /// An accepted client was closed before any stream started.
    pub(crate) fn refused(&self, why: Refusal) {
        self.hub.refused.add(
            1,
            &[
                self.connector[0].clone(),
                KeyValue::new("reason", why.as_str()),
            ],
        );
        if why.is_session_error() {
            self.session_error.add();
        }
    }

    /// Counts one PDP decision for a new stream of this listener's connector.
    pub(crate) fn pdp_decision(&self, result: PdpResult) {
        self.hub.pdp_decision(&self.connector_name, result);
    }
}

impl HubMetrics {
    /// Declares every instrument, zero-initialises the alert series of every configured
    /// connector, and registers the gauges that read `registry` at scrape time.
    pub(crate) fn new(telemetry: &Telemetry, cfg: &HubConfig, registry: Arc<Registry>) -> Self {
        let meter = telemetry.meter("nowconnect-cloud");
        let connectors = Connectors::new(cfg.listeners.iter().map(|l| l.connector.clone()));
        let streams = StreamMetrics::new(&meter, Side::Hub, connectors.clone());
        let connections = meter
            .u64_counter("nowconnect.tcp.connections")
            .with_unit("{connection}")
            .with_description("Client connections the hub's listeners accepted")
            .build();
        let pdp = meter
            .u64_counter("nowconnect.pdp.decisions")
            .with_unit("{decision}")
            .with_description("Policy decisions on new streams, by result (allow, deny, error)")
            .build();
        let refused = meter
            .u64_counter("nowconnect.listener.refused")
            .with_unit("{connection}")
            .with_description(
                "Accepted client connections closed before any stream, by reason \
                 (cidr_blocked, max_conn_total, no_agent, session_refused, pdp)",
            )
            .build();
        let tunnel_refused = meter
            .u64_counter("nowconnect.tunnel.refused")
            .with_unit("{tunnel}")
            .with_description(
                "Agent tunnels refused at the upgrade or the HELLO, by reason \
                 (unauthorized, bad_hello, agent_id_mismatch, connector_not_granted)",
            )
            .build();
        streams.zero_init_all();
        for c in connectors.iter() {
            let connector = KeyValue::new("connector", connectors.label(c));
            connections.add(0, std::slice::from_ref(&connector));
            for result in PdpResult::ALL {
                pdp.add(
                    0,
                    &[KeyValue::new("result", result.as_str()), connector.clone()],
                );
            }
            for why in Refusal::ALL {
                refused.add(
                    0,
                    &[connector.clone(), KeyValue::new("reason", why.as_str())],
                );
            }
        }
        for why in TunnelRefusal::ALL {
            tunnel_refused.add(0, &[KeyValue::new("reason", why.as_str())]);
        }
        register_gauges(&meter, &connectors, cfg, registry);
        HubMetrics {
            streams,
            connections,
            pdp,
            refused,
            tunnel_refused,
        }
    }

    /// The observer every tunnel session reports its streams to.
    pub(crate) fn observer(&self) -> Arc<dyn Observer> {
        Arc::new(self.streams.clone())
    }

    /// Handles for the listener of `connector`.
    pub(crate) fn listener(&self, connector: &str) -> ListenerMetrics {
        let label = self.streams.connectors().label(connector);
        ListenerMetrics {
            hub: self.clone(),
            connector_name: connector.to_owned(),
            connector: [KeyValue::new("connector", label)],
            session_error: self
                .streams
                .listener_errors()
                .bind(connector, ListenerErrorType::Session),
        }
    }

    /// Counts one agent tunnel refused at the upgrade or the HELLO.
    pub(crate) fn tunnel_refused(&self, why: TunnelRefusal) {
        self.tunnel_refused
            .add(1, &[KeyValue::new("reason", why.as_str())]);
    }

    /// Counts one PDP decision for a stream of `connector`; anything but an allow is also a
    /// `pdp` listener error.
    pub(crate) fn pdp_decision(&self, connector: &str, result: PdpResult) {
        let label = self.streams.connectors().label(connector);
        self.pdp.add(
            1,
            &[
                KeyValue::new("result", result.as_str()),
                KeyValue::new("connector", label),
            ],
        );
        if result != PdpResult::Allow {
            self.streams
                .listener_errors()
                .record(connector, ListenerErrorType::Pdp);
        }
    }
}

/// The gauges computed from the registry when Prometheus scrapes (or OTLP exports).
fn register_gauges(
    meter: &Meter,
    connectors: &Connectors,
    cfg: &HubConfig,
    registry: Arc<Registry>,
) {
    let labels: Vec<(String, [KeyValue; 1])> = connectors
        .iter()
        .map(|c| {
            (
                c.to_owned(),
                [KeyValue::new("connector", connectors.label(c))],
            )
        })
        .collect();
    let labels = Arc::new(labels);

    let (reg, by_connector) = (registry.clone(), labels.clone());
    meter
        .u64_observable_gauge("nowconnect.inbound.queue.size")
        .with_unit("{frame}")
        .with_description(
            "Frames waiting in the fullest inbound (agent-to-client) queue among the \
             connector's open streams",
        )
        .with_callback(move |gauge| {
            let peaks = reg.queue_peaks();
            for (c, attrs) in by_connector.iter() {
                let peak = peaks.get(c).copied().unwrap_or(0);
                gauge.observe(u64::try_from(peak).unwrap_or(u64::MAX), attrs);
            }
        })
        .build();

    let (limit, by_connector) = (cfg.limits.queue_depth_per_cid, labels.clone());
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    meter
        .u64_observable_gauge("nowconnect.inbound.queue.limit")
        .with_unit("{frame}")
        .with_description("Frames one stream's inbound queue may hold (limits.queue_depth_per_cid)")
        .with_callback(move |gauge| {
            for (_, attrs) in by_connector.iter() {
                gauge.observe(limit, attrs);
            }
        })
        .build();

    let (reg, by_connector) = (registry.clone(), labels);
    meter
        .u64_observable_gauge("nowconnect.connector.up")
        .with_description("1 while an agent serves the configured connector, else 0")
        .with_callback(move |gauge| {
            for (c, attrs) in by_connector.iter() {
                gauge.observe(u64::from(reg.serves(c)), attrs);
            }
        })
        .build();

    register_agent_gauges(meter, registry);
}

/// Per agent: connected (1/0) and the current tunnel's age. An agent seen since start-up keeps
/// its series at 0 after it leaves, so a disconnect shows as a drop rather than a gap.
fn register_agent_gauges(meter: &Meter, registry: Arc<Registry>) {
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let snapshot = move || {
        let live = registry.agents();
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.extend(live.iter().map(|(id, _)| id.clone()));
        seen.iter()
            .map(|id| {
                let up = live
                    .iter()
                    .find(|(a, _)| a == id)
                    .map(|(_, since)| since.elapsed());
                (KeyValue::new("agent", id.clone()), up)
            })
            .collect::<Vec<_>>()
    };
    let snapshot = Arc::new(snapshot);

    let agents = snapshot.clone();
    meter
        .u64_observable_gauge("nowconnect.agents.connected")
        .with_unit("{agent}")
        .with_description("1 while the agent has a live tunnel to this hub, 0 after it left")
        .with_callback(move |gauge| {
            for (agent, up) in agents() {
                gauge.observe(u64::from(up.is_some()), &[agent]);
            }
        })
        .build();

    meter
        .f64_observable_gauge("nowconnect.tunnel.uptime")
        .with_unit("s")
        .with_description("Seconds since the agent's current tunnel registered; 0 while it is gone")
        .with_callback(move |gauge| {
            for (agent, up) in snapshot() {
                gauge.observe(up.map_or(0.0, |d| d.as_secs_f64()), &[agent]);
            }
        })
        .build();
}
