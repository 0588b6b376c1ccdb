//! etcd's JSON gateway: the gRPC API as JSON over HTTP under `/v3/` on the
//! client port (etcd `server/embed/serve.go` registers grpc-gateway v2
//! handlers generated from `rpc.proto`'s `google.api.http` options).
//!
//! Every endpoint is a `POST` whose body is the request message in the
//! proto3 JSON mapping; the answer is the response message the same way.
//! Each call goes to the in-process tonic service ([`crate::api`]), so
//! results and errors are exactly the gRPC ones. The JSON follows etcd 3.6's
//! marshaler (protojson with `UseProtoNames: true`, `EmitUnpopulated: false`,
//! `DiscardUnknown: true`; the serde impls come from `capstan-proto`):
//!
//! * field names as in the .proto (`create_revision`, `TTL`, `peerURLs`);
//!   requests may also use the lowerCamelCase JSON names;
//! * 64-bit integers as strings (numbers accepted), bytes as standard base64
//!   (URL-safe and unpadded accepted), enums by name (numbers accepted);
//! * fields at their default value omitted; unknown request fields ignored;
//! * an empty body is the empty request.
//!
//! Errors are a `google.rpc.Status` as JSON, `{"code":3,"message":"..."}`,
//! with the HTTP status of grpc-gateway's `HTTPStatusFromCode`.
//! (etcd 3.4/3.5 use grpc-gateway v1 and answer
//! `{"error":"...","message":"...","code":3}`, and map FailedPrecondition to
//! 412 and Canceled to 408 rather than 400 and 499.)
//!
//! Streams (`/v3/watch`, `/v3/lease/keepalive`, `/v3/maintenance/snapshot`)
//! answer one JSON document per message, newline-terminated:
//! `{"result":{...}}`, and `{"error":{"code":N,"message":"..."}}` when the
//! stream fails. The bidirectional ones read the request body as a sequence
//! of JSON request objects, sent on as they arrive; a malformed one ends the
//! sending side, as in grpc-gateway.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodRouter, any};
use capstan_proto::etcdserverpb::auth_server::Auth;
use capstan_proto::etcdserverpb::cluster_server::Cluster;
use capstan_proto::etcdserverpb::kv_server::Kv;
use capstan_proto::etcdserverpb::lease_server::Lease;
use capstan_proto::etcdserverpb::maintenance_server::Maintenance;
use capstan_proto::etcdserverpb::watch_server::Watch;
use capstan_proto::v3electionpb::election_server::Election;
use capstan_proto::v3lockpb::lock_server::Lock;
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tonic::{Code, Status};

use crate::api;
use crate::bootstrap::StartedMember;
use crate::config::Config;
use crate::service::Server;

/// The largest JSON body read for one request message, given the gRPC
/// transport's limit on the message (`--max-request-bytes` plus etcd's 512 KiB
/// of overhead): base64 makes bytes fields a third larger and JSON adds its
/// own punctuation, so twice the message limit holds any request the gRPC
/// port would take, and bounds what one request can make the server buffer.
pub(crate) fn body_limit(message_limit: usize) -> usize {
    message_limit.saturating_mul(2)
}

/// The in-process gRPC services the gateway calls.
pub struct Services {
    /// See [`body_limit`].
    body_limit: usize,
    /// gRPC decoding limit of a message on the in-process request streams,
    /// as the gRPC transport's in `serve.rs`.
    message_limit: usize,
    kv: api::kv::KvService,
    watch: api::watch::WatchService,
    lease: api::lease::LeaseService,
    cluster: api::cluster::ClusterService,
    maintenance: api::maintenance::MaintenanceService,
    auth: api::auth::AuthService,
    lock: api::lock::LockService,
    election: api::election::ElectionService,
}

impl Services {
    /// The services of a member, built as `serve.rs` builds the gRPC ones.
    pub fn new(server: Arc<Server>) -> Self {
        let message_limit = server.options().max_request_bytes + api::GRPC_OVERHEAD_BYTES;
        Self {
            body_limit: body_limit(message_limit),
            message_limit,
            kv: api::kv::KvService::new(server.clone()),
            watch: api::watch::WatchService::of(server.clone()),
            lease: api::lease::LeaseService::new(server.clone()),
            cluster: api::cluster::ClusterService::new(server.clone()),
            maintenance: api::maintenance::MaintenanceService::new(server.clone()),
            lock: api::lock::LockService::new(api::recipes::Recipes::new(server.clone())),
            election: api::election::ElectionService::new(api::recipes::Recipes::new(server.clone())),
            auth: api::auth::AuthService::new(server),
        }
    }
}

