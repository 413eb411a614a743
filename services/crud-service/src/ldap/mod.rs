//! The LDAP connector: one [`Directory`] per configured system, over a bounded [`pool::Pool`].
//!
//! - [`Directory::run`] runs one operation on a pooled connection under the operation timeout,
//!   in its own span (named after the operation), discards the connection (and the idle ones)
//!   on a transport failure or timeout, and retries once on a new connection when the
//!   operation is idempotent (SPEC §8).
//! - `entries`: user get/search/create/delete, group get/create/delete.
//! - `members`: `update_group_members`, the one path of every membership change, planned by
//!   the pure `plan` and judged by `classify`.
//!
//! Not here: HTTP (the `http` module maps [`LdapOpError`] to statuses).

pub mod classify;
pub mod dn;
mod entries;
pub mod error;
mod members;
pub mod plan;
pub mod pool;

use std::future::Future;
use std::sync::Arc;

use ldap3::{Ldap, LdapError};
use tracing::Instrument;

pub use entries::{Entry, GroupKind};
pub use error::LdapOpError;
pub use members::MembershipReport;

use crate::config::SystemConfig;
use crate::metrics::CrudMetrics;
use pool::Pool;

/// Whether an operation may be sent again after its connection broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and membership modifies (re-applying them is harmless).
    Idempotent,
    /// Adds and deletes of entries: a second attempt could report a misleading 68 or 32.
    Once,
}

/// One system's directory: its config, pool and the service's metrics.
#[derive(Debug)]
pub struct Directory {
    config: Arc<SystemConfig>,
    pool: Pool,
    metrics: CrudMetrics,
}

impl Directory {
    pub fn new(config: SystemConfig, metrics: CrudMetrics) -> Self {
        let config = Arc::new(config);
        Self {
            pool: Pool::new(config.clone()),
            config,
            metrics,
        }
    }

    pub fn config(&self) -> &SystemConfig {
        &self.config
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Runs `f` on a pooled connection (with the operation timeout set on the handle and
    /// around the whole call). The closure returns `ldap3`'s own result so callers can look at
    /// result codes themselves.
    pub async fn run<T, F, Fut>(
        &self,
        op: &'static str,
        retry: Retry,
        f: F,
    ) -> Result<T, LdapOpError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let timeout = self.config.operation_timeout;
        let span = tracing::info_span!(target: "nowconnect::crud::ldap", "ldap.operation",
            otel.name = op, ldap.operation = op, system = %self.config.name,
            error.type = tracing::field::Empty);
        async {
            let attempts = if retry == Retry::Idempotent { 2 } else { 1 };
            let mut last = None;
            for attempt in 1..=attempts {
                let conn = if attempt == 1 {
                    self.pool.get().await?
                } else {
                    self.pool.get_fresh().await?
                };
                let mut ldap = conn.ldap.clone();
                ldap.with_timeout(timeout);
                let outcome = match tokio::time::timeout(timeout, f(ldap)).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(LdapOpError::from_ldap(op, timeout, e)),
                    Err(_) => Err(LdapOpError::Timeout { op, timeout }),
                };
                match outcome {
                    Ok(value) => {
                        conn.release(&self.pool);
                        return Ok(value);
                    }
                    Err(e) if e.breaks_connection() => {
                        drop(conn);
                        self.pool.discard_idle();
                        tracing::Span::current().record("error.type", error_type(&e));
                        tracing::info!(target: "nowconnect::crud::ldap", event = "ldap_connection_dropped",
                            operation = op, attempt, error = %e);
                        let retryable = matches!(e, LdapOpError::Unavailable { .. });
                        last = Some(e);
                        if !retryable {
                            break;
                        }
                    }
                    Err(e) => {
                        conn.release(&self.pool);
                        tracing::Span::current().record("error.type", error_type(&e));
                        return Err(e);
                    }
                }
            }
            Err(last.unwrap_or(LdapOpError::Unavailable {
                op,
                reason: "no attempt made".to_owned(),
            }))
        }
        .instrument(span)
        .await
    }

    pub(crate) fn metrics(&self) -> &CrudMetrics {
        &self.metrics
    }
}

fn error_type(e: &LdapOpError) -> String {
    match e.rc() {
        Some(rc) => rc.to_string(),
        None => match e {
            LdapOpError::Timeout { .. } => "timeout".to_owned(),
            _ => "unavailable".to_owned(),
        },
    }
}
