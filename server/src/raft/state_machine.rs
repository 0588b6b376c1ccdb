//! The replicated state machine: applies committed entries to the key space,
//! the lease table and the alarm list, in one RocksDB write per batch of
//! entries together with the applied log id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use capstan_proto::capstanpb::{InternalRequest, RequestBatch, internal_request::Request};
use capstan_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, DeleteRangeResponse, PutResponse, TxnRequest, TxnResponse, alarm_request::AlarmAction,
    request_op,
};
use capstan_proto::mvccpb::Event;
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use parking_lot::Mutex;
use prost::Message;

use super::apply_auth;
use super::snapshot::SnapshotStore;
use super::{Entry, LogId, SnapshotMeta, StorageResult, StoredMembership, TypeConfig, io_err};
use crate::auth::{AuthStore, Persist};
use crate::lease::{LeaseError, LeaseRecord, Lessor};
use crate::membership::{MemberAttrs, MemberTable};
use crate::metrics::{Metrics, MvccOps};
use crate::mvcc::{Applier, KvStore, MvccError};
use crate::storage::schema::meta;
use crate::storage::{Cf, Engine};

/// Why a committed request had no effect. Each maps to one etcd error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Mvcc(Arc<MvccError>),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The NOSPACE alarm is active: only reads, deletes and compactions pass.
    #[error("mvcc: database space exceeded")]
    NoSpace,
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("unsupported request")]
    Unsupported,
}

impl From<MvccError> for ApplyError {
    fn from(e: MvccError) -> Self {
        ApplyError::Mvcc(Arc::new(e))
    }
}

/// The result of one applied request and the revision after it.
#[derive(Debug, Clone)]
pub enum AppliedOutput {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction,
    LeaseGrant {
        id: i64,
        ttl: i64,
    },
    LeaseRevoke,
    Alarm(Vec<AlarmMember>),
    MemberAttributes,
    /// A user, role or permission change, or auth enabled or disabled.
    AuthChanged,
    Authenticated(crate::auth::Authenticated),
}

/// The outcome of one applied request, with the revision after it.
pub type ApplyResult = Result<(AppliedOutput, i64), ApplyError>;

/// What the rest of the server learns from the state machine.
pub trait ApplyHooks: Send + Sync + 'static {
    /// Events of a durable batch, in revision order, and the revision after it.
    fn committed(&self, events: &[Event], revision: i64);
    /// Results for proposed requests (by request id), after they are durable.
    fn applied(&self, results: Vec<(u64, ApplyResult)>);
    /// The whole state was replaced by a snapshot from the leader.
    fn restored(&self, revision: i64);
    /// How far this member has applied (drives request-counted snapshots).
    fn progress(&self, progress: AppliedProgress);
}

/// How far a member has applied: the last entry's index and the number of
/// requests applied since the process started (an entry that is not a client
/// batch counts as one request, as every entry does in etcd).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppliedProgress {
    pub index: u64,
    pub requests: u64,
}

/// The active alarms, shared with the API for Status and request admission.
pub type Alarms = Arc<Mutex<BTreeSet<(u64, i32)>>>;

pub struct StateMachine {
    engine: Arc<Engine>,
    kv: Arc<KvStore>,
    lessor: Arc<Mutex<Lessor>>,
    alarms: Alarms,
    hooks: Arc<dyn ApplyHooks>,
    members: Arc<MemberTable>,
    snapshots: SnapshotStore,
    /// The file a snapshot from the leader is being received into.
    receiving: Option<std::path::PathBuf>,
    applied: Option<LogId>,
    membership: StoredMembership,
    /// Requests applied since the process started.
    applied_requests: u64,
    /// Set once openraft has started (see [`StateMachine::started`]).
    started: Arc<std::sync::atomic::AtomicBool>,
    /// The member's metrics (mvcc and lease counts, backend commits, snapshots).
    metrics: Arc<Metrics>,
    /// Users, roles and the enabled flag; checks writes when auth is on.
    auth: Arc<AuthStore>,
}

const NOSPACE: i32 = capstan_proto::etcdserverpb::AlarmType::Nospace as i32;

