//! `range KEY [END]`: one Range per request, linearizable or serializable.

use crate::conn::Conn as Channel;
use capstan_proto::etcdserverpb::RangeRequest;
use capstan_proto::etcdserverpb::kv_client::KvClient;

use super::{Ctx, Worker, obj, run_workers};
use crate::cli::{Consistency, RangeOpts};
use crate::stats::Report;

struct RangeWorker {
    kv: KvClient<Channel>,
    req: RangeRequest,
}

impl Worker for RangeWorker {
    async fn call(&mut self, _i: u64) -> Result<(), tonic::Status> {
        self.kv.range(self.req.clone()).await.map(drop)
    }
}

/// The request every worker sends.
fn request(opts: &RangeOpts) -> RangeRequest {
    RangeRequest {
        key: opts.key.as_bytes().to_vec(),
        // etcdctl's convention: "\0" as END means "every key >= KEY".
        range_end: match opts.end.as_deref() {
            Some("\\0") | Some("\0") => vec![0],
            Some(e) => e.as_bytes().to_vec(),
            None => Vec::new(),
        },
        limit: opts.limit,
        serializable: opts.consistency == Consistency::S,
        keys_only: opts.keys_only,
        count_only: opts.count_only,
        ..Default::default()
    }
}

/// Runs the range workload.
pub async fn run(ctx: &Ctx, opts: &RangeOpts) -> anyhow::Result<Report> {
    let req = request(opts);
    let workers = (0..ctx.opts.clients)
        .map(|w| RangeWorker {
            kv: KvClient::new(ctx.channel(w)).max_decoding_message_size(usize::MAX),
            req: req.clone(),
        })
        .collect();
    let (rec, elapsed) = run_workers(ctx, workers).await;
    let mut rep = rec.report("range", elapsed);
    rep.config = obj(serde_json::json!({
        "key": opts.key,
        "end": opts.end,
        "consistency": if opts.consistency == Consistency::S { "s" } else { "l" },
        "keys_only": opts.keys_only,
        "count_only": opts.count_only,
        "limit": opts.limit,
    }));
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_fields() {
        let o = RangeOpts {
            key: "a".into(),
            end: Some("\\0".into()),
            consistency: Consistency::S,
            keys_only: true,
            count_only: false,
            limit: 5,
        };
        let r = request(&o);
        assert_eq!((r.key, r.range_end, r.limit, r.serializable, r.keys_only), (b"a".to_vec(), vec![0], 5, true, true));
        let r = request(&RangeOpts { end: None, consistency: Consistency::L, ..o });
        assert!(r.range_end.is_empty() && !r.serializable);
    }
}
