//! The `capstan` binary: parse etcd-style configuration, start logging, run.

use std::process::ExitCode;

use capstan::config::{Config, LoadOutcome};

/// jemalloc (with its background purging threads) instead of glibc's malloc
/// for Rust's allocations: glibc kept the memory of closed client connections
/// (about 100 KiB each, measured with 2 000 idle HTTP/2 connections: RSS
/// 37 -> 241 MiB, still 241 MiB after they closed) in its per-thread arenas,
/// so a burst of connections raised the member's RSS for good. jemalloc gives
/// it back within seconds (45 MiB again 15 s after they closed; mimalloc,
/// also tried, kept it). RocksDB's own allocations stay with glibc.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Everything this process creates (database, WAL, snapshots) is private
    // to its user, as etcd's files are (0600, directories 0700).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let config = match Config::load() {
        Ok(LoadOutcome::Run(config)) => *config,
        Ok(LoadOutcome::Exit(text)) => {
            // Not println!: `capstan --version | head -1` closes the pipe
            // early, and that is no reason to panic.
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("capstan: {e}");
            // etcd's statuses: 2 for command-line syntax, 1 for the rest.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1));
        }
    };
    capstan::telemetry::init(&config);
    config.log_notices();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("capstan").build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("capstan: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(capstan::run_until_signal(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "capstan stopped");
            eprintln!("capstan: {e:#}");
            ExitCode::FAILURE
        }
    }
}