impl StateMachine {
    /// Recovers the state machine from disk. Each argument is shared with
    /// other parts of the member, so each is passed in rather than built here.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        engine: Arc<Engine>,
        kv: Arc<KvStore>,
        lessor: Arc<Mutex<Lessor>>,
        alarms: Alarms,
        members: Arc<MemberTable>,
        snapshots: SnapshotStore,
        hooks: Arc<dyn ApplyHooks>,
        metrics: Arc<Metrics>,
        auth: Arc<AuthStore>,
    ) -> Result<Self, crate::storage::StorageError> {
        let (applied, membership) = load_meta(&engine, &alarms, &members)?;
        Ok(Self {
            engine,
            kv,
            lessor,
            alarms,
            hooks,
            members,
            snapshots,
            receiving: None,
            applied,
            membership,
            applied_requests: 0,
            started: Default::default(),
            metrics,
            auth,
        })
    }

    /// To be set once `Raft::new` has returned. While openraft starts up it
    /// asks for the current snapshot only to learn its metadata; packing the
    /// snapshot for sending (a copy of the whole database) is left for when
    /// a follower needs it, instead of delaying every restart.
    pub fn started(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.started.clone()
    }

    fn apply_one(
        &self,
        applier: &mut Applier<'_>,
        lessor: &mut Lessor,
        req: InternalRequest,
        index: u64,
    ) -> Result<AppliedOutput, ApplyError> {
        let nospace = self.alarms.lock().iter().any(|(_, a)| *a == NOSPACE);
        let Some(request) = req.request else { return Err(ApplyError::Unsupported) };
        apply_auth::authorize(&self.auth, &apply_auth::proposer(req.auth), &request, lessor)?;
        let engine = self.engine.clone();
        let mut persist = Persist { engine: &engine, batch: applier.batch() };
        if let Some(out) = apply_auth::apply(&self.auth, &mut persist, &request, index) {
            return out;
        }
        let out = match request {
            Request::Put(p) => {
                if nospace {
                    return Err(ApplyError::NoSpace);
                }
                let resp = applier.put(&p, &|id| lessor.contains(id))?;
                self.metrics.record_mvcc(MvccOps::put(&p));
                AppliedOutput::Put(resp)
            }
            Request::DeleteRange(d) => {
                let resp = applier.delete_range(&d)?;
                self.metrics.record_mvcc(MvccOps::delete_range(&d));
                AppliedOutput::DeleteRange(resp)
            }
            Request::Txn(t) => {
                if nospace && !is_read_only(&t) {
                    return Err(ApplyError::NoSpace);
                }
                let resp = applier.txn(&t, &|id| lessor.contains(id))?;
                self.metrics.record_mvcc(MvccOps::txn(&t, &resp));
                AppliedOutput::Txn(resp)
            }
            Request::Compaction(c) => {
                applier.compact(c.revision)?;
                AppliedOutput::Compaction
            }
            Request::LeaseGrant(g) => {
                if nospace {
                    return Err(ApplyError::NoSpace);
                }
                let rec = lessor.grant(g.id, g.ttl, Instant::now())?;
                let bytes = bincode::serialize(&rec).expect("lease record serializes");
                let engine = self.engine.clone();
                applier.batch().put(&engine, Cf::Lease, rec.id.to_be_bytes(), bytes);
                self.metrics.observe_lease_grant(rec.ttl);
                AppliedOutput::LeaseGrant { id: rec.id, ttl: rec.ttl }
            }
            Request::LeaseRevoke(r) => {
                let keys = lessor.revoke(r.id)?;
                applier.delete_keys(&keys)?;
                let engine = self.engine.clone();
                applier.batch().delete(&engine, Cf::Lease, r.id.to_be_bytes());
                self.metrics.lease_revoked.inc();
                AppliedOutput::LeaseRevoke
            }
            Request::Alarm(a) => AppliedOutput::Alarm(self.apply_alarm(applier, &a)),
            Request::MemberAttributes(m) => {
                if self.members.is_removed(m.member_id) {
                    return Ok(AppliedOutput::MemberAttributes);
                }
                self.members.set_attrs(m.member_id, MemberAttrs { name: m.name, client_urls: m.client_urls });
                let engine = self.engine.clone();
                let bytes = bincode::serialize(&self.members.all_attrs()).expect("member attributes serialize");
                applier.batch().put(&engine, Cf::Meta, meta::MEMBER_ATTRS, bytes);
                AppliedOutput::MemberAttributes
            }
            _ => return Err(ApplyError::Unsupported),
        };
        for change in applier.take_lease_changes() {
            lessor.reattach(&change.key, change.old, change.new);
        }
        Ok(out)
    }

    fn apply_alarm(&self, applier: &mut Applier<'_>, a: &AlarmRequest) -> Vec<AlarmMember> {
        let mut alarms = self.alarms.lock();
        let member = |m: u64, t: i32| AlarmMember { member_id: m, alarm: t };
        let out = match AlarmAction::try_from(a.action).unwrap_or(AlarmAction::Get) {
            AlarmAction::Get => {
                alarms.iter().filter(|(_, t)| a.alarm == 0 || *t == a.alarm).map(|(m, t)| member(*m, *t)).collect()
            }
            AlarmAction::Activate => {
                if a.alarm == 0 {
                    return Vec::new();
                }
                alarms.insert((a.member_id, a.alarm));
                vec![member(a.member_id, a.alarm)]
            }
            AlarmAction::Deactivate => {
                if alarms.remove(&(a.member_id, a.alarm)) {
                    vec![member(a.member_id, a.alarm)]
                } else {
                    Vec::new()
                }
            }
        };
        let list: Vec<(u64, i32)> = alarms.iter().copied().collect();
        let engine = self.engine.clone();
        applier.batch().put(&engine, Cf::Meta, meta::ALARMS, bincode::serialize(&list).expect("alarms serialize"));
        out
    }
}

