//! Capstan: an etcd-compatible key-value store replicated with Raft.
//!
//! Layers (dependencies point down): `api` (gRPC services) and `http` →
//! `service` (writes through Raft, reads through read-index) → `raft`,
//! `mvcc`, `watch`, `lease`, `membership` → `storage` (RocksDB).

pub mod api;
pub mod config;
pub mod http;
pub mod lease;
pub mod membership;
pub mod metrics;
pub mod mvcc;
pub mod raft;
pub mod service;
pub mod snapshot;
pub mod storage;
pub mod telemetry;
pub mod watch;

mod bootstrap;
mod serve;

use anyhow::Context;

pub use bootstrap::Identity;

/// Runs a member until SIGINT or SIGTERM, then shuts down in order.
pub async fn run_until_signal(config: config::Config) -> anyhow::Result<()> {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("received signal; shutting down");
        let _ = stop.send(true);
    });
    run(config, shutdown).await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs a member with `config` until `shutdown` becomes true.
pub async fn run(config: config::Config, shutdown: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<()> {
    config.validate().context("invalid configuration")?;
    let member = bootstrap::start(&config, shutdown.clone()).await?;
    serve::serve(&config, member, shutdown).await
}
