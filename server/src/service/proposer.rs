//! Group commit: requests waiting to be proposed are packed into one Raft
//! entry, and the next entry is proposed only when the previous one has been
//! applied, so everything that arrives meanwhile travels together. The batch
//! grows with the load: one request when idle, hundreds under load, and the
//! per-entry costs (fsync, replication round, apply write, wake-ups) are paid
//! once per batch. On a follower, the batch goes to the leader over the peer
//! protocol; either way the caller is answered by this member's own apply of
//! the entry.

use std::sync::Arc;
use std::time::Instant;

use capstan_proto::capstanpb::{InternalRequest, RequestBatch};
use openraft::error::{ClientWriteError, RaftError};
use prost::Message;
use tokio::sync::{Semaphore, mpsc};

use super::{Server, ServiceError};
use crate::raft::Proposal;

/// Upper bounds of one batch.
const MAX_BATCH_REQUESTS: usize = 4096;
const MAX_BATCH_BYTES: usize = 8 << 20;
/// Raft entries proposed and not yet applied. Measured on 2 cores
/// (bench/RESULTS.md): 1 beats 2, 4, 8 and 32 at 10, 100 and 1000 clients,
/// for one member and for three; more entries in flight only make each
/// batch smaller, and this pipeline is bound by per-entry work, not by waiting.
const MAX_IN_FLIGHT: usize = 1;

pub(super) async fn run(server: Arc<Server>, mut rx: mpsc::Receiver<InternalRequest>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        // Take a slot first: while all slots are busy, requests queue up and
        // the next batch gets larger.
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let first = tokio::select! {
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = shutdown.changed() => return,
        };
        let mut bytes = first.encoded_len();
        let mut requests = vec![first];
        while requests.len() < MAX_BATCH_REQUESTS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.encoded_len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        let ids: Vec<u64> = requests.iter().map(|r| r.id).collect();
        let server = server.clone();
        tokio::spawn(async move {
            let result = submit(&server, RequestBatch { requests }).await;
            drop(permit);
            if let Err(err) = result {
                server.waiters.fail(&ids, &err);
            }
        });
    }
}

/// Gets `batch` committed: proposed here when leading, else forwarded to the
/// leader. Retries only where nothing can have been proposed (the target did
/// not lead), until the request timeout.
async fn submit(server: &Server, batch: RequestBatch) -> Result<(), ServiceError> {
    // A little before the caller's own timeout, so that "no leader in time"
    // is reported as such rather than as a generic timeout.
    let deadline = Instant::now() + server.options.request_timeout.saturating_sub(std::time::Duration::from_millis(100));
    let me = server.member_id();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ServiceError::NoLeaderInTime);
        }
        // A leadership transfer holds proposals until it ends.
        let mut transferring = server.transferring.subscribe();
        let _ = tokio::time::timeout(remaining, transferring.wait_for(|t| !*t)).await;
        let leader = match tokio::time::timeout(remaining, server.wait_for_leader()).await {
            Ok(leader) => leader?,
            Err(_) => return Err(ServiceError::NoLeaderInTime),
        };
        let result = if leader == me {
            propose_here(server, batch.encode_to_vec()).await
        } else {
            server.forward_propose(leader, batch.clone()).await
        };
        match result {
            Err(ServiceError::NotLeader) => server.wait_for_leader_change(leader).await,
            other => return other,
        }
    }
}

/// Proposes an encoded batch on this member, which believes it leads.
/// A refusal after this point is ambiguous (the entry may have been appended
/// before leadership was lost), so it is not retried.
pub(crate) async fn propose_here(server: &Server, batch: Vec<u8>) -> Result<(), ServiceError> {
    server.raft.client_write(Proposal { batch }).await.map(|_| ()).map_err(|e| match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => ServiceError::LeaderChanged,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(_)) => ServiceError::LeaderChanged,
        RaftError::Fatal(f) => {
            tracing::error!(error = %f, "raft stopped");
            ServiceError::Stopped
        }
    })
}
