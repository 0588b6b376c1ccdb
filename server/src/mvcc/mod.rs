//! The revisioned key space: every write request gets one new revision shared
//! by all of its changes; history is kept until compacted.
//!
//! Reads go through [`KvStore`]; writes happen only inside an [`Applier`],
//! which the Raft state machine holds while it applies a batch of committed
//! entries. The applier holds the store's write lock from the first change to
//! the durable write of the batch, so readers never see half of a batch.

mod applier;
mod hash;
mod key_index;
mod range;
mod record;
mod revision;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use capstan_proto::etcdserverpb::{RangeRequest, RangeResponse};
use capstan_proto::mvccpb::{Event, KeyValue, event::EventType};
use parking_lot::RwLock;
use prost::Message;

use crate::storage::schema::{self, meta};
use crate::storage::{Cf, Engine, ReadView, StorageError};

pub use applier::Applier;
pub use key_index::{IndexedRevision, KeyIndex};
pub use revision::Revision;

/// Errors of the key space. Texts are etcd's, without the `etcdserver: ` prefix
/// that the API layer adds.
#[derive(Debug, thiserror::Error)]
pub enum MvccError {
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    /// A put with `ignore_value` or `ignore_lease` on a key that does not exist.
    #[error("key not found")]
    KeyNotFound,
    /// A put refers to a lease that does not exist.
    #[error("requested lease not found")]
    LeaseNotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("corrupt value at revision {0:?}")]
    Corrupt(Revision),
}

/// The in-memory part of the store, guarded by one lock.
#[derive(Debug, Default)]
struct KvState {
    index: KeyIndex,
    /// The newest revision; 1 for an empty store, as in etcd.
    current: i64,
    /// The revision of the last compaction (0 when never compacted).
    compacted: i64,
    /// HashKV of the last compactions, computed as each ran (see `hash`).
    hashes: hash::CompactionHashes,
}

/// Leases found attached to live keys at recovery: lease id → keys.
pub type RecoveredAttachments = HashMap<i64, Vec<Vec<u8>>>;

/// The multi-version key-value store of one member.
pub struct KvStore {
    engine: Arc<Engine>,
    state: RwLock<KvState>,
}

impl KvStore {
    /// Opens the store, rebuilding the key index from disk. Returns the leases
    /// attached to live keys so the lessor can rebuild its key sets.
    pub fn open(engine: Arc<Engine>) -> Result<(Self, RecoveredAttachments), MvccError> {
        let (state, attachments) = Self::load(&engine)?;
        Ok((Self { engine, state: RwLock::new(state) }, attachments))
    }

    /// Rebuilds the index from disk in place (after a snapshot replaced the
    /// data underneath). Readers wait meanwhile.
    pub fn reload(&self) -> Result<RecoveredAttachments, MvccError> {
        let mut guard = self.state.write();
        let (state, attachments) = Self::load(&self.engine)?;
        *guard = state;
        Ok(attachments)
    }

