//! NowConnect hub (`nowconnect-cloud`): binds client-facing TCP listeners, one per connector, and
//! multiplexes their connections over the WebSockets of authenticated premise agents.
//!
//! Main types: [`Hub`] (bind everything, report addresses, run until shutdown) and
//! [`config::HubConfig`]. Modules:
//! - [`config`]: `cloud.yaml` + `NOWCONNECT_*` environment → validated [`config::HubConfig`].
//! - `tunnel`: `GET /tunnel` — JWT check (401 before the upgrade), HELLO, session start.
//! - `registry`: which agent serves which connector (first wins, next takes over).
//! - `listener`: accept loops and admission (CIDR allowlist, `max_conn_total`, agent present,
//!   PDP).
//! - `allowlist`: `security.allow_cidrs` matching.
//! - `pdp`: AuthZEN evaluation per new stream, with its allow cache.
//! - `scopes`: which HELLO connectors a token grants (`require_connector_scopes`).
//! - `serve`: plain HTTP or TLS (`wss://`, `tunnel.tls_cert_file`) on the tunnel port.
//! - `jwks_retry`: keeps fetching a JWKS URL that was down at start-up, with backoff.
//! - `http`: the axum routers of the tunnel port (`/tunnel`, `/healthz`, `/readyz`,
//!   `/metrics`) and of the optional separate metrics port.
//! - `metrics`: every instrument the hub exports (SPEC §6.1), declared in one place.
//!
//! Not here: the relay itself (`nowconnect-mux`), frame encodings (`nowconnect-protocol`),
//! token verification (`nowconnect-auth`).

mod allowlist;
pub mod config;
mod http;
mod hub;
mod jwks_retry;
mod listener;
mod metrics;
mod pdp;
mod registry;
mod scopes;
mod serve;
mod tunnel;

pub use hub::{Hub, HubAddrs, HubError, ShutdownReport};