/// A txn that cannot write, whichever branch runs (allowed under NOSPACE).
fn is_read_only(t: &TxnRequest) -> bool {
    t.success.iter().chain(&t.failure).all(|op| match &op.request {
        Some(request_op::Request::RequestRange(_)) | None => true,
        Some(request_op::Request::RequestTxn(inner)) => is_read_only(inner),
        _ => false,
    })
}

/// Reads the state machine's metadata (applied log id, membership, alarms,
/// member table) from disk into memory.
fn load_meta(
    engine: &Engine,
    alarms: &Alarms,
    members: &MemberTable,
) -> Result<(Option<LogId>, StoredMembership), crate::storage::StorageError> {
    // Absent records are a fresh data dir; undecodable ones are corruption
    // and stop the member (see `Engine::get_decoded`).
    let applied: Option<LogId> = engine.get_bincode::<Option<LogId>>(Cf::Meta, meta::APPLIED)?.flatten();
    let membership: StoredMembership = engine.get_bincode(Cf::Meta, meta::MEMBERSHIP)?.unwrap_or_default();
    let list: Vec<(u64, i32)> = engine.get_bincode(Cf::Meta, meta::ALARMS)?.unwrap_or_default();
    {
        let mut active = alarms.lock();
        active.clear();
        active.extend(list);
    }
    let attrs: BTreeMap<u64, MemberAttrs> = engine.get_bincode(Cf::Meta, meta::MEMBER_ATTRS)?.unwrap_or_default();
    let removed: BTreeSet<u64> = engine.get_bincode(Cf::Meta, meta::REMOVED)?.unwrap_or_default();
    members.reset(attrs, removed);
    Ok((applied, membership))
}

/// Makes `received` (the file [`StateMachine::begin_receiving_snapshot`]
/// handed out) hold the snapshot's data. openraft's chunked transfer writes
/// into that very file; its API also allows handing over the data in another
/// file (openraft's storage suite does), which is then copied.
async fn adopt_snapshot_data(data: &mut tokio::fs::File, received: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    use tokio::io::AsyncSeekExt;
    let given = data.metadata().await?;
    let expected = tokio::fs::metadata(received).await?;
    if (given.dev(), given.ino()) == (expected.dev(), expected.ino()) {
        return Ok(());
    }
    data.seek(std::io::SeekFrom::Start(0)).await?;
    let mut out = tokio::fs::File::create(received).await?;
    tokio::io::copy(data, &mut out).await?;
    out.sync_all().await
}

