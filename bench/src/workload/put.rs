//! `put`: one Put per request, keys from [`KeyGen`], random values of --val-size bytes.

use crate::conn::Conn as Channel;
use capstan_proto::etcdserverpb::PutRequest;
use capstan_proto::etcdserverpb::kv_client::KvClient;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::{Ctx, KeyGen, Worker, random_value, run_workers};
use crate::cli::PutOpts;
use crate::stats::Report;

struct PutWorker {
    kv: KvClient<Channel>,
    keys: KeyGen,
    val_size: usize,
    rng: SmallRng,
}

impl Worker for PutWorker {
    async fn call(&mut self, i: u64) -> Result<(), tonic::Status> {
        let key = self.keys.key(self.keys.index(i, &mut self.rng));
        let req = PutRequest { key, value: random_value(self.val_size), ..Default::default() };
        self.kv.put(req).await.map(drop)
    }
}

/// Runs the put workload.
pub async fn run(ctx: &Ctx, opts: &PutOpts) -> anyhow::Result<Report> {
    let keys = KeyGen::new(&opts.keys).map_err(anyhow::Error::msg)?;
    let workers = (0..ctx.opts.clients)
        .map(|w| PutWorker {
            kv: KvClient::new(ctx.channel(w)).max_decoding_message_size(usize::MAX),
            keys: keys.clone(),
            val_size: opts.keys.val_size,
            rng: SmallRng::from_rng(&mut rand::rng()),
        })
        .collect();
    let (rec, elapsed) = run_workers(ctx, workers).await;
    let mut rep = rec.report("put", elapsed);
    rep.config = opts.keys.report_config();
    Ok(rep)
}
