//! The etcd `Watch` gRPC service (etcd `server/etcdserver/api/v3rpc/watch.go`).
//!
//! Each bidirectional stream gets a [`WatchStream`] from the hub. One task
//! (the response stream tonic polls) multiplexes the client's requests, the
//! hub's deliveries and the progress ticker, so a created response always
//! precedes the watcher's first event and a canceled response is the last
//! thing the client hears about a watcher. When the client stops reading,
//! HTTP/2 flow control stops tonic from polling us, the stream's bounded
//! queue fills and the hub moves the stream's watchers to history catch-up;
//! nothing else is held up.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use capstan_proto::etcdserverpb::watch_create_request::FilterType;
use capstan_proto::etcdserverpb::watch_server::Watch;
use capstan_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse, watch_request::RequestUnion};
use capstan_proto::mvccpb::{Event, event::EventType};
use futures::{Stream, StreamExt};
use prost::Message;
use rand::Rng;
use tonic::{Request, Response, Status, Streaming};

use super::identity;
use crate::auth::{Access, AuthInfo};
use crate::mvcc::KvStore;
use crate::service::auth::Credentials;
use crate::service::{HeaderFactory, Server};
use crate::watch::{Delivery, INVALID_WATCH_ID, WatchError, WatchHub, WatchSpec, WatchStream};

/// The status a watch stream ends with when the hub shuts down: clients
/// treat `Unavailable` as transient and resume on another endpoint.
const STOPPED: &str = "etcdserver: server stopped";

/// The `Watch` service: one [`WatchStream`] of the shared hub per gRPC stream.
#[derive(Clone)]
pub struct WatchService {
    hub: Arc<WatchHub>,
    headers: HeaderFactory,
    /// The member's server, which decides who may watch what (none in
    /// tests of the watch protocol alone).
    auth: Option<Arc<Server>>,
}

impl WatchService {
    #[cfg(test)]
    pub fn new(hub: Arc<WatchHub>, headers: HeaderFactory) -> Self {
        Self { hub, headers, auth: None }
    }

