//! The command line: `nowconnect-perf tcp …`, `nowconnect-perf ldap …` and
//! `nowconnect-perf echo …`. Every option can also come from a variable (the flag wins):
//! `NC_PERF_*` for `tcp` and `echo`, the perf runner's `PERF_*` for `ldap`.

pub mod ldap;

pub use ldap::{Attrs, LdapArgs};

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};

use crate::PerfError;
use crate::tcp::{self, TcpOpts};

/// Defaults of `tcp`, named so the docs and the bench can refer to them.
pub const DEFAULT_STREAMS: usize = 8;
pub const DEFAULT_SECONDS: f64 = 3.0;
pub const DEFAULT_ROUND_TRIPS: usize = 3000;
pub const DEFAULT_WARMUP: usize = 300;
pub const DEFAULT_MESSAGE_SIZE: usize = 64;
pub const DEFAULT_CONNECTIONS: usize = 300;
/// Round trips go over this many kept connections, bulk streams over this many connections
/// each: enough distinct tunnel streams that a sampler tracing one in ten is represented.
pub const DEFAULT_RTT_CONNECTIONS: usize = 50;
pub const DEFAULT_CONNECTIONS_PER_STREAM: usize = 10;

#[derive(Debug, Parser)]
#[command(
    name = "nowconnect-perf",
    version,
    about = "Load tool: the same traffic through the tunnel and directly, figures as ratios"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Raw TCP: throughput (1 and N streams), small-message round trips, connection set-up.
    Tcp(TcpArgs),
    /// LDAP: the perf runner's search workload against one directory address, JSON report.
    Ldap(LdapArgs),
    /// An echo service to point both paths at (runs until Ctrl-C).
    Echo(EchoArgs),
    /// A plain TCP relay to one upstream (runs until Ctrl-C): two in series are the floor a
    /// two-hop tunnel is compared with.
    Relay(RelayArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TcpArgs {
    /// HOST:PORT of the hub listener whose connector leads to an echo service.
    #[arg(long, env = "NC_PERF_TUNNEL", value_name = "HOST:PORT")]
    pub tunnel: String,
    /// HOST:PORT of the same echo service, reached directly.
    #[arg(long, env = "NC_PERF_DIRECT", value_name = "HOST:PORT")]
    pub direct: String,
    /// Parallel streams of the multi-stream throughput phase.
    #[arg(long, env = "NC_PERF_STREAMS", default_value_t = DEFAULT_STREAMS,
          value_parser = clap::value_parser!(u16).range(1..=1024).map(usize::from))]
    pub streams: usize,
    /// Connections each throughput stream is made of, one after the other (each writes its
    /// share of the seconds).
    #[arg(long, env = "NC_PERF_CONNECTIONS_PER_STREAM",
          default_value_t = DEFAULT_CONNECTIONS_PER_STREAM,
          value_parser = clap::value_parser!(u16).range(1..=1000).map(usize::from))]
    pub connections_per_stream: usize,
    /// Seconds each throughput phase writes, per path.
    #[arg(long, env = "NC_PERF_SECONDS", default_value_t = DEFAULT_SECONDS,
          value_parser = parse_seconds)]
    pub seconds: f64,
    /// Recorded round trips.
    #[arg(long, env = "NC_PERF_ROUND_TRIPS", default_value_t = DEFAULT_ROUND_TRIPS,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000).map(|v| v as usize))]
    pub round_trips: usize,
    /// Unrecorded round trips first.
    #[arg(long, env = "NC_PERF_WARMUP", default_value_t = DEFAULT_WARMUP,
          value_parser = clap::value_parser!(u32).range(0..=10_000_000).map(|v| v as usize))]
    pub warmup: usize,
    /// Kept connections the round trips are spread over, in turn.
    #[arg(long, env = "NC_PERF_RTT_CONNECTIONS", default_value_t = DEFAULT_RTT_CONNECTIONS,
          value_parser = clap::value_parser!(u16).range(1..=1000).map(usize::from))]
    pub rtt_connections: usize,
    /// Bytes per round-trip message.
    #[arg(long, env = "NC_PERF_MESSAGE_SIZE", default_value_t = DEFAULT_MESSAGE_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=65_536).map(|v| v as usize))]
    pub message_size: usize,
    /// Sequential connection set-ups.
    #[arg(long, env = "NC_PERF_CONNECTIONS", default_value_t = DEFAULT_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    pub connections: usize,
    /// Also write the report as JSON to FILE.
    #[arg(long, env = "NC_PERF_JSON", value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Exit with code 3 when a gate holds, e.g. `ratio.bulk_1 < 0.6, ratio.rtt_p50 > 1.25`
    /// (repeatable; see docs/benchmarks.md for the grammar).
    #[arg(long, env = "NC_PERF_EXIT_ON", value_name = "EXPR")]
    pub exit_on: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Where to listen.
    #[arg(
        long,
        env = "NC_PERF_LISTEN",
        default_value = "127.0.0.1:7007",
        value_name = "HOST:PORT"
    )]
    pub listen: String,
}

