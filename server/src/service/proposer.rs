//! Group commit: requests waiting to be proposed are packed into one Raft
//! entry; several entries may be in flight at once, and openraft appends all
//! entries queued meanwhile with one fsync.

use std::sync::Arc;

use capstan_proto::capstanpb::{InternalRequest, RequestBatch};
use openraft::error::{ClientWriteError, RaftError};
use prost::Message;
use tokio::sync::{Semaphore, mpsc};

use super::{ServiceError, Waiters};
use crate::raft::{Proposal, Raft};

/// Upper bounds of one batch.
const MAX_BATCH_REQUESTS: usize = 4096;
const MAX_BATCH_BYTES: usize = 8 << 20;
/// Raft entries proposed and not yet applied.
const MAX_IN_FLIGHT: usize = 32;

pub(super) async fn run(
    raft: Raft,
    mut rx: mpsc::Receiver<InternalRequest>,
    waiters: Arc<Waiters>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
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
        let batch = RequestBatch { requests }.encode_to_vec();
        let raft = raft.clone();
        let waiters = waiters.clone();
        tokio::spawn(async move {
            let result = raft.client_write(Proposal { batch }).await;
            drop(permit);
            if let Err(e) = result {
                let err = match e {
                    RaftError::APIError(ClientWriteError::ForwardToLeader(f)) if f.leader_id.is_none() => ServiceError::NoLeader,
                    RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => ServiceError::NotLeader,
                    RaftError::APIError(ClientWriteError::ChangeMembershipError(_)) => ServiceError::NotLeader,
                    RaftError::Fatal(f) => {
                        tracing::error!(error = %f, "raft stopped");
                        ServiceError::Stopped
                    }
                };
                waiters.fail(&ids, &err);
            }
        });
    }
}