/// Recovers lease records from disk.
pub fn load_leases(engine: &Engine) -> Result<Vec<LeaseRecord>, crate::storage::StorageError> {
    let mut out = Vec::new();
    let mut corrupt = None;
    engine.scan_from(Cf::Lease, &[], |k, v| match bincode::deserialize::<LeaseRecord>(v) {
        Ok(r) => {
            out.push(r);
            true
        }
        Err(e) => {
            corrupt = Some(format!("lease record {} does not decode: {e}", hex::encode(k)));
            false
        }
    })?;
    match corrupt {
        // A skipped lease would leave its keys alive forever.
        Some(reason) => Err(crate::storage::StorageError::Corrupt { cf: Cf::Lease, reason }),
        None => Ok(out),
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StorageResult<(Option<LogId>, StoredMembership)> {
        Ok((self.applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<()>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let kv = self.kv.clone();
        let lessor_handle = self.lessor.clone();
        let mut applier = kv.begin();
        let mut lessor = lessor_handle.lock();
        let mut replies = Vec::new();
        let mut results = Vec::new();
        for entry in entries {
            replies.push(());
            // Entries already in the state machine (e.g. after installing a
            // newer snapshot) are skipped: apply is idempotent by index.
            if self.applied.is_some_and(|a| entry.log_id.index <= a.index) {
                continue;
            }
            match entry.payload {
                EntryPayload::Blank => self.applied_requests += 1,
                EntryPayload::Normal(p) => {
                    let batch = RequestBatch::decode(p.batch.as_slice())
                        .map_err(|e| io_err(ErrorSubject::Apply(entry.log_id), ErrorVerb::Read, e))?;
                    self.applied_requests += batch.requests.len().max(1) as u64;
                    for req in batch.requests {
                        let id = req.id;
                        let op = req.request.as_ref().map_or("unknown", request_op);
                        let start = Instant::now();
                        let out = self.apply_one(&mut applier, &mut lessor, req, entry.log_id.index);
                        self.metrics.observe_apply(op, out.is_ok(), start.elapsed());
                        results.push((id, out.map(|o| (o, applier.current_revision()))));
                    }
                }
                EntryPayload::Membership(m) => {
                    self.applied_requests += 1;
                    let gone: Vec<u64> =
                        self.membership.nodes().map(|(id, _)| *id).filter(|id| m.get_node(id).is_none()).collect();
                    if !gone.is_empty() {
                        tracing::info!(removed = ?gone.iter().map(|id| format!("{id:x}")).collect::<Vec<_>>(), "members removed from the cluster");
                        self.members.record_removed(gone);
                        let engine = self.engine.clone();
                        let removed = bincode::serialize(&self.members.removed()).expect("ids serialize");
                        applier.batch().put(&engine, Cf::Meta, meta::REMOVED, removed);
                        let attrs = bincode::serialize(&self.members.all_attrs()).expect("member attributes serialize");
                        applier.batch().put(&engine, Cf::Meta, meta::MEMBER_ATTRS, attrs);
                    }
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            self.applied = Some(entry.log_id);
        }
        drop(lessor);
        let applied = bincode::serialize(&self.applied).expect("log id serializes");
        let membership = bincode::serialize(&self.membership).expect("membership serializes");
        let engine = self.engine.clone();
        // Invariant: the applied log id is written in the same batch as the
        // changes it covers, so recovery never applies an entry twice or skips one.
        applier.batch().put(&engine, Cf::Meta, meta::APPLIED, applied);
        applier.batch().put(&engine, Cf::Meta, meta::MEMBERSHIP, membership);
        let revision = applier.current_revision();
        // Not fsynced: the Raft log holds every entry durably; after a crash
        // the entries after the last durable applied id are applied again.
        let started = std::time::Instant::now();
        let events = applier.commit(false).map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Write, e))?;
        self.metrics.observe_backend_commit(started.elapsed());
        self.hooks.committed(&events, revision);
        self.hooks.applied(results);
        if let Some(applied) = self.applied {
            self.hooks.progress(AppliedProgress { index: applied.index, requests: self.applied_requests });
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder { engine: self.engine.clone(), kv: self.kv.clone(), snapshots: self.snapshots.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<tokio::fs::File>> {
        let (file, path) =
            self.snapshots.incoming().map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        tracing::info!(path = %path.display(), "receiving a snapshot from the leader");
        // An abandoned earlier transfer is superseded.
        if let Some(old) = self.receiving.replace(path) {
            let _ = std::fs::remove_file(old);
        }
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Box<tokio::fs::File>) -> StorageResult<()> {
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let mut file = snapshot;
        {
            use tokio::io::AsyncWriteExt;
            file.flush().await.map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
            file.sync_all().await.map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        }
        let Some(received) = self.receiving.take() else {
            return Err(io_err(subject(), ErrorVerb::Write, std::io::Error::other("no snapshot is being received")));
        };
        adopt_snapshot_data(&mut file, &received).await.map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        drop(file);
        let started = Instant::now();
        self.metrics.snapshot_apply_in_progress.inc();
        let (engine, snapshots, snapshot_meta) = (self.engine.clone(), self.snapshots.clone(), meta.clone());
        let copied = tokio::task::spawn_blocking(move || snapshots.install(&engine, &snapshot_meta, &received))
            .await
            .map_err(|e| io_err(subject(), ErrorVerb::Write, std::io::Error::other(e)));
        self.metrics.snapshot_apply_in_progress.dec();
        let copied = copied?.map_err(|e| io_err(subject(), ErrorVerb::Write, e))?;
        self.reload().map_err(|e| io_err(subject(), ErrorVerb::Read, e))?;
        self.metrics.snapshot_receive_success.inc();
        tracing::info!(
            snapshot = %meta.snapshot_id,
            records = copied,
            revision = self.kv.current_revision(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "installed snapshot from the leader"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let err = |e: crate::storage::StorageError| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e);
        let Some(meta) = self.snapshots.current().map_err(err)? else { return Ok(None) };
        if !self.started.load(std::sync::atomic::Ordering::Relaxed) {
            // Startup: only the metadata is used; the data handle is the metadata file.
            let path = self.snapshots.meta_path(&meta);
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
            return Ok(Some(Snapshot { meta, snapshot: Box::new(file) }));
        }
        let (snapshots, engine, kv) = (self.snapshots.clone(), self.engine.clone(), self.kv.clone());
        let (meta, path) = tokio::task::spawn_blocking(move || snapshots.packed(&engine, &kv, meta))
            .await
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, std::io::Error::other(e)))?
            .map_err(err)?;
        let file =
            tokio::fs::File::open(&path).await.map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(file) }))
    }
}

impl StateMachine {
    /// Rebuilds every in-memory view from disk after the data was replaced.
    fn reload(&mut self) -> Result<(), crate::mvcc::MvccError> {
        let attachments = self.kv.reload()?;
        let leases = load_leases(&self.engine)?;
        self.lessor.lock().reset(leases, attachments, Instant::now());
        self.auth.reload(&self.engine)?;
        let (applied, membership) = load_meta(&self.engine, &self.alarms, &self.members)?;
        self.applied = applied;
        self.membership = membership;
        self.hooks.restored(self.kv.current_revision());
        Ok(())
    }
}

pub struct SnapshotBuilder {
    engine: Arc<Engine>,
    kv: Arc<KvStore>,
    snapshots: SnapshotStore,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let (engine, kv, snapshots) = (self.engine.clone(), self.kv.clone(), self.snapshots.clone());
        let started = Instant::now();
        let built = tokio::task::spawn_blocking(move || snapshots.record(&engine, &kv))
            .await
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, std::io::Error::other(e)))?;
        let (meta, meta_path) = built.map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
        // openraft keeps only the metadata of a snapshot it asked for; the data
        // is checkpointed and packed when a follower needs it.
        let file = tokio::fs::File::open(&meta_path)
            .await
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
        tracing::info!(snapshot = %meta.snapshot_id, elapsed_ms = started.elapsed().as_millis() as u64, "took raft snapshot (metadata; the database is its data)");
        Ok(Snapshot { meta, snapshot: Box::new(file) })
    }
}

