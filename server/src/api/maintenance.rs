//! etcdserverpb.Maintenance: Status, Hash, HashKV, Alarm, Defragment,
//! Snapshot, MoveLeader, Downgrade.

use std::pin::Pin;
use std::sync::Arc;

use capstan_proto::etcdserverpb::maintenance_server::Maintenance;
use capstan_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest, DowngradeResponse,
    HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest,
    SnapshotResponse, StatusRequest, StatusResponse,
};
use futures::Stream;
use tonic::{Request as GrpcRequest, Response, Status};

use super::error::EtcdError;
use crate::service::{Server, storage_version};
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

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, request: GrpcRequest<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        Ok(Response::new(self.server.alarm(request.into_inner()).await?))
    }

    async fn status(&self, _request: GrpcRequest<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let mut status = self.server.status();
        if status.leader == 0 {
            status.errors.push(EtcdError::NoLeader.code_and_text().1.to_string());
        }
        Ok(Response::new(status))
    }

    async fn defragment(
        &self,
        _request: GrpcRequest<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        let engine = self.server.engine().clone();
        tracing::info!("defragment (full compaction) started");
        tokio::task::spawn_blocking(move || engine.compact_all())
            .await
            .map_err(|e| Status::internal(format!("defragment failed: {e}")))?;
        tracing::info!("defragment finished");
        // etcd answers an empty response, without a header.
        Ok(Response::new(DefragmentResponse { header: None }))
    }

    async fn hash(&self, _request: GrpcRequest<HashRequest>) -> Result<Response<HashResponse>, Status> {
        // A scan of the whole database: off the runtime's worker threads.
        let engine = self.server.engine().clone();
        let hash = crate::service::blocking(|| engine.read_view().hash_state())
            .map_err(|e| Status::internal(format!("hash failed: {e}")))?;
        Ok(Response::new(HashResponse { header: self.header(), hash }))
    }

    async fn hash_kv(&self, request: GrpcRequest<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        let req = request.into_inner();
        let (hash, hash_revision, compact_revision) =
            crate::service::blocking(|| self.server.kv().hash_kv(req.revision))?;
        Ok(Response::new(HashKvResponse { header: self.header(), hash, compact_revision, hash_revision }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(&self, _request: GrpcRequest<SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        let version = storage_version(&self.server.options().etcd_version);
        let stream = snapshot::stream(self.server.engine().clone(), version)
            .await
            .map_err(|e| Status::internal(format!("snapshot failed: {e}")))?;
        Ok(Response::new(Box::pin(stream)))
    }

    async fn move_leader(
        &self,
        request: GrpcRequest<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        let req = request.into_inner();
        self.server.move_leader(req.target_id).await?;
        // etcd answers an empty response, without a header.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(&self, request: GrpcRequest<DowngradeRequest>) -> Result<Response<DowngradeResponse>, Status> {
        Ok(Response::new(self.server.downgrade(request.into_inner()).await?))
    }
}
