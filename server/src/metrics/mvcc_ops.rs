//! The mvcc operations of one request, counted as etcd's `metricsTxnWrite`
//! counts them, so `etcd_mvcc_{range,put,delete,txn}_total` match etcd's
//! for the same requests.

use capstan_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, TxnRequest, TxnResponse, request_op, response_op};

/// The mvcc operations one request performed: etcd counts every range
/// (including a Put's or DeleteRange's read of the previous value and a
/// Txn's compares), put and delete of the request's mvcc transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MvccOps {
    pub ranges: u64,
    pub puts: u64,
    pub deletes: u64,
    /// Key plus value bytes of the puts.
    pub put_bytes: u64,
}

impl MvccOps {
    pub fn range() -> Self {
        Self { ranges: 1, ..Self::default() }
    }

    pub fn put(req: &PutRequest) -> Self {
        Self {
            ranges: u64::from(req.prev_kv || req.ignore_value || req.ignore_lease),
            puts: 1,
            deletes: 0,
            put_bytes: (req.key.len() + req.value.len()) as u64,
        }
    }

    pub fn delete_range(req: &DeleteRangeRequest) -> Self {
        Self { ranges: u64::from(req.prev_kv), deletes: 1, ..Self::default() }
    }

    /// The compares plus the operations of the branch that ran, nested txns
    /// included (`resp` says which branch ran at each level).
    pub fn txn(req: &TxnRequest, resp: &TxnResponse) -> Self {
        let mut ops = Self { ranges: req.compare.len() as u64, ..Self::default() };
        let branch = if resp.succeeded { &req.success } else { &req.failure };
        for (i, op) in branch.iter().enumerate() {
            let nested = match (&op.request, resp.responses.get(i).and_then(|r| r.response.as_ref())) {
                (Some(request_op::Request::RequestRange(_)), _) => Self::range(),
                (Some(request_op::Request::RequestPut(p)), _) => Self::put(p),
                (Some(request_op::Request::RequestDeleteRange(d)), _) => Self::delete_range(d),
                (Some(request_op::Request::RequestTxn(t)), Some(response_op::Response::ResponseTxn(r))) => {
                    Self::txn(t, r)
                }
                _ => Self::default(),
            };
            ops.ranges += nested.ranges;
            ops.puts += nested.puts;
            ops.deletes += nested.deletes;
            ops.put_bytes += nested.put_bytes;
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn mvcc_ops_of_requests() {
        use capstan_proto::etcdserverpb::{Compare, RangeRequest, RequestOp, ResponseOp};
        let put = PutRequest { key: b"k".to_vec(), value: b"vv".to_vec(), prev_kv: true, ..Default::default() };
        assert_eq!(MvccOps::put(&put), MvccOps { ranges: 1, puts: 1, deletes: 0, put_bytes: 3 });
        let op = |r: request_op::Request| RequestOp { request: Some(r) };
        let inner = TxnRequest {
            success: vec![op(request_op::Request::RequestDeleteRange(DeleteRangeRequest::default()))],
            failure: vec![op(request_op::Request::RequestRange(RangeRequest::default()))],
            ..Default::default()
        };
        let outer = TxnRequest {
            compare: vec![Compare::default(), Compare::default()],
            success: vec![op(request_op::Request::RequestPut(put.clone())), op(request_op::Request::RequestTxn(inner))],
            failure: vec![op(request_op::Request::RequestRange(RangeRequest::default()))],
        };
        let inner_resp = TxnResponse { succeeded: true, ..Default::default() };
        let resp = TxnResponse {
            succeeded: true,
            responses: vec![
                ResponseOp::default(),
                ResponseOp { response: Some(response_op::Response::ResponseTxn(inner_resp)) },
            ],
            ..Default::default()
        };
        assert_eq!(MvccOps::txn(&outer, &resp), MvccOps { ranges: 3, puts: 1, deletes: 1, put_bytes: 3 });
        let failed = TxnResponse { succeeded: false, ..Default::default() };
        assert_eq!(MvccOps::txn(&outer, &failed), MvccOps { ranges: 3, ..Default::default() });
        let m = Metrics::new();
        m.record_mvcc(MvccOps::txn(&outer, &resp));
        assert_eq!((m.range_total.get(), m.put_total.get(), m.delete_total.get(), m.txn_total.get()), (3, 1, 1, 1));
    }
}