    /// The service of a member: watch creation is authorised by `server`.
    pub fn of(server: Arc<Server>) -> Self {
        Self { hub: server.hub().clone(), headers: server.headers().clone(), auth: Some(server) }
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = ResponseStream;

    async fn watch(&self, request: Request<Streaming<WatchRequest>>) -> Result<Response<Self::WatchStream>, Status> {
        // etcd reads the stream's credentials at each create.
        let creds = identity::credentials(&request);
        if let Some(server) = &self.auth {
            server.wait_for_token(&creds).await;
        }
        let inbound = request.into_inner();
        let session = Session {
            auth_changes: self.auth.as_ref().map(|server| server.auth().subscribe()),
            ranges: HashMap::new(),
            auth: self.auth.clone().map(|server| (server, creds)),
            stream: self.hub.open_stream(),
            kv: self.hub.kv().clone(),
            headers: self.headers.clone(),
            fragment_threshold: self.hub.config().fragment_threshold(),
            progress: HashMap::new(),
            prev_kv: HashSet::new(),
            fragment: HashSet::new(),
        };
        let period = jittered(self.hub.config().effective_progress_interval());
        Ok(Response::new(Box::pin(session.run(inbound, period))))
    }
}

/// What grpc-go prints for etcd's permission error (a watch's cancel reason).
const PERMISSION_DENIED: &str = "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/// Resolves when auth changes; never without a receiver (or once it is closed).
async fn auth_changed(changes: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    if let Some(rx) = changes
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// etcd `GetProgressReportInterval`: the interval plus up to 10 % jitter so
/// watchers created together do not all report at the same moment.
fn jittered(interval: Duration) -> Duration {
    let tenth = (interval.as_nanos() / 10) as u64;
    let jitter = if tenth == 0 { 0 } else { rand::rng().random_range(0..tenth) };
    interval + Duration::from_nanos(jitter)
}

/// Per-stream state of the service (etcd `serverWatchStream`).
struct Session {
    /// The server and this stream's credentials, when auth applies.
    auth: Option<(Arc<Server>, Credentials)>,
    /// Wakes when users, roles or permissions change.
    auth_changes: Option<tokio::sync::watch::Receiver<u64>>,
    /// What each watcher watches, to check again when auth changes.
    ranges: HashMap<i64, (Vec<u8>, Vec<u8>)>,
    stream: WatchStream,
    kv: Arc<KvStore>,
    headers: HeaderFactory,
    fragment_threshold: usize,
    /// `progress_notify` watchers → "no events sent since the last tick".
    progress: HashMap<i64, bool>,
    prev_kv: HashSet<i64>,
    fragment: HashSet<i64>,
}

enum Step {
    AuthChanged,
    Delivery(Option<Delivery>),
    Request(Option<Result<WatchRequest, Status>>),
    Tick,
}

impl Session {
    fn run(
        mut self,
        mut inbound: Streaming<WatchRequest>,
        period: Duration,
    ) -> impl Stream<Item = Result<WatchResponse, Status>> {
        async_stream::stream! {
            tracing::debug!(stream = ?self.stream, "watch stream opened");
            let mut inbound_open = true;
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let step = tokio::select! {
                    d = self.stream.recv() => Step::Delivery(d),
                    r = inbound.next(), if inbound_open => Step::Request(r),
                    _ = ticker.tick() => Step::Tick,
                    _ = auth_changed(&mut self.auth_changes) => Step::AuthChanged,
                };
                match step {
                    Step::Delivery(None) => {
                        yield Err(Status::unavailable(STOPPED));
                        break;
                    }
                    Step::Delivery(Some(d)) => match self.responses(d).await {
                        Ok(list) => {
                            for r in list {
                                yield Ok(r);
                            }
                        }
                        Err(status) => {
                            yield Err(status);
                            break;
                        }
                    },
                    Step::Request(Some(Ok(req))) => {
                        if let Some(r) = self.handle(req) {
                            yield Ok(r);
                        }
                    }
                    // The client closed its sending side: like etcd, keep
                    // sending events until the stream itself goes away.
                    Step::Request(None) => inbound_open = false,
                    Step::Request(Some(Err(status))) => {
                        tracing::debug!(%status, "watch stream receive failed");
                        yield Err(status);
                        break;
                    }
                    Step::Tick => self.tick(),
                    Step::AuthChanged => {
                        for r in self.recheck() {
                            yield Ok(r);
                        }
                    }
                }
            }
            tracing::debug!(stream = ?self.stream, "watch stream closed");
        }
    }

    /// Handles one client request; returns the control response, if any.
    fn handle(&mut self, req: WatchRequest) -> Option<WatchResponse> {
        match req.request_union {
            Some(RequestUnion::CreateRequest(c)) => Some(self.create(c)),
            Some(RequestUnion::CancelRequest(c)) => {
                // etcd answers only cancels of existing watchers.
                let rev = self.stream.cancel(c.watch_id).ok()?;
                self.forget(c.watch_id);
                Some(WatchResponse {
                    header: Some(self.headers.header(rev)),
                    watch_id: c.watch_id,
                    canceled: true,
                    ..Default::default()
                })
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                self.stream.request_progress_all();
                None
            }
            None => {
                tracing::info!("invalid watch request type received in gRPC stream");
                None
            }
        }
    }

    /// etcd's `isWatchPermitted`: READ on the range as requested (before
    /// "\0" is read as open-ended), checked once, at creation.
    fn permitted(&self, c: &WatchCreateRequest) -> Result<(), Status> {
        let Some((server, creds)) = &self.auth else { return Ok(()) };
        let key: &[u8] = if c.key.is_empty() { &[0] } else { &c.key };
        let who = server.resolve(creds)?;
        server.authorized_read(
            who.as_ref(),
            |view, who| view.check(who, Access::Read, key, &c.range_end),
            || Ok(()),
        )?;
        Ok(())
    }

    fn forget(&mut self, id: i64) {
        self.progress.remove(&id);
        self.prev_kv.remove(&id);
        self.fragment.remove(&id);
        self.ranges.remove(&id);
    }

    /// After an auth change: cancels the watchers whose user may no longer
    /// read what they watch (a deleted user, a revoked role or permission,
    /// auth enabled under an anonymous watch). etcd checks only at creation
    /// and keeps streaming; Capstan closes that gap on purpose. The user
    /// is checked at the current revision, so a JWT merely made old by the
    /// change does not cancel anything.
    fn recheck(&mut self) -> Vec<WatchResponse> {
        let Some((server, creds)) = &self.auth else { return Vec::new() };
        let auth = server.auth().clone();
        if self.ranges.is_empty() || !auth.is_enabled() {
            return Vec::new();
        }
        let user = server.resolve(creds).ok().flatten().map(|who| who.user);
        let view = auth.view();
        let who =
            AuthInfo { revision: if user.is_some() { view.revision() } else { 0 }, user: user.unwrap_or_default() };
        let denied: Vec<i64> = self
            .ranges
            .iter()
            .filter(|(_, (key, end))| view.check(&who, Access::Read, key, end).is_err())
            .map(|(id, _)| *id)
            .collect();
        drop(view);
        let mut out = Vec::new();
        for id in denied {
            let Ok(rev) = self.stream.cancel(id) else { continue };
            self.forget(id);
            tracing::info!(watch_id = id, user = %who.user, "watch cancelled: permission revoked");
            out.push(WatchResponse {
                header: Some(self.headers.header(rev)),
                watch_id: id,
                canceled: true,
                cancel_reason: PERMISSION_DENIED.to_owned(),
                ..Default::default()
            });
        }
        out
    }

    fn create(&mut self, c: WatchCreateRequest) -> WatchResponse {
        if c.start_revision >= 0
            && let Err(status) = self.permitted(&c)
        {
            return WatchResponse {
                header: Some(self.headers.header(self.stream.revision())),
                watch_id: INVALID_WATCH_ID,
                created: true,
                canceled: true,
                // What grpc-go's status.Error prints; the Go client turns it back into the error.
                cancel_reason: format!("rpc error: code = {:?} desc = {}", status.code(), status.message()),
                ..Default::default()
            };
        }
        let range = (if c.key.is_empty() { vec![0] } else { c.key.clone() }, c.range_end.clone());
        let spec = WatchSpec {
            watch_id: c.watch_id,
            key: c.key,
            range_end: c.range_end,
            start_revision: c.start_revision,
            no_put: c.filters.contains(&(FilterType::Noput as i32)),
            no_delete: c.filters.contains(&(FilterType::Nodelete as i32)),
        };
        match self.stream.watch(spec) {
            Ok((id, rev)) => {
                if self.auth.is_some() {
                    self.ranges.insert(id, range);
                }
                if c.progress_notify {
                    self.progress.insert(id, true);
                }
                if c.prev_kv {
                    self.prev_kv.insert(id);
                }
                if c.fragment {
                    self.fragment.insert(id);
                }
                WatchResponse {
                    header: Some(self.headers.header(rev)),
                    watch_id: id,
                    created: true,
                    ..Default::default()
                }
            }
            Err(e) => {
                if e != WatchError::Stopped {
                    tracing::debug!(error = %e, "watch create refused");
                }
                WatchResponse {
                    header: Some(self.headers.header(self.stream.revision())),
                    watch_id: INVALID_WATCH_ID,
                    created: true,
                    canceled: true,
                    cancel_reason: e.to_string(),
                    ..Default::default()
                }
            }
        }
    }

    /// etcd's progress ticker: watchers that got no events since the last
    /// tick get a notification (if synced); every flag is then re-armed.
    fn tick(&mut self) {
        for (id, idle) in self.progress.iter_mut() {
            if *idle {
                self.stream.request_progress(*id);
            }
            *idle = true;
        }
    }

    /// Turns a hub delivery into the response(s) sent to the client.
    async fn responses(&mut self, d: Delivery) -> Result<Vec<WatchResponse>, Status> {
        let had_events = !d.events.is_empty();
        let mut events: Vec<Event> = d.events.iter().map(|e| Event::clone(e)).collect();
        if had_events && self.prev_kv.contains(&d.watch_id) {
            let kv = self.kv.clone();
            events = tokio::task::spawn_blocking(move || {
                fill_prev_kv(&kv, &mut events);
                events
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "prev_kv lookup failed");
                Status::internal("prev_kv lookup failed")
            })?;
        }
        let resp = WatchResponse {
            header: Some(self.headers.header(d.revision)),
            watch_id: d.watch_id,
            canceled: d.compact_revision != 0,
            compact_revision: d.compact_revision,
            events,
            ..Default::default()
        };
        if had_events {
            // Elide the next progress notification after real events.
            if let Some(idle) = self.progress.get_mut(&d.watch_id) {
                *idle = false;
            }
        }
        if self.fragment.contains(&d.watch_id) { Ok(fragments(resp, self.fragment_threshold)) } else { Ok(vec![resp]) }
    }
}

