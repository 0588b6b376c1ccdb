//! Values built from files and rebuilt when the files change.
//!
//! A change is seen by comparing each file's identity and timestamps
//! (device, inode, size, modification and change times, through symlinks):
//! an in-place rewrite changes the times, an atomic rename or Kubernetes'
//! `..data` symlink swap changes the inode. Comparing costs one `stat` per
//! file, so it is done on every use and needs no watcher.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::TlsError;

/// What identifies one version of a file; `None` when it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &PathBuf) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

type Build<T> = Box<dyn Fn() -> Result<T, TlsError> + Send + Sync>;

/// A value built from `paths`, rebuilt by [`Reloading::current`] when one
/// of them changed. A failed rebuild keeps the previous value (logged once
/// per version of the files) so that a half-replaced certificate/key pair
/// never takes a working listener down; the next change is tried again.
pub struct Reloading<T> {
    what: String,
    paths: Vec<PathBuf>,
    build: Build<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    stamps: Vec<Option<Stamp>>,
    value: Arc<T>,
    /// The stamps of the files a rebuild last failed on.
    failed: Option<Vec<Option<Stamp>>>,
}

impl<T> Reloading<T> {
    /// Builds the first value; its failure is the caller's (a start-up error).
    pub fn new(
        what: impl Into<String>,
        paths: Vec<PathBuf>,
        build: impl Fn() -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let stamps = paths.iter().map(stamp).collect();
        let value = Arc::new(build()?);
        Ok(Self {
            what: what.into(),
            paths,
            build: Box::new(build),
            state: Mutex::new(State { stamps, value, failed: None }),
        })
    }

    /// The value for the files as they are now.
    pub fn current(&self) -> Arc<T> {
        let stamps: Vec<Option<Stamp>> = self.paths.iter().map(stamp).collect();
        let mut state = self.state.lock();
        if stamps == state.stamps || state.failed.as_ref() == Some(&stamps) {
            return state.value.clone();
        }
        match (self.build)() {
            Ok(value) => {
                tracing::info!(what = %self.what, files = ?self.paths, "reloaded TLS material");
                state.value = Arc::new(value);
                state.stamps = stamps;
                state.failed = None;
            }
            Err(error) => {
                tracing::warn!(
                    what = %self.what,
                    error = %error,
                    "changed TLS files cannot be used (yet); keeping the previous ones"
                );
                state.failed = Some(stamps);
            }
        }
        state.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_on_change_and_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, "1").unwrap();
        let p = path.clone();
        let r = Reloading::new("test", vec![path.clone()], move || {
            let s = std::fs::read_to_string(&p).map_err(|e| TlsError::Invalid(e.to_string()))?;
            s.trim().parse::<u32>().map_err(|e| TlsError::Invalid(e.to_string()))
        })
        .unwrap();
        assert_eq!(*r.current(), 1);
        // An atomic replacement (new inode) is seen.
        let tmp = dir.path().join("v.tmp");
        std::fs::write(&tmp, "22").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(*r.current(), 22);
        // A broken file keeps the previous value...
        std::fs::write(&tmp, "oops").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(*r.current(), 22);
        assert_eq!(*r.current(), 22);
        // ...until it is fixed.
        std::fs::write(&tmp, "333").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(*r.current(), 333);
        // A removed file keeps the last value too.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*r.current(), 333);
    }
}
