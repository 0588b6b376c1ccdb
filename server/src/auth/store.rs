//! The replicated auth state: whether auth is on, the auth revision, users
//! and roles, each change applied by the Raft state machine in the same
//! RocksDB batch as the entry's other effects (column family `auth`).
//!
//! The rules are etcd's (`server/auth/store.go`): the revision starts at 1
//! and moves on every successful user, role or permission change and on
//! disable (not on enable, authenticate or a duplicate role grant); `root`
//! must exist and hold role `root` before auth is enabled, and neither may
//! be taken away while it is on; role `root` need not exist to be granted.
//! Permissions are cached per user as merged interval sets ([`UserPerms`]),
//! rebuilt on every change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use capstan_proto::authpb::{Permission, Role, User, UserAddOptions, permission::Type as PermType};
use capstan_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest,
    AuthUserAddRequest, AuthUserChangePasswordRequest, AuthUserDeleteRequest, AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest,
};
use parking_lot::{RwLock, RwLockReadGuard};
use prost::Message;

use super::perms::{Access, UserPerms, is_valid_range};
use super::{AuthError, AuthInfo, Tokens};
use crate::storage::schema::auth as keys;
use crate::storage::{Cf, Engine, StorageError, WriteBatch};

pub const ROOT_USER: &str = "root";
pub const ROOT_ROLE: &str = "root";

/// What `RoleGet("root")` shows: everything, read and write.
pub fn root_permission() -> Permission {
    Permission { perm_type: PermType::Readwrite as i32, key: Vec::new(), range_end: vec![0] }
}

/// Users and roles with each user's merged permissions.
#[derive(Debug, Default)]
pub struct AuthState {
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    perms: HashMap<String, Arc<UserPerms>>,
}

impl AuthState {
    fn refresh_perms(&mut self) {
        let roles = &self.roles;
        self.perms = self
            .users
            .iter()
            .map(|(name, user)| {
                let perms = user.roles.iter().filter_map(|r| roles.get(r)).flat_map(|r| r.key_permission.iter());
                (name.clone(), Arc::new(UserPerms::from_permissions(perms)))
            })
            .collect();
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    pub fn user_names(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// Whether `user` exists and holds `role`.
    pub fn has_role(&self, user: &str, role: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.iter().any(|r| r == role))
    }
}

fn has_root_role(user: &User) -> bool {
    user.roles.binary_search_by(|r| r.as_str().cmp(ROOT_ROLE)).is_ok()
}

/// What an applied Authenticate gives the member that proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The auth revision at authentication (a JWT's `revision` claim).
    pub revision: u64,
    /// The token, with simple tokens; JWTs are signed by the proposer.
    pub simple_token: Option<String>,
}

/// Where an applied change is written: the batch of the entry being applied.
pub struct Persist<'a> {
    pub engine: &'a Engine,
    pub batch: &'a mut WriteBatch,
}

impl Persist<'_> {
    fn put_user(&mut self, user: &User) {
        self.batch.put(self.engine, Cf::Auth, keys::user(&user.name), user.encode_to_vec());
    }
    fn delete_user(&mut self, name: &str) {
        self.batch.delete(self.engine, Cf::Auth, keys::user(name.as_bytes()));
    }
    fn put_role(&mut self, role: &Role) {
        self.batch.put(self.engine, Cf::Auth, keys::role(&role.name), role.encode_to_vec());
    }
    fn delete_role(&mut self, name: &str) {
        self.batch.delete(self.engine, Cf::Auth, keys::role(name.as_bytes()));
    }
}

/// The auth state of one member.
#[derive(Debug)]
pub struct AuthStore {
    /// Read on every request; kept outside the lock.
    enabled: AtomicBool,
    revision: AtomicU64,
    state: RwLock<AuthState>,
    tokens: Tokens,
    /// Counts changes (every revision move, and enable, which moves none),
    /// so open watches re-check their permissions.
    changes: tokio::sync::watch::Sender<u64>,
}

/// A consistent read of the auth state for checking one request.
pub struct AuthView<'a> {
    enabled: bool,
    revision: u64,
    state: RwLockReadGuard<'a, AuthState>,
}

impl AuthStore {
    /// Reads the auth state from the database (a fresh one: disabled, revision 1).
    pub fn open(engine: &Engine, tokens: Tokens) -> Result<Self, StorageError> {
        let store = AuthStore {
            enabled: AtomicBool::new(false),
            revision: AtomicU64::new(1),
            state: Default::default(),
            tokens,
            changes: tokio::sync::watch::Sender::new(0),
        };
        store.reload(engine)?;
        Ok(store)
    }

