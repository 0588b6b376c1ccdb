//! Point-in-time snapshots of a member's database for `etcdctl snapshot save`:
//! a RocksDB checkpoint packed as a tar archive, streamed in chunks and
//! followed by the SHA-256 of everything before it, as etcd streams its
//! snapshots.

use std::io::Read;
use std::sync::Arc;

use capstan_proto::etcdserverpb::SnapshotResponse;
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tonic::Status;

use crate::storage::{Engine, StorageError};

/// etcd sends snapshots in 32 KiB chunks.
const CHUNK: usize = 32 * 1024;

/// Builds the archive (a consistent checkpoint) now and returns the stream
/// that sends it.
pub async fn stream(
    engine: Arc<Engine>,
    version: String,
) -> Result<impl Stream<Item = Result<SnapshotResponse, Status>>, StorageError> {
    let archive = tokio::task::spawn_blocking(move || build_archive(&engine))
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))??;
    let (tx, rx) = mpsc::channel::<Result<SnapshotResponse, Status>>(4);
    tokio::task::spawn_blocking(move || send_archive(archive, version, tx));
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Writes a checkpoint next to the database and packs it into a temporary
/// tar file (deleted when dropped).
fn build_archive(engine: &Engine) -> Result<tempfile::NamedTempFile, StorageError> {
    let parent = engine.path().parent().unwrap_or(engine.path());
    let staging = tempfile::Builder::new().prefix(".snapshot-").tempdir_in(parent)?;
    let checkpoint = staging.path().join("db");
    engine.checkpoint(&checkpoint)?;
    let archive = tempfile::Builder::new().prefix(".snapshot-").suffix(".tar").tempfile_in(parent)?;
    let mut builder = tar::Builder::new(archive.reopen()?);
    builder.append_dir_all("db", &checkpoint)?;
    builder.into_inner()?.sync_all()?;
    tracing::info!(bytes = archive.as_file().metadata()?.len(), "snapshot archive built");
    Ok(archive)
}

fn send_archive(archive: tempfile::NamedTempFile, version: String, tx: mpsc::Sender<Result<SnapshotResponse, Status>>) {
    let result = (|| -> std::io::Result<()> {
        let mut file = archive.reopen()?;
        let size = file.metadata()?.len();
        let mut sent = 0u64;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        while sent < size {
            let want = CHUNK.min((size - sent) as usize);
            file.read_exact(&mut buf[..want])?;
            hasher.update(&buf[..want]);
            sent += want as u64;
            // etcd's chunks carry no header.
            let msg = SnapshotResponse {
                header: None,
                remaining_bytes: size - sent,
                blob: buf[..want].to_vec(),
                version: version.clone(),
            };
            if tx.blocking_send(Ok(msg)).is_err() {
                return Ok(()); // client went away
            }
        }
        let trailer = SnapshotResponse { header: None, remaining_bytes: 0, blob: hasher.finalize().to_vec(), version };
        let _ = tx.blocking_send(Ok(trailer));
        Ok(())
    })();
    if let Err(e) = result {
        let _ = tx.blocking_send(Err(Status::internal(format!("snapshot stream failed: {e}"))));
    }
}
