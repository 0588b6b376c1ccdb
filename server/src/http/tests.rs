//! In-process tests of the HTTP endpoints against a fake member.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use parking_lot::Mutex;
use tower::ServiceExt;

use super::*;
use crate::metrics::Metrics;

#[derive(Default)]
struct Fake {
    alarms: Mutex<Vec<(u64, i32)>>,
    no_leader: std::sync::atomic::AtomicBool,
    learner: std::sync::atomic::AtomicBool,
    /// Error of linearizable / serializable reads.
    linearizable_err: Mutex<Option<String>>,
    serializable_err: Mutex<Option<String>>,
    /// Reads never complete.
    hang: std::sync::atomic::AtomicBool,
    reads: AtomicUsize,
}

impl HealthSource for Fake {
    fn alarms(&self) -> Vec<(u64, i32)> {
        self.alarms.lock().clone()
    }
    fn has_leader(&self) -> bool {
        !self.no_leader.load(Ordering::Relaxed)
    }
    fn is_learner(&self) -> bool {
        self.learner.load(Ordering::Relaxed)
    }
    fn check_read(&self, serializable: bool) -> impl Future<Output = Result<(), String>> + Send {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let err =
            if serializable { self.serializable_err.lock().clone() } else { self.linearizable_err.lock().clone() };
        let hang = self.hang.load(Ordering::Relaxed);
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            match err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
    }
    fn request_timeout(&self) -> Duration {
        Duration::from_millis(50)
    }
    fn etcd_version(&self) -> String {
        "3.6.0".into()
    }
    fn metrics_snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            member_id: 0x1234,
            has_leader: self.has_leader(),
            is_leader: true,
            server_version: "3.6.0".into(),
            current_revision: 42,
            alarms: self.alarms(),
            ..Default::default()
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(fake: &Arc<Fake>, metrics: &Arc<Metrics>, method: &str, uri: &str) -> Reply {
    let app = router_for(fake.clone(), metrics.clone());
    let resp = app.oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = String::from_utf8(to_bytes(resp.into_body(), 1 << 24).await.unwrap().to_vec()).unwrap();
    Reply { status, headers, body }
}

async fn get(fake: &Arc<Fake>, uri: &str) -> Reply {
    call(fake, &Metrics::new(), "GET", uri).await
}

// ----- /health ---------------------------------------------------------------

#[tokio::test]
async fn health_ok_is_etcd_json() {
    let fake = Arc::new(Fake::default());
    let r = get(&fake, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"health":"true","reason":""}"#);
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
}

#[tokio::test]
async fn health_no_leader() {
    let fake = Arc::new(Fake::default());
    fake.no_leader.store(true, Ordering::Relaxed);
    let r = get(&fake, "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "{\"health\":\"false\",\"reason\":\"RAFT NO LEADER\"}\n");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    // serializable=true skips the leader check and reads locally.
    let r = get(&fake, "/health?serializable=true").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn health_alarms_and_exclude() {
    let fake = Arc::new(Fake::default());
    *fake.alarms.lock() = vec![(1, 1)];
    let r = get(&fake, "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "{\"health\":\"false\",\"reason\":\"ALARM NOSPACE\"}\n");
    assert_eq!(get(&fake, "/health?exclude=NOSPACE").await.status, StatusCode::OK);

    *fake.alarms.lock() = vec![(1, 1), (2, 2)];
    let r = get(&fake, "/health?exclude=NOSPACE").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("ALARM CORRUPT"));
    assert_eq!(get(&fake, "/health?exclude=NOSPACE&exclude=CORRUPT").await.status, StatusCode::OK);

    *fake.alarms.lock() = vec![(1, 7)];
    assert!(get(&fake, "/health").await.body.contains("ALARM UNKNOWN"));
}

#[tokio::test]
async fn health_read_failure_and_timeout() {
    let fake = Arc::new(Fake::default());
    *fake.linearizable_err.lock() = Some("etcdserver: request timed out".into());
    let r = get(&fake, "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "{\"health\":\"false\",\"reason\":\"RANGE ERROR:etcdserver: request timed out\"}\n");
    // The serializable variant does not use the linearizable read.
    assert_eq!(get(&fake, "/health?serializable=true").await.status, StatusCode::OK);

    let fake = Arc::new(Fake::default());
    fake.hang.store(true, Ordering::Relaxed);
    let r = get(&fake, "/health").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("RANGE ERROR:context deadline exceeded"), "{}", r.body);
}

#[tokio::test]
async fn health_counts_metrics_and_rejects_other_methods() {
    let fake = Arc::new(Fake::default());
    let metrics = Metrics::new();
    call(&fake, &metrics, "GET", "/health").await;
    fake.no_leader.store(true, Ordering::Relaxed);
    call(&fake, &metrics, "GET", "/health").await;
    assert_eq!((metrics.health_success.get(), metrics.health_failures.get()), (1, 1));

    for method in ["POST", "PUT", "HEAD", "DELETE"] {
        let r = call(&fake, &metrics, method, "/health").await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers["allow"], "GET");
        if method != "HEAD" {
            assert_eq!(r.body, "Method Not Allowed\n");
        }
    }
}

// ----- /livez, /readyz -------------------------------------------------------

#[tokio::test]
async fn livez_and_readyz_ok() {
    let fake = Arc::new(Fake::default());
    for path in ["/livez", "/readyz"] {
        let r = get(&fake, path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, "ok\n");
        assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
    }
    let r = get(&fake, "/livez?verbose").await;
    assert_eq!(r.body, "[+]serializable_read ok\nok\n");
    let r = get(&fake, "/readyz?verbose=1").await;
    assert_eq!(
        r.body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n"
    );
}

#[tokio::test]
async fn readyz_failures_list_every_check() {
    let fake = Arc::new(Fake::default());
    *fake.linearizable_err.lock() = Some("Unexpected error".into());
    let metrics = Metrics::new();
    let r = call(&fake, &metrics, "GET", "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    // Go's http.Error appends a newline to the reason, which ends with one.
    assert_eq!(
        r.body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: Unexpected error\n[+]non_learner ok\n\n"
    );
    // livez only reads serializably.
    assert_eq!(get(&fake, "/livez").await.status, StatusCode::OK);
    let text = metrics.render(None);
    assert!(text.contains("etcd_server_healthcheck{name=\"linearizable_read\",type=\"readyz\"} 0\n"), "{text}");
    assert!(text.contains("etcd_server_healthcheck{name=\"non_learner\",type=\"readyz\"} 1\n"));
}

#[tokio::test]
async fn readyz_corruption_learner_and_exclude() {
    let fake = Arc::new(Fake::default());
    *fake.alarms.lock() = vec![(1, 2)];
    let r = get(&fake, "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("[-]data_corruption failed: alarm activated: CORRUPT\n"), "{}", r.body);
    assert_eq!(get(&fake, "/readyz?exclude=data_corruption").await.status, StatusCode::OK);
    // Excluding an unknown check is not an error.
    assert_eq!(get(&fake, "/readyz?exclude=non_exist").await.status, StatusCode::SERVICE_UNAVAILABLE);
    // NOSPACE is not a readiness failure.
    *fake.alarms.lock() = vec![(1, 1)];
    assert_eq!(get(&fake, "/readyz").await.status, StatusCode::OK);

    fake.learner.store(true, Ordering::Relaxed);
    let r = get(&fake, "/readyz").await;
    assert!(r.body.contains("[-]non_learner failed: not supported for learner\n"));
    let r = get(&fake, "/readyz?exclude=non_learner&verbose").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains("non_learner"));
}

#[tokio::test]
async fn per_check_paths() {
    let fake = Arc::new(Fake::default());
    *fake.serializable_err.lock() = Some("Unexpected error".into());
    let r = get(&fake, "/readyz/serializable_read").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "[-]serializable_read failed: Unexpected error\n\n");
    assert!(!r.body.contains("data_corruption"));
    let r = get(&fake, "/readyz/data_corruption?verbose").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "[+]data_corruption ok\nok\n"));
    assert_eq!(get(&fake, "/readyz/non_learner").await.status, StatusCode::OK);
    assert_eq!(get(&fake, "/livez/serializable_read").await.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = get(&fake, "/readyz/non_exist").await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::NOT_FOUND, "404 page not found\n"));
    // livez has no linearizable check.
    assert_eq!(get(&fake, "/livez/linearizable_read").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn readiness_read_times_out() {
    let fake = Arc::new(Fake::default());
    fake.hang.store(true, Ordering::Relaxed);
    let r = get(&fake, "/livez").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "[-]serializable_read failed: context deadline exceeded\n\n");
}

