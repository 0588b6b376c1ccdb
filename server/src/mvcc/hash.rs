//! etcd's HashKV, byte for byte: a CRC-32C (Castagnoli) that starts with the
//! name of bbolt's `key` bucket and covers each stored revision key and its
//! encoded `mvccpb.KeyValue` in revision order. Capstan's revision keys and
//! records are etcd's bytes, so equal histories hash equal in Capstan and in
//! etcd, and members of either can be compared.
//!
//! What a hash at revision `rev` covers (etcd's `kvHasher`), given the last
//! compaction at `compacted` and `keep`, the revisions visible at `rev`
//! ([`KeyIndex::keep`]):
//! - revisions above `rev`: nothing;
//! - revisions above `compacted`: all, tombstones included;
//! - revisions at or below `compacted`: only those in `keep` (what survived
//!   compaction and is still the visible version at `rev`), and never the
//!   tombstone at exactly `compacted` (which etcd since 3.5.15 keeps on disk
//!   and older versions removed: hashes must agree across versions).
//!
//! A compaction computes the hash of its own revision from the data it is
//! about to remove (etcd's `scheduleCompaction`), and HashKV of that revision
//! answers it afterwards, so the hash of a revision does not change when the
//! revision is compacted. etcd keeps the last 10 in memory; so do we.

use std::collections::HashSet;

use prost::Message;

use super::{KeyIndex, KvStore, MvccError, Revision};
use crate::storage::Cf;
use crate::storage::schema;

/// The name of etcd's bbolt bucket of revisions, the first bytes hashed.
const ETCD_KEY_BUCKET: &[u8] = b"key";

/// How many compaction hashes are kept (etcd's `hashStorageMaxSize`).
const KEPT_HASHES: usize = 10;

/// etcd's `kvHasher`: feed it every stored (key, value) in order.
pub(super) struct KvHasher {
    crc: u32,
    compacted: i64,
    rev: i64,
    keep: HashSet<Revision>,
}

impl KvHasher {
    pub(super) fn new(compacted: i64, rev: i64, keep: HashSet<Revision>) -> Self {
        Self { crc: crc32c::crc32c(ETCD_KEY_BUCKET), compacted, rev, keep }
    }

    /// Adds one stored record, if the hash covers it.
    pub(super) fn write(&mut self, key: &[u8], value: &[u8]) {
        let Some((main, sub, tombstone)) = schema::decode_revision_key(key) else { return };
        if main > self.rev {
            return;
        }
        if main <= self.compacted && !self.keep.is_empty() && !self.keep.contains(&Revision::new(main, sub)) {
            return;
        }
        if tombstone && main == self.compacted {
            return;
        }
        self.crc = crc32c::crc32c_append(crc32c::crc32c_append(self.crc, key), value);
    }

    pub(super) fn finish(&self) -> u32 {
        self.crc
    }
}

/// A hash computed by a compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CompactionHash {
    hash: u32,
    /// The compacted revision (the hash's revision).
    revision: i64,
    /// The compaction before it, as HashKV reports it (-1: none).
    previous: i64,
}

/// The hashes of the last [`KEPT_HASHES`] compactions.
#[derive(Debug, Default)]
pub(super) struct CompactionHashes(Vec<CompactionHash>);

impl CompactionHashes {
    pub(super) fn store(&mut self, hash: u32, revision: i64, previous: i64) {
        tracing::info!(hash, revision, compact_revision = reported(previous), "storing new hash");
        self.0.retain(|h| h.revision != revision);
        self.0.push(CompactionHash { hash, revision, previous: reported(previous) });
        self.0.sort_by_key(|h| h.revision);
        if self.0.len() > KEPT_HASHES {
            self.0.remove(0);
        }
    }

    fn get(&self, revision: i64) -> Option<CompactionHash> {
        self.0.iter().find(|h| h.revision == revision).copied()
    }
}

/// HashKV's compact revision: etcd reports -1 when never compacted.
fn reported(compacted: i64) -> i64 {
    if compacted == 0 { -1 } else { compacted }
}

/// Feeds a batch's own records at or below `rev` (not on disk yet), in
/// revision order, after the disk's: they are all newer.
pub(super) fn write_pending<'a>(
    hasher: &mut KvHasher,
    pending: impl Iterator<Item = (&'a Revision, &'a (capstan_proto::mvccpb::KeyValue, bool))>,
) {
    let mut own: Vec<_> = pending.filter(|(r, _)| r.main <= hasher.rev).collect();
    own.sort_by_key(|(r, _)| **r);
    for (r, (kv, tombstone)) in own {
        hasher.write(&schema::revision_key(r.main, r.sub, *tombstone), &kv.encode_to_vec());
    }
}

impl KvStore {
    /// etcd's HashKV at `rev` (0 = current). Returns (hash, hash revision,
    /// compact revision). A revision some compaction hashed answers that hash.
    ///
    /// The hash covers a view pinned together with the revisions it is
    /// checked against: a compaction applied during the scan would otherwise
    /// make members with equal data hash differently.
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64), MvccError> {
        self.hash_kv_with(rev, || {})
    }

    /// [`KvStore::hash_kv`], running `after_pin` once the view is pinned and
    /// the lock released (tests apply writes there).
    pub(super) fn hash_kv_with(&self, rev: i64, after_pin: impl FnOnce()) -> Result<(u32, i64, i64), MvccError> {
        let (mut hasher, compacted, view) = {
            let st = self.state.read();
            let rev = if rev <= 0 { st.current } else { rev };
            if rev > st.current {
                return Err(MvccError::FutureRevision);
            }
            if rev < st.compacted {
                return Err(MvccError::Compacted);
            }
            if let Some(h) = st.hashes.get(rev) {
                return Ok((h.hash, h.revision, h.previous));
            }
            let keep = if st.compacted > 0 { st.index.keep(rev) } else { HashSet::new() };
            (KvHasher::new(st.compacted, rev, keep), st.compacted, self.engine.read_view())
        };
        after_pin();
        let rev = hasher.rev;
        view.scan_all(Cf::Kv, |k, v| match schema::decode_revision_key(k) {
            Some((main, _, _)) if main <= rev => {
                hasher.write(k, v);
                true
            }
            _ => false,
        })?;
        Ok((hasher.finish(), rev, reported(compacted)))
    }
}

impl KeyIndex {
    /// etcd's `Keep`: for each key, the revision visible at `at`, if the key
    /// existed then and was not deleted at exactly `at`.
    pub fn keep(&self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        for (_, rev) in self.range(b"\0", &[0], at) {
            keep.insert(rev.modified);
        }
        keep
    }
}
