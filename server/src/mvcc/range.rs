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

pub(super) fn range(st: &KvState, values: &dyn ValueSource, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
    let rev = read_revision(st, req.revision)?;
    let mut resp = range_at(st, values, req, rev)?;
    // Like etcd, the header carries the store's revision when the read was
    // served, taken under the same lock, so a list is never labelled with a
    // revision whose writes it does not contain.
    resp.header = Some(capstan_proto::etcdserverpb::ResponseHeader { revision: st.current, ..Default::default() });
    Ok(resp)
}

pub(super) fn range_at(st: &KvState, values: &dyn ValueSource, req: &RangeRequest, rev: i64) -> Result<RangeResponse, MvccError> {
    let mut found: Vec<(&[u8], IndexedRevision)> = st.index.range(&req.key, &req.range_end, rev);
    let count = found.len() as i64;
    if req.count_only {
        return Ok(RangeResponse { count, ..Default::default() });
    }

    let has_filters =
        req.min_mod_revision != 0 || req.max_mod_revision != 0 || req.min_create_revision != 0 || req.max_create_revision != 0;
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

    let mut kvs: Vec<KeyValue>;
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
        let revs: Vec<_> = found[..take].iter().map(|(_, r)| r.modified).collect();
        kvs = values.fetch(&revs)?;
    } else {
        let revs: Vec<_> = found.iter().map(|(_, r)| r.modified).collect();
        kvs = values.fetch(&revs)?;
        if order == SortOrder::Ascend {
            kvs.sort_by(|a, b| a.value.cmp(&b.value));
        } else {
            kvs.sort_by(|a, b| b.value.cmp(&a.value));
        }
    }

    let mut more = false;
    if req.limit > 0 && kvs.len() > req.limit as usize {
        kvs.truncate(req.limit as usize);
        more = true;
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse { header: None, kvs, more, count })
}
