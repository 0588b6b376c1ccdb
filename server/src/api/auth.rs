//! etcdserverpb.Auth. Authentication is never enabled in this build: status
//! says so, and Authenticate answers etcd's "not enabled" error, which clients
//! handle. User and role management is not available yet.

use capstan_proto::etcdserverpb::auth_server::Auth;
use capstan_proto::etcdserverpb::*;
use std::sync::Arc;
use tonic::{Request as GrpcRequest, Response, Status};

use super::error::EtcdError;
use crate::service::Server;

pub struct AuthService {
    server: Arc<Server>,
}

impl AuthService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

fn unsupported() -> Status {
    Status::unimplemented("user and role management is not supported by this capstan build")
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_status(&self, _r: GrpcRequest<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        let header = self.server.headers().header(self.server.kv().current_revision());
        Ok(Response::new(AuthStatusResponse { header: Some(header), enabled: false, auth_revision: 0 }))
    }

    async fn authenticate(
        &self,
        _r: GrpcRequest<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        Err(EtcdError::AuthNotEnabled.into())
    }

    async fn auth_disable(&self, _r: GrpcRequest<AuthDisableRequest>) -> Result<Response<AuthDisableResponse>, Status> {
        let header = self.server.headers().header(self.server.kv().current_revision());
        Ok(Response::new(AuthDisableResponse { header: Some(header) }))
    }

    async fn auth_enable(&self, _r: GrpcRequest<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        Err(unsupported())
    }

    async fn user_add(&self, _r: GrpcRequest<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        Err(unsupported())
    }

    async fn user_get(&self, _r: GrpcRequest<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        Err(unsupported())
    }

    async fn user_list(&self, _r: GrpcRequest<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        Err(unsupported())
    }

    async fn user_delete(
        &self,
        _r: GrpcRequest<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        Err(unsupported())
    }

    async fn user_change_password(
        &self,
        _r: GrpcRequest<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        Err(unsupported())
    }

    async fn user_grant_role(
        &self,
        _r: GrpcRequest<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        Err(unsupported())
    }

    async fn user_revoke_role(
        &self,
        _r: GrpcRequest<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        Err(unsupported())
    }

    async fn role_add(&self, _r: GrpcRequest<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        Err(unsupported())
    }

    async fn role_get(&self, _r: GrpcRequest<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        Err(unsupported())
    }

    async fn role_list(&self, _r: GrpcRequest<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        Err(unsupported())
    }

    async fn role_delete(
        &self,
        _r: GrpcRequest<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        Err(unsupported())
    }

    async fn role_grant_permission(
        &self,
        _r: GrpcRequest<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        Err(unsupported())
    }

    async fn role_revoke_permission(
        &self,
        _r: GrpcRequest<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        Err(unsupported())
    }
}
