//! Request routing between the API and the replicated state: writes become
//! Raft proposals (batched), linearizable reads wait for a read index,
//! serializable reads are served locally.

pub mod auth;
mod compactor;
mod downgrade;
mod error;
mod forward;
mod header;
mod ids;
mod lease_keeper;
mod log_retention;
pub mod members;
pub use log_retention::RetentionPolicy;
mod proposer;
mod publish;
mod quorum;
mod range_stream;
mod read_index;
mod reconfig_check;
mod requests;
mod status;
mod transfer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use capstan_proto::capstanpb::{AuthHeader, InternalRequest, internal_request::Request};
use capstan_proto::etcdserverpb::{RangeRequest, RangeResponse};
use capstan_proto::mvccpb::Event;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use compactor::CompactionPolicy;
pub use error::{EtcdError, ServiceError};
pub use header::HeaderFactory;
pub use ids::IdGenerator;
pub use status::storage_version;

use crate::auth::AuthInfo;
use crate::lease::Lessor;
use crate::membership::MemberTable;
use crate::mvcc::KvStore;
use crate::peer::PeerClients;
use crate::raft::state_machine::Alarms;
use crate::raft::{AppliedOutput, AppliedProgress, ApplyError, ApplyHooks, ApplyResult, Raft};
use crate::watch::WatchHub;

/// What a waiting proposer receives.
type Reply = Result<(AppliedOutput, i64), ServiceError>;

/// Requests proposed and not yet applied, by request id.
#[derive(Default)]
pub struct Waiters {
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
}

