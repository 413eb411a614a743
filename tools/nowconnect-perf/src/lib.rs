//! NowConnect's load tool (SPEC §9): drives real traffic through a hub listener (the *tunnel*
//! path) and straight to the same target (the *direct* path) in one run, alternating the two so
//! that machine drift hits both, and reports every figure with its ratio tunnel/direct.
//!
//! Main types: [`tcp::TcpOpts`] → [`tcp::run`] → [`report::TcpReport`] (human table with
//! [`report::TcpReport::render`], JSON through serde); [`stats::Summary`] for latencies;
//! [`echo::serve`], an echo target to point both paths at; [`relay::serve`], a plain TCP relay
//! (two in series: the floor a two-hop tunnel is compared with); [`cli::Cli`], the command line
//! (`nowconnect-perf tcp …`, `nowconnect-perf echo …`; options also from `NC_PERF_*`).
//!
//! The raw TCP mode measures, per path: bulk throughput on one stream and on N parallel streams
//! (bytes echoed back per second; each stream a sequence of K connections), 64-byte
//! request/response round trips spread over M kept connections (p50/p99), and connection
//! set-up (connect → first echoed byte, connections per second). Spreading over many
//! connections keeps the figures honest against a hub that traces a share of its connections.
//!
//! The LDAP mode ([`ldap::LdapOpts`] → [`ldap::run`] → [`ldap::LdapReport`]) is the original
//! perf runner's workload against one address (options from `PERF_*`), closed or open loop,
//! with a progress line on stderr. [`gate`] parses `--exit-on` conditions on either report, so
//! a run can serve as a smoke test (exit code 3 when one holds).
//!
//! Deliberately absent: assertions on figures inside the library — a benchmark prints figures;
//! only an operator's explicit `--exit-on` turns one into a pass or fail.

pub mod cli;
pub mod clock;
pub mod echo;
pub mod error;
pub mod gate;
pub mod ldap;
pub mod relay;
pub mod report;
pub mod stats;
pub mod table;
pub mod tcp;

pub use error::PerfError;
