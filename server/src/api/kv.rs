//! etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.

use std::sync::Arc;

use capstan_proto::etcdserverpb::kv_server::Kv;
use capstan_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RangeStreamResponse, TxnRequest, TxnResponse,
};
use futures::StreamExt;
use tonic::{Request as GrpcRequest, Response, Status};

use super::identity::caller;
use super::request_stats::{ProtoText, RequestStats};
use super::{check_size, validate};
use crate::auth;
use crate::service::Server;

pub struct KvService {
    server: Arc<Server>,
}

impl KvService {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, request: GrpcRequest<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let stats = RequestStats::start(&self.server, &request, "/etcdserverpb.KV/Range");
        let who = caller(&self.server, &request).await?;
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::range(&req)?;
        let resp = self.server.range(who.as_ref(), &req).await?;
        let content = ProtoText::new()
            .bytes("key", &req.key)
            .bytes("range_end", &req.range_end)
            .int("limit", req.limit)
            .int("revision", req.revision)
            .int("sort_order", i64::from(req.sort_order))
            .int("sort_target", i64::from(req.sort_target))
            .flag("serializable", req.serializable)
            .flag("keys_only", req.keys_only)
            .flag("count_only", req.count_only)
            .int("min_mod_revision", req.min_mod_revision)
            .int("max_mod_revision", req.max_mod_revision)
            .int("min_create_revision", req.min_create_revision)
            .int("max_create_revision", req.max_create_revision)
            .text();
        stats.finish(0, &req, content, resp.count, &resp);
        Ok(Response::new(resp))
    }

    type RangeStreamStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RangeStreamResponse, Status>> + Send>>;

    /// etcd 3.7's streamed range (kube-apiserver 1.37 lists with it when the
    /// server has it): chunks in key order, see `service::range_stream`.
    async fn range_stream(
        &self,
        request: GrpcRequest<RangeRequest>,
    ) -> Result<Response<Self::RangeStreamStream>, Status> {
        let who = caller(&self.server, &request).await?;
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::range_stream(&req)?;
        self.server.authorized_read(who.as_ref(), |view, who| auth::check::range(view, who, &req), || Ok(()))?;
        let chunks = self.server.range_stream(req).map(|chunk| match chunk {
            Ok(resp) => Ok(RangeStreamResponse { range_response: Some(resp) }),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn put(&self, request: GrpcRequest<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let stats = RequestStats::start(&self.server, &request, "/etcdserverpb.KV/Put");
        let who = caller(&self.server, &request).await?;
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::put(&req)?;
        self.server.check_quota(req.key.len() + req.value.len()).await?;
        // etcd redacts the value (LoggablePutRequest): its size only.
        let content =
            format!("key:{:?} value_size:{} lease:{}", String::from_utf8_lossy(&req.key), req.value.len(), req.lease);
        let size = prost::Message::encoded_len(&req);
        let resp = self.server.put(who.as_ref(), req).await?;
        stats.finish_sized(1, size, content, 0, &resp);
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        request: GrpcRequest<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let stats = RequestStats::start(&self.server, &request, "/etcdserverpb.KV/DeleteRange");
        let who = caller(&self.server, &request).await?;
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::delete_range(&req)?;
        let content = ProtoText::new()
            .bytes("key", &req.key)
            .bytes("range_end", &req.range_end)
            .flag("prev_kv", req.prev_kv)
            .text();
        let size = prost::Message::encoded_len(&req);
        let resp = self.server.delete_range(who.as_ref(), req).await?;
        stats.finish_sized(0, size, content, resp.deleted, &resp);
        Ok(Response::new(resp))
    }

    async fn txn(&self, request: GrpcRequest<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let stats = RequestStats::start(&self.server, &request, "/etcdserverpb.KV/Txn");
        let who = caller(&self.server, &request).await?;
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::txn(&req, self.server.options().max_txn_ops)?;
        self.server.check_quota(prost::Message::encoded_len(&req)).await?;
        let resp = self.server.txn(who.as_ref(), req.clone()).await?;
        // etcd counts the branch that ran, and redacts values.
        let branch = if resp.succeeded { &req.success } else { &req.failure };
        let size = branch.iter().map(prost::Message::encoded_len).sum();
        let content = format!(
            "compare_count:{} success_count:{} failure_count:{}",
            req.compare.len(),
            req.success.len(),
            req.failure.len()
        );
        stats.finish_sized(branch.len() as i64, size, content, 0, &resp);
        Ok(Response::new(resp))
    }

    async fn compact(&self, request: GrpcRequest<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        let who = caller(&self.server, &request).await?;
        self.server.require_admin(who.as_ref())?;
        Ok(Response::new(self.server.compact(who.as_ref(), request.into_inner()).await?))
    }
}
