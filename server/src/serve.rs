//! The listeners: on the client URLs gRPC (etcd v3 API) and HTTP (health,
//! version, metrics) on the same port, as etcd serves them; on the peer URLs
//! the member-to-member protocol.

use std::net::SocketAddr;

use anyhow::Context;
use capstan_proto::capstanpb::peer_server::PeerServer;
use capstan_proto::etcdserverpb::auth_server::AuthServer;
use capstan_proto::etcdserverpb::cluster_server::ClusterServer;
use capstan_proto::etcdserverpb::kv_server::KvServer;
use capstan_proto::etcdserverpb::lease_server::LeaseServer;
use capstan_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use capstan_proto::etcdserverpb::watch_server::WatchServer;
use capstan_proto::v3electionpb::election_server::ElectionServer;
use capstan_proto::v3lockpb::lock_server::LockServer;

use crate::api;
use crate::bootstrap::StartedMember;
use crate::config::Config;

/// The sockets a member serves on, bound before it starts: by
/// [`Listeners::bind`] from the configured URLs, or by a caller that chose
/// them itself (tests bind port 0 and learn the ports before configuring).
pub struct Listeners {
    /// One per `--listen-client-urls` address: gRPC, HTTP and the gateway.
    pub client: Vec<tokio::net::TcpListener>,
    /// One per `unix://` URL of `--listen-client-urls`: the same services.
    pub client_unix: Vec<UnixSocket>,
    /// One per `--listen-peer-urls` address: the member-to-member protocol.
    pub peer: Vec<tokio::net::TcpListener>,
}

impl Listeners {
    /// Binds the addresses of `--listen-client-urls` and `--listen-peer-urls`.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        async fn bind_all(addrs: Vec<SocketAddr>) -> anyhow::Result<Vec<tokio::net::TcpListener>> {
            let mut out = Vec::new();
            for addr in addrs {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listen tcp {addr}: bind: address already in use or not permitted"))?;
                out.push(listener);
            }
            Ok(out)
        }
        let peer = bind_all(config.peer_listen_addrs().context("parsing --listen-peer-urls")?).await?;
        let client = bind_all(config.client_listen_addrs().context("parsing --listen-client-urls")?).await?;
        let mut client_unix = Vec::new();
        for path in config.client_listen_unix_paths().context("parsing --listen-client-urls")? {
            client_unix.push(UnixSocket::bind(path)?);
        }
        Ok(Self { client, peer, client_unix })
    }
}

/// A listening unix socket; its file is removed when it is dropped, as etcd
/// removes it when it closes the listener.
pub struct UnixSocket {
    listener: Option<tokio::net::UnixListener>,
    path: std::path::PathBuf,
}

