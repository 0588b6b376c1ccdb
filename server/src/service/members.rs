//! Cluster membership as etcd exposes it (MemberList/Add/Remove/Update/
//! Promote), on top of Raft's joint-consensus membership changes. Raft's
//! membership holds who votes and where each member listens for peers; the
//! replicated member table holds names and client URLs.
//!
//! Changes are made by the leader; other members forward them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use capstan_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest,
    MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
};
use openraft::ChangeMembers;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};

use super::{EtcdError, Server, ServiceError};
use crate::raft::PeerNode;

/// A learner may be promoted once it has this share of the leader's log (etcd: 90 %).
const LEARNER_READY_PERCENT: f64 = 0.9;

/// What a Raft membership change may fail with.
type ChangeError = RaftError<u64, ClientWriteError<u64, PeerNode>>;

/// Which member handles a membership change.
enum Route {
    Here,
    Leader(u64),
}

impl Server {
    /// Every member, sorted by id (etcd's order).
    pub fn member_list(&self) -> Vec<Member> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let config = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = config.voter_ids().collect();
        let mut out: Vec<Member> = config
            .nodes()
            .map(|(id, node)| {
                let attrs = self.members.attrs(*id).unwrap_or_default();
                Member {
                    id: *id,
                    name: attrs.name,
                    peer_ur_ls: node.peer_urls.clone(),
                    client_ur_ls: attrs.client_urls,
                    is_learner: !voters.contains(id),
                }
            })
            .collect();
        out.sort_by_key(|m| m.id);
        out
    }

    async fn route(&self) -> Result<Route, ServiceError> {
        let leader = tokio::time::timeout(self.options.request_timeout, self.wait_for_leader())
            .await
            .map_err(|_| ServiceError::Timeout)??;
        Ok(if leader == self.member_id() { Route::Here } else { Route::Leader(leader) })
    }

    pub async fn member_add(&self, req: MemberAddRequest) -> Result<MemberAddResponse, ServiceError> {
        match self.route().await? {
            Route::Here => self.leader_member_add(req).await,
            Route::Leader(l) => {
                let (url, mut client) = self.leader_client(l)?;
                let r = client.member_add(self.peers.request(req, Some(self.options.request_timeout))).await;
                r.map(|r| self.rehead_add(r.into_inner()))
                    .map_err(|s| ServiceError::from_peer(self.peers.error(&url, s)))
            }
        }
    }

    pub async fn member_remove(&self, req: MemberRemoveRequest) -> Result<MemberRemoveResponse, ServiceError> {
        let id = req.id;
        let result = match self.route().await? {
            Route::Here => self.leader_member_remove(req).await,
            Route::Leader(l) => {
                let (url, mut client) = self.leader_client(l)?;
                let r = client.member_remove(self.peers.request(req, Some(self.options.request_timeout))).await;
                r.map(|r| MemberRemoveResponse { header: self.cluster_header(), ..r.into_inner() })
                    .map_err(|s| ServiceError::from_peer(self.peers.error(&url, s)))
            }
        };
        match result {
            // etcd's refusals are definitive; anything else leaves the removal
            // in doubt. A leader that removes itself steps down and exits as
            // it answers, so its answer can be lost although the removal was
            // applied: then, as etcd answers, it succeeded.
            Err(e) if !matches!(e, ServiceError::Etcd(_)) && self.removal_applied(id).await => {
                tracing::info!(member = %format!("{id:x}"), error = %e, "member removal answered after the leader changed: it was applied");
                let members = self.member_list().into_iter().filter(|m| m.id != id).collect();
                Ok(MemberRemoveResponse { header: self.cluster_header(), members })
            }
            other => other,
        }
    }

    /// Whether member `id` is gone from the cluster, as the current leader
    /// knows it (after a read barrier: this member has applied as far).
    async fn removal_applied(&self, id: u64) -> bool {
        self.read_barrier().await.is_ok() && !self.nodes().0.contains_key(&id)
    }

    pub async fn member_update(&self, req: MemberUpdateRequest) -> Result<MemberUpdateResponse, ServiceError> {
        match self.route().await? {
            Route::Here => self.leader_member_update(req).await,
            Route::Leader(l) => {
                let (url, mut client) = self.leader_client(l)?;
                let r = client.member_update(self.peers.request(req, Some(self.options.request_timeout))).await;
                r.map(|r| MemberUpdateResponse { header: self.cluster_header(), ..r.into_inner() })
                    .map_err(|s| ServiceError::from_peer(self.peers.error(&url, s)))
            }
        }
    }

    pub async fn member_promote(&self, req: MemberPromoteRequest) -> Result<MemberPromoteResponse, ServiceError> {
        match self.route().await? {
            Route::Here => self.leader_member_promote(req).await,
            Route::Leader(l) => {
                let (url, mut client) = self.leader_client(l)?;
                let r = client.member_promote(self.peers.request(req, Some(self.options.request_timeout))).await;
                r.map(|r| MemberPromoteResponse { header: self.cluster_header(), ..r.into_inner() })
                    .map_err(|s| ServiceError::from_peer(self.peers.error(&url, s)))
            }
        }
    }

    fn rehead_add(&self, r: MemberAddResponse) -> MemberAddResponse {
        MemberAddResponse { header: self.cluster_header(), ..r }
    }

    fn leader_client(
        &self,
        leader: u64,
    ) -> Result<(String, capstan_proto::capstanpb::peer_client::PeerClient<tonic::transport::Channel>), ServiceError>
    {
        let url = self.peer_urls_of(leader).and_then(|u| u.into_iter().next()).ok_or(ServiceError::LeaderChanged)?;
        let client = self.peers.client(&url).map_err(ServiceError::from_peer)?;
        Ok((url, client))
    }

    /// etcd's cluster responses carry no revision.
    pub fn cluster_header(&self) -> Option<capstan_proto::etcdserverpb::ResponseHeader> {
        Some(self.headers.header(0))
    }

    pub(super) fn nodes(&self) -> (BTreeMap<u64, PeerNode>, BTreeSet<u64>) {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let config = metrics.membership_config.membership();
        (config.nodes().map(|(id, n)| (*id, n.clone())).collect(), config.voter_ids().collect())
    }

    fn check_urls_unused(&self, urls: &[String], except: Option<u64>) -> Result<(), ServiceError> {
        let (nodes, _) = self.nodes();
        let taken = nodes
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .any(|(_, n)| n.peer_urls.iter().any(|u| urls.contains(u)));
        if taken { Err(ServiceError::Etcd(EtcdError::PeerUrlExists)) } else { Ok(()) }
    }

    fn check_known(&self, id: u64) -> Result<(), ServiceError> {
        if self.nodes().0.contains_key(&id) {
            Ok(())
        } else {
            // etcd answers removed and unknown ids alike.
            Err(ServiceError::Etcd(EtcdError::MemberNotFound))
        }
    }

    /// Runs one Raft membership change; waits out a change still in progress.
    ///
    /// With `in_effect_suffices` (voters added that the grown quorum needs,
    /// see `grown_quorum_needs_new_members`) the change runs on in the
    /// background and the answer comes once this leader uses the new
    /// configuration, as etcd answers once its change is applied: the
    /// change then completes when the new members start.
    async fn change_membership(
        &self,
        change: ChangeMembers<u64, PeerNode>,
        in_effect_suffices: Option<&BTreeSet<u64>>,
    ) -> Result<(), ServiceError> {
        let deadline = Instant::now() + self.options.request_timeout;
        loop {
            let result = match in_effect_suffices {
                None => self.raft.change_membership(change.clone(), false).await,
                Some(added) => match self.change_until_in_effect(change.clone(), added).await {
                    Some(result) => result,
                    None => return Ok(()),
                },
            };
            match result {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                    ChangeMembershipError::InProgress(_),
                ))) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                    tracing::warn!(error = %e, "membership change refused");
                    return Err(ServiceError::Etcd(EtcdError::UnhealthyCluster));
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                    return Err(ServiceError::LeaderChanged);
                }
                Err(RaftError::Fatal(_)) => return Err(ServiceError::Stopped),
            }
        }
    }

    /// Starts `change` in a task of its own and waits until it finishes
    /// (`Some(result)`) or this leader's configuration has every `added`
    /// member as a voter (`None`).
    async fn change_until_in_effect(
        &self,
        change: ChangeMembers<u64, PeerNode>,
        added: &BTreeSet<u64>,
    ) -> Option<Result<openraft::raft::ClientWriteResponse<crate::raft::TypeConfig>, ChangeError>> {
        let raft = self.raft.clone();
        let mut task = tokio::spawn(async move { raft.change_membership(change, false).await });
        let mut metrics = self.raft.metrics();
        loop {
            let in_effect = {
                let m = metrics.borrow_and_update();
                let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
                added.is_subset(&voters)
            };
            if in_effect {
                return None;
            }
            tokio::select! {
                joined = &mut task => return Some(joined.unwrap_or(Err(RaftError::Fatal(openraft::error::Fatal::Stopped)))),
                changed = metrics.changed() => if changed.is_err() {
                    return Some(Err(RaftError::Fatal(openraft::error::Fatal::Stopped)));
                },
            }
        }
    }

    /// MemberAdd on the leader.
    pub async fn leader_member_add(&self, req: MemberAddRequest) -> Result<MemberAddResponse, ServiceError> {
        if req.peer_ur_ls.is_empty() {
            return Err(ServiceError::Remote(tonic::Status::invalid_argument("etcdserver: no peer URLs given")));
        }
        self.check_urls_unused(&req.peer_ur_ls, None)?;
        let (nodes, voters) = self.nodes();
        if req.is_learner {
            let learners = nodes.keys().filter(|id| !voters.contains(id)).count();
            if learners + 1 > self.options.max_learners {
                return Err(ServiceError::Etcd(EtcdError::TooManyLearners));
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let id = crate::membership::member_id(&req.peer_ur_ls, &self.options.cluster_token, Some(now));
        if nodes.contains_key(&id) {
            return Err(ServiceError::Etcd(EtcdError::MemberExist));
        }
        if self.members.is_removed(id) {
            return Err(ServiceError::Etcd(EtcdError::MemberExist));
        }
        self.may_add_member(req.is_learner)?;
        let node = PeerNode { peer_urls: req.peer_ur_ls.clone() };
        let added = BTreeSet::from([id]);
        let (change, in_effect_suffices) = if req.is_learner {
            (ChangeMembers::AddNodes(BTreeMap::from([(id, node)])), None)
        } else {
            let awaits = self.grown_quorum_needs_new_members(1);
            (ChangeMembers::AddVoters(BTreeMap::from([(id, node)])), awaits.then_some(&added))
        };
        self.change_membership(change, in_effect_suffices).await?;
        tracing::info!(member = %format!("{id:x}"), peer_urls = ?req.peer_ur_ls, learner = req.is_learner, "added member");
        Ok(MemberAddResponse {
            header: self.cluster_header(),
            member: Some(Member {
                id,
                name: String::new(),
                peer_ur_ls: req.peer_ur_ls,
                client_ur_ls: Vec::new(),
                is_learner: req.is_learner,
            }),
            members: self.member_list(),
        })
    }

    /// MemberRemove on the leader (which may remove itself).
    pub async fn leader_member_remove(&self, req: MemberRemoveRequest) -> Result<MemberRemoveResponse, ServiceError> {
        self.check_known(req.id)?;
        let (_, voters) = self.nodes();
        self.may_remove_member(req.id)?;
        let change = if voters.contains(&req.id) {
            if voters.len() == 1 {
                // Even without the strict check: Raft cannot remove its last voter.
                return Err(ServiceError::Etcd(EtcdError::NotEnoughStartedMembers));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([req.id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([req.id]))
        };
        self.change_membership(change, None).await?;
        tracing::info!(member = %format!("{:x}", req.id), "removed member");
        let members = self.member_list().into_iter().filter(|m| m.id != req.id).collect();
        Ok(MemberRemoveResponse { header: self.cluster_header(), members })
    }

    /// MemberUpdate on the leader: new peer URLs.
    pub async fn leader_member_update(&self, req: MemberUpdateRequest) -> Result<MemberUpdateResponse, ServiceError> {
        self.check_known(req.id)?;
        self.check_urls_unused(&req.peer_ur_ls, Some(req.id))?;
        let node = PeerNode { peer_urls: req.peer_ur_ls.clone() };
        self.change_membership(ChangeMembers::SetNodes(BTreeMap::from([(req.id, node)])), None).await?;
        tracing::info!(member = %format!("{:x}", req.id), peer_urls = ?req.peer_ur_ls, "updated member");
        Ok(MemberUpdateResponse { header: self.cluster_header(), members: self.member_list() })
    }

    /// MemberPromote on the leader: a learner that has caught up becomes a voter.
    pub async fn leader_member_promote(
        &self,
        req: MemberPromoteRequest,
    ) -> Result<MemberPromoteResponse, ServiceError> {
        self.check_known(req.id)?;
        let (_, voters) = self.nodes();
        if voters.contains(&req.id) {
            return Err(ServiceError::Etcd(EtcdError::MemberNotLearner));
        }
        let (matched, last) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let matched = m.replication.as_ref().and_then(|r| r.get(&req.id).cloned()).flatten().map_or(0, |l| l.index);
            (matched, m.last_log_index.unwrap_or(0))
        };
        if (matched as f64) < (last as f64) * LEARNER_READY_PERCENT {
            return Err(ServiceError::Etcd(EtcdError::LearnerNotReady));
        }
        self.may_promote_member()?;
        self.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), None).await?;
        self.metrics.learner_promote_successes.inc();
        tracing::info!(member = %format!("{:x}", req.id), "promoted learner");
        Ok(MemberPromoteResponse { header: self.cluster_header(), members: self.member_list() })
    }
}
