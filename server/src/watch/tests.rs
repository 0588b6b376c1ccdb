//! Hub tests against a real [`KvStore`] on a temporary RocksDB: writes go
//! through [`crate::mvcc::Applier`] exactly as the state machine applies them,
//! then [`WatchHub::notify`] is called with the committed events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capstan_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, request_op};
use capstan_proto::mvccpb::event::EventType;
use tempfile::TempDir;

use super::*;
use crate::mvcc::KvStore;
use crate::storage::Engine;

const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    _dir: TempDir,
    kv: Arc<KvStore>,
    hub: Arc<WatchHub>,
}

fn fixture(config: WatchConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path()).expect("engine");
    let (kv, _) = KvStore::open(engine).expect("store");
    let kv = Arc::new(kv);
    let hub = WatchHub::new(kv.clone(), config);
    Fixture { _dir: dir, kv, hub }
}

fn no_lease(_: i64) -> bool {
    true
}

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest { key: key.into(), value: value.into(), ..Default::default() }
}

impl Fixture {
    /// Commits one batch built by `f` and notifies the hub, like the state machine.
    fn apply(&self, f: impl FnOnce(&mut crate::mvcc::Applier<'_>)) -> i64 {
        let events = self.apply_silently(f);
        self.hub.notify(&events, self.kv.current_revision());
        self.kv.current_revision()
    }

    /// Commits without notifying (history only).
    fn apply_silently(&self, f: impl FnOnce(&mut crate::mvcc::Applier<'_>)) -> Vec<Event> {
        let mut a = self.kv.begin();
        f(&mut a);
        a.commit(false).expect("commit")
    }

    fn put(&self, key: &str, value: &str) -> i64 {
        self.apply(|a| {
            a.put(&put_req(key, value), &no_lease).expect("put");
        })
    }

    fn delete(&self, key: &str, end: &str) -> i64 {
        self.apply(|a| {
            a.delete_range(&DeleteRangeRequest { key: key.into(), range_end: end.into(), ..Default::default() })
                .expect("delete");
        })
    }

    fn compact(&self, rev: i64) {
        self.apply(|a| a.compact(rev).expect("compact"));
    }

    fn watch(&self, stream: &mut WatchStream, key: &str, end: &str, start: i64) -> i64 {
        let spec = WatchSpec { key: key.into(), range_end: end.into(), start_revision: start, ..Default::default() };
        stream.watch(spec).expect("watch").0
    }
}

async fn next(stream: &mut WatchStream) -> Delivery {
    tokio::time::timeout(WAIT, stream.recv()).await.expect("timed out waiting for a delivery").expect("hub closed")
}

async fn nothing_more(stream: &mut WatchStream) {
    if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(300), stream.recv()).await {
        panic!("unexpected delivery {d:?}");
    }
}

/// (revision, key, is_put) of each event.
fn summary(d: &Delivery) -> Vec<(i64, String, bool)> {
    d.events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            (kv.mod_revision, String::from_utf8_lossy(&kv.key).into_owned(), e.r#type == EventType::Put as i32)
        })
        .collect()
}

fn keys(d: &Delivery) -> Vec<String> {
    summary(d).into_iter().map(|(_, k, _)| k).collect()
}

#[tokio::test]
async fn single_key_prefix_and_from_key_watchers_get_only_their_keys() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let single = f.watch(&mut s, "a", "", 0);
    let prefix = f.watch(&mut s, "a", "b", 0);
    let from_b = f.watch(&mut s, "b", "\0", 0);
    let all = f.watch(&mut s, "", "\0", 0);
    assert_eq!((single, prefix, from_b, all), (0, 1, 2, 3), "ids are assigned from 0 upward");

    for (k, v) in [("a", "1"), ("ab", "2"), ("b", "3"), ("zz", "4")] {
        f.put(k, v);
    }
    let mut got: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for _ in 0..(1 + 2 + 2 + 4) {
        let d = next(&mut s).await;
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.revision, d.events[0].kv.as_ref().unwrap().mod_revision, "live header = event revision");
        got.entry(d.watch_id).or_default().extend(keys(&d));
    }
    nothing_more(&mut s).await;
    assert_eq!(got[&single], vec!["a"]);
    assert_eq!(got[&prefix], vec!["a", "ab"]);
    assert_eq!(got[&from_b], vec!["b", "zz"]);
    assert_eq!(got[&all], vec!["a", "ab", "b", "zz"]);
}