impl UnixSocket {
    /// Listens on `path`, replacing a file left there by a previous run (etcd
    /// removes it too before listening).
    pub fn bind(path: impl Into<std::path::PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("listen unix {}: remove stale socket", path.display()));
            }
            _ => {}
        }
        let listener =
            tokio::net::UnixListener::bind(&path).with_context(|| format!("listen unix {}: bind", path.display()))?;
        Ok(Self { listener: Some(listener), path })
    }

    fn take(&mut self) -> tokio::net::UnixListener {
        self.listener.take().expect("a unix socket is served once")
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The largest message the peer port decodes. Not the client limit: members
/// send Raft appends of whole proposal batches and snapshot chunks of
/// several MiB (a 2 MiB limit here left a lagging member waiting forever for
/// a snapshot it refused chunk after chunk). Only the cluster's members are
/// admitted past the first call (`api::peer`).
const PEER_MAX_MESSAGE: usize = 64 << 20;

pub async fn serve(
    config: &Config,
    member: StartedMember,
    listeners: Listeners,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let server = member.server.clone();
    // etcd's transport limit: a message is refused at its length prefix,
    // before it is buffered, when it exceeds --max-request-bytes by more
    // than etcd's gRPC overhead (with grpc-go's words, see message_limit).
    let max_message = server.options().max_request_bytes + api::GRPC_OVERHEAD_BYTES;
    macro_rules! svc {
        ($wrapper:ident, $inner:expr) => {
            $wrapper::new($inner).max_decoding_message_size(max_message).max_encoding_message_size(usize::MAX)
        };
    }
    // grpc.health.v1.Health: etcd reports the server ("") as SERVING once it serves.
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let grpc = tonic::service::Routes::new(svc!(KvServer, api::kv::KvService::new(server.clone())))
        .add_service(svc!(WatchServer, api::watch::WatchService::new(server.hub().clone(), server.headers().clone())))
        .add_service(svc!(LeaseServer, api::lease::LeaseService::new(server.clone())))
        .add_service(svc!(ClusterServer, api::cluster::ClusterService::new(server.clone())))
        .add_service(svc!(MaintenanceServer, api::maintenance::MaintenanceService::new(server.clone())))
        .add_service(svc!(AuthServer, api::auth::AuthService::new(server.clone())))
        .add_service(svc!(LockServer, api::lock::LockService::new(api::recipes::Recipes::new(server.clone()))))
        .add_service(svc!(
            ElectionServer,
            api::election::ElectionService::new(api::recipes::Recipes::new(server.clone()))
        ))
        .add_service(health_service);
    let router = grpc
        .into_axum_router()
        .layer(axum::middleware::map_response(crate::http::message_limit::etcd_refusal))
        .layer(axum::middleware::map_request(crate::http::go_debug::log_authority))
        .layer(axum::middleware::from_fn_with_state(server.clone(), api::guard::check))
        .layer(crate::http::GrpcMetricsLayer::new(member.metrics.clone()))
        .merge(crate::http::router(server.clone(), member.metrics.clone()))
        .merge(crate::http::gateway::for_member(config, &member));

    let mut tasks = Vec::new();
    let peer_router = tonic::service::Routes::new(
        PeerServer::new(api::peer::PeerService::new(server.clone()))
            .max_decoding_message_size(PEER_MAX_MESSAGE)
            .max_encoding_message_size(usize::MAX),
    )
    .into_axum_router();
    for listener in listeners.peer {
        tracing::info!(address = %listener.local_addr()?, "serving peer traffic");
        // Without TCP_NODELAY, a Raft reply written as several small frames
        // waits for the peer's delayed ACK (40 ms on Linux) behind Nagle.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let router = peer_router.clone();
        let mut stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }

    for listener in listeners.client {
        tracing::info!(address = %listener.local_addr()?, "serving client traffic (gRPC and HTTP)");
        let router = router.clone();
        let mut stop = shutdown.clone();
        let ready = server.clone();
        tasks.push(tokio::spawn(async move {
            if !serve_when_ready(&ready, &mut stop).await {
                return Ok(());
            }
            let listener = crate::http::authority::FixingListener(listener);
            let listener = crate::http::conn_limit::LimitedListener::new(
                listener,
                crate::http::conn_limit::MAX_CLIENT_CONNECTIONS,
            );
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    for mut socket in listeners.client_unix {
        let listener = socket.take();
        tracing::info!(path = %socket.path.display(), "serving client traffic (gRPC and HTTP) on a unix socket");
        let router = router.clone();
        let mut stop = shutdown.clone();
        let ready = server.clone();
        tasks.push(tokio::spawn(async move {
            if !serve_when_ready(&ready, &mut stop).await {
                return Ok(());
            }
            let listener = crate::http::authority::FixingUnixListener(listener);
            let listener = crate::http::conn_limit::LimitedListener::new(
                listener,
                crate::http::conn_limit::MAX_CLIENT_CONNECTIONS,
            );
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            drop(socket); // removes the socket file
            served
        }));
    }
    // etcd's line, once the member has joined, published itself and caught
    // up (tools wait for it); the client listeners start serving then.
    tokio::select! {
        _ = server.wait_ready() => tracing::info!("ready to serve client requests"),
        _ = shutdown.wait_for(|s| *s) => {}
    }
    let _ = shutdown.wait_for(|s| *s).await;
    // Watch streams never end on their own: stopping the hub ends them with
    // Unavailable (clients reconnect elsewhere) so the listeners can drain.
    let hub = server.hub().clone();
    let _ = tokio::task::spawn_blocking(move || hub.shutdown()).await;
    // Streams (watch, keep-alive) never end on their own; give unary calls a
    // moment to finish, then stop.
    for t in tasks {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
    }
    // Shutdown order: listeners (above), then the service's background tasks
    // (proposer, read-index rounds, log retention, publication, quorum
    // monitor, compactor, lease keeper), then Raft, then the memtable flush.
    server.join_background(std::time::Duration::from_secs(5)).await;
    let _ = server.raft().shutdown().await;
    // Nothing is lost without this (the WAL holds it); it makes the next start faster.
    let engine = server.engine().clone();
    match tokio::task::spawn_blocking(move || engine.flush_all()).await {
        Ok(Err(e)) => tracing::warn!(error = %e, "flushing memtables at shutdown failed"),
        Err(e) => tracing::warn!(error = %e, "flushing memtables at shutdown failed"),
        Ok(Ok(())) => {}
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits until the member is ready (see `service::publish`) before a client
/// listener serves, as etcd's client listeners do (`<-s.ReadyNotify()`):
/// until then connections wait in the listen backlog, so no client reads
/// from a member that has not joined or caught up (a member re-added after
/// losing its data would answer revisions from before its catch-up). False
/// if shutdown came first.
async fn serve_when_ready(server: &crate::service::Server, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = server.wait_ready() => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}
