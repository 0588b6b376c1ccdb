//! etcdserverpb.Lease. Grants and revokes go through Raft; keep-alives and
//! TTL queries are answered by the leader's lessor in memory, as in etcd.

use std::pin::Pin;
use std::sync::Arc;

use capstan_proto::etcdserverpb::lease_server::Lease;
use capstan_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use futures::Stream;
use tokio_stream::StreamExt;
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use super::identity::{self, caller};
use crate::auth::{self, AuthInfo};
use crate::service::Server;

pub struct LeaseService {
    server: Arc<Server>,
}

impl LeaseService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

/// Renews `id` on the leader (forwarded when this member follows); an
/// unknown lease answers TTL 0. With auth on, the user needs WRITE on every
/// key attached to the lease (etcd's `checkLeaseRenew`).
async fn keep_alive_once(server: &Server, who: Option<&AuthInfo>, id: i64) -> Result<LeaseKeepAliveResponse, Status> {
    if server.auth().is_enabled() {
        server.require_user(who)?;
        let keys = server.lessor().lock().keys(id);
        server.authorized_read(
            who,
            |view, who| auth::check::lease_keys_writable(view, who, &|_| keys.clone(), id),
            || Ok(()),
        )?;
    }
    let ttl = server.keep_alive(id).await?;
    Ok(LeaseKeepAliveResponse { header: Some(server.headers().header(server.kv().current_revision())), id, ttl })
}

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: GrpcRequest<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        self.server.require_user(who.as_ref())?;
        self.server.check_quota(0).await?;
        Ok(Response::new(self.server.lease_grant(who.as_ref(), request.into_inner()).await?))
    }

    async fn lease_revoke(
        &self,
        request: GrpcRequest<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        self.server.require_user(who.as_ref())?;
        Ok(Response::new(self.server.lease_revoke(who.as_ref(), request.into_inner()).await?))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: GrpcRequest<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        // The stream's credentials are read once, at its start (as etcd's).
        let creds = identity::credentials(&request);
        let mut incoming = request.into_inner();
        let server = self.server.clone();
        let out = async_stream::stream! {
            while let Some(req) = incoming.next().await {
                match req {
                    Ok(req) => {
                        let who = match server.caller(&creds).await {
                            Ok(who) => who,
                            Err(e) => { yield Err(e.into()); break; }
                        };
                        yield keep_alive_once(&server, who.as_ref(), req.id).await
                    }
                    Err(_) => break,
                }
            }
        };
        Ok(Response::new(Box::pin(out)))
    }

    async fn lease_time_to_live(
        &self,
        request: GrpcRequest<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        self.server.require_user(who.as_ref())?;
        let req = request.into_inner();
        if !req.keys {
            return Ok(Response::new(self.server.time_to_live(req).await?));
        }
        // With keys, READ on each attached key (etcd's checkLeaseTimeToLive).
        let keys = self.server.lessor().lock().keys(req.id);
        let revision = self.server.auth().revision();
        self.server.authorized_read(
            who.as_ref(),
            |view, who| auth::check::lease_keys_readable(view, who, keys.iter().map(Vec::as_slice)),
            || Ok(()),
        )?;
        let resp = self.server.time_to_live(req).await?;
        if self.server.auth().is_enabled() && revision != self.server.auth().revision() {
            return Err(crate::service::ServiceError::from(crate::auth::AuthError::AuthOldRevision).into());
        }
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        request: GrpcRequest<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        self.server.require_user(who.as_ref())?;
        if self.server.auth().is_enabled() {
            // READ on the keys of every lease, unless admin (etcd's checkLeaseLeases).
            let lessor = self.server.lessor().lock();
            let keys: Vec<Vec<u8>> = lessor.ids().into_iter().flat_map(|id| lessor.keys(id)).collect();
            drop(lessor);
            self.server.authorized_read(
                who.as_ref(),
                |view, who| auth::check::lease_keys_readable(view, who, keys.iter().map(Vec::as_slice)),
                || Ok(()),
            )?;
        }
        Ok(Response::new(self.server.lease_leases()))
    }
}
