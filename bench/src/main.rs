//! capstan-bench: a load generator for etcd-compatible servers, in the spirit of etcd's
//! `benchmark` tool. Connects, runs one workload, prints the report as text and, as the
//! last line, `RESULT {json}` (with `--json`: only the JSON line).

mod cli;
mod conn;
mod stats;
mod workload;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Workload};
use crate::workload::Ctx;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.global.validate() {
        eprintln!("capstan-bench: {e}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan-bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capstan-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global;
    let (channels, targets, tls) = conn::connect(&g).await?;
    let show = !g.no_progress && (g.progress || std::io::stderr().is_terminal());
    let progress = workload::progress_bar(g.total, show);
    let ctx = Ctx { opts: g.clone(), channels, progress };
    let mut report = match &cli.workload {
        Workload::Put(o) => workload::put::run(&ctx, o).await?,
        Workload::Range(o) => workload::range::run(&ctx, o).await?,
        Workload::TxnPut(o) => workload::txn::run(&ctx, o).await?,
        Workload::Watch(o) => workload::watch::run(&ctx, o).await?,
        Workload::LeaseKeepalive(o) => workload::lease::run(&ctx, o).await?,
    };
    ctx.progress.finish_and_clear();
    report.label = g.label.clone();
    let global = serde_json::json!({
        "endpoints": targets,
        "target_leader": g.target_leader,
        "tls": tls,
        "conns": g.conns,
        "clients": g.clients,
        "total": g.total,
        "duration_s": g.duration,
        "rate": g.rate,
    });
    for (k, v) in workload::obj(global) {
        report.config.insert(k, v);
    }
    debug_assert_eq!(report.workload, cli.workload.name());
    if g.json {
        println!("{}", report.to_json_line());
    } else {
        print!("{}", report.to_text());
        println!("RESULT {}", report.to_json_line());
    }
    Ok(())
}