    /// Replaces the in-memory state with the database's (after a snapshot install).
    pub fn reload(&self, engine: &Engine) -> Result<(), StorageError> {
        let enabled = engine.get_decoded(Cf::Auth, keys::ENABLED, |b| match b {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        })?;
        let revision = engine.get_decoded(Cf::Auth, keys::REVISION, crate::storage::schema::decode_u64_exact)?;
        let mut state = AuthState::default();
        let mut corrupt = None;
        engine.scan_all(Cf::Auth, |k, v| {
            let decoded = if let Some(name) = k.strip_prefix(keys::USER_PREFIX) {
                User::decode(v).ok().map(|u| {
                    state.users.insert(String::from_utf8_lossy(name).into_owned(), u);
                })
            } else if let Some(name) = k.strip_prefix(keys::ROLE_PREFIX) {
                Role::decode(v).ok().map(|r| {
                    state.roles.insert(String::from_utf8_lossy(name).into_owned(), r);
                })
            } else {
                Some(())
            };
            if decoded.is_none() {
                corrupt = Some(format!("auth record {:?} does not decode", String::from_utf8_lossy(k)));
            }
            decoded.is_some()
        })?;
        if let Some(reason) = corrupt {
            return Err(StorageError::Corrupt { cf: Cf::Auth, reason });
        }
        state.refresh_perms();
        *self.state.write() = state;
        self.enabled.store(enabled.unwrap_or(false), Ordering::Release);
        self.revision.store(revision.unwrap_or(1).max(1), Ordering::Release);
        self.changed();
        Ok(())
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    pub fn view(&self) -> AuthView<'_> {
        let state = self.state.read();
        AuthView { enabled: self.is_enabled(), revision: self.revision(), state }
    }

