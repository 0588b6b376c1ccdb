//! The service end to end: a real tonic server on 127.0.0.1:0 and the
//! generated client, over a real store.

use std::time::Duration;

use capstan_proto::etcdserverpb::watch_client::WatchClient;
use capstan_proto::etcdserverpb::watch_server::WatchServer;
use capstan_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, WatchCancelRequest, WatchProgressRequest, request_op,
};
use capstan_proto::mvccpb::KeyValue;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

use super::*;
use crate::storage::Engine;
use crate::watch::WatchConfig;

const WAIT: Duration = Duration::from_secs(10);
const CLUSTER: u64 = 0x1234;
const MEMBER: u64 = 0x99;

struct Env {
    _dir: TempDir,
    kv: Arc<KvStore>,
    hub: Arc<WatchHub>,
    addr: std::net::SocketAddr,
}

async fn env(config: WatchConfig) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (kv, _) = KvStore::open(Engine::open(dir.path()).unwrap()).unwrap();
    let kv = Arc::new(kv);
    let hub = WatchHub::new(kv.clone(), config);
    let headers = HeaderFactory::new(CLUSTER, MEMBER);
    headers.set_term(3);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = WatchServer::new(WatchService::new(hub.clone(), headers));
    tokio::spawn(
        tonic::transport::Server::builder().add_service(svc).serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Env { _dir: dir, kv, hub, addr }
}

struct Client {
    tx: Option<mpsc::Sender<WatchRequest>>,
    rx: Streaming<WatchResponse>,
}

impl Env {
    async fn client(&self) -> Client {
        let mut c = WatchClient::connect(format!("http://{}", self.addr)).await.unwrap();
        let (tx, rx) = mpsc::channel(16);
        let rx = c.watch(ReceiverStream::new(rx)).await.unwrap().into_inner();
        Client { tx: Some(tx), rx }
    }

    fn commit(&self, f: impl FnOnce(&mut crate::mvcc::Applier<'_>)) -> i64 {
        let mut a = self.kv.begin();
        f(&mut a);
        let events = a.commit(false).unwrap();
        self.hub.notify(&events, self.kv.current_revision());
        self.kv.current_revision()
    }

    fn put(&self, key: &str, value: &str) -> i64 {
        self.commit(|a| {
            a.put(&PutRequest { key: key.into(), value: value.into(), ..Default::default() }, &|_| true).unwrap();
        })
    }
}

impl Client {
    async fn send(&self, r: RequestUnion) {
        self.tx.as_ref().unwrap().send(WatchRequest { request_union: Some(r) }).await.unwrap();
    }

    async fn recv(&mut self) -> WatchResponse {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("timed out")
            .expect("stream error")
            .expect("stream ended")
    }

    async fn create(&mut self, c: WatchCreateRequest) -> WatchResponse {
        self.send(RequestUnion::CreateRequest(c)).await;
        let r = self.recv().await;
        assert!(r.created, "expected a created response, got {r:?}");
        r
    }

    async fn cancel(&self, id: i64) {
        self.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id: id })).await;
    }
}

fn on(key: &str, end: &str) -> WatchCreateRequest {
    WatchCreateRequest { key: key.into(), range_end: end.into(), ..Default::default() }
}

fn revs(r: &WatchResponse) -> Vec<i64> {
    r.events.iter().map(|e| e.kv.as_ref().unwrap().mod_revision).collect()
}