#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Where to listen.
    #[arg(long, env = "NC_PERF_LISTEN", value_name = "HOST:PORT")]
    pub listen: String,
    /// Where every accepted connection is relayed to.
    #[arg(long, env = "NC_PERF_UPSTREAM", value_name = "HOST:PORT")]
    pub to: String,
}

/// Seconds as a positive, finite number (fractions allowed: `0.2`).
pub(crate) fn parse_seconds(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err("expected seconds, more than 0 and at most 3600".into()),
    }
}

impl TcpArgs {
    /// Resolves the addresses and builds the options of [`tcp::run`].
    pub async fn opts(&self) -> Result<TcpOpts, PerfError> {
        Ok(TcpOpts {
            tunnel: tcp::resolve(&self.tunnel).await?,
            direct: tcp::resolve(&self.direct).await?,
            streams: self.streams,
            connections_per_stream: self.connections_per_stream,
            // `parse_seconds` bounds it; a library caller gets the default instead of a panic.
            duration: Duration::try_from_secs_f64(self.seconds)
                .unwrap_or(Duration::from_secs_f64(DEFAULT_SECONDS)),
            round_trips: self.round_trips,
            warmup: self.warmup,
            rtt_connections: self.rtt_connections,
            message_size: self.message_size,
            connections: self.connections,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn tcp(args: &[&str]) -> Result<TcpArgs, String> {
        let argv = ["nowconnect-perf", "tcp"].iter().chain(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Tcp(a),
            }) => Ok(a),
            Ok(other) => Err(format!("not tcp: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn defaults_apply() {
        let a = tcp(&["--tunnel", "127.0.0.1:1", "--direct", "localhost:2"]).unwrap();
        assert_eq!(a.tunnel, "127.0.0.1:1");
        assert_eq!(a.direct, "localhost:2");
        assert_eq!(a.streams, DEFAULT_STREAMS);
        assert_eq!(a.seconds, DEFAULT_SECONDS);
        assert_eq!(a.round_trips, DEFAULT_ROUND_TRIPS);
        assert_eq!(a.warmup, DEFAULT_WARMUP);
        assert_eq!(a.message_size, DEFAULT_MESSAGE_SIZE);
        assert_eq!(a.connections, DEFAULT_CONNECTIONS);
        assert_eq!(a.rtt_connections, DEFAULT_RTT_CONNECTIONS);
        assert_eq!(a.connections_per_stream, DEFAULT_CONNECTIONS_PER_STREAM);
        assert_eq!(a.json, None);
    }

    #[test]
    fn every_option_parses() {
        let a = tcp(&[
            "--tunnel=h:1",
            "--direct=h:2",
            "--streams=16",
            "--seconds=0.25",
            "--round-trips=10",
            "--warmup=0",
            "--message-size=1",
            "--connections=5",
            "--rtt-connections=7",
            "--connections-per-stream=3",
            "--json=out.json",
        ])
        .unwrap();
        assert_eq!((a.rtt_connections, a.connections_per_stream), (7, 3));
        assert_eq!(
            (a.streams, a.seconds, a.round_trips, a.warmup),
            (16, 0.25, 10, 0)
        );
        assert_eq!((a.message_size, a.connections), (1, 5));
        assert_eq!(a.json, Some(PathBuf::from("out.json")));
    }

    #[test]
    fn bad_values_are_refused() {
        let base = ["--tunnel=h:1", "--direct=h:2"];
        for bad in [
            "--streams=0",
            "--seconds=0",
            "--seconds=-1",
            "--seconds=nan",
            "--round-trips=0",
            "--message-size=0",
            "--message-size=70000",
            "--connections=0",
            "--rtt-connections=0",
            "--connections-per-stream=0",
        ] {
            let args: Vec<&str> = base.iter().copied().chain([bad]).collect();
            assert!(tcp(&args).is_err(), "{bad} accepted");
        }
        assert!(tcp(&["--tunnel=h:1"]).is_err(), "--direct is required");
    }

    #[tokio::test]
    async fn opts_resolve_the_addresses() {
        let a = tcp(&[
            "--tunnel=127.0.0.1:9",
            "--direct=127.0.0.1:10",
            "--seconds=0.5",
        ])
        .unwrap();
        let o = a.opts().await.unwrap();
        assert_eq!(o.tunnel.port(), 9);
        assert_eq!(o.direct.port(), 10);
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.rtt_connections, DEFAULT_RTT_CONNECTIONS);
        assert_eq!(o.connections_per_stream, DEFAULT_CONNECTIONS_PER_STREAM);
        let bad = tcp(&["--tunnel=no-such-host.invalid:9", "--direct=127.0.0.1:10"]).unwrap();
        assert!(bad.opts().await.is_err());
    }
}
