//! The measurement schedule: every round runs each phase on every target — the direct path and
//! each mode's tunnel — back to back, the order rotating with the round and the phase, so a
//! drift in the machine's speed (other work, frequency, noisy neighbours) hits all targets
//! alike instead of whichever mode happened to run during it. Round trips are interleaved even
//! finer: one connection per target, [`RTT_CHUNK`] round trips on each in turn.

use std::net::SocketAddr;

use anyhow::Context as _;
use nowconnect_perf::PerfError;
use nowconnect_perf::report::TcpReport;
use nowconnect_perf::stats::Summary;
use nowconnect_perf::tcp::{Collected, PHASES, Phase, RoundTripper, TcpOpts};

use crate::mode::Mode;
use crate::summary::Run;

/// Round trips on one target before the next target's turn.
const RTT_CHUNK: usize = 50;

/// Runs `rounds` rounds. `opts.direct` is the echo target; `opts.tunnel` is replaced by each
/// mode's listener.
pub(crate) async fn measure(
    opts: &TcpOpts,
    tunnels: &[(Mode, SocketAddr)],
    rounds: usize,
    progress: impl Fn(&str),
) -> anyhow::Result<Vec<Run>> {
    let mut runs = Vec::new();
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
                measure_one(collected, phase, addr, opts, name, &progress).await?;
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
    Ok(runs)
}

/// Measures `phase` on one target; a stalled transfer (see `nowconnect-perf`'s bulk phase) is
/// reported and measured once more.
async fn measure_one(
    collected: &mut Collected,
    phase: Phase,
    addr: SocketAddr,
    opts: &TcpOpts,
    name: &str,
    progress: &impl Fn(&str),
) -> anyhow::Result<()> {
    match collected.measure(phase, addr, opts).await {
        Err(e @ PerfError::Stalled { .. }) => {
            progress(&format!("{phase:?} on {name}: {e}; measuring it again"));
            collected.measure(phase, addr, opts).await
        }
        other => other,
    }
    .with_context(|| format!("{phase:?} on {name} ({addr})"))
}

/// `opts.round_trips` round trips on each of `addrs`, [`RTT_CHUNK`] at a time per target in
/// turn (the first target of each turn rotating), after `opts.warmup` unrecorded ones each.
async fn interleaved_round_trips(
    addrs: &[SocketAddr],
    opts: &TcpOpts,
    round: usize,
) -> anyhow::Result<Vec<Summary>> {
    let mut conns = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let mut rt = RoundTripper::connect(addr, opts.message_size).await?;
        rt.run(opts.warmup, &mut Vec::new()).await?;
        conns.push(rt);
    }
    let mut samples = vec![Vec::with_capacity(opts.round_trips); addrs.len()];
    let (mut left, mut turn) = (opts.round_trips, round);
    while left > 0 {
        let n = left.min(RTT_CHUNK);
        for k in 0..conns.len() {
            let i = (k + turn) % conns.len();
            conns[i].run(n, &mut samples[i]).await?;
        }
        left -= n;
        turn += 1;
    }
    samples
        .iter()
        .map(|s| Summary::of(s).context("no round trips recorded"))
        .collect()
}
