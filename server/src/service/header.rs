use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use capstan_proto::etcdserverpb::ResponseHeader;

/// Fills the header every etcd response carries: cluster and member ids, the
/// revision the response reflects and the member's current Raft term.
#[derive(Debug, Clone)]
pub struct HeaderFactory {
    cluster_id: u64,
    member_id: u64,
    term: Arc<AtomicU64>,
}

impl HeaderFactory {
    pub fn new(cluster_id: u64, member_id: u64) -> Self {
        Self { cluster_id, member_id, term: Arc::new(AtomicU64::new(0)) }
    }

    /// Records the term the member last observed (called on Raft metric changes).
    pub fn set_term(&self, term: u64) {
        self.term.store(term, Ordering::Relaxed);
    }

    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }

    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader { cluster_id: self.cluster_id, member_id: self.member_id, revision, raft_term: self.term() }
    }
}
