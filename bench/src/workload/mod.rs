//! The workloads and what they share: key generation, the request plan (which request
//! index comes next, bounded by --total/--duration and paced by --rate) and the
//! closed-loop runner that drives `--clients` workers over the channels.

pub mod lease;
pub mod put;
pub mod range;
pub mod txn;
pub mod watch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::Conn as Channel;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{Rng, RngCore};

use crate::cli::{GlobalOpts, KeyOpts};
use crate::stats::Recorder;

/// What a workload gets: the options, the open channels and the progress bar.
pub struct Ctx {
    pub opts: GlobalOpts,
    pub channels: Vec<Channel>,
    pub progress: ProgressBar,
}

impl Ctx {
    /// The channel worker `i` uses.
    pub fn channel(&self, i: usize) -> Channel {
        self.channels[i % self.channels.len()].clone()
    }
}

/// A progress bar on stderr: shown if `show`, of length `total` (a spinner if 0).
pub fn progress_bar(total: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = if total > 0 { ProgressBar::new(total) } else { ProgressBar::new_spinner() };
    pb.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let style = if total > 0 {
        "{elapsed_precise} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})"
    } else {
        "{elapsed_precise} {spinner} {pos} ({per_sec})"
    };
    if let Ok(s) = ProgressStyle::with_template(style) {
        pb.set_style(s.progress_chars("=> "));
    }
    pb
}

/// Key names of a run: `prefix` + the key index in decimal, zero-padded to `size`
/// digits (so key order is index order). Index i of the run is `i mod space` with
/// --sequential-keys, else uniformly random in `[0, space)`.
#[derive(Debug, Clone)]
pub struct KeyGen {
    prefix: Vec<u8>,
    size: usize,
    space: u64,
    sequential: bool,
}

impl KeyGen {
    /// Checks that `space` keys fit in `size` decimal digits.
    pub fn new(opts: &KeyOpts) -> Result<Self, String> {
        if opts.key_space_size == 0 {
            return Err("--key-space-size must be at least 1".into());
        }
        if opts.key_size == 0 {
            return Err("--key-size must be at least 1".into());
        }
        let digits = (opts.key_space_size - 1).to_string().len();
        if digits > opts.key_size {
            return Err(format!(
                "--key-size {} is too small for --key-space-size {} (needs {digits} digits)",
                opts.key_size, opts.key_space_size
            ));
        }
        Ok(Self {
            prefix: opts.key_prefix.as_bytes().to_vec(),
            size: opts.key_size,
            space: opts.key_space_size,
            sequential: opts.sequential_keys,
        })
    }

    /// The key index of request `i`.
    pub fn index(&self, i: u64, rng: &mut impl Rng) -> u64 {
        if self.sequential { i % self.space } else { rng.random_range(0..self.space) }
    }

    /// The key with index `idx` (taken mod the key space).
    pub fn key(&self, idx: u64) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(format!("{:0width$}", idx % self.space, width = self.size).as_bytes());
        k
    }
}

/// A JSON object literal as a map (for the `config` and `extra` fields of a report).
pub fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// `n` random bytes (values are random so that no store gains by compressing them).
pub fn random_value(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// Which request index comes next. Shared by the workers of a run: request indexes are
/// handed out once each; the run ends after `total` indexes (if non-zero) or when
/// `duration` has passed; with a rate, index i is not released before `start + i/rate`.
pub struct Plan {
    total: u64,
    deadline: Option<tokio::time::Instant>,
    rate: f64,
    start: tokio::time::Instant,
    next: AtomicU64,
}

impl Plan {
    /// A plan starting now.
    pub fn new(total: u64, duration: Option<Duration>, rate: f64) -> Self {
        let start = tokio::time::Instant::now();
        Self { total, deadline: duration.map(|d| start + d), rate, start, next: AtomicU64::new(0) }
    }

    /// The plan of the global options.
    pub fn from_opts(opts: &GlobalOpts) -> Self {
        Self::new(opts.total, opts.run_duration(), opts.rate)
    }

    /// Claims the next request index, waiting for its slot under the rate; `None` once
    /// the run is over.
    pub async fn next(&self) -> Option<u64> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if self.total > 0 && i >= self.total {
            return None;
        }
        if self.rate > 0.0 {
            let at = self.start + Duration::from_secs_f64(i as f64 / self.rate);
            if self.deadline.is_some_and(|d| at >= d) {
                return None;
            }
            tokio::time::sleep_until(at).await;
        }
        if self.deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return None;
        }
        Some(i)
    }
}