#[tokio::test]
async fn create_receive_and_cancel_over_grpc() {
    let e = env(WatchConfig::default()).await;
    let before = e.put("a", "0");
    let mut c = e.client().await;
    let created = c.create(on("a", "b")).await;
    assert_eq!((created.watch_id, created.canceled), (0, false));
    let h = created.header.unwrap();
    assert_eq!((h.cluster_id, h.member_id, h.revision, h.raft_term), (CLUSTER, MEMBER, before, 3));
    assert_eq!(c.create(on("z", "")).await.watch_id, 1);

    let r1 = e.put("a1", "x");
    let r = c.recv().await;
    assert_eq!((r.watch_id, r.header.as_ref().unwrap().revision, revs(&r)), (0, r1, vec![r1]));
    assert!(!r.created && !r.canceled && !r.fragment);
    assert_eq!(r.events[0].kv.as_ref().unwrap().value, b"x");

    // Cancel of an unknown id gets no response: the next message is the
    // answer to the following RequestProgress.
    c.cancel(42).await;
    c.send(RequestUnion::ProgressRequest(WatchProgressRequest {})).await;
    let p = c.recv().await;
    assert_eq!((p.watch_id, p.header.as_ref().unwrap().revision), (-1, r1));
    assert!(p.events.is_empty() && !p.canceled && !p.created);

    c.cancel(0).await;
    let r = c.recv().await;
    assert_eq!((r.watch_id, r.canceled, r.created, r.header.unwrap().revision), (0, true, false, r1));
    e.put("a2", "y");
    let r3 = e.put("z", "1");
    let r = c.recv().await;
    assert_eq!((r.watch_id, revs(&r)), (1, vec![r3]), "no events after cancel");
}

#[tokio::test]
async fn refused_creates_are_created_and_canceled_with_etcd_reasons() {
    let e = env(WatchConfig::default()).await;
    let mut c = e.client().await;
    let r = c.create(WatchCreateRequest { start_revision: -3, ..on("a", "") }).await;
    assert_eq!((r.watch_id, r.canceled), (-1, true));
    assert_eq!(r.cancel_reason, "etcdserver: mvcc: required revision has been compacted");
    let r = c.create(on("b", "a")).await;
    assert_eq!((r.watch_id, r.canceled, r.cancel_reason.as_str()), (-1, true, "mvcc: watcher range is empty"));
    assert_eq!(c.create(WatchCreateRequest { watch_id: 4, ..on("a", "") }).await.watch_id, 4);
    let r = c.create(WatchCreateRequest { watch_id: 4, ..on("a", "") }).await;
    assert_eq!(
        (r.watch_id, r.canceled, r.cancel_reason.as_str()),
        (-1, true, "mvcc: duplicate watch ID provided on the WatchStream")
    );
    // Range end "\0" with any key is fine (from-key watch).
    assert_eq!(c.create(on("zzz", "\0")).await.watch_id, 0);
}

#[tokio::test]
async fn compacted_start_is_canceled_with_compact_revision() {
    let e = env(WatchConfig::default()).await;
    for i in 0..4 {
        e.put("k", &i.to_string());
    }
    e.commit(|a| a.compact(4).unwrap());
    let mut c = e.client().await;
    let created = c.create(WatchCreateRequest { start_revision: 2, ..on("k", "") }).await;
    assert!(!created.canceled);
    let r = c.recv().await;
    assert_eq!((r.watch_id, r.canceled, r.compact_revision), (created.watch_id, true, 4));
    assert_eq!((r.header.unwrap().revision, r.cancel_reason.as_str()), (0, ""), "as etcd sends it");
    // Historical replay from the compacted revision itself works.
    let created = c.create(WatchCreateRequest { start_revision: 4, ..on("k", "") }).await;
    let r = c.recv().await;
    assert_eq!((r.watch_id, revs(&r), r.header.unwrap().revision), (created.watch_id, vec![4, 5], 5));
}

