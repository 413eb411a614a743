//! The [`Verifier`]: cached JWKS, key selection, rate-limited refresh, claim validation.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::jwks::{self, Key, KeySet, Selection};
use crate::{
    AgentClaims, AuthError, DEFAULT_REFRESH_INTERVAL, JWKS_HTTP_TIMEOUT, JwksSource,
    VerifierConfig, token,
};

/// Verifies agent JWTs against a cached JWKS.
///
/// Cheap to clone: clones share the key cache and the refresh state. When a token names a
/// `kid` the cache does not know (or has no `kid` and no cached key fits), the JWKS is
/// re-read from its source, at most once per refresh interval ([`DEFAULT_REFRESH_INTERVAL`]
/// unless changed with [`Verifier::with_refresh_interval`]); the first such refresh after
/// start-up is never delayed. A failed refresh keeps the cached keys.
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
    refresh_interval: Duration,
}

struct Shared {
    source: JwksSource,
    cfg: VerifierConfig,
    /// Validation settings except the algorithm, which is set per token from its header.
    validation: Validation,
    http: Option<reqwest::Client>,
    /// Swapped whole on refresh; readers clone the `Arc` and never hold the lock across an await.
    keys: RwLock<Arc<KeySet>>,
    /// Serializes refreshes; holds when the last one started (`None`: none yet).
    last_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("source", &self.shared.source.to_string())
            .field("audience", &self.shared.cfg.audience)
            .field("issuer", &self.shared.cfg.issuer)
            .field("leeway", &self.shared.cfg.leeway)
            .field("keys", &self.current_keys().len())
            .field("refresh_interval", &self.refresh_interval)
            .finish()
    }
}

impl Verifier {
    /// Loads the JWKS once; fails fast with [`AuthError::Jwks`] naming the file or URL and the
    /// reason when it is unreadable, invalid or has no usable key.
    pub async fn new(source: JwksSource, cfg: VerifierConfig) -> Result<Self, AuthError> {
        let verifier = Self::unloaded(source, cfg, None)?;
        // The initial load does not count against the refresh rate limit.
        verifier.reload().await?;
        Ok(verifier)
    }

    /// Like [`Verifier::new`], with `ca_bundle` (PEM) trusted on top of the system roots for an
    /// `https://` JWKS, and tolerant of an unreachable URL: when the first fetch of a URL fails
    /// the verifier starts without keys (every token is refused with
    /// [`AuthError::Jwks`]) and the caller retries with [`Verifier::refresh`]; see
    /// [`Verifier::is_loaded`]. A JWKS *file* that cannot be loaded, or an unreadable CA
    /// bundle, is still an error: that is a local configuration mistake.
    pub async fn start(
        source: JwksSource,
        cfg: VerifierConfig,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, AuthError> {
        let verifier = Self::unloaded(source, cfg, ca_bundle)?;
        match (verifier.reload().await, &verifier.shared.source) {
            (Ok(_), _) => Ok(verifier),
            (Err(e), JwksSource::File(_)) => Err(e),
            (Err(_), JwksSource::Url(_)) => Ok(verifier),
        }
    }

    /// A verifier with an empty key cache and its HTTP client (for a URL source) built.
    fn unloaded(
        source: JwksSource,
        cfg: VerifierConfig,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, AuthError> {
        crate::ensure_crypto_provider();
        let http = match &source {
            JwksSource::Url(_) => {
                let tls = crate::tls::client_config(ca_bundle)
                    .map_err(|e| AuthError::Jwks(format!("{source}: {e}")))?;
                Some(
                    reqwest::Client::builder()
                        .timeout(JWKS_HTTP_TIMEOUT)
                        .tls_backend_preconfigured(tls)
                        .build()
                        .map_err(|e| AuthError::Jwks(format!("{source}: HTTP client: {e}")))?,
                )
            }
            JwksSource::File(_) => None,
        };
        let validation = validation(&cfg);
        let shared = Shared {
            source,
            cfg,
            validation,
            http,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_refresh: tokio::sync::Mutex::new(None),
        };
        Ok(Self {
            shared: Arc::new(shared),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        })
    }

    /// Whether a JWKS has been loaded at least once (the cache is never emptied afterwards:
    /// a failed refresh keeps the cached keys).
    pub fn is_loaded(&self) -> bool {
        self.current_keys().len() > 0
    }

    /// Re-reads the JWKS now, whatever the rate limit; on success replaces the cache and
    /// returns the number of usable keys, on failure keeps the cached keys. Logs
    /// `jwks_loaded` / `jwks_refresh_failed`.
    pub async fn refresh(&self) -> Result<usize, AuthError> {
        let mut last = self.shared.last_refresh.lock().await;
        *last = Some(Instant::now());
        self.reload().await
    }

    /// Loads the JWKS and swaps it in; the caller holds `last_refresh`.
    async fn reload(&self) -> Result<usize, AuthError> {
        let source = &self.shared.source;
        let fresh = jwks::load(source, self.shared.http.as_ref())
            .await
            .inspect_err(|e| {
                tracing::warn!(event = "jwks_refresh_failed", source = %source, error = %e);
            })?;
        let count = fresh.len();
        tracing::info!(event = "jwks_loaded", source = %source, keys = count);
        *self
            .shared
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(fresh);
        Ok(count)
    }

    /// Sets the minimum time between two refreshes triggered by unknown key ids.
    pub fn with_refresh_interval(mut self, d: Duration) -> Self {
        self.refresh_interval = d;
        self
    }

    /// Parses an `Authorization` header value (`Bearer <jwt>`, scheme case-insensitive) and
    /// verifies the token. `None`, an empty value or `Bearer` alone is
    /// [`AuthError::MissingToken`]; another scheme is [`AuthError::Malformed`].
    pub async fn verify_header(&self, header: Option<&str>) -> Result<AgentClaims, AuthError> {
        self.verify(token::bearer(header)?).await
    }

    /// Verifies a compact JWS token and returns the agent's identity.
    pub async fn verify(&self, token: &str) -> Result<AgentClaims, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        let header = token::header(token)?;
        let key = self.key_for(header.alg, header.kid.as_deref()).await?;
        let mut validation = self.shared.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .map_err(|e| AuthError::from_jwt(&e))?;
        token::agent_claims(&data.claims)
    }

    fn current_keys(&self) -> Arc<KeySet> {
        let guard = self
            .shared
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&guard)
    }

