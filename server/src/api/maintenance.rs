//! etcdserverpb.Maintenance: Status, Hash, HashKV, Alarm, Defragment,
//! Snapshot, MoveLeader, Downgrade.

use std::pin::Pin;
use std::sync::Arc;

use capstan_proto::etcdserverpb::alarm_request::AlarmAction;
use capstan_proto::etcdserverpb::maintenance_server::Maintenance;
use capstan_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest, DowngradeResponse,
    HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse, SnapshotRequest,
    SnapshotResponse, StatusRequest, StatusResponse,
};
use futures::Stream;
use tonic::{Request as GrpcRequest, Response, Status};

use super::error::EtcdError;
use super::identity::caller;
use crate::service::{Server, storage_version};
use crate::snapshot;

pub struct MaintenanceService {
    server: Arc<Server>,
}

impl MaintenanceService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }

    /// etcd's maintenance methods other than Status and alarm listing are for admins.
    async fn admin<T>(&self, request: &GrpcRequest<T>) -> Result<(), Status> {
        Ok(self.server.require_admin(caller(&self.server, request).await?.as_ref())?)
    }

    fn header(&self) -> Option<capstan_proto::etcdserverpb::ResponseHeader> {
        Some(self.server.headers().header(self.server.kv().current_revision()))
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, request: GrpcRequest<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        // Listing alarms needs a user; raising or clearing one, an admin.
        let who = caller(&self.server, &request).await?;
        if request.get_ref().action == AlarmAction::Get as i32 {
            self.server.require_user(who.as_ref())?;
        } else {
            self.server.require_admin(who.as_ref())?;
        }
        Ok(Response::new(self.server.alarm(who.as_ref(), request.into_inner()).await?))
    }

    async fn status(&self, request: GrpcRequest<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.server.require_user(caller(&self.server, &request).await?.as_ref())?;
        let mut status = self.server.status();
        if status.leader == 0 {
            status.errors.push(EtcdError::NoLeader.code_and_text().1.to_string());
        }
        Ok(Response::new(status))
    }

    async fn defragment(
        &self,
        request: GrpcRequest<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.admin(&request).await?;
        let engine = self.server.engine().clone();
        tracing::info!("defragment (full compaction) started");
        tokio::task::spawn_blocking(move || engine.compact_all())
            .await
            .map_err(|e| Status::internal(format!("defragment failed: {e}")))?;
        tracing::info!("defragment finished");
        // etcd answers an empty response, without a header.
        Ok(Response::new(DefragmentResponse { header: None }))
    }

    async fn hash(&self, request: GrpcRequest<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.admin(&request).await?;
        // A scan of the whole database: off the runtime's worker threads.
        let engine = self.server.engine().clone();
        let hash = crate::service::blocking(|| engine.read_view().hash_state())
            .map_err(|e| Status::internal(format!("hash failed: {e}")))?;
        Ok(Response::new(HashResponse { header: self.header(), hash }))
    }

    async fn hash_kv(&self, request: GrpcRequest<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        self.admin(&request).await?;
        let req = request.into_inner();
        let (hash, hash_revision, compact_revision) =
            crate::service::blocking(|| self.server.kv().hash_kv(req.revision))?;
        Ok(Response::new(HashKvResponse { header: self.header(), hash, compact_revision, hash_revision }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(&self, request: GrpcRequest<SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        self.admin(&request).await?;
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
        self.admin(&request).await?;
        let req = request.into_inner();
        self.server.move_leader(req.target_id).await?;
        // etcd answers an empty response, without a header.
        Ok(Response::new(MoveLeaderResponse { header: None }))
    }

    async fn downgrade(&self, request: GrpcRequest<DowngradeRequest>) -> Result<Response<DowngradeResponse>, Status> {
        self.admin(&request).await?;
        Ok(Response::new(self.server.downgrade(request.into_inner()).await?))
    }
}
