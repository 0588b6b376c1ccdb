//! Leadership transfer (Maintenance.MoveLeader).
//!
//! openraft 0.9 has no TimeoutNow message, and voters refuse to vote while
//! their leader lease (the maximum election timeout since they last heard from
//! the leader) runs. So the leader makes the transferee the only possible
//! winner instead: it holds new proposals, stops heartbeats, asks the other
//! voters not to campaign for a while, waits until the transferee has the whole
//! log, and asks it to campaign until it wins (once the leases have run out).
//! This takes about two election timeouts, where etcd's TimeoutNow is
//! immediate.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use capstan_proto::capstanpb::{CampaignRequest, HoldElectionRequest};

use super::{EtcdError, Server, ServiceError};

impl Server {
    pub async fn move_leader(&self, target: u64) -> Result<(), ServiceError> {
        let me = self.member_id();
        if !self.is_leader() {
            return Err(ServiceError::NotLeader);
        }
        let voters: BTreeSet<u64> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().voter_ids().collect()
        };
        if !voters.contains(&target) {
            return Err(ServiceError::Etcd(EtcdError::BadLeaderTransferee));
        }
        if target == me {
            return Ok(());
        }
        let election = self.options.election_timeout;
        let budget = self.options.request_timeout;
        let hold = budget + election;
        let started = Instant::now();
        tracing::info!(transferee = %format!("{target:x}"), "leadership transfer started");

        self.transferring.send_replace(true);
        let others: Vec<u64> = voters.iter().copied().filter(|v| *v != me && *v != target).collect();
        for v in &others {
            self.hold_election(*v, hold).await;
        }
        let rc = self.raft.runtime_config();
        rc.elect(false);
        rc.heartbeat(false);

        let result = self.campaign_until_leader(target, started + budget, election).await;

        rc.heartbeat(true);
        rc.elect(true);
        for v in &others {
            self.hold_election(*v, Duration::ZERO).await;
        }
        self.transferring.send_replace(false);
        match &result {
            Ok(()) => tracing::info!(
                transferee = %format!("{target:x}"),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "leadership transferred"
            ),
            Err(e) => tracing::warn!(transferee = %format!("{target:x}"), error = %e, "leadership transfer failed"),
        }
        result
    }

    /// Waits for the transferee to have the whole log, then asks it to
    /// campaign every election timeout until it leads or time runs out.
    async fn campaign_until_leader(
        &self,
        target: u64,
        deadline: Instant,
        election: Duration,
    ) -> Result<(), ServiceError> {
        let mut metrics = self.raft.metrics();
        loop {
            let (leader, caught_up) = {
                let m = metrics.borrow_and_update();
                let matched = m.replication.as_ref().and_then(|r| r.get(&target).cloned()).flatten().map(|l| l.index);
                (m.current_leader, matched.is_some() && matched >= m.last_log_index)
            };
            if leader == Some(target) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ServiceError::Etcd(EtcdError::LeadershipTransferTimeout));
            }
            if caught_up || leader != Some(self.member_id()) {
                if let Some(url) = self.peer_urls_of(target).and_then(|u| u.into_iter().next())
                    && let Ok(mut client) = self.peers.client(&url)
                {
                    let _ = client.campaign(self.peers.request(CampaignRequest {}, Some(election))).await;
                }
                let _ = tokio::time::timeout(election, metrics.changed()).await;
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
            }
        }
    }

    async fn hold_election(&self, member: u64, duration: Duration) {
        let Some(url) = self.peer_urls_of(member).and_then(|u| u.into_iter().next()) else { return };
        let Ok(mut client) = self.peers.client(&url) else { return };
        let req = HoldElectionRequest { millis: duration.as_millis() as u64 };
        if let Err(s) = client.hold_election(self.peers.request(req, Some(Duration::from_secs(1)))).await {
            tracing::debug!(member = %format!("{member:x}"), error = %s, "could not hold a member's election");
        }
    }

    /// Whether proposals are held for a leadership transfer.
    pub(crate) async fn wait_transfer_done(&self) {
        let mut rx = self.transferring.subscribe();
        let _ = rx.wait_for(|t| !*t).await;
    }
}
