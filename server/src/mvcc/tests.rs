//! Revision semantics of the store, on a real RocksDB in a temp dir.

use std::sync::Arc;

use capstan_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use capstan_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use capstan_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, request_op, response_op,
};

use super::{KvStore, MvccError};
use crate::storage::Engine;

fn store() -> (tempfile::TempDir, Arc<Engine>, KvStore) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(&dir.path().join("db")).unwrap();
    let (kv, _) = KvStore::open(engine.clone()).unwrap();
    (dir, engine, kv)
}

fn put(kv: &KvStore, k: &str, v: &str) -> i64 {
    let mut a = kv.begin();
    a.put(&PutRequest { key: k.into(), value: v.into(), ..Default::default() }, &|_| true).unwrap();
    let rev = a.current_revision();
    a.commit(false).unwrap();
    rev
}

fn get(kv: &KvStore, k: &str, rev: i64) -> Result<Vec<(String, i64, i64)>, MvccError> {
    let resp = kv.range(&RangeRequest { key: k.into(), revision: rev, ..Default::default() })?;
    Ok(resp.kvs.into_iter().map(|kv| (String::from_utf8(kv.value).unwrap(), kv.version, kv.create_revision)).collect())
}

#[test]
fn empty_store_is_at_revision_one_and_each_write_adds_one() {
    let (_d, _e, kv) = store();
    assert_eq!(kv.current_revision(), 1);
    assert_eq!(put(&kv, "a", "1"), 2);
    assert_eq!(put(&kv, "a", "1"), 3, "a put of the same value is still a new revision");
    assert_eq!(get(&kv, "a", 0).unwrap(), vec![("1".into(), 2, 2)]);
    // Deleting a missing key does not bump the revision.
    let mut a = kv.begin();
    let resp = a.delete_range(&DeleteRangeRequest { key: b"zzz".to_vec(), ..Default::default() }).unwrap();
    assert_eq!(resp.deleted, 0);
    a.commit(false).unwrap();
    assert_eq!(kv.current_revision(), 3);
    // A delete resets the key's history.
    let mut a = kv.begin();
    a.delete_range(&DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }).unwrap();
    a.commit(false).unwrap();
    assert_eq!(put(&kv, "a", "2"), 5);
    assert_eq!(get(&kv, "a", 0).unwrap(), vec![("2".into(), 1, 5)]);
    assert_eq!(get(&kv, "a", 3).unwrap(), vec![("1".into(), 2, 2)]);
    assert!(matches!(get(&kv, "a", 6), Err(MvccError::FutureRevision)));
}

#[test]
fn txn_shares_one_revision_and_compares_missing_keys_like_etcd() {
    let (_d, _e, kv) = store();
    put(&kv, "x", "1");
    let op_put = |k: &str| RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: k.into(),
            value: b"v".to_vec(),
            ..Default::default()
        })),
    };
    let cmp = |k: &str, target: CompareTarget, tu: TargetUnion| Compare {
        key: k.into(),
        target: target as i32,
        result: CompareResult::Equal as i32,
        target_union: Some(tu),
        ..Default::default()
    };
    // VALUE on a missing key is always false; VERSION compares against 0.
    let txn = TxnRequest {
        compare: vec![cmp("missing", CompareTarget::Value, TargetUnion::Value(Vec::new()))],
        success: vec![op_put("s1")],
        failure: vec![op_put("f1"), op_put("f2")],
    };
    let mut a = kv.begin();
    let resp = a.txn(&txn, &|_| true).unwrap();
    a.commit(false).unwrap();
    assert!(!resp.succeeded);
    assert_eq!(kv.current_revision(), 3, "both puts share revision 3");
    let txn = TxnRequest {
        compare: vec![cmp("missing", CompareTarget::Version, TargetUnion::Version(0))],
        success: vec![RequestOp {
            request: Some(request_op::Request::RequestRange(RangeRequest {
                key: b"f1".to_vec(),
                ..Default::default()
            })),
        }],
        failure: vec![],
    };
    let mut a = kv.begin();
    let resp = a.txn(&txn, &|_| true).unwrap();
    a.commit(false).unwrap();
    assert!(resp.succeeded);
    assert_eq!(kv.current_revision(), 3, "a read-only txn does not bump the revision");
    match &resp.responses[0].response {
        Some(response_op::Response::ResponseRange(r)) => assert_eq!(r.kvs[0].mod_revision, 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn compaction_keeps_reads_at_the_compacted_revision() {
    let (_d, _e, kv) = store();
    put(&kv, "a", "1"); // 2
    put(&kv, "a", "2"); // 3
    put(&kv, "b", "1"); // 4
    let mut a = kv.begin();
    a.compact(3).unwrap();
    a.commit(false).unwrap();
    assert_eq!(get(&kv, "a", 3).unwrap(), vec![("2".into(), 2, 2)]);
    assert!(matches!(get(&kv, "a", 2), Err(MvccError::Compacted)));
    let mut a = kv.begin();
    assert!(matches!(a.compact(3), Err(MvccError::Compacted)));
    assert!(matches!(a.compact(9), Err(MvccError::FutureRevision)));
}

#[test]
fn range_count_limit_more_and_sort() {
    let (_d, _e, kv) = store();
    for (k, v) in [("k1", "c"), ("k2", "a"), ("k3", "b")] {
        put(&kv, k, v);
    }
    let req = RangeRequest { key: b"k".to_vec(), range_end: b"l".to_vec(), limit: 2, ..Default::default() };
    let resp = kv.range(&req).unwrap();
    assert_eq!((resp.kvs.len(), resp.count, resp.more), (2, 3, true));
    let req = RangeRequest {
        key: b"k".to_vec(),
        range_end: b"l".to_vec(),
        sort_order: SortOrder::Descend as i32,
        sort_target: SortTarget::Value as i32,
        ..Default::default()
    };
    let values: Vec<_> = kv.range(&req).unwrap().kvs.into_iter().map(|kv| kv.value).collect();
    assert_eq!(values, vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
}

#[test]
fn recovery_rebuilds_index_revision_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(&dir.path().join("db")).unwrap();
        let (kv, _) = KvStore::open(engine).unwrap();
        put(&kv, "a", "1");
        put(&kv, "a", "2");
        let mut a = kv.begin();
        a.delete_range(&DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }).unwrap();
        a.compact(4).unwrap();
        a.commit(false).unwrap();
    }
    let engine = Engine::open(&dir.path().join("db")).unwrap();
    let (kv, _) = KvStore::open(engine).unwrap();
    assert_eq!(kv.current_revision(), 4, "the revision survives even when its tombstone was compacted");
    assert_eq!(kv.compacted_revision(), 4);
    assert!(get(&kv, "a", 0).unwrap().is_empty());
}

