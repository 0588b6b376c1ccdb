//! The value holders behind the families: counters, gauges and histograms
//! updated from the request path with atomics only (no locks, no
//! allocation), so metering never slows a request down.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }
    #[allow(dead_code)] // the instrument's API; not every method has a caller yet
    #[inline]
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    #[allow(dead_code)] // the instrument's API; not every method has a caller yet
    #[inline]
    pub fn sub(&self, n: i64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    /// Raises the gauge to `v` if it is lower.
    #[inline]
    pub fn set_max(&self, v: i64) {
        self.0.fetch_max(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `prometheus.ExponentialBuckets(start, factor, count)`: the bucket bounds
/// of a histogram, declared in the family table so they appear in the golden
/// file next to the family's name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Buckets {
    pub start: f64,
    pub factor: f64,
    pub count: usize,
}

impl Buckets {
    /// The bounds, computed like Go (repeated multiplication) so they print
    /// identically (`0.001, 0.002, ... 8.192`, not `0.0080000001`).
    pub fn bounds(self) -> Vec<f64> {
        exponential_buckets(self.start, self.factor, self.count)
    }
}

/// See [`Buckets::bounds`].
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut v = start;
    for _ in 0..count {
        out.push(v);
        v *= factor;
    }
    out
}

/// A histogram with fixed upper bounds (`le`, inclusive). Observing is one
/// atomic add on a bucket plus a compare-and-swap on the sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: Box<[f64]>,
    /// Per-bucket (not cumulative) counts; the last slot is `+Inf`.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: Vec<f64>) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bucket bounds must increase");
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds: bounds.into_boxed_slice(), counts, sum: AtomicU64::new(0f64.to_bits()) }
    }

    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let idx = self.bounds.partition_point(|b| *b < v);
        self.counts[idx].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Observes a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    #[allow(dead_code)] // the instrument's API; not every method has a caller yet
    /// Observes a duration in milliseconds (etcd's `*_milliseconds` histograms).
    #[inline]
    pub fn observe_millis(&self, d: Duration) {
        self.observe(d.as_secs_f64() * 1000.0);
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket), and the sum.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let mut acc = 0u64;
        for c in &self.counts[..self.bounds.len()] {
            acc += c.load(Ordering::Relaxed);
            cumulative.push(acc);
        }
        acc += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        (cumulative, acc, f64::from_bits(self.sum.load(Ordering::Relaxed)))
    }

    #[allow(dead_code)] // the instrument's API; not every method has a caller yet
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::encode::format_value;

    #[test]
    fn exponential_buckets_match_etcd() {
        let b = exponential_buckets(0.001, 2.0, 14);
        let printed: Vec<String> = b.iter().map(|v| format_value(*v)).collect();
        assert_eq!(
            printed,
            [
                "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024",
                "2.048", "4.096", "8.192"
            ]
        );
        // Printed by Go's strconv.FormatFloat(v, 'g', -1, 64) for
        // ExponentialBuckets(1, 2, 24) (etcd's lease TTL histogram).
        let b = exponential_buckets(1.0, 2.0, 24);
        let printed: Vec<String> = b[18..].iter().map(|v| format_value(*v)).collect();
        assert_eq!(printed, ["262144", "524288", "1.048576e+06", "2.097152e+06", "4.194304e+06", "8.388608e+06"]);
        let printed: Vec<String> = exponential_buckets(0.01, 2.0, 17).iter().map(|v| format_value(*v)).collect();
        assert_eq!(printed[16], "655.36");
        assert_eq!(printed[14], "163.84");
        let b = exponential_buckets(0.0001, 2.0, 20);
        assert_eq!(format_value(b[0]), "0.0001");
        assert_eq!(format_value(b[9]), "0.0512");
        assert_eq!(format_value(b[19]), "52.4288");
    }

    #[test]
    fn histogram_counts_inclusive_bounds() {
        let h = Histogram::new(vec![0.1, 1.0, 10.0]);
        for v in [0.05, 0.1, 0.5, 20.0, f64::NAN] {
            h.observe(v);
        }
        let (cumulative, total, sum) = h.snapshot();
        assert_eq!((cumulative, total, sum), (vec![2, 3, 3], 4, 0.05 + 0.1 + 0.5 + 20.0));
        assert_eq!(h.count(), 4);
    }
}
