//! Prometheus metrics under etcd's names, rendered in the text exposition
//! format 0.0.4 by `GET /metrics`.
//!
//! Every family is declared once, in the table of [`table`] (name, HELP,
//! type, labels, buckets); a golden test (`golden.txt`) pins that list and a
//! fresh member's exposition, so a renamed or added metric is a reviewed
//! change. A member creates its own [`Metrics`] at start-up and hands it to
//! the parts that update it (log store, state machine, network, server,
//! HTTP layer): there is no process-global, so a test can run several
//! members in one process.
//!
//! Two kinds of values:
//! - counters, gauges and histograms that the request path updates through
//!   the cheap, lock-free fields and methods of [`Metrics`] (atomics only);
//! - gauges read from the server when scraped (leader, sizes, revisions,
//!   keys, alarms), passed to [`Metrics::render`] as a [`ServerSnapshot`].
//!
//! Values are printed like Go's client (`strconv.FormatFloat(v, 'g', -1, 64)`,
//! so `2147483648` prints as `2.147483648e+09`), and histogram buckets are
//! computed like `prometheus.ExponentialBuckets`, so dashboards and alerts
//! written for etcd work unchanged (see [`encode`] for why not
//! `prometheus-client`).

mod encode;
mod grpc;
mod instruments;
mod labelled;
mod mvcc_ops;
mod process;
mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use encode::Encoder;
pub use grpc::{GRPC_CODE_CANCELED, GRPC_CODE_UNKNOWN, GrpcMethod, GrpcType};
pub use instruments::Gauge;
pub use mvcc_ops::MvccOps;
pub use table::{FAMILIES, Metrics};

/// What `/metrics` reads from the server when scraped.
#[derive(Debug, Clone, Default)]
pub struct ServerSnapshot {
    pub member_id: u64,
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    /// The etcd version reported to clients (e.g. "3.6.0").
    pub server_version: String,
    /// `--quota-backend-bytes` as in effect.
    pub quota_backend_bytes: i64,
    pub db_total_size_bytes: u64,
    pub db_in_use_bytes: u64,
    pub keys_total: u64,
    pub current_revision: i64,
    pub compact_revision: i64,
    /// Raft index last applied to the state machine.
    pub applied_index: u64,
    /// Raft index last committed, when known (else the applied index is used).
    pub committed_index: Option<u64>,
    /// Active alarms: (member id, etcd AlarmType number).
    pub alarms: Vec<(u64, i32)>,
    /// Every member of the cluster, this one included (etcd_network_known_peers).
    pub members: Vec<u64>,
    /// Every feature gate: (name, stage, on).
    pub feature_gates: Vec<(&'static str, &'static str, bool)>,
    /// Reads in progress on pinned database views.
    pub open_read_transactions: u64,
}

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// etcd's `major.minor` of a version string ("3.6.4" → "3.6").
pub fn major_minor(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => version.to_string(),
    }
}

/// etcd's AlarmType names.
pub fn alarm_name(alarm: i32) -> String {
    match alarm {
        0 => "NONE".to_string(),
        1 => "NOSPACE".to_string(),
        2 => "CORRUPT".to_string(),
        n => n.to_string(),
    }
}

/// What [`Metrics`] holds besides the table's plain instruments: the
/// labelled series and the inputs of derived values.
pub(crate) struct State {
    /// For `process_start_time_seconds` where /proc cannot tell.
    start_time: SystemTime,
    /// Last leader seen, encoded as id + 1 (0 = none).
    last_leader: AtomicU64,
    /// Highest Raft index known committed (`set_committed_index`).
    committed_index: Gauge,
    health: labelled::HealthChecks,
    clients: labelled::ClientRequests,
    peers: labelled::Peers,
    grpc: grpc::GrpcCounters,
    /// etcd_server_request_duration_seconds{success, type}: 1 ms .. 8.192 s.
    request_durations: labelled::HistogramVec,
    /// etcd_server_apply_duration_seconds{op, success, version}: 0.1 ms .. 52 s.
    apply_durations: labelled::HistogramVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Decrements `proposals_pending` when dropped (see [`Metrics::proposal_pending`]).
#[must_use = "the proposal counts as pending until the guard is dropped"]
pub struct PendingProposal<'a>(&'a Gauge);