/// The gateway's routes (`/v3/...`, and `/v3beta/...`, which etcd rewrites
/// to `/v3/`), to merge with the client port's other routes.
pub fn router(server: Arc<Server>) -> Router {
    router_with(Arc::new(Services::new(server)))
}

/// The gateway of a started member, or no routes at all when
/// `--enable-grpc-gateway=false`.
pub(crate) fn for_member(config: &Config, member: &StartedMember) -> Router {
    if config.enable_grpc_gateway { router(member.server.clone()) } else { Router::new() }
}

/// [`router`] over already built services.
pub fn router_with(services: Arc<Services>) -> Router {
    let v3 = v3_routes().with_state(services);
    Router::new()
        .nest("/v3", v3.clone())
        .nest("/v3beta", v3)
        .route("/v3/", any(not_found))
        .route("/v3beta/", any(not_found))
        // Go's ServeMux redirects a subtree's bare name to the subtree.
        .route("/v3", any(redirect_to_v3))
}

type S = Arc<Services>;

/// A unary endpoint: `$svc.$method` of the [`Services`].
macro_rules! unary {
    ($svc:ident . $method:ident) => {
        any(|State(s): State<S>, req: Request| async move {
            unary(req, s.body_limit, |r| async move { s.$svc.$method(r).await }).await
        })
    };
}

/// The paths under `/v3` (etcd 3.6's `rpc.proto` HTTP rules).
fn v3_routes() -> Router<S> {
    let lease_revoke: MethodRouter<S> = unary!(lease.lease_revoke);
    let lease_ttl: MethodRouter<S> = unary!(lease.lease_time_to_live);
    let lease_leases: MethodRouter<S> = unary!(lease.lease_leases);
    Router::new()
        // KV
        .route("/kv/range", unary!(kv.range))
        .route("/kv/put", unary!(kv.put))
        .route("/kv/deleterange", unary!(kv.delete_range))
        .route("/kv/txn", unary!(kv.txn))
        .route("/kv/compaction", unary!(kv.compact))
        // Watch
        .route(
            "/watch",
            any(|State(s): State<S>, req: Request| async move {
                bidi(req, (s.body_limit, s.message_limit), |r| async move { s.watch.watch(r).await }).await
            }),
        )
        // Lease
        .route("/lease/grant", unary!(lease.lease_grant))
        .route("/lease/revoke", lease_revoke.clone())
        .route("/kv/lease/revoke", lease_revoke)
        .route(
            "/lease/keepalive",
            any(|State(s): State<S>, req: Request| async move {
                bidi(req, (s.body_limit, s.message_limit), |r| async move { s.lease.lease_keep_alive(r).await }).await
            }),
        )
        .route("/lease/timetolive", lease_ttl.clone())
        .route("/kv/lease/timetolive", lease_ttl)
        .route("/lease/leases", lease_leases.clone())
        .route("/kv/lease/leases", lease_leases)
        // Lock and Election (etcd's v3lock and v3election gateways)
        .route("/lock/lock", unary!(lock.lock))
        .route("/lock/unlock", unary!(lock.unlock))
        .route("/election/campaign", unary!(election.campaign))
        .route("/election/proclaim", unary!(election.proclaim))
        .route("/election/leader", unary!(election.leader))
        .route("/election/resign", unary!(election.resign))
        .route(
            "/election/observe",
            any(|State(s): State<S>, req: Request| async move {
                server_stream(req, s.body_limit, |r| async move { s.election.observe(r).await }).await
            }),
        )
        // Cluster
        .route("/cluster/member/add", unary!(cluster.member_add))
        .route("/cluster/member/remove", unary!(cluster.member_remove))
        .route("/cluster/member/update", unary!(cluster.member_update))
        .route("/cluster/member/list", unary!(cluster.member_list))
        .route("/cluster/member/promote", unary!(cluster.member_promote))
        // Maintenance
        .route("/maintenance/alarm", unary!(maintenance.alarm))
        .route("/maintenance/status", unary!(maintenance.status))
        .route("/maintenance/defragment", unary!(maintenance.defragment))
        .route("/maintenance/hash", unary!(maintenance.hash))
        .route("/maintenance/hashkv", unary!(maintenance.hash_kv))
        .route(
            "/maintenance/snapshot",
            any(|State(s): State<S>, req: Request| async move {
                server_stream(req, s.body_limit, |r| async move { s.maintenance.snapshot(r).await }).await
            }),
        )
        .route("/maintenance/transfer-leadership", unary!(maintenance.move_leader))
        .route("/maintenance/downgrade", unary!(maintenance.downgrade))
        // Auth
        .route("/auth/enable", unary!(auth.auth_enable))
        .route("/auth/disable", unary!(auth.auth_disable))
        .route("/auth/status", unary!(auth.auth_status))
        .route("/auth/authenticate", unary!(auth.authenticate))
        .route("/auth/user/add", unary!(auth.user_add))
        .route("/auth/user/get", unary!(auth.user_get))
        .route("/auth/user/list", unary!(auth.user_list))
        .route("/auth/user/delete", unary!(auth.user_delete))
        .route("/auth/user/changepw", unary!(auth.user_change_password))
        .route("/auth/user/grant", unary!(auth.user_grant_role))
        .route("/auth/user/revoke", unary!(auth.user_revoke_role))
        .route("/auth/role/add", unary!(auth.role_add))
        .route("/auth/role/get", unary!(auth.role_get))
        .route("/auth/role/list", unary!(auth.role_list))
        .route("/auth/role/delete", unary!(auth.role_delete))
        .route("/auth/role/grant", unary!(auth.role_grant_permission))
        .route("/auth/role/revoke", unary!(auth.role_revoke_permission))
        .route("/{*rest}", any(not_found))
}