impl Waiters {
    fn register(&self, id: u64) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        rx
    }

    fn forget(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    fn fail(&self, ids: &[u64], err: &ServiceError) {
        let mut pending = self.pending.lock();
        for id in ids {
            if let Some(tx) = pending.remove(id) {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }
}

/// Hands `req` to the proposer, waiting for room in its queue until
/// `deadline` (the request's own: a full queue counts against it).
async fn enqueue(
    queue: &mpsc::Sender<InternalRequest>,
    req: InternalRequest,
    deadline: Instant,
) -> Result<(), ServiceError> {
    match tokio::time::timeout_at(deadline, queue.send(req)).await {
        Ok(sent) => sent.map_err(|_| ServiceError::Stopped),
        Err(_) => Err(ServiceError::Timeout),
    }
}

/// The state machine's hooks: events to the watch hub, results to waiters.
pub struct Hooks {
    pub waiters: Arc<Waiters>,
    pub hub: Arc<WatchHub>,
    pub progress: tokio::sync::watch::Sender<AppliedProgress>,
}

impl ApplyHooks for Hooks {
    fn committed(&self, events: &[Event], revision: i64) {
        self.hub.notify(events, revision);
    }

    fn restored(&self, revision: i64) {
        tracing::info!(revision, "state replaced by a snapshot; watchers resynchronize");
        self.hub.resync_all();
    }

    fn progress(&self, progress: AppliedProgress) {
        self.progress.send_replace(progress);
    }

    fn applied(&self, results: Vec<(u64, ApplyResult)>) {
        if results.is_empty() {
            return;
        }
        let mut pending = self.waiters.pending.lock();
        for (id, result) in results {
            if let Some(tx) = pending.remove(&id) {
                let _ = tx.send(result.map_err(ServiceError::Apply));
            }
        }
    }
}

/// Tunables of the request path.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a proposal may take before "request timed out" (etcd: 5 s + 2 × election timeout).
    pub request_timeout: Duration,
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    pub quota_backend_bytes: u64,
    /// The etcd version reported to clients (Status, /version).
    pub etcd_version: String,
    /// Automatic compaction, if configured.
    pub compaction: Option<CompactionPolicy>,
    /// What this member publishes about itself once it runs.
    pub name: String,
    pub client_urls: Vec<String>,
    /// The cluster token: part of the id of members added at runtime.
    pub cluster_token: String,
    /// Most learners the cluster may have (--max-learners).
    pub max_learners: usize,
    /// Refuse membership changes that would break the quorum (--strict-reconfig-check).
    pub strict_reconfig_check: bool,
    /// Unary requests slower than this are logged as etcd's "request stats"
    /// warning (--warning-unary-request-duration).
    pub warning_unary_request_duration: Duration,
    /// `--client-cert-auth`: a verified client certificate's common name is
    /// the user when no token is sent.
    pub client_cert_auth: bool,
    /// Every feature gate: (name, stage, on), for etcd_server_feature_enabled.
    pub feature_gates: Vec<(&'static str, &'static str, bool)>,
    pub election_timeout: Duration,
    /// When to snapshot and how much log to keep, in requests.
    pub retention: log_retention::RetentionPolicy,
}

/// One member's request router: what the gRPC services call.
pub struct Server {
    raft: Raft,
    kv: Arc<KvStore>,
    lessor: Arc<Mutex<Lessor>>,
    hub: Arc<WatchHub>,
    alarms: Alarms,
    headers: HeaderFactory,
    ids: IdGenerator,
    waiters: Arc<Waiters>,
    proposals: mpsc::Sender<InternalRequest>,
    options: ServerOptions,
    engine: Arc<crate::storage::Engine>,
    peers: Arc<PeerClients>,
    members: Arc<MemberTable>,
    /// Set while a leadership transfer is under way: proposals wait.
    transferring: tokio::sync::watch::Sender<bool>,
    /// Set once the member has published itself and caught up (`publish`).
    ready: tokio::sync::watch::Sender<bool>,
    /// When this member, leading, last heard from a quorum.
    quorum: quorum::QuorumContact,
    /// Linearizable reads waiting for the next read-index round.
    read_indexes: read_index::ReadIndexQueue,
    /// This member's metrics.
    metrics: Arc<crate::metrics::Metrics>,
    /// Users, roles, tokens (shared with the state machine).
    auth: Arc<crate::auth::AuthStore>,
    /// bcrypt, off the async threads and bounded.
    passwords: crate::auth::password::Passwords,
    /// The background tasks [`Server::start`] spawned. Each ends once the
    /// shutdown signal is sent; [`Server::join_background`] waits for them.
    background: Mutex<tokio::task::JoinSet<()>>,
}

/// Everything the server is built from.
pub struct ServerParts {
    pub raft: Raft,
    pub kv: Arc<KvStore>,
    pub lessor: Arc<Mutex<Lessor>>,
    pub hub: Arc<WatchHub>,
    pub alarms: Alarms,
    pub headers: HeaderFactory,
    pub waiters: Arc<Waiters>,
    pub engine: Arc<crate::storage::Engine>,
    pub peers: Arc<PeerClients>,
    pub members: Arc<MemberTable>,
    pub options: ServerOptions,
    /// The state machine's applied progress (see [`Hooks::progress`]).
    pub progress: tokio::sync::watch::Receiver<AppliedProgress>,
    /// This member's metrics (also given to the log store, state machine and network).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub auth: Arc<crate::auth::AuthStore>,
    pub passwords: crate::auth::password::Passwords,
}

impl Server {
    /// Builds the server and starts its background tasks (proposal batching,
    /// lease expiry, leadership tracking); they stop when `shutdown` fires.
    pub fn start(parts: ServerParts, shutdown: tokio::sync::watch::Receiver<bool>) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(16 * 1024);
        let server = Arc::new(Self {
            ids: IdGenerator::new(parts.headers.member_id()),
            raft: parts.raft,
            kv: parts.kv,
            lessor: parts.lessor,
            hub: parts.hub,
            alarms: parts.alarms,
            headers: parts.headers,
            waiters: parts.waiters,
            proposals: tx,
            quorum: quorum::QuorumContact::new(parts.options.election_timeout),
            options: parts.options,
            engine: parts.engine,
            peers: parts.peers,
            members: parts.members,
            transferring: tokio::sync::watch::channel(false).0,
            ready: tokio::sync::watch::channel(false).0,
            read_indexes: Default::default(),
            metrics: parts.metrics,
            auth: parts.auth,
            passwords: parts.passwords,
            background: Mutex::new(tokio::task::JoinSet::new()),
        });
        {
            let mut tasks = server.background.lock();
            tasks.spawn(read_index::run(server.clone(), shutdown.clone()));
            tasks.spawn(log_retention::run(server.clone(), parts.progress, server.options.retention, shutdown.clone()));
            tasks.spawn(proposer::run(server.clone(), rx, shutdown.clone()));
            tasks.spawn(publish::run(server.clone(), shutdown.clone()));
            tasks.spawn(quorum::run(server.clone(), shutdown.clone()));
            if let Some(policy) = server.options.compaction {
                tasks.spawn(compactor::run(server.clone(), policy, shutdown.clone()));
            }
            tasks.spawn(lease_keeper::run(server.clone(), shutdown));
        }
        server
    }

    /// Waits until every background task has ended (they end on the shutdown
    /// signal), at most `limit`; those still running then are aborted. Called
    /// by `serve` once the listeners have stopped and before Raft is shut
    /// down, so no task proposes into a stopped Raft or keeps the database
    /// open after the member has stopped.
    pub async fn join_background(&self, limit: std::time::Duration) {
        let mut tasks = std::mem::take(&mut *self.background.lock());
        if tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
            tracing::warn!(running = tasks.len(), "background tasks did not stop in time; aborting them");
            tasks.shutdown().await;
        }
    }

    pub fn headers(&self) -> &HeaderFactory {
        &self.headers
    }

    pub fn kv(&self) -> &Arc<KvStore> {
        &self.kv
    }

    pub fn hub(&self) -> &Arc<WatchHub> {
        &self.hub
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn lessor(&self) -> &Arc<Mutex<Lessor>> {
        &self.lessor
    }

    pub fn alarms(&self) -> &Alarms {
        &self.alarms
    }

    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    pub fn engine(&self) -> &Arc<crate::storage::Engine> {
        &self.engine
    }

    pub fn members(&self) -> &Arc<MemberTable> {
        &self.members
    }

    pub fn member_id(&self) -> u64 {
        self.headers.member_id()
    }

    /// Proposes an encoded `RequestBatch` on this member (the leader); for
    /// batches forwarded by followers.
    pub async fn propose_batch_here(&self, batch: Vec<u8>) -> Result<(), ServiceError> {
        proposer::propose_here(self, batch).await
    }

    /// Proposes a write through Raft and waits until it is applied; the
    /// typed methods (`requests`) pick its result.
    /// `who` is checked again when the entry is applied.
    pub(super) async fn propose(
        &self,
        who: Option<&AuthInfo>,
        request: Request,
    ) -> Result<(AppliedOutput, i64), ServiceError> {
        let started = Instant::now();
        let kind = crate::raft::request_op(&request);
        let id = self.ids.next();
        let rx = self.waiters.register(id);
        let auth = who.map(|w| AuthHeader { username: w.user.clone(), revision: w.revision });
        let req = InternalRequest { id, request: Some(request), auth, ..Default::default() };
        let metrics = &self.metrics;
        // One deadline for waiting in the queue and for the apply.
        let deadline = Instant::now() + self.options.request_timeout;
        if let Err(e) = enqueue(&self.proposals, req, deadline).await {
            self.waiters.forget(id);
            metrics.proposals_failed.inc();
            return Err(e);
        }
        let _pending = metrics.proposal_pending();
        let result = self.await_applied(id, rx, deadline).await;
        metrics.observe_request(kind, result.is_ok(), started.elapsed());
        if matches!(
            result,
            Err(ServiceError::NoLeader | ServiceError::NotLeader | ServiceError::Timeout | ServiceError::Stopped)
        ) {
            metrics.proposals_failed.inc();
        }
        result
    }

    async fn await_applied(&self, id: u64, rx: oneshot::Receiver<Reply>, deadline: Instant) -> Reply {
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ServiceError::Stopped),
            Err(_) => {
                self.waiters.forget(id);
                Err(ServiceError::Timeout)
            }
        }
    }

    /// Waits until this member has applied everything committed before the
    /// call (read index), so a local read after it is linearizable. The
    /// leader confirms its leadership with a quorum; a follower asks the
    /// leader for the index and waits for its own apply to reach it.
    /// Concurrent reads share one confirmation (see [`read_index`]).
    pub async fn read_barrier(&self) -> Result<(), ServiceError> {
        let barrier = async {
            let index = self.read_index().await?;
            self.wait_applied(index).await
        };
        let result = match tokio::time::timeout(self.options.request_timeout, barrier).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::Timeout),
        };
        match &result {
            Err(ServiceError::Timeout) => self.metrics.slow_read_indexes.inc(),
            Err(_) => self.metrics.read_indexes_failed.inc(),
            Ok(()) => {}
        }
        result
    }

    /// The commit index as confirmed by the leader after this call began,
    /// from the next read-index round.
    pub async fn read_index(&self) -> Result<u64, ServiceError> {
        self.read_indexes.join().await.unwrap_or(Err(ServiceError::Stopped))
    }

    /// One read-index round: the leader's commit index, confirmed by a quorum
    /// heartbeat on the leader, or asked of the leader by a follower.
    async fn confirm_read_index(&self) -> Result<u64, ServiceError> {
        loop {
            let leader = self.wait_for_leader().await?;
            let result = if leader == self.member_id() {
                self.raft
                    .get_read_log_id()
                    .await
                    .map(|(read, _)| read.map_or(0, |l| l.index))
                    .map_err(ServiceError::from_raft_read)
            } else {
                self.forward_read_index(leader).await
            };
            match result {
                // Leadership moved between looking it up and asking: ask again.
                Err(ServiceError::NotLeader) => self.wait_for_leader_change(leader).await,
                other => return other,
            }
        }
    }

    /// Waits until this member's state machine has applied `index`.
    async fn wait_applied(&self, index: u64) -> Result<(), ServiceError> {
        self.raft
            .wait(None)
            .applied_index_at_least(Some(index), "read index")
            .await
            .map(|_| ())
            .map_err(|_| ServiceError::Stopped)
    }

    /// The current leader; waits for one while there is none (bounded by
    /// the caller's timeout).
    pub(crate) async fn wait_for_leader(&self) -> Result<u64, ServiceError> {
        let mut rx = self.raft.metrics();
        loop {
            rx.borrow_and_update();
            if let Some(leader) = self.leader() {
                return Ok(leader);
            }
            // The leader may also come back without a metrics change (quorum contact).
            tokio::select! {
                changed = rx.changed() => changed.map_err(|_| ServiceError::Stopped)?,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// Waits until the leader is someone other than `old` (or a short while
    /// passes), after a peer said it no longer leads.
    pub(crate) async fn wait_for_leader_change(&self, old: u64) {
        let mut rx = self.raft.metrics();
        let changed = async {
            loop {
                if rx.borrow_and_update().current_leader.is_some_and(|l| l != old) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
    }

    /// Whether this member is a learner (a non-voting member).
    pub fn is_learner(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = self.member_id();
        let config = m.membership_config.membership();
        config.get_node(&id).is_some() && !config.voter_ids().any(|v| v == id)
    }

    pub async fn range(&self, who: Option<&AuthInfo>, req: &RangeRequest) -> Result<RangeResponse, ServiceError> {
        let started = Instant::now();
        let result = match self.before_read(req.serializable).await {
            Ok(()) => self.authorized_read(
                who,
                |view, who| crate::auth::check::range(view, who, req),
                || self.range_local(req),
            ),
            Err(e) => Err(e),
        };
        self.metrics.observe_request("Range", result.is_ok(), started.elapsed());
        result
    }

    /// What a read must pass before it is served from local state: a
    /// linearizable read waits for a read index, which a learner cannot serve.
    pub(crate) async fn before_read(&self, serializable: bool) -> Result<(), ServiceError> {
        if !serializable {
            if self.is_learner() {
                return Err(ServiceError::Learner);
            }
            self.read_barrier().await?;
        }
        Ok(())
    }

    /// etcd's backend quota: a write that would grow the database past
    /// `--quota-backend-bytes` raises the NOSPACE alarm and is refused.
    pub async fn check_quota(&self, request_bytes: usize) -> Result<(), ServiceError> {
        let quota = self.options.quota_backend_bytes;
        let fits = |size: u64| size + request_bytes as u64 <= quota;
        // A recent size admits most writes cheaply; a refusal is decided on the exact one.
        if quota == 0 || fits(self.engine.recent_size_on_disk()) || fits(self.engine.size_on_disk()) {
            return Ok(());
        }
        let nospace = capstan_proto::etcdserverpb::AlarmType::Nospace as i32;
        let member_id = self.headers.member_id();
        if !self.alarms.lock().contains(&(member_id, nospace)) {
            tracing::warn!(quota, size = self.engine.size_on_disk(), "database space exceeded; raising NOSPACE alarm");
            let alarm = capstan_proto::etcdserverpb::AlarmRequest {
                action: capstan_proto::etcdserverpb::alarm_request::AlarmAction::Activate as i32,
                member_id,
                alarm: nospace,
            };
            self.alarm(None, alarm).await?;
        }
        Err(ServiceError::Apply(ApplyError::NoSpace))
    }

    /// Whether this member currently leads (and so expires leases).
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.headers.member_id())
    }

    /// The leader as clients should see it. A leader that has not heard from a
    /// quorum for an election timeout counts as no leader (etcd's leader
    /// steps down then, with check-quorum; openraft's keeps its role), so a
    /// partitioned leader reports "no leader" and stops taking writes.
    pub fn leader(&self) -> Option<u64> {
        let leader = self.raft.metrics().borrow().current_leader;
        if leader == Some(self.member_id()) && !self.quorum.recently_confirmed() {
            return None;
        }
        leader
    }
}

/// Whether `req` may read many values from disk: anything but a single key or
/// a small page. Those reads run off the runtime's worker threads (see
/// [`blocking`]); a point read is cheaper inline than a thread hand-off.
fn may_read_many(req: &RangeRequest) -> bool {
    const SMALL_PAGE: i64 = 64;
    !req.range_end.is_empty() && !req.count_only && (req.limit == 0 || req.limit > SMALL_PAGE)
}

/// Runs `f`, which may block on disk for a while (large reads, full scans),
/// without holding up the runtime: on a multi-threaded runtime the worker
/// hands its other tasks to another thread meanwhile. With two workers on a
/// 2-core machine, one LIST of a large prefix read inline would otherwise
/// stall half of all request and heartbeat processing.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R9: a full proposal queue (the proposer stuck behind a slow commit)
    /// makes the caller wait only until its request timeout, then answers
    /// etcd's "request timed out".
    #[tokio::test]
    async fn a_full_queue_times_out_within_the_request_timeout() {
        let request_timeout = Duration::from_millis(300);
        let (queue, _proposer) = mpsc::channel(1);
        queue.try_send(InternalRequest::default()).unwrap();
        let deadline = Instant::now() + request_timeout;
        // Only a bound on a hung test: passing does not depend on it.
        let enqueued =
            tokio::time::timeout(Duration::from_secs(30), enqueue(&queue, InternalRequest::default(), deadline)).await;
        let Ok(Err(e)) = enqueued else { panic!("still waiting for room 100 request timeouts later: {enqueued:?}") };
        assert!(Instant::now() >= deadline);
        assert_eq!(tonic::Status::from(e).message(), "etcdserver: request timed out");
    }
}
