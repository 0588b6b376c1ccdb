//! etcdserverpb.Auth: users, roles, permissions, enabling auth, and
//! Authenticate. Changes go through Raft and are authorised when applied
//! (admins only); listings are served here after a linearizable read.

use capstan_proto::capstanpb::internal_request::Request as Change;
use capstan_proto::etcdserverpb::auth_server::Auth;
use capstan_proto::etcdserverpb::*;
use std::sync::Arc;
use tonic::{Request as GrpcRequest, Response, Status};

use super::identity::caller;
use crate::auth::AuthInfo;
use crate::service::Server;
use crate::service::auth::PasswordChange;

pub struct AuthService {
    server: Arc<Server>,
}

impl AuthService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }

    fn header(&self) -> Option<ResponseHeader> {
        Some(self.server.headers().header(self.server.kv().current_revision()))
    }

    async fn who<T>(&self, request: &GrpcRequest<T>) -> Result<Option<AuthInfo>, Status> {
        caller(&self.server, request).await
    }

    /// Proposes a change built from the request by `change`.
    async fn change<T>(&self, request: GrpcRequest<T>, change: impl FnOnce(T) -> Change) -> Result<(), Status> {
        let who = self.who(&request).await?;
        Ok(self.server.auth_change(who.as_ref(), change(request.into_inner())).await?)
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    /// Anyone may ask (etcd 3.7: clients minting their own JWTs need the revision).
    async fn auth_status(&self, r: GrpcRequest<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        // A token that names nobody is refused, as on every request etcd proposes.
        self.who(&r).await?;
        self.server.before_read(false).await?;
        let auth = self.server.auth();
        Ok(Response::new(AuthStatusResponse {
            header: self.header(),
            enabled: auth.is_enabled(),
            auth_revision: auth.revision(),
        }))
    }

    async fn authenticate(
        &self,
        r: GrpcRequest<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let r = r.into_inner();
        let token = self.server.authenticate(&r.name, &r.password).await?;
        Ok(Response::new(AuthenticateResponse { header: self.header(), token }))
    }

    async fn auth_disable(&self, r: GrpcRequest<AuthDisableRequest>) -> Result<Response<AuthDisableResponse>, Status> {
        self.change(r, Change::AuthDisable).await?;
        Ok(Response::new(AuthDisableResponse { header: self.header() }))
    }

    async fn auth_enable(&self, r: GrpcRequest<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        self.change(r, Change::AuthEnable).await?;
        Ok(Response::new(AuthEnableResponse { header: self.header() }))
    }

    async fn user_add(&self, r: GrpcRequest<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        let who = self.who(&r).await?;
        self.server.change_user_password(who.as_ref(), PasswordChange::Add(r.into_inner())).await?;
        Ok(Response::new(AuthUserAddResponse { header: self.header() }))
    }

    async fn user_get(&self, r: GrpcRequest<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        let who = self.who(&r).await?;
        let roles = self.server.user_roles(who.as_ref(), &r.into_inner().name).await?;
        Ok(Response::new(AuthUserGetResponse { header: self.header(), roles }))
    }

    async fn user_list(&self, r: GrpcRequest<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        let who = self.who(&r).await?;
        let users = self.server.auth_names(who.as_ref(), true).await?;
        Ok(Response::new(AuthUserListResponse { header: self.header(), users }))
    }

    async fn user_delete(
        &self,
        r: GrpcRequest<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        self.change(r, Change::AuthUserDelete).await?;
        Ok(Response::new(AuthUserDeleteResponse { header: self.header() }))
    }

    async fn user_change_password(
        &self,
        r: GrpcRequest<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let who = self.who(&r).await?;
        self.server.change_user_password(who.as_ref(), PasswordChange::Change(r.into_inner())).await?;
        Ok(Response::new(AuthUserChangePasswordResponse { header: self.header() }))
    }

    async fn user_grant_role(
        &self,
        r: GrpcRequest<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        self.change(r, Change::AuthUserGrantRole).await?;
        Ok(Response::new(AuthUserGrantRoleResponse { header: self.header() }))
    }

    async fn user_revoke_role(
        &self,
        r: GrpcRequest<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        self.change(r, Change::AuthUserRevokeRole).await?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header: self.header() }))
    }

    async fn role_add(&self, r: GrpcRequest<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        self.change(r, Change::AuthRoleAdd).await?;
        Ok(Response::new(AuthRoleAddResponse { header: self.header() }))
    }

    async fn role_get(&self, r: GrpcRequest<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        let who = self.who(&r).await?;
        let perm = self.server.role_permissions(who.as_ref(), &r.into_inner().role).await?;
        Ok(Response::new(AuthRoleGetResponse { header: self.header(), perm }))
    }

    async fn role_list(&self, r: GrpcRequest<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        let who = self.who(&r).await?;
        let roles = self.server.auth_names(who.as_ref(), false).await?;
        Ok(Response::new(AuthRoleListResponse { header: self.header(), roles }))
    }

    async fn role_delete(
        &self,
        r: GrpcRequest<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        self.change(r, Change::AuthRoleDelete).await?;
        Ok(Response::new(AuthRoleDeleteResponse { header: self.header() }))
    }

    async fn role_grant_permission(
        &self,
        r: GrpcRequest<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        self.change(r, Change::AuthRoleGrantPermission).await?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header: self.header() }))
    }

    async fn role_revoke_permission(
        &self,
        r: GrpcRequest<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        self.change(r, Change::AuthRoleRevokePermission).await?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header: self.header() }))
    }
}
