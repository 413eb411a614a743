//! Named defaults and limits of the crud-service configuration (documented in
//! `docs/crud-service.md` and `docs/configuration.md`).

use std::time::Duration;

/// `CRUD_LISTEN` when unset.
pub const LISTEN: &str = "0.0.0.0:8000";
/// `CRUD_MAX_BODY_BYTES` when unset: the largest `POST /execute` body accepted (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// `connection.server.port` when unset (plain LDAP).
pub const PORT: u16 = 389;
/// `connection.server.port` when unset and `use_ssl` is on (LDAPS).
pub const PORT_LDAPS: u16 = 636;
/// `pool_size`: connections per system, at most.
pub const POOL_SIZE: usize = 4;
/// Upper bound of `pool_size`.
pub const MAX_POOL_SIZE: usize = 256;
/// `page_size`: entries per page of a paged search.
pub const PAGE_SIZE: u32 = 500;
/// `search_max_entries`: a search matching more is refused (422 `too_many_entries`).
pub const SEARCH_MAX_ENTRIES: usize = 10_000;
/// Upper bound of `search_max_entries`.
pub const MAX_SEARCH_MAX_ENTRIES: usize = 1_000_000;
/// `membership_batch_size`: values per modify request.
pub const MEMBERSHIP_BATCH_SIZE: usize = 500;
/// Upper bound of `membership_batch_size`.
pub const MAX_MEMBERSHIP_BATCH_SIZE: usize = 5000;
/// `membership_max_concurrency`: batches of one phase in flight at once.
pub const MEMBERSHIP_MAX_CONCURRENCY: usize = 4;
/// `connection.connect_timeout_ms`: TCP connect plus bind.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);
/// `connection.timeout_ms`: one LDAP operation (for a search: between two replies).
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(10_000);
/// `connection.idle_check_ms`: a pooled connection idle this long is probed (WhoAmI) before
/// reuse; 0 probes at every reuse.
pub const IDLE_CHECK: Duration = Duration::from_millis(30_000);
/// Upper bound of the timeouts and of the idle check.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