/// R6: a revision record that does not decode used to become revision 1 / 0.
#[test]
fn undecodable_revision_metadata_is_corruption() {
    use crate::storage::schema::meta;
    use crate::storage::{Cf, StorageError, WriteBatch};
    for key in [meta::CURRENT_REV, meta::COMPACTED_REV] {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("db")).unwrap();
        let mut batch = WriteBatch::default();
        batch.put(&engine, Cf::Meta, key, [1u8, 2, 3]);
        engine.write(batch, false).unwrap();
        match KvStore::open(engine) {
            Err(MvccError::Storage(StorageError::Corrupt { cf: Cf::Meta, .. })) => {}
            Err(e) => panic!("expected corruption, got {e}"),
            Ok(_) => panic!("a corrupt {} was accepted", String::from_utf8_lossy(key)),
        }
    }
}

fn compact(kv: &KvStore, rev: i64) {
    let mut a = kv.begin();
    a.compact(rev).unwrap();
    a.commit(false).unwrap();
}

/// R3: a range used to read its values from RocksDB while holding the store
/// lock that every apply needs, so one large LIST stalled all writes. Now the
/// lock is released once the revisions are resolved, and the values come from
/// a view pinned under the lock: writes and even a compaction that removes
/// the revisions being read may apply meanwhile.
#[test]
fn range_values_are_read_from_a_pinned_view_without_the_lock() {
    let (_d, _e, kv) = store();
    put(&kv, "a", "old");
    let req = RangeRequest { key: "a".into(), ..Default::default() };
    let (plan, view) = kv.plan_range(&req).unwrap();
    assert!(kv.state.try_write().is_some(), "the store lock is free while values are read");
    put(&kv, "a", "new");
    compact(&kv, kv.current_revision());
    let resp = plan.execute(&super::ViewValues(&view)).unwrap();
    assert_eq!(resp.kvs.len(), 1);
    assert_eq!(resp.kvs[0].value, b"old", "the read sees the store as of its revision");
    assert_eq!(resp.header.unwrap().revision, 2);
    drop(view);
    assert_eq!(get(&kv, "a", 0).unwrap(), vec![("new".into(), 2, 2)]);
}

/// R10: HashKV used to scan the live database, so a compaction applied during
/// the scan changed the hash of one member and not of another with the same
/// data.
#[test]
fn hash_kv_is_not_changed_by_a_concurrent_compaction() {
    let (_d, _e, kv) = store();
    for i in 0..5 {
        put(&kv, "k", &i.to_string());
    }
    let quiet = kv.hash_kv(0).unwrap();
    let during = kv.hash_kv_with(0, || compact(&kv, 5)).unwrap();
    assert_eq!(quiet, during);
    assert_ne!(kv.hash_kv(0).unwrap().0, quiet.0, "the compaction did change the data (the test can fail)");
}

/// HashKV equals etcd's for the same history: the values below are what etcd
/// 3.7.3 answered to `etcdctl endpoint hashkv` after the same operations (the
/// hash covers etcd's bucket name, so an empty store is not 0; a tombstone at
/// the compacted revision is kept but not hashed; revisions at or below the
/// compaction count only while visible; a compacted revision keeps the hash
/// its compaction computed, with the compaction before it).
#[test]
fn hash_kv_is_etcds() {
    let (_d, _e, kv) = store();
    assert_eq!(kv.hash_kv(0).unwrap(), (1084519789, 1, -1), "empty store");
    put(&kv, "a", "1");
    put(&kv, "b", "2");
    let mut a = kv.begin();
    a.delete_range(&DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }).unwrap();
    a.commit(false).unwrap();
    put(&kv, "c", "3");
    assert_eq!(kv.hash_kv(0).unwrap(), (878850413, 5, -1));
    assert_eq!(kv.hash_kv(4).unwrap(), (1562576432, 4, -1));
    compact(&kv, 4);
    assert_eq!(kv.hash_kv(4).unwrap(), (1562576432, 4, -1), "the hash of a compacted revision does not change");
    assert_eq!(kv.hash_kv(0).unwrap(), (4196123440, 5, 4), "compacted at a's delete");
    put(&kv, "b", "3");
    assert_eq!(kv.hash_kv(0).unwrap(), (1596838414, 6, 4), "b's revision 3 is no longer visible at 6");
    assert_eq!(kv.hash_kv(5).unwrap(), (4196123440, 5, 4));
    compact(&kv, 6);
    assert_eq!(kv.hash_kv(6).unwrap(), (1596838414, 6, 4));
    put(&kv, "d", "4");
    assert_eq!(kv.hash_kv(0).unwrap(), (4116606981, 7, 6));
}
