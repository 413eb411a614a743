//! A bounded pool of bound `ldap3` connections to one directory.
//!
//! At most `pool_size` connections exist (a semaphore permit rides with each checked-out
//! [`Conn`]). Idle connections are reused; one that the driver reports closed is dropped, and
//! one idle for longer than `connection.idle_check_ms` is probed with a WhoAmI first. A connection
//! whose operation failed on the transport or timed out is discarded, never returned, so a
//! broken tunnel costs one failed operation and the next one connects afresh (re-connection
//! without a restart). A transport failure also drops the idle connections (they share the
//! path that just failed), and the retry of an idempotent operation always uses a new
//! connection. Connect plus bind is bounded by `connect_timeout`.
//!
//! Cancel-safety: dropping a [`Conn`] mid-operation discards it (it is only returned to the pool
//! by [`Conn::release`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ldap3::exop::WhoAmI;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::error::LdapOpError;
use crate::config::SystemConfig;

/// The pool of one system.
#[derive(Debug)]
pub struct Pool {
    config: Arc<SystemConfig>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    ldap: Ldap,
    since: Instant,
}

/// A checked-out connection; give it back with [`Conn::release`] after a clean operation.
#[derive(Debug)]
pub struct Conn {
    pub ldap: Ldap,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(config: Arc<SystemConfig>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(config.pool_size)),
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A healthy, bound connection: a live idle one, else a new one. Waits for a free slot for
    /// at most the operation timeout.
    pub async fn get(&self) -> Result<Conn, LdapOpError> {
        self.checkout(true).await
    }

    /// A newly made connection (for the retry after a transport failure: the idle ones went
    /// the same way and may be just as dead).
    pub async fn get_fresh(&self) -> Result<Conn, LdapOpError> {
        self.checkout(false).await
    }

    /// Drops every idle connection (after a transport failure they are suspect).
    pub fn discard_idle(&self) {
        lock(&self.idle).clear();
    }

    async fn checkout(&self, reuse: bool) -> Result<Conn, LdapOpError> {
        let wait = self.config.operation_timeout;
        let permit = match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                return Err(LdapOpError::PoolBusy {
                    pool_size: self.config.pool_size,
                    timeout: wait,
                });
            }
        };
        while let Some(idle) = reuse.then(|| self.pop_idle()).flatten() {
            let mut ldap = idle.ldap;
            if ldap.is_closed() {
                continue;
            }
            if idle.since.elapsed() >= self.config.idle_check && !self.healthy(&mut ldap).await {
                continue;
            }
            return Ok(Conn {
                ldap,
                _permit: permit,
            });
        }
        let ldap = self.connect().await?;
        Ok(Conn {
            ldap,
            _permit: permit,
        })
    }

    fn pop_idle(&self) -> Option<Idle> {
        lock(&self.idle).pop()
    }

    async fn healthy(&self, ldap: &mut Ldap) -> bool {
        let probe = ldap
            .with_timeout(self.config.operation_timeout)
            .extended(WhoAmI);
        matches!(probe.await, Ok(res) if res.1.rc == 0)
    }

    /// TCP connect and simple bind, within `connect_timeout`.
    async fn connect(&self) -> Result<Ldap, LdapOpError> {
        let cfg = &self.config;
        let timeout = cfg.connect_timeout;
        let span = tracing::info_span!(target: "nowconnect::crud::ldap", "ldap.connect",
            system = %cfg.name, server.address = %cfg.host, server.port = cfg.port);
        let attempt = async {
            let mut settings = LdapConnSettings::new().set_conn_timeout(timeout);
            if let Some(tls) = &cfg.tls {
                settings = settings.set_config(tls.clone());
            }
            let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url())
                .await
                .map_err(|e| LdapOpError::from_ldap("connect", timeout, e))?;
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!(event = "ldap_connection_closed", error = %e);
                }
            });
            let bound = ldap
                .with_timeout(timeout)
                .simple_bind(&cfg.bind_dn, cfg.bind_password.expose())
                .await
                .map_err(|e| LdapOpError::from_ldap("bind", timeout, e))?;
            if bound.rc != 0 {
                return Err(LdapOpError::Bind { rc: bound.rc });
            }
            Ok(ldap)
        };
        match tokio::time::timeout(timeout, attempt)
            .instrument(span)
            .await
        {
            Ok(result) => result,
            Err(_) => Err(LdapOpError::Timeout {
                op: "connect",
                timeout,
            }),
        }
    }
}

impl Conn {
    /// Returns the connection to the pool (after an operation that left it usable).
    pub fn release(self, pool: &Pool) {
        let Conn { ldap, _permit } = self;
        lock(&pool.idle).push(Idle {
            ldap,
            since: Instant::now(),
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
