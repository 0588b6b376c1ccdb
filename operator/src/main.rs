//! `capstan-operator`: wiring only. Parse flags, set up JSON logs, serve
//! `/metrics` and `/healthz`, win the leader lease, run the controller until
//! SIGTERM/SIGINT (or until the lease is lost, which exits non-zero so the
//! pod restarts as a follower), then release the lease.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use capstan_operator::controller::{self, Context};
use capstan_operator::leader::{Elector, LeaseConfig};
use capstan_operator::metrics::Metrics;
use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::sync::watch;

/// Kubernetes operator for Capstan clusters (`EtcdCluster` resources).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the /metrics and /healthz server.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Image repository of members whose spec gives no image; tagged with spec.version.
    #[arg(long, env = "CAPSTAN_IMAGE_REPOSITORY", default_value = "capstan")]
    image_repository: String,
    /// Elect a leader through a Lease (disable only for a single replica run by hand).
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "capstan-operator")]
    lease_name: String,
    /// Namespace of the leader Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease and in Events.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `capstan_operator=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log format: `json` or `text`.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    log_format: String,
}

fn init_logs(args: &Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format.as_str() {
        "json" => builder.json().flatten_event(true).init(),
        "text" => builder.init(),
        other => anyhow::bail!("--log-format must be json or text, not {other:?}"),
    }
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Resolves once `rx` has seen `true`.
async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logs(&args)?;
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "capstan-operator".to_string());

    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await?;
    let http = tokio::spawn(
        axum::serve(listener, capstan_operator::http::router(metrics.clone()))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    tracing::info!(addr = %args.metrics_addr, %identity, "capstan-operator starting");

    let elector = args.leader_elect.then(|| {
        Elector::new(
            Api::<Lease>::namespaced(client.clone(), &args.lease_namespace),
            LeaseConfig {
                name: args.lease_name.clone(),
                identity: identity.clone(),
                duration: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
            },
        )
    });

    let signals = tokio::spawn({
        let stop_tx = stop_tx.clone();
        async move {
            signal().await;
            tracing::info!("shutdown requested");
            let _ = stop_tx.send(true);
        }
    });

    let mut lost = None;
    let leading = match &elector {
        Some(e) => tokio::select! {
            r = e.acquire() => { r?; true }
            _ = stopped(stop_rx.clone()) => false,
        },
        None => true,
    };
    if leading {
        metrics.leader.set(1);
        tracing::info!("leading; starting the controller");
        let ctx =
            Arc::new(Context::new(client.clone(), metrics.clone(), args.image_repository.clone(), Some(identity)));
        let run = controller::run(ctx, args.watch_namespace.clone(), stopped(stop_rx.clone()));
        tokio::pin!(run);
        match &elector {
            Some(e) => tokio::select! {
                _ = &mut run => {}
                err = e.hold() => {
                    tracing::error!(error = %err, "leadership lost; stopping");
                    lost = Some(err);
                    let _ = stop_tx.send(true);
                    run.await;
                }
            },
            None => run.await,
        }
        metrics.leader.set(0);
        if let (Some(e), None) = (&elector, &lost) {
            e.release().await;
        }
    }
    let _ = stop_tx.send(true);
    signals.abort();
    http.await??;
    tracing::info!("capstan-operator stopped");
    match lost {
        Some(err) => Err(err.into()),
        None => Ok(()),
    }
}