/// One in-flight request at a time: the runner calls `call(i)` for each index it gets.
pub trait Worker: Send + 'static {
    /// Performs request `i`.
    fn call(&mut self, i: u64) -> impl Future<Output = Result<(), tonic::Status>> + Send;

    /// Called after a request was abandoned at --request-timeout (its future dropped
    /// midway): drop any state that may be out of step, such as an open stream.
    fn reset(&mut self) {}
}

/// Runs the workers concurrently until the plan is exhausted; each request is bounded
/// by --request-timeout. Returns the merged measurements and the elapsed time.
pub async fn run_workers<W: Worker>(ctx: &Ctx, workers: Vec<W>) -> (Recorder, Duration) {
    let plan = Arc::new(Plan::from_opts(&ctx.opts));
    let timeout = ctx.opts.request_timeout();
    let start = Instant::now();
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            let plan = plan.clone();
            let pb = ctx.progress.clone();
            tokio::spawn(async move {
                let mut rec = Recorder::new();
                while let Some(i) = plan.next().await {
                    let t = Instant::now();
                    match tokio::time::timeout(timeout, w.call(i)).await {
                        Ok(Ok(())) => rec.ok(t.elapsed()),
                        Ok(Err(s)) => rec.status(&s),
                        Err(_) => {
                            w.reset();
                            rec.error("DeadlineExceeded");
                        }
                    }
                    pb.inc(1);
                }
                rec
            })
        })
        .collect();
    let mut all = Recorder::new();
    for t in tasks {
        match t.await {
            Ok(rec) => all.merge(&rec),
            Err(_) => all.error("WorkerPanicked"),
        }
    }
    (all, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(size: usize, space: u64, seq: bool, prefix: &str) -> KeyOpts {
        KeyOpts { key_size: size, val_size: 8, key_space_size: space, sequential_keys: seq, key_prefix: prefix.into() }
    }

    #[test]
    fn sequential_keys_cover_the_space_in_order() {
        let g = KeyGen::new(&opts(8, 1000, true, "b/")).unwrap();
        let mut rng = rand::rng();
        let keys: Vec<_> = (0..2000).map(|i| g.key(g.index(i, &mut rng))).collect();
        assert_eq!(keys[0], b"b/00000000");
        assert_eq!(keys[999], b"b/00000999");
        assert_eq!(keys[1000], keys[0]);
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), 1000);
        assert!(keys.iter().all(|k| k.len() == 2 + 8));
        assert!(keys[..1000].windows(2).all(|w| w[0] < w[1]), "key order is index order");
    }

    #[test]
    fn random_keys_stay_in_the_space() {
        let g = KeyGen::new(&opts(3, 10, false, "")).unwrap();
        let mut rng = rand::rng();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..1000 {
            let idx = g.index(i, &mut rng);
            assert!(idx < 10);
            seen.insert(g.key(idx));
        }
        assert_eq!(seen.len(), 10, "1000 draws hit all 10 keys");
        assert!(seen.contains(b"009".as_slice()));
    }

    #[test]
    fn key_size_must_fit_the_space() {
        assert!(KeyGen::new(&opts(2, 100, true, "")).is_ok());
        assert!(KeyGen::new(&opts(2, 101, true, "")).is_err());
        assert!(KeyGen::new(&opts(8, 0, true, "")).is_err());
        assert!(KeyGen::new(&opts(0, 1, true, "")).is_err());
        // etcd's defaults: 8-byte keys, a key space of 1.
        let g = KeyGen::new(&opts(8, 1, false, "")).unwrap();
        assert_eq!(g.key(g.index(7, &mut rand::rng())), b"00000000");
    }

    #[test]
    fn random_values_have_the_size() {
        assert_eq!(random_value(256).len(), 256);
        assert!(random_value(0).is_empty());
    }

    #[tokio::test]
    async fn plan_stops_at_total() {
        let p = Plan::new(3, None, 0.0);
        let mut got = vec![];
        while let Some(i) = p.next().await {
            got.push(i);
        }
        assert_eq!(got, vec![0, 1, 2]);
        assert_eq!(p.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn plan_paces_and_stops_at_the_deadline() {
        let p = Plan::new(0, Some(Duration::from_secs(1)), 10.0);
        let start = tokio::time::Instant::now();
        let mut n = 0;
        while p.next().await.is_some() {
            n += 1;
        }
        assert_eq!(n, 10, "10/s for 1 s");
        assert!(start.elapsed() >= Duration::from_millis(900));
    }
}
