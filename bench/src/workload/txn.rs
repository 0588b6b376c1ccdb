//! `txn-put`: one Txn per request with --txn-ops puts (no compares), on consecutive key
//! indexes starting at the request's key index.

use crate::conn::Conn as Channel;
use capstan_proto::etcdserverpb::kv_client::KvClient;
use capstan_proto::etcdserverpb::request_op::Request;
use capstan_proto::etcdserverpb::{PutRequest, RequestOp, TxnRequest};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::{Ctx, KeyGen, Worker, random_value, run_workers};
use crate::cli::TxnPutOpts;
use crate::stats::Report;

struct TxnWorker {
    kv: KvClient<Channel>,
    keys: KeyGen,
    ops: u64,
    val_size: usize,
    rng: SmallRng,
}

impl TxnWorker {
    fn request(&mut self, i: u64) -> TxnRequest {
        let first = self.keys.index(i, &mut self.rng);
        let success = (0..self.ops)
            .map(|o| RequestOp {
                request: Some(Request::RequestPut(PutRequest {
                    key: self.keys.key(first + o),
                    value: random_value(self.val_size),
                    ..Default::default()
                })),
            })
            .collect();
        TxnRequest { success, ..Default::default() }
    }
}

impl Worker for TxnWorker {
    async fn call(&mut self, i: u64) -> Result<(), tonic::Status> {
        let req = self.request(i);
        self.kv.txn(req).await.map(drop)
    }
}

/// Runs the txn-put workload.
pub async fn run(ctx: &Ctx, opts: &TxnPutOpts) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.txn_ops >= 1, "--txn-ops must be at least 1");
    anyhow::ensure!(
        opts.txn_ops <= opts.keys.key_space_size,
        "--txn-ops {} exceeds --key-space-size {} (a txn may not put one key twice)",
        opts.txn_ops,
        opts.keys.key_space_size
    );
    let keys = KeyGen::new(&opts.keys).map_err(anyhow::Error::msg)?;
    let workers = (0..ctx.opts.clients)
        .map(|w| TxnWorker {
            kv: KvClient::new(ctx.channel(w)).max_decoding_message_size(usize::MAX),
            keys: keys.clone(),
            ops: opts.txn_ops,
            val_size: opts.keys.val_size,
            rng: SmallRng::from_rng(&mut rand::rng()),
        })
        .collect();
    let (rec, elapsed) = run_workers(ctx, workers).await;
    let mut rep = rec.report("txn-put", elapsed);
    rep.config = opts.keys.report_config();
    rep.config.insert("txn_ops".into(), opts.txn_ops.into());
    Ok(rep)
}
