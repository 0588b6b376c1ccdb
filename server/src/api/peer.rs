//! The peer service (`capstanpb.Peer`): what other members call on this one.
//! An edge like the etcd API services; the protocol's constants and its
//! client live in [`crate::peer`], below the service layer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_proto::capstanpb::peer_server::Peer;
use capstan_proto::capstanpb::{
    CampaignRequest, CampaignResponse, HoldElectionRequest, HoldElectionResponse, MembersRequest, MembersResponse,
    PeerMember, ProposeResponse, RaftMessage, ReadIndexRequest, ReadIndexResponse, RequestBatch,
};
use capstan_proto::etcdserverpb::{
    LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, MemberAddRequest,
    MemberAddResponse, MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};
use parking_lot::Mutex;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::membership::MemberTable;
use crate::peer::{
    CLUSTER_ID_HEADER, CLUSTER_MISMATCH_CODE, CLUSTER_MISMATCH_TEXT, ERROR_CODE_HEADER, MEMBER_ID_HEADER, REMOVED_CODE,
    REMOVED_TEXT,
};
use crate::service::{EtcdError, Server, ServiceError};

pub struct PeerService {
    server: Arc<Server>,
    /// Until when this member must not campaign (leadership transfer).
    hold_until: Arc<Mutex<Option<Instant>>>,
}

impl PeerService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server, hold_until: Arc::default() }
    }

    /// Refuses callers from another cluster and members removed from this one.
    fn admit<T>(&self, req: &Request<T>, rpc: &str) -> Result<(), Status> {
        admission(self.server.headers().cluster_id(), self.server.members(), req.metadata(), rpc)
    }

    fn require_leader(&self) -> Result<(), Status> {
        if self.server.is_leader() { Ok(()) } else { Err(refuse(ServiceError::NotLeader)) }
    }
}

/// The one RPC a caller that names no cluster may make: a member joining
/// with `--initial-cluster-state=existing` learns its id and the cluster id
/// from it (bootstrap/join.rs), as a member forming a cluster checks that
/// running peers agree. It only reads the member list, which etcd serves
/// to anyone on its peer port too.
const OPEN_RPC: &str = "Members";

/// Whether the caller of `rpc` may be served: it must name this cluster
/// (except for [`OPEN_RPC`]) and not be a member removed from it. Without
/// peer TLS this keeps out callers that do not know the cluster id, not
/// ones that do (it is in every client response header).
fn admission(own: u64, members: &MemberTable, metadata: &MetadataMap, rpc: &str) -> Result<(), Status> {
    let hex =
        |name: &str| metadata.get(name).and_then(|v| v.to_str().ok()).and_then(|s| u64::from_str_radix(s, 16).ok());
    // 0: a member that does not know the cluster id yet.
    let cluster = hex(CLUSTER_ID_HEADER).unwrap_or(0);
    let anonymous_ok = cluster == 0 && rpc == OPEN_RPC;
    if cluster != own && !anonymous_ok {
        tracing::warn!(
            remote_cluster = %format!("{cluster:x}"),
            local_cluster = %format!("{own:x}"),
            sender = %format!("{:x}", hex(MEMBER_ID_HEADER).unwrap_or(0)),
            rpc,
            "request from another cluster (or naming none) refused"
        );
        return Err(with_code(Status::failed_precondition(CLUSTER_MISMATCH_TEXT), CLUSTER_MISMATCH_CODE));
    }
    if let Some(sender) = hex(MEMBER_ID_HEADER)
        && members.is_removed(sender)
    {
        return Err(with_code(Status::permission_denied(REMOVED_TEXT), REMOVED_CODE));
    }
    Ok(())
}

/// This member's refusal, typed for the caller (see [`ERROR_CODE_HEADER`]).
fn refuse(e: ServiceError) -> Status {
    if let ServiceError::Remote(status) = e {
        // Another member's answer, passed on as it came.
        return status;
    }
    let code = EtcdError::from(&e).name();
    with_code(e.into(), &code)
}

