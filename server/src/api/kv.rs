//! etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.

use std::sync::Arc;

use capstan_proto::etcdserverpb::kv_server::Kv;
use capstan_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse,
    RangeRequest, RangeResponse, RangeStreamResponse, TxnRequest, TxnResponse,
};
use futures::StreamExt;
use tonic::{Request as GrpcRequest, Response, Status};

use super::{check_size, validate};
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
    async fn range_stream(
        &self,
        request: GrpcRequest<RangeRequest>,
    ) -> Result<Response<Self::RangeStreamStream>, Status> {
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
        Ok(Response::new(self.server.put(req).await?))
    }

    async fn delete_range(
        &self,
        request: GrpcRequest<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::delete_range(&req)?;
        Ok(Response::new(self.server.delete_range(req).await?))
    }

    async fn txn(&self, request: GrpcRequest<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let req = request.into_inner();
        check_size(&self.server, &req)?;
        validate::txn(&req, self.server.options().max_txn_ops)?;
        self.server.check_quota(prost::Message::encoded_len(&req)).await?;
        Ok(Response::new(self.server.txn(req).await?))
    }

    async fn compact(&self, request: GrpcRequest<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        Ok(Response::new(self.server.compact(request.into_inner()).await?))
    }
}
