//! In-memory index from each key to the revisions at which it changed, the
//! equivalent of etcd's tree index. Values live on disk keyed by revision; the
//! index answers "which revision of this key is visible at revision R" and
//! knows create revision and version without touching the disk.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use super::Revision;

/// One life of a key: from a put that created it to the delete that ended it.
#[derive(Debug, Clone)]
struct Generation {
    /// `create_revision` of the key in this life.
    created: i64,
    /// Version of the key at `revs[0]` (1 unless earlier revisions were compacted).
    first_version: i64,
    /// Revisions of puts, in order; a closed generation ends with its tombstone.
    revs: Vec<Revision>,
    closed: bool,
}

/// The history of one key.
#[derive(Debug, Clone, Default)]
struct KeyHistory {
    /// Oldest first. The last generation is the live one unless it is closed.
    generations: Vec<Generation>,
}

/// What the index knows about the visible version of a key at some revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedRevision {
    pub modified: Revision,
    pub created: i64,
    pub version: i64,
}

impl KeyHistory {
    fn live(&self) -> Option<&Generation> {
        self.generations.last().filter(|g| !g.closed && !g.revs.is_empty())
    }

    /// The visible version at `at` (main revision), if the key existed then.
    fn get(&self, at: i64) -> Option<IndexedRevision> {
        for g in self.generations.iter().rev() {
            let first = g.revs.first()?;
            if first.main > at {
                continue;
            }
            // Largest revision in this generation at or below `at`.
            let pos = g.revs.partition_point(|r| r.main <= at) - 1;
            if g.closed && pos == g.revs.len() - 1 {
                return None; // the tombstone is visible: deleted at `at`
            }
            return Some(IndexedRevision {
                modified: g.revs[pos],
                created: g.created,
                version: g.first_version + pos as i64,
            });
        }
        None
    }

    fn put(&mut self, rev: Revision, created: i64, version: i64) {
        match self.generations.last_mut() {
            Some(g) if !g.closed => g.revs.push(rev),
            _ => self.generations.push(Generation { created, first_version: version, revs: vec![rev], closed: false }),
        }
    }

    fn tombstone(&mut self, rev: Revision) {
        if let Some(g) = self.generations.last_mut().filter(|g| !g.closed) {
            g.revs.push(rev);
            g.closed = true;
        }
    }

    /// Drops everything not needed to answer reads at `at` or later. Returns
    /// the revision at or below `at` that must stay on disk, if any.
    fn compact(&mut self, at: i64, keep: &mut HashSet<Revision>) {
        // Generations entirely at or below `at` that are closed are gone.
        self.generations.retain(|g| !(g.closed && g.revs.last().is_some_and(|t| t.main <= at)));
        if let Some(g) = self.generations.first_mut() {
            let pos = g.revs.partition_point(|r| r.main <= at);
            if pos > 0 {
                let kept = pos - 1;
                keep.insert(g.revs[kept]);
                g.revs.drain(..kept);
                g.first_version += kept as i64;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.generations.is_empty()
    }
}

/// The key → history map of the whole key space.
#[derive(Debug, Default)]
pub struct KeyIndex {
    keys: BTreeMap<Vec<u8>, KeyHistory>,
}

impl KeyIndex {
    /// Records a put of `key` at `rev`. Returns the new (create_revision, version).
    pub fn put(&mut self, key: &[u8], rev: Revision) -> (i64, i64) {
        let h = self.keys.entry(key.to_vec()).or_default();
        let (created, version) = match h.live() {
            Some(g) => (g.created, g.first_version + g.revs.len() as i64),
            None => (rev.main, 1),
        };
        h.put(rev, created, version);
        (created, version)
    }

    /// Records a put read back from disk at recovery, with its stored create
    /// revision and version (earlier revisions may have been compacted).
    pub fn restore_put(&mut self, key: &[u8], rev: Revision, created: i64, version: i64) {
        self.keys.entry(key.to_vec()).or_default().put(rev, created, version);
    }

    /// Records a delete of a live `key` at `rev`.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) {
        if let Some(h) = self.keys.get_mut(key) {
            h.tombstone(rev);
        }
    }

    /// The live version of `key` (at the newest revision).
    pub fn latest(&self, key: &[u8]) -> Option<IndexedRevision> {
        let h = self.keys.get(key)?;
        let g = h.live()?;
        Some(IndexedRevision {
            modified: *g.revs.last()?,
            created: g.created,
            version: g.first_version + g.revs.len() as i64 - 1,
        })
    }

    /// Keys in `[key, end)` visible at revision `at`, in key order. An empty
    /// `end` means the single key; `end == [0]` means every key from `key` on.
    pub fn range(&self, key: &[u8], end: &[u8], at: i64) -> Vec<(&[u8], IndexedRevision)> {
        let mut out = Vec::new();
        self.visit_range(key, end, |k, h| {
            if let Some(r) = h.get(at) {
                out.push((k, r));
            }
        });
        out
    }

    /// Number of keys in the range visible at `at`.
    pub fn count(&self, key: &[u8], end: &[u8], at: i64) -> usize {
        let mut n = 0;
        self.visit_range(key, end, |_, h| n += usize::from(h.get(at).is_some()));
        n
    }

    fn visit_range<'a>(&'a self, key: &[u8], end: &[u8], mut f: impl FnMut(&'a [u8], &'a KeyHistory)) {
        if end.is_empty() {
            if let Some((k, h)) = self.keys.get_key_value(key) {
                f(k, h);
            }
            return;
        }
        let upper = if end == [0] { Bound::Unbounded } else { Bound::Excluded(end) };
        if upper != Bound::Unbounded && key >= end {
            return;
        }
        for (k, h) in self.keys.range::<[u8], _>((Bound::Included(key), upper)) {
            f(k, h);
        }
    }

