//! etcd's `--strict-reconfig-check` (on by default): the leader refuses a
//! membership change that would leave the cluster without a working quorum,
//! judged by which members have started (published their attributes) and
//! which peers it has been reaching for at least [`HEALTH_INTERVAL`]. The
//! rules and errors are etcd's `mayAddMember`, `mayRemoveMember` and
//! `mayPromoteMember` (server/etcdserver/server.go).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{EtcdError, Server, ServiceError};

/// How long a peer must have been reachable to count as connected (etcd's
/// `HealthInterval`). A change right after members (re)connect is refused.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// The majority of `voters`.
fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Voting members and how many of them have started, for the checks below.
struct Census {
    voters: BTreeSet<u64>,
    started: usize,
}

impl Server {
    fn census(&self) -> Census {
        let (_, voters) = self.nodes();
        let me = self.member_id();
        // This member answers requests, so it has started even if its own
        // attributes are not applied yet.
        let started = voters
            .iter()
            .filter(|id| **id == me || self.members.attrs(**id).is_some_and(|a| !a.name.is_empty()))
            .count();
        Census { voters, started }
    }

    /// Whether `peer` has been reachable since before `since` (this member
    /// always is).
    fn connected_since(&self, peer: u64, since: Instant) -> bool {
        peer == self.member_id() || self.peers.active_since(peer).is_some_and(|t| t <= since)
    }

    fn health_horizon() -> Instant {
        Instant::now().checked_sub(HEALTH_INTERVAL).unwrap_or_else(Instant::now)
    }

    /// etcd's `mayAddMember`.
    pub(super) fn may_add_member(&self, is_learner: bool) -> Result<(), ServiceError> {
        if !self.options.strict_reconfig_check {
            return Ok(());
        }
        let census = self.census();
        if !is_learner {
            // IsReadyToAddVotingMember: the started members must make a
            // quorum of the grown cluster; adding a second member to a lone
            // one (restoring a cluster) is allowed.
            let members = census.voters.len() + 1;
            let lone_restore = census.started == 1 && members == 2;
            if !lone_restore && census.started < quorum(members) {
                tracing::warn!(started = census.started, members, "rejecting member add: not enough started members");
                return Err(ServiceError::Etcd(EtcdError::NotEnoughStartedMembers));
            }
        }
        let since = Self::health_horizon();
        if let Some(peer) = census.voters.iter().find(|id| !self.connected_since(**id, since)) {
            tracing::warn!(
                peer = %format!("{peer:x}"),
                "rejecting member add: this member has not been connected to all peers for {HEALTH_INTERVAL:?}"
            );
            return Err(ServiceError::Etcd(EtcdError::UnhealthyCluster));
        }
        Ok(())
    }

    /// etcd's `mayRemoveMember`.
    pub(super) fn may_remove_member(&self, id: u64) -> Result<(), ServiceError> {
        if !self.options.strict_reconfig_check {
            return Ok(());
        }
        let census = self.census();
        if !census.voters.contains(&id) {
            return Ok(()); // a learner is not part of any quorum
        }
        // IsReadyToRemoveVotingMember: the other started members must make a
        // quorum of what remains.
        let remaining = census.voters.len() - 1;
        let me = self.member_id();
        let started_left =
            census.started - usize::from(id == me || self.members.attrs(id).is_some_and(|a| !a.name.is_empty()));
        if started_left < quorum(remaining) {
            tracing::warn!(started_left, remaining, "rejecting member remove: not enough started members");
            return Err(ServiceError::Etcd(EtcdError::NotEnoughStartedMembers));
        }
        // A member that is down is not part of the active quorum.
        if id != me && self.peers.active_since(id).is_none() {
            return Ok(());
        }
        let since = Self::health_horizon();
        let active = census.voters.iter().filter(|m| self.connected_since(**m, since)).count();
        if active - 1 < 1 + (census.voters.len() - 1) / 2 {
            tracing::warn!(
                active,
                voters = census.voters.len(),
                "rejecting member remove: it would break the active quorum"
            );
            return Err(ServiceError::Etcd(EtcdError::UnhealthyCluster));
        }
        Ok(())
    }

    /// etcd's `mayPromoteMember` (after its learner-is-in-sync check).
    pub(super) fn may_promote_member(&self) -> Result<(), ServiceError> {
        if !self.options.strict_reconfig_check {
            return Ok(());
        }
        // IsReadyToPromoteMember: the learner counts as a started member of
        // the grown cluster.
        let census = self.census();
        let members = census.voters.len() + 1;
        if census.started + 1 < quorum(members) {
            return Err(ServiceError::Etcd(EtcdError::NotEnoughStartedMembers));
        }
        Ok(())
    }

    /// Whether adding voters (`added` of them) must be answered once the
    /// change is in effect rather than committed: the members reachable now
    /// make a quorum of the current configuration but not of the grown one,
    /// so the change can only commit once the new members run. etcd answers
    /// when its single-step change is applied, which its old quorum commits;
    /// Raft's joint consensus here needs the new quorum too.
    pub(super) fn grown_quorum_needs_new_members(&self, added: usize) -> bool {
        let census = self.census();
        let now = Instant::now();
        let reachable = census.voters.iter().filter(|m| self.connected_since(**m, now)).count();
        let (old, new) = (census.voters.len(), census.voters.len() + added);
        reachable >= quorum(old) && reachable < quorum(new)
    }
}
