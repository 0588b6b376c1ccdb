//! The lessor: the table of leases, the keys attached to each, and (on the
//! leader only) their deadlines.
//!
//! Grants, revokes and attachments are replicated state, changed only by the
//! Raft state machine. Deadlines are not: like etcd, only the leader keeps
//! them; it renews leases in memory on KeepAlive (no Raft entry per renewal)
//! and proposes a revoke when a lease expires. A member that becomes leader
//! restarts every deadline at the full TTL.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// etcd's upper bound on a lease TTL, in seconds.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Errors with etcd's texts (without the `etcdserver: ` prefix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("requested lease not found")]
    NotFound,
    #[error("lease already exists")]
    AlreadyExists,
    #[error("too large lease TTL")]
    TtlTooLarge,
    #[error("not leader")]
    NotPrimary,
}

/// A lease as the state machine knows it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub id: i64,
    /// Granted TTL in seconds (after raising to the minimum).
    pub ttl: i64,
    pub keys: HashSet<Vec<u8>>,
    /// When the lease expires; `None` on a member that is not the leader.
    deadline: Option<Instant>,
}

/// Persistent form of a lease: what the `lease` column family stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseRecord {
    pub id: i64,
    pub ttl: i64,
}

/// Answer of TimeToLive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTtl {
    pub granted_ttl: i64,
    /// Remaining seconds, truncated as etcd does.
    pub remaining: i64,
    pub keys: Vec<Vec<u8>>,
}

/// The lease table of one member.
#[derive(Debug)]
pub struct Lessor {
    leases: HashMap<i64, Lease>,
    min_ttl: i64,
    primary: bool,
    /// (deadline, id) for every lease while primary; the earliest first.
    queue: BTreeSet<(Instant, i64)>,
}

impl Lessor {
    /// `min_ttl`: leases are granted at least this many seconds (etcd:
    /// ceil(1.5 × election timeout)).
    pub fn new(min_ttl: i64) -> Self {
        Self { leases: HashMap::new(), min_ttl: min_ttl.max(1), primary: false, queue: BTreeSet::new() }
    }

    /// Forgets every lease and restores the given ones (snapshot install);
    /// deadlines restart if primary.
    pub fn reset(
        &mut self,
        records: impl IntoIterator<Item = LeaseRecord>,
        keys: HashMap<i64, Vec<Vec<u8>>>,
        now: Instant,
    ) {
        self.leases.clear();
        self.queue.clear();
        self.recover(records, keys);
        if self.primary {
            self.promote(now);
        }
    }

    /// Restores leases read from disk with their attached keys.
    pub fn recover(&mut self, records: impl IntoIterator<Item = LeaseRecord>, mut keys: HashMap<i64, Vec<Vec<u8>>>) {
        for r in records {
            let ks = keys.remove(&r.id).unwrap_or_default().into_iter().collect();
            self.leases.insert(r.id, Lease { id: r.id, ttl: r.ttl, keys: ks, deadline: None });
        }
        tracing::info!(leases = self.leases.len(), "lessor recovered");
    }

