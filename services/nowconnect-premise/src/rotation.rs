//! Token rotation: when to open a fresh tunnel before the current token expires.
//!
//! The agent reads its own token's `exp` (the payload is decoded, not verified: the agent has
//! no key and the token is its own) and renews at [`RENEW_AT_PERCENT`] % of the lifetime left
//! when the tunnel came up, but never later than [`MAX_MARGIN`] before `exp` and never sooner
//! than [`MIN_DELAY`] from now. Renewal reads the token file afresh; if the file still holds a
//! token that does not expire later, the current tunnel is kept and the file is checked again
//! (see [`recheck_delay`]), so a late token renewer costs nothing but a warning.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Renew after this share of the remaining lifetime…
pub(crate) const RENEW_AT_PERCENT: u32 = 80;
/// …but at least this long before `exp`.
pub(crate) const MAX_MARGIN: Duration = Duration::from_secs(300);
/// Never renew sooner than this (a token that is already about to expire).
pub(crate) const MIN_DELAY: Duration = Duration::from_secs(1);
/// How long the old tunnel may take to drain its streams after a rotation.
pub(crate) const DRAIN_MAX: Duration = Duration::from_secs(600);

/// The `exp` claim (unix seconds) of a compact JWS, if it has one.
pub(crate) fn token_exp(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long after `now` to renew a token expiring at `exp`.
pub(crate) fn renew_delay(exp: u64, now: u64) -> Duration {
    let left = Duration::from_secs(exp.saturating_sub(now));
    let at_share = left * RENEW_AT_PERCENT / 100;
    let before_margin = left.saturating_sub(MAX_MARGIN);
    at_share
        .max(before_margin)
        .max(MIN_DELAY)
        .min(left.max(MIN_DELAY))
}

/// When the token file still holds no newer token: look again after half the time left,
/// between 1 and 30 seconds.
pub(crate) fn recheck_delay(exp: u64, now: u64) -> Duration {
    Duration::from_secs(exp.saturating_sub(now) / 2).clamp(MIN_DELAY, Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_exp_without_verifying() {
        assert_eq!(
            token_exp(&token(r#"{"exp":1700000000}"#)),
            Some(1_700_000_000)
        );
        assert_eq!(token_exp(&token(r#"{"sub":"x"}"#)), None);
        assert_eq!(token_exp("garbage"), None);
        assert_eq!(token_exp(&token("not json")), None);
    }

    #[test]
    fn renewal_schedule() {
        let s = |left: u64| renew_delay(1000 + left, 1000).as_secs_f64();
        // Short tokens: at 80 % of their life.
        assert!((s(6) - 4.8).abs() < 0.01);
        assert!((s(600) - 480.0).abs() < 0.01);
        // Long tokens: five minutes before exp.
        assert!((s(3600) - 3300.0).abs() < 0.01);
        assert!((s(86_400) - 86_100.0).abs() < 0.01);
        // Expired or about to: not sooner than a second.
        assert_eq!(renew_delay(900, 1000), MIN_DELAY);
        assert_eq!(renew_delay(1001, 1000), MIN_DELAY);
        assert_eq!(recheck_delay(1000, 1000), MIN_DELAY);
        assert_eq!(recheck_delay(1000 + 3600, 1000), Duration::from_secs(30));
    }
}
