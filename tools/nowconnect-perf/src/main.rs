//! `nowconnect-perf`: parse the command line, run the mode, print the report (and write it as
//! JSON with `--json FILE`). Errors are one line on stderr and exit code 1.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser as _;
use nowconnect_perf::PerfError;
use nowconnect_perf::cli::{Cli, Command, EchoArgs, TcpArgs};

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
            Command::Echo(args) => echo(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("nowconnect-perf: error: {msg}");
    ExitCode::FAILURE
}

async fn tcp(args: TcpArgs) -> Result<(), PerfError> {
    let opts = args.opts().await?;
    let report = nowconnect_perf::tcp::run(&opts).await?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        let report_error = |source| PerfError::Report {
            path: path.display().to_string(),
            source,
        };
        let json = report
            .to_json()
            .map_err(|e| report_error(std::io::Error::other(e)))?;
        std::fs::write(path, json + "\n").map_err(report_error)?;
    }
    Ok(())
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
