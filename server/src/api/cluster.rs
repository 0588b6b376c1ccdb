//! etcdserverpb.Cluster.

use std::sync::Arc;

use capstan_proto::etcdserverpb::cluster_server::Cluster;
use capstan_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};
use tonic::{Request as GrpcRequest, Response, Status};

use crate::membership;
use crate::service::Server;

pub struct ClusterService {
    server: Arc<Server>,
    members: Vec<membership::Member>,
}

impl ClusterService {
    pub fn new(server: Arc<Server>, members: Vec<membership::Member>) -> Self {
        Self { server, members }
    }

    /// etcd's cluster responses carry no revision.
    fn header(&self) -> Option<capstan_proto::etcdserverpb::ResponseHeader> {
        Some(self.server.headers().header(0))
    }
}

fn to_proto(m: &membership::Member) -> Member {
    Member {
        id: m.id,
        name: m.name.clone(),
        peer_ur_ls: m.peer_urls.clone(),
        client_ur_ls: m.client_urls.clone(),
        is_learner: m.is_learner,
    }
}

/// Membership changes need a member-to-member transport, which a
/// single-member build does not have yet.
fn reconfiguration_unsupported() -> Status {
    Status::unimplemented("membership changes are not supported by this capstan build")
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(&self, _r: GrpcRequest<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        Err(reconfiguration_unsupported())
    }

    async fn member_remove(&self, _r: GrpcRequest<MemberRemoveRequest>) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(reconfiguration_unsupported())
    }

    async fn member_update(&self, _r: GrpcRequest<MemberUpdateRequest>) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(reconfiguration_unsupported())
    }

    async fn member_list(&self, request: GrpcRequest<MemberListRequest>) -> Result<Response<MemberListResponse>, Status> {
        if request.into_inner().linearizable {
            self.server.read_barrier().await?;
        }
        Ok(Response::new(MemberListResponse { header: self.header(), members: self.members.iter().map(to_proto).collect() }))
    }

    async fn member_promote(&self, _r: GrpcRequest<MemberPromoteRequest>) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(reconfiguration_unsupported())
    }
}
