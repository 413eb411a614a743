//! `nowconnect-perf ldap …`: the original perf runner's options, each also from a `PERF_*`
//! variable (the flag wins). The password's variable value is never shown by `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::TypedValueParser as _;

use crate::PerfError;
use crate::ldap::{DEFAULT_MAX_IN_FLIGHT, LdapOpts, LdapTarget, Pacing, Scope};

pub const DEFAULT_LDAP_HOST: &str = "127.0.0.1";
pub const DEFAULT_LDAP_PORT: u16 = 389;
pub const DEFAULT_LDAPS_PORT: u16 = 636;
pub const DEFAULT_FILTER: &str = "(objectClass=*)";
pub const DEFAULT_SCOPE: &str = "sub";
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_CONCURRENCY: usize = 10;
pub const DEFAULT_RPS_PER_WORKER: f64 = 2.0;
pub const DEFAULT_DURATION: f64 = 30.0;
pub const DEFAULT_TIMEOUT: f64 = 10.0;
pub const DEFAULT_PROGRESS_INTERVAL: f64 = 1.0;

#[derive(Debug, Clone, Args)]
pub struct LdapArgs {
    /// Directory host (a hub listener for the tunnel path, the directory itself for direct).
    #[arg(long, env = "PERF_HOST", default_value = DEFAULT_LDAP_HOST)]
    pub host: String,
    /// Directory port [default: 389, or 636 with --ssl].
    #[arg(long, env = "PERF_PORT")]
    pub port: Option<u16>,
    /// LDAPS: TLS from the first byte.
    #[arg(long, env = "PERF_SSL", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub ssl: bool,
    /// With --ssl: accept any server certificate (self-signed test directories).
    #[arg(long, env = "PERF_INSECURE", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub insecure: bool,
    /// Bind DN; empty = anonymous.
    #[arg(long, env = "PERF_BIND_DN", default_value = "")]
    pub bind_dn: String,
    /// Bind password (prefer the variable: a flag shows in `ps`). Never printed.
    #[arg(
        long,
        env = "PERF_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub password: String,
    /// Search base.
    #[arg(long, env = "PERF_BASE_DN")]
    pub base_dn: String,
    /// Search filter (RFC 4515).
    #[arg(long, env = "PERF_FILTER", default_value = DEFAULT_FILTER, value_parser = parse_filter)]
    pub filter: String,
    /// Attributes to return, comma-separated; empty = all user attributes.
    #[arg(long, env = "PERF_ATTRS", default_value = "", value_parser = parse_attrs)]
    pub attrs: Attrs,
    /// Search scope: base, one or sub.
    #[arg(long, env = "PERF_SCOPE", default_value = DEFAULT_SCOPE, value_parser = Scope::parse)]
    pub scope: Scope,
    /// Entries per page (simple paged results); 0 = no paging.
    #[arg(long, env = "PERF_PAGE_SIZE", default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
    /// Workers, each with its own connection.
    #[arg(long, env = "PERF_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..=10_000).map(usize::from))]
    pub concurrency: usize,
    /// Searches per second per worker; 0 = back to back (closed loop only).
    #[arg(long, env = "PERF_RPS_PER_WORKER", default_value_t = DEFAULT_RPS_PER_WORKER,
          value_parser = parse_rps)]
    pub rps_per_worker: f64,
    /// Seconds to send requests for.
    #[arg(long, env = "PERF_DURATION", default_value_t = DEFAULT_DURATION,
          value_parser = parse_seconds)]
    pub duration: f64,
    /// Seconds allowed for connect + bind, and for one whole search.
    #[arg(long, env = "PERF_TIMEOUT", default_value_t = DEFAULT_TIMEOUT,
          value_parser = parse_seconds)]
    pub timeout: f64,
    /// Write the JSON report to FILE (stdout gets a short summary either way).
    #[arg(long, env = "PERF_OUT", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Open loop: fixed arrival times, latency from the scheduled send (no coordinated
    /// omission). Default: the runner's closed loop.
    #[arg(long, env = "PERF_OPEN_LOOP", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub open_loop: bool,
    /// Open loop: most requests in flight per worker.
    #[arg(long, env = "PERF_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000).map(|v| v as usize))]
    pub max_in_flight: usize,
    /// The report's `workload` label [default: <concurrency>x<rps>].
    #[arg(long, env = "PERF_WORKLOAD")]
    pub workload: Option<String>,
    /// The report's `run_id` [default: a fresh UUID].
    #[arg(long, env = "PERF_RUN_ID")]
    pub run_id: Option<String>,
    /// Seconds between progress lines on stderr.
    #[arg(long, env = "PERF_PROGRESS_INTERVAL", default_value_t = DEFAULT_PROGRESS_INTERVAL,
          value_parser = parse_seconds)]
    pub progress_interval: f64,
    /// No progress line.
    #[arg(long, env = "PERF_QUIET", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub quiet: bool,
    /// Exit with code 3 when a gate holds, e.g. `errors_total > 0, p99_ms > 200`
    /// (repeatable; see docs/benchmarks.md for the grammar).
    #[arg(long, env = "PERF_EXIT_ON", value_name = "EXPR")]
    pub exit_on: Vec<String>,
}

/// Attribute names (a newtype so clap does not read the value as a list of values).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attrs(pub Vec<String>);

fn parse_attrs(v: &str) -> Result<Attrs, String> {
    let attrs: Vec<String> = v
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    match attrs.iter().find(|a| {
        !a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-;.*+".contains(c))
    }) {
        Some(bad) => Err(format!("{bad:?} is not an attribute name")),
        None => Ok(Attrs(attrs)),
    }
}

