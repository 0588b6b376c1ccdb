//! The `capstan` binary: parse etcd-style configuration, start logging, run.

use std::process::ExitCode;

use capstan::config::{Config, LoadOutcome};

fn main() -> ExitCode {
    // Everything this process creates (database, WAL, snapshots) is private
    // to its user, as etcd's files are (0600, directories 0700).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let config = match Config::load() {
        Ok(LoadOutcome::Run(config)) => *config,
        Ok(LoadOutcome::Exit(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("capstan: {e}");
            return ExitCode::from(2);
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
