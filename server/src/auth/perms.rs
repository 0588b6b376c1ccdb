//! Key-range permissions as sets of intervals, checked on every request.
//!
//! etcd keeps, per user, one interval tree for READ and one for WRITE built
//! from all the user's roles (`server/auth/range_perm_cache.go`). A request
//! on a single key is allowed when some interval holds the key; a request on
//! a range only when the *union* of the intervals covers the whole range.
//! Here each set is kept merged: sorted, disjoint, touching intervals joined,
//! so both questions are one binary search.

use capstan_proto::authpb::{Permission, permission::Type as PermType};
use std::cmp::Ordering;

/// One end of an interval. `Unbounded` is past every key: a permission or a
/// request with `range_end` "\0" (etcd's "from key") reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Key(Vec<u8>),
    Unbounded,
}

impl Ord for End {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (End::Key(a), End::Key(b)) => a.cmp(b),
            (End::Key(_), End::Unbounded) => Ordering::Less,
            (End::Unbounded, End::Key(_)) => Ordering::Greater,
            (End::Unbounded, End::Unbounded) => Ordering::Equal,
        }
    }
}

impl PartialOrd for End {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `[begin, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub begin: Vec<u8>,
    pub end: End,
}

impl Interval {
    /// The interval a permission or a request names, read as etcd reads it:
    /// an empty `range_end` is the key alone (`[key, key\0)`), "\0" is open
    /// ended, anything else is the end.
    pub fn of(key: &[u8], range_end: &[u8]) -> Self {
        let end = match range_end {
            [] => {
                let mut next = key.to_vec();
                next.push(0);
                End::Key(next)
            }
            [0] => End::Unbounded,
            end => End::Key(end.to_vec()),
        };
        Interval { begin: key.to_vec(), end }
    }

    fn begin_end(&self) -> End {
        End::Key(self.begin.clone())
    }
}

/// Whether a permission's range is one etcd accepts: a non-empty key, and
/// no end, an end after the key, or "\0" (`isValidPermissionRange`).
pub fn is_valid_range(key: &[u8], range_end: &[u8]) -> bool {
    !key.is_empty() && (range_end.is_empty() || range_end == [0] || key < range_end)
}

/// A merged set of intervals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    /// Sorted by `begin`, disjoint and not touching.
    merged: Vec<Interval>,
}

impl IntervalSet {
    pub fn from_intervals(mut all: Vec<Interval>) -> Self {
        all.sort_by(|a, b| a.begin.cmp(&b.begin));
        let mut merged: Vec<Interval> = Vec::with_capacity(all.len());
        for ivl in all {
            match merged.last_mut() {
                // Overlapping or touching: [a, c) ∪ [c, d) = [a, d).
                Some(last) if ivl.begin_end() <= last.end => {
                    if ivl.end > last.end {
                        last.end = ivl.end;
                    }
                }
                _ => merged.push(ivl),
            }
        }
        IntervalSet { merged }
    }

    /// The merged interval starting at or before `key`, if any.
    fn holding(&self, key: &[u8]) -> Option<&Interval> {
        let after = self.merged.partition_point(|i| i.begin.as_slice() <= key);
        after.checked_sub(1).map(|i| &self.merged[i])
    }

    /// Some interval holds `key` (etcd's point check).
    pub fn holds_key(&self, key: &[u8]) -> bool {
        self.holding(key).is_some_and(|i| i.end > End::Key(key.to_vec()))
    }

    /// The union covers all of `want` (etcd's `IntervalTree.Contains`). A
    /// backwards range, which covers no key, is allowed only where etcd's
    /// tree walk allows it: an interval must still overlap it.
    pub fn covers(&self, want: &Interval) -> bool {
        let Some(ivl) = self.holding(&want.begin) else { return false };
        ivl.end >= want.end && ivl.end > End::Key(want.begin.clone()) && want.end > ivl.begin_end()
    }
}

/// A user's effective permissions: the union over their roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPerms {
    pub read: IntervalSet,
    pub write: IntervalSet,
}

impl UserPerms {
    pub fn from_permissions<'a>(perms: impl IntoIterator<Item = &'a Permission>) -> Self {
        let (mut read, mut write) = (Vec::new(), Vec::new());
        for p in perms {
            let ivl = Interval::of(&p.key, &p.range_end);
            match PermType::try_from(p.perm_type).unwrap_or(PermType::Read) {
                PermType::Read => read.push(ivl),
                PermType::Write => write.push(ivl),
                PermType::Readwrite => {
                    read.push(ivl.clone());
                    write.push(ivl);
                }
            }
        }
        UserPerms { read: IntervalSet::from_intervals(read), write: IntervalSet::from_intervals(write) }
    }

    /// Whether `kind` is allowed on `key` (empty `range_end`) or on
    /// `[key, range_end)`.
    pub fn allows(&self, kind: Access, key: &[u8], range_end: &[u8]) -> bool {
        let set = match kind {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        if range_end.is_empty() { set.holds_key(key) } else { set.covers(&Interval::of(key, range_end)) }
    }
}

/// What a request does to a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(t: PermType, key: &str, end: &[u8]) -> Permission {
        Permission { perm_type: t as i32, key: key.as_bytes().to_vec(), range_end: end.to_vec() }
    }

    fn perms(list: &[Permission]) -> UserPerms {
        UserPerms::from_permissions(list)
    }

    #[test]
    fn a_single_key_permission_covers_that_key_only() {
        let p = perms(&[perm(PermType::Read, "k", b"")]);
        assert!(p.allows(Access::Read, b"k", b""));
        assert!(!p.allows(Access::Read, b"k1", b""));
        assert!(!p.allows(Access::Read, b"j", b""));
        assert!(!p.allows(Access::Write, b"k", b""));
        // The range [k, k\0) is exactly the key.
        assert!(p.allows(Access::Read, b"k", b"k\0"));
        assert!(!p.allows(Access::Read, b"k", b"l"));
    }

    #[test]
    fn a_range_needs_the_union_to_cover_it() {
        let p = perms(&[perm(PermType::Read, "a", b"c"), perm(PermType::Readwrite, "c", b"e")]);
        assert!(p.allows(Access::Read, b"a", b"e"), "touching intervals join");
        assert!(p.allows(Access::Read, b"b", b"d"));
        assert!(!p.allows(Access::Read, b"a", b"f"));
        assert!(!p.allows(Access::Read, b"0", b"b"));
        assert!(!p.allows(Access::Write, b"b", b"d"));
        assert!(p.allows(Access::Write, b"c", b"e"));
        let gap = perms(&[perm(PermType::Read, "a", b"b"), perm(PermType::Read, "c", b"d")]);
        assert!(!gap.allows(Access::Read, b"a", b"d"));
        assert!(gap.allows(Access::Read, b"c", b""));
        assert!(!gap.allows(Access::Read, b"b", b""));
    }

    #[test]
    fn from_key_is_open_ended_both_in_permissions_and_requests() {
        let p = perms(&[perm(PermType::Read, "m", b"\0")]);
        assert!(p.allows(Access::Read, b"m", b"\0"));
        assert!(p.allows(Access::Read, b"zzz", b""));
        assert!(p.allows(Access::Read, b"x", b"\xff\xff"));
        assert!(!p.allows(Access::Read, b"a", b"\0"));
        let bounded = perms(&[perm(PermType::Read, "m", b"z")]);
        assert!(!bounded.allows(Access::Read, b"m", b"\0"));
    }

    #[test]
    fn prefix_permissions() {
        let p = perms(&[perm(PermType::Readwrite, "p/", b"p0")]);
        assert!(p.allows(Access::Write, b"p/x", b""));
        assert!(p.allows(Access::Read, b"p/", b"p0"));
        assert!(p.allows(Access::Read, b"p/a", b"p/b"));
        assert!(!p.allows(Access::Read, b"p", b""));
        assert!(!p.allows(Access::Read, b"p/", b"\0"));
    }

    #[test]
    fn backwards_ranges_are_denied_unless_an_interval_overlaps_them() {
        let p = perms(&[perm(PermType::Read, "b", b"c")]);
        assert!(!p.allows(Access::Read, b"bb", b"b"));
        let wide = perms(&[perm(PermType::Read, "a", b"z")]);
        assert!(wide.allows(Access::Read, b"c", b"b"));
    }

    #[test]
    fn valid_permission_ranges() {
        assert!(is_valid_range(b"a", b""));
        assert!(is_valid_range(b"a", b"b"));
        assert!(is_valid_range(b"a", b"\0"));
        assert!(!is_valid_range(b"", b""));
        assert!(!is_valid_range(b"b", b"a"));
        assert!(!is_valid_range(b"a", b"a"));
    }
}