#[tokio::test]
async fn empty_key_means_nul_and_inverted_ranges_are_refused() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let err = s.watch(WatchSpec { key: b"b".to_vec(), range_end: b"a".to_vec(), ..Default::default() }).unwrap_err();
    assert_eq!(err, WatchError::EmptyRange);
    assert_eq!(err.to_string(), "mvcc: watcher range is empty");
    let err = s.watch(WatchSpec { key: b"a".to_vec(), range_end: b"a".to_vec(), ..Default::default() }).unwrap_err();
    assert_eq!(err, WatchError::EmptyRange);
    // A refused create does not consume an id.
    let id = f.watch(&mut s, "", "", 0);
    assert_eq!(id, 0);
    f.put("\0", "x");
    f.put("a", "y");
    let d = next(&mut s).await;
    assert_eq!(keys(&d), vec!["\0"]);
    nothing_more(&mut s).await;
}

#[tokio::test]
async fn explicit_ids_duplicates_and_auto_ids_skip_used_ones() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let spec = |id: i64| WatchSpec { watch_id: id, key: b"k".to_vec(), ..Default::default() };
    assert_eq!(s.watch(spec(1)).unwrap().0, 1);
    assert_eq!(s.watch(spec(7)).unwrap().0, 7);
    let dup = s.watch(spec(7)).unwrap_err();
    assert_eq!(dup, WatchError::DuplicateId);
    assert_eq!(dup.to_string(), "mvcc: duplicate watch ID provided on the WatchStream");
    assert_eq!(s.watch(spec(0)).unwrap().0, 0);
    assert_eq!(s.watch(spec(0)).unwrap().0, 2, "auto ids skip ids in use");
    assert_eq!(s.watch(spec(-5)).unwrap().0, -5, "any non-zero client id is honoured");
    assert_eq!(s.cancel(99), Err(WatchError::NotExist));
    assert!(s.cancel(7).is_ok());
    assert_eq!(s.cancel(7), Err(WatchError::NotExist), "second cancel: unknown");
    // Ids are per stream.
    let mut other = f.hub.open_stream();
    assert_eq!(other.watch(spec(0)).unwrap().0, 0);
    assert_eq!(f.hub.watcher_count(), 5);
    drop(other);
    drop(s);
    assert_eq!(f.hub.watcher_count(), 0, "dropping a stream removes its watchers");
}

#[tokio::test]
async fn created_revision_and_start_zero_sees_only_future_events() {
    let f = fixture(WatchConfig::default());
    f.put("a", "old");
    let rev = f.put("a", "older");
    let mut s = f.hub.open_stream();
    let (id, created_rev) = s.watch(WatchSpec { key: b"a".to_vec(), ..Default::default() }).unwrap();
    assert_eq!(created_rev, rev);
    nothing_more(&mut s).await;
    let r = f.put("a", "new");
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, d.revision), (id, r));
    assert_eq!(summary(&d), vec![(r, "a".into(), true)]);
}

#[tokio::test]
async fn historical_start_replays_then_continues_live_without_duplicates() {
    let f = fixture(WatchConfig::default());
    let r1 = f.put("k", "1");
    let r2 = f.put("other", "x");
    let r3 = f.put("k", "2");
    let r4 = f.delete("k", "");
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", r1);
    let d = next(&mut s).await;
    assert_eq!(d.watch_id, id);
    assert_eq!(summary(&d), vec![(r1, "k".into(), true), (r3, "k".into(), true), (r4, "k".into(), false)]);
    assert_eq!(d.revision, r4, "catch-up header carries the store revision");
    assert!(r2 < r3);
    // Deletes carry only key and mod revision, as in etcd.
    let del = d.events[2].kv.as_ref().unwrap();
    assert_eq!((del.create_revision, del.version, del.value.is_empty()), (0, 0, true));
    // Wait until synced, then a live event arrives exactly once.
    wait_synced(&f.hub).await;
    let r5 = f.put("k", "3");
    let d = next(&mut s).await;
    assert_eq!(summary(&d), vec![(r5, "k".into(), true)]);
    nothing_more(&mut s).await;
}

