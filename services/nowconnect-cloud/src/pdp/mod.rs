//! Per-stream authorization by a policy decision point (SPEC §4): before the hub sends OPEN for
//! a new client, it asks `pdp.url` (AuthZEN 1.0 access evaluation) whether the agent may serve
//! the connector.
//!
//! - [`wire`]: the request body and the answers accepted (`decision` or `allow`, `ttl_sec`).
//! - [`cache`]: allow decisions per (agent, connector), for `pdp.cache_ttl_sec` or the answer's
//!   `ttl_sec`; a hit does no IO.
//! - [`client`]: the HTTP call, bounded by `pdp.timeout_ms`.
//!
//! [`Pdp::decide`] only decides; the caller applies `fail_open`, counts and logs (the listener).
//! Evaluations are not serialised: concurrent streams ask concurrently.

mod cache;
mod client;
mod wire;

use crate::config::HubConfig;
pub(crate) use client::PdpError;
use std::time::Duration;

/// The outcome of one decision for a new stream.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Allowed, by the PDP now or by a cached allow.
    Allow {
        cached: bool,
    },
    Deny,
    /// No decision (timeout, transport error, non-2xx, unreadable answer).
    Error(PdpError),
}

/// The hub's PDP: client, allow cache and request context.
#[derive(Debug)]
pub(crate) struct Pdp {
    client: client::PdpClient,
    cache: cache::AllowCache,
    default_ttl: Duration,
    fail_open: bool,
    replica_id: String,
    audience: String,
}

impl Pdp {
    /// `None` when `pdp.url` is not set (every stream allowed, nothing asked).
    pub(crate) fn from_config(cfg: &HubConfig) -> Result<Option<Pdp>, PdpError> {
        let Some(url) = cfg.pdp.url.clone() else {
            return Ok(None);
        };
        Ok(Some(Pdp {
            client: client::PdpClient::new(url, cfg.pdp.timeout)?,
            cache: cache::AllowCache::new(cache::MAX_ENTRIES),
            default_ttl: cfg.pdp.cache_ttl,
            fail_open: cfg.pdp.fail_open,
            replica_id: replica_id(),
            audience: cfg.security.audience.clone(),
        }))
    }

    /// Whether a client whose decision was an error is let in anyway (`pdp.fail_open`).
    pub(crate) fn fail_open(&self) -> bool {
        self.fail_open
    }

    /// The decision for a new stream of `connector` served by `agent_id`.
    pub(crate) async fn decide(&self, agent_id: &str, connector: &str) -> Decision {
        if self.cache.allows(agent_id, connector) {
            return Decision::Allow { cached: true };
        }
        let ctx = wire::Context {
            replica_id: &self.replica_id,
            aud: &self.audience,
        };
        let req = wire::EvaluationRequest::connect(agent_id, connector, ctx);
        match self.client.evaluate(&req).await {
            Ok(answer) if answer.allow => {
                let ttl = answer.ttl.unwrap_or(self.default_ttl);
                self.cache.insert(agent_id, connector, ttl);
                Decision::Allow { cached: false }
            }
            Ok(_) => Decision::Deny,
            Err(e) => Decision::Error(e),
        }
    }
}

/// `context.replica_id`: this hub's host name (the pod name on Kubernetes), stable for the
/// life of the process; a random id where the host name cannot be read.
fn replica_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("hub-{}", uuid::Uuid::new_v4()))
}
