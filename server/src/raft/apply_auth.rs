//! The state machine's share of auth: changes to users, roles and the
//! enabled flag, Authenticate entries, and the checks etcd makes when an
//! entry is applied (`server/etcdserver/apply/auth.go`): writes against the
//! permissions current at apply time and the auth revision the proposer
//! saw, management requests for role root.

use capstan_proto::capstanpb::{AuthHeader, internal_request::Request};

use super::state_machine::{AppliedOutput, ApplyError};
use crate::auth::{AuthInfo, AuthStore, Persist, check};
use crate::lease::Lessor;

/// Who proposed an entry (nobody when it carries no header).
pub fn proposer(header: Option<AuthHeader>) -> AuthInfo {
    header.map(|h| AuthInfo { user: h.username, revision: h.revision }).unwrap_or_default()
}

/// Refuses `request` if `who` may not make it. A no-op while auth is off.
pub fn authorize(auth: &AuthStore, who: &AuthInfo, request: &Request, lessor: &Lessor) -> Result<(), ApplyError> {
    if !auth.is_enabled() {
        return Ok(());
    }
    let view = auth.view();
    let leases = |id: i64| lessor.keys(id);
    let checked = match request {
        Request::Put(p) => check::put(&view, who, &leases, p),
        Request::DeleteRange(d) => check::delete_range(&view, who, d),
        Request::Txn(t) => check::txn(&view, who, &leases, t),
        Request::LeaseRevoke(r) => check::lease_keys_writable(&view, who, &leases, r.id),
        Request::AuthEnable(_)
        | Request::AuthDisable(_)
        | Request::AuthUserAdd(_)
        | Request::AuthUserDelete(_)
        | Request::AuthUserChangePassword(_)
        | Request::AuthUserGrantRole(_)
        | Request::AuthUserRevokeRole(_)
        | Request::AuthRoleAdd(_)
        | Request::AuthRoleDelete(_)
        | Request::AuthRoleGrantPermission(_)
        | Request::AuthRoleRevokePermission(_) => view.check_admin(Some(who)),
        _ => Ok(()),
    };
    checked.map_err(ApplyError::Auth)
}

/// Applies an auth request; `None` if `request` is not one.
pub fn apply(
    auth: &AuthStore,
    w: &mut Persist<'_>,
    request: &Request,
    index: u64,
) -> Option<Result<AppliedOutput, ApplyError>> {
    let changed = |r: Result<(), crate::auth::AuthError>| r.map(|()| AppliedOutput::AuthChanged);
    let out = match request {
        Request::AuthEnable(_) => changed(auth.enable(w)),
        Request::AuthDisable(_) => {
            auth.disable(w);
            Ok(AppliedOutput::AuthChanged)
        }
        Request::AuthUserAdd(r) => changed(auth.user_add(w, r)),
        Request::AuthUserDelete(r) => changed(auth.user_delete(w, r)),
        Request::AuthUserChangePassword(r) => changed(auth.user_change_password(w, r)),
        Request::AuthUserGrantRole(r) => changed(auth.user_grant_role(w, r)),
        Request::AuthUserRevokeRole(r) => changed(auth.user_revoke_role(w, r)),
        Request::AuthRoleAdd(r) => changed(auth.role_add(w, r)),
        Request::AuthRoleDelete(r) => changed(auth.role_delete(w, r)),
        Request::AuthRoleGrantPermission(r) => changed(auth.role_grant_permission(w, r)),
        Request::AuthRoleRevokePermission(r) => changed(auth.role_revoke_permission(w, r)),
        Request::Authenticate(a) => {
            auth.authenticate(&a.name, &a.simple_token_prefix, index).map(AppliedOutput::Authenticated)
        }
        _ => return None,
    };
    Some(out.map_err(ApplyError::Auth))
}
