//! etcd's concurrency recipes (clientv3's `concurrency` package: mutex and
//! election), run inside the server for the `v3lock` and `v3election` gRPC
//! services, as etcd runs them: the same transactions, ranges and watches a
//! client would issue, on the caller's lease. Keys and revisions are therefore
//! interchangeable with those of clients using the recipes directly.

use std::sync::Arc;

use capstan_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, ResponseHeader, TxnRequest,
    TxnResponse, compare, range_request, request_op, response_op,
};
use capstan_proto::mvccpb::KeyValue;
use capstan_proto::mvccpb::event::EventType;
use tonic::Status;

use crate::auth::AuthInfo;
use crate::service::Server;
use crate::watch::WatchSpec;

/// `concurrency.ErrElectionNotLeader`.
pub const NOT_LEADER: &str = "election: not leader";
/// `concurrency.ErrElectionNoLeader`.
pub const NO_LEADER: &str = "election: no leader";
/// `concurrency`'s default session TTL, in seconds.
const DEFAULT_SESSION_TTL: i64 = 60;
/// `concurrency.ErrSessionExpired`.
pub const SESSION_EXPIRED: &str = "session expired";

/// The recipes over one member's request path.
#[derive(Clone)]
pub struct Recipes {
    server: Arc<Server>,
    /// The user the recipes act for: the caller's permissions apply, as
    /// etcd's in-process client carries the caller's credentials.
    who: Option<AuthInfo>,
}

/// etcd's `GetPrefixRangeEnd`: the first key after every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The key a session with `lease` uses under `prefix` (`prefix` + lease in hex).
pub fn session_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(format!("{lease:x}").as_bytes());
    k
}

fn op(request: request_op::Request) -> RequestOp {
    RequestOp { request: Some(request) }
}

fn create_revision_is(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(rev)),
        ..Default::default()
    }
}

/// The first (`ascend`) or last key under `prefix` by create revision.
fn by_create(prefix: &[u8], ascend: bool, max_create_revision: i64) -> RangeRequest {
    let order = if ascend { range_request::SortOrder::Ascend } else { range_request::SortOrder::Descend };
    RangeRequest {
        key: prefix.to_vec(),
        range_end: prefix_end(prefix),
        limit: 1,
        sort_order: order as i32,
        sort_target: range_request::SortTarget::Create as i32,
        max_create_revision,
        ..Default::default()
    }
}

fn range_kvs(resp: &TxnResponse, index: usize) -> Vec<KeyValue> {
    match resp.responses.get(index).and_then(|r| r.response.as_ref()) {
        Some(response_op::Response::ResponseRange(r)) => r.kvs.clone(),
        _ => Vec::new(),
    }
}

/// Deletes a waiter's key if its wait is abandoned (the client went away), as
/// the recipes do on context cancellation.
struct CleanupOnDrop {
    recipes: Option<(Recipes, Vec<u8>, i64)>,
}

impl CleanupOnDrop {
    fn disarm(mut self) {
        self.recipes = None;
    }
}

impl Drop for CleanupOnDrop {
    fn drop(&mut self) {
        if let Some((recipes, key, rev)) = self.recipes.take() {
            tokio::spawn(async move {
                let _ = recipes.delete_if_created_at(&key, rev).await;
            });
        }
    }
}

