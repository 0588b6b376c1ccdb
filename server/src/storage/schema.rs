//! Every column family and key encoding of a member's database, in one place.
//! Integers in ordered keys are big-endian so byte order equals numeric order.

use rocksdb::Options;

/// The column families of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cf {
    /// Raft log: `u64 BE index` → bincode `Entry`.
    RaftLog,
    /// Raft hard state: `vote`, `committed`, `purged` → bincode values.
    RaftMeta,
    /// MVCC history: [`revision_key`] → protobuf `mvccpb.KeyValue`.
    Kv,
    /// Leases: `i64 BE id` → protobuf `LeaseRecord` (id, ttl).
    Lease,
    /// State-machine metadata: the keys in [`meta`].
    Meta,
    /// Auth state: the keys in [`auth`].
    Auth,
}

impl Cf {
    pub const ALL: &'static [Cf] = &[Cf::RaftLog, Cf::RaftMeta, Cf::Kv, Cf::Lease, Cf::Meta, Cf::Auth];
    /// The state machine's families (everything but the Raft log and hard state).
    pub const STATE: &'static [Cf] = &[Cf::Kv, Cf::Lease, Cf::Meta, Cf::Auth];

    pub fn name(self) -> &'static str {
        match self {
            Cf::RaftLog => "raft_log",
            Cf::RaftMeta => "raft_meta",
            Cf::Kv => "kv",
            Cf::Lease => "lease",
            Cf::Meta => "meta",
            Cf::Auth => "auth",
        }
    }

    /// Per-family tuning. Memory is bounded on purpose (etcd users size
    /// nodes by etcd's footprint): memtables are small, and every family's
    /// blocks, indexes and filters share one block cache (`cache`).
    pub(super) fn options(self, cache: &rocksdb::Cache) -> Options {
        let mut o = Options::default();
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(cache);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        match self {
            // History is read by exact revision: a Bloom filter spares most
            // misses in newer files.
            Cf::Kv => {
                o.set_compression_type(rocksdb::DBCompressionType::Lz4);
                o.set_write_buffer_size(16 << 20);
                table.set_bloom_filter(10.0, false);
            }
            // Entries are purged a few thousand requests after they are
            // applied, mostly before their memtable is flushed.
            Cf::RaftLog => o.set_write_buffer_size(16 << 20),
            _ => o.set_write_buffer_size(2 << 20),
        }
        o.set_block_based_table_factory(&table);
        o
    }
}

/// Keys of [`Cf::RaftMeta`].
pub mod raft_meta {
    pub const VOTE: &[u8] = b"vote";
    pub const COMMITTED: &[u8] = b"committed";
    pub const PURGED: &[u8] = b"purged";
    /// u64 BE: this member's id, fixed when the data dir is first used. Kept
    /// here, not in [`super::meta`], because snapshots replace the state
    /// machine's families with the sender's.
    pub const MEMBER_ID: &[u8] = b"member_id";
    /// UTF-8 path of an extracted snapshot whose installation has begun and
    /// not finished; recovery completes it.
    pub const SNAPSHOT_INSTALL: &[u8] = b"snapshot_install";
}

/// Keys of [`Cf::Meta`]. All are written in the same batch as the data they describe.
pub mod meta {
    /// bincode `Option<LogId>`: the last Raft entry applied to the state machine.
    pub const APPLIED: &[u8] = b"applied";
    /// bincode `StoredMembership`: the last membership applied.
    pub const MEMBERSHIP: &[u8] = b"membership";
    /// i64 BE: the revision of the last compaction.
    pub const COMPACTED_REV: &[u8] = b"compacted_rev";
    /// i64 BE: the current revision (kept even when the newest revisions were compacted).
    pub const CURRENT_REV: &[u8] = b"current_rev";
    /// bincode list of active alarms.
    pub const ALARMS: &[u8] = b"alarms";
    /// u64 BE: the cluster id fixed at bootstrap.
    pub const CLUSTER_ID: &[u8] = b"cluster_id";
    /// bincode `BTreeMap<u64, MemberAttrs>`: published member attributes.
    pub const MEMBER_ATTRS: &[u8] = b"member_attrs";
    /// bincode `BTreeSet<u64>`: ids removed from the cluster.
    pub const REMOVED: &[u8] = b"removed_members";
}

/// Keys of [`Cf::Auth`], written in the batch of the entry that changed them.
pub mod auth {
    /// `[1]` while authentication is enabled, `[0]` after it was disabled.
    pub const ENABLED: &[u8] = b"enabled";
    /// u64 BE: etcd's auth revision (absent: 1, a fresh store).
    pub const REVISION: &[u8] = b"revision";
    /// `user/<name>` → protobuf `authpb.User` (the password as its bcrypt hash).
    pub const USER_PREFIX: &[u8] = b"user/";
    /// `role/<name>` → protobuf `authpb.Role`.
    pub const ROLE_PREFIX: &[u8] = b"role/";

    pub fn user(name: &[u8]) -> Vec<u8> {
        [USER_PREFIX, name].concat()
    }

    pub fn role(name: &[u8]) -> Vec<u8> {
        [ROLE_PREFIX, name].concat()
    }
}

/// Raft log key for `index`.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// Decodes the first 8 bytes of `b` as a big-endian u64.
pub fn decode_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

/// Decodes the first 8 bytes of `b` as a big-endian i64.
pub fn decode_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

/// Decodes a stored integer record, which is exactly 8 bytes (a longer or
/// shorter value is corrupt, not a number).
pub fn decode_u64_exact(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// [`decode_u64_exact`] for i64 records.
pub fn decode_i64_exact(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

/// Length of a revision key: main (8) + '_' + sub (8), plus 't' for tombstones.
pub const REVISION_KEY_LEN: usize = 17;

/// Encodes a revision as etcd does in its key bucket: `main BE ++ '_' ++ sub BE`,
/// with a trailing `t` marking a deletion (tombstone).
pub fn revision_key(main: i64, sub: i64, tombstone: bool) -> Vec<u8> {
    let mut k = Vec::with_capacity(REVISION_KEY_LEN + 1);
    k.extend_from_slice(&main.to_be_bytes());
    k.push(b'_');
    k.extend_from_slice(&sub.to_be_bytes());
    if tombstone {
        k.push(b't');
    }
    k
}

/// Decodes `(main, sub, tombstone)` from a [`revision_key`].
pub fn decode_revision_key(k: &[u8]) -> Option<(i64, i64, bool)> {
    if k.len() < REVISION_KEY_LEN || k[8] != b'_' {
        return None;
    }
    let main = decode_i64(&k[..8])?;
    let sub = decode_i64(&k[9..17])?;
    Some((main, sub, k.len() > REVISION_KEY_LEN && k[REVISION_KEY_LEN] == b't'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_keys_sort_by_revision() {
        let a = revision_key(2, 5, false);
        let b = revision_key(10, 0, true);
        assert!(a < b);
        assert_eq!(decode_revision_key(&b), Some((10, 0, true)));
        assert_eq!(decode_revision_key(&a), Some((2, 5, false)));
    }
}