fn parse_filter(v: &str) -> Result<String, String> {
    match ldap3::parse_filter(v) {
        Ok(_) => Ok(v.to_owned()),
        Err(_) => Err("not a valid LDAP filter (RFC 4515), e.g. (uid=user01)".into()),
    }
}

fn parse_rps(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=100_000.0).contains(&r) => Ok(r),
        _ => Err("expected requests per second, from 0 to 100000".into()),
    }
}

fn parse_seconds(v: &str) -> Result<f64, String> {
    super::parse_seconds(v)
}

impl LdapArgs {
    pub fn opts(&self) -> Result<LdapOpts, PerfError> {
        let secs = |s: f64| {
            Duration::try_from_secs_f64(s)
                .map_err(|e| PerfError::Options(format!("{s} seconds: {e}")))
        };
        if self.open_loop && self.rps_per_worker <= 0.0 {
            return Err(PerfError::Options(
                "--open-loop needs --rps-per-worker above 0".into(),
            ));
        }
        Ok(LdapOpts {
            target: LdapTarget {
                host: self.host.clone(),
                port: self.port.unwrap_or(if self.ssl {
                    DEFAULT_LDAPS_PORT
                } else {
                    DEFAULT_LDAP_PORT
                }),
                ssl: self.ssl,
                insecure: self.insecure,
                bind_dn: self.bind_dn.clone(),
                password: self.password.clone(),
                base_dn: self.base_dn.clone(),
                filter: self.filter.clone(),
                attrs: self.attrs.0.clone(),
                scope: self.scope,
                page_size: self.page_size,
            },
            concurrency: self.concurrency,
            rps_per_worker: self.rps_per_worker,
            duration: secs(self.duration)?,
            timeout: secs(self.timeout)?,
            pacing: if self.open_loop {
                Pacing::Open
            } else {
                Pacing::Closed
            },
            max_in_flight: self.max_in_flight,
            workload: self.workload.clone(),
            run_id: self.run_id.clone(),
            progress: if self.quiet {
                None
            } else {
                Some(secs(self.progress_interval)?)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn ldap(args: &[&str]) -> Result<LdapArgs, String> {
        let argv = ["nowconnect-perf", "ldap"].iter().chain(args);
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: Command::Ldap(a),
            }) => Ok(a),
            Ok(other) => Err(format!("not ldap: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn runner_options_and_defaults() {
        let a = ldap(&["--base-dn=dc=x"]).unwrap();
        let o = a.opts().unwrap();
        assert_eq!(o.target.url(), "ldap://127.0.0.1:389");
        assert_eq!(o.target.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(o.target.filter, DEFAULT_FILTER);
        assert_eq!(o.target.scope, Scope::Sub);
        assert!(o.target.attrs.is_empty() && o.target.bind_dn.is_empty());
        assert_eq!((o.concurrency, o.rps_per_worker), (10, 2.0));
        assert_eq!(o.duration, Duration::from_secs(30));
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.pacing, Pacing::Closed);
        assert_eq!(o.progress, Some(Duration::from_secs(1)));

        let a = ldap(&[
            "--host=ldap.example",
            "--ssl",
            "--bind-dn=cn=admin,dc=x",
            "--password=pw",
            "--base-dn=dc=x",
            "--filter=(uid=user01)",
            "--attrs=cn, uid,mail",
            "--scope=one",
            "--page-size=50",
            "--concurrency=20",
            "--rps-per-worker=3",
            "--duration=0.5",
            "--timeout=2",
            "--out=r.json",
            "--open-loop",
            "--quiet",
            "--exit-on=errors_total > 0",
            "--exit-on=p99_ms > 200",
        ])
        .unwrap();
        let o = a.opts().unwrap();
        assert_eq!(o.target.url(), "ldaps://ldap.example:636");
        assert_eq!(o.target.attrs, ["cn", "uid", "mail"]);
        assert_eq!((o.target.scope, o.target.page_size), (Scope::One, 50));
        assert_eq!((o.concurrency, o.rps_per_worker), (20, 3.0));
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!((o.pacing, o.progress), (Pacing::Open, None));
        assert_eq!(a.out, Some(PathBuf::from("r.json")));
        assert_eq!(a.exit_on.len(), 2);
        assert_eq!(
            ldap(&["--base-dn=x", "--ssl=false", "--port=1389"])
                .unwrap()
                .opts()
                .unwrap()
                .target
                .url(),
            "ldap://127.0.0.1:1389"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "--filter=(uid=user01",
            "--filter=uid",
            "--scope=tree",
            "--attrs=c n",
            "--concurrency=0",
            "--rps-per-worker=-1",
            "--rps-per-worker=nan",
            "--duration=0",
            "--timeout=-2",
            "--port=70000",
            "--page-size=-1",
        ] {
            assert!(ldap(&["--base-dn=x", bad]).is_err(), "{bad} accepted");
        }
        assert!(ldap(&[]).is_err(), "--base-dn is required");
        let open_unpaced = ldap(&["--base-dn=x", "--open-loop", "--rps-per-worker=0"]).unwrap();
        assert!(open_unpaced.opts().is_err());
    }

    #[test]
    fn help_never_shows_the_password() {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        let help = cmd
            .find_subcommand_mut("ldap")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("PERF_PASSWORD") && help.contains("PERF_HOST"),
            "{help}"
        );
        let o = ldap(&["--base-dn=x", "--password=hunter2"])
            .unwrap()
            .opts()
            .unwrap();
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
