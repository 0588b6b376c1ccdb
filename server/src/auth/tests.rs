//! The auth store against etcd's rules, through its apply methods and a
//! real database: revisions, root protections, permission checks, and what
//! survives a reload.

use std::sync::Arc;
use std::time::Duration;

use capstan_proto::authpb::{Permission, UserAddOptions, permission::Type as PermType};
use capstan_proto::etcdserverpb::*;

use super::simple::SimpleTokens;
use super::*;
use crate::storage::{Engine, WriteBatch};

struct Env {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    auth: AuthStore,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(&dir.path().join("db")).unwrap();
        let auth = AuthStore::open(&engine, Tokens::Simple(SimpleTokens::new(Duration::from_secs(300)))).unwrap();
        Env { _dir: dir, engine, auth }
    }

    /// Runs one change and commits its batch, as the state machine does.
    fn apply<T>(&self, f: impl FnOnce(&AuthStore, &mut Persist<'_>) -> T) -> T {
        let mut batch = WriteBatch::default();
        let out = f(&self.auth, &mut Persist { engine: &self.engine, batch: &mut batch });
        self.engine.write(batch, false).unwrap();
        out
    }

    fn add_user(&self, name: &str) -> Result<(), AuthError> {
        let r = AuthUserAddRequest { name: name.into(), hashed_password: "JDJhJA==".into(), ..Default::default() };
        self.apply(|a, w| a.user_add(w, &r))
    }

    fn add_role(&self, name: &str) -> Result<(), AuthError> {
        self.apply(|a, w| a.role_add(w, &AuthRoleAddRequest { name: name.into() }))
    }

    fn grant_role(&self, user: &str, role: &str) -> Result<(), AuthError> {
        self.apply(|a, w| a.user_grant_role(w, &AuthUserGrantRoleRequest { user: user.into(), role: role.into() }))
    }

    fn grant(&self, role: &str, t: PermType, key: &str, end: &[u8]) -> Result<(), AuthError> {
        let perm = Permission { perm_type: t as i32, key: key.into(), range_end: end.to_vec() };
        self.apply(|a, w| {
            a.role_grant_permission(w, &AuthRoleGrantPermissionRequest { name: role.into(), perm: Some(perm) })
        })
    }

    fn enable(&self) -> Result<(), AuthError> {
        self.apply(|a, w| a.enable(w))
    }

    fn who(&self, user: &str) -> AuthInfo {
        AuthInfo { user: user.into(), revision: self.auth.revision() }
    }
}

#[test]
fn enabling_needs_root_with_the_root_role_and_does_not_move_the_revision() {
    let env = Env::new();
    assert_eq!(env.auth.revision(), 1, "a fresh store is at revision 1");
    assert_eq!(env.enable(), Err(AuthError::RootUserNotExist));
    env.add_user("root").unwrap();
    assert_eq!(env.enable(), Err(AuthError::RootRoleNotExist));
    // Role root need not exist to be granted.
    env.grant_role("root", ROOT_ROLE).unwrap();
    let before = env.auth.revision();
    env.enable().unwrap();
    assert!(env.auth.is_enabled());
    assert_eq!(env.auth.revision(), before);
    env.enable().unwrap();
    assert!(env.apply(|a, w| a.disable(w)));
    assert_eq!(env.auth.revision(), before + 1, "disable moves the revision");
}

#[test]
fn every_change_moves_the_revision_but_a_duplicate_grant_does_not() {
    let env = Env::new();
    env.add_user("u").unwrap();
    env.add_role("r").unwrap();
    env.grant_role("u", "r").unwrap();
    assert_eq!(env.auth.revision(), 4);
    env.grant_role("u", "r").unwrap();
    assert_eq!(env.auth.revision(), 4);
    assert_eq!(env.add_user("u"), Err(AuthError::UserAlreadyExist));
    assert_eq!(env.add_role("r"), Err(AuthError::RoleAlreadyExist));
    assert_eq!(env.add_user(""), Err(AuthError::UserEmpty));
    assert_eq!(env.add_role(""), Err(AuthError::RoleEmpty));
    assert_eq!(env.grant_role("nobody", "r"), Err(AuthError::UserNotFound));
    assert_eq!(env.grant_role("u", "none"), Err(AuthError::RoleNotFound));
    assert_eq!(env.auth.revision(), 4, "refusals change nothing");
}

#[test]
fn root_cannot_be_taken_away_while_auth_is_on() {
    let env = Env::new();
    env.add_user("root").unwrap();
    env.add_role(ROOT_ROLE).unwrap();
    env.grant_role("root", ROOT_ROLE).unwrap();
    env.enable().unwrap();
    let del = AuthUserDeleteRequest { name: "root".into() };
    assert_eq!(env.apply(|a, w| a.user_delete(w, &del)), Err(AuthError::InvalidAuthMgmt));
    let revoke = AuthUserRevokeRoleRequest { name: "root".into(), role: ROOT_ROLE.into() };
    assert_eq!(env.apply(|a, w| a.user_revoke_role(w, &revoke)), Err(AuthError::InvalidAuthMgmt));
    let role_del = AuthRoleDeleteRequest { role: ROOT_ROLE.into() };
    assert_eq!(env.apply(|a, w| a.role_delete(w, &role_del)), Err(AuthError::InvalidAuthMgmt));
}