/// etcd `IsCreateEvent`: a put that created the key has no previous version.
fn is_create(ev: &Event) -> bool {
    ev.r#type == EventType::Put as i32 && ev.kv.as_ref().is_some_and(|kv| kv.create_revision == kv.mod_revision)
}

/// Fills `prev_kv` with the key's version just before the event (etcd reads
/// it at `mod_revision - 1`; a failed read, e.g. compacted, leaves it empty).
fn fill_prev_kv(kv: &KvStore, events: &mut [Event]) {
    for ev in events.iter_mut() {
        if is_create(ev) {
            continue;
        }
        let Some(cur) = ev.kv.as_ref() else { continue };
        if let Ok(Some(prev)) = kv.get_at(&cur.key, cur.mod_revision - 1) {
            ev.prev_kv = Some(prev);
        }
    }
}

/// etcd `sendFragments`: a response of at least `limit` bytes with two or
/// more events is split into responses flagged `fragment` (all but the last)
/// that each stay below `limit`, at least one event each.
fn fragments(mut resp: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    if resp.encoded_len() < limit || resp.events.len() < 2 {
        return vec![resp];
    }
    let events = std::mem::take(&mut resp.events);
    resp.fragment = true;
    let base = resp.encoded_len();
    let mut out = Vec::new();
    let mut idx = 0;
    loop {
        let mut cur = resp.clone();
        let mut size = base;
        while idx < events.len() {
            let add = prost::encoding::message::encoded_len(11, &events[idx]);
            if !cur.events.is_empty() && size + add >= limit {
                break;
            }
            size += add;
            cur.events.push(events[idx].clone());
            idx += 1;
        }
        if idx == events.len() {
            cur.fragment = false;
        }
        let last = !cur.fragment;
        out.push(cur);
        if last {
            return out;
        }
    }
}

#[cfg(test)]
mod tests;