/// etcd's name of a request's operation (its `op` and request `type` labels).
pub fn request_op(request: &Request) -> &'static str {
    match request {
        Request::Put(_) => "Put",
        Request::DeleteRange(_) => "DeleteRange",
        Request::Txn(_) => "Txn",
        Request::Compaction(_) => "Compaction",
        Request::LeaseGrant(_) => "LeaseGrant",
        Request::LeaseRevoke(_) => "LeaseRevoke",
        Request::Alarm(_) => "Alarm",
        Request::MemberAttributes(_) => "ClusterMemberAttrSet",
        Request::LeaseCheckpoint(_) => "LeaseCheckpoint",
        Request::AuthEnable(_) => "AuthEnable",
        Request::AuthDisable(_) => "AuthDisable",
        Request::AuthUserAdd(_) => "AuthUserAdd",
        Request::AuthUserDelete(_) => "AuthUserDelete",
        Request::AuthUserChangePassword(_) => "AuthUserChangePassword",
        Request::AuthUserGrantRole(_) => "AuthUserGrantRole",
        Request::AuthUserRevokeRole(_) => "AuthUserRevokeRole",
        Request::AuthRoleAdd(_) => "AuthRoleAdd",
        Request::AuthRoleDelete(_) => "AuthRoleDelete",
        Request::AuthRoleGrantPermission(_) => "AuthRoleGrantPermission",
        Request::AuthRoleRevokePermission(_) => "AuthRoleRevokePermission",
        Request::Authenticate(_) => "Authenticate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    fn engine() -> (tempfile::TempDir, Arc<Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("db")).unwrap();
        (dir, engine)
    }

    fn put_raw(engine: &Engine, cf: Cf, key: &[u8], value: &[u8]) {
        let mut batch = crate::storage::WriteBatch::default();
        batch.put(engine, cf, key, value);
        engine.write(batch, false).unwrap();
    }

    fn load(engine: &Engine) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        load_meta(engine, &Alarms::default(), &MemberTable::new(1))
    }

    #[test]
    fn absent_metadata_is_a_fresh_member() {
        let (_d, engine) = engine();
        let (applied, _) = load(&engine).unwrap();
        assert_eq!(applied, None);
        assert!(load_leases(&engine).unwrap().is_empty());
    }

    /// R6: each of these used to be read as its default (an applied index of
    /// none replays the whole log onto applied data; no alarms lifts NOSPACE).
    #[test]
    fn undecodable_metadata_stops_the_member() {
        for key in [meta::APPLIED, meta::MEMBERSHIP, meta::ALARMS, meta::MEMBER_ATTRS, meta::REMOVED] {
            let (_d, engine) = engine();
            put_raw(&engine, Cf::Meta, key, &[0xff; 3]);
            match load(&engine) {
                Err(StorageError::Corrupt { cf: Cf::Meta, reason }) => {
                    assert!(reason.contains(std::str::from_utf8(key).unwrap()), "{reason}")
                }
                other => panic!("{}: expected corruption, got {other:?}", String::from_utf8_lossy(key)),
            }
        }
    }

    #[test]
    fn an_undecodable_lease_record_stops_the_member() {
        let (_d, engine) = engine();
        put_raw(&engine, Cf::Lease, &7i64.to_be_bytes(), &[0xff]);
        assert!(matches!(load_leases(&engine), Err(StorageError::Corrupt { cf: Cf::Lease, .. })));
    }

    #[test]
    fn alarms_survive_a_reload() {
        let (_d, engine) = engine();
        let list: Vec<(u64, i32)> = vec![(1, NOSPACE)];
        put_raw(&engine, Cf::Meta, meta::ALARMS, &bincode::serialize(&list).unwrap());
        let alarms = Alarms::default();
        load_meta(&engine, &alarms, &MemberTable::new(1)).unwrap();
        assert!(alarms.lock().contains(&(1, NOSPACE)));
    }
}
