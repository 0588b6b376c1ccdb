//! Group commit at the log: one WAL fsync for every append written while the
//! previous fsync ran.
//!
//! openraft hands the log store one append per client write on the leader
//! (and one per AppendEntries on a follower), and waits for each to be
//! reported durable before it counts the entries as persisted. Writing and
//! fsyncing each append in turn makes the fsync rate the ceiling of the write
//! rate. Instead, an append is written to RocksDB unsynced (visible to log
//! readers at once, so replication can start) and its completion callback is
//! queued here; a dedicated thread fsyncs the WAL once for everything queued
//! so far and then completes all of those callbacks, in order. Nothing is
//! reported durable before an fsync that began after it was written.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use openraft::storage::LogFlushed;

use super::TypeConfig;
use crate::metrics::Metrics;
use crate::storage::Engine;

/// Queue of appends waiting for the next WAL fsync.
pub struct LogSyncer {
    queue: mpsc::Sender<Waiter>,
}

enum Waiter {
    /// An append to report durable.
    Append(LogFlushed<TypeConfig>),
    /// Someone waiting until every append queued before it was reported.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

impl LogSyncer {
    /// Starts the fsync thread. It ends when the last clone of the log
    /// store (and with it this sender) is dropped.
    pub fn start(engine: Arc<Engine>, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (queue, pending) = mpsc::channel();
        std::thread::Builder::new().name("wal-sync".into()).spawn(move || sync_loop(&engine, &pending, &metrics))?;
        Ok(Self { queue })
    }

    /// Completes `callback` after the next fsync of the WAL. The entries must
    /// already be written (unsynced).
    pub fn complete_when_durable(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(Waiter::Append(callback))) = self.queue.send(Waiter::Append(callback)) {
            callback.log_io_completed(Err(std::io::Error::other("the WAL sync thread has stopped")));
        }
    }

    /// Returns once every append queued so far has been reported. The log is
    /// about to be truncated: a report arriving after that could name an
    /// entry that no longer exists.
    pub async fn barrier(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.queue.send(Waiter::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn sync_loop(engine: &Engine, pending: &mpsc::Receiver<Waiter>, metrics: &Metrics) {
    while let Ok(first) = pending.recv() {
        let mut callbacks = Vec::new();
        let mut barriers = Vec::new();
        for waiter in std::iter::once(first).chain(pending.try_iter()) {
            match waiter {
                Waiter::Append(cb) => callbacks.push(cb),
                Waiter::Barrier(tx) => barriers.push(tx),
            }
        }
        if callbacks.is_empty() {
            barriers.into_iter().for_each(|tx| {
                let _ = tx.send(());
            });
            continue;
        }
        let started = Instant::now();
        let result = engine.sync_wal();
        metrics.observe_wal_fsync(started.elapsed());
        match result {
            Ok(()) => callbacks.into_iter().for_each(|cb| cb.log_io_completed(Ok(()))),
            Err(e) => {
                tracing::error!(error = %e, "WAL fsync failed");
                let msg = e.to_string();
                callbacks.into_iter().for_each(|cb| cb.log_io_completed(Err(std::io::Error::other(msg.clone()))));
            }
        }
        barriers.into_iter().for_each(|tx| {
            let _ = tx.send(());
        });
    }
}
