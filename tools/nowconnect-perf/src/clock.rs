//! Wall-clock time as RFC 3339 UTC text (`2026-11-26T06:09:34.123Z`) for reports, without a
//! calendar crate: days since the epoch to a civil date (Howard Hinnant's algorithm).

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`; times before 1970 print as the epoch.
pub fn iso(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Year, month (1–12), day (1–31) of `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(iso(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(iso(at(1_795_672_174, 123)), "2026-11-26T05:49:34.123Z");
        assert_eq!(iso(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
    }
}
