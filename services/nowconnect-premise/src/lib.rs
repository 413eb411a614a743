//! NowConnect premise agent (`nowconnect-premise`): dials one outbound WebSocket to the hub,
//! announces its connectors, and dials each connector's target when the hub opens a stream.
//!
//! Main types: [`Agent`] (bind the health and admin ports, keep the tunnel up with full-jitter
//! backoff, drain on shutdown) and [`config::AgentConfig`]. Modules:
//! - [`config`]: `NC_*` environment (primary) + optional `premise.yaml`.
//! - `connect`: token file (re-read at every connect), upgrade, HELLO / HELLO_ACK.
//! - `transport`: TCP, or HTTP CONNECT through `proxy`, then TLS for `wss://` (system roots
//!   plus `NC_CA_BUNDLE`).
//! - `rotation`: renew the tunnel before the token's `exp`, draining the old one.
//! - `dialer`: connector → target with `connect_timeout_ms`.
//! - `health`: the TCP health port (`OK` / `READY`).
//! - `admin`: the HTTP admin port (`/metrics`, `/healthz`, `/readyz`).
//! - `metrics`: the agent's own instruments (tunnel reconnects and uptime).
//! - `queue_metrics`: the queue gauges (toward the target) read from the current tunnel.
//!
//! Not here: the relay (`nowconnect-mux`) and frame encodings (`nowconnect-protocol`).

mod admin;
mod agent;
mod backoff;
pub mod config;
mod connect;
mod dialer;
mod health;
mod metrics;
mod proxy;
mod queue_metrics;
mod rotation;
mod transport;
mod tunnel;

pub use agent::{Agent, AgentError};
