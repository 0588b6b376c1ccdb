//! Raft snapshots as files. The member's database is its own snapshot: taking
//! one (every `--snapshot-count` requests) records only its openraft metadata
//! (`<id>.meta`: the applied log id and membership at that moment), so that
//! openraft may purge the log behind it. Only when a follower needs the data
//! is a RocksDB checkpoint of the database made (`<id>.db/`, hard links to
//! the SST files) and packed into a tar archive (`<id>.tar`), which the leader
//! streams in chunks (openraft's chunked transport over the peer gRPC
//! service); the follower unpacks it and replaces its state machine's column
//! families with the snapshot's.
//!
//! Only the newest snapshot is kept. Installation is restartable: the path of
//! the unpacked checkpoint is recorded before the copy starts and cleared after
//! it ends, and [`SnapshotStore::resume_install`] finishes an interrupted one.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{LogId, SnapshotMeta, StoredMembership};
use crate::mvcc::KvStore;
use crate::storage::schema::{meta, raft_meta};
use crate::storage::{Cf, Engine, StorageError, WriteBatch};

const ARCHIVE_EXT: &str = "tar";
const META_EXT: &str = "meta";
const CHECKPOINT_EXT: &str = "db";

/// The snapshot directory of one member (`<data-dir>/member/snap`).
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn open(dir: PathBuf) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&dir)?;
        // Leftovers of interrupted builds or transfers.
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with(".tmp-") || name.starts_with(".incoming-") {
                let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
        }
        Ok(Self { dir })
    }

    /// Records a snapshot of the database as of now: its metadata only (the
    /// data is the live database until a follower needs a copy, see
    /// [`SnapshotStore::packed`]). Taken between two applied batches. Returns
    /// the metadata and the path of the metadata file.
    pub fn record(&self, engine: &Engine, kv: &KvStore) -> Result<(SnapshotMeta, PathBuf), StorageError> {
        let (applied, membership) = kv.with_applies_paused(|| applied_meta(engine))?;
        let snapshot_meta = self.new_meta(applied, membership);
        let meta_path = self.meta_path(&snapshot_meta);
        write_atomically(&meta_path, &encode(&snapshot_meta)?)?;
        self.keep_only(&snapshot_meta.snapshot_id)?;
        Ok((snapshot_meta, meta_path))
    }

    /// The newest snapshot packed for sending: its own archive if it has
    /// data, else a new snapshot checkpointed from the database now (which
    /// replaces it: newer, and with data). Returns its metadata and archive.
    pub fn packed(
        &self,
        engine: &Engine,
        kv: &KvStore,
        current: SnapshotMeta,
    ) -> Result<(SnapshotMeta, PathBuf), StorageError> {
        let has_data = |m: &SnapshotMeta| {
            let id = &m.snapshot_id;
            self.dir.join(format!("{id}.{ARCHIVE_EXT}")).exists()
                || self.dir.join(format!("{id}.{CHECKPOINT_EXT}")).exists()
        };
        let snapshot_meta = if has_data(&current) { current } else { self.checkpoint(engine, kv, &current)? };
        let archive = self.archive(&snapshot_meta)?;
        Ok((snapshot_meta, archive))
    }

    /// Checkpoints the database as of now, between two applied batches,
    /// with the metadata read at that same moment. When nothing was applied
    /// since `recorded` was taken, the checkpoint is `recorded`'s data and
    /// keeps its id: the snapshot openraft built is the one it is given.
    fn checkpoint(&self, engine: &Engine, kv: &KvStore, recorded: &SnapshotMeta) -> Result<SnapshotMeta, StorageError> {
        let started = std::time::Instant::now();
        let staging = self.dir.join(format!(".tmp-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        let (applied, membership) = kv.with_applies_paused(|| -> Result<_, StorageError> {
            let meta = applied_meta(engine)?;
            engine.checkpoint(&staging)?;
            Ok(meta)
        })?;
        let snapshot_meta = if recorded.last_log_id == applied && recorded.last_membership == membership {
            recorded.clone()
        } else {
            self.new_meta(applied, membership)
        };
        let id = &snapshot_meta.snapshot_id;
        std::fs::rename(&staging, self.dir.join(format!("{id}.{CHECKPOINT_EXT}")))?;
        write_atomically(&self.meta_path(&snapshot_meta), &encode(&snapshot_meta)?)?;
        self.keep_only(id)?;
        tracing::info!(snapshot = %id, elapsed_ms = started.elapsed().as_millis() as u64, "checkpointed the database for a snapshot");
        Ok(snapshot_meta)
    }

    /// Metadata of a snapshot of the state as of `applied` (none: the empty
    /// state, which openraft may ask for when a log was purged before
    /// anything was applied).
    fn new_meta(&self, applied: Option<LogId>, membership: StoredMembership) -> SnapshotMeta {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let (term, index) = applied.map_or((0, 0), |a| (a.leader_id.term, a.index));
        let id = format!("{term}-{index}-{millis}");
        SnapshotMeta { last_log_id: applied, last_membership: membership, snapshot_id: id }
    }

    /// Where the metadata of `snapshot_meta` is kept.
    pub fn meta_path(&self, snapshot_meta: &SnapshotMeta) -> PathBuf {
        self.dir.join(format!("{}.{META_EXT}", snapshot_meta.snapshot_id))
    }

    /// The newest complete snapshot, if any.
    pub fn current(&self) -> Result<Option<SnapshotMeta>, StorageError> {
        let mut best: Option<SnapshotMeta> = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if hidden || path.extension().and_then(|e| e.to_str()) != Some(META_EXT) {
                continue;
            }
            // Metadata files are written whole or not at all (`write_atomically`),
            // so one that does not decode is corruption: skipping it would let
            // openraft believe in an older snapshot than the log was purged to.
            let m = bincode::deserialize::<SnapshotMeta>(&std::fs::read(&path)?).map_err(|e| {
                StorageError::Corrupt { cf: Cf::Meta, reason: format!("snapshot metadata {}: {e}", path.display()) }
            })?;
            if best.as_ref().is_none_or(|b| b.last_log_id < m.last_log_id) {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// The packed archive of snapshot `meta`, packing its checkpoint first
    /// if this is the first time it is needed.
    pub fn archive(&self, snapshot_meta: &SnapshotMeta) -> Result<PathBuf, StorageError> {
        let id = &snapshot_meta.snapshot_id;
        let archive = self.dir.join(format!("{id}.{ARCHIVE_EXT}"));
        if archive.exists() {
            return Ok(archive);
        }
        let started = std::time::Instant::now();
        let partial = self.dir.join(format!(".tmp-{id}.{ARCHIVE_EXT}"));
        let mut tar = tar::Builder::new(std::fs::File::create(&partial)?);
        tar.append_dir_all("db", self.dir.join(format!("{id}.{CHECKPOINT_EXT}")))?;
        tar.into_inner()?.sync_all()?;
        std::fs::rename(&partial, &archive)?;
        tracing::info!(
            snapshot = %id,
            bytes = std::fs::metadata(&archive)?.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "packed snapshot for sending"
        );
        Ok(archive)
    }

    /// A fresh file to receive a snapshot from the leader into.
    pub fn incoming(&self) -> Result<(std::fs::File, PathBuf), StorageError> {
        let file = tempfile::Builder::new().prefix(".incoming-").suffix(".tar").tempfile_in(&self.dir)?;
        let (file, path) = file.keep().map_err(|e| StorageError::Io(e.error))?;
        Ok((file, path))
    }

    /// Unpacks a received archive, keeps it as the current snapshot, and
    /// replaces the state machine's data with it.
    pub fn install(&self, engine: &Engine, snapshot_meta: &SnapshotMeta, received: &Path) -> Result<u64, StorageError> {
        let id = &snapshot_meta.snapshot_id;
        let archive = self.dir.join(format!("{id}.{ARCHIVE_EXT}"));
        std::fs::rename(received, &archive)?;
        write_atomically(&self.dir.join(format!("{id}.{META_EXT}")), &encode(snapshot_meta)?)?;
        self.keep_only(id)?;

        let unpacked = self.dir.join(format!(".install-{id}"));
        if unpacked.exists() {
            std::fs::remove_dir_all(&unpacked)?;
        }
        tar::Archive::new(std::fs::File::open(&archive)?).unpack(&unpacked)?;
        let mut batch = WriteBatch::default();
        batch.put(engine, Cf::RaftMeta, raft_meta::SNAPSHOT_INSTALL, unpacked.to_string_lossy().as_bytes());
        engine.write(batch, true)?;
        self.finish_install(engine, &unpacked)
    }

    /// Completes an installation interrupted by a crash. Returns whether one was.
    pub fn resume_install(&self, engine: &Engine) -> Result<bool, StorageError> {
        let Some(path) = engine.get(Cf::RaftMeta, raft_meta::SNAPSHOT_INSTALL)? else { return Ok(false) };
        let unpacked = PathBuf::from(String::from_utf8_lossy(&path).into_owned());
        tracing::warn!(path = %unpacked.display(), "finishing a snapshot installation interrupted by a crash");
        self.finish_install(engine, &unpacked)?;
        Ok(true)
    }

    fn finish_install(&self, engine: &Engine, unpacked: &Path) -> Result<u64, StorageError> {
        let copied = {
            let source = Engine::open(&unpacked.join("db"))?;
            engine.replace_state_from(&source)?
        };
        let mut batch = WriteBatch::default();
        batch.delete(engine, Cf::RaftMeta, raft_meta::SNAPSHOT_INSTALL);
        engine.write(batch, true)?;
        std::fs::remove_dir_all(unpacked)?;
        Ok(copied)
    }

    /// Deletes every snapshot but `id`.
    fn keep_only(&self, id: &str) -> Result<(), StorageError> {
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
            if stem.starts_with('.') || stem == id {
                continue;
            }
            if ext == CHECKPOINT_EXT && path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else if ext == ARCHIVE_EXT || ext == META_EXT {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

/// The applied log id and membership stored with the state machine.
fn applied_meta(engine: &Engine) -> Result<(Option<LogId>, StoredMembership), StorageError> {
    let applied: Option<LogId> = read_meta(engine, meta::APPLIED)?.flatten();
    let membership: StoredMembership = read_meta(engine, meta::MEMBERSHIP)?.unwrap_or_default();
    Ok((applied, membership))
}

fn read_meta<T: serde::de::DeserializeOwned>(engine: &Engine, key: &[u8]) -> Result<Option<T>, StorageError> {
    engine
        .get(Cf::Meta, key)?
        .map(|b| bincode::deserialize(&b))
        .transpose()
        .map_err(|e| StorageError::Corrupt { cf: Cf::Meta, reason: e.to_string() })
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or
/// the whole new one: a hidden temporary file (removed by
/// [`SnapshotStore::open`] if left over), fsynced, then renamed over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".tmp-{name}"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    bincode::serialize(value).map_err(|e| StorageError::Io(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index)),
            last_membership: StoredMembership::default(),
            snapshot_id: format!("1-{index}-0"),
        }
    }

    #[test]
    fn metadata_is_written_whole_and_leftovers_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path().to_path_buf()).unwrap();
        let m = meta(10);
        write_atomically(&store.meta_path(&m), &encode(&m).unwrap()).unwrap();
        // A crash during a later write leaves a partial hidden temporary file.
        std::fs::write(dir.path().join(".tmp-1-20-0.meta"), [1u8, 2]).unwrap();
        assert_eq!(store.current().unwrap().map(|m| m.snapshot_id), Some("1-10-0".to_string()));
        SnapshotStore::open(dir.path().to_path_buf()).unwrap();
        assert!(!dir.path().join(".tmp-1-20-0.meta").exists(), "leftovers are removed at open");
    }

    /// R6: an undecodable metadata file used to be skipped, so an older
    /// snapshot than the one the log was purged to could be offered.
    #[test]
    fn undecodable_metadata_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path().to_path_buf()).unwrap();
        let m = meta(10);
        write_atomically(&store.meta_path(&m), &encode(&m).unwrap()).unwrap();
        std::fs::write(dir.path().join("1-20-0.meta"), [1u8, 2]).unwrap();
        assert!(matches!(store.current(), Err(StorageError::Corrupt { .. })));
    }
}