#[tokio::test]
async fn prev_kv_and_filters() {
    let e = env(WatchConfig::default()).await;
    let mut c = e.client().await;
    let prev = c.create(WatchCreateRequest { prev_kv: true, ..on("k", "") }).await.watch_id;
    let puts_only =
        c.create(WatchCreateRequest { filters: vec![FilterType::Nodelete as i32], ..on("k", "") }).await.watch_id;
    let r1 = e.put("k", "v1");
    let r2 = e.put("k", "v2");
    let r3 = e.commit(|a| {
        a.delete_range(&DeleteRangeRequest { key: "k".into(), ..Default::default() }).unwrap();
    });
    let mut by_id: HashMap<i64, Vec<Event>> = HashMap::new();
    for _ in 0..5 {
        let r = c.recv().await;
        by_id.entry(r.watch_id).or_default().extend(r.events);
    }
    let p = &by_id[&prev];
    assert_eq!(p.len(), 3);
    assert_eq!(p[0].prev_kv, None, "a create event has no previous version");
    let pk = |i: usize| p[i].prev_kv.clone().unwrap();
    assert_eq!(
        pk(1),
        KeyValue {
            key: b"k".to_vec(),
            create_revision: r1,
            mod_revision: r1,
            version: 1,
            value: b"v1".to_vec(),
            lease: 0
        }
    );
    assert_eq!((p[2].r#type, pk(2).value, pk(2).mod_revision), (EventType::Delete as i32, b"v2".to_vec(), r2));
    assert_eq!(p[2].kv.as_ref().unwrap().mod_revision, r3);
    let q = &by_id[&puts_only];
    assert_eq!(q.iter().map(|e| e.kv.as_ref().unwrap().mod_revision).collect::<Vec<_>>(), vec![r1, r2]);
    assert!(q.iter().all(|e| e.prev_kv.is_none()));
}

#[tokio::test]
async fn large_revisions_are_fragmented_only_for_fragment_watchers() {
    // Threshold = 1 + 512 KiB, so three 200 KiB values split 2 + 1.
    let e = env(WatchConfig { max_response_bytes: 1, ..Default::default() }).await;
    let mut c = e.client().await;
    let frag = c.create(WatchCreateRequest { fragment: true, ..on("", "\0") }).await.watch_id;
    let mut whole = e.client().await;
    whole.create(on("", "\0")).await;
    let big = "x".repeat(200 * 1024);
    let txn = TxnRequest {
        success: (0..3)
            .map(|i| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: format!("big{i}").into(),
                    value: big.clone().into(),
                    ..Default::default()
                })),
            })
            .collect(),
        ..Default::default()
    };
    let rev = e.commit(|a| {
        a.txn(&txn, &|_| true).unwrap();
    });
    let a = c.recv().await;
    let b = c.recv().await;
    assert_eq!((a.watch_id, a.fragment, a.events.len()), (frag, true, 2));
    assert_eq!((b.watch_id, b.fragment, b.events.len()), (frag, false, 1));
    assert_eq!(a.header, b.header);
    assert!(revs(&a).iter().chain(revs(&b).iter()).all(|r| *r == rev));
    let w = whole.recv().await;
    assert_eq!((w.fragment, w.events.len()), (false, 3));
}

#[test]
fn fragments_follow_etcds_size_rule() {
    let ev = |n: usize| Event {
        kv: Some(KeyValue { key: vec![b'k'], value: vec![0; n], mod_revision: 2, ..Default::default() }),
        ..Default::default()
    };
    let resp = WatchResponse { watch_id: 3, events: vec![ev(100), ev(100), ev(100), ev(500)], ..Default::default() };
    let whole = fragments(resp.clone(), resp.encoded_len() + 1);
    assert_eq!(whole.len(), 1, "below the limit: unchanged");
    let parts = fragments(resp.clone(), 250);
    assert_eq!(parts.iter().map(|p| p.events.len()).collect::<Vec<_>>(), vec![2, 1, 1]);
    assert_eq!(parts.iter().map(|p| p.fragment).collect::<Vec<_>>(), vec![true, true, false]);
    // Every part but single-event ones stays under the limit.
    assert!(parts.iter().all(|p| p.events.len() == 1 || p.encoded_len() < 250));
    let single = WatchResponse { events: vec![ev(1000)], ..Default::default() };
    assert_eq!(fragments(single, 10).len(), 1, "one event is never split");
}

