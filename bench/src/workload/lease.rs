//! `lease-keepalive`: each worker grants one lease (before the clock starts) and then
//! sends LeaseKeepAlive requests on its own stream, one at a time; a request is one
//! round trip. The leases are revoked at the end.

use crate::conn::Conn as Channel;
use capstan_proto::etcdserverpb::lease_client::LeaseClient;
use capstan_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseRevokeRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{Ctx, Worker, obj, run_workers};
use crate::cli::LeaseOpts;
use crate::stats::Report;

struct KeepAliveWorker {
    lease: LeaseClient<Channel>,
    id: i64,
    stream: Option<(mpsc::Sender<LeaseKeepAliveRequest>, Streaming<LeaseKeepAliveResponse>)>,
}

impl KeepAliveWorker {
    /// Sends one keepalive, opening the stream first if there is none. The request is
    /// queued before the call is awaited: a grpc-go server (etcd) sends the response
    /// headers only with its first message, so awaiting the call first would deadlock.
    async fn send(&mut self) -> Result<&mut Streaming<LeaseKeepAliveResponse>, tonic::Status> {
        let req = LeaseKeepAliveRequest { id: self.id };
        if let Some((tx, _)) = &self.stream {
            if tx.send(req).await.is_err() {
                return Err(tonic::Status::unavailable("keepalive stream closed"));
            }
        } else {
            let (tx, rx) = mpsc::channel(1);
            tx.send(req).await.map_err(|_| tonic::Status::internal("request channel closed"))?;
            let resp = self.lease.lease_keep_alive(ReceiverStream::new(rx)).await?;
            self.stream = Some((tx, resp.into_inner()));
        }
        match self.stream.as_mut() {
            Some((_, rx)) => Ok(rx),
            None => Err(tonic::Status::internal("no keepalive stream")),
        }
    }

    async fn round_trip(&mut self) -> Result<(), tonic::Status> {
        match self.send().await?.message().await {
            Ok(Some(r)) if r.ttl > 0 => Ok(()),
            Ok(Some(_)) => Err(tonic::Status::not_found("lease expired or revoked (TTL 0)")),
            Ok(None) => Err(tonic::Status::unavailable("keepalive stream ended")),
            Err(s) => Err(s),
        }
    }
}

impl Worker for KeepAliveWorker {
    async fn call(&mut self, _i: u64) -> Result<(), tonic::Status> {
        let result = self.round_trip().await;
        if result.is_err() {
            // Reopen on the next request: a broken stream must not fail every later one.
            self.stream = None;
        }
        result
    }

    fn reset(&mut self) {
        self.stream = None;
    }
}

/// Runs the lease-keepalive workload.
pub async fn run(ctx: &Ctx, opts: &LeaseOpts) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.ttl > 0, "--ttl must be positive");
    let grants = (0..ctx.opts.clients).map(|w| {
        let mut lease = LeaseClient::new(ctx.channel(w));
        let ttl = opts.ttl;
        async move {
            let id = lease.lease_grant(LeaseGrantRequest { ttl, id: 0 }).await?.into_inner().id;
            anyhow::Ok(KeepAliveWorker { lease, id, stream: None })
        }
    });
    let workers = futures::future::try_join_all(grants).await?;
    let ids: Vec<i64> = workers.iter().map(|w| w.id).collect();
    let (rec, elapsed) = run_workers(ctx, workers).await;
    let mut revoke = LeaseClient::new(ctx.channel(0));
    let mut revoked = 0u64;
    for id in ids {
        let r = tokio::time::timeout(ctx.opts.request_timeout(), revoke.lease_revoke(LeaseRevokeRequest { id })).await;
        if matches!(r, Ok(Ok(_))) {
            revoked += 1;
        }
    }
    let mut rep = rec.report("lease-keepalive", elapsed);
    rep.config = obj(serde_json::json!({ "ttl": opts.ttl }));
    rep.extra = obj(serde_json::json!({ "leases": ctx.opts.clients, "leases_revoked": revoked }));
    Ok(rep)
}