fn with_code(mut status: Status, code: &str) -> Status {
    let value = code.parse().expect("error codes are ASCII names");
    status.metadata_mut().insert(ERROR_CODE_HEADER, value);
    status
}

fn decode<T: DeserializeOwned>(msg: RaftMessage) -> Result<T, Status> {
    bincode::deserialize(&msg.payload).map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftMessage>, Status> {
    let payload = bincode::serialize(value).map_err(|e| Status::internal(format!("unencodable raft reply: {e}")))?;
    Ok(Response::new(RaftMessage { payload }))
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.admit(&request, "AppendEntries")?;
        let rpc = decode(request.into_inner())?;
        encode(&self.server.raft().append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.admit(&request, "Vote")?;
        let rpc = decode(request.into_inner())?;
        encode(&self.server.raft().vote(rpc).await)
    }

    async fn install_snapshot(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.admit(&request, "InstallSnapshot")?;
        let rpc = decode(request.into_inner())?;
        encode(&self.server.raft().install_snapshot(rpc).await)
    }

    async fn propose(&self, request: Request<RequestBatch>) -> Result<Response<ProposeResponse>, Status> {
        self.admit(&request, "Propose")?;
        self.server.wait_transfer_done().await;
        self.require_leader()?;
        let batch = request.into_inner().encode_to_vec();
        self.server.propose_batch_here(batch).await.map_err(refuse)?;
        Ok(Response::new(ProposeResponse {}))
    }

    async fn read_index(&self, request: Request<ReadIndexRequest>) -> Result<Response<ReadIndexResponse>, Status> {
        self.admit(&request, "ReadIndex")?;
        self.require_leader()?;
        // Joins this leader's next read-index round with its own reads.
        let index = self.server.read_index().await.map_err(refuse)?;
        Ok(Response::new(ReadIndexResponse { index }))
    }

    async fn lease_keep_alive(
        &self,
        request: Request<LeaseKeepAliveRequest>,
    ) -> Result<Response<LeaseKeepAliveResponse>, Status> {
        self.admit(&request, "LeaseKeepAlive")?;
        self.require_leader()?;
        let id = request.into_inner().id;
        let ttl = self.server.keep_alive(id).await.map_err(refuse)?;
        let header = Some(self.server.headers().header(self.server.kv().current_revision()));
        Ok(Response::new(LeaseKeepAliveResponse { header, id, ttl }))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        self.admit(&request, "LeaseTimeToLive")?;
        self.require_leader()?;
        Ok(Response::new(self.server.local_time_to_live(&request.into_inner())))
    }

    async fn members(&self, request: Request<MembersRequest>) -> Result<Response<MembersResponse>, Status> {
        self.admit(&request, "Members")?;
        let members = self
            .server
            .member_list()
            .into_iter()
            .map(|m| PeerMember {
                id: m.id,
                name: m.name,
                peer_urls: m.peer_ur_ls,
                client_urls: m.client_ur_ls,
                is_learner: m.is_learner,
            })
            .collect();
        Ok(Response::new(MembersResponse {
            cluster_id: self.server.headers().cluster_id(),
            leader_id: self.server.leader().unwrap_or(0),
            members,
        }))
    }

    async fn member_add(&self, request: Request<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        self.admit(&request, "MemberAdd")?;
        self.require_leader()?;
        Ok(Response::new(self.server.leader_member_add(request.into_inner()).await.map_err(refuse)?))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.admit(&request, "MemberRemove")?;
        self.require_leader()?;
        Ok(Response::new(self.server.leader_member_remove(request.into_inner()).await.map_err(refuse)?))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.admit(&request, "MemberUpdate")?;
        self.require_leader()?;
        Ok(Response::new(self.server.leader_member_update(request.into_inner()).await.map_err(refuse)?))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.admit(&request, "MemberPromote")?;
        self.require_leader()?;
        Ok(Response::new(self.server.leader_member_promote(request.into_inner()).await.map_err(refuse)?))
    }

    async fn hold_election(
        &self,
        request: Request<HoldElectionRequest>,
    ) -> Result<Response<HoldElectionResponse>, Status> {
        self.admit(&request, "HoldElection")?;
        let millis = request.into_inner().millis;
        let rc = self.server.raft().runtime_config();
        if millis == 0 {
            *self.hold_until.lock() = None;
            rc.elect(true);
            return Ok(Response::new(HoldElectionResponse {}));
        }
        let until = Instant::now() + Duration::from_millis(millis);
        *self.hold_until.lock() = Some(until);
        rc.elect(false);
        // Resume by itself if the leader never says so (it may have crashed).
        let hold = self.hold_until.clone();
        let server = self.server.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(until.into()).await;
            let mut h = hold.lock();
            if h.is_some_and(|u| u <= Instant::now()) {
                *h = None;
                server.raft().runtime_config().elect(true);
            }
        });
        Ok(Response::new(HoldElectionResponse {}))
    }

    async fn campaign(&self, request: Request<CampaignRequest>) -> Result<Response<CampaignResponse>, Status> {
        self.admit(&request, "Campaign")?;
        self.server.raft().trigger().elect().await.map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(CampaignResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    const OWN: u64 = 0xc1;

    fn naming(cluster: &'static str, member: &'static str) -> MetadataMap {
        let mut md = MetadataMap::new();
        md.insert(CLUSTER_ID_HEADER, MetadataValue::from_static(cluster));
        md.insert(MEMBER_ID_HEADER, MetadataValue::from_static(member));
        md
    }

    fn refused_as_stranger(result: Result<(), Status>) -> bool {
        matches!(result, Err(s) if s.code() == tonic::Code::FailedPrecondition
            && s.message() == CLUSTER_MISMATCH_TEXT
            && s.metadata().get(ERROR_CODE_HEADER).is_some_and(|v| v == CLUSTER_MISMATCH_CODE))
    }

    const RPCS: [&str; 14] = [
        "AppendEntries",
        "Vote",
        "InstallSnapshot",
        "Propose",
        "ReadIndex",
        "LeaseKeepAlive",
        "LeaseTimeToLive",
        "Members",
        "MemberAdd",
        "MemberRemove",
        "MemberUpdate",
        "MemberPromote",
        "HoldElection",
        "Campaign",
    ];

    /// R8: a caller naming no cluster (no header, or 0 as a member that does
    /// not know it yet sends) may only ask for the member list, which is what
    /// a joining member does first (bootstrap/join.rs).
    #[test]
    fn a_caller_naming_no_cluster_may_only_ask_for_the_members() {
        let members = MemberTable::new(1);
        for anonymous in [MetadataMap::new(), naming("0", "0")] {
            for rpc in RPCS {
                let result = admission(OWN, &members, &anonymous, rpc);
                if rpc == "Members" {
                    assert!(result.is_ok(), "{rpc}: {result:?}");
                } else {
                    assert!(refused_as_stranger(result), "{rpc} without a cluster id is refused");
                }
            }
        }
    }

    #[test]
    fn members_of_this_cluster_are_admitted_and_others_refused() {
        let members = MemberTable::new(1);
        members.record_removed([0xdead]);
        for rpc in RPCS {
            assert!(admission(OWN, &members, &naming("c1", "2"), rpc).is_ok(), "{rpc}");
            assert!(refused_as_stranger(admission(OWN, &members, &naming("c2", "2"), rpc)), "{rpc}");
            let removed = admission(OWN, &members, &naming("c1", "dead"), rpc);
            assert!(
                matches!(&removed, Err(s) if s.code() == tonic::Code::PermissionDenied && s.message() == REMOVED_TEXT),
                "{rpc}: {removed:?}"
            );
        }
    }
}
