//! etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.

use std::sync::Arc;

use capstan_proto::capstanpb::internal_request::Request;
use capstan_proto::etcdserverpb::kv_server::Kv;
use capstan_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RangeStreamResponse, TxnRequest, TxnResponse,
};
use futures::StreamExt;
use tonic::{Request as GrpcRequest, Response, Status};

use super::{check_size, validate, unexpected};
use crate::raft::AppliedOutput;
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
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::range(&req)?;
        Ok(Response::new(self.server.range(&req).await?))
    }

    type RangeStreamStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<RangeStreamResponse, Status>> + Send>>;

    /// etcd 3.7's streamed range (kube-apiserver 1.37 lists with it when the
    /// server has it): chunks in key order, see `service::range_stream`.
    async fn range_stream(&self, request: GrpcRequest<RangeRequest>) -> Result<Response<Self::RangeStreamStream>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::range_stream(&req)?;
        let chunks = self.server.range_stream(req).map(|chunk| match chunk {
            Ok(resp) => Ok(RangeStreamResponse { range_response: Some(resp) }),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(chunks)))
    }

    async fn put(&self, request: GrpcRequest<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::put(&req)?;
        self.server.check_quota(req.key.len() + req.value.len()).await?;
        match self.server.propose(Request::Put(req)).await? {
            (AppliedOutput::Put(mut resp), rev) => {
                resp.header = Some(self.server.headers().header(rev));
                Ok(Response::new(resp))
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    async fn delete_range(&self, request: GrpcRequest<DeleteRangeRequest>) -> Result<Response<DeleteRangeResponse>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::delete_range(&req)?;
        match self.server.propose(Request::DeleteRange(req)).await? {
            (AppliedOutput::DeleteRange(mut resp), rev) => {
                resp.header = Some(self.server.headers().header(rev));
                Ok(Response::new(resp))
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    async fn txn(&self, request: GrpcRequest<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::txn(&req, self.server.options().max_txn_ops)?;
        self.server.check_quota(prost::Message::encoded_len(&req)).await?;
        match self.server.propose(Request::Txn(req)).await? {
            (AppliedOutput::Txn(mut resp), rev) => {
                fill_txn_headers(&mut resp, &self.server, rev);
                Ok(Response::new(resp))
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    async fn compact(&self, request: GrpcRequest<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        let req = request.into_inner();
        match self.server.propose(Request::Compaction(req)).await? {
            (AppliedOutput::Compaction, rev) => {
                Ok(Response::new(CompactionResponse { header: Some(self.server.headers().header(rev)) }))
            }
            (other, _) => Err(unexpected(&other)),
        }
    }
}

/// Only the outermost header is filled; nested ones keep their revision.
fn fill_txn_headers(resp: &mut TxnResponse, server: &Server, rev: i64) {
    resp.header = Some(server.headers().header(rev));
}
