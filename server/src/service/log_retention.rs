//! When to snapshot and how much Raft log to keep, counted in requests as
//! etcd counts them.
//!
//! etcd's `--snapshot-count` and `--snapshot-catchup-entries` count Raft
//! entries, and in etcd every client request is one entry. Capstan packs many
//! requests into one entry (group commit), so openraft's own entry-counted
//! policy would snapshot hundreds of times less often under load and keep
//! hundreds of times more log than the flags ask for (more disk, longer
//! restarts). This task counts applied requests instead: after
//! `snapshot_count` requests it asks openraft for a snapshot, and once that
//! snapshot exists it purges the log up to the entry that still leaves the
//! last `catchup` requests in the log for slow followers.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;

use super::Server;
use crate::raft::AppliedProgress;

/// The request-counted retention policy (etcd's flags).
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Requests applied between two snapshots (`--snapshot-count`).
    pub snapshot_count: u64,
    /// Requests kept in the log behind a snapshot (`--snapshot-catchup-entries`).
    pub catchup: u64,
}

/// Where the log may be purged to, once the snapshot covering it exists.
#[derive(Debug, Default)]
struct Planner {
    /// Applied progress samples, oldest first, back to the last purge point.
    samples: VecDeque<AppliedProgress>,
    /// Requests applied when the last snapshot was asked for.
    snapshot_requests: u64,
    /// The purge waiting for a snapshot that covers it.
    pending_purge: Option<u64>,
}

impl Planner {
    /// Records progress; returns whether a snapshot is due.
    fn observe(&mut self, now: AppliedProgress, policy: RetentionPolicy) -> bool {
        if self.samples.back() != Some(&now) {
            self.samples.push_back(now);
        }
        if now.requests < self.snapshot_requests + policy.snapshot_count.max(1) {
            return false;
        }
        self.snapshot_requests = now.requests;
        // The newest entry that still leaves `catchup` requests after it.
        let keep_from = now.requests.saturating_sub(policy.catchup);
        let upto = self.samples.iter().take_while(|s| s.requests <= keep_from).last().map(|s| s.index);
        if let Some(upto) = upto {
            self.pending_purge = Some(upto);
            while self.samples.front().is_some_and(|s| s.index < upto) {
                self.samples.pop_front();
            }
        }
        true
    }

    /// The purge to do now that the newest snapshot covers `snapshot_index`.
    fn purge_due(&mut self, snapshot_index: Option<u64>) -> Option<u64> {
        let upto = self.pending_purge?;
        if snapshot_index.is_some_and(|s| s >= upto) {
            self.pending_purge = None;
            return Some(upto);
        }
        None
    }
}

pub(super) async fn run(
    server: Arc<Server>,
    mut progress: watch::Receiver<AppliedProgress>,
    policy: RetentionPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut metrics = server.raft.metrics();
    let mut planner = Planner::default();
    loop {
        tokio::select! {
            changed = progress.changed() => if changed.is_err() { return },
            changed = metrics.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
        let now = *progress.borrow_and_update();
        if planner.observe(now, policy) {
            tracing::debug!(
                index = now.index,
                requests = now.requests,
                "snapshot due (--snapshot-count requests applied)"
            );
            if server.raft.trigger().snapshot().await.is_err() {
                return;
            }
        }
        let snapshot_index = metrics.borrow_and_update().snapshot.map(|s| s.index);
        if let Some(upto) = planner.purge_due(snapshot_index)
            && server.raft.trigger().purge_log(upto).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(index: u64, requests: u64) -> AppliedProgress {
        AppliedProgress { index, requests }
    }

    #[test]
    fn snapshots_by_requests_and_keeps_catchup_requests() {
        let policy = RetentionPolicy { snapshot_count: 100, catchup: 30 };
        let mut p = Planner::default();
        // Ten requests per entry: 9 entries = 90 requests, no snapshot yet.
        for i in 1..=9 {
            assert!(!p.observe(at(i, i * 10), policy));
        }
        assert!(p.observe(at(10, 100), policy));
        // 30 requests are kept: entries 8..10 hold requests 71..100, so up to 7.
        assert_eq!(p.purge_due(Some(5)), None, "the snapshot does not cover the purge yet");
        assert_eq!(p.purge_due(Some(10)), Some(7));
        assert_eq!(p.purge_due(Some(10)), None, "purged once");
        // The next snapshot is due 100 requests later, not 100 entries.
        assert!(!p.observe(at(11, 150), policy));
        assert!(p.observe(at(12, 200), policy));
        assert_eq!(p.purge_due(Some(12)), Some(11));
    }

    #[test]
    fn nothing_is_purged_while_the_log_holds_fewer_than_catchup_requests() {
        let policy = RetentionPolicy { snapshot_count: 10, catchup: 1000 };
        let mut p = Planner::default();
        assert!(p.observe(at(1, 10), policy));
        assert_eq!(p.purge_due(Some(1)), None);
    }
}
