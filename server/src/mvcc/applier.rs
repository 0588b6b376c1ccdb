//! Applying committed writes to the key space.

use std::collections::HashMap;

use capstan_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use capstan_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RequestOp, ResponseHeader,
    ResponseOp, TxnRequest, TxnResponse, request_op, response_op,
};
use capstan_proto::mvccpb::{Event, KeyValue, event::EventType};
use parking_lot::RwLockWriteGuard;
use prost::Message;

use super::hash::{self, KvHasher};
use super::range::{range_at, read_revision};
use super::{DiskValues, KvState, MvccError, Revision, ValueSource};
use crate::storage::schema::{self, meta};
use crate::storage::{Cf, Engine, WriteBatch};

/// A change of the lease a key is attached to (0 = none), for the lessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseChange {
    pub key: Vec<u8>,
    pub old: i64,
    pub new: i64,
}

/// Exclusive access to the store while a batch of committed entries is applied.
/// Changes go to the index immediately (so later requests of the batch see
/// them) and to one [`WriteBatch`] that [`Applier::commit`] writes atomically.
pub struct Applier<'a> {
    engine: &'a Engine,
    state: RwLockWriteGuard<'a, KvState>,
    batch: WriteBatch,
    /// Records written by this batch, not yet on disk (and whether each is
    /// a tombstone).
    pending: HashMap<Revision, (KeyValue, bool)>,
    events: Vec<Event>,
    lease_changes: Vec<LeaseChange>,
    /// The request being applied: its revision and the next sub-revision.
    main: i64,
    sub: i64,
}

struct PendingValues<'b> {
    disk: DiskValues<'b>,
    pending: &'b HashMap<Revision, (KeyValue, bool)>,
}

impl ValueSource for PendingValues<'_> {
    fn fetch(&self, revs: &[Revision]) -> Result<Vec<KeyValue>, MvccError> {
        if revs.iter().all(|r| !self.pending.contains_key(r)) {
            return self.disk.fetch(revs);
        }
        revs.iter()
            .map(|r| match self.pending.get(r) {
                Some((kv, _)) => Ok(kv.clone()),
                None => Ok(self.disk.fetch(&[*r])?.remove(0)),
            })
            .collect()
    }
}

impl<'a> Applier<'a> {
    pub(super) fn new(engine: &'a Engine, state: RwLockWriteGuard<'a, KvState>) -> Self {
        Self {
            engine,
            state,
            batch: WriteBatch::default(),
            pending: HashMap::new(),
            events: Vec::new(),
            lease_changes: Vec::new(),
            main: 0,
            sub: 0,
        }
    }

    pub fn current_revision(&self) -> i64 {
        self.state.current
    }

    /// The batch the caller adds its own records to (applied log id, leases),
    /// so they commit atomically with the key space.
    pub fn batch(&mut self) -> &mut WriteBatch {
        &mut self.batch
    }

    /// Lease attachment changes since the last call, in order.
    pub fn take_lease_changes(&mut self) -> Vec<LeaseChange> {
        std::mem::take(&mut self.lease_changes)
    }

