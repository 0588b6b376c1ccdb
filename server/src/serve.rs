//! The listeners: on the client URLs gRPC (etcd v3 API) and HTTP (health,
//! version, metrics) on the same port, as etcd serves them; on the peer URLs
//! the member-to-member protocol.

use std::net::SocketAddr;
use std::sync::Arc;

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
use crate::config::{Config, ParsedUrl, UrlScheme};
use crate::http::authority::FixingListener;
use crate::http::conn_limit::{LimitedListener, MAX_CLIENT_CONNECTIONS};
use crate::tls::listener::ClientCommonName;
use crate::tls::listener::{Mode, SecureListener};
use crate::tls::{MemberTls, ServerTls, Side};

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
    /// One per `--listen-metrics-urls` address: `/metrics` and the health checks.
    pub metrics: Vec<tokio::net::TcpListener>,
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
        let metrics = bind_all(config.metrics_listen_addrs().context("parsing --listen-metrics-urls")?).await?;
        let mut client_unix = Vec::new();
        for path in config.client_listen_unix_paths().context("parsing --listen-client-urls")? {
            client_unix.push(UnixSocket::bind(path)?);
        }
        Ok(Self { client, peer, client_unix, metrics })
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

/// The client listeners as `serve` stacks them, over TCP and unix sockets.
type ClientListener<L> = LimitedListener<FixingListener<SecureListener<L>>>;

/// Requests on the client listeners carry the connection's client
/// certificate common name (axum's blanket impl rules out a generic one).
macro_rules! client_common_name {
    ($($l:ty),*) => {$(
        impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ClientListener<$l>>>
            for ClientCommonName
        {
            fn connect_info(stream: axum::serve::IncomingStream<'_, ClientListener<$l>>) -> Self {
                ClientCommonName::of(stream.remote_addr())
            }
        }
    )*};
}
client_common_name!(tokio::net::TcpListener, tokio::net::UnixListener);

pub async fn serve(
    config: &Config,
    tls: &MemberTls,
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
        .add_service(svc!(WatchServer, api::watch::WatchService::of(server.clone())))
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
    let peer_urls = config.listen_peer_urls_parsed()?;
    let skip_peer_san = config.peer_tls().skip_client_san_verify;
    for listener in listeners.peer {
        let addr = listener.local_addr()?;
        let mode = mode_for(&peer_urls, addr, tls.peer.as_ref());
        tracing::info!(address = %addr, tls = is_tls(&mode), "serving peer traffic");
        let listener = SecureListener::spawn(listener, mode, Side::Peer, !skip_peer_san);
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

    let client_urls = config.listen_client_urls_parsed()?;
    for listener in listeners.client {
        let addr = listener.local_addr()?;
        let mode = mode_for(&client_urls, addr, tls.client.as_ref());
        tracing::info!(address = %addr, tls = is_tls(&mode), "serving client traffic (gRPC and HTTP)");
        let router = router.clone();
        let mut stop = shutdown.clone();
        let ready = server.clone();
        tasks.push(tokio::spawn(async move {
            if !serve_when_ready(&ready, &mut stop).await {
                return Ok(());
            }
            let listener = SecureListener::spawn(listener, mode, Side::Client, false);
            let listener = LimitedListener::new(FixingListener(listener), MAX_CLIENT_CONNECTIONS);
            axum::serve(listener, router.into_make_service_with_connect_info::<ClientCommonName>())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    for mut socket in listeners.client_unix {
        let listener = socket.take();
        let mode = unix_mode(&client_urls, &socket.path, tls.client.as_ref());
        tracing::info!(path = %socket.path.display(), tls = is_tls(&mode), "serving client traffic (gRPC and HTTP) on a unix socket");
        let router = router.clone();
        let mut stop = shutdown.clone();
        let ready = server.clone();
        tasks.push(tokio::spawn(async move {
            if !serve_when_ready(&ready, &mut stop).await {
                return Ok(());
            }
            let listener = SecureListener::spawn(listener, mode, Side::Client, false);
            let listener = LimitedListener::new(FixingListener(listener), MAX_CLIENT_CONNECTIONS);
            let served = axum::serve(listener, router.into_make_service_with_connect_info::<ClientCommonName>())
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            drop(socket); // removes the socket file
            served
        }));
    }
    // --listen-metrics-urls: /metrics and the health checks, TLS with the
    // client certificate on https:// URLs (as etcd), served from the start.
    let metrics_urls = config.listen_metrics_urls_parsed()?;
    let metrics_router = crate::http::metrics_router(server.clone(), member.metrics.clone());
    for listener in listeners.metrics {
        let addr = listener.local_addr()?;
        let mode = mode_for(&metrics_urls, addr, tls.client.as_ref());
        tracing::info!(address = %addr, tls = is_tls(&mode), "serving metrics and health checks");
        let listener = SecureListener::spawn(listener, mode, Side::Client, false);
        let listener = LimitedListener::new(listener, MAX_CLIENT_CONNECTIONS);
        let router = metrics_router.clone();
        let mut stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        }));
    }
    // etcd's line, once the member has joined, published itself and caught
    // up (tools wait for it); the client listeners start serving then.
    tokio::select! {
        _ = server.wait_ready() => {
            tracing::info!("ready to serve client requests");
            crate::systemd::notify_ready();
        }
        _ = shutdown.wait_for(|s| *s) => {}
    }
    let _ = shutdown.wait_for(|s| *s).await;
    crate::systemd::notify_stopping();
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

/// What the listener bound at `addr` serves: the schemes of the URLs that
/// name it (etcd serves plain and TLS on one port when both name it).
/// Plain when no URL names it (listeners a test bound itself).
fn mode_for(urls: &[ParsedUrl], addr: SocketAddr, tls: Option<&Arc<ServerTls>>) -> Mode {
    let named: Vec<UrlScheme> =
        urls.iter().filter(|u| matches!(u.bind_addr(), Some(Ok(a)) if a == addr)).map(|u| u.scheme).collect();
    let secure = named.iter().any(|s| s.is_tls());
    let plain = named.iter().any(|s| !s.is_tls());
    match (tls, secure, plain) {
        (Some(tls), true, false) => Mode::Tls(tls.clone()),
        (Some(tls), true, true) => Mode::Both(tls.clone()),
        _ => Mode::Plain,
    }
}

/// [`mode_for`] of a unix socket: `unixs://` is TLS.
fn unix_mode(urls: &[ParsedUrl], path: &std::path::Path, tls: Option<&Arc<ServerTls>>) -> Mode {
    let secure = urls
        .iter()
        .any(|u| u.scheme == UrlScheme::Unixs && u.unix_socket_path().is_some_and(|p| std::path::Path::new(p) == path));
    match tls {
        Some(tls) if secure => Mode::Tls(tls.clone()),
        _ => Mode::Plain,
    }
}

fn is_tls(mode: &Mode) -> bool {
    !matches!(mode, Mode::Plain)
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
