//! The HTTP endpoints etcd serves on its client port beside gRPC:
//! `/health`, `/livez`, `/readyz` (and their per-check sub-paths),
//! `/version` and `/metrics`; see [`router`]. [`metrics_router`] is the
//! subset etcd serves on `--listen-metrics-urls`.
//!
//! Handlers read the server through [`HealthSource`], implemented for
//! [`Server`] here and by fakes in tests.
//!
//! Response details follow etcd 3.6 (`server/etcdserver/api/etcdhttp`):
//! `GET` only (other methods get Go's `405 Method Not Allowed`), failures
//! written like Go's `http.Error` (text/plain, `nosniff`, trailing newline).

pub mod authority;
pub(crate) mod conn_limit;
pub mod gateway;
pub(crate) mod go_debug;
mod grpc_metrics;
mod health;
pub(crate) mod message_limit;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::any;
use capstan_proto::etcdserverpb::RangeRequest;

pub use grpc_metrics::GrpcMetricsLayer;

use crate::metrics::{Metrics, ServerSnapshot};
use crate::service::Server;

/// What the HTTP endpoints need from a member.
pub trait HealthSource: Send + Sync + 'static {
    /// Active alarms of the cluster: (member id, etcd `AlarmType` number).
    fn alarms(&self) -> Vec<(u64, i32)>;
    /// Whether this member knows a leader.
    fn has_leader(&self) -> bool;
    /// Whether this member is a learner (`/readyz/non_learner`).
    fn is_learner(&self) -> bool;
    /// A one-key, keys-only Range: linearizable unless `serializable`.
    /// The error is etcd's error text (e.g. `etcdserver: request timed out`).
    fn check_read(&self, serializable: bool) -> impl Future<Output = Result<(), String>> + Send;
    /// etcd's request timeout, bounding each read check.
    fn request_timeout(&self) -> Duration;
    /// The etcd version this member reports (e.g. "3.6.0").
    fn etcd_version(&self) -> String;
    /// Gauges read at scrape time. May block briefly (runs on a blocking thread).
    fn metrics_snapshot(&self) -> ServerSnapshot;
}

impl HealthSource for Server {
    fn alarms(&self) -> Vec<(u64, i32)> {
        self.alarms().lock().iter().copied().collect()
    }

    fn has_leader(&self) -> bool {
        self.leader().is_some()
    }

    fn is_learner(&self) -> bool {
        Server::is_learner(self)
    }

    fn check_read(&self, serializable: bool) -> impl Future<Output = Result<(), String>> + Send {
        // etcd ranges with Limit 1, KeysOnly; the key does not matter.
        let req =
            RangeRequest { key: b"health".to_vec(), keys_only: true, limit: 1, serializable, ..Default::default() };
        async move {
            use crate::api::error::EtcdError;
            match self.range(None, &req).await.map_err(|e| EtcdError::from(&e)) {
                // etcd ignores auth refusals here: the member served the read.
                Ok(_) | Err(EtcdError::UserEmpty | EtcdError::PermissionDenied) => Ok(()),
                Err(e) => Err(e.code_and_text().1.to_string()),
            }
        }
    }

    fn request_timeout(&self) -> Duration {
        self.options().request_timeout
    }

    fn etcd_version(&self) -> String {
        self.options().etcd_version.clone()
    }

    fn metrics_snapshot(&self) -> ServerSnapshot {
        let member_id = self.headers().member_id();
        let leader = self.leader();
        let applied = self.raft().metrics().borrow().last_applied.map_or(0, |l| l.index);
        let options = self.options();
        ServerSnapshot {
            member_id,
            has_leader: leader.is_some(),
            is_leader: leader == Some(member_id),
            is_learner: Server::is_learner(self),
            server_version: options.etcd_version.clone(),
            quota_backend_bytes: i64::try_from(options.quota_backend_bytes).unwrap_or(i64::MAX),
            db_total_size_bytes: self.engine().size_on_disk(),
            db_in_use_bytes: self.engine().live_data_size(),
            keys_total: self.kv().key_count() as u64,
            current_revision: self.kv().current_revision(),
            compact_revision: self.kv().compacted_revision(),
            applied_index: applied,
            committed_index: None,
            alarms: HealthSource::alarms(self),
            members: self.member_list().iter().map(|m| m.id).collect(),
            feature_gates: options.feature_gates.clone(),
            open_read_transactions: self.engine().open_read_views() as u64,
        }
    }
}

/// Shared state of the handlers.
struct AppState<S> {
    source: Arc<S>,
    metrics: Arc<Metrics>,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self { source: self.source.clone(), metrics: self.metrics.clone() }
    }
}

/// The client-port HTTP endpoints of a member, to merge with the gRPC router.
pub fn router(server: Arc<Server>, metrics: Arc<Metrics>) -> Router {
    router_for(server, metrics)
}