#[test]
fn permissions_are_checked_against_the_users_roles() {
    let env = Env::new();
    for u in ["root", "alice"] {
        env.add_user(u).unwrap();
    }
    env.grant_role("root", ROOT_ROLE).unwrap();
    env.add_role("prefix").unwrap();
    env.grant("prefix", PermType::Readwrite, "p/", b"p0").unwrap();
    env.grant_role("alice", "prefix").unwrap();
    env.enable().unwrap();
    let view = env.auth.view();
    let alice = env.who("alice");
    assert_eq!(view.check(&alice, Access::Write, b"p/x", b""), Ok(()));
    assert_eq!(view.check(&alice, Access::Read, b"p/", b"p0"), Ok(()));
    assert_eq!(view.check(&alice, Access::Read, b"q", b""), Err(AuthError::PermissionDenied));
    assert_eq!(view.check(&env.who("root"), Access::Write, b"anything", b"\0"), Ok(()));
    assert_eq!(view.check(&AuthInfo::default(), Access::Read, b"p/x", b""), Err(AuthError::UserEmpty));
    let old = AuthInfo { user: "alice".into(), revision: env.auth.revision() - 1 };
    assert_eq!(view.check(&old, Access::Read, b"p/x", b""), Err(AuthError::AuthOldRevision));
    assert_eq!(view.check_admin(Some(&alice)), Err(AuthError::PermissionDenied));
    assert_eq!(view.check_admin(None), Err(AuthError::UserEmpty));
    drop(view);
    // A permission revoked takes effect for the next check.
    let revoke =
        AuthRoleRevokePermissionRequest { role: "prefix".into(), key: b"p/".to_vec(), range_end: b"p0".to_vec() };
    env.apply(|a, w| a.role_revoke_permission(w, &revoke)).unwrap();
    assert_eq!(env.apply(|a, w| a.role_revoke_permission(w, &revoke)), Err(AuthError::PermissionNotGranted));
    let view = env.auth.view();
    assert_eq!(view.check(&env.who("alice"), Access::Write, b"p/x", b""), Err(AuthError::PermissionDenied));
}

#[test]
fn granting_an_existing_range_updates_its_type_and_bad_ranges_are_refused() {
    let env = Env::new();
    env.add_role("r").unwrap();
    env.grant("r", PermType::Read, "k", b"").unwrap();
    env.grant("r", PermType::Write, "k", b"").unwrap();
    env.grant("r", PermType::Read, "a", b"b").unwrap();
    let state = env.auth.view();
    let perms = &state.state().role("r").unwrap().key_permission;
    assert_eq!(perms.len(), 2);
    assert_eq!((perms[0].key.as_slice(), perms[1].perm_type), (&b"a"[..], PermType::Write as i32));
    drop(state);
    assert_eq!(env.grant("r", PermType::Read, "b", b"a"), Err(AuthError::InvalidAuthMgmt));
    assert_eq!(env.grant("r", PermType::Read, "", b""), Err(AuthError::InvalidAuthMgmt));
    let none = AuthRoleGrantPermissionRequest { name: "r".into(), perm: None };
    assert_eq!(env.apply(|a, w| a.role_grant_permission(w, &none)), Err(AuthError::PermissionNotGiven));
}

#[test]
fn deleting_a_role_takes_it_from_its_users() {
    let env = Env::new();
    env.add_user("u").unwrap();
    env.add_role("r").unwrap();
    env.grant_role("u", "r").unwrap();
    env.apply(|a, w| a.role_delete(w, &AuthRoleDeleteRequest { role: "r".into() })).unwrap();
    assert!(env.auth.view().state().user("u").unwrap().roles.is_empty());
}

#[test]
fn the_state_survives_a_reload_from_disk() {
    let env = Env::new();
    env.add_user("root").unwrap();
    env.grant_role("root", ROOT_ROLE).unwrap();
    env.add_role("r").unwrap();
    env.grant("r", PermType::Read, "k", b"").unwrap();
    let nopass = AuthUserAddRequest {
        name: "cn-only".into(),
        options: Some(UserAddOptions { no_password: true }),
        ..Default::default()
    };
    env.apply(|a, w| a.user_add(w, &nopass)).unwrap();
    env.enable().unwrap();
    let revision = env.auth.revision();
    let reopened = AuthStore::open(&env.engine, Tokens::None).unwrap();
    assert!(reopened.is_enabled());
    assert_eq!(reopened.revision(), revision);
    let view = reopened.view();
    assert_eq!(view.state().user_names(), vec!["cn-only", "root"]);
    assert_eq!(view.state().role("r").unwrap().key_permission.len(), 1);
    drop(view);
    assert_eq!(reopened.password_hash("cn-only").unwrap_err(), AuthError::NoPasswordUser);
    assert_eq!(reopened.authenticate("cn-only", "x", 1).unwrap_err(), AuthError::AuthFailed);
}

#[test]
fn simple_tokens_are_assigned_when_applied_and_dropped_with_the_user() {
    let env = Env::new();
    env.add_user("root").unwrap();
    env.grant_role("root", ROOT_ROLE).unwrap();
    env.add_user("bob").unwrap();
    assert_eq!(env.auth.authenticate("bob", "abc", 9).unwrap_err(), AuthError::AuthNotEnabled);
    env.enable().unwrap();
    let done = env.auth.authenticate("bob", "abcdefghijklmnop", 9).unwrap();
    let token = done.simple_token.unwrap();
    assert_eq!(token, "abcdefghijklmnop.9");
    assert_eq!(env.auth.tokens().info(&token, 5).map(|i| (i.user, i.revision)), Some(("bob".into(), 5)));
    env.apply(|a, w| a.user_delete(w, &AuthUserDeleteRequest { name: "bob".into() })).unwrap();
    assert_eq!(env.auth.tokens().info(&token, 5), None);
    assert_eq!(env.auth.authenticate("bob", "x", 10).unwrap_err(), AuthError::AuthFailed);
}
