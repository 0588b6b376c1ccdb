//! etcdserverpb.Lease. Grants and revokes go through Raft; keep-alives and
//! TTL queries are answered by the leader's lessor in memory, as in etcd.

use std::pin::Pin;
use std::sync::Arc;

use capstan_proto::etcdserverpb::lease_server::Lease;
use capstan_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use futures::Stream;
use tokio_stream::StreamExt;
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use crate::service::Server;

pub struct LeaseService {
    server: Arc<Server>,
}

impl LeaseService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

/// Renews `id` on the leader (forwarded when this member follows); an
/// unknown lease answers TTL 0.
async fn keep_alive_once(server: &Server, id: i64) -> Result<LeaseKeepAliveResponse, Status> {
    let ttl = server.keep_alive(id).await?;
    Ok(LeaseKeepAliveResponse { header: Some(server.headers().header(server.kv().current_revision())), id, ttl })
}

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: GrpcRequest<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        self.server.check_quota(0).await?;
        Ok(Response::new(self.server.lease_grant(request.into_inner()).await?))
    }

    async fn lease_revoke(
        &self,
        request: GrpcRequest<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        Ok(Response::new(self.server.lease_revoke(request.into_inner()).await?))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: GrpcRequest<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let server = self.server.clone();
        let out = async_stream::stream! {
            while let Some(req) = incoming.next().await {
                match req {
                    Ok(req) => yield keep_alive_once(&server, req.id).await,
                    Err(_) => break,
                }
            }
        };
        Ok(Response::new(Box::pin(out)))
    }

    async fn lease_time_to_live(
        &self,
        request: GrpcRequest<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        Ok(Response::new(self.server.time_to_live(request.into_inner()).await?))
    }

    async fn lease_leases(
        &self,
        _request: GrpcRequest<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        Ok(Response::new(self.server.lease_leases()))
    }
}
