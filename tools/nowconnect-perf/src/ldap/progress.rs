//! The progress line on stderr while a run goes: elapsed, requests, errors, the rate and the
//! p99 of the last interval. On a terminal the line rewrites itself; otherwise one line per
//! interval (readable in CI logs).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Recorder;
use crate::stats::Summary;

/// Prints every `every` until aborted.
pub(crate) async fn run(recorder: Arc<Recorder>, start: Instant, total: Duration, every: Duration) {
    let mut seen = 0usize;
    let mut last_requests = 0u64;
    let mut tick = tokio::time::interval_at(start + every, every);
    loop {
        tick.tick().await;
        let (requests, errors, recorded, window) = recorder.counts(seen);
        seen = recorded;
        let p99 = Summary::of(&window).map(|s| s.p99_us / 1000.0);
        let rate = (requests - last_requests) as f64 / every.as_secs_f64();
        last_requests = requests;
        print(
            &line(start.elapsed(), total, requests, errors, rate, p99),
            false,
        );
    }
}

/// The final line, after the workers finished.
pub(crate) fn finish(recorder: &Recorder, start: Instant, total: Duration) {
    let (requests, errors, _, all) = recorder.counts(0);
    let p99 = Summary::of(&all).map(|s| s.p99_us / 1000.0);
    let secs = start.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        requests as f64 / secs
    } else {
        0.0
    };
    print(
        &line(start.elapsed(), total, requests, errors, rate, p99),
        true,
    );
}

fn print(text: &str, last: bool) {
    let mut err = std::io::stderr().lock();
    let _ = if err.is_terminal() {
        write!(err, "\r\x1b[2K{text}{}", if last { "\n" } else { "" })
    } else {
        writeln!(err, "{text}")
    };
    let _ = err.flush();
}

fn line(
    elapsed: Duration,
    total: Duration,
    requests: u64,
    errors: u64,
    rate: f64,
    p99_ms: Option<f64>,
) -> String {
    let p99 = p99_ms.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
    format!(
        "nowconnect-perf ldap: {:.0}/{:.0} s  requests {requests}  errors {errors}  {rate:.1} req/s  p99 {p99}",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_says_it_all() {
        let l = super::line(
            std::time::Duration::from_millis(12_400),
            std::time::Duration::from_secs(30),
            240,
            3,
            20.0,
            Some(4.25),
        );
        assert_eq!(
            l,
            "nowconnect-perf ldap: 12/30 s  requests 240  errors 3  20.0 req/s  p99 4.2 ms"
        );
        let none = super::line(Default::default(), Default::default(), 0, 0, 0.0, None);
        assert!(none.ends_with("p99 -"), "{none}");
    }
}
