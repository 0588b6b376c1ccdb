//! `watch`: --watchers watchers on --keys keys, spread over --streams watch streams; a
//! separate putter (--clients workers, --total puts, --rate) writes the keys
//! round-robin. Each put carries its send time (nanoseconds since the run's epoch, big
//! endian, in the first 8 bytes of the value), so every delivered event gives one
//! latency sample: put sent → event received. Events not delivered within
//! --drain-timeout after the last put count as "Missing" errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::Conn as Channel;
use capstan_proto::etcdserverpb::kv_client::KvClient;
use capstan_proto::etcdserverpb::watch_client::WatchClient;
use capstan_proto::etcdserverpb::watch_request::RequestUnion;
use capstan_proto::etcdserverpb::{PutRequest, WatchCreateRequest, WatchRequest};
use rand::RngCore;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::{Ctx, Worker, obj, run_workers};
use crate::cli::WatchOpts;
use crate::stats::{Recorder, Report, code_name};

/// Watched key number `k`.
fn watch_key(prefix: &str, k: u64) -> Vec<u8> {
    format!("{prefix}{k}").into_bytes()
}

/// How many of `watchers` watchers (watcher w on key w mod `keys`) watch key `k`.
fn watchers_on(k: u64, watchers: u64, keys: u64) -> u64 {
    watchers / keys + u64::from(k < watchers % keys)
}

/// A value of `size` bytes (at least 8) that starts with `nanos` in big endian.
fn stamped_value(nanos: u64, size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size.max(8)];
    rand::rng().fill_bytes(&mut v[8..]);
    v[..8].copy_from_slice(&nanos.to_be_bytes());
    v
}

/// The send time carried by a value, if it has one.
fn stamp_of(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.get(..8)?.try_into().ok()?))
}

struct Putter {
    kv: KvClient<Channel>,
    prefix: String,
    keys: u64,
    watchers: u64,
    val_size: usize,
    epoch: Instant,
    expected: Arc<AtomicU64>,
}

impl Worker for Putter {
    async fn call(&mut self, i: u64) -> Result<(), tonic::Status> {
        let k = i % self.keys;
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let req = PutRequest {
            key: watch_key(&self.prefix, k),
            value: stamped_value(nanos, self.val_size),
            ..Default::default()
        };
        self.kv.put(req).await?;
        self.expected.fetch_add(watchers_on(k, self.watchers, self.keys), Ordering::Relaxed);
        Ok(())
    }
}

/// One watch stream: creates its watchers, reports ready, then records the latency of
/// every event until `stop` changes or the stream ends.
async fn stream_task(
    channel: Channel,
    creates: Vec<Vec<u8>>,
    epoch: Instant,
    delivered: Arc<AtomicU64>,
    ready: oneshot::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
) -> Recorder {
    let mut rec = Recorder::new();
    let (tx, rx) = mpsc::channel(1024);
    let want = creates.len();
    // The request side stays open (tx is alive) for the whole task: closing it would
    // end the stream.
    let feeder = tokio::spawn({
        let tx = tx.clone();
        async move {
            for key in creates {
                let create = WatchCreateRequest { key, ..Default::default() };
                if tx.send(WatchRequest { request_union: Some(RequestUnion::CreateRequest(create)) }).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut stream = match WatchClient::new(channel).watch(ReceiverStream::new(rx)).await {
        Ok(s) => s.into_inner(),
        Err(s) => {
            let _ = ready.send(Err(format!("watch: {s}")));
            rec.status(&s);
            return rec;
        }
    };
    let mut ready = Some(ready);
    let mut created = 0usize;
    if want == 0 {
        let _ = ready.take().map(|r| r.send(Ok(())));
    }
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => break,
            m = stream.message() => m,
        };
        let now = epoch.elapsed();
        match msg {
            Ok(Some(resp)) => {
                if resp.created {
                    created += 1;
                    if created == want {
                        let _ = ready.take().map(|r| r.send(Ok(())));
                    }
                }
                if resp.canceled {
                    rec.error("WatchCanceled");
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(format!("watch canceled: {}", resp.cancel_reason)));
                    }
                }
                for ev in &resp.events {
                    match ev.kv.as_ref().and_then(|kv| stamp_of(&kv.value)) {
                        Some(sent) => rec.ok(now.saturating_sub(Duration::from_nanos(sent))),
                        None => rec.error("BadEvent"),
                    }
                }
                delivered.fetch_add(resp.events.len() as u64, Ordering::Relaxed);
            }
            Ok(None) => {
                rec.error("WatchStreamEnded");
                break;
            }
            Err(s) => {
                rec.error(&code_name(s.code()));
                break;
            }
        }
    }
    if let Some(r) = ready.take() {
        let _ = r.send(Err(format!("stream ended after {created} of {want} watchers were created")));
    }
    feeder.abort();
    drop(tx);
    rec
}

