//! Authentication across a real cluster in one process (see `harness`):
//! tokens made on one member are good on every other, a revoked permission
//! stops the next linearizable read on every member and, under load, every
//! later write (while every earlier acknowledged one is kept), open watches
//! of a user who lost the permission are cancelled, and users, roles and the
//! auth revision survive a restart and reach a member through a snapshot.
//! The etcdctl differential suite (tests/e2e/auth.sh) and etcd's own auth
//! tests (tests/etcd-suite) cover the wire behaviour in detail.

mod harness;

use capstan_proto::authpb::{Permission, permission::Type as PermType};
use capstan_proto::etcdserverpb::auth_client::AuthClient;
use capstan_proto::etcdserverpb::watch_client::WatchClient;
use capstan_proto::etcdserverpb::*;
use harness::{Cluster, PATIENCE};
use tonic::transport::Channel;

/// A request carrying `token` as etcd clients send it.
fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = harness::bounded(message);
    r.metadata_mut().insert("token", token.parse().unwrap());
    r
}

async fn auth(c: &Cluster, i: usize) -> AuthClient<Channel> {
    AuthClient::new(c.channel(i).await)
}

async fn login(c: &Cluster, i: usize, name: &str, password: &str) -> String {
    let req = AuthenticateRequest { name: name.into(), password: password.into() };
    auth(c, i).await.authenticate(harness::bounded(req)).await.unwrap().into_inner().token
}

/// root (role root), alice (role `p`: readwrite on prefix `p/`), auth on.
/// Returns root's token.
async fn set_up(c: &Cluster) -> String {
    let mut a = auth(c, 0).await;
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw")] {
        let add = AuthUserAddRequest { name: name.into(), password: password.into(), ..Default::default() };
        a.user_add(harness::bounded(add)).await.unwrap();
    }
    let grant = |user: &str, role: &str| AuthUserGrantRoleRequest { user: user.into(), role: role.into() };
    a.user_grant_role(harness::bounded(grant("root", "root"))).await.unwrap();
    a.role_add(harness::bounded(AuthRoleAddRequest { name: "p".into() })).await.unwrap();
    let perm = Permission { perm_type: PermType::Readwrite as i32, key: b"p/".to_vec(), range_end: b"p0".to_vec() };
    a.role_grant_permission(harness::bounded(AuthRoleGrantPermissionRequest { name: "p".into(), perm: Some(perm) }))
        .await
        .unwrap();
    a.user_grant_role(harness::bounded(grant("alice", "p"))).await.unwrap();
    a.auth_enable(harness::bounded(AuthEnableRequest {})).await.unwrap();
    login(c, 0, "root", "rootpw").await
}