    /// The keys attached to lease `id` (none if there is no such lease).
    pub fn keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.leases.get(&id).map(|l| l.keys.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Grants a lease (replicated). `now` sets its deadline when primary.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) -> Result<LeaseRecord, LeaseError> {
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::AlreadyExists);
        }
        let ttl = ttl.max(self.min_ttl);
        let mut lease = Lease { id, ttl, keys: HashSet::new(), deadline: None };
        if self.primary {
            self.schedule(&mut lease, now);
        }
        self.leases.insert(id, lease);
        Ok(LeaseRecord { id, ttl })
    }

    /// Removes a lease (replicated); returns its keys, sorted, for deletion.
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        if let Some(d) = lease.deadline {
            self.queue.remove(&(d, id));
        }
        let mut keys: Vec<_> = lease.keys.into_iter().collect();
        keys.sort();
        Ok(keys)
    }

    /// Moves `key` from lease `old` to lease `new` (0 = none).
    pub fn reattach(&mut self, key: &[u8], old: i64, new: i64) {
        if old != 0
            && let Some(l) = self.leases.get_mut(&old)
        {
            l.keys.remove(key);
        }
        if new != 0
            && let Some(l) = self.leases.get_mut(&new)
        {
            l.keys.insert(key.to_vec());
        }
    }

    fn schedule(&mut self, lease: &mut Lease, now: Instant) {
        if let Some(d) = lease.deadline.take() {
            self.queue.remove(&(d, lease.id));
        }
        let d = now + Duration::from_secs(lease.ttl as u64);
        lease.deadline = Some(d);
        self.queue.insert((d, lease.id));
    }

    /// Renews a lease (leader only, not replicated); returns its TTL.
    pub fn renew(&mut self, id: i64, now: Instant) -> Result<i64, LeaseError> {
        if !self.primary {
            return Err(LeaseError::NotPrimary);
        }
        let mut lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        // A lease already past its deadline is waiting for its revoke: etcd
        // answers such a keep-alive as if the lease were gone.
        if lease.deadline.is_some_and(|d| d <= now) {
            self.leases.insert(id, lease);
            return Err(LeaseError::NotFound);
        }
        self.schedule(&mut lease, now);
        let ttl = lease.ttl;
        self.leases.insert(id, lease);
        Ok(ttl)
    }

    pub fn time_to_live(&self, id: i64, now: Instant) -> Result<LeaseTtl, LeaseError> {
        let lease = self.leases.get(&id).ok_or(LeaseError::NotFound)?;
        let remaining = match lease.deadline {
            Some(d) => {
                // etcd truncates the remaining time to whole seconds.
                d.saturating_duration_since(now).as_secs() as i64
            }
            None => lease.ttl,
        };
        let mut keys: Vec<_> = lease.keys.iter().cloned().collect();
        keys.sort();
        Ok(LeaseTtl { granted_ttl: lease.ttl, remaining, keys })
    }

    /// Every lease id, soonest expiry first (etcd's LeaseLeases order), then by
    /// id; on a member that is not the leader (no deadlines) by id.
    pub fn ids(&self) -> Vec<i64> {
        let mut leases: Vec<_> = self.leases.iter().map(|(id, l)| (l.deadline.is_none(), l.deadline, *id)).collect();
        leases.sort_unstable();
        leases.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Leases past their deadline (leader only), at most `limit`.
    pub fn expired(&self, now: Instant, limit: usize) -> Vec<i64> {
        self.queue.iter().take_while(|(d, _)| *d <= now).take(limit).map(|(_, id)| *id).collect()
    }

    /// Becomes the leader's lessor: every lease gets a fresh full TTL.
    pub fn promote(&mut self, now: Instant) {
        self.primary = true;
        self.queue.clear();
        let ids: Vec<i64> = self.leases.keys().copied().collect();
        for id in ids {
            if let Some(mut l) = self.leases.remove(&id) {
                l.deadline = None;
                self.schedule(&mut l, now);
                self.leases.insert(id, l);
            }
        }
    }

    /// Stops tracking deadlines (no longer leader).
    pub fn demote(&mut self) {
        self.primary = false;
        self.queue.clear();
        for l in self.leases.values_mut() {
            l.deadline = None;
        }
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_ttl_and_duplicate_grant() {
        let now = Instant::now();
        let mut l = Lessor::new(2);
        assert_eq!(l.grant(1, 1, now).unwrap().ttl, 2);
        assert_eq!(l.grant(1, 5, now), Err(LeaseError::AlreadyExists));
        assert_eq!(l.grant(2, MAX_LEASE_TTL + 1, now), Err(LeaseError::TtlTooLarge));
    }

    #[test]
    fn expiry_only_on_primary_and_renewal_moves_deadline() {
        let t0 = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(7, 10, t0).unwrap();
        assert!(l.expired(t0 + Duration::from_secs(60), 10).is_empty(), "followers never expire");
        assert_eq!(l.renew(7, t0), Err(LeaseError::NotPrimary));
        l.promote(t0);
        assert!(l.expired(t0 + Duration::from_secs(9), 10).is_empty());
        assert_eq!(l.renew(7, t0 + Duration::from_secs(5)), Ok(10));
        assert!(l.expired(t0 + Duration::from_secs(14), 10).is_empty());
        assert_eq!(l.expired(t0 + Duration::from_secs(15), 10), vec![7]);
        assert_eq!(l.renew(7, t0 + Duration::from_secs(16)), Err(LeaseError::NotFound));
        let ttl = l.time_to_live(7, t0 + Duration::from_millis(5500)).unwrap();
        assert_eq!((ttl.granted_ttl, ttl.remaining), (10, 9));
    }

    #[test]
    fn leases_are_listed_soonest_expiry_first_like_etcd() {
        let t0 = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(4660, 60, t0).unwrap();
        l.grant(4661, 30, t0).unwrap();
        l.grant(9, 90, t0).unwrap();
        assert_eq!(l.ids(), vec![9, 4660, 4661], "no deadlines off the leader: by id");
        l.promote(t0);
        assert_eq!(l.ids(), vec![4661, 4660, 9]);
    }

    #[test]
    fn keys_follow_attachments_and_revoke_returns_them_sorted() {
        let now = Instant::now();
        let mut l = Lessor::new(1);
        l.grant(1, 10, now).unwrap();
        l.grant(2, 10, now).unwrap();
        l.reattach(b"b", 0, 1);
        l.reattach(b"a", 0, 1);
        l.reattach(b"c", 0, 1);
        l.reattach(b"c", 1, 2);
        assert_eq!(l.revoke(1).unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(l.revoke(1), Err(LeaseError::NotFound));
        assert_eq!(l.time_to_live(2, now).unwrap().keys, vec![b"c".to_vec()]);
    }
}
