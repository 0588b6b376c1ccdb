//! `/health`, `/livez`, `/readyz`: etcd 3.6's health endpoints
//! (`server/etcdserver/api/etcdhttp/health.go`).
//!
//! - `/health` answers JSON `{"health":"true","reason":""}`; unhealthy (503,
//!   `"false"` and a reason) on an active alarm not excluded by
//!   `?exclude=NOSPACE`, on no leader, or when a read fails; the read is
//!   linearizable unless `?serializable=true` (which also skips the leader
//!   check).
//! - `/livez` and `/readyz` run named checks and answer `ok`; `?verbose`
//!   lists each check (`[+]name ok`), failures always list them
//!   (`[-]name failed: reason`) with 503; `?exclude=name` skips checks;
//!   `/livez/<check>` and `/readyz/<check>` run one check.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::{AppState, HealthSource, QueryParams, go_error, method_not_allowed, not_found};
use crate::metrics::{Metrics, alarm_name};

const ALARM_NOSPACE: i32 = 1;
const ALARM_CORRUPT: i32 = 2;

/// The body of `/health` (etcd's `etcdhttp.Health`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub health: String,
    pub reason: String,
}

impl Health {
    pub fn healthy() -> Self {
        Self { health: "true".into(), reason: String::new() }
    }

    pub fn unhealthy(reason: impl Into<String>) -> Self {
        Self { health: "false".into(), reason: reason.into() }
    }

    pub fn is_healthy(&self) -> bool {
        self.health == "true"
    }
}

/// Runs a read check bounded by the request timeout.
async fn read_with_timeout<S: HealthSource>(source: &S, serializable: bool) -> Result<(), String> {
    match tokio::time::timeout(source.request_timeout(), source.check_read(serializable)).await {
        Ok(result) => result,
        // What Go's context reports when etcd's own timeout fires.
        Err(_) => Err("context deadline exceeded".to_string()),
    }
}

/// etcd's `/health` decision: alarms, then leader, then a read.
pub async fn check_health<S: HealthSource>(source: &S, excluded_alarms: &HashSet<&str>, serializable: bool) -> Health {
    for (member, alarm) in source.alarms() {
        let name = alarm_name(alarm);
        if excluded_alarms.contains(name.as_str()) {
            tracing::debug!(alarm = %name, member = %format!("{member:x}"), "/health excluded alarm");
            continue;
        }
        tracing::warn!(alarm = %name, member = %format!("{member:x}"), "serving /health false due to an alarm");
        return Health::unhealthy(match alarm {
            ALARM_NOSPACE => "ALARM NOSPACE",
            ALARM_CORRUPT => "ALARM CORRUPT",
            _ => "ALARM UNKNOWN",
        });
    }
    if !serializable && !source.has_leader() {
        tracing::warn!("serving /health false; no leader");
        return Health::unhealthy("RAFT NO LEADER");
    }
    match read_with_timeout(source, serializable).await {
        Ok(()) => Health::healthy(),
        Err(e) => {
            tracing::warn!(error = %e, "serving /health false; Range fails");
            Health::unhealthy(format!("RANGE ERROR:{e}"))
        }
    }
}

pub(super) async fn health<S: HealthSource>(State(st): State<AppState<S>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET {
        return method_not_allowed();
    }
    let query = QueryParams::parse(&uri);
    let excluded: HashSet<&str> = query.all("exclude").collect();
    let serializable = query.get("serializable") == "true";
    let h = check_health(&*st.source, &excluded, serializable).await;
    let body = serde_json::to_string(&h).unwrap_or_default();
    if h.is_healthy() {
        st.metrics.health_success.inc();
        // etcd writes no content type; Go sniffs this body as text/plain.
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        resp
    } else {
        st.metrics.health_failures.inc();
        go_error(StatusCode::SERVICE_UNAVAILABLE, &body)
    }
}

/// A named check of `/livez` or `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    /// Fails while a CORRUPT alarm is active.
    DataCorruption,
    /// A local (serializable) read succeeds.
    SerializableRead,
    /// A linearizable read succeeds (the cluster has consensus).
    LinearizableRead,
    /// This member is not a learner.
    NonLearner,
}

/// etcd's livez checks.
pub const LIVEZ_CHECKS: &[HealthCheck] = &[HealthCheck::SerializableRead];

/// etcd's readyz checks.
pub const READYZ_CHECKS: &[HealthCheck] = &[
    HealthCheck::DataCorruption,
    HealthCheck::SerializableRead,
    HealthCheck::LinearizableRead,
    HealthCheck::NonLearner,
];