/// The endpoints of `--listen-metrics-urls`: see [`metrics_router_for`].
pub fn metrics_router(server: Arc<Server>, metrics: Arc<Metrics>) -> Router {
    metrics_router_for(server, metrics)
}

/// [`router`] over any [`HealthSource`].
pub fn router_for<S: HealthSource>(source: Arc<S>, metrics: Arc<Metrics>) -> Router {
    metrics_router_for(source.clone(), metrics.clone())
        .merge(Router::new().route("/version", any(version::<S>)).with_state(AppState { source, metrics }))
}

/// The endpoints etcd serves on `--listen-metrics-urls`: `/metrics` and the
/// health checks (no `/version`), over any [`HealthSource`].
pub fn metrics_router_for<S: HealthSource>(source: Arc<S>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", any(metrics_handler::<S>))
        .route("/health", any(health::health::<S>))
        .route("/livez", any(health::livez::<S>))
        .route("/readyz", any(health::readyz::<S>))
        .route("/livez/{check}", any(health::livez_check::<S>))
        .route("/readyz/{check}", any(health::readyz_check::<S>))
        .with_state(AppState { source, metrics })
}

// ---------------------------------------------------------------------------
// /version
// ---------------------------------------------------------------------------

/// The body of `GET /version`: etcd's `version.Versions` (field order as
/// etcd marshals it), plus Capstan's own version. Clients decode it into
/// a struct, so the extra field is ignored by them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Versions {
    #[serde(rename = "etcdserver")]
    pub server: String,
    #[serde(rename = "etcdcluster")]
    pub cluster: String,
    /// etcd 3.6+ reports the storage version too.
    #[serde(rename = "storage", skip_serializing_if = "Option::is_none", default)]
    pub storage: Option<String>,
    #[serde(rename = "capstan")]
    pub capstan: String,
}

impl Versions {
    /// The versions a member emulating etcd `etcd_version` reports. The
    /// cluster (and storage) version is etcd's `major.minor.0`.
    pub fn for_etcd(etcd_version: &str) -> Self {
        let mut parts = etcd_version.split('.').map(|p| p.parse::<u64>().ok());
        let (cluster, storage) = match (parts.next().flatten(), parts.next().flatten()) {
            (Some(major), Some(minor)) => {
                let cv = format!("{major}.{minor}.0");
                let storage = (major, minor) >= (3, 6);
                (cv.clone(), storage.then_some(cv))
            }
            _ => (etcd_version.to_string(), None),
        };
        Self { server: etcd_version.to_string(), cluster, storage, capstan: env!("CARGO_PKG_VERSION").to_string() }
    }
}

async fn version<S: HealthSource>(State(st): State<AppState<S>>, method: Method) -> Response {
    if method != Method::GET {
        return method_not_allowed();
    }
    let body = serde_json::to_string(&Versions::for_etcd(&st.source.etcd_version())).unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

// ---------------------------------------------------------------------------
// /metrics
// ---------------------------------------------------------------------------

/// The content type of the text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn metrics_handler<S: HealthSource>(State(st): State<AppState<S>>) -> Response {
    // Reading the server (RocksDB properties, key count, /proc) may block.
    let text = tokio::task::spawn_blocking(move || {
        let snapshot = st.source.metrics_snapshot();
        st.metrics.render(Some(&snapshot))
    })
    .await;
    match text {
        Ok(text) => {
            let mut resp = Response::new(Body::from(text));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            resp
        }
        Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, &format!("error gathering metrics: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the handlers
// ---------------------------------------------------------------------------

/// Go's `http.Error`: text/plain, `nosniff`, the message plus a newline.
fn go_error(status: StatusCode, msg: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{msg}\n")));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// etcd's `allowMethod(w, r, "GET")` refusal.
fn method_not_allowed() -> Response {
    let mut resp = go_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    resp
}

/// Go's `http.NotFound`.
fn not_found() -> Response {
    go_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// A parsed query string with Go's `url.ParseQuery` semantics: repeated
/// keys keep every value, keys without `=` have an empty value.
#[derive(Debug, Default)]
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn parse(uri: &Uri) -> Self {
        let Some(q) = uri.query() else { return Self::default() };
        let pairs = q
            .split('&')
            .filter(|p| !p.is_empty() && !p.contains(';'))
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((percent_decode(k)?, percent_decode(v)?))
            })
            .collect();
        Self(pairs)
    }

    /// Whether the key is present at all (`?verbose`).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The first value of a key (Go's `Query().Get`), "" when absent.
    pub(crate) fn get(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
    }

    /// Every non-empty value of a key (etcd's `getQuerySet`).
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, v)| k == key && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space); `None` on
/// a malformed escape or invalid UTF-8, which Go's parser also drops.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