async fn wait_synced(hub: &WatchHub) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.unsynced_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "watchers never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn compacted_start_revision_is_canceled_with_compact_revision() {
    let f = fixture(WatchConfig::default());
    for i in 0..5 {
        f.put("k", &i.to_string());
    }
    f.compact(4);
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", 2);
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, d.compact_revision, d.revision), (id, 4, 0));
    assert!(d.events.is_empty() && !d.is_progress());
    // The canceled watcher stays on the stream until the client cancels it;
    // meanwhile the stream is not "all synced".
    assert!(s.has_watcher(id));
    assert!(!s.request_progress_all());
    assert!(s.cancel(id).is_ok());

    // Exactly the compacted revision is still watchable.
    let id = f.watch(&mut s, "k", "", 4);
    let d = next(&mut s).await;
    assert_eq!(d.watch_id, id);
    assert_eq!(d.compact_revision, 0);
    assert_eq!(summary(&d).iter().map(|e| e.0).collect::<Vec<_>>(), vec![4, 5, 6]);

    // Negative start revision: refused with ErrCompacted's text (etcd 3.6).
    let err = s.watch(WatchSpec { key: b"k".to_vec(), start_revision: -1, ..Default::default() }).unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: mvcc: required revision has been compacted");
}

/// etcd issue 18089: compaction at R used to remove the tombstone at R, so a
/// watch opened at R missed R's delete (etcd keeps it since 3.5.15).
#[tokio::test]
async fn watch_at_the_compacted_revision_sees_its_delete() {
    let f = fixture(WatchConfig::default());
    f.put("a", "1");
    f.put("b", "1");
    let deleted = f.delete("a", "c");
    f.compact(deleted);
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "a", "c", deleted);
    let d = next(&mut s).await;
    assert_eq!(d.watch_id, id);
    assert_eq!(summary(&d), vec![(deleted, "a".into(), false), (deleted, "b".into(), false)]);
    // The next compaction removes the tombstones as any other old revision.
    let later = f.put("c", "1");
    f.compact(later);
    let id = f.watch(&mut s, "a", "c", later);
    nothing_more(&mut s).await;
    assert!(s.has_watcher(id));
}

#[tokio::test]
async fn future_start_revision_waits_for_the_store() {
    let f = fixture(WatchConfig::default());
    let now = f.put("k", "0");
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", now + 3);
    assert!(!s.request_progress_all(), "not synced before reaching its start revision");
    f.put("k", "1");
    f.put("k", "2");
    nothing_more(&mut s).await;
    let r = f.put("k", "3");
    assert_eq!(r, now + 3);
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (id, vec![(r, "k".into(), true)]));
    assert!(s.request_progress_all());
    let p = next(&mut s).await;
    assert!(p.is_progress());
    assert_eq!((p.watch_id, p.revision), (INVALID_WATCH_ID, r));
}

#[tokio::test]
async fn filters_drop_puts_or_deletes_and_send_nothing_when_empty() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let base = WatchSpec { key: b"k".to_vec(), range_end: b"l".to_vec(), ..Default::default() };
    let no_put = s.watch(WatchSpec { no_put: true, ..base.clone() }).unwrap().0;
    let no_del = s.watch(WatchSpec { no_delete: true, ..base.clone() }).unwrap().0;
    let r1 = f.put("k1", "a");
    let r2 = f.delete("k1", "");
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (no_del, vec![(r1, "k1".into(), true)]));
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (no_put, vec![(r2, "k1".into(), false)]));
    nothing_more(&mut s).await;

    // Filters apply to catch-up batches too.
    let mut h = f.hub.open_stream();
    let id = h.watch(WatchSpec { no_put: true, start_revision: 1, ..base }).unwrap().0;
    let d = next(&mut h).await;
    assert_eq!((d.watch_id, summary(&d)), (id, vec![(r2, "k1".into(), false)]));
}

