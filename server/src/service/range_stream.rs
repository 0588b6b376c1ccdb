//! KV.RangeStream (etcd 3.7): one range answered as a stream of chunks, so a
//! large list (kube-apiserver's initial LIST of a resource) never has to be
//! built as one message, and its size is not bounded by the gRPC message limit.
//!
//! The chunks are disjoint slices of the result in key order; merging them
//! gives exactly what `Range` would have answered. The first chunk pins the
//! revision, so writes made while the stream is being read are not seen; the
//! header, `more` and `count` come with the last chunk only.

use std::sync::Arc;

use capstan_proto::etcdserverpb::{RangeRequest, RangeResponse};
use futures::Stream;
use prost::Message;

use super::{Server, ServiceError};
use crate::raft::ApplyError;

/// Keys in the first chunk; later chunks grow or shrink towards the target size.
pub const FIRST_CHUNK_LIMIT: i64 = 10;

/// The next chunk's key limit, given the last chunk's limit and encoded size:
/// doubled when the chunk was under half the target, halved when it was over
/// twice the target, else unchanged (so sizes near the target do not make it
/// oscillate). Never below 1, since a limit of 0 means "no limit".
pub fn next_chunk_limit(last_limit: i64, last_size: usize, target_size: usize) -> i64 {
    let next = if last_size < target_size / 2 {
        last_limit.saturating_mul(2)
    } else if last_size > target_size.saturating_mul(2) {
        last_limit / 2
    } else {
        last_limit
    };
    next.max(1)
}

impl Server {
    /// Answers `req` as partial `RangeResponse`s (see the module doc). A
    /// linearizable request waits for one read index before the first chunk.
    pub fn range_stream(
        self: &Arc<Self>,
        req: RangeRequest,
    ) -> impl Stream<Item = Result<RangeResponse, ServiceError>> + Send + 'static {
        let server = Arc::clone(self);
        async_stream::try_stream! {
            server.before_read(req.serializable).await?;
            if req.count_only {
                yield server.range_local(&req)?;
                return;
            }
            let total_limit = if req.limit > 0 { req.limit } else { i64::MAX };
            let target_size = server.options.max_request_bytes.max(1);
            // Each chunk is a Range with the request's sort, as in etcd 3.7:
            // the API layer refused orders other than none and key-ascending,
            // but a sort target without an order sorts each chunk ascending by
            // that target, as Range does (etcd's default ordering rule).
            let mut chunk = RangeRequest { limit: FIRST_CHUNK_LIMIT.min(total_limit), ..req };
            let mut sent = 0i64;
            let mut header = None;
            loop {
                let resp = server.range_local(&chunk)?;
                if header.is_none() {
                    // The first chunk's header (the store's revision when the
                    // stream began) is the stream's; later chunks read at it.
                    header = resp.header;
                    if chunk.revision == 0 {
                        chunk.revision = header.map_or(0, |h| h.revision);
                    }
                }
                let size = resp.encoded_len();
                let got = resp.kvs.len() as i64;
                let next_key = resp.kvs.last().map(|kv| {
                    let mut k = kv.key.clone();
                    k.push(0);
                    k
                });
                let done = !resp.more || sent + got >= total_limit || next_key.is_none();
                if done {
                    // `count` of this chunk's range covers every key from its
                    // start to the range end: add what earlier chunks sent.
                    yield RangeResponse { header, kvs: resp.kvs, more: resp.more, count: sent + resp.count };
                    return;
                }
                sent += got;
                yield RangeResponse { header: None, kvs: resp.kvs, more: false, count: 0 };
                chunk.key = next_key.unwrap_or_default();
                chunk.limit = next_chunk_limit(chunk.limit, size, target_size).min(total_limit - sent);
            }
        }
    }

    /// A range served from local state, with the response header filled in.
    pub(super) fn range_local(&self, req: &RangeRequest) -> Result<RangeResponse, ServiceError> {
        let read = || self.kv.range(req);
        let result = if super::may_read_many(req) { super::blocking(read) } else { read() };
        let mut resp = result.map_err(|e| ServiceError::Apply(ApplyError::from(e)))?;
        self.metrics.record_mvcc(crate::metrics::MvccOps::range());
        let revision = resp.header.map_or_else(|| self.kv.current_revision(), |h| h.revision);
        resp.header = Some(self.headers.header(revision));
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_limit_grows_shrinks_and_never_reaches_zero() {
        assert_eq!(next_chunk_limit(10, 100, 1000), 20);
        assert_eq!(next_chunk_limit(10, 600, 1000), 10);
        assert_eq!(next_chunk_limit(10, 2000, 1000), 10);
        assert_eq!(next_chunk_limit(10, 2001, 1000), 5);
        assert_eq!(next_chunk_limit(1, 5000, 1000), 1);
        assert_eq!(next_chunk_limit(i64::MAX, 0, 1000), i64::MAX);
    }
}
