//! etcdserverpb.Cluster: membership as the leader's Raft configuration plus
//! the published member attributes. Changes run on the leader; any member
//! accepts them and forwards.

use std::sync::Arc;

use capstan_proto::etcdserverpb::cluster_server::Cluster;
use capstan_proto::etcdserverpb::{
    MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};
use tonic::{Request as GrpcRequest, Response, Status};

use super::identity::caller;
use crate::service::Server;

pub struct ClusterService {
    server: Arc<Server>,
}

impl ClusterService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(&self, r: GrpcRequest<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        self.server.require_admin(caller(&self.server, &r).await?.as_ref())?;
        Ok(Response::new(self.server.member_add(r.into_inner()).await?))
    }

    async fn member_remove(
        &self,
        r: GrpcRequest<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.server.require_admin(caller(&self.server, &r).await?.as_ref())?;
        Ok(Response::new(self.server.member_remove(r.into_inner()).await?))
    }

    async fn member_update(
        &self,
        r: GrpcRequest<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.server.require_admin(caller(&self.server, &r).await?.as_ref())?;
        Ok(Response::new(self.server.member_update(r.into_inner()).await?))
    }

    async fn member_list(
        &self,
        request: GrpcRequest<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        if request.into_inner().linearizable {
            self.server.read_barrier().await?;
        }
        self.server.require_user(who.as_ref())?;
        Ok(Response::new(MemberListResponse {
            header: self.server.cluster_header(),
            members: self.server.member_list(),
        }))
    }

    async fn member_promote(
        &self,
        r: GrpcRequest<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.server.require_admin(caller(&self.server, &r).await?.as_ref())?;
        Ok(Response::new(self.server.member_promote(r.into_inner()).await?))
    }
}
