//! Which permissions each key-space request needs, as etcd decides
//! (`server/etcdserver/apply/auth.go`): READ on what a request reads, WRITE
//! on what it writes, both branches of a txn and every compare, recursively;
//! a put or revoke touching a lease needs WRITE on every key already
//! attached to it (unless the user is root).

use capstan_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest, request_op};

use super::perms::Access;
use super::{AuthError, AuthInfo, AuthView};

/// The keys attached to a lease (none for an unknown lease or lease 0).
pub type LeaseKeys<'a> = &'a dyn Fn(i64) -> Vec<Vec<u8>>;

pub fn range(view: &AuthView<'_>, who: &AuthInfo, r: &RangeRequest) -> Result<(), AuthError> {
    view.check(who, Access::Read, &r.key, &r.range_end)
}

pub fn put(view: &AuthView<'_>, who: &AuthInfo, leases: LeaseKeys<'_>, r: &PutRequest) -> Result<(), AuthError> {
    view.check(who, Access::Write, &r.key, &[])?;
    lease_keys_writable(view, who, leases, r.lease)?;
    if r.prev_kv {
        view.check(who, Access::Read, &r.key, &[])?;
    }
    Ok(())
}

pub fn delete_range(view: &AuthView<'_>, who: &AuthInfo, r: &DeleteRangeRequest) -> Result<(), AuthError> {
    view.check(who, Access::Write, &r.key, &r.range_end)?;
    if r.prev_kv {
        view.check(who, Access::Read, &r.key, &r.range_end)?;
    }
    Ok(())
}

pub fn txn(view: &AuthView<'_>, who: &AuthInfo, leases: LeaseKeys<'_>, t: &TxnRequest) -> Result<(), AuthError> {
    for c in &t.compare {
        view.check(who, Access::Read, &c.key, &c.range_end)?;
    }
    for op in t.success.iter().chain(&t.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(r)) => range(view, who, r)?,
            Some(request_op::Request::RequestPut(p)) => put(view, who, leases, p)?,
            Some(request_op::Request::RequestDeleteRange(d)) => {
                // etcd checks READ first here (unlike a plain DeleteRange).
                if d.prev_kv {
                    view.check(who, Access::Read, &d.key, &d.range_end)?;
                }
                view.check(who, Access::Write, &d.key, &d.range_end)?;
            }
            Some(request_op::Request::RequestTxn(inner)) => txn(view, who, leases, inner)?,
            None => {}
        }
    }
    Ok(())
}

/// etcd's `checkLeasePuts`: WRITE on every key attached to `lease`, unless
/// `who` is an admin.
pub fn lease_keys_writable(
    view: &AuthView<'_>,
    who: &AuthInfo,
    leases: LeaseKeys<'_>,
    lease: i64,
) -> Result<(), AuthError> {
    if lease == 0 || !view.enabled() {
        return Ok(());
    }
    let keys = leases(lease);
    if keys.is_empty() || view.is_admin(Some(who)) {
        return Ok(());
    }
    keys.iter().try_for_each(|k| view.check(who, Access::Write, k, &[]))
}

/// READ on every key attached to the leases (TimeToLive with keys, Leases),
/// unless `who` is an admin.
pub fn lease_keys_readable<'k>(
    view: &AuthView<'_>,
    who: &AuthInfo,
    keys: impl IntoIterator<Item = &'k [u8]>,
) -> Result<(), AuthError> {
    if !view.enabled() || view.is_admin(Some(who)) {
        return Ok(());
    }
    keys.into_iter().try_for_each(|k| view.check(who, Access::Read, k, &[]))
}