    /// Compacts every key's history at `at`; returns the revisions at or below
    /// `at` that must be kept on disk (everything else at or below `at` goes).
    pub fn compact(&mut self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, h| {
            h.compact(at, &mut keep);
            !h.is_empty()
        });
        keep
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    #[test]
    fn versions_and_generations() {
        let mut idx = KeyIndex::default();
        assert_eq!(idx.put(b"a", r(2)), (2, 1));
        assert_eq!(idx.put(b"a", r(3)), (2, 2));
        idx.tombstone(b"a", r(4));
        assert_eq!(idx.latest(b"a"), None);
        assert_eq!(idx.put(b"a", r(5)), (5, 1));
        let at3 = idx.range(b"a", b"", 3);
        assert_eq!(at3[0].1, IndexedRevision { modified: r(3), created: 2, version: 2 });
        assert!(idx.range(b"a", b"", 4).is_empty());
        assert!(idx.range(b"a", b"", 1).is_empty());
        assert_eq!(idx.range(b"a", b"", 9)[0].1.version, 1);
    }

    #[test]
    fn ranges_prefix_and_from_key() {
        let mut idx = KeyIndex::default();
        for (i, k) in [&b"a"[..], b"ab", b"b", b"c"].iter().enumerate() {
            idx.put(k, r(i as i64 + 2));
        }
        let keys = |v: Vec<(&[u8], IndexedRevision)>| v.into_iter().map(|(k, _)| k.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(idx.range(b"a", b"b", 10)), vec![b"a".to_vec(), b"ab".to_vec()]);
        assert_eq!(keys(idx.range(b"b", &[0], 10)).len(), 2);
        assert_eq!(idx.count(b"\0", &[0], 10), 4);
        assert!(idx.range(b"c", b"a", 10).is_empty());
    }

    #[test]
    fn compaction_keeps_what_reads_at_the_compacted_revision_need() {
        let mut idx = KeyIndex::default();
        idx.put(b"a", r(2));
        idx.put(b"a", r(3));
        idx.put(b"b", r(4));
        idx.tombstone(b"b", r(5));
        idx.put(b"a", r(6));
        let keep = idx.compact(5);
        assert_eq!(keep, HashSet::from([r(3)]));
        assert_eq!(idx.range(b"a", b"", 5)[0].1, IndexedRevision { modified: r(3), created: 2, version: 2 });
        assert_eq!(idx.latest(b"a").unwrap().version, 3);
        assert!(idx.range(b"b", b"", 4).is_empty(), "b's closed life is compacted away");
        assert_eq!(idx.len(), 1);
    }
}