    fn commit_revision(&self, w: &mut Persist<'_>) {
        let rev = self.revision.fetch_add(1, Ordering::AcqRel) + 1;
        w.batch.put(w.engine, Cf::Auth, keys::REVISION, rev.to_be_bytes());
        self.changed();
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Wakes on every change of users, roles, permissions or the enabled flag.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    // --- changes, applied by the state machine ------------------------------

    pub fn enable(&self, w: &mut Persist<'_>) -> Result<(), AuthError> {
        if self.is_enabled() {
            return Ok(());
        }
        let state = self.state.read();
        let root = state.users.get(ROOT_USER).ok_or(AuthError::RootUserNotExist)?;
        if !has_root_role(root) {
            return Err(AuthError::RootRoleNotExist);
        }
        w.batch.put(w.engine, Cf::Auth, keys::ENABLED, [1]);
        // The revision record is written once, so a restart reads it back.
        w.batch.put(w.engine, Cf::Auth, keys::REVISION, self.revision().to_be_bytes());
        self.enabled.store(true, Ordering::Release);
        self.changed();
        tracing::info!("enabled authentication");
        Ok(())
    }

    /// Turns auth off; returns whether it was on (tokens are then dropped).
    pub fn disable(&self, w: &mut Persist<'_>) -> bool {
        if !self.is_enabled() {
            return false;
        }
        w.batch.put(w.engine, Cf::Auth, keys::ENABLED, [0]);
        self.commit_revision(w);
        self.enabled.store(false, Ordering::Release);
        self.tokens.clear();
        tracing::info!("disabled authentication");
        true
    }

    /// Adds a user. The password arrives hashed (`hashed_password`, base64 of
    /// the bcrypt hash): the API layer hashes it so the log never holds it.
    pub fn user_add(&self, w: &mut Persist<'_>, r: &AuthUserAddRequest) -> Result<(), AuthError> {
        if r.name.is_empty() {
            return Err(AuthError::UserEmpty);
        }
        let mut state = self.state.write();
        if state.users.contains_key(&r.name) {
            return Err(AuthError::UserAlreadyExist);
        }
        let options = r.options.unwrap_or(UserAddOptions { no_password: false });
        let password = if options.no_password { Vec::new() } else { decode_hash(&r.hashed_password)? };
        let user = User { name: r.name.clone().into_bytes(), password, roles: Vec::new(), options: Some(options) };
        w.put_user(&user);
        state.users.insert(r.name.clone(), user);
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(user = %r.name, "added a user");
        Ok(())
    }

    pub fn user_delete(&self, w: &mut Persist<'_>, r: &AuthUserDeleteRequest) -> Result<(), AuthError> {
        if self.is_enabled() && r.name == ROOT_USER {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut state = self.state.write();
        state.users.remove(&r.name).ok_or(AuthError::UserNotFound)?;
        w.delete_user(&r.name);
        self.commit_revision(w);
        state.refresh_perms();
        self.tokens.invalidate_user(&r.name);
        tracing::info!(user = %r.name, "deleted a user");
        Ok(())
    }

    pub fn user_change_password(
        &self,
        w: &mut Persist<'_>,
        r: &AuthUserChangePasswordRequest,
    ) -> Result<(), AuthError> {
        let mut state = self.state.write();
        let user = state.users.get_mut(&r.name).ok_or(AuthError::UserNotFound)?;
        let no_password = user.options.is_some_and(|o| o.no_password);
        user.password = if no_password { Vec::new() } else { decode_hash(&r.hashed_password)? };
        w.put_user(user);
        self.commit_revision(w);
        state.refresh_perms();
        self.tokens.invalidate_user(&r.name);
        tracing::info!(user = %r.name, "changed the password of a user");
        Ok(())
    }

    pub fn user_grant_role(&self, w: &mut Persist<'_>, r: &AuthUserGrantRoleRequest) -> Result<(), AuthError> {
        let mut state = self.state.write();
        if !state.users.contains_key(&r.user) {
            return Err(AuthError::UserNotFound);
        }
        if r.role != ROOT_ROLE && !state.roles.contains_key(&r.role) {
            return Err(AuthError::RoleNotFound);
        }
        let user = state.users.get_mut(&r.user).expect("checked above");
        match user.roles.binary_search(&r.role) {
            Ok(_) => return Ok(()),
            Err(at) => user.roles.insert(at, r.role.clone()),
        }
        w.put_user(user);
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(user = %r.user, role = %r.role, "granted a role to a user");
        Ok(())
    }

    pub fn user_revoke_role(&self, w: &mut Persist<'_>, r: &AuthUserRevokeRoleRequest) -> Result<(), AuthError> {
        if self.is_enabled() && r.name == ROOT_USER && r.role == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut state = self.state.write();
        let user = state.users.get_mut(&r.name).ok_or(AuthError::UserNotFound)?;
        let before = user.roles.len();
        user.roles.retain(|role| *role != r.role);
        if user.roles.len() == before {
            return Err(AuthError::RoleNotGranted);
        }
        w.put_user(user);
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(user = %r.name, role = %r.role, "revoked a role from a user");
        Ok(())
    }

    pub fn role_add(&self, w: &mut Persist<'_>, r: &AuthRoleAddRequest) -> Result<(), AuthError> {
        if r.name.is_empty() {
            return Err(AuthError::RoleEmpty);
        }
        let mut state = self.state.write();
        if state.roles.contains_key(&r.name) {
            return Err(AuthError::RoleAlreadyExist);
        }
        let role = Role { name: r.name.clone().into_bytes(), key_permission: Vec::new() };
        w.put_role(&role);
        state.roles.insert(r.name.clone(), role);
        self.commit_revision(w);
        tracing::info!(role = %r.name, "created a role");
        Ok(())
    }

    pub fn role_delete(&self, w: &mut Persist<'_>, r: &AuthRoleDeleteRequest) -> Result<(), AuthError> {
        if self.is_enabled() && r.role == ROOT_ROLE {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut state = self.state.write();
        state.roles.remove(&r.role).ok_or(AuthError::RoleNotFound)?;
        w.delete_role(&r.role);
        for user in state.users.values_mut() {
            let before = user.roles.len();
            user.roles.retain(|role| *role != r.role);
            if user.roles.len() != before {
                w.put_user(user);
            }
        }
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(role = %r.role, "deleted a role");
        Ok(())
    }

    pub fn role_grant_permission(
        &self,
        w: &mut Persist<'_>,
        r: &AuthRoleGrantPermissionRequest,
    ) -> Result<(), AuthError> {
        let perm = r.perm.as_ref().ok_or(AuthError::PermissionNotGiven)?;
        if !is_valid_range(&perm.key, &perm.range_end) {
            return Err(AuthError::InvalidAuthMgmt);
        }
        let mut state = self.state.write();
        let role = state.roles.get_mut(&r.name).ok_or(AuthError::RoleNotFound)?;
        let at = role.key_permission.partition_point(|p| p.key < perm.key);
        match role.key_permission.get_mut(at) {
            Some(p) if p.key == perm.key && p.range_end == perm.range_end => p.perm_type = perm.perm_type,
            _ => {
                role.key_permission.push(perm.clone());
                // etcd sorts by key only (a stable sort keeps equal keys in grant order).
                role.key_permission.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        w.put_role(role);
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(role = %r.name, key = %String::from_utf8_lossy(&perm.key), "granted a permission to a role");
        Ok(())
    }

    pub fn role_revoke_permission(
        &self,
        w: &mut Persist<'_>,
        r: &AuthRoleRevokePermissionRequest,
    ) -> Result<(), AuthError> {
        let mut state = self.state.write();
        let role = state.roles.get_mut(&r.role).ok_or(AuthError::RoleNotFound)?;
        let before = role.key_permission.len();
        role.key_permission.retain(|p| !(p.key == r.key && p.range_end == r.range_end));
        if role.key_permission.len() == before {
            return Err(AuthError::PermissionNotGranted);
        }
        w.put_role(role);
        self.commit_revision(w);
        state.refresh_perms();
        tracing::info!(role = %r.role, key = %String::from_utf8_lossy(&r.key), "revoked a permission from a role");
        Ok(())
    }

    /// The apply half of Authenticate: the password was checked by the
    /// member that proposed it; here the user must still exist and have a
    /// password. Returns the auth revision it was authenticated at.
    ///
    /// With simple tokens every member assigns the token `prefix.index`
    /// here, so any member accepts it once it has applied the entry.
    pub fn authenticate(&self, name: &str, prefix: &str, index: u64) -> Result<Authenticated, AuthError> {
        if !self.is_enabled() {
            return Err(AuthError::AuthNotEnabled);
        }
        let state = self.state.read();
        let user = state.users.get(name).ok_or(AuthError::AuthFailed)?;
        if user.options.is_some_and(|o| o.no_password) {
            return Err(AuthError::AuthFailed);
        }
        let simple_token = match &self.tokens {
            Tokens::Simple(simple) => {
                let token = super::simple::SimpleTokens::token(prefix, index);
                simple.assign(token.clone(), name, std::time::Instant::now());
                Some(token)
            }
            _ => None,
        };
        Ok(Authenticated { revision: self.revision(), simple_token })
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The stored bcrypt hash of `name`'s password and the revision it was
    /// read at (for checking a password outside the state machine).
    pub fn password_hash(&self, name: &str) -> Result<(Vec<u8>, u64), AuthError> {
        if !self.is_enabled() {
            return Err(AuthError::AuthNotEnabled);
        }
        let state = self.state.read();
        let user = state.users.get(name).ok_or(AuthError::AuthFailed)?;
        if user.options.is_some_and(|o| o.no_password) {
            return Err(AuthError::NoPasswordUser);
        }
        Ok((user.password.clone(), self.revision()))
    }
}

/// The hash field of a user request: base64 of the bcrypt hash. etcd
/// answers an undecodable one as a password given for a no-password user.
fn decode_hash(hashed: &str) -> Result<Vec<u8>, AuthError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(hashed).map_err(|_| AuthError::NoPasswordUser)
}

impl AuthView<'_> {
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn state(&self) -> &AuthState {
        &self.state
    }

    /// etcd's `isOpPermitted`: `who` may do `access` on `[key, range_end)`
    /// (or on `key` alone when `range_end` is empty).
    pub fn check(&self, who: &AuthInfo, access: Access, key: &[u8], range_end: &[u8]) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        if who.revision == 0 {
            return Err(AuthError::UserEmpty);
        }
        if who.revision < self.revision {
            return Err(AuthError::AuthOldRevision);
        }
        let user = self.state.users.get(&who.user).ok_or(AuthError::PermissionDenied)?;
        if has_root_role(user) {
            return Ok(());
        }
        match self.state.perms.get(&who.user) {
            Some(perms) if perms.allows(access, key, range_end) => Ok(()),
            _ => Err(AuthError::PermissionDenied),
        }
    }

    /// etcd's `IsAdminPermitted`: `who` holds role root.
    pub fn check_admin(&self, who: Option<&AuthInfo>) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let who = who.filter(|w| !w.user.is_empty()).ok_or(AuthError::UserEmpty)?;
        let user = self.state.users.get(&who.user).ok_or(AuthError::UserNotFound)?;
        if has_root_role(user) { Ok(()) } else { Err(AuthError::PermissionDenied) }
    }

    pub fn is_admin(&self, who: Option<&AuthInfo>) -> bool {
        self.check_admin(who).is_ok()
    }
}