fn get(key: &str, serializable: bool) -> RangeRequest {
    RangeRequest { key: key.into(), serializable, ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_work_on_every_member_and_a_revoke_stops_the_next_read_everywhere() {
    let c = Cluster::new(3).await;
    let root = set_up(&c).await;
    // Made on member 1, used at once on members 0 and 2.
    let alice = login(&c, 1, "alice", "alicepw").await;
    let put = PutRequest { key: b"p/x".to_vec(), value: b"1".to_vec(), ..Default::default() };
    c.kv(0).await.put(with_token(&alice, put)).await.unwrap();
    for i in 0..3 {
        c.kv(i).await.range(with_token(&alice, get("p/x", false))).await.unwrap();
        let denied = c.kv(i).await.range(with_token(&alice, get("q", false))).await.unwrap_err();
        assert_eq!((denied.code(), denied.message()), (tonic::Code::PermissionDenied, "etcdserver: permission denied"));
    }
    let anonymous = c.kv(2).await.range(harness::bounded(get("p/x", false))).await.unwrap_err();
    assert_eq!(anonymous.message(), "etcdserver: user name is empty");
    let forged = c.kv(2).await.range(with_token("forged.1", get("p/x", false))).await.unwrap_err();
    assert_eq!((forged.code(), forged.message()), (tonic::Code::Unauthenticated, "etcdserver: invalid auth token"));

    let revoke = AuthUserRevokeRoleRequest { name: "alice".into(), role: "p".into() };
    auth(&c, 0).await.user_revoke_role(with_token(&root, revoke)).await.unwrap();
    for i in 0..3 {
        let denied = c.kv(i).await.range(with_token(&alice, get("p/x", false))).await.unwrap_err();
        assert_eq!(denied.message(), "etcdserver: permission denied", "member {i}");
    }
    // Serializable reads on a follower see the revoke once it is applied there.
    for i in 0..3 {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while c.kv(i).await.range(with_token(&alice, get("p/x", true))).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "member {i} still serves a revoked read");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    c.shutdown().await;
}

/// One put of alice's writers: when it was sent and answered, and what came back.
struct Attempt {
    key: Vec<u8>,
    sent: tokio::time::Instant,
    result: Result<(), String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_under_load_refuses_every_later_write_on_every_member_and_keeps_every_earlier_one() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const WRITERS_PER_MEMBER: usize = 2;
    const MAX_PUTS: usize = 2000; // per writer: the loop ends by itself
    let c = Cluster::new(3).await;
    let root = set_up(&c).await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for member in 0..3 {
        let token = login(&c, member, "alice", "alicepw").await;
        for w in 0..WRITERS_PER_MEMBER {
            let (mut kv, token, stop, acked) = (c.kv(member).await, token.clone(), stop.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                let mut attempts = Vec::new();
                for n in 0..MAX_PUTS {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("p/{member}/{w}/{n}").into_bytes();
                    let put = PutRequest { key: key.clone(), value: b"v".to_vec(), ..Default::default() };
                    let sent = tokio::time::Instant::now();
                    let result = kv.put(with_token(&token, put)).await.map(|_| ()).map_err(|e| e.message().to_owned());
                    if result.is_ok() {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    attempts.push(Attempt { key, sent, result });
                }
                attempts
            }));
        }
    }
    // Revoke once every writer is busy, then let them run on for a while.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while acked.load(Ordering::Relaxed) < 150 {
        assert!(tokio::time::Instant::now() < deadline, "alice's writers made no progress");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let revoke = AuthUserRevokeRoleRequest { name: "alice".into(), role: "p".into() };
    auth(&c, 0).await.user_revoke_role(with_token(&root, revoke)).await.unwrap();
    let revoked = tokio::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut kv = c.kv(1).await;
    let (mut before, mut after) = (0, 0);
    for writer in writers {
        let attempts = writer.await.unwrap();
        assert!(attempts.iter().any(|a| a.sent > revoked), "every writer wrote after the revoke");
        for a in attempts {
            let stored = kv.range(with_token(&root, RangeRequest { key: a.key.clone(), ..Default::default() }));
            let stored = !stored.await.unwrap().into_inner().kvs.is_empty();
            let key = String::from_utf8_lossy(&a.key);
            match &a.result {
                Ok(()) => assert!(stored, "{key}: acknowledged but not stored"),
                Err(e) => {
                    assert!(!stored, "{key}: refused ({e}) but stored");
                    let known = ["etcdserver: permission denied", "etcdserver: revision of auth store is old"];
                    assert!(known.contains(&e.as_str()), "{key}: unexpected error {e}");
                }
            }
            if a.sent > revoked {
                assert!(a.result.is_err(), "{key}: sent after the revoke returned, yet written");
                after += 1;
            } else if a.result.is_ok() {
                before += 1;
            }
        }
    }
    eprintln!("alice: {before} puts acknowledged before the revoke, {after} refused after it");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_is_cancelled_when_its_user_loses_the_permission() {
    let c = Cluster::new(1).await;
    let root = set_up(&c).await;
    let alice = login(&c, 0, "alice", "alicepw").await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut watch = WatchClient::new(c.channel(0).await);
    let mut responses =
        watch.watch(with_token(&alice, tokio_stream::wrappers::ReceiverStream::new(rx))).await.unwrap().into_inner();
    let create = |key: &str, end: &str| WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.into(),
            range_end: end.into(),
            ..Default::default()
        })),
    };
    tx.send(create("q", "")).await.unwrap();
    let refused = responses.message().await.unwrap().unwrap();
    assert_eq!((refused.watch_id, refused.created, refused.canceled), (-1, true, true));
    assert_eq!(refused.cancel_reason, "rpc error: code = PermissionDenied desc = etcdserver: permission denied");
    tx.send(create("p/", "p0")).await.unwrap();
    let created = responses.message().await.unwrap().unwrap();
    assert!(created.created && !created.canceled);

    let revoke = AuthRoleRevokePermissionRequest { role: "p".into(), key: b"p/".to_vec(), range_end: b"p0".to_vec() };
    auth(&c, 0).await.role_revoke_permission(with_token(&root, revoke)).await.unwrap();
    let cancelled = tokio::time::timeout(PATIENCE, responses.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((cancelled.watch_id, cancelled.canceled), (created.watch_id, true));
    assert_eq!(cancelled.cancel_reason, "rpc error: code = PermissionDenied desc = etcdserver: permission denied");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_roles_and_the_revision_survive_a_restart() {
    let mut c = Cluster::new(1).await;
    let root = set_up(&c).await;
    let status = auth(&c, 0).await.auth_status(harness::bounded(AuthStatusRequest {})).await.unwrap().into_inner();
    assert!(status.enabled);
    c.stop(0).await;
    c.start(0).await;
    let after = auth(&c, 0).await.auth_status(harness::bounded(AuthStatusRequest {})).await.unwrap().into_inner();
    assert_eq!((after.enabled, after.auth_revision), (true, status.auth_revision));
    // Simple tokens live in memory, as in etcd: the old one is gone.
    let gone = c.kv(0).await.range(with_token(&root, get("p/x", false))).await.unwrap_err();
    assert_eq!(gone.message(), "etcdserver: invalid auth token");
    let alice = login(&c, 0, "alice", "alicepw").await;
    c.kv(0).await.range(with_token(&alice, get("p/x", false))).await.unwrap();
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_catching_up_through_a_snapshot_gets_users_roles_and_the_revision() {
    // Snapshots every 100 requests keeping 10 entries: the stopped member
    // misses the auth changes and 200 writes, so it needs the snapshot.
    let mut c = Cluster::with_config(3, "snapshot-count: 100\nsnapshot-catchup-entries: 10\n").await;
    let behind = 2;
    c.stop(behind).await;
    let root = set_up(&c).await;
    for n in 0..200u64 {
        let put = PutRequest { key: format!("k{n}").into_bytes(), value: vec![b'v'; 64], ..Default::default() };
        c.kv(0).await.put(with_token(&root, put)).await.unwrap();
    }
    let want = auth(&c, 0).await.auth_status(harness::bounded(AuthStatusRequest {})).await.unwrap().into_inner();
    c.start(behind).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status = AuthStatusRequest {};
        if let Ok(got) = auth(&c, behind).await.auth_status(harness::bounded(status)).await
            && (got.get_ref().enabled, got.get_ref().auth_revision) == (want.enabled, want.auth_revision)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "member {behind} never caught up with the auth state");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let received = c.metric(behind, "etcd_network_snapshot_receive_success").await.unwrap_or(0.0);
    assert!(received >= 1.0, "the member caught up through a snapshot (received {received})");
    // alice's role and permission came with it: serializable reads on that member
    // are checked against them.
    let alice = login(&c, behind, "alice", "alicepw").await;
    let put = PutRequest { key: b"p/y".to_vec(), value: b"1".to_vec(), ..Default::default() };
    c.kv(behind).await.put(with_token(&alice, put)).await.unwrap();
    c.kv(behind).await.range(with_token(&alice, get("p/y", false))).await.unwrap();
    let denied = c.kv(behind).await.range(with_token(&alice, get("k1", true))).await.unwrap_err();
    assert_eq!(denied.message(), "etcdserver: permission denied");
    c.shutdown().await;
}
