//! The `capstan` binary: parse etcd-style configuration, start logging, run.

use std::process::ExitCode;

use capstan::config::{Config, LoadOutcome};

fn main() -> ExitCode {
    let config = match Config::load() {
        Ok(LoadOutcome::Run(config)) => *config,
        Ok(LoadOutcome::Exit(text)) => {
            println!("{text}");
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
