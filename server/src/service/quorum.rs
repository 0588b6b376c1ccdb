//! etcd's check-quorum, observed from outside openraft: the leader confirms
//! every so often that a quorum still follows it. A leader without quorum
//! contact for an election timeout is not presented as leader (openraft 0.9
//! keeps its leader role until it sees a higher term; etcd's leader steps
//! down), so a partitioned leader answers "no leader" like etcd's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Server;

/// When the leader last confirmed a quorum.
pub(super) struct QuorumContact {
    origin: Instant,
    /// Milliseconds since `origin` of the last confirmation, plus one (0 = never).
    last: AtomicU64,
    timeout: Duration,
}

impl QuorumContact {
    pub(super) fn new(election_timeout: Duration) -> Self {
        Self { origin: Instant::now(), last: AtomicU64::new(0), timeout: election_timeout }
    }

    fn confirm(&self) {
        let ms = self.origin.elapsed().as_millis() as u64 + 1;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Whether a quorum confirmed within the last election timeout.
    pub(super) fn recently_confirmed(&self) -> bool {
        match self.last.load(Ordering::Relaxed) {
            0 => false,
            ms => self.origin.elapsed().saturating_sub(Duration::from_millis(ms - 1)) <= self.timeout,
        }
    }
}

pub(super) async fn run(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let every = (server.options.election_timeout / 4).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut metrics = server.raft.metrics();
    let mut was_leader = false;
    loop {
        let due = tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => true,
            changed = metrics.changed() => if changed.is_err() { return } else { false },
        };
        let me = server.member_id();
        let leading = metrics.borrow_and_update().current_leader == Some(me);
        if leading && !was_leader {
            // Winning the election was a quorum's answer.
            server.quorum.confirm();
        }
        was_leader = leading;
        if !leading || !due {
            continue;
        }
        // Heartbeats to every voter; succeeds once a quorum answers.
        let confirmed = tokio::time::timeout(server.options.election_timeout, server.raft.get_read_log_id()).await;
        if matches!(confirmed, Ok(Ok(_))) {
            server.quorum.confirm();
        }
    }
}
