//! Read-index coalescing: every linearizable read needs the leader to confirm,
//! with a quorum, that it still leads, and to name its commit index. Doing
//! that once per read costs a heartbeat round to every follower per read (or,
//! on a follower, one peer call to the leader per read). Instead, reads that
//! arrive while a confirmation is in flight wait together for the next one,
//! as etcd's linearizable read loop does: one round serves every read that
//! was queued before it started, so the cost per read falls as load rises.
//!
//! A read never joins a round that started before it arrived: the index must
//! be confirmed after the read began, or the read could miss a write that
//! completed before it.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use super::{Server, ServiceError};

type IndexReply = Result<u64, ServiceError>;

/// Reads waiting for the next read-index round.
#[derive(Default)]
pub(super) struct ReadIndexQueue {
    waiting: Mutex<Vec<oneshot::Sender<IndexReply>>>,
    wakeup: Notify,
}

impl ReadIndexQueue {
    /// Queues a read for the next round; the receiver gets the confirmed index.
    pub(super) fn join(&self) -> oneshot::Receiver<IndexReply> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().push(tx);
        self.wakeup.notify_one();
        rx
    }

    fn take(&self) -> Vec<oneshot::Sender<IndexReply>> {
        std::mem::take(&mut *self.waiting.lock())
    }
}

/// Runs read-index rounds, one at a time, while reads are waiting.
pub(super) async fn run(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = server.read_indexes.wakeup.notified() => {}
            _ = shutdown.changed() => {
                for tx in server.read_indexes.take() {
                    let _ = tx.send(Err(ServiceError::Stopped));
                }
                return;
            }
        }
        let waiting = server.read_indexes.take();
        if waiting.is_empty() {
            continue;
        }
        let result = match tokio::time::timeout(server.options.request_timeout, server.confirm_read_index()).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::Timeout),
        };
        for tx in waiting {
            let _ = tx.send(result.clone());
        }
    }
}
