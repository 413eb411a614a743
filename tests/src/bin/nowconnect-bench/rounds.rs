//! The measurement schedule: every round runs each phase on every target — the direct path and
//! each mode's tunnel — back to back, the order rotating with the round and the phase, so a
//! drift in the machine's speed (other work, frequency, noisy neighbours) hits all targets
//! alike instead of whichever mode happened to run during it. Round trips are interleaved even
//! finer: each target gets `rtt_connections` kept connections, opened afresh every round, and
//! the targets take turns of [`RTT_CHUNK`](nowconnect_perf::tcp::RTT_CHUNK) round trips, each turn on a target's next connection.
//! Spreading round trips (and bulk streams, `connections_per_stream`) over many connections is
//! what lets `full`'s sampler trace its share of them: on one connection a round would be all
//! traced or all untraced.

use std::net::SocketAddr;

use anyhow::Context as _;
use nowconnect_perf::PerfError;
use nowconnect_perf::report::TcpReport;
use nowconnect_perf::stats::Summary;
use nowconnect_perf::tcp::{Collected, PHASES, Phase, RoundTripPool, TcpOpts};

use crate::mode::Mode;
use crate::summary::Run;

/// Runs `rounds` rounds. `opts.direct` is the echo target; `opts.tunnel` is replaced by each
/// mode's listener.
pub(crate) async fn measure(
    opts: &TcpOpts,
    tunnels: &[(Mode, SocketAddr)],
    rounds: usize,
    progress: impl Fn(&str),
) -> anyhow::Result<(Vec<Run>, Vec<String>)> {
    let mut runs = Vec::new();
    let mut incidents = Vec::new();
    for round in 0..rounds {
        let mut direct = Collected::default();
        let mut tunnel = vec![Collected::default(); tunnels.len()];
        // `None` is the direct path, `Some(k)` the tunnel of `tunnels[k]`.
        let mut order: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..tunnels.len()).map(Some))
            .collect();
        for (i, phase) in PHASES.into_iter().enumerate() {
            let n = order.len();
            order.rotate_left(if i == 0 { round % n } else { 1 });
            if phase == Phase::RoundTrips {
                let mut addrs = vec![opts.direct];
                addrs.extend(tunnels.iter().map(|(_, addr)| *addr));
                let rtt = interleaved_round_trips(&addrs, opts, round).await?;
                direct.set_round_trips(rtt[0]);
                for (k, summary) in rtt[1..].iter().enumerate() {
                    tunnel[k].set_round_trips(*summary);
                }
                continue;
            }
            for target in &order {
                let (collected, addr, name) = match *target {
                    None => (&mut direct, opts.direct, "direct"),
                    Some(k) => (&mut tunnel[k], tunnels[k].1, tunnels[k].0.as_str()),
                };
                let again = measure_one(collected, phase, addr, opts).await;
                if let Some(e) = again.with_context(|| format!("{phase:?} on {name} ({addr})"))? {
                    let line = format!("round {}: {phase:?} on {name}: {e}", round + 1);
                    progress(&format!("{line}; measured again"));
                    incidents.push(line);
                }
            }
        }
        let direct = direct.finish()?;
        let mut line = format!("round {}/{rounds}:", round + 1);
        for ((mode, addr), collected) in tunnels.iter().zip(tunnel) {
            let mode_opts = TcpOpts {
                tunnel: *addr,
                ..opts.clone()
            };
            let report = TcpReport::new(&mode_opts, collected.finish()?, direct);
            let t = &report.tunnel;
            line.push_str(&format!(
                " {} {:.0}/{:.0} MB/s p50 {:.0} µs;",
                mode.as_str(),
                t.bulk_1_mb_s,
                t.bulk_n_mb_s,
                t.rtt.p50_us
            ));
            runs.push(Run {
                mode: *mode,
                round,
                report,
            });
        }
        line.push_str(&format!(
            " direct {:.0}/{:.0} MB/s p50 {:.0} µs",
            direct.bulk_1_mb_s, direct.bulk_n_mb_s, direct.rtt.p50_us
        ));
        progress(&line);
    }
    Ok((runs, incidents))
}

/// Measures `phase` on one target. A stalled transfer (see `nowconnect-perf`'s bulk phase) or
/// a set-up without an answer is measured once more, and returned so the report shows it; a
/// second failure is the error.
async fn measure_one(
    collected: &mut Collected,
    phase: Phase,
    addr: SocketAddr,
    opts: &TcpOpts,
) -> Result<Option<PerfError>, PerfError> {
    match collected.measure(phase, addr, opts).await {
        Ok(()) => Ok(None),
        Err(e @ (PerfError::Stalled { .. } | PerfError::Timeout { .. })) => {
            collected.measure(phase, addr, opts).await.map(|()| Some(e))
        }
        Err(e) => Err(e),
    }
}

/// `opts.round_trips` round trips on each of `addrs`, each target's spread over
/// `opts.rtt_connections` kept connections (after `opts.warmup` unrecorded ones, spread
/// likewise); the targets take turns of up to [`RTT_CHUNK`](nowconnect_perf::tcp::RTT_CHUNK) round trips, each turn on the
/// target's next connection, the first target of each turn rotating.
async fn interleaved_round_trips(
    addrs: &[SocketAddr],
    opts: &TcpOpts,
    round: usize,
) -> anyhow::Result<Vec<Summary>> {
    let mut pools = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let pool =
            RoundTripPool::connect(addr, opts.message_size, opts.rtt_connections, opts.warmup)
                .await
                .with_context(|| format!("round-trip connections to {addr}"))?;
        pools.push(pool);
    }
    let step = nowconnect_perf::tcp::chunk_size(opts.round_trips, opts.rtt_connections);
    let mut samples = vec![Vec::with_capacity(opts.round_trips); addrs.len()];
    let (mut left, mut turn) = (opts.round_trips, round);
    while left > 0 {
        let n = left.min(step);
        for k in 0..pools.len() {
            let i = (k + turn) % pools.len();
            pools[i].run_next(n, &mut samples[i]).await?;
        }
        left -= n;
        turn += 1;
    }
    samples
        .iter()
        .map(|s| Summary::of(s).context("no round trips recorded"))
        .collect()
}