#[tokio::test]
async fn events_of_one_revision_stay_together_and_revisions_are_separate_live_responses() {
    let f = fixture(WatchConfig { max_revisions_per_response: 2, ..Default::default() });
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "", "\0", 0);
    // One batch: a txn writing three keys (one revision) and two more puts.
    let txn = TxnRequest {
        success: ["x", "y", "z"]
            .iter()
            .map(|k| RequestOp { request: Some(request_op::Request::RequestPut(put_req(k, "t"))) })
            .collect(),
        ..Default::default()
    };
    let last = f.apply(|a| {
        a.txn(&txn, &no_lease).expect("txn");
        a.put(&put_req("p", "1"), &no_lease).expect("put");
        a.put(&put_req("q", "2"), &no_lease).expect("put");
    });
    let t = last - 2;
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, d.revision, keys(&d)), (id, t, vec!["x".into(), "y".into(), "z".into()]));
    assert_eq!(d.events.iter().map(|e| e.kv.as_ref().unwrap().mod_revision).collect::<Vec<_>>(), vec![t, t, t]);
    assert_eq!((next(&mut s).await.revision, next(&mut s).await.revision), (t + 1, t + 2));

    // Catch-up batches hold whole revisions, at most two per response here.
    let mut h = f.hub.open_stream();
    f.watch(&mut h, "", "\0", t);
    let a = next(&mut h).await;
    let b = next(&mut h).await;
    assert_eq!(summary(&a).iter().map(|e| e.0).collect::<Vec<_>>(), vec![t, t, t, t + 1]);
    assert_eq!(summary(&b).iter().map(|e| e.0).collect::<Vec<_>>(), vec![t + 2]);
}

/// Reads deliveries for `id` until the event at `last` arrives; checks
/// revisions strictly increase across responses and returns all events.
async fn drain_until(s: &mut WatchStream, id: i64, last: i64) -> Vec<(i64, String, bool)> {
    let mut out: Vec<(i64, String, bool)> = Vec::new();
    while out.last().map(|e| e.0) != Some(last) {
        let d = next(s).await;
        if d.is_progress() {
            continue;
        }
        assert_eq!(d.watch_id, id);
        assert_eq!(d.compact_revision, 0);
        let evs = summary(&d);
        assert!(!evs.is_empty());
        if let (Some(prev), Some(first)) = (out.last(), evs.first()) {
            assert!(first.0 > prev.0, "out of order or duplicated: {} after {}", first.0, prev.0);
        }
        assert!(d.revision >= evs.last().unwrap().0);
        out.extend(evs);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_catches_up_without_loss_or_duplicates_and_does_not_stall_others() {
    const N: i64 = 10_000;
    let f = fixture(WatchConfig { stream_buffer: 2, ..Default::default() });
    let start = f.kv.current_revision() + 1;
    let mut slow = f.hub.open_stream();
    let slow_id = f.watch(&mut slow, "key/", "key0", 0);
    let mut fast = f.hub.open_stream();
    let fast_id = f.watch(&mut fast, "key/", "key0", 0);
    let fast_reader = tokio::spawn(async move {
        let got = drain_until(&mut fast, fast_id, start + N - 1).await;
        (got, fast)
    });
    // The writer never waits for anyone; `slow` is not read meanwhile.
    let writer = {
        let kv = f.kv.clone();
        let hub = f.hub.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..N {
                let mut a = kv.begin();
                a.put(&put_req(&format!("key/{i:05}"), &i.to_string()), &no_lease).unwrap();
                let ev = a.commit(false).unwrap();
                hub.notify(&ev, kv.current_revision());
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(120), writer).await.expect("writer stalled").unwrap();
    assert!(f.hub.unsynced_count() >= 1, "the unread watcher fell back to catch-up");
    let (fast_got, _fast) = tokio::time::timeout(Duration::from_secs(60), fast_reader).await.expect("fast").unwrap();
    let slow_got = tokio::time::timeout(Duration::from_secs(60), drain_until(&mut slow, slow_id, start + N - 1))
        .await
        .expect("slow watcher never caught up");
    for got in [&fast_got, &slow_got] {
        assert_eq!(got.len() as i64, N);
        for (i, (rev, key, put)) in got.iter().enumerate() {
            assert_eq!(*rev, start + i as i64);
            assert_eq!(key, &format!("key/{i:05}"));
            assert!(put);
        }
    }
    // Back in sync: live delivery and RequestProgress work again.
    wait_synced(&f.hub).await;
    let r = f.put("key/x", "live");
    let d = next(&mut slow).await;
    assert_eq!(summary(&d), vec![(r, "key/x".into(), true)]);
    assert!(slow.request_progress_all());
    assert_eq!(next(&mut slow).await.revision, r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_converges_while_writes_continue() {
    let f = fixture(WatchConfig { max_events_per_sync: 64, ..Default::default() });
    for i in 0..2000 {
        f.put("c", &i.to_string());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (kv, hub, stop) = (f.kv.clone(), f.hub.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut a = kv.begin();
                a.put(&put_req("c", &i.to_string()), &no_lease).unwrap();
                let ev = a.commit(false).unwrap();
                hub.notify(&ev, kv.current_revision());
                i += 1;
            }
        })
    };
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "c", "", 2);
    // The watcher must turn synced while the writer is still running.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = 1;
    let synced = loop {
        if let Ok(Some(d)) = s.try_recv() {
            assert_eq!(d.watch_id, id);
            for (rev, _, _) in summary(&d) {
                assert_eq!(rev, last + 1, "gap or duplicate");
                last = rev;
            }
            continue;
        }
        if f.hub.unsynced_count() == 0 && last > 2001 {
            break true;
        }
        if tokio::time::Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(synced, "catch-up never converged under continuous writes (at {last})");
    let end = f.kv.current_revision();
    while last < end {
        let d = next(&mut s).await;
        for (rev, _, _) in summary(&d) {
            assert_eq!(rev, last + 1, "gap or duplicate");
            last = rev;
        }
    }
}

#[tokio::test]
async fn catch_up_hands_over_revisions_written_during_its_history_read() {
    let f = fixture(WatchConfig::default());
    let r1 = f.put("c", "1");
    let r2 = f.put("c", "2");
    // Every catch-up round sees a write land while it reads history, as
    // under a steady write load.
    let writes = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let counter = writes.clone();
    *f.hub.after_history_read.lock() = Some(Box::new(move |hub: &WatchHub| {
        if counter.fetch_add(1, Ordering::SeqCst) < 50 {
            let mut a = hub.kv.begin();
            a.put(&put_req("c", "during"), &no_lease).unwrap();
            let ev = a.commit(false).unwrap();
            hub.notify(&ev, hub.kv.current_revision());
        }
    }));
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "c", "", r1);
    wait_synced(&f.hub).await;
    let rounds = writes.load(Ordering::SeqCst);
    assert!(rounds <= 2, "took {rounds} rounds to sync: the tail was not handed over under the lock");
    *f.hub.after_history_read.lock() = None;
    let mut got = Vec::new();
    while let Ok(Some(d)) = s.try_recv() {
        assert_eq!(d.watch_id, id);
        got.extend(summary(&d).into_iter().map(|e| e.0));
    }
    let end = f.kv.current_revision();
    assert_eq!(got, (r1..=end).collect::<Vec<_>>(), "{r2} .. every revision exactly once");
}

#[tokio::test]
async fn full_queue_mid_batch_resumes_at_the_first_missed_revision() {
    let f = fixture(WatchConfig { stream_buffer: 2, ..Default::default() });
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", 0);
    let first = f.kv.current_revision() + 1;
    let last = f.apply(|a| {
        for i in 0..5 {
            a.put(&put_req("k", &i.to_string()), &no_lease).unwrap();
        }
    });
    assert_eq!(last, first + 4);
    let got = drain_until(&mut s, id, last).await;
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), (first..=last).collect::<Vec<_>>());
    nothing_more(&mut s).await;
}