/// Runs the watch workload.
pub async fn run(ctx: &Ctx, opts: &WatchOpts) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.watchers >= 1 && opts.keys >= 1, "--watchers and --keys must be at least 1");
    anyhow::ensure!(opts.val_size >= 8, "--val-size must be at least 8 (the send time)");
    let epoch = Instant::now();
    let streams = opts.streams.clamp(1, usize::try_from(opts.watchers).unwrap_or(usize::MAX));
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut readies = Vec::new();
    for s in 0..streams {
        let creates: Vec<Vec<u8>> = (0..opts.watchers)
            .filter(|w| (w % streams as u64) as usize == s)
            .map(|w| watch_key(&opts.key_prefix, w % opts.keys))
            .collect();
        let (rtx, rrx) = oneshot::channel();
        readies.push(rrx);
        tasks.push(tokio::spawn(stream_task(ctx.channel(s), creates, epoch, delivered.clone(), rtx, stop_rx.clone())));
    }
    let setup = Instant::now();
    let all_ready = futures::future::join_all(readies);
    let ready_results =
        tokio::time::timeout(Duration::from_secs(60).max(ctx.opts.request_timeout() * 6), all_ready).await;
    let ready_err = match ready_results {
        Err(_) => Some("watchers not created within the time limit".to_string()),
        Ok(rs) => rs.into_iter().find_map(|r| match r {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some("watch stream task ended".to_string()),
        }),
    };
    if let Some(e) = ready_err {
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        anyhow::bail!("setting up {} watchers: {e}", opts.watchers);
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let expected = Arc::new(AtomicU64::new(0));
    let putters = (0..ctx.opts.clients)
        .map(|w| Putter {
            kv: KvClient::new(ctx.channel(w)),
            prefix: opts.key_prefix.clone(),
            keys: opts.keys,
            watchers: opts.watchers,
            val_size: opts.val_size,
            epoch,
            expected: expected.clone(),
        })
        .collect();
    let start = Instant::now();
    let (put_rec, put_elapsed) = run_workers(ctx, putters).await;

    // Wait for the events still in flight, bounded.
    let drain_limit = Instant::now() + Duration::from_secs_f64(opts.drain_timeout.max(0.0));
    let want = expected.load(Ordering::Relaxed);
    while delivered.load(Ordering::Relaxed) < want && Instant::now() < drain_limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    let mut rec = Recorder::new();
    for t in tasks {
        match t.await {
            Ok(r) => rec.merge(&r),
            Err(_) => rec.error("WorkerPanicked"),
        }
    }
    // "WatchStreamEnded"/codes after stop are not counted: the select stops first.
    let got = delivered.load(Ordering::Relaxed);
    rec.error_n("Missing", want.saturating_sub(got));
    let put_rep = put_rec.report("put", put_elapsed);
    for (code, n) in &put_rep.errors {
        rec.error_n(&format!("Put{code}"), *n);
    }
    let mut rep = rec.report("watch", elapsed);
    rep.config = obj(serde_json::json!({
        "watchers": opts.watchers,
        "keys": opts.keys,
        "streams": streams,
        "val_size": opts.val_size,
        "key_prefix": opts.key_prefix,
    }));
    rep.extra = obj(serde_json::json!({
        "puts_ok": put_rep.ok,
        "puts_failed": put_rep.error_count,
        "put_rps": put_rep.throughput_rps,
        "put_latency_p99_ms": put_rep.latency_ms.p99,
        "expected_events": want,
        "delivered_events": got,
        "watch_setup_s": (setup_s * 1000.0).round() / 1000.0,
    }));
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_per_key_add_up() {
        for (w, k) in [(10, 3), (10_000, 1), (5, 10), (7, 7)] {
            let sum: u64 = (0..k).map(|i| watchers_on(i, w, k)).sum();
            assert_eq!(sum, w, "{w} watchers on {k} keys");
            for i in 0..k {
                assert_eq!(watchers_on(i, w, k), (0..w).filter(|x| x % k == i).count() as u64);
            }
        }
    }

    #[test]
    fn stamps_round_trip() {
        let v = stamped_value(123_456_789, 32);
        assert_eq!(v.len(), 32);
        assert_eq!(stamp_of(&v), Some(123_456_789));
        assert_eq!(stamped_value(1, 0).len(), 8);
        assert_eq!(stamp_of(b"short"), None);
    }
}