#[tokio::test]
async fn periodic_progress_notifications_carry_the_watch_id_and_are_elided_after_events() {
    let e = env(WatchConfig { progress_notify_interval: Duration::from_millis(300), ..Default::default() }).await;
    let mut c = e.client().await;
    let id = c.create(WatchCreateRequest { progress_notify: true, ..on("p", "") }).await.watch_id;
    c.create(on("other", "")).await; // no progress_notify: never notified
    let rev = e.put("unwatched", "1");
    let started = tokio::time::Instant::now();
    let p = c.recv().await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!((p.watch_id, p.header.unwrap().revision, p.events.len()), (id, rev, 0));
    // While events keep coming (every 20 ms, period 300..330 ms), every
    // tick is elided: no progress notification at all.
    let writer = {
        let (kv, hub) = (e.kv.clone(), e.hub.clone());
        tokio::spawn(async move {
            for i in 0..60 {
                {
                    let mut a = kv.begin();
                    let put = PutRequest { key: "p".into(), value: i.to_string().into(), ..Default::default() };
                    a.put(&put, &|_| true).unwrap();
                    let events = a.commit(false).unwrap();
                    hub.notify(&events, kv.current_revision());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut events = 0;
    while events < 60 {
        let r = c.recv().await;
        assert!(!r.events.is_empty(), "progress notification despite events: {r:?}");
        events += r.events.len();
    }
    writer.await.unwrap();
    // Idle again: notifications resume.
    let p = c.recv().await;
    assert!(p.events.is_empty() && p.watch_id == id);
    assert_eq!(p.header.unwrap().revision, e.kv.current_revision());
}

#[tokio::test]
async fn request_progress_waits_for_catch_up_and_client_half_close_keeps_the_stream() {
    let e = env(WatchConfig::default()).await;
    for i in 0..50 {
        e.put("h", &i.to_string());
    }
    let mut c = e.client().await;
    let id = c.create(WatchCreateRequest { start_revision: 1, ..on("h", "") }).await.watch_id;
    c.send(RequestUnion::ProgressRequest(WatchProgressRequest {})).await;
    // The client stops sending; etcd keeps the stream open for events.
    c.tx = None;
    let mut got = Vec::new();
    let mut progress_at = None;
    while got.len() < 50 || progress_at.is_none() && got.len() < 51 {
        let r = c.recv().await;
        if r.events.is_empty() {
            assert_eq!(r.watch_id, -1);
            // Only answered if the watcher had already caught up.
            assert_eq!(got.len(), 50, "progress before the replay finished");
            progress_at = Some(r.header.unwrap().revision);
            continue;
        }
        assert_eq!(r.watch_id, id);
        got.extend(revs(&r));
        if got.len() == 50 {
            break;
        }
    }
    assert_eq!(got, (2..=51).collect::<Vec<_>>());
    let r = e.put("h", "live");
    let live = c.recv().await;
    let live = if live.events.is_empty() { c.recv().await } else { live };
    assert_eq!(revs(&live), vec![r]);
}

#[tokio::test]
async fn client_that_stops_reading_catches_up_over_grpc() {
    let e = env(WatchConfig { stream_buffer: 4, ..Default::default() }).await;
    let mut c = e.client().await;
    let id = c.create(on("s/", "s0")).await.watch_id;
    let value = "v".repeat(1024);
    let first = e.kv.current_revision() + 1;
    for i in 0..3000 {
        e.put(&format!("s/{i:04}"), &value);
    }
    let last = e.kv.current_revision();
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        let r = c.recv().await;
        assert_eq!(r.watch_id, id);
        let rs = revs(&r);
        if let (Some(p), Some(f)) = (got.last(), rs.first()) {
            assert!(f > p, "duplicate or reordered event");
        }
        got.extend(rs);
    }
    assert_eq!(got, (first..=last).collect::<Vec<_>>());
}

#[tokio::test]
async fn hub_shutdown_ends_streams_with_unavailable() {
    let e = env(WatchConfig::default()).await;
    let mut c = e.client().await;
    c.create(on("k", "")).await;
    e.hub.shutdown();
    let err = tokio::time::timeout(WAIT, c.rx.message()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(err.message(), "etcdserver: server stopped");
}
