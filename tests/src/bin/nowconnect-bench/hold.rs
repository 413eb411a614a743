//! `nowconnect-bench hold`: one hub + agent pair (release binaries, real key and token) in
//! front of a separate `nowconnect-perf echo` process, kept up until Ctrl-C. For profiling:
//! point `nowconnect-perf tcp` at the printed addresses and `perf` / `valgrind` at the pids.

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use anyhow::Context as _;
use clap::Args;
use nowconnect_e2e::creds::Creds;
use nowconnect_e2e::procs::Proc;

use crate::stack::{Stack, StackOpts};

#[derive(Debug, Args)]
pub(crate) struct HoldArgs {
    /// Keep both ends on V1 (default: V2).
    #[arg(long)]
    v1: bool,
    /// `runtime.worker_threads` of hub and agent (default: theirs, one per CPU).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Extra environment for hub and agent, e.g. `--env TOKIO_WORKER_THREADS=1` (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value)]
    env: Vec<(String, String)>,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.to_owned(), v.to_owned()))
}

pub(crate) async fn run(args: HoldArgs, work: &Path) -> anyhow::Result<()> {
    let creds = tokio::task::spawn_blocking(Creds::new).await?;
    let echo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
    let _echo = Proc::spawn(
        "nowconnect-perf",
        &["echo", "--listen", &echo.to_string()],
        &HashMap::new(),
        &work.join("hold-echo.log"),
    );
    crate::suite::wait_port(echo).await?;
    let opts = StackOpts {
        v2: !args.v1,
        worker_threads: args.worker_threads,
        ..StackOpts::default()
    };
    let env: HashMap<String, String> = args.env.into_iter().collect();
    let stack = Stack::start(&creds, work, "hold", &env, echo, &opts).await?;
    let (hub, agent) = stack.pids();
    println!("protocol {}", stack.protocol);
    println!(
        "tunnel   {}   (hub pid {hub}, agent pid {agent})",
        stack.listener
    );
    println!("direct   {echo}   (nowconnect-perf echo)");
    println!(
        "try:     nowconnect-perf tcp --tunnel {} --direct {echo}",
        stack.listener
    );
    println!("logs in {}; Ctrl-C stops", work.display());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    stack.stop().await
}