// ---------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------

/// A unary call: one JSON request in, one JSON response (or error) out.
pub(crate) async fn unary<Req, Resp, F, Fut>(req: Request, body_limit: usize, call: F) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    if let Some(resp) = check_method(req.method()) {
        return resp;
    }
    let (parts, body) = req.into_parts();
    let msg = match read_request::<Req>(body, body_limit).await {
        Ok(msg) => msg,
        Err(status) => return error_response(&status),
    };
    match call(grpc_request(msg, &parts.headers)).await {
        Ok(resp) => match serde_json::to_vec(resp.get_ref()) {
            Ok(json) => json_response(StatusCode::OK, json, true),
            Err(e) => error_response(&marshal_error(&e)),
        },
        Err(status) => error_response(&status),
    }
}

/// A server-streaming call (`Snapshot`): one JSON request in, a stream of
/// `{"result":...}` documents out.
pub(crate) async fn server_stream<Req, Resp, St, F, Fut>(req: Request, body_limit: usize, call: F) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize + Send + 'static,
    St: Stream<Item = Result<Resp, Status>> + Send + Unpin + 'static,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<St>, Status>>,
{
    if let Some(resp) = check_method(req.method()) {
        return resp;
    }
    let (parts, body) = req.into_parts();
    let msg = match read_request::<Req>(body, body_limit).await {
        Ok(msg) => msg,
        Err(status) => return error_response(&status),
    };
    match call(grpc_request(msg, &parts.headers)).await {
        Ok(resp) => forward_stream(resp.into_inner()).await,
        Err(status) => error_response(&status),
    }
}

