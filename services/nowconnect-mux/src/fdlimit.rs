//! The process's open-file limit (`RLIMIT_NOFILE`), raised at start-up.
//!
//! Every client connection (hub) and every target connection (agent) is a file descriptor, and
//! a distribution's default soft limit (often 1024) is below the default `max_conn_total` and
//! `max_inflight_cids` (2000): a hub left at 1024 starts failing accepts (`accept_failed`,
//! EMFILE) long before its own limit refuses anyone. Like most servers, the binaries therefore
//! raise the soft limit to the hard limit (which only the operator can raise) when they start,
//! and warn when even that is below what the configured limits need.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Linux refuses a soft limit of "unlimited" for open files; this is the kernel's default
/// ceiling (`fs.nr_open`), used when the hard limit is unlimited.
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// The open-file limit around [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit the process started with (`None` = unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub soft: Option<u64>,
    /// The hard limit (`None` = unlimited).
    pub hard: Option<u64>,
}

impl NofileLimit {
    /// Whether at least `needed` descriptors may be open at once.
    pub fn allows(&self, needed: u64) -> bool {
        self.soft.is_none_or(|soft| soft >= needed)
    }
}

/// Raises the soft open-file limit to the hard limit. An error leaves the limit as it was.
pub fn raise_nofile() -> std::io::Result<NofileLimit> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let target = maximum.unwrap_or(NR_OPEN_DEFAULT);
    let before = current;
    if current.is_some_and(|soft| soft < target) {
        let new = Rlimit {
            current: Some(target),
            maximum,
        };
        setrlimit(Resource::Nofile, new)?;
    }
    let now = getrlimit(Resource::Nofile);
    Ok(NofileLimit {
        before,
        soft: now.current,
        hard: now.maximum,
    })
}

/// [`raise_nofile`], logged: `fd_limit` (info) with the limits, `fd_limit_low` (warn) when the
/// soft limit stays below `needed` (what the configured connection limit takes), or
/// `fd_limit_failed` (warn).
pub fn raise_nofile_logged(needed: u64, limit_key: &'static str) {
    match raise_nofile() {
        Ok(limit) => {
            tracing::info!(
                event = "fd_limit",
                soft = ?limit.soft,
                hard = ?limit.hard,
                started_with = ?limit.before,
            );
            if !limit.allows(needed) {
                tracing::warn!(
                    event = "fd_limit_low",
                    soft = ?limit.soft,
                    needed,
                    limit_key,
                    "the open-file limit is below what the configured connection limit needs; \
                     raise the hard limit (ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=)"
                );
            }
        }
        Err(e) => tracing::warn!(event = "fd_limit_failed", error = %e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn raising_ends_with_the_soft_limit_at_the_hard_limit() {
        let limit = raise_nofile().unwrap();
        match limit.hard {
            Some(hard) => assert_eq!(limit.soft, Some(hard)),
            None => assert!(limit.soft.is_none_or(|s| s >= NR_OPEN_DEFAULT)),
        }
        assert!(limit.allows(limit.soft.unwrap_or(u64::MAX)));
        assert_eq!(raise_nofile().unwrap().before, limit.soft, "idempotent");
    }
}
