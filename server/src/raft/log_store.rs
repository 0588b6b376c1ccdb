//! The Raft log and hard state in RocksDB.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, Vote};

use super::log_sync::LogSyncer;
use super::{Entry, LogId, NodeId, StorageResult, TypeConfig, io_err};
use crate::metrics::Metrics;
use crate::storage::schema::{self, raft_meta};
use crate::storage::{Cf, Engine, StorageError, WriteBatch};

/// The log store. Cloning shares the database.
#[derive(Clone)]
pub struct LogStore {
    engine: Arc<Engine>,
    /// When false, appends are not fsynced (etcd's `--unsafe-no-fsync`).
    fsync: bool,
    /// Completes appends after a shared WAL fsync (only when `fsync`).
    syncer: Option<Arc<LogSyncer>>,
    /// The member's metrics (WAL fsync latency, commit index).
    metrics: Arc<Metrics>,
}

impl LogStore {
    pub fn new(engine: Arc<Engine>, fsync: bool, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let syncer = if fsync { Some(Arc::new(LogSyncer::start(engine.clone(), metrics.clone())?)) } else { None };
        Ok(Self { engine, fsync, syncer, metrics })
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        let raw = self.engine.get(Cf::RaftMeta, key).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?;
        raw.map(|b| bincode::deserialize(&b)).transpose().map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
    }

    async fn put_meta<T: serde::Serialize>(
        &self,
        key: &'static [u8],
        value: &T,
        subject: ErrorSubject<NodeId>,
    ) -> StorageResult<()> {
        let bytes = bincode::serialize(value).map_err(|e| io_err(subject.clone(), ErrorVerb::Write, e))?;
        let fsync = self.fsync;
        // The vote must be durable before it is acted on.
        self.write_off_runtime(move |engine| {
            let mut batch = WriteBatch::default();
            batch.put(engine, Cf::RaftMeta, key, bytes);
            engine.write(batch, fsync)
        })
        .await
        .map_err(|e| io_err(subject, ErrorVerb::Write, e))
    }

    /// Runs a storage write that may fsync on the blocking pool. An fsync
    /// takes milliseconds to seconds on a busy disk; run on openraft's core
    /// task it would hold a runtime worker meanwhile (one of two on a
    /// 2-core machine), stalling every request and heartbeat scheduled there.
    async fn write_off_runtime(
        &self,
        write: impl FnOnce(&Engine) -> Result<(), StorageError> + Send + 'static,
    ) -> Result<(), StorageError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || write(&engine))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(format!("storage write task failed: {e}"))))?
    }

    /// Whether this data dir has ever held Raft state.
    pub fn is_pristine(&self) -> Result<bool, StorageError> {
        Ok(self.engine.get(Cf::RaftMeta, raft_meta::VOTE)?.is_none() && self.engine.last(Cf::RaftLog)?.is_none())
    }
}

fn decode_entry(bytes: &[u8]) -> StorageResult<Entry> {
    bincode::deserialize(bytes).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => *x + 1,
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        let mut err = None;
        self.engine
            .scan_from(Cf::RaftLog, &schema::log_key(start), |k, v| {
                let Some(index) = schema::decode_u64(k) else { return false };
                if !range.contains(&index) {
                    return false;
                }
                match decode_entry(v) {
                    Ok(e) => out.push(e),
                    Err(e) => {
                        err = Some(e);
                        return false;
                    }
                }
                true
            })
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last = self.engine.last(Cf::RaftLog).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        let last = last.map(|(_, v)| decode_entry(&v)).transpose()?.map(|e| e.log_id);
        let last_purged_log_id: Option<LogId> = self.get_meta(raft_meta::PURGED)?;
        Ok(LogState { last_purged_log_id, last_log_id: last.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        self.put_meta(raft_meta::VOTE, vote, ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        self.get_meta(raft_meta::VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> StorageResult<()> {
        if let Some(c) = committed {
            self.metrics.set_committed_index(c.index);
        }
        // Not fsynced: the committed index is re-established by the leader after a crash.
        let bytes = bincode::serialize(&committed).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        let mut batch = WriteBatch::default();
        batch.put(&self.engine, Cf::RaftMeta, raft_meta::COMMITTED, bytes);
        self.engine.write(batch, false).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId>> {
        Ok(self.get_meta::<Option<LogId>>(raft_meta::COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = bincode::serialize(&entry).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            batch.put(&self.engine, Cf::RaftLog, schema::log_key(entry.log_id.index), bytes);
        }
        // Written unsynced, so replication can read the entries at once; the
        // fsync that makes them durable is shared with every other append
        // queued meanwhile (see log_sync).
        if let Err(e) = self.engine.write(batch, false) {
            let msg = e.to_string();
            callback.log_io_completed(Err(std::io::Error::other(msg.clone())));
            return Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, std::io::Error::other(msg)));
        }
        match &self.syncer {
            Some(syncer) => syncer.complete_when_durable(callback),
            None => callback.log_io_completed(Ok(())),
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> StorageResult<()> {
        if let Some(syncer) = &self.syncer {
            syncer.barrier().await;
        }
        let fsync = self.fsync;
        self.write_off_runtime(move |engine| {
            let mut batch = WriteBatch::default();
            batch.delete_range(engine, Cf::RaftLog, schema::log_key(log_id.index), schema::log_key(u64::MAX));
            engine.write(batch, fsync)
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> StorageResult<()> {
        let bytes = bincode::serialize(&log_id).map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
        let fsync = self.fsync;
        self.write_off_runtime(move |engine| {
            // Entries up to log_id are applied; make the state machine durable
            // before the log that could rebuild it disappears.
            engine.sync_wal()?;
            let mut batch = WriteBatch::default();
            batch.put(engine, Cf::RaftMeta, raft_meta::PURGED, bytes);
            batch.delete_range(engine, Cf::RaftLog, schema::log_key(0), schema::log_key(log_id.index + 1));
            engine.write(batch, fsync)
        })
        .await
        .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}
