//! Range reads with etcd's exact semantics for limit, count, more, sorting
//! and revision filters (etcd `v3_server` range + `mvcc` range).

use capstan_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use capstan_proto::etcdserverpb::{RangeRequest, RangeResponse};
use capstan_proto::mvccpb::KeyValue;

use super::{IndexedRevision, KvState, MvccError, ValueSource};

/// Resolves the revision a read is served at: `<= 0` means the newest.
pub(super) fn read_revision(st: &KvState, requested: i64) -> Result<i64, MvccError> {
    if requested <= 0 {
        return Ok(st.current);
    }
    if requested > st.current {
        return Err(MvccError::FutureRevision);
    }
    if requested < st.compacted {
        return Err(MvccError::Compacted);
    }
    Ok(requested)
}

/// What a range read returns, resolved from the in-memory index alone: the
/// revisions whose values are to be read, in answer order. Planned under the
/// store lock; the values are then read without it, from a view of the
/// database taken under the same lock (see [`super::KvStore::range`]).
pub(super) struct RangePlan {
    revs: Vec<super::Revision>,
    count: i64,
    /// Set when the answer is sorted by value: every matching value is read,
    /// then sorted.
    by_value: Option<SortOrder>,
    limit: i64,
    keys_only: bool,
    /// The revision reported in the header: the store's newest when the read
    /// was planned, so a list is never labelled with a revision whose writes
    /// it does not contain.
    pub(super) header_revision: Option<i64>,
}

/// Plans `req` at revision `rev` with etcd's semantics for limit, count,
/// more, sorting and revision filters.
pub(super) fn plan(st: &KvState, req: &RangeRequest, rev: i64) -> RangePlan {
    let mut found: Vec<(&[u8], IndexedRevision)> = st.index.range(&req.key, &req.range_end, rev);
    let count = found.len() as i64;
    let mut plan = RangePlan {
        revs: Vec::new(),
        count,
        by_value: None,
        limit: req.limit,
        keys_only: req.keys_only,
        header_revision: None,
    };
    if req.count_only {
        return plan;
    }

    let has_filters = req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    let requested_order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
    // Like etcd, the store only pre-truncates (to limit + 1) when the result
    // will be neither sorted nor filtered.
    if req.limit > 0 && requested_order == SortOrder::None && !has_filters {
        found.truncate(req.limit as usize + 1);
    }
    found.retain(|(_, r)| {
        let m = r.modified.main;
        let c = r.created;
        !(req.min_mod_revision > 0 && m < req.min_mod_revision
            || req.max_mod_revision > 0 && m > req.max_mod_revision
            || req.min_create_revision > 0 && c < req.min_create_revision
            || req.max_create_revision > 0 && c > req.max_create_revision)
    });

    let target = SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key);
    let order = match (target, requested_order) {
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None, // already key-ordered
        (SortTarget::Key, o) => o,
        (_, SortOrder::None) => SortOrder::Ascend,
        (_, o) => o,
    };

    if order == SortOrder::None || target != SortTarget::Value {
        // Sort (if needed) on index data, then read only what is returned.
        if order != SortOrder::None {
            let key_of = |e: &(&[u8], IndexedRevision)| -> i64 {
                match target {
                    SortTarget::Version => e.1.version,
                    SortTarget::Create => e.1.created,
                    _ => e.1.modified.main,
                }
            };
            if target == SortTarget::Key {
                found.sort_by(|a, b| b.0.cmp(a.0));
            } else if order == SortOrder::Ascend {
                found.sort_by_key(key_of);
            } else {
                found.sort_by_key(|e| std::cmp::Reverse(key_of(e)));
            }
        }
        let take = if req.limit > 0 { found.len().min(req.limit as usize + 1) } else { found.len() };
        plan.revs = found[..take].iter().map(|(_, r)| r.modified).collect();
    } else {
        plan.revs = found.iter().map(|(_, r)| r.modified).collect();
        plan.by_value = Some(order);
    }
    plan
}

impl RangePlan {
    /// Reads the planned values and builds the answer.
    pub(super) fn execute(self, values: &dyn ValueSource) -> Result<RangeResponse, MvccError> {
        let mut kvs: Vec<KeyValue> = if self.revs.is_empty() { Vec::new() } else { values.fetch(&self.revs)? };
        match self.by_value {
            Some(SortOrder::Ascend) => kvs.sort_by(|a, b| a.value.cmp(&b.value)),
            Some(_) => kvs.sort_by(|a, b| b.value.cmp(&a.value)),
            None => {}
        }
        let mut more = false;
        if self.limit > 0 && kvs.len() > self.limit as usize {
            kvs.truncate(self.limit as usize);
            more = true;
        }
        if self.keys_only {
            for kv in &mut kvs {
                kv.value.clear();
            }
        }
        let header = self
            .header_revision
            .map(|revision| capstan_proto::etcdserverpb::ResponseHeader { revision, ..Default::default() });
        Ok(RangeResponse { header, kvs, more, count: self.count })
    }
}

/// Plans and executes `req` at `rev` in one go (reads inside an apply, where
/// the caller holds the store exclusively anyway).
pub(super) fn range_at(
    st: &KvState,
    values: &dyn ValueSource,
    req: &RangeRequest,
    rev: i64,
) -> Result<RangeResponse, MvccError> {
    plan(st, req, rev).execute(values)
}
