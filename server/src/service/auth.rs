//! Authentication on the request path: who a request is from (etcd's
//! `AuthInfoFromCtx`: a token, else with `--client-cert-auth` the client
//! certificate's common name), the checks etcd makes before a request is
//! served, and the Auth service's requests. Writes are checked again when
//! applied (`raft::apply_auth`), against the permissions of that moment.

use std::sync::Arc;

use capstan_proto::authpb::Permission;
use capstan_proto::capstanpb::AuthenticateEntry;
use capstan_proto::capstanpb::internal_request::Request;
use capstan_proto::etcdserverpb::{AuthUserAddRequest, AuthUserChangePasswordRequest};

use super::{EtcdError, Server, ServiceError};
use crate::auth::simple::SimpleTokens;
use crate::auth::{AuthError, AuthInfo, AuthStore, AuthView, ROOT_ROLE, Tokens, root_permission};
use crate::raft::AppliedOutput;

/// What a request carries that may name its user.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The `token` (gRPC) or `authorization` (gateway) metadata.
    pub token: Option<String>,
    /// The verified client certificate's common name (gRPC over TLS only;
    /// etcd ignores it for gateway requests).
    pub common_name: Option<Arc<str>>,
}

/// A user change that carries a password: hashed here, before the proposal.
pub enum PasswordChange {
    Add(AuthUserAddRequest),
    Change(AuthUserChangePasswordRequest),
}

impl AuthInfo {
    /// The member itself, for what it proposes on its own (expired lease
    /// revokes): etcd proposes those with a root token (`WithRoot`).
    pub fn member() -> Self {
        AuthInfo { user: crate::auth::ROOT_USER.to_owned(), revision: u64::MAX }
    }
}

impl Server {
    pub fn auth(&self) -> &Arc<AuthStore> {
        &self.auth
    }

    /// etcd's `AuthInfoFromCtx`: nobody while auth is off or nothing names a
    /// user; a token that names nobody is refused. A simple token made at a
    /// Raft index this member has not applied yet is waited for (within the
    /// request timeout), so a client may use a token on any member at once.
    pub async fn caller(&self, creds: &Credentials) -> Result<Option<AuthInfo>, ServiceError> {
        self.wait_for_token(creds).await;
        self.resolve(creds)
    }

    /// Waits until this member has applied the entry that made the simple
    /// token in `creds`, if any (at most the request timeout).
    pub async fn wait_for_token(&self, creds: &Credentials) {
        if !self.auth.is_enabled() {
            return;
        }
        let index = creds.token.as_deref().map(strip_bearer).and_then(SimpleTokens::index_of);
        if let (Tokens::Simple(_), Some(index)) = (self.auth.tokens(), index) {
            // Nearly always applied already: answered without a waiter or a timer.
            let applied = self.raft.metrics().borrow().last_applied.map_or(0, |l| l.index);
            if applied < index {
                let _ = tokio::time::timeout(self.options.request_timeout, self.wait_applied(index)).await;
            }
        }
    }

    /// [`Server::caller`] without waiting.
    pub fn resolve(&self, creds: &Credentials) -> Result<Option<AuthInfo>, ServiceError> {
        if !self.auth.is_enabled() {
            return Ok(None);
        }
        if let Some(token) = &creds.token {
            let token = strip_bearer(token);
            return match self.auth.tokens().info(token, self.auth.revision()) {
                Some(info) => Ok(Some(info)),
                None => {
                    tracing::warn!(token_fingerprint = %fingerprint(token), "invalid auth token");
                    Err(AuthError::InvalidAuthToken.into())
                }
            };
        }
        if self.options.client_cert_auth
            && let Some(cn) = &creds.common_name
        {
            return Ok(Some(AuthInfo { user: cn.to_string(), revision: self.auth.revision() }));
        }
        Ok(None)
    }

    /// etcd's `requireAuthInfo`: with auth on, some user must be named.
    pub fn require_user(&self, who: Option<&AuthInfo>) -> Result<(), ServiceError> {
        if self.auth.is_enabled() && who.is_none() {
            return Err(AuthError::UserEmpty.into());
        }
        Ok(())
    }

    /// etcd's `IsAdminPermitted`: with auth on, the user holds role root.
    pub fn require_admin(&self, who: Option<&AuthInfo>) -> Result<(), ServiceError> {
        Ok(self.auth.view().check_admin(who)?)
    }