/// A bidirectional call (`Watch`, `LeaseKeepAlive`): the request body is a
/// sequence of JSON requests handed to the service as they arrive; the
/// answer streams `{"result":...}` documents.
pub(crate) async fn bidi<Req, Resp, St, F, Fut>(
    req: Request,
    (body_limit, message_limit): (usize, usize),
    call: F,
) -> Response
where
    Req: DeserializeOwned + prost::Message + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    St: Stream<Item = Result<Resp, Status>> + Send + Unpin + 'static,
    F: FnOnce(tonic::Request<tonic::Streaming<Req>>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<St>, Status>>,
{
    if let Some(resp) = check_method(req.method()) {
        return resp;
    }
    let (parts, body) = req.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(pump_requests::<Req>(body, body_limit, tx));
    let inbound = tonic::Streaming::new_request(
        tonic_prost::ProstDecoder::<Req>::new(Default::default()),
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
        None,
        Some(message_limit),
    );
    match call(grpc_request(inbound, &parts.headers)).await {
        Ok(resp) => forward_stream(resp.into_inner()).await,
        Err(status) => error_response(&status),
    }
}

/// Reads JSON requests from an HTTP body as they arrive and sends each on as
/// a gRPC message frame. Stops at the end of the body, at a read error or at
/// a request that does not decode (grpc-gateway then closes the sending
/// side; the response stream goes on).
async fn pump_requests<Req>(body: Body, body_limit: usize, tx: tokio::sync::mpsc::Sender<Result<Bytes, Infallible>>)
where
    Req: DeserializeOwned + prost::Message,
{
    let mut body = body.into_data_stream();
    let mut splitter = JsonSplitter::with_limit(body_limit);
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { return };
        splitter.push(&chunk);
        loop {
            match splitter.next::<Req>() {
                Ok(Some(msg)) => {
                    if tx.send(Ok(grpc_frame(&msg))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    tracing::debug!(%status, "gateway: failed to decode a streamed request");
                    return;
                }
            }
        }
    }
}

/// A message in gRPC's length-prefixed framing (uncompressed).
fn grpc_frame(msg: &impl prost::Message) -> Bytes {
    let len = msg.encoded_len();
    let mut buf = Vec::with_capacity(5 + len);
    buf.push(0);
    buf.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode_raw(&mut buf);
    buf.into()
}

/// The tonic request for a gateway call. Like grpc-gateway, passes the
/// `Authorization` header on as `authorization` metadata, and
/// `Grpc-Metadata-<key>` headers as `<key>`.
fn grpc_request<T>(msg: T, headers: &HeaderMap) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    let md = req.metadata_mut();
    for (name, value) in headers {
        let key = if name == header::AUTHORIZATION {
            Some("authorization")
        } else {
            name.as_str().strip_prefix("grpc-metadata-")
        };
        let Some(key) = key else { continue };
        let key = tonic::metadata::AsciiMetadataKey::from_bytes(key.as_bytes());
        let value = value.to_str().ok().map(tonic::metadata::AsciiMetadataValue::try_from);
        if let (Ok(key), Some(Ok(value))) = (key, value) {
            md.append(key, value);
        }
    }
    req
}

/// Forwards a response stream as grpc-gateway's `ForwardResponseStream`:
/// the HTTP status is decided by the first item (an error first gives the
/// error's status), then one newline-terminated document per item.
pub(crate) async fn forward_stream<Resp, St>(mut stream: St) -> Response
where
    Resp: Serialize + Send + 'static,
    St: Stream<Item = Result<Resp, Status>> + Send + Unpin + 'static,
{
    let first = match stream.next().await {
        // Nothing to send: headers only.
        None => {
            let mut resp = Response::new(Body::empty());
            add_grpc_metadata(resp.headers_mut());
            return resp;
        }
        Some(Err(status)) => {
            let mut resp = json_response(http_status(status.code()), stream_chunk::<Resp>(Err(&status)).0, false);
            add_grpc_metadata(resp.headers_mut());
            return resp;
        }
        Some(Ok(first)) => first,
    };
    let body = async_stream::stream! {
        let (chunk, mut failed) = stream_chunk(Ok(&first));
        yield Ok::<_, Infallible>(Bytes::from(chunk));
        while !failed {
            let Some(item) = stream.next().await else { break };
            let (chunk, f) = stream_chunk(item.as_ref());
            failed = f;
            yield Ok(Bytes::from(chunk));
        }
    };
    let mut resp = Response::new(Body::from_stream(body));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    add_grpc_metadata(resp.headers_mut());
    resp
}