impl Drop for PendingProposal<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A fresh registry, for one member (or one test).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::with_state(State {
            start_time: SystemTime::now(),
            last_leader: AtomicU64::new(0),
            committed_index: Gauge::new(),
            health: Default::default(),
            clients: Default::default(),
            peers: Default::default(),
            grpc: Default::default(),
            request_durations: labelled::HistogramVec::new(table::family_bounds(
                "etcd_server_request_duration_seconds",
            )),
            apply_durations: labelled::HistogramVec::new(table::family_bounds("etcd_server_apply_duration_seconds")),
        }))
    }

    /// A client request answered (etcd_server_request_duration_seconds):
    /// `kind` is etcd's request type (Range, Put, DeleteRange, Txn, ...).
    pub fn observe_request(&self, kind: &'static str, success: bool, took: std::time::Duration) {
        self.state.request_durations.observe(&[bool_label(success), kind], took.as_secs_f64());
    }

    /// A request applied by the state machine (etcd_server_apply_duration_seconds).
    pub fn observe_apply(&self, op: &'static str, success: bool, took: std::time::Duration) {
        // etcd observes whole microseconds.
        self.state.apply_durations.observe(&[op, bool_label(success), "v3"], took.as_micros() as f64 / 1e6);
    }

    // ----- server / raft -------------------------------------------------

    /// Records the leader a member currently sees; counts a leader change
    /// (etcd_server_leader_changes_seen_total) each time a leader different
    /// from the last one seen appears, as etcd's raft loop does.
    pub fn observe_leader(&self, leader: Option<u64>) {
        let enc = leader.map_or(0, |id| id.wrapping_add(1));
        let prev = self.state.last_leader.swap(enc, Ordering::Relaxed);
        if enc != 0 && prev != enc {
            self.leader_changes.inc();
        }
    }

    /// Follows openraft's metrics channel: counts leader changes. Ends when
    /// the Raft instance shuts down.
    pub fn spawn_raft_observer(
        self: &Arc<Self>,
        mut rx: tokio::sync::watch::Receiver<crate::raft::RaftMetrics>,
    ) -> tokio::task::JoinHandle<()> {
        let metrics = self.clone();
        tokio::spawn(async move {
            loop {
                let leader = rx.borrow_and_update().current_leader;
                metrics.observe_leader(leader);
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
    }

    /// The Raft commit index advanced (etcd_server_proposals_committed_total).
    #[inline]
    pub fn set_committed_index(&self, index: u64) {
        self.state.committed_index.set_max(index as i64);
    }

    /// The commit index to report: the highest seen by the log store or the
    /// server, never below what is applied.
    fn committed_index(&self, s: &ServerSnapshot) -> u64 {
        let seen = self.state.committed_index.get().max(0) as u64;
        s.committed_index.unwrap_or(0).max(seen).max(s.applied_index)
    }

    /// Counts a proposal as pending until the guard drops
    /// (etcd_server_proposals_pending).
    #[inline]
    pub fn proposal_pending(&self) -> PendingProposal<'_> {
        self.proposals_pending.inc();
        PendingProposal(&self.proposals_pending)
    }

    // ----- mvcc ------------------------------------------------------------

    /// One mvcc transaction ended (a Range, Put, DeleteRange or Txn request),
    /// with the operations it performed: etcd counts each op, and a txn when
    /// the request performed more than one.
    #[inline]
    pub fn record_mvcc_txn(&self, ranges: u64, puts: u64, deletes: u64, put_bytes: u64) {
        if ranges + puts + deletes > 1 {
            self.txn_total.inc();
        }
        if ranges > 0 {
            self.range_total.add(ranges);
        }
        if puts > 0 {
            self.put_total.add(puts);
            self.total_put_size_bytes.add(put_bytes as i64);
        }
        if deletes > 0 {
            self.delete_total.add(deletes);
        }
    }

    /// Records the mvcc operations of one applied request (see [`MvccOps`]).
    #[inline]
    pub fn record_mvcc(&self, ops: MvccOps) {
        self.record_mvcc_txn(ops.ranges, ops.puts, ops.deletes, ops.put_bytes);
    }

    #[allow(dead_code)] // declared with etcd's name; not updated yet (see the issue notes)
    /// A compaction finished after `total` and removed `keys` revisions.
    pub fn observe_compaction(&self, total: Duration, keys: u64) {
        self.db_compaction_total_ms.observe_millis(total);
        self.db_compaction_keys.add(keys);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.db_compaction_last.set(now as i64);
    }

    // ----- disk ----------------------------------------------------------

    /// A synced write of Raft log entries (etcd_disk_wal_fsync_duration_seconds).
    #[inline]
    pub fn observe_wal_fsync(&self, d: Duration) {
        self.wal_fsync_duration.observe_duration(d);
    }

    /// A state-machine batch committed to the backend
    /// (etcd_disk_backend_commit_duration_seconds).
    #[inline]
    pub fn observe_backend_commit(&self, d: Duration) {
        self.backend_commit_duration.observe_duration(d);
    }

    // ----- lease -------------------------------------------------------------

    /// A lease was granted with `ttl` seconds (counter and TTL histogram).
    #[inline]
    pub fn observe_lease_grant(&self, ttl_seconds: i64) {
        self.lease_granted.inc();
        self.lease_ttl.observe(ttl_seconds as f64);
    }

    // ----- rendering -------------------------------------------------------

    /// The whole exposition, family by family in the table's order.
    /// Scrape-time gauges come from `server` (omitted when `None`).
    pub fn render(&self, server: Option<&ServerSnapshot>) -> String {
        self.render_with(server, &process::read(self.state.start_time))
    }

    /// [`Metrics::render`] with given process stats (the golden test fixes them).
    fn render_with(&self, server: Option<&ServerSnapshot>, process: &process::Stats) -> String {
        let scrape = table::Scrape { m: self, server, process };
        let mut e = Encoder::new();
        for family in FAMILIES {
            family.render(&scrape, &mut e);
        }
        e.finish()
    }
}
