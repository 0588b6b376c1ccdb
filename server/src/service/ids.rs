use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unique ids for requests and leases, built as etcd builds them: the low 16
/// bits of the member id, then 40 bits of milliseconds at start, then a
/// counter. Unique across members and across restarts (time moves on).
#[derive(Debug)]
pub struct IdGenerator {
    prefix: u64,
    suffix: AtomicU64,
}

const SUFFIX_BITS: u32 = 48;

impl IdGenerator {
    pub fn new(member_id: u64) -> Self {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let prefix = (member_id & 0xffff) << SUFFIX_BITS;
        let suffix = (millis & ((1 << 40) - 1)) << 8;
        Self { prefix, suffix: AtomicU64::new(suffix) }
    }

    pub fn next(&self) -> u64 {
        let s = self.suffix.fetch_add(1, Ordering::Relaxed) + 1;
        self.prefix | (s & ((1 << SUFFIX_BITS) - 1))
    }

    /// A positive int64 id, as lease ids must be.
    pub fn next_lease_id(&self) -> i64 {
        (self.next() & (i64::MAX as u64)) as i64
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_carry_the_member() {
        let g = super::IdGenerator::new(0xabcd_1234);
        let a = g.next();
        let b = g.next();
        assert_ne!(a, b);
        assert_eq!(a >> 48, 0x1234);
        assert!(g.next_lease_id() > 0);
    }
}
