//! What a process holds, read from `/proc`: resident memory (now and its peak), open file
//! descriptors and its open-file limit; and raising the test process's own limit for tests
//! that hold thousands of sockets.

use std::fmt;

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mem {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the highest `VmRSS` since the process started, in KiB.
    pub hwm_kib: u64,
}

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RSS {:.1} MiB (peak {:.1} MiB)",
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0
        )
    }
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let rest = line.strip_prefix(key)?.trim_start_matches(':').trim();
    rest.strip_suffix("kB")?.trim().parse().ok()
}

/// Reads `VmRSS` and `VmHWM` of `pid`; panics if the process is gone.
pub fn mem(pid: u32) -> Mem {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/status: {e}"));
    Mem {
        rss_kib: status_kib(&status, "VmRSS").expect("VmRSS"),
        hwm_kib: status_kib(&status, "VmHWM").expect("VmHWM"),
    }
}

/// File descriptors `pid` has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The soft and hard open-file limits of `pid` (`None` = unlimited), from `/proc/PID/limits`.
pub fn nofile(pid: u32) -> (Option<u64>, Option<u64>) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut words = line["Max open files".len()..].split_whitespace();
    let mut next = || words.next().and_then(|w| w.parse().ok());
    (next(), next())
}

/// Raises this test process's soft open-file limit to its hard limit (the binaries it
/// starts inherit it) and checks that `needed` descriptors fit; the product's own code does
/// the raising, so this also exercises it. A hard limit below `needed` is raised too when the
/// tests run as root.
pub fn raise_nofile(needed: u64) {
    let mut limit = nowconnect_mux::fdlimit::raise_nofile().expect("raise RLIMIT_NOFILE");
    if !limit.allows(needed) {
        // A hard limit below the need: only root may raise it (CI runs as root).
        let both = rustix::process::Rlimit {
            current: Some(needed),
            maximum: Some(needed),
        };
        if rustix::process::setrlimit(rustix::process::Resource::Nofile, both).is_ok() {
            limit = nowconnect_mux::fdlimit::raise_nofile().expect("raise RLIMIT_NOFILE");
        }
    }
    assert!(
        limit.allows(needed),
        "this test holds about {needed} sockets but the open-file limit is {limit:?}: \
         raise the hard limit (ulimit -Hn) of the shell that runs the tests"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let me = std::process::id();
        let m = mem(me);
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib, "{m:?}");
        assert!(open_fds(me) >= 3);
        let (soft, hard) = nofile(me);
        assert!(soft.is_some() || hard.is_none());
    }
}