#[tokio::test]
async fn request_progress_only_when_every_watcher_is_synced() {
    let f = fixture(WatchConfig { stream_buffer: 1, ..Default::default() });
    let mut s = f.hub.open_stream();
    assert!(s.request_progress_all(), "no watchers: nothing to wait for");
    nothing_more(&mut s).await; // ... and nothing is sent (no watcher to send on)
    let a = f.watch(&mut s, "a", "", 0);
    let b = f.watch(&mut s, "b", "", 0);
    let r = f.put("x", "1");
    assert!(s.request_progress_all());
    let p = next(&mut s).await;
    assert_eq!((p.watch_id, p.revision, p.is_progress()), (INVALID_WATCH_ID, r, true));

    // Fill the one-slot queue, then overflow it: `b` becomes unsynced.
    let ra = f.put("a", "1");
    let rb = f.put("b", "1");
    assert_eq!(f.hub.unsynced_count(), 1);
    assert!(!s.request_progress_all(), "an unsynced watcher defers RequestProgress");
    assert!(!s.request_progress(b));
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, d.revision), (a, ra));
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (b, vec![(rb, "b".into(), true)]));
    wait_synced(&f.hub).await;
    assert!(s.request_progress_all());
    let p = next(&mut s).await;
    assert_eq!((p.watch_id, p.revision), (INVALID_WATCH_ID, rb));
    // Periodic progress of one watcher carries that watcher's id.
    assert!(s.request_progress(a));
    let p = next(&mut s).await;
    assert_eq!((p.watch_id, p.revision, p.is_progress()), (a, rb, true));
}

