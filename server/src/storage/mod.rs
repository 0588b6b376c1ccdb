//! The only module that knows RocksDB. Everything above it speaks in terms of
//! column families declared in [`schema`] and atomic [`WriteBatch`]es.

pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteOptions};

pub use schema::Cf;

/// Errors of the storage layer: RocksDB failures and corrupt records.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt record in {cf:?}: {reason}")]
    Corrupt { cf: Cf, reason: String },
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A raw key and value read from a column family.
pub type KeyValuePair = (Vec<u8>, Vec<u8>);

/// A set of writes applied atomically, possibly spanning column families.
/// The state machine puts data and the applied log id in one batch, so a crash
/// never leaves one without the other.
#[derive(Default)]
pub struct WriteBatch {
    inner: rocksdb::WriteBatch,
}

impl WriteBatch {
    pub fn put(&mut self, engine: &Engine, cf: Cf, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.inner.put_cf(engine.cf(cf), key, value);
    }
    pub fn delete(&mut self, engine: &Engine, cf: Cf, key: impl AsRef<[u8]>) {
        self.inner.delete_cf(engine.cf(cf), key);
    }
    /// Deletes every key in `[from, to)`.
    pub fn delete_range<K: AsRef<[u8]>>(&mut self, engine: &Engine, cf: Cf, from: K, to: K) {
        self.inner.delete_range_cf(engine.cf(cf), from, to);
    }
}

/// Options of a read that walks much of a family once: large readahead, and
/// the blocks read do not evict the block cache's working set.
fn bulk_read_options() -> rocksdb::ReadOptions {
    let mut opts = rocksdb::ReadOptions::default();
    opts.fill_cache(false);
    opts.set_readahead_size(4 << 20);
    opts
}

/// A point-in-time view of the whole database (see [`Engine::read_view`]).
/// Holding one keeps the data it sees from being reclaimed by RocksDB, so
/// views are for the duration of one request.
pub struct ReadView<'a> {
    engine: &'a Engine,
    snapshot: rocksdb::Snapshot<'a>,
}

impl Drop for ReadView<'_> {
    fn drop(&mut self) {
        self.engine.open_views.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ReadView<'_> {
    fn options(&self, mut opts: rocksdb::ReadOptions) -> rocksdb::ReadOptions {
        opts.set_snapshot(&self.snapshot);
        opts
    }

    /// [`Engine::multi_get`] as of the view.
    pub fn multi_get<K: AsRef<[u8]>>(&self, cf: Cf, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.engine.multi_get_opt(cf, keys, &self.options(rocksdb::ReadOptions::default()))
    }

    /// [`Engine::scan_from`] as of the view.
    pub fn scan_from(&self, cf: Cf, start: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), StorageError> {
        let opts = self.options(rocksdb::ReadOptions::default());
        self.engine.scan_opt(cf, opts, IteratorMode::From(start, Direction::Forward), visit)
    }

    /// [`Engine::scan_all`] as of the view (hashes).
    pub fn scan_all(&self, cf: Cf, visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), StorageError> {
        self.engine.scan_opt(cf, self.options(bulk_read_options()), IteratorMode::Start, visit)
    }

    /// A CRC-32C of the whole replicated state as of the view (etcd's
    /// Maintenance.Hash, which hashes every bucket of its database): each
    /// state family's name, then its keys and values in order. Members that
    /// applied the same log hash the same; the value is not etcd's (its
    /// database holds other records).
    pub fn hash_state(&self) -> Result<u32, StorageError> {
        let mut crc = 0u32;
        for &cf in Cf::STATE {
            crc = crc32c::crc32c_append(crc, cf.name().as_bytes());
            self.scan_all(cf, |k, v| {
                crc = crc32c::crc32c_append(crc32c::crc32c_append(crc, k), v);
                true
            })?;
        }
        Ok(crc)
    }
}

/// One RocksDB instance holding the Raft log and the state machine of a member.
pub struct Engine {
    db: DB,
    path: PathBuf,
    /// [`Engine::size_on_disk`] as last computed, for the per-write quota check.
    size_cache: SizeCache,
    /// Read views alive now (etcd_mvcc_db_open_read_transactions).
    open_views: std::sync::atomic::AtomicUsize,
}

/// A recently computed database size. Computing it reads eight RocksDB
/// properties, some under the DB mutex that writers take too; the quota
/// check before every write only needs a recent value.
struct SizeCache {
    opened: std::time::Instant,
    bytes: std::sync::atomic::AtomicU64,
    /// Milliseconds after `opened` when `bytes` was computed; `u64::MAX`: never.
    at_ms: std::sync::atomic::AtomicU64,
}

