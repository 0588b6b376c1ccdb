//! Automatic compaction (`--auto-compaction-mode` / `--auto-compaction-retention`),
//! run by the leader with etcd's schedule:
//! - periodic with retention R: every R/10 (at most 6 minutes) record the
//!   revision; compact to the revision recorded R ago, once per R (at most
//!   once an hour once started);
//! - revision with retention N: every 5 minutes compact to current − N.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_proto::etcdserverpb::CompactionRequest;

use super::{Server, ServiceError};
use crate::mvcc::MvccError;
use crate::raft::ApplyError;

/// How history is compacted automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionPolicy {
    /// Keep this much time of history.
    Periodic(Duration),
    /// Keep this many revisions of history.
    Revision(i64),
}

const REVISION_CHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);

async fn compact(server: &Server, revision: i64) -> bool {
    tracing::info!(revision, "starting auto compaction");
    match server.compact(None, CompactionRequest { revision, physical: false }).await {
        Ok(_) => true,
        Err(ServiceError::Apply(ApplyError::Mvcc(e))) if matches!(*e, MvccError::Compacted) => true,
        Err(e) => {
            tracing::warn!(revision, error = %e, "auto compaction failed; will retry");
            false
        }
    }
}

pub async fn run(server: Arc<Server>, policy: CompactionPolicy, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    match policy {
        CompactionPolicy::Revision(retention) => {
            let mut previous = 0;
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(REVISION_CHECK_INTERVAL) => {}
                }
                if !server.is_leader() {
                    continue;
                }
                let rev = server.kv().current_revision() - retention;
                if rev <= 0 || rev == previous {
                    continue;
                }
                if compact(&server, rev).await {
                    previous = rev;
                }
            }
        }
        CompactionPolicy::Periodic(period) => {
            let capped = period.min(Duration::from_secs(3600));
            let retry = (capped / 10).max(Duration::from_millis(100));
            let keep = (period.as_nanos() / retry.as_nanos()) as usize + 1;
            let mut revs: VecDeque<i64> = VecDeque::new();
            let mut last_success = Instant::now();
            let mut last_revision = 0;
            let mut base_interval = period;
            loop {
                revs.push_back(server.kv().current_revision());
                if revs.len() > keep {
                    revs.pop_front();
                }
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(retry) => {}
                }
                let rev = revs[0];
                if last_success.elapsed() < base_interval || rev == last_revision || !server.is_leader() {
                    continue;
                }
                base_interval = capped;
                if compact(&server, rev).await {
                    last_revision = rev;
                    last_success = Instant::now();
                }
            }
        }
    }
}
