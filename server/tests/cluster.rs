//! Cluster behaviour in one process (see `harness`): leader loss, restart,
//! catch-up through a snapshot, membership change. Each runs in seconds; the
//! shell suites (tests/e2e/cluster-*.sh) cover the same ground with real
//! processes and real clients.

mod harness;

use capstan_proto::etcdserverpb::{MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest};
use harness::{Cluster, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_replicate_to_every_member() {
    let c = Cluster::new(3).await;
    let rev = c.put(1, "k", "v").await;
    for i in 0..3 {
        c.wait_for_revision(i, rev).await;
        assert_eq!(c.get_local(i, "k").await.as_deref(), Some("v"));
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_leader_elects_another_and_keeps_acknowledged_writes() {
    let mut c = Cluster::new(3).await;
    let leader = c.wait_for_leader(&[0, 1, 2]).await;
    let mut acked = Vec::new();
    for n in 0..20 {
        acked.push((format!("k{n}"), c.put(n % 3, &format!("k{n}"), &format!("v{n}")).await));
    }
    c.stop(leader).await;
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = c.wait_for_leader(&rest).await;
    assert_ne!(new_leader, leader);
    let rev = c.put(rest[0], "after", "loss").await;
    for &i in &rest {
        c.wait_for_revision(i, rev).await;
        for (k, _) in &acked {
            assert!(c.get_local(i, k).await.is_some(), "{k} lost on member {i}");
        }
    }
    // The old leader comes back as a follower and catches up.
    c.start(leader).await;
    c.wait_for_revision(leader, rev).await;
    assert_eq!(c.get_local(leader, "after").await.as_deref(), Some("loss"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_cluster_restart_keeps_data_and_revision() {
    let mut c = Cluster::new(3).await;
    let rev = c.put(0, "durable", "yes").await;
    for i in 0..3 {
        c.wait_for_revision(i, rev).await;
    }
    let ids: Vec<u64> = futures::future::join_all((0..3).map(|i| c.member_id(i))).await;
    for i in 0..3 {
        c.stop(i).await;
    }
    for i in 0..3 {
        c.start(i).await;
    }
    c.wait_for_leader(&[0, 1, 2]).await;
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(c.member_id(i).await, *id, "member ids survive a restart");
        assert_eq!(c.local_revision(i).await, rev);
        assert_eq!(c.get_local(i, "durable").await.as_deref(), Some("yes"));
    }
    assert_eq!(c.put(1, "next", "1").await, rev + 1);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_far_behind_catches_up_through_a_snapshot() {
    // Snapshots every 100 requests keeping 10 entries: a member that misses
    // 600 writes cannot be sent the log and needs the snapshot. 8 KiB
    // values that do not compress make the snapshot (~2.5 MiB packed) larger
    // than a client message may be: the peer port must take its chunks (it
    // refused them once, and the member waited forever).
    let mut c = Cluster::with_config(3, "snapshot-count: 100\nsnapshot-catchup-entries: 10\n").await;
    let leader = c.wait_for_leader(&[0, 1, 2]).await;
    let behind = (leader + 1) % 3;
    c.stop(behind).await;
    let writer = (leader + 2) % 3;
    let mut rev = 0;
    for n in 0..600u64 {
        rev = c.put(writer, &format!("c{n}"), &incompressible(n, 8192)).await;
    }
    c.start(behind).await;
    c.wait_for_revision(behind, rev).await;
    let received = c.metric(behind, "etcd_network_snapshot_receive_success").await.unwrap_or(0.0);
    assert!(received >= 1.0, "the member caught up through a snapshot (received {received})");
    assert_eq!(c.get_local(behind, "c599").await.map(|v| v.len()), Some(8192));
    assert_eq!(c.get_local(behind, "c0").await.map(|v| v.len()), Some(8192));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_joins_catches_up_and_is_promoted() {
    let mut c = Cluster::new(3).await;
    let rev = c.put(0, "before", "join").await;
    let new = c.add_slot().await;
    // Refused as "unhealthy cluster" until the leader has reached every peer
    // for 5 s (etcd's strict reconfiguration check); retry until then.
    let deadline = std::time::Instant::now() + PATIENCE;
    let request = MemberAddRequest { peer_ur_ls: vec![c.slots[new].peer_url()], is_learner: true };
    let added = loop {
        match c.cluster_client(0).await.member_add(request.clone()).await {
            Ok(r) => break r.into_inner(),
            Err(e) if e.message() == "etcdserver: unhealthy cluster" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("member add: {e}"),
        }
    };
    let id = added.member.unwrap().id;
    c.start_joining(new);
    c.wait_for_revision(new, rev).await;
    assert_eq!(c.get_local(new, "before").await.as_deref(), Some("join"));
    // Promotion is refused until the learner has caught up; retry until then.
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        match c.cluster_client(0).await.member_promote(MemberPromoteRequest { id }).await {
            Ok(_) => break,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "promotion never accepted: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let members = c
        .cluster_client(1)
        .await
        .member_list(MemberListRequest { linearizable: true })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 4);
    assert!(members.iter().all(|m| !m.is_learner), "{members:?}");
    let rev = c.put(new, "after", "promotion").await;
    for i in 0..4 {
        c.wait_for_revision(i, rev).await;
    }
    c.shutdown().await;
}

/// `len` hex digits from a xorshift generator seeded with `seed`.
fn incompressible(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from_digit((x % 16) as u32, 16).unwrap()
        })
        .collect()
}

/// Adding a voter to a one-member cluster used to wait for a commit that
/// needs the absent new member, so it never answered; etcd answers once the
/// change is applied. Removing the only member is refused with etcd's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_member_answers_a_voter_add_and_refuses_its_own_removal() {
    let mut c = Cluster::new(1).await;
    let me = c.member_id(0).await;
    let err = c.cluster_client(0).await.member_remove(MemberRemoveRequest { id: me }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert_eq!(err.message(), "etcdserver: re-configuration failed due to not enough started members");
    let new = c.add_slot().await;
    let request = MemberAddRequest { peer_ur_ls: vec![c.slots[new].peer_url()], is_learner: false };
    let added = tokio::time::timeout(PATIENCE, c.cluster_client(0).await.member_add(request))
        .await
        .expect("member add answers")
        .expect("member add succeeds")
        .into_inner();
    assert_eq!(added.members.len(), 2);
    assert!(added.members.iter().all(|m| !m.is_learner), "{:?}", added.members);
    // The new member joins and the cluster works again with both.
    c.start_joining(new);
    let rev = c.put(new, "after", "join").await;
    c.wait_for_revision(0, rev).await;
    c.shutdown().await;
}

/// etcd's strict reconfiguration check: with one of three members down, a
/// learner may not be added ("unhealthy cluster"): the leader has not been
/// connected to every voting member for 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_a_member_while_one_is_down_is_refused() {
    let mut c = Cluster::new(3).await;
    let leader = c.wait_for_leader(&[0, 1, 2]).await;
    let down = (leader + 1) % 3;
    c.stop(down).await;
    let new = c.add_slot().await;
    let request = MemberAddRequest { peer_ur_ls: vec![c.slots[new].peer_url()], is_learner: true };
    let err = c.cluster_client(leader).await.member_add(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(err.message(), "etcdserver: unhealthy cluster");
    c.shutdown().await;
}

/// A member that joins with an empty data dir serves clients only once it
/// has published itself and caught up, as etcd's client listeners wait for
/// ReadyNotify. It used to answer at once from its empty store (revision 1),
/// so a client saw the revision go backwards (etcd's robustness suite,
/// MemberReplace: its compaction loop then crashed on a negative range).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_joining_member_serves_clients_only_once_caught_up() {
    let mut c = Cluster::new(1).await;
    let mut rev = 0;
    for i in 0..50 {
        rev = c.put(0, &format!("k{i}"), "v").await;
    }
    let new = c.add_slot().await;
    let request = MemberAddRequest { peer_ur_ls: vec![c.slots[new].peer_url()], is_learner: true };
    c.cluster_client(0).await.member_add(request).await.unwrap();
    c.start_joining(new);
    let first = c.local_revision(new).await;
    assert!(first >= rev, "the first answer of the joining member is at revision {first}, below {rev}");
    c.shutdown().await;
}

/// Peer TLS end to end: members verify each other (mutual TLS, the peer
/// address checked against the certificate), replicate, and admit a member
/// added with an `https://` peer URL, which catches up over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_talk_mutual_tls_when_peer_urls_are_https() {
    let mut c = Cluster::with_peer_tls(3).await;
    let rev = c.put(0, "over", "tls").await;
    for i in 0..3 {
        c.wait_for_revision(i, rev).await;
        assert_eq!(c.get_local(i, "over").await.as_deref(), Some("tls"));
    }
    let new = c.add_slot().await;
    assert!(c.slots[new].peer_url().starts_with("https://"));
    let deadline = std::time::Instant::now() + PATIENCE;
    let request = MemberAddRequest { peer_ur_ls: vec![c.slots[new].peer_url()], is_learner: true };
    loop {
        match c.cluster_client(0).await.member_add(harness::bounded(request.clone())).await {
            Ok(_) => break,
            Err(e) if e.message() == "etcdserver: unhealthy cluster" && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => panic!("member add: {e}"),
        }
    }
    c.start_joining(new);
    c.wait_for_revision(new, rev).await;
    assert_eq!(c.get_local(new, "over").await.as_deref(), Some("tls"));
    c.shutdown().await;
}
