//! Request checks done before anything is proposed, as etcd's
//! `v3rpc/key.go` does them (same order, same errors).

use std::collections::HashSet;

use capstan_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use capstan_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, request_op};

use super::error::EtcdError;

pub fn range(r: &RangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if SortOrder::try_from(r.sort_order).is_err() || SortTarget::try_from(r.sort_target).is_err() {
        return Err(EtcdError::InvalidSortOption);
    }
    Ok(())
}

/// What etcd 3.7 refuses in a RangeStream besides what Range refuses: chunks
/// are cut in key order, and revision filters would leave chunks empty.
pub fn range_stream(r: &RangeRequest) -> Result<(), EtcdError> {
    range(r)?;
    let order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
    let target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
    if !(order == SortOrder::None || (target == SortTarget::Key && order == SortOrder::Ascend)) {
        return Err(EtcdError::StreamCustomSort);
    }
    if r.min_mod_revision != 0 || r.max_mod_revision != 0 || r.min_create_revision != 0 || r.max_create_revision != 0 {
        return Err(EtcdError::StreamRevisionFilters);
    }
    Ok(())
}

pub fn put(r: &PutRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

pub fn delete_range(r: &DeleteRangeRequest) -> Result<(), EtcdError> {
    if r.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

/// Limits and per-op checks of a txn, then the duplicate-key rule on each branch.
pub fn txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), EtcdError> {
    txn_ops(r, max_txn_ops as i64)?;
    intervals(&r.success)?;
    intervals(&r.failure)?;
    Ok(())
}

fn txn_ops(r: &TxnRequest, max_ops: i64) -> Result<(), EtcdError> {
    let opc = r.compare.len().max(r.success.len()).max(r.failure.len()) as i64;
    if opc > max_ops {
        return Err(EtcdError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        // Nested txns share the budget, as in etcd.
        request_op(op, max_ops - opc)?;
    }
    Ok(())
}

fn request_op(op: &RequestOp, max_ops: i64) -> Result<(), EtcdError> {
    match &op.request {
        Some(request_op::Request::RequestRange(r)) => range(r),
        Some(request_op::Request::RequestPut(p)) => put(p),
        Some(request_op::Request::RequestDeleteRange(d)) => delete_range(d),
        Some(request_op::Request::RequestTxn(t)) => txn_ops(t, max_ops),
        None => Err(EtcdError::KeyNotFound),
    }
}

/// A deleted interval `[start, end)`; a single key is `[k, k\0)`.
struct Interval {
    start: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    fn of_delete(key: &[u8], range_end: &[u8]) -> Self {
        if range_end.is_empty() {
            let mut end = key.to_vec();
            end.push(0);
            Self { start: key.to_vec(), end }
        } else {
            Self { start: key.to_vec(), end: range_end.to_vec() }
        }
    }

    fn contains(&self, k: &[u8]) -> bool {
        self.start.as_slice() <= k && k < self.end.as_slice()
    }
}

/// etcd's duplicate-key rule: within one branch (nested txns included) no key
/// is put twice, and no put falls in a deleted range. Puts in the two branches
/// of a nested txn may repeat each other (only one branch runs).
fn intervals(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>), EtcdError> {
    let mut dels: Vec<Interval> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(request_op::Request::RequestDeleteRange(d)) => Some(Interval::of_delete(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let deleted = |dels: &[Interval], k: &[u8]| dels.iter().any(|iv| iv.contains(k));
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let Some(request_op::Request::RequestTxn(t)) = &op.request else { continue };
        let (puts_then, dels_then) = intervals(&t.success)?;
        let (puts_else, dels_else) = intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            if puts.contains(k) && !puts_then.contains(k) || deleted(&dels, k) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let Some(request_op::Request::RequestPut(p)) = &op.request else { continue };
        if puts.contains(&p.key) || deleted(&dels, &p.key) {
            return Err(EtcdError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_op(k: &str) -> RequestOp {
        RequestOp { request: Some(request_op::Request::RequestPut(PutRequest { key: k.into(), ..Default::default() })) }
    }
    fn del_op(k: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                key: k.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }
    fn txn_op(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest { success, failure, ..Default::default() })),
        }
    }

    #[test]
    fn duplicate_puts_and_put_inside_delete_are_rejected() {
        let t = |ops| TxnRequest { success: ops, ..Default::default() };
        assert_eq!(txn(&t(vec![put_op("a"), put_op("a")]), 128), Err(EtcdError::DuplicateKey));
        assert_eq!(txn(&t(vec![del_op("a", "c"), put_op("b")]), 128), Err(EtcdError::DuplicateKey));
        assert_eq!(txn(&t(vec![del_op("a", ""), put_op("a")]), 128), Err(EtcdError::DuplicateKey));
        assert_eq!(txn(&t(vec![del_op("a", "b"), del_op("a", "c")]), 128), Ok(()));
        assert_eq!(txn(&t(vec![put_op("a"), put_op("b")]), 128), Ok(()));
        // The two branches of a nested txn may put the same key.
        assert_eq!(txn(&t(vec![txn_op(vec![put_op("x")], vec![put_op("x")])]), 128), Ok(()));
        assert_eq!(txn(&t(vec![put_op("x"), txn_op(vec![put_op("x")], vec![])]), 128), Err(EtcdError::DuplicateKey));
    }

    #[test]
    fn op_limits_and_empty_keys() {
        let ops: Vec<_> = (0..129).map(|i| put_op(&format!("k{i}"))).collect();
        let t = TxnRequest { success: ops, ..Default::default() };
        assert_eq!(txn(&t, 128), Err(EtcdError::TooManyOps));
        assert_eq!(txn(&t, 200), Ok(()));
        let empty = TxnRequest { success: vec![put_op("")], ..Default::default() };
        assert_eq!(txn(&empty, 128), Err(EtcdError::EmptyKey));
        let none = TxnRequest { success: vec![RequestOp { request: None }], ..Default::default() };
        assert_eq!(txn(&none, 128), Err(EtcdError::KeyNotFound));
    }

    #[test]
    fn range_stream_refuses_custom_sorts_and_revision_filters_as_etcd_3_7() {
        let r = |order: SortOrder, target: SortTarget| RangeRequest {
            key: b"k".to_vec(),
            sort_order: order as i32,
            sort_target: target as i32,
            ..Default::default()
        };
        assert_eq!(range_stream(&r(SortOrder::None, SortTarget::Key)), Ok(()));
        assert_eq!(range_stream(&r(SortOrder::None, SortTarget::Mod)), Ok(()));
        assert_eq!(range_stream(&r(SortOrder::Ascend, SortTarget::Key)), Ok(()));
        assert_eq!(range_stream(&r(SortOrder::Descend, SortTarget::Key)), Err(EtcdError::StreamCustomSort));
        assert_eq!(range_stream(&r(SortOrder::Ascend, SortTarget::Value)), Err(EtcdError::StreamCustomSort));
        let filtered = RangeRequest { key: b"k".to_vec(), min_mod_revision: 3, ..Default::default() };
        assert_eq!(range_stream(&filtered), Err(EtcdError::StreamRevisionFilters));
        assert_eq!(range_stream(&RangeRequest::default()), Err(EtcdError::EmptyKey));
    }
}
