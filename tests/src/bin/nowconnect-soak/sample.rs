//! Resource samples of the hub and the current agent: `VmRSS` from `/proc/<pid>/status` and
//! the number of entries in `/proc/<pid>/fd`.

use serde::{Deserialize, Serialize};

/// One process at one instant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Usage {
    pub(crate) rss_kib: u64,
    pub(crate) fds: u64,
}

/// Both processes at one instant (`agent` is None while it is down).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Sample {
    /// Seconds since traffic started.
    pub(crate) t: f64,
    pub(crate) hub: Usage,
    /// (incarnation, its usage)
    pub(crate) agent: Option<(u32, Usage)>,
}

/// `pid`'s usage, None if it is gone (or /proc is unreadable).
pub(crate) fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage { rss_kib, fds })
}
