//! Checks etcd makes before any gRPC handler runs (its unary and stream
//! interceptors): a client that asks for a leader (`hasleader: true`
//! metadata, clientv3's `WithRequireLeader`) gets "no leader" while there is
//! none, and a learner refuses everything but Status, Snapshot and
//! serializable Range (checked by the KV service, which sees the request).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::EtcdError;
use crate::service::Server;

/// gRPC metadata key and value of clientv3's `WithRequireLeader`.
const REQUIRE_LEADER_KEY: &str = "hasleader";
const HAS_LEADER: &str = "true";

/// Methods a learner serves (Range only when serializable).
const LEARNER_METHODS: &[&str] =
    &["/etcdserverpb.Maintenance/Status", "/etcdserverpb.Maintenance/Snapshot", "/etcdserverpb.KV/Range"];

pub async fn check(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/etcdserverpb.") || path.starts_with("/v3electionpb.") || path.starts_with("/v3lockpb.") {
        if server.is_learner() && !LEARNER_METHODS.contains(&path) {
            return refuse(EtcdError::NotSupportedForLearner);
        }
        let wants_leader = request.headers().get(REQUIRE_LEADER_KEY).and_then(|v| v.to_str().ok()) == Some(HAS_LEADER);
        if wants_leader && server.leader().is_none() {
            return refuse(EtcdError::NoLeader);
        }
    }
    next.run(request).await
}

fn refuse(e: EtcdError) -> Response {
    tonic::Status::from(e).into_http::<axum::body::Body>().into_response()
}
