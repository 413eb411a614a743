//! Keeps fetching a JWKS URL that could not be fetched at start-up.
//!
//! The hub starts even when its identity provider is down (a restart should not turn an IdP
//! outage into a hub outage: listeners, probes and metrics stay up, `/readyz` says
//! `jwks_unavailable`, agents get 401 `jwks_unavailable`). This task retries with a doubling
//! delay from [`FIRST_DELAY`] to [`MAX_DELAY`] until one fetch succeeds, then ends; from then on
//! the verifier's own refresh-on-unknown-`kid` keeps the keys current and a failed refresh
//! keeps the cached keys.

use nowconnect_auth::Verifier;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Delay before the first retry.
pub(crate) const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Cap of the doubling retry delay.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);

/// Retries until the JWKS is loaded or `stop` fires; returns at once if it already is.
pub(crate) async fn run(verifier: Verifier, stop: CancellationToken) {
    let mut delay = FIRST_DELAY;
    while !verifier.is_loaded() {
        tracing::warn!(
            event = "jwks_unavailable",
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "no JWKS loaded: every agent is refused with 401 until a fetch succeeds"
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        if verifier.refresh().await.is_ok() {
            return;
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}