    fn values(&self) -> PendingValues<'_> {
        PendingValues { disk: DiskValues(self.engine), pending: &self.pending }
    }

    fn start_request(&mut self) {
        self.main = self.state.current + 1;
        self.sub = 0;
    }

    /// Ends a request: it got a new revision iff it changed something.
    fn end_request(&mut self) {
        if self.sub > 0 {
            self.state.current = self.main;
        }
    }

    /// The revision reads inside the current request see (its own writes included).
    fn read_rev(&self) -> i64 {
        if self.sub > 0 { self.main } else { self.state.current }
    }

    fn latest(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        match self.state.index.latest(key) {
            Some(r) => Ok(self.values().fetch(&[r.modified])?.pop()),
            None => Ok(None),
        }
    }

    /// Reads inside a write request (txn range ops).
    pub fn range(&self, req: &RangeRequest) -> Result<capstan_proto::etcdserverpb::RangeResponse, MvccError> {
        let rev = if req.revision <= 0 { self.read_rev() } else { read_revision(&self.state, req.revision)? };
        let mut resp = range_at(&self.state, &self.values(), req, rev)?;
        resp.header = Some(revision_header(rev));
        Ok(resp)
    }

    /// Checks a put that `ignore_value`/`ignore_lease` can be applied.
    fn check_put(&self, req: &PutRequest, lease_exists: &dyn Fn(i64) -> bool) -> Result<(), MvccError> {
        if (req.ignore_value || req.ignore_lease) && self.state.index.latest(&req.key).is_none() {
            return Err(MvccError::KeyNotFound);
        }
        if !req.ignore_lease && req.lease != 0 && !lease_exists(req.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        Ok(())
    }

    /// Applies a Put as its own request.
    pub fn put(&mut self, req: &PutRequest, lease_exists: &dyn Fn(i64) -> bool) -> Result<PutResponse, MvccError> {
        self.check_put(req, lease_exists)?;
        self.start_request();
        let resp = self.put_op(req)?;
        self.end_request();
        Ok(resp)
    }

    fn put_op(&mut self, req: &PutRequest) -> Result<PutResponse, MvccError> {
        let prev = self.latest(&req.key)?;
        let rev = Revision::new(self.main, self.sub);
        self.sub += 1;
        let (create_revision, version) = self.state.index.put(&req.key, rev);
        let value = match (&prev, req.ignore_value) {
            (Some(p), true) => p.value.clone(),
            _ => req.value.clone(),
        };
        let old_lease = prev.as_ref().map_or(0, |p| p.lease);
        let lease = if req.ignore_lease { old_lease } else { req.lease };
        let kv = KeyValue { key: req.key.clone(), create_revision, mod_revision: rev.main, version, value, lease };
        self.write_value(rev, false, &kv);
        if old_lease != lease {
            self.lease_changes.push(LeaseChange { key: req.key.clone(), old: old_lease, new: lease });
        }
        self.events.push(Event { r#type: EventType::Put as i32, kv: Some(kv), prev_kv: None });
        Ok(PutResponse { header: Some(revision_header(rev.main)), prev_kv: if req.prev_kv { prev } else { None } })
    }

    /// Stores `kv` at `rev`. A tombstone's record holds only the key, as
    /// etcd's does: HashKV covers the records, so they must be etcd's bytes
    /// (the delete event still carries its mod_revision).
    fn write_value(&mut self, rev: Revision, tombstone: bool, kv: &KeyValue) {
        let key = schema::revision_key(rev.main, rev.sub, tombstone);
        let record = if tombstone { KeyValue { key: kv.key.clone(), ..Default::default() } } else { kv.clone() };
        self.batch.put(self.engine, Cf::Kv, key, record.encode_to_vec());
        self.pending.insert(rev, (record, tombstone));
    }

    /// Applies a DeleteRange as its own request.
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse, MvccError> {
        self.start_request();
        let resp = self.delete_op(req)?;
        self.end_request();
        Ok(resp)
    }

    /// Deletes `keys` (used by lease revoke) in one request; returns how many.
    pub fn delete_keys(&mut self, keys: &[Vec<u8>]) -> Result<i64, MvccError> {
        self.start_request();
        let mut n = 0;
        for k in keys {
            let req = DeleteRangeRequest { key: k.clone(), ..Default::default() };
            n += self.delete_op(&req)?.deleted;
        }
        self.end_request();
        Ok(n)
    }

    fn delete_op(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse, MvccError> {
        let at = self.read_rev();
        let found: Vec<(Vec<u8>, Revision)> = self
            .state
            .index
            .range(&req.key, &req.range_end, at)
            .into_iter()
            .map(|(k, r)| (k.to_vec(), r.modified))
            .collect();
        // Previous values are needed for prev_kv and to detach leases.
        let revs: Vec<_> = found.iter().map(|(_, r)| *r).collect();
        let prev_kvs = if revs.is_empty() { Vec::new() } else { self.values().fetch(&revs)? };
        for (key, _) in &found {
            let rev = Revision::new(self.main, self.sub);
            self.sub += 1;
            self.state.index.tombstone(key, rev);
            let kv = KeyValue { key: key.clone(), mod_revision: rev.main, ..Default::default() };
            self.write_value(rev, true, &kv);
            self.events.push(Event { r#type: EventType::Delete as i32, kv: Some(kv), prev_kv: None });
        }
        for prev in &prev_kvs {
            if prev.lease != 0 {
                self.lease_changes.push(LeaseChange { key: prev.key.clone(), old: prev.lease, new: 0 });
            }
        }
        Ok(DeleteRangeResponse {
            header: Some(revision_header(self.read_rev())),
            deleted: found.len() as i64,
            prev_kvs: if req.prev_kv { prev_kvs } else { Vec::new() },
        })
    }

    /// Applies a Txn: evaluates every compare (nested ones too) against the
    /// state before the txn, as etcd does, then executes the chosen branches
    /// under one revision.
    pub fn txn(&mut self, req: &TxnRequest, lease_exists: &dyn Fn(i64) -> bool) -> Result<TxnResponse, MvccError> {
        let mut path = Vec::new();
        self.choose_path(req, &mut path)?;
        let mut at = 0;
        self.check_path(req, &path, &mut at, lease_exists)?;
        self.start_request();
        let mut at = 0;
        let resp = self.execute(req, &path, &mut at)?;
        self.end_request();
        Ok(resp)
    }

    fn choose_path(&self, req: &TxnRequest, path: &mut Vec<bool>) -> Result<(), MvccError> {
        let mut ok = true;
        for c in &req.compare {
            if !self.compare(c)? {
                ok = false;
                break;
            }
        }
        path.push(ok);
        let ops = if ok { &req.success } else { &req.failure };
        for op in ops {
            if let Some(request_op::Request::RequestTxn(t)) = &op.request {
                self.choose_path(t, path)?;
            }
        }
        Ok(())
    }

    fn check_path(
        &self,
        req: &TxnRequest,
        path: &[bool],
        at: &mut usize,
        lease_exists: &dyn Fn(i64) -> bool,
    ) -> Result<(), MvccError> {
        let ops = if path[*at] { &req.success } else { &req.failure };
        *at += 1;
        for op in ops {
            match &op.request {
                Some(request_op::Request::RequestPut(p)) => self.check_put(p, lease_exists)?,
                Some(request_op::Request::RequestTxn(t)) => self.check_path(t, path, at, lease_exists)?,
                Some(request_op::Request::RequestRange(r)) if r.revision > 0 => {
                    read_revision(&self.state, r.revision)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn execute(&mut self, req: &TxnRequest, path: &[bool], at: &mut usize) -> Result<TxnResponse, MvccError> {
        let succeeded = path[*at];
        *at += 1;
        let ops: &[RequestOp] = if succeeded { &req.success } else { &req.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match &op.request {
                Some(request_op::Request::RequestRange(r)) => response_op::Response::ResponseRange(self.range(r)?),
                Some(request_op::Request::RequestPut(p)) => response_op::Response::ResponsePut(self.put_op(p)?),
                Some(request_op::Request::RequestDeleteRange(d)) => {
                    response_op::Response::ResponseDeleteRange(self.delete_op(d)?)
                }
                Some(request_op::Request::RequestTxn(t)) => {
                    response_op::Response::ResponseTxn(self.execute(t, path, at)?)
                }
                None => continue,
            };
            responses.push(ResponseOp { response: Some(response) });
        }
        // Nested responses carry only a revision, like etcd's (the API layer
        // fills the full header of the outermost response).
        Ok(TxnResponse { header: Some(Default::default()), succeeded, responses })
    }

    fn compare(&self, c: &Compare) -> Result<bool, MvccError> {
        let req = RangeRequest { key: c.key.clone(), range_end: c.range_end.clone(), ..Default::default() };
        let kvs = range_at(&self.state, &self.values(), &req, self.state.current)?.kvs;
        let target = CompareTarget::try_from(c.target).unwrap_or(CompareTarget::Version);
        if kvs.is_empty() {
            // A missing key has no value to compare; other targets compare against zero.
            return Ok(target != CompareTarget::Value && compare_kv(c, target, &KeyValue::default()));
        }
        Ok(kvs.iter().all(|kv| compare_kv(c, target, kv)))
    }

    /// Compacts history at `rev`: reads at `rev` and later stay possible.
    pub fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        if rev <= self.state.compacted {
            return Err(MvccError::Compacted);
        }
        if rev > self.state.current {
            return Err(MvccError::FutureRevision);
        }
        let keep = self.state.index.compact(rev);
        let previous = self.state.compacted;
        let end = schema::revision_key(rev + 1, 0, false);
        let mut doomed = Vec::new();
        // The hash of the compacted revision, from the data about to go
        // (etcd's scheduleCompaction): HashKV of `rev` answers it from now on.
        let mut hasher = KvHasher::new(previous, rev, keep.clone());
        self.engine.scan_from(Cf::Kv, &[], |k, v| {
            if k >= end.as_slice() {
                return false;
            }
            if let Some((main, sub, _)) = schema::decode_revision_key(k)
                && !keep.contains(&Revision::new(main, sub))
            {
                doomed.push(k.to_vec());
            }
            hasher.write(k, v);
            true
        })?;
        hash::write_pending(&mut hasher, self.pending.iter());
        self.state.hashes.store(hasher.finish(), rev, previous);
        // Pending (unwritten) values of this batch are never at or below a
        // compactable revision that is not also the newest, except tombstones.
        for (r, _) in self.pending.iter().filter(|(r, _)| r.main <= rev && !keep.contains(r)) {
            doomed.push(schema::revision_key(r.main, r.sub, true));
            doomed.push(schema::revision_key(r.main, r.sub, false));
        }
        for k in doomed {
            self.batch.delete(self.engine, Cf::Kv, k);
        }
        self.state.compacted = rev;
        tracing::info!(revision = rev, kept = keep.len(), "compacted key space");
        Ok(())
    }

    /// Writes the batch (store records plus whatever the caller added) and
    /// publishes the new revision to readers. Returns the events of the batch.
    pub fn commit(mut self, sync: bool) -> Result<Vec<Event>, MvccError> {
        let current = self.state.current.to_be_bytes();
        let compacted = self.state.compacted.to_be_bytes();
        self.batch.put(self.engine, Cf::Meta, meta::CURRENT_REV, current);
        self.batch.put(self.engine, Cf::Meta, meta::COMPACTED_REV, compacted);
        let batch = std::mem::take(&mut self.batch);
        self.engine.write(batch, sync)?;
        Ok(std::mem::take(&mut self.events))
    }
}

fn revision_header(revision: i64) -> ResponseHeader {
    ResponseHeader { revision, ..Default::default() }
}

fn compare_kv(c: &Compare, target: CompareTarget, kv: &KeyValue) -> bool {
    use std::cmp::Ordering;
    let ord: Ordering = match (target, &c.target_union) {
        (CompareTarget::Value, Some(TargetUnion::Value(v))) => kv.value.as_slice().cmp(v.as_slice()),
        (CompareTarget::Value, _) => kv.value.as_slice().cmp(&[][..]),
        (CompareTarget::Version, Some(TargetUnion::Version(v))) => kv.version.cmp(v),
        (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => kv.create_revision.cmp(v),
        (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => kv.mod_revision.cmp(v),
        (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => kv.lease.cmp(v),
        (CompareTarget::Version, _) => kv.version.cmp(&0),
        (CompareTarget::Create, _) => kv.create_revision.cmp(&0),
        (CompareTarget::Mod, _) => kv.mod_revision.cmp(&0),
        (CompareTarget::Lease, _) => kv.lease.cmp(&0),
    };
    match CompareResult::try_from(c.result).unwrap_or(CompareResult::Equal) {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}