// ----- /version, /metrics ----------------------------------------------------

#[tokio::test]
async fn version_json() {
    let fake = Arc::new(Fake::default());
    let r = get(&fake, "/version").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let expected = format!(
        r#"{{"etcdserver":"3.6.0","etcdcluster":"3.6.0","storage":"3.6.0","capstan":"{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(r.body, expected);
    assert_eq!(call(&fake, &Metrics::new(), "POST", "/version").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn versions_for_other_releases() {
    let v = Versions::for_etcd("3.5.21");
    assert_eq!((v.server.as_str(), v.cluster.as_str(), v.storage.as_deref()), ("3.5.21", "3.5.0", None));
    let json = serde_json::to_string(&v).unwrap();
    assert!(json.starts_with(r#"{"etcdserver":"3.5.21","etcdcluster":"3.5.0","capstan":"#), "{json}");
    let v = Versions::for_etcd("3.7.2");
    assert_eq!((v.cluster.as_str(), v.storage.as_deref()), ("3.7.0", Some("3.7.0")));
    // What etcd's client decodes (extra fields ignored).
    #[derive(serde::Deserialize)]
    struct EtcdVersions {
        etcdserver: String,
        etcdcluster: String,
    }
    let parsed: EtcdVersions = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
    assert_eq!((parsed.etcdserver.as_str(), parsed.etcdcluster.as_str()), ("3.7.2", "3.7.0"));
}

#[tokio::test]
async fn metrics_endpoint() {
    let fake = Arc::new(Fake::default());
    let metrics = Metrics::new();
    metrics.put_total.add(5);
    let r = call(&fake, &metrics, "GET", "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], METRICS_CONTENT_TYPE);
    assert!(r.body.contains("# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n"), "{}", r.body);
    assert!(r.body.contains("etcd_mvcc_put_total 5\n"));
    assert!(r.body.contains("etcd_debugging_mvcc_current_revision 42\n"));
    assert!(r.body.contains("etcd_server_id{server_id=\"1234\"} 1\n"));
    // The metrics-only router has the health endpoints but no /version.
    let app = metrics_router_for(fake.clone(), metrics.clone());
    let resp = app.clone().oneshot(Request::get("/version").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.oneshot(Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn query_parsing_like_go() {
    let q = QueryParams::parse(&"/x?exclude=A&exclude=&exclude=B%20C&verbose&serializable=true&x=1+2".parse().unwrap());
    assert_eq!(q.all("exclude").collect::<Vec<_>>(), ["A", "B C"]);
    assert!(q.has("verbose"));
    assert!(!q.has("nope"));
    assert_eq!(q.get("serializable"), "true");
    assert_eq!(q.get("x"), "1 2");
    assert_eq!(q.get("missing"), "");
    let q = QueryParams::parse(&"/x?bad=%zz&ok=1".parse().unwrap());
    assert!(!q.has("bad"));
    assert_eq!(q.get("ok"), "1");
}
