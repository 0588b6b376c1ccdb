//! The writes, one typed method each, as etcd's `RaftKV`: each proposes its
//! request through Raft, waits for this member's apply of it and returns
//! etcd's complete response, its header naming the revision after the write.
//! Callers validate first (request size, txn shape, quota: etcd checks those
//! in its gRPC layer too).

use capstan_proto::capstanpb::internal_request::Request;
use capstan_proto::etcdserverpb::{
    AlarmRequest, AlarmResponse, CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest, PutResponse,
    TxnRequest, TxnResponse,
};

use super::{EtcdError, Server, ServiceError};
use crate::auth::AuthInfo;
use crate::raft::AppliedOutput;

impl Server {
    pub async fn put(&self, who: Option<&AuthInfo>, req: PutRequest) -> Result<PutResponse, ServiceError> {
        let (mut resp, rev) = self
            .propose_for(who, Request::Put(req), |out| match out {
                AppliedOutput::Put(resp) => Ok(resp),
                other => Err(other),
            })
            .await?;
        resp.header = Some(self.headers.header(rev));
        Ok(resp)
    }

    pub async fn delete_range(
        &self,
        who: Option<&AuthInfo>,
        req: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, ServiceError> {
        let (mut resp, rev) = self
            .propose_for(who, Request::DeleteRange(req), |out| match out {
                AppliedOutput::DeleteRange(resp) => Ok(resp),
                other => Err(other),
            })
            .await?;
        resp.header = Some(self.headers.header(rev));
        Ok(resp)
    }

    /// Only the outermost header is filled; nested responses keep theirs.
    pub async fn txn(&self, who: Option<&AuthInfo>, req: TxnRequest) -> Result<TxnResponse, ServiceError> {
        let (mut resp, rev) = self
            .propose_for(who, Request::Txn(req), |out| match out {
                AppliedOutput::Txn(resp) => Ok(resp),
                other => Err(other),
            })
            .await?;
        resp.header = Some(self.headers.header(rev));
        Ok(resp)
    }

    pub async fn compact(
        &self,
        who: Option<&AuthInfo>,
        req: CompactionRequest,
    ) -> Result<CompactionResponse, ServiceError> {
        let ((), rev) = self
            .propose_for(who, Request::Compaction(req), |out| match out {
                AppliedOutput::Compaction => Ok(()),
                other => Err(other),
            })
            .await?;
        Ok(CompactionResponse { header: Some(self.headers.header(rev)) })
    }

    /// Grants a lease; ID 0 asks this member to choose one (as etcd does).
    pub async fn lease_grant(
        &self,
        who: Option<&AuthInfo>,
        mut req: LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse, ServiceError> {
        if req.id == 0 {
            req.id = self.ids.next_lease_id();
        }
        let ((id, ttl), rev) = self
            .propose_for(who, Request::LeaseGrant(req), |out| match out {
                AppliedOutput::LeaseGrant { id, ttl } => Ok((id, ttl)),
                other => Err(other),
            })
            .await?;
        Ok(LeaseGrantResponse { header: Some(self.headers.header(rev)), id, ttl, error: String::new() })
    }

    pub async fn lease_revoke(
        &self,
        who: Option<&AuthInfo>,
        req: LeaseRevokeRequest,
    ) -> Result<LeaseRevokeResponse, ServiceError> {
        let ((), rev) = self
            .propose_for(who, Request::LeaseRevoke(req), |out| match out {
                AppliedOutput::LeaseRevoke => Ok(()),
                other => Err(other),
            })
            .await?;
        Ok(LeaseRevokeResponse { header: Some(self.headers.header(rev)) })
    }

    /// Activates, deactivates or lists alarms; answers the alarms after it.
    pub async fn alarm(&self, who: Option<&AuthInfo>, req: AlarmRequest) -> Result<AlarmResponse, ServiceError> {
        let (alarms, rev) = self
            .propose_for(who, Request::Alarm(req), |out| match out {
                AppliedOutput::Alarm(alarms) => Ok(alarms),
                other => Err(other),
            })
            .await?;
        Ok(AlarmResponse { header: Some(self.headers.header(rev)), alarms })
    }

    /// Proposes `request` and takes its result, which `expect` picks out of
    /// the state machine's answer; another kind of answer is a bug.
    async fn propose_for<T>(
        &self,
        who: Option<&AuthInfo>,
        request: Request,
        expect: impl FnOnce(AppliedOutput) -> Result<T, AppliedOutput>,
    ) -> Result<(T, i64), ServiceError> {
        let (out, rev) = self.propose(who, request).await?;
        match expect(out) {
            Ok(value) => Ok((value, rev)),
            Err(other) => {
                tracing::error!(out = ?other, "state machine returned an unexpected result kind");
                Err(ServiceError::Etcd(EtcdError::UnexpectedApplyResult))
            }
        }
    }
}