    /// Runs `f` while no batch is being applied, so the database holds whole
    /// batches only (snapshot checkpoints).
    pub fn with_applies_paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let _paused = self.state.read();
        f()
    }

    fn load(engine: &Engine) -> Result<(KvState, RecoveredAttachments), MvccError> {
        let mut state = KvState { current: 1, ..Default::default() };
        let mut live_lease: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut corrupt = None;
        engine.scan_all(Cf::Kv, |k, v| {
            let Some((main, sub, tombstone)) = schema::decode_revision_key(k) else {
                corrupt = Some(Revision::default());
                return false;
            };
            let rev = Revision::new(main, sub);
            let Some(kv) = record::index_fields(v) else {
                corrupt = Some(rev);
                return false;
            };
            if tombstone {
                state.index.tombstone(kv.key, rev);
                live_lease.remove(kv.key);
            } else {
                state.index.restore_put(kv.key, rev, kv.create_revision, kv.version);
                if kv.lease != 0 {
                    live_lease.insert(kv.key.to_vec(), kv.lease);
                } else if !live_lease.is_empty() {
                    live_lease.remove(kv.key);
                }
            }
            state.current = state.current.max(main);
            true
        })?;
        if let Some(rev) = corrupt {
            return Err(MvccError::Corrupt(rev));
        }
        if let Some(current) = engine.get_decoded(Cf::Meta, meta::CURRENT_REV, schema::decode_i64_exact)? {
            state.current = state.current.max(current);
        }
        if let Some(compacted) = engine.get_decoded(Cf::Meta, meta::COMPACTED_REV, schema::decode_i64_exact)? {
            state.compacted = compacted;
        }
        let mut attachments: RecoveredAttachments = HashMap::new();
        for (key, lease) in live_lease {
            attachments.entry(lease).or_default().push(key);
        }
        tracing::info!(
            keys = state.index.len(),
            revision = state.current,
            compacted = state.compacted,
            "mvcc store recovered"
        );
        Ok((state, attachments))
    }

    pub fn current_revision(&self) -> i64 {
        self.state.read().current
    }

    pub fn compacted_revision(&self) -> i64 {
        self.state.read().compacted
    }

    /// Number of live keys (at the current revision).
    pub fn key_count(&self) -> usize {
        let st = self.state.read();
        st.index.count(b"\0", &[0], st.current)
    }

    /// Starts applying a batch of writes; blocks readers until committed.
    pub fn begin(&self) -> Applier<'_> {
        Applier::new(&self.engine, self.state.write())
    }

    /// Serves a Range request (the header carries only the revision; the
    /// caller fills the rest). The store lock is held only to resolve the
    /// revisions from the index and to pin a view of the database; values
    /// are read from that view after the lock is released, so a large read
    /// never holds up the apply of later writes (and the heartbeats behind it).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let (plan, view) = self.plan_range(req)?;
        plan.execute(&ViewValues(&view))
    }

    /// The locked half of [`KvStore::range`].
    fn plan_range(&self, req: &RangeRequest) -> Result<(range::RangePlan, ReadView<'_>), MvccError> {
        let st = self.state.read();
        let rev = range::read_revision(&st, req.revision)?;
        let mut plan = range::plan(&st, req, rev);
        plan.header_revision = Some(st.current);
        // Taken under the lock: the view holds exactly the batches the index does.
        Ok((plan, self.engine.read_view()))
    }

    /// The version of `key` visible at `rev`, if any (used for watch prev_kv).
    pub fn get_at(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>, MvccError> {
        let (modified, view) = {
            let st = self.state.read();
            if rev < st.compacted {
                return Err(MvccError::Compacted);
            }
            let Some((_, r)) = st.index.range(key, b"", rev).into_iter().next() else {
                return Ok(None);
            };
            (r.modified, self.engine.read_view())
        };
        Ok(ViewValues(&view).fetch(&[modified])?.pop())
    }

    /// Events with revision in `[from, to]` on keys in `[key, end)`, at most
    /// about `max` of them (never splitting a revision). Returns the events and
    /// the last revision fully covered.
    pub fn history(
        &self,
        key: &[u8],
        end: &[u8],
        from: i64,
        to: i64,
        max: usize,
    ) -> Result<(Vec<Event>, i64), MvccError> {
        // A compaction applied after the check must not remove history from
        // under the scan: the scan reads a view pinned with the check.
        let view = {
            let st = self.state.read();
            if from < st.compacted {
                return Err(MvccError::Compacted);
            }
            self.engine.read_view()
        };
        let mut events = Vec::new();
        let mut covered = to;
        let mut err = None;
        let start = schema::revision_key(from, 0, false);
        view.scan_from(Cf::Kv, &start, |k, v| {
            let Some((main, sub, tombstone)) = schema::decode_revision_key(k) else {
                err = Some(MvccError::Corrupt(Revision::default()));
                return false;
            };
            if main > to {
                return false;
            }
            if events.len() >= max && sub == 0 {
                covered = main - 1;
                return false;
            }
            let Ok(mut kv) = KeyValue::decode(v) else {
                err = Some(MvccError::Corrupt(Revision::new(main, sub)));
                return false;
            };
            if !key_in_range(&kv.key, key, end) {
                return true;
            }
            let kind = if tombstone {
                kv.mod_revision = main;
                EventType::Delete
            } else {
                EventType::Put
            };
            events.push(Event { r#type: kind as i32, kv: Some(kv), prev_kv: None });
            true
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok((events, covered)),
        }
    }
}

/// Whether `k` falls in etcd's range `[key, end)` (see [`KeyIndex::range`]).
pub fn key_in_range(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        k == key
    } else if end == [0] {
        k >= key
    } else {
        k >= key && k < end
    }
}

/// Where range reads get values from: disk, or disk plus the pending writes of
/// the batch being applied.
pub(crate) trait ValueSource {
    fn fetch(&self, revs: &[Revision]) -> Result<Vec<KeyValue>, MvccError>;
}

/// The live database: for reads by the applier, which holds the store
/// exclusively, so nothing changes under it.
pub(crate) struct DiskValues<'a>(pub &'a Engine);

impl ValueSource for DiskValues<'_> {
    fn fetch(&self, revs: &[Revision]) -> Result<Vec<KeyValue>, MvccError> {
        decode_values(revs, self.0.multi_get(Cf::Kv, &revision_keys(revs))?)
    }
}

/// A pinned view of the database: for readers that released the store lock.
pub(crate) struct ViewValues<'a>(pub &'a ReadView<'a>);

impl ValueSource for ViewValues<'_> {
    fn fetch(&self, revs: &[Revision]) -> Result<Vec<KeyValue>, MvccError> {
        decode_values(revs, self.0.multi_get(Cf::Kv, &revision_keys(revs))?)
    }
}

fn revision_keys(revs: &[Revision]) -> Vec<Vec<u8>> {
    revs.iter().map(|r| schema::revision_key(r.main, r.sub, false)).collect()
}

/// Values read for `revs`; a revision the index has and the database lacks is corruption.
fn decode_values(revs: &[Revision], values: Vec<Option<Vec<u8>>>) -> Result<Vec<KeyValue>, MvccError> {
    revs.iter()
        .zip(values)
        .map(|(r, v)| {
            let bytes = v.ok_or(MvccError::Corrupt(*r))?;
            KeyValue::decode(bytes.as_slice()).map_err(|_| MvccError::Corrupt(*r))
        })
        .collect()
}
