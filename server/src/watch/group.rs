//! Lookup of synced watchers by event key (etcd `watcherGroup`): single-key
//! watchers in a hash map, range watchers ordered by start key so only
//! ranges starting at or before the key are examined.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::mvcc::key_in_range;

/// Serials of the synced watchers, indexed by what they watch.
#[derive(Debug, Default)]
pub(super) struct SyncedIndex {
    keys: HashMap<Vec<u8>, Vec<u64>>,
    /// start key → (range end, serial); `end == [0]` means "every key from start".
    ranges: BTreeMap<Vec<u8>, Vec<(Vec<u8>, u64)>>,
    len: usize,
}

impl SyncedIndex {
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn insert(&mut self, serial: u64, key: &[u8], end: &[u8]) {
        if end.is_empty() {
            self.keys.entry(key.to_vec()).or_default().push(serial);
        } else {
            self.ranges.entry(key.to_vec()).or_default().push((end.to_vec(), serial));
        }
        self.len += 1;
    }

    pub(super) fn remove(&mut self, serial: u64, key: &[u8], end: &[u8]) {
        let removed = if end.is_empty() {
            remove_from(&mut self.keys, key, |s| *s == serial)
        } else {
            match self.ranges.get_mut(key) {
                Some(v) => {
                    let before = v.len();
                    v.retain(|(_, s)| *s != serial);
                    let removed = v.len() != before;
                    if v.is_empty() {
                        self.ranges.remove(key);
                    }
                    removed
                }
                None => false,
            }
        };
        if removed {
            self.len -= 1;
        }
    }

    /// Appends the serials of the watchers interested in `key` to `out`.
    pub(super) fn matching(&self, key: &[u8], out: &mut Vec<u64>) {
        if let Some(v) = self.keys.get(key) {
            out.extend_from_slice(v);
        }
        for (start, list) in self.ranges.range::<[u8], _>((Bound::Unbounded, Bound::Included(key))) {
            for (end, serial) in list {
                if key_in_range(key, start, end) {
                    out.push(*serial);
                }
            }
        }
    }
}

fn remove_from(map: &mut HashMap<Vec<u8>, Vec<u64>>, key: &[u8], pred: impl Fn(&u64) -> bool) -> bool {
    let Some(v) = map.get_mut(key) else { return false };
    let before = v.len();
    v.retain(|s| !pred(s));
    let removed = v.len() != before;
    if v.is_empty() {
        map.remove(key);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(idx: &SyncedIndex, key: &[u8]) -> Vec<u64> {
        let mut out = Vec::new();
        idx.matching(key, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn single_keys_prefixes_and_from_key_ranges() {
        let mut idx = SyncedIndex::default();
        idx.insert(1, b"a", b"");
        idx.insert(2, b"a", b"b"); // prefix "a"
        idx.insert(3, b"b", &[0]); // >= "b"
        idx.insert(4, b"ab", b"ac"); // prefix "ab"
        idx.insert(5, &[0], &[0]); // everything
        assert_eq!(matching(&idx, b"a"), vec![1, 2, 5]);
        assert_eq!(matching(&idx, b"abc"), vec![2, 4, 5]);
        assert_eq!(matching(&idx, b"b"), vec![3, 5]);
        assert_eq!(matching(&idx, b"zzz"), vec![3, 5]);
        assert_eq!(matching(&idx, b"0"), vec![5]);
        idx.remove(5, &[0], &[0]);
        idx.remove(1, b"a", b"");
        idx.remove(1, b"a", b""); // twice: no effect
        assert_eq!(matching(&idx, b"a"), vec![2]);
        assert_eq!(idx.len, 3);
        idx.remove(2, b"a", b"b");
        idx.remove(3, b"b", &[0]);
        idx.remove(4, b"ab", b"ac");
        assert!(idx.is_empty());
        assert!(idx.ranges.is_empty() && idx.keys.is_empty());
    }
}