/// One document of a streamed answer, newline included:
/// `{"result":<message>}`, or `{"error":<status>}` (then `true`: the
/// stream ends there).
pub(crate) fn stream_chunk<Resp: Serialize>(item: Result<&Resp, &Status>) -> (Vec<u8>, bool) {
    #[derive(Serialize)]
    struct Result<'a, T> {
        result: &'a T,
    }
    #[derive(Serialize)]
    struct Error<'a> {
        error: StatusBody<'a>,
    }
    let error = |status: &Status| serde_json::to_vec(&Error { error: StatusBody::of(status) }).unwrap_or_default();
    let (mut json, failed) = match item {
        Ok(msg) => match serde_json::to_vec(&Result { result: msg }) {
            Ok(json) => (json, false),
            Err(e) => (error(&marshal_error(&e)), true),
        },
        Err(status) => (error(status), true),
    };
    json.push(b'\n');
    (json, failed)
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Reads and decodes a whole request body.
async fn read_request<Req: DeserializeOwned + Default>(body: Body, body_limit: usize) -> Result<Req, Status> {
    let bytes = axum::body::to_bytes(body, body_limit)
        .await
        .map_err(|e| Status::invalid_argument(format!("reading the request body: {e}")))?;
    decode_request(&bytes)
}

/// Decodes a request as grpc-gateway does: the first JSON value of the body
/// (anything after it is not read); an empty body is the empty request.
pub(crate) fn decode_request<Req: DeserializeOwned + Default>(body: &[u8]) -> Result<Req, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Req::default());
    }
    match serde_json::Deserializer::from_slice(body).into_iter::<Value>().next() {
        Some(Ok(value)) => to_message(value).map_err(Status::invalid_argument),
        Some(Err(e)) => Err(Status::invalid_argument(decode_error_text(&e, body))),
        None => Ok(Req::default()),
    }
}

/// A well-formed JSON value as a request message (protojson's part of the
/// decoding). `null` stands for an unset field, as in protojson.
fn to_message<T: DeserializeOwned>(mut value: Value) -> Result<T, String> {
    fn strip_nulls(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|_, v| !v.is_null());
                map.values_mut().for_each(strip_nulls);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_nulls),
            _ => {}
        }
    }
    strip_nulls(&mut value);
    T::deserialize(value).map_err(|e| format!("proto: {e}"))
}

/// Splits a byte stream into consecutive JSON values (Go's `json.Decoder`
/// over a request body).
pub(crate) struct JsonSplitter {
    buf: Vec<u8>,
    /// The most bytes one value may take before it is complete.
    limit: usize,
}

impl Default for JsonSplitter {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

impl JsonSplitter {
    pub(crate) fn with_limit(limit: usize) -> Self {
        Self { buf: Vec::new(), limit }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete value as a `T`, `None` until more data arrives.
    pub(crate) fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, Status> {
        let start = self.buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(self.buf.len());
        self.buf.drain(..start);
        if self.buf.is_empty() {
            return Ok(None);
        }
        let mut values = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        let text = match values.next() {
            Some(Ok(value)) => {
                let used = values.byte_offset();
                self.buf.drain(..used);
                match to_message(value) {
                    Ok(msg) => return Ok(Some(msg)),
                    Err(text) => text,
                }
            }
            // An incomplete value may grow only up to the limit: a client
            // cannot make the server buffer an endless one.
            Some(Err(e)) if e.is_eof() && self.buf.len() > self.limit => {
                return Err(Status::resource_exhausted(format!(
                    "request body larger than max ({} vs. {})",
                    self.buf.len(),
                    self.limit
                )));
            }
            Some(Err(e)) if e.is_eof() => return Ok(None),
            Some(Err(e)) => decode_error_text(&e, &self.buf),
            None => return Ok(None),
        };
        Err(Status::invalid_argument(format!("Failed to decode request: {text}")))
    }
}

/// The text of a request that does not decode, in the words of Go's
/// `encoding/json` (syntax) or protojson (content) where they are known.
pub(crate) fn decode_error_text(e: &serde_json::Error, input: &[u8]) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected EOF".to_string(),
        Category::Syntax => {
            let msg = e.to_string();
            let context = if msg.starts_with("expected `:`") {
                "after object key"
            } else if msg.starts_with("expected `,` or `}`") {
                "after object key:value pair"
            } else if msg.starts_with("expected `,` or `]`") {
                "after array element"
            } else if msg.starts_with("key must be a string")
                || msg.starts_with("trailing comma") && offending(e, input) == Some(b'}')
            {
                "looking for beginning of object key string"
            } else if msg.starts_with("control character") {
                "in string literal"
            } else if msg.starts_with("invalid escape") {
                "in string escape code"
            } else {
                "looking for beginning of value"
            };
            match offending(e, input) {
                Some(c) => format!("invalid character {} {context}", go_quote_char(c)),
                None => "unexpected EOF".to_string(),
            }
        }
        Category::Data | Category::Io => format!("proto: {}", strip_position(&e.to_string())),
    }
}