    /// Finds the key for this token, refreshing the JWKS (rate-limited) when it is not cached.
    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<Arc<Key>, AuthError> {
        if let Some(found) = settle(self.current_keys().select(alg, kid), alg, kid)? {
            return Ok(found);
        }
        let mut last = self.shared.last_refresh.lock().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(found) = settle(self.current_keys().select(alg, kid), alg, kid)? {
            return Ok(found);
        }
        if last.is_some_and(|t| t.elapsed() < self.refresh_interval) {
            tracing::debug!(
                kid = kid.map(crate::error::sanitize),
                "jwks_refresh_rate_limited"
            );
            if !self.is_loaded() {
                return Err(AuthError::Jwks(format!(
                    "{}: not loaded yet (retrying)",
                    self.shared.source
                )));
            }
            return Err(AuthError::UnknownKid(kid.map(crate::error::sanitize)));
        }
        *last = Some(Instant::now());
        self.reload().await?;
        drop(last);
        settle(self.current_keys().select(alg, kid), alg, kid)?
            .ok_or_else(|| AuthError::UnknownKid(kid.map(crate::error::sanitize)))
    }
}

/// `Ok(Some)` for a usable key, `Ok(None)` when a refresh may help, `Err` when it cannot.
fn settle(
    selection: Selection,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Option<Arc<Key>>, AuthError> {
    match selection {
        Selection::Found(key) => Ok(Some(key)),
        Selection::NotFound => Ok(None),
        Selection::Ambiguous => Err(AuthError::UnknownKid(None)),
        Selection::AlgMismatch => Err(AuthError::UnsupportedAlg(format!(
            "{alg:?} does not fit the key with kid {}",
            kid.map(crate::error::sanitize).unwrap_or_default()
        ))),
    }
}

/// Leeways above this are clamped (a day of clock skew is a broken clock, and jsonwebtoken
/// computes `now - leeway` in unsigned arithmetic).
const MAX_LEEWAY: Duration = Duration::from_secs(24 * 3600);

/// Claim rules shared by every token: exp and aud required, nbf enforced, iss when configured.
fn validation(cfg: &VerifierConfig) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    if cfg.leeway > MAX_LEEWAY {
        tracing::warn!(
            leeway_secs = cfg.leeway.as_secs(),
            max_secs = MAX_LEEWAY.as_secs(),
            "jwt_leeway_clamped"
        );
    }
    v.leeway = cfg.leeway.min(MAX_LEEWAY).as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_audience(&[cfg.audience.as_str()]);
    let mut required = vec!["exp", "aud"];
    if let Some(iss) = &cfg.issuer {
        v.set_issuer(&[iss.as_str()]);
        required.push("iss");
    }
    v.set_required_spec_claims(&required);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}

    #[test]
    fn verifier_and_its_futures_are_send() {
        fn check(v: &Verifier) {
            assert_send_sync(v);
            let fut = v.verify("x");
            fn is_send<F: Send>(_: &F) {}
            is_send(&fut);
            is_send(&v.verify_header(None));
        }
        let _ = check;
    }

    #[test]
    fn huge_leeway_is_clamped() {
        let mut cfg = VerifierConfig::new("a");
        cfg.leeway = Duration::MAX;
        assert_eq!(validation(&cfg).leeway, MAX_LEEWAY.as_secs());
        assert_eq!(validation(&VerifierConfig::new("a")).leeway, 30);
    }
}
