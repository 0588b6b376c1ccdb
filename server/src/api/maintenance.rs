//! etcdserverpb.Maintenance: Status, Hash, HashKV, Alarm, Defragment,
//! Snapshot, MoveLeader, Downgrade.

use std::pin::Pin;
use std::sync::Arc;

use capstan_proto::etcdserverpb::maintenance_server::Maintenance;
use capstan_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, AlarmType, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use futures::Stream;
use tonic::{Request as GrpcRequest, Response, Status};

use super::error::EtcdError;
use crate::service::Server;
use crate::snapshot;

pub struct MaintenanceService {
    server: Arc<Server>,
}

impl MaintenanceService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }

    fn header(&self) -> Option<capstan_proto::etcdserverpb::ResponseHeader> {
        Some(self.server.headers().header(self.server.kv().current_revision()))
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

/// etcd's text for an active alarm in Status.errors.
fn alarm_text(member: u64, alarm: i32) -> String {
    let name = AlarmType::try_from(alarm).map_or("UNKNOWN", |a| a.as_str_name());
    format!("memberID:{member} alarm:{name} ")
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, request: GrpcRequest<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        Ok(Response::new(self.server.alarm(request.into_inner()).await?))
    }

    async fn status(&self, _request: GrpcRequest<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let leader = self.server.leader().unwrap_or(0);
        let (term, last_index, applied) = {
            let m = self.server.raft().metrics();
            let m = m.borrow();
            (m.current_term, m.last_log_index.unwrap_or(0), m.last_applied.map_or(0, |l| l.index))
        };
        let engine = self.server.engine();
        let mut errors: Vec<String> = self.server.alarms().lock().iter().map(|(m, a)| alarm_text(*m, *a)).collect();
        if leader == 0 {
            errors.push(EtcdError::NoLeader.code_and_text().1.to_string());
        }
        let version = self.server.options().etcd_version.clone();
        Ok(Response::new(StatusResponse {
            header: self.header(),
            storage_version: storage_version(&version),
            version,
            db_size: engine.size_on_disk() as i64,
            leader,
            raft_index: last_index,
            raft_term: term,
            raft_applied_index: applied,
            errors,
            db_size_in_use: engine.live_data_size() as i64,
            is_learner: self.server.is_learner(),
            db_size_quota: self.server.options().quota_backend_bytes as i64,
            // etcd 3.6 always reports downgrade info (empty when none is in progress).
            downgrade_info: Some(Default::default()),
        }))
    }

    async fn defragment(&self, _request: GrpcRequest<DefragmentRequest>) -> Result<Response<DefragmentResponse>, Status> {
        let engine = self.server.engine().clone();
        tracing::info!("defragment (full compaction) started");
        tokio::task::spawn_blocking(move || engine.compact_all())
            .await
            .map_err(|e| Status::internal(format!("defragment failed: {e}")))?;
        tracing::info!("defragment finished");
        Ok(Response::new(DefragmentResponse { header: self.header() }))
    }

    async fn hash(&self, _request: GrpcRequest<HashRequest>) -> Result<Response<HashResponse>, Status> {
        let (hash, _, _) = self.server.kv().hash_kv(0)?;
        Ok(Response::new(HashResponse { header: self.header(), hash }))
    }

    async fn hash_kv(&self, request: GrpcRequest<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        let req = request.into_inner();
        let (hash, hash_revision, compact_revision) = self.server.kv().hash_kv(req.revision)?;
        Ok(Response::new(HashKvResponse { header: self.header(), hash, compact_revision, hash_revision }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(&self, _request: GrpcRequest<SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        let header = self.header();
        let version = storage_version(&self.server.options().etcd_version);
        let stream = snapshot::stream(self.server.engine().clone(), header, version)
            .await
            .map_err(|e| Status::internal(format!("snapshot failed: {e}")))?;
        Ok(Response::new(Box::pin(stream)))
    }

    async fn move_leader(&self, request: GrpcRequest<MoveLeaderRequest>) -> Result<Response<MoveLeaderResponse>, Status> {
        let req = request.into_inner();
        self.server.move_leader(req.target_id).await?;
        // etcd answers an empty response, without a header.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(&self, _request: GrpcRequest<DowngradeRequest>) -> Result<Response<DowngradeResponse>, Status> {
        Err(Status::unimplemented("downgrade is not supported by capstan"))
    }
}

/// The storage version etcd reports alongside its version: "major.minor.0".
fn storage_version(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}.0"),
        _ => version.to_string(),
    }
}