/// The block cache shared by every column family. The hot data of the key
/// space (the newest revisions) mostly sits in memtables and the OS page
/// cache; this holds indexes, filters and recently read blocks.
const BLOCK_CACHE_BYTES: usize = 32 << 20;
/// The memory of all memtables together.
const WRITE_BUFFERS_BYTES: usize = 64 << 20;

/// The WAL kept before memtables holding its oldest data are flushed.
const MAX_WAL_BYTES: u64 = 64 << 20;

/// How stale [`Engine::recent_size_on_disk`] may be.
const SIZE_CACHE_MS: u64 = 100;

impl Engine {
    /// Opens (creating if needed) the database under `path`.
    pub fn open(path: &Path) -> Result<Arc<Self>, StorageError> {
        std::fs::create_dir_all(path)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // All memtables together stay under this; the largest is flushed first.
        opts.set_db_write_buffer_size(WRITE_BUFFERS_BYTES);
        // A WAL file lives until every family with data in it is flushed; past
        // this much WAL the oldest families are flushed, which bounds both the
        // disk it takes and what a restart after a crash must replay.
        opts.set_max_total_wal_size(MAX_WAL_BYTES);
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = Cf::ALL.iter().map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf.options(&cache)));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let size_cache = SizeCache {
            opened: std::time::Instant::now(),
            bytes: Default::default(),
            at_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
        };
        Ok(Arc::new(Self { db, path: path.to_path_buf(), size_cache, open_views: Default::default() }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        // Every family in Cf::ALL is created at open, so the handle always exists.
        self.db.cf_handle(cf.name()).expect("column family created at open")
    }

    pub fn get(&self, cf: Cf, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// Reads and decodes a metadata record. A record that is present but
    /// does not decode is [`StorageError::Corrupt`], never a default: a
    /// defaulted applied index would replay the log onto applied data, a
    /// defaulted alarm list would lift NOSPACE. An absent record is `None`.
    pub fn get_decoded<T>(
        &self,
        cf: Cf,
        key: &[u8],
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<Option<T>, StorageError> {
        match self.get(cf, key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some).ok_or_else(|| StorageError::Corrupt {
                cf,
                reason: format!("record {:?} ({} bytes) does not decode", String::from_utf8_lossy(key), bytes.len()),
            }),
        }
    }

    /// [`Engine::get_decoded`] for bincode records.
    pub fn get_bincode<T: serde::de::DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.get_decoded(cf, key, |b| bincode::deserialize(b).ok())
    }

    /// Point reads of many keys in one call.
    pub fn multi_get<K: AsRef<[u8]>>(&self, cf: Cf, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.multi_get_opt(cf, keys, &rocksdb::ReadOptions::default())
    }

    fn multi_get_opt<K: AsRef<[u8]>>(
        &self,
        cf: Cf,
        keys: &[K],
        opts: &rocksdb::ReadOptions,
    ) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let handle = self.cf(cf);
        self.db
            .batched_multi_get_cf_opt(handle, keys.iter().map(|k| k.as_ref()), false, opts)
            .into_iter()
            .map(|r| r.map(|v| v.map(|s| s.to_vec())).map_err(StorageError::from))
            .collect()
    }

    /// A consistent view of the database as of now, unaffected by later
    /// writes (a RocksDB snapshot). Readers take one under the key-space lock
    /// and read values after releasing it, so a large read never holds up
    /// an apply (etcd's concurrent read transactions do the same).
    pub fn read_view(&self) -> ReadView<'_> {
        self.open_views.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ReadView { engine: self, snapshot: self.db.snapshot() }
    }

    /// How many read views are open (reads in progress on pinned views).
    pub fn open_read_views(&self) -> usize {
        self.open_views.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes a batch. `sync` makes it durable before returning (fsync of the WAL);
    /// every column family shares that WAL, so a synced write also makes every
    /// earlier unsynced write durable.
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch.inner, &wo)?;
        Ok(())
    }

    /// Makes every write so far durable.
    pub fn sync_wal(&self) -> Result<(), StorageError> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Iterates `cf` forward from `start` (inclusive) while `keep(key)` holds.
    pub fn scan_from(&self, cf: Cf, start: &[u8], visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), StorageError> {
        self.scan_opt(cf, rocksdb::ReadOptions::default(), IteratorMode::From(start, Direction::Forward), visit)
    }

    /// Iterates all of `cf` while `keep(key)` holds, as a bulk read (see
    /// [`bulk_read_options`]): recovery.
    pub fn scan_all(&self, cf: Cf, visit: impl FnMut(&[u8], &[u8]) -> bool) -> Result<(), StorageError> {
        self.scan_opt(cf, bulk_read_options(), IteratorMode::Start, visit)
    }

    fn scan_opt(
        &self,
        cf: Cf,
        opts: rocksdb::ReadOptions,
        mode: IteratorMode<'_>,
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        for item in self.db.iterator_cf_opt(self.cf(cf), opts, mode) {
            let (k, v) = item?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    /// The last key/value of `cf`, if any.
    pub fn last(&self, cf: Cf) -> Result<Option<KeyValuePair>, StorageError> {
        match self.db.iterator_cf(self.cf(cf), IteratorMode::End).next() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    fn state_property_sum(&self, property: &str) -> u64 {
        Cf::STATE
            .iter()
            .map(|cf| self.db.property_int_value_cf(self.cf(*cf), property).ok().flatten().unwrap_or(0))
            .sum()
    }

    /// Bytes of the state machine (key space, leases, metadata): SST files plus
    /// memtables, without the Raft log. The counterpart of etcd's bbolt file size,
    /// which excludes etcd's WAL too; it is what the backend quota limits.
    pub fn size_on_disk(&self) -> u64 {
        self.state_property_sum("rocksdb.total-sst-files-size") + self.state_property_sum("rocksdb.size-all-mem-tables")
    }

    /// [`Engine::size_on_disk`] as computed at most [`SIZE_CACHE_MS`] ago.
    pub fn recent_size_on_disk(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let cache = &self.size_cache;
        let now = cache.opened.elapsed().as_millis() as u64;
        let at = cache.at_ms.load(Relaxed);
        if at != u64::MAX && now.saturating_sub(at) < SIZE_CACHE_MS {
            return cache.bytes.load(Relaxed);
        }
        let bytes = self.size_on_disk();
        cache.bytes.store(bytes, Relaxed);
        cache.at_ms.store(now, Relaxed);
        bytes
    }

    /// Bytes of live state-machine data (dbSizeInUse): RocksDB's estimate of live
    /// SST data plus memtables.
    pub fn live_data_size(&self) -> u64 {
        let live = self.state_property_sum("rocksdb.estimate-live-data-size")
            + self.state_property_sum("rocksdb.size-all-mem-tables");
        live.min(self.size_on_disk())
    }

    /// Flushes every memtable to disk, so that the next start replays no WAL
    /// (done at a clean shutdown).
    pub fn flush_all(&self) -> Result<(), StorageError> {
        let cfs: Vec<_> = Cf::ALL.iter().map(|cf| self.cf(*cf)).collect();
        self.db.flush_cfs_opt(&cfs, &rocksdb::FlushOptions::default())?;
        Ok(())
    }

    /// Full compaction of every family: RocksDB's equivalent of etcd's defragment.
    pub fn compact_all(&self) {
        // Flushing first lets compaction drop what deletes and compaction freed
        // from the memtables too.
        if let Err(e) = self.db.flush_cfs_opt(
            &Cf::ALL.iter().map(|cf| self.cf(*cf)).collect::<Vec<_>>(),
            &rocksdb::FlushOptions::default(),
        ) {
            tracing::warn!(error = %e, "flush before defragment failed");
        }
        for cf in Cf::ALL {
            self.db.compact_range_cf(self.cf(*cf), None::<&[u8]>, None::<&[u8]>);
        }
    }

    /// Replaces the state machine's families ([`Cf::STATE`]) with those of
    /// `source` (an opened snapshot checkpoint), leaving the Raft log and hard
    /// state alone. Not atomic: callers make it restartable (see the snapshot
    /// install marker). Returns the number of records copied.
    pub fn replace_state_from(&self, source: &Engine) -> Result<u64, StorageError> {
        const BATCH_BYTES: usize = 8 << 20;
        let mut copied = 0u64;
        for cf in Cf::STATE {
            let handle = self.cf(*cf);
            let mut batch = rocksdb::WriteBatch::default();
            for item in self.db.iterator_cf(handle, IteratorMode::Start) {
                let (k, _) = item?;
                batch.delete_cf(handle, k);
                if batch.size_in_bytes() >= BATCH_BYTES {
                    self.db.write(std::mem::take(&mut batch))?;
                }
            }
            self.db.write(std::mem::take(&mut batch))?;
            for item in source.db.iterator_cf(source.cf(*cf), IteratorMode::Start) {
                let (k, v) = item?;
                batch.put_cf(handle, k, v);
                copied += 1;
                if batch.size_in_bytes() >= BATCH_BYTES {
                    self.db.write(std::mem::take(&mut batch))?;
                }
            }
            self.db.write(batch)?;
        }
        self.sync_wal()?;
        Ok(copied)
    }

    /// Writes a consistent point-in-time copy of the database into `dir`
    /// (hard links where possible). Used for snapshots.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), StorageError> {
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        cp.create_checkpoint(dir)?;
        Ok(())
    }
}
