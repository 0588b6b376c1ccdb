//! Leader duties for leases: follow leadership (a new leader restarts every
//! lease's TTL) and propose a revoke for each expired lease.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use capstan_proto::etcdserverpb::LeaseRevokeRequest;
use parking_lot::Mutex;

use super::Server;
use crate::auth::AuthInfo;

/// How often expiry is checked (etcd: every 500 ms).
const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// At most this many revokes are proposed per check.
const MAX_REVOKES_PER_CHECK: usize = 500;

pub(super) async fn run(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut metrics = server.raft().metrics();
    let revoking: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = metrics.changed() => {
                if changed.is_err() { return; }
                follow_leadership(&server);
            }
            _ = tick.tick() => {
                follow_leadership(&server);
                revoke_expired(&server, &revoking);
            }
        }
    }
}

fn follow_leadership(server: &Server) {
    let (term, leader) = {
        let m = server.raft().metrics();
        let m = m.borrow();
        (m.current_term, m.current_leader)
    };
    server.headers().set_term(term);
    let is_leader = leader == Some(server.headers().member_id());
    let mut lessor = server.lessor().lock();
    if is_leader && !lessor.is_primary() {
        lessor.promote(Instant::now());
        tracing::info!(term, leases = lessor.len(), "became leader: lease TTLs restarted");
    } else if !is_leader && lessor.is_primary() {
        lessor.demote();
    }
}

fn revoke_expired(server: &Arc<Server>, revoking: &Arc<Mutex<HashSet<i64>>>) {
    let expired = server.lessor().lock().expired(Instant::now(), MAX_REVOKES_PER_CHECK);
    for id in expired {
        if !revoking.lock().insert(id) {
            continue;
        }
        let server = server.clone();
        let revoking = revoking.clone();
        tokio::spawn(async move {
            let result = server.lease_revoke(Some(&AuthInfo::member()), LeaseRevokeRequest { id }).await;
            if let Err(e) = result {
                tracing::debug!(lease = id, error = %e, "revoke of expired lease failed; will retry");
            }
            revoking.lock().remove(&id);
        });
    }
}