#[tokio::test]
async fn unsynced_watcher_is_canceled_when_compaction_overtakes_it() {
    let f = fixture(WatchConfig { stream_buffer: 1, ..Default::default() });
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", 0);
    f.put("k", "1"); // fills the queue
    let missed = f.put("k", "2"); // unsynced from here
    f.put("k", "3");
    f.compact(missed + 1);
    let d = next(&mut s).await;
    assert_eq!(d.events.len(), 1);
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, d.compact_revision, d.revision), (id, missed + 1, 0));
    nothing_more(&mut s).await;
}

#[tokio::test]
async fn canceled_watchers_leftovers_are_dropped_even_if_the_id_is_reused() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let spec = WatchSpec { watch_id: 5, key: b"k".to_vec(), ..Default::default() };
    s.watch(spec.clone()).unwrap();
    f.put("k", "old"); // queued for the first watcher 5
    s.cancel(5).unwrap();
    s.watch(spec).unwrap();
    let r = f.put("k", "new");
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (5, vec![(r, "k".into(), true)]));
    nothing_more(&mut s).await;
}

#[tokio::test]
async fn resync_all_replays_from_each_watchers_next_revision() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    let id = f.watch(&mut s, "k", "", 0);
    // Writes the hub never hears about (as after installing a snapshot).
    let evs = f.apply_silently(|a| {
        a.put(&put_req("k", "snap"), &no_lease).unwrap();
    });
    f.hub.resync_all();
    let d = next(&mut s).await;
    assert_eq!((d.watch_id, summary(&d)), (id, vec![(evs[0].kv.as_ref().unwrap().mod_revision, "k".into(), true)]));
    wait_synced(&f.hub).await;
    assert_eq!(f.hub.revision(), f.kv.current_revision());
}

/// A watcher started at a future revision received events below its start
/// after a snapshot install: the resync lowered every synced watcher's next
/// revision to the restored revision + 1 (etcd keeps each watcher's own).
#[tokio::test]
async fn resync_all_keeps_a_future_watchers_start_revision() {
    let f = fixture(WatchConfig::default());
    let now = f.put("k", "0");
    let mut s = f.hub.open_stream();
    let start = now + 8;
    let id = f.watch(&mut s, "k", "", start);
    // A snapshot brings five revisions the hub never saw, still below the start.
    for i in 1..=5 {
        f.apply_silently(|a| {
            a.put(&put_req("k", &i.to_string()), &no_lease).unwrap();
        });
    }
    f.hub.resync_all();
    let mut last = 0;
    while last < start + 1 {
        last = f.put("k", "later");
    }
    let mut revs = Vec::new();
    while revs.last() != Some(&last) {
        let d = next(&mut s).await;
        assert_eq!(d.watch_id, id);
        revs.extend(summary(&d).iter().map(|e| e.0));
    }
    assert_eq!(revs, vec![start, start + 1], "nothing below the start revision");
}

#[tokio::test]
async fn shutdown_ends_streams_and_refuses_new_watchers() {
    let f = fixture(WatchConfig::default());
    let mut s = f.hub.open_stream();
    f.watch(&mut s, "k", "", 0);
    f.hub.shutdown();
    assert!(tokio::time::timeout(WAIT, s.recv()).await.unwrap().is_none());
    assert_eq!(s.watch(WatchSpec { key: b"k".to_vec(), ..Default::default() }).unwrap_err(), WatchError::Stopped);
    let mut late = f.hub.open_stream();
    assert!(late.recv().await.is_none());
    f.put("k", "ignored"); // notify after shutdown is a no-op
    f.hub.shutdown(); // idempotent
}

#[test]
fn hub_thread_exits_when_the_hub_is_dropped() {
    let f = fixture(WatchConfig { sync_interval: Duration::from_millis(10), ..Default::default() });
    let weak = Arc::downgrade(&f.hub);
    let Fixture { _dir, kv, hub } = f;
    drop(hub);
    let deadline = std::time::Instant::now() + WAIT;
    while weak.upgrade().is_some() {
        assert!(std::time::Instant::now() < deadline, "catch-up thread keeps the hub alive");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(kv);
}
