//! What a follower hands to the leader over the peer protocol: proposals,
//! read-index requests and lease liveness (keep-alive, time-to-live), which
//! only the leader's lessor tracks.

use std::time::{Duration, Instant};

use capstan_proto::capstanpb::{ReadIndexRequest, RequestBatch};
use capstan_proto::etcdserverpb::{LeaseKeepAliveRequest, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse};

use super::{Server, ServiceError};
use crate::lease::LeaseError;
use crate::peer::{PeerClients, PeerError};

impl Server {
    /// The peer URLs Raft knows for `member`.
    pub fn peer_urls_of(&self, member: u64) -> Option<Vec<String>> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.membership().get_node(&member).map(|n| n.peer_urls.clone())
    }

    fn peer_client(
        &self,
        member: u64,
    ) -> Result<(String, capstan_proto::capstanpb::peer_client::PeerClient<tonic::transport::Channel>), ServiceError>
    {
        let url = self.peer_urls_of(member).and_then(|u| u.into_iter().next()).ok_or(ServiceError::LeaderChanged)?;
        let client = self.peers.client(&url).map_err(ServiceError::from_peer)?;
        Ok((url, client))
    }

    /// Asks `leader` to propose `batch`; returns once it is committed.
    pub(super) async fn forward_propose(&self, leader: u64, batch: RequestBatch) -> Result<(), ServiceError> {
        let url = self.peer_urls_of(leader).and_then(|u| u.into_iter().next()).ok_or(ServiceError::LeaderChanged)?;
        propose_at(&self.peers, &url, batch, self.options.request_timeout).await
    }

    /// Asks `leader` for a read index.
    pub(super) async fn forward_read_index(&self, leader: u64) -> Result<u64, ServiceError> {
        let (url, mut client) = self.peer_client(leader)?;
        let req = self.peers.request(ReadIndexRequest {}, Some(self.options.request_timeout));
        match client.read_index(req).await {
            Ok(r) => Ok(r.into_inner().index),
            Err(s) => match self.peers.error(&url, s) {
                // Nothing happened on the leader: safe to ask again.
                PeerError::Unreachable { .. } => Err(ServiceError::NotLeader),
                e => Err(ServiceError::from_peer(e)),
            },
        }
    }

    /// Renews lease `id` for `ttl` more seconds, on the leader. Returns the
    /// TTL, 0 for an unknown lease (etcd's keep-alive answer).
    pub async fn keep_alive(&self, id: i64) -> Result<i64, ServiceError> {
        loop {
            let leader = tokio::time::timeout(self.options.request_timeout, self.wait_for_leader())
                .await
                .map_err(|_| ServiceError::NoLeader)??;
            if leader == self.member_id() {
                let renewed = self.lessor.lock().renew(id, Instant::now());
                match renewed {
                    Ok(ttl) => {
                        self.metrics.lease_renewed.inc();
                        return Ok(ttl);
                    }
                    Err(LeaseError::NotFound) => return Ok(0),
                    // Leadership not taken up by the lessor yet, or just lost.
                    Err(LeaseError::NotPrimary) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        continue;
                    }
                    Err(e) => return Err(ServiceError::Apply(e.into())),
                }
            }
            let (url, mut client) = self.peer_client(leader)?;
            let req = self.peers.request(LeaseKeepAliveRequest { id }, Some(self.options.request_timeout));
            match client.lease_keep_alive(req).await {
                Ok(r) => return Ok(r.into_inner().ttl),
                Err(s) => match ServiceError::from_peer(self.peers.error(&url, s)) {
                    ServiceError::NotLeader | ServiceError::LeaderChanged => self.wait_for_leader_change(leader).await,
                    e => return Err(e),
                },
            }
        }
    }

    /// Lease `req.id`'s remaining TTL as the leader sees it.
    pub async fn time_to_live(&self, req: LeaseTimeToLiveRequest) -> Result<LeaseTimeToLiveResponse, ServiceError> {
        let leader = tokio::time::timeout(self.options.request_timeout, self.wait_for_leader())
            .await
            .map_err(|_| ServiceError::NoLeader)??;
        if leader == self.member_id() {
            return Ok(self.local_time_to_live(&req));
        }
        let (url, mut client) = self.peer_client(leader)?;
        let request = self.peers.request(req, Some(self.options.request_timeout));
        match client.lease_time_to_live(request).await {
            Ok(r) => {
                let mut resp = r.into_inner();
                resp.header = Some(self.headers.header(self.kv.current_revision()));
                Ok(resp)
            }
            Err(s) => Err(ServiceError::from_peer(self.peers.error(&url, s))),
        }
    }

    /// TimeToLive from this member's lessor (the leader's is authoritative).
    pub fn local_time_to_live(&self, req: &LeaseTimeToLiveRequest) -> LeaseTimeToLiveResponse {
        let header = Some(self.headers.header(self.kv.current_revision()));
        match self.lessor.lock().time_to_live(req.id, Instant::now()) {
            Ok(t) => LeaseTimeToLiveResponse {
                header,
                id: req.id,
                ttl: t.remaining,
                granted_ttl: t.granted_ttl,
                keys: if req.keys { t.keys } else { Vec::new() },
            },
            // etcd answers an unknown lease with TTL -1 rather than an error.
            Err(_) => LeaseTimeToLiveResponse { header, id: req.id, ttl: -1, granted_ttl: 0, keys: Vec::new() },
        }
    }
}

/// Asks the member at `url` (the leader) to propose `batch`; returns once it is committed.
pub(super) async fn propose_at(
    peers: &PeerClients,
    url: &str,
    batch: RequestBatch,
    timeout: Duration,
) -> Result<(), ServiceError> {
    let mut client = peers.client(url).map_err(ServiceError::from_peer)?;
    let req = peers.request(batch, Some(timeout));
    client.propose(req).await.map(|_| ()).map_err(|s| ServiceError::from_peer(peers.error(url, s)))
}
