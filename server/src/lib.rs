//! Capstan: an etcd-compatible key-value store replicated with Raft.
//!
//! Layers (dependencies point down): `api` (gRPC services) and `http` →
//! `service` (writes through Raft, reads through read-index) → `raft`,
//! `mvcc`, `watch`, `lease`, `membership` → `storage` (RocksDB).

// The public surface is what the binary and the integration tests use:
// configuration, telemetry and `run`. Everything else is internal, so the
// compiler reports what nothing uses.
pub mod config;
pub mod telemetry;

mod api;
mod auth;
mod bootstrap;
mod http;
mod lease;
mod membership;
mod metrics;
mod mvcc;
mod peer;
mod raft;
mod serve;
mod service;
mod snapshot;
mod storage;
mod systemd;
mod tls;
mod watch;

pub use serve::{Listeners, UnixSocket};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

/// Runs a member until SIGINT or SIGTERM, then shuts down in order.
pub async fn run_until_signal(config: config::Config) -> anyhow::Result<()> {
    config.validate().context("invalid configuration")?;
    let listeners = Listeners::bind(&config).await?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("received signal; shutting down");
        let _ = stop.send(true);
    });
    run(config, listeners, shutdown).await
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

/// Runs a member with `config` on `listeners` until `shutdown` becomes true
/// or the member learns it was removed from the cluster. The listeners are
/// the caller's, so that tests can run members on ports of their choosing
/// (port 0) and several members in one process.
pub async fn run(
    config: config::Config,
    listeners: Listeners,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    config.validate().context("invalid configuration")?;
    // Stops the member on the caller's signal, or when it learns it was
    // removed from the cluster.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut outer = shutdown.clone();
    let forward_stop = stop.clone();
    let stop_for_fatal = stop.clone();
    tokio::spawn(async move {
        let _ = outer.wait_for(|s| *s).await;
        let _ = forward_stop.send(true);
    });
    // TLS first: a bad certificate or setting stops the member before it
    // touches its data or the cluster.
    let tls = tls::MemberTls::from_config(&config)?;
    let member = bootstrap::start(&config, &tls.dialer, stopping.clone()).await?;
    let mut removed = member.server.members().watch_self_removed();
    let was_removed = Arc::new(AtomicBool::new(false));
    let flag = was_removed.clone();
    tokio::spawn(async move {
        if removed.wait_for(|r| *r).await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            tracing::error!(
                "the member has been permanently removed from the cluster; the data-dir used by this member must be removed"
            );
            let _ = stop.send(true);
        }
    });
    // A storage failure (disk full, I/O error) stops openraft's core: the
    // member can no longer persist anything. etcd exits at once in that case
    // ("failed to save Raft hard state and entries"), so the process
    // supervisor restarts it once the disk is fixed; so does Capstan, rather
    // than linger with a live /livez and writes that can never succeed.
    let mut raft_state = member.server.raft().metrics();
    let fatal: Arc<parking_lot::Mutex<Option<String>>> = Arc::default();
    let fatal_seen = fatal.clone();
    let stop_on_fatal = stop_for_fatal;
    tokio::spawn(async move {
        while raft_state.changed().await.is_ok() {
            let error = match &raft_state.borrow().running_state {
                Err(openraft::error::Fatal::Stopped) | Ok(()) => None,
                Err(e) => Some(e.to_string()),
            };
            if let Some(error) = error {
                tracing::error!(error = %error, "failed to save Raft hard state and entries; stopping");
                *fatal_seen.lock() = Some(error);
                let _ = stop_on_fatal.send(true);
                return;
            }
        }
    });
    serve::serve(&config, &tls, member, listeners, stopping).await?;
    if let Some(error) = fatal.lock().take() {
        anyhow::bail!("the member stopped after a storage failure: {error}");
    }
    if was_removed.load(Ordering::SeqCst) {
        // etcd exits with status 0 here: the removal was an operator's choice.
        tracing::warn!("stopped: the member has been permanently removed from the cluster");
    }
    Ok(())
}