    /// Runs a read-only check against the auth state, then `read`, and
    /// refuses the answer if the auth revision moved meanwhile (etcd's
    /// `doSerialize`): a permission revoked during the read is not bypassed.
    pub fn authorized_read<T>(
        &self,
        who: Option<&AuthInfo>,
        check: impl FnOnce(&AuthView<'_>, &AuthInfo) -> Result<(), AuthError>,
        read: impl FnOnce() -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        if !self.auth.is_enabled() {
            return read();
        }
        let nobody = AuthInfo::default();
        let who = who.unwrap_or(&nobody);
        check(&self.auth.view(), who)?;
        let out = read()?;
        if who.revision != 0 && who.revision != self.auth.revision() {
            return Err(AuthError::AuthOldRevision.into());
        }
        Ok(out)
    }

    /// Authenticate: the password is checked here, outside the log (which
    /// never holds it), then an entry makes the token; if the auth store
    /// changed between the two, again (etcd `v3_server.go` Authenticate).
    pub async fn authenticate(&self, name: &str, password: &str) -> Result<String, ServiceError> {
        self.before_read(false).await?;
        loop {
            let (hash, checked_at) = self.auth.password_hash(name)?;
            if !self.passwords.matches(hash, password.to_owned()).await {
                tracing::info!(user = %name, "invalid password");
                return Err(AuthError::AuthFailed.into());
            }
            if let Tokens::Jwt(jwt) = self.auth.tokens()
                && !jwt.can_sign()
            {
                return Err(AuthError::VerifyOnly.into());
            }
            let entry = AuthenticateEntry { name: name.to_owned(), simple_token_prefix: SimpleTokens::new_prefix() };
            let (out, _) = self.propose(None, Request::Authenticate(entry)).await?;
            let AppliedOutput::Authenticated(done) = out else {
                return Err(ServiceError::Etcd(EtcdError::UnexpectedApplyResult));
            };
            if checked_at != self.auth.revision() {
                tracing::info!("revision when password checked became stale; retrying");
                continue;
            }
            let token = match (self.auth.tokens(), done.simple_token) {
                (_, Some(token)) => token,
                (Tokens::Jwt(jwt), None) => {
                    jwt.sign(name, done.revision, std::time::SystemTime::now()).ok_or(AuthError::VerifyOnly)?
                }
                // etcd's nop provider has no tokens to give.
                (Tokens::None | Tokens::Simple(_), None) => return Err(AuthError::AuthFailed.into()),
            };
            return Ok(token);
        }
    }

    /// UserAdd and UserChangePassword: the password is hashed with bcrypt
    /// before the proposal, as etcd does since CVE-2021-28235.
    pub async fn change_user_password(
        &self,
        who: Option<&AuthInfo>,
        change: PasswordChange,
    ) -> Result<(), ServiceError> {
        let request = match change {
            PasswordChange::Add(mut r) => {
                if !r.options.is_some_and(|o| o.no_password) {
                    r.hashed_password = self.hash(std::mem::take(&mut r.password)).await?;
                }
                Request::AuthUserAdd(r)
            }
            PasswordChange::Change(mut r) => {
                if !r.password.is_empty() {
                    r.hashed_password = self.hash(std::mem::take(&mut r.password)).await?;
                }
                Request::AuthUserChangePassword(r)
            }
        };
        self.auth_change(who, request).await
    }

    async fn hash(&self, password: String) -> Result<String, ServiceError> {
        self.passwords.hash(password).await.map_err(|e| ServiceError::Remote(tonic::Status::unknown(e.to_string())))
    }

    /// Proposes an auth change that answers nothing but success.
    pub async fn auth_change(&self, who: Option<&AuthInfo>, request: Request) -> Result<(), ServiceError> {
        match self.propose(who, request).await?.0 {
            AppliedOutput::AuthChanged => Ok(()),
            _ => Err(ServiceError::Etcd(EtcdError::UnexpectedApplyResult)),
        }
    }

    /// UserGet: an admin, or the user asking about themself.
    pub async fn user_roles(&self, who: Option<&AuthInfo>, name: &str) -> Result<Vec<String>, ServiceError> {
        self.before_read(false).await?;
        let view = self.auth.view();
        if view.check_admin(who).is_err() && who.is_none_or(|w| w.user != name) {
            view.check_admin(who)?;
        }
        Ok(view.state().user(name).ok_or(AuthError::UserNotFound)?.roles.clone())
    }

    /// RoleGet: an admin, or a holder of the role.
    pub async fn role_permissions(&self, who: Option<&AuthInfo>, role: &str) -> Result<Vec<Permission>, ServiceError> {
        self.before_read(false).await?;
        let view = self.auth.view();
        if let Err(e) = view.check_admin(who)
            && !who.is_some_and(|w| view.state().has_role(&w.user, role))
        {
            return Err(e.into());
        }
        let found = view.state().role(role).ok_or(AuthError::RoleNotFound)?;
        Ok(if role == ROOT_ROLE { vec![root_permission()] } else { found.key_permission.clone() })
    }

    /// UserList (`users`) or RoleList: admins only.
    pub async fn auth_names(&self, who: Option<&AuthInfo>, users: bool) -> Result<Vec<String>, ServiceError> {
        self.before_read(false).await?;
        let view = self.auth.view();
        view.check_admin(who)?;
        Ok(if users { view.state().user_names() } else { view.state().role_names() })
    }
}

fn strip_bearer(token: &str) -> &str {
    token.strip_prefix("Bearer ").unwrap_or(token)
}

/// A short, non-reversible name for a token in logs (etcd's `redactToken`).
fn fingerprint(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))[..12].to_owned()
}