impl HealthCheck {
    pub fn name(self) -> &'static str {
        match self {
            HealthCheck::DataCorruption => "data_corruption",
            HealthCheck::SerializableRead => "serializable_read",
            HealthCheck::LinearizableRead => "linearizable_read",
            HealthCheck::NonLearner => "non_learner",
        }
    }

    /// Runs the check; the error is the text after `failed: `.
    pub async fn run<S: HealthSource>(self, source: &S) -> Result<(), String> {
        match self {
            HealthCheck::DataCorruption => {
                if source.alarms().iter().any(|(_, a)| *a == ALARM_CORRUPT) {
                    Err(format!("alarm activated: {}", alarm_name(ALARM_CORRUPT)))
                } else {
                    Ok(())
                }
            }
            HealthCheck::SerializableRead => read_with_timeout(source, true).await,
            HealthCheck::LinearizableRead => read_with_timeout(source, false).await,
            HealthCheck::NonLearner => {
                if source.is_learner() {
                    Err("not supported for learner".to_string())
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Outcome of a set of checks: whether all passed, and one line per check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub ok: bool,
    pub output: String,
}

/// Runs `checks` in order (etcd's `runHealthChecks`), recording metrics.
pub async fn run_checks<S: HealthSource>(
    kind: &str,
    checks: &[HealthCheck],
    source: &S,
    metrics: &Metrics,
) -> CheckReport {
    let mut report = CheckReport { ok: true, output: String::new() };
    for check in checks {
        match check.run(source).await {
            Ok(()) => {
                report.output.push_str(&format!("[+]{} ok\n", check.name()));
                metrics.record_health_check(kind, check.name(), true);
            }
            Err(e) => {
                report.output.push_str(&format!("[-]{} failed: {e}\n", check.name()));
                report.ok = false;
                metrics.record_health_check(kind, check.name(), false);
            }
        }
    }
    report
}

/// etcd's `newHealthHandler` response for a report.
fn respond(path: &str, report: CheckReport, verbose: bool) -> Response {
    if !report.ok {
        tracing::error!(path, reason = %report.output, "Health check error");
        return go_error(StatusCode::SERVICE_UNAVAILABLE, &report.output);
    }
    let body = if verbose { format!("{}ok\n", report.output) } else { "ok\n".to_string() };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

async fn registry_root<S: HealthSource>(
    kind: &'static str,
    all: &'static [HealthCheck],
    st: AppState<S>,
    method: Method,
    uri: Uri,
) -> Response {
    if method != Method::GET {
        return method_not_allowed();
    }
    let query = QueryParams::parse(&uri);
    let mut excluded: HashSet<&str> = query.all("exclude").collect();
    let checks: Vec<HealthCheck> = all.iter().copied().filter(|c| !excluded.remove(c.name())).collect();
    if !excluded.is_empty() {
        // For version compatibility, excluding unknown checks does not fail.
        let mut missing: Vec<&str> = excluded.into_iter().collect();
        missing.sort_unstable();
        tracing::warn!(missing_health_checks = ?missing, "some health checks cannot be excluded");
    }
    let report = run_checks(kind, &checks, &*st.source, &st.metrics).await;
    respond(&format!("/{kind}"), report, query.has("verbose"))
}

async fn registry_one<S: HealthSource>(
    kind: &'static str,
    all: &'static [HealthCheck],
    name: &str,
    st: AppState<S>,
    method: Method,
    uri: Uri,
) -> Response {
    let Some(check) = all.iter().copied().find(|c| c.name() == name) else {
        return not_found();
    };
    if method != Method::GET {
        return method_not_allowed();
    }
    let report = run_checks(kind, &[check], &*st.source, &st.metrics).await;
    respond(&format!("/{kind}/{name}"), report, QueryParams::parse(&uri).has("verbose"))
}

pub(super) async fn livez<S: HealthSource>(State(st): State<AppState<S>>, method: Method, uri: Uri) -> Response {
    registry_root("livez", LIVEZ_CHECKS, st, method, uri).await
}

pub(super) async fn readyz<S: HealthSource>(State(st): State<AppState<S>>, method: Method, uri: Uri) -> Response {
    registry_root("readyz", READYZ_CHECKS, st, method, uri).await
}

pub(super) async fn livez_check<S: HealthSource>(
    State(st): State<AppState<S>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
) -> Response {
    registry_one("livez", LIVEZ_CHECKS, &name, st, method, uri).await
}

pub(super) async fn readyz_check<S: HealthSource>(
    State(st): State<AppState<S>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
) -> Response {
    registry_one("readyz", READYZ_CHECKS, &name, st, method, uri).await
}
