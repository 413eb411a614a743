//! `nowconnect-perf`: parse the command line, run the mode, print the report (and write it as
//! JSON with `--json FILE` / `--out FILE`). Exit codes: 0 done, 1 error (one line on stderr),
//! 2 bad command line, 3 an `--exit-on` gate held.

#![allow(clippy::print_stdout)]

use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;
use nowconnect_perf::PerfError;
use nowconnect_perf::cli::{Cli, Command, EchoArgs, LdapArgs, RelayArgs, TcpArgs};
use nowconnect_perf::gate::{self, Gate};
use nowconnect_perf::ldap::LdapReport;

/// The exit code of a run where an `--exit-on` gate held.
const EXIT_GATE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("starting the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Tcp(args) => tcp(args).await,
            Command::Ldap(args) => ldap(args).await,
            Command::Echo(args) => echo(args).await.map(|()| Vec::new()),
            Command::Relay(args) => relay(args).await.map(|()| Vec::new()),
        }
    });
    match result {
        Ok(tripped) if tripped.is_empty() => ExitCode::SUCCESS,
        Ok(tripped) => {
            for t in &tripped {
                eprintln!("nowconnect-perf: exit-on gate held: {t}");
            }
            ExitCode::from(EXIT_GATE)
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("nowconnect-perf: error: {msg}");
    ExitCode::FAILURE
}

async fn tcp(args: TcpArgs) -> Result<Vec<gate::Tripped>, PerfError> {
    let gates = gate::parse_all(&args.exit_on)?;
    let opts = args.opts().await?;
    if !gates.is_empty() {
        gate::check_names(
            &gates,
            &json_value(&nowconnect_perf::report::TcpReport::shape(&opts))?,
        )?;
    }
    let report = nowconnect_perf::tcp::run(&opts).await?;
    print!("{}", report.render());
    let json = report.to_json().map_err(json_error)?;
    if let Some(path) = &args.json {
        write(path, &json)?;
    }
    evaluate(&gates, &json)
}

async fn ldap(args: LdapArgs) -> Result<Vec<gate::Tripped>, PerfError> {
    let gates = gate::parse_all(&args.exit_on)?;
    let opts = args.opts()?;
    if !gates.is_empty() {
        gate::check_names(&gates, &json_value(&LdapReport::shape(&opts))?)?;
    }
    let report = nowconnect_perf::ldap::run(&opts).await?;
    print!("{}", report.render());
    let json = report.to_json().map_err(json_error)?;
    if let Some(path) = &args.out {
        write(path, &json)?;
    }
    evaluate(&gates, &json)
}

fn evaluate(gates: &[Gate], json: &str) -> Result<Vec<gate::Tripped>, PerfError> {
    if gates.is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value = serde_json::from_str(json).map_err(json_error)?;
    Ok(gate::evaluate(gates, &value)?)
}

fn json_value<T: serde::Serialize>(report: &T) -> Result<serde_json::Value, PerfError> {
    serde_json::to_value(report).map_err(json_error)
}

fn json_error(e: serde_json::Error) -> PerfError {
    PerfError::Task(format!("encoding the report: {e}"))
}

fn write(path: &Path, json: &str) -> Result<(), PerfError> {
    std::fs::write(path, format!("{json}\n")).map_err(|source| PerfError::Report {
        path: path.display().to_string(),
        source,
    })
}

async fn echo(args: EchoArgs) -> Result<(), PerfError> {
    let addr = nowconnect_perf::tcp::resolve(&args.listen).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(PerfError::io("binding the echo listener"))?;
    let local = listener
        .local_addr()
        .map_err(PerfError::io("reading the echo address"))?;
    eprintln!("nowconnect-perf: echo on {local} (Ctrl-C stops)");
    tokio::select! {
        () = nowconnect_perf::echo::serve(listener) => Ok(()),
        r = tokio::signal::ctrl_c() => r.map_err(PerfError::io("waiting for Ctrl-C")),
    }
}

async fn relay(args: RelayArgs) -> Result<(), PerfError> {
    let addr = nowconnect_perf::tcp::resolve(&args.listen).await?;
    let upstream = nowconnect_perf::tcp::resolve(&args.to).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(PerfError::io("binding the relay listener"))?;
    let local = listener
        .local_addr()
        .map_err(PerfError::io("reading the relay address"))?;
    eprintln!("nowconnect-perf: relay {local} -> {upstream} (Ctrl-C stops)");
    tokio::select! {
        () = nowconnect_perf::relay::serve(listener, upstream) => Ok(()),
        r = tokio::signal::ctrl_c() => r.map_err(PerfError::io("waiting for Ctrl-C")),
    }
}