impl Recipes {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server, who: None }
    }

    /// The recipes acting for the user `request` is from.
    pub async fn for_request<T>(&self, request: &tonic::Request<T>) -> Result<Recipes, Status> {
        let who = super::identity::caller(&self.server, request).await?;
        Ok(Recipes { server: self.server.clone(), who })
    }

    fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.server.headers().header(revision))
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, Status> {
        Ok(self.server.txn(self.who.as_ref(), req).await?)
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, Status> {
        Ok(self.server.range(self.who.as_ref(), &req).await?)
    }

    /// The session's lease: the caller's, or (lease 0) a new one with the
    /// recipes' default TTL of 60 s that nobody keeps alive, as etcd's
    /// server-side session does.
    pub async fn session_lease(&self, lease: i64) -> Result<i64, Status> {
        if lease != 0 {
            return Ok(lease);
        }
        let grant = capstan_proto::etcdserverpb::LeaseGrantRequest { ttl: DEFAULT_SESSION_TTL, id: 0 };
        Ok(self.server.lease_grant(self.who.as_ref(), grant).await?.id)
    }

    /// Deletes `key` (Unlock).
    pub async fn delete(&self, key: &[u8]) -> Result<Option<ResponseHeader>, Status> {
        let req = DeleteRangeRequest { key: key.to_vec(), ..Default::default() };
        Ok(self.server.delete_range(self.who.as_ref(), req).await?.header)
    }

    /// Deletes `key` if it is still the one created at `rev` (Resign).
    async fn delete_if_created_at(&self, key: &[u8], rev: i64) -> Result<TxnResponse, Status> {
        let delete =
            op(request_op::Request::RequestDeleteRange(DeleteRangeRequest { key: key.to_vec(), ..Default::default() }));
        self.txn(TxnRequest { compare: vec![create_revision_is(key, rev)], success: vec![delete], failure: vec![] })
            .await
    }

    /// Waits for a DELETE of `key` at or after revision `rev` (`waitDelete`).
    async fn wait_delete(&self, key: &[u8], rev: i64) -> Result<(), Status> {
        let mut stream = self.server.hub().open_stream();
        stream
            .watch(WatchSpec { key: key.to_vec(), start_revision: rev, no_put: true, ..Default::default() })
            .map_err(|e| Status::unavailable(e.to_string()))?;
        loop {
            let Some(delivery) = stream.recv().await else {
                return Err(Status::unavailable("etcdserver: server stopped"));
            };
            if delivery.compact_revision != 0 {
                return Err(super::error::EtcdError::Compacted.into());
            }
            if delivery.events.iter().any(|e| e.r#type == EventType::Delete as i32) {
                return Ok(());
            }
        }
    }

    /// Waits until no key under `prefix` created at or before `max_create_rev`
    /// remains (`waitDeletes`): everyone queued ahead has gone.
    async fn wait_deletes(&self, prefix: &[u8], max_create_rev: i64) -> Result<(), Status> {
        loop {
            let resp = self.range(by_create(prefix, false, max_create_rev)).await?;
            let Some(last) = resp.kvs.first() else { return Ok(()) };
            let rev = resp.header.as_ref().map_or(0, |h| h.revision);
            self.wait_delete(&last.key, rev).await?;
        }
    }

    /// `concurrency.Mutex.Lock` on `name` for `lease`: returns the lock key and
    /// the header once this lease holds the lock.
    pub async fn lock(&self, name: &[u8], lease: i64) -> Result<(Vec<u8>, Option<ResponseHeader>), Status> {
        let mut prefix = name.to_vec();
        prefix.push(b'/');
        let my_key = session_key(&prefix, lease);
        let put = op(request_op::Request::RequestPut(PutRequest { key: my_key.clone(), lease, ..Default::default() }));
        let get = op(request_op::Request::RequestRange(RangeRequest { key: my_key.clone(), ..Default::default() }));
        let owner = op(request_op::Request::RequestRange(by_create(&prefix, true, 0)));
        let resp = self
            .txn(TxnRequest {
                compare: vec![create_revision_is(&my_key, 0)],
                success: vec![put, owner.clone()],
                failure: vec![get, owner],
            })
            .await?;
        let mut my_rev = resp.header.as_ref().map_or(0, |h| h.revision);
        if !resp.succeeded {
            my_rev = range_kvs(&resp, 0).first().map_or(my_rev, |kv| kv.create_revision);
        }
        let holder = range_kvs(&resp, 1);
        if holder.first().is_none_or(|kv| kv.create_revision == my_rev) {
            return Ok((my_key, resp.header));
        }
        let cleanup = CleanupOnDrop { recipes: Some((self.clone(), my_key.clone(), my_rev)) };
        if let Err(e) = self.wait_deletes(&prefix, my_rev - 1).await {
            drop(cleanup);
            return Err(e);
        }
        cleanup.disarm();
        // The session may have expired while waiting.
        let mine = self.range(RangeRequest { key: my_key.clone(), ..Default::default() }).await?;
        if mine.kvs.is_empty() {
            return Err(Status::unknown(SESSION_EXPIRED));
        }
        Ok((my_key, mine.header))
    }

    /// `concurrency.Election.Campaign`: returns once this lease leads `name`.
    /// Returns (key, create revision, header).
    pub async fn campaign(
        &self,
        name: &[u8],
        lease: i64,
        value: &[u8],
    ) -> Result<(Vec<u8>, i64, Option<ResponseHeader>), Status> {
        let mut prefix = name.to_vec();
        prefix.push(b'/');
        let key = session_key(&prefix, lease);
        let put = op(request_op::Request::RequestPut(PutRequest {
            key: key.clone(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        }));
        let get = op(request_op::Request::RequestRange(RangeRequest { key: key.clone(), ..Default::default() }));
        let resp = self
            .txn(TxnRequest { compare: vec![create_revision_is(&key, 0)], success: vec![put], failure: vec![get] })
            .await?;
        let mut rev = resp.header.as_ref().map_or(0, |h| h.revision);
        if !resp.succeeded {
            let existing = range_kvs(&resp, 0);
            if let Some(kv) = existing.first() {
                rev = kv.create_revision;
                if kv.value != value
                    && let Err(e) = self.proclaim(&key, rev, lease, value).await
                {
                    let _ = self.delete_if_created_at(&key, rev).await;
                    return Err(e);
                }
            }
        }
        let cleanup = CleanupOnDrop { recipes: Some((self.clone(), key.clone(), rev)) };
        if let Err(e) = self.wait_deletes(&prefix, rev - 1).await {
            drop(cleanup);
            return Err(e);
        }
        cleanup.disarm();
        Ok((key, rev, resp.header))
    }

    /// `Election.Proclaim`: a new value from the current leader.
    pub async fn proclaim(
        &self,
        key: &[u8],
        rev: i64,
        lease: i64,
        value: &[u8],
    ) -> Result<Option<ResponseHeader>, Status> {
        let put = op(request_op::Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        }));
        let resp = self
            .txn(TxnRequest { compare: vec![create_revision_is(key, rev)], success: vec![put], failure: vec![] })
            .await?;
        if !resp.succeeded {
            return Err(Status::unknown(NOT_LEADER));
        }
        Ok(resp.header)
    }

    /// `Election.Resign`.
    pub async fn resign(&self, key: &[u8], rev: i64) -> Result<Option<ResponseHeader>, Status> {
        Ok(self.delete_if_created_at(key, rev).await?.header)
    }

    /// `Election.Leader`: the current leader's key.
    pub async fn leader(&self, name: &[u8]) -> Result<(KeyValue, Option<ResponseHeader>), Status> {
        let mut prefix = name.to_vec();
        prefix.push(b'/');
        let resp = self.range(by_create(&prefix, true, 0)).await?;
        match resp.kvs.into_iter().next() {
            Some(kv) => Ok((kv, resp.header)),
            None => Err(Status::unknown(NO_LEADER)),
        }
    }

    /// `Election.Observe`: sends every leader (and every value a leader
    /// proclaims) of `name` to `tx` until the receiver goes away.
    pub async fn observe(
        &self,
        name: &[u8],
        tx: tokio::sync::mpsc::Sender<(KeyValue, Option<ResponseHeader>)>,
    ) -> Result<(), Status> {
        let mut prefix = name.to_vec();
        prefix.push(b'/');
        loop {
            let resp = self.range(by_create(&prefix, true, 0)).await?;
            let (kv, header) = match resp.kvs.into_iter().next() {
                Some(kv) => (kv, resp.header),
                None => {
                    // Wait for the first candidate.
                    let rev = resp.header.as_ref().map_or(0, |h| h.revision);
                    let mut stream = self.server.hub().open_stream();
                    stream
                        .watch(WatchSpec {
                            key: prefix.clone(),
                            range_end: prefix_end(&prefix),
                            start_revision: rev,
                            no_delete: true,
                            ..Default::default()
                        })
                        .map_err(|e| Status::unavailable(e.to_string()))?;
                    loop {
                        let Some(d) = stream.recv().await else { return Ok(()) };
                        if let Some(ev) = d.events.iter().find(|e| e.r#type == EventType::Put as i32)
                            && let Some(kv) = ev.kv.clone()
                        {
                            let header = self.header(kv.mod_revision);
                            break (kv, header);
                        }
                    }
                }
            };
            let from = header.as_ref().map_or(0, |h| h.revision) + 1;
            if tx.send((kv.clone(), header)).await.is_err() {
                return Ok(());
            }
            // Follow this leader's key until it is deleted.
            let mut stream = self.server.hub().open_stream();
            stream
                .watch(WatchSpec { key: kv.key.clone(), start_revision: from, ..Default::default() })
                .map_err(|e| Status::unavailable(e.to_string()))?;
            'leader: loop {
                let Some(d) = stream.recv().await else { return Ok(()) };
                for ev in &d.events {
                    if ev.r#type == EventType::Delete as i32 {
                        break 'leader;
                    }
                    if let Some(kv) = ev.kv.clone()
                        && tx.send((kv, self.header(d.revision))).await.is_err()
                    {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_like_etcd() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    #[test]
    fn session_keys_are_prefix_plus_hex_lease() {
        assert_eq!(session_key(b"lock/", 0x694d7b2a1c), b"lock/694d7b2a1c");
    }
}