/// The byte serde_json stopped at (its 1-based line and column).
fn offending(e: &serde_json::Error, input: &[u8]) -> Option<u8> {
    let line = input.split(|b| *b == b'\n').nth(e.line().checked_sub(1)?)?;
    line.get(e.column().checked_sub(1)?).copied()
}

/// Go's `quoteChar` in `encoding/json` error texts.
fn go_quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\n' => r"'\n'".to_string(),
        b'\r' => r"'\r'".to_string(),
        b'\t' => r"'\t'".to_string(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn strip_position(msg: &str) -> &str {
    msg.rfind(" at line ").map_or(msg, |i| &msg[..i])
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// A JSON answer; `grpc_metadata` adds the header the gateway copies from the
/// gRPC response headers (`Grpc-Metadata-Content-Type: application/grpc`).
fn json_response(status: StatusCode, json: Vec<u8>, grpc_metadata: bool) -> Response {
    let mut resp = Response::new(Body::from(json));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if grpc_metadata {
        add_grpc_metadata(resp.headers_mut());
    }
    resp
}

fn add_grpc_metadata(headers: &mut HeaderMap) {
    headers.insert(HeaderName::from_static("grpc-metadata-content-type"), HeaderValue::from_static("application/grpc"));
}

/// `google.rpc.Status` in protojson (details are never set by Capstan).
#[derive(Serialize)]
pub(crate) struct StatusBody<'a> {
    #[serde(skip_serializing_if = "is_zero")]
    code: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

impl<'a> StatusBody<'a> {
    fn of(status: &'a Status) -> Self {
        Self { code: status.code() as i32, message: status.message() }
    }
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// grpc-gateway's `DefaultHTTPErrorHandler`.
pub(crate) fn error_response(status: &Status) -> Response {
    let json = serde_json::to_vec(&StatusBody::of(status)).unwrap_or_default();
    let mut resp = json_response(http_status(status.code()), json, false);
    if status.code() == Code::Unauthenticated
        && let Ok(v) = HeaderValue::from_str(status.message())
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// A response that does not marshal (an enum number unknown to the JSON
/// mapping): grpc-gateway reports the marshaler's error as code Unknown.
fn marshal_error(e: &serde_json::Error) -> Status {
    Status::unknown(e.to_string())
}

/// grpc-gateway v2's `HTTPStatusFromCode`.
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        // Deliberately not 412 (grpc-gateway v1, etcd 3.4, used 412).
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

// ---------------------------------------------------------------------------
// Routing errors
// ---------------------------------------------------------------------------

/// Every gateway route is a POST. Other methods get grpc-gateway's routing
/// error (`Unimplemented`, HTTP 501); `OPTIONS` gets etcd's empty 200, which
/// its access controller answers before the gateway sees the request.
pub(crate) fn check_method(method: &Method) -> Option<Response> {
    if method == Method::POST {
        None
    } else if method == Method::OPTIONS {
        Some(Response::new(Body::empty()))
    } else {
        Some(error_response(&Status::unimplemented("Method Not Allowed")))
    }
}

/// A path under `/v3/` that names no endpoint.
pub(crate) async fn not_found(method: Method) -> Response {
    if method == Method::OPTIONS {
        return Response::new(Body::empty());
    }
    error_response(&Status::not_found("Not Found"))
}

/// Go's `http.Redirect` to `/v3/` (a body only for GET and HEAD).
async fn redirect_to_v3(method: Method) -> Response {
    let mut resp = if method == Method::GET || method == Method::HEAD {
        let mut resp = Response::new(Body::from("<a href=\"/v3/\">Moved Permanently</a>.\n\n"));
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        resp
    } else {
        Response::new(Body::empty())
    };
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    resp.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/v3/"));
    resp
}

#[cfg(test)]
mod tests;
