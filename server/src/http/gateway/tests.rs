//! The gateway's JSON mapping (etcd 3.6's protojson options) and its request
//! and response handling, against fake calls.

use std::pin::Pin;

use axum::body::{Body, to_bytes};
use axum::http::{Request as HttpRequest, StatusCode};
use capstan_proto::etcdserverpb::{
    self as pb, Compare, HashResponse, LeaseGrantResponse, Member, PutRequest, RangeRequest, RangeResponse,
    ResponseHeader, StatusResponse, TxnRequest, WatchRequest, WatchResponse, compare, range_request, request_op,
    watch_request,
};
use capstan_proto::mvccpb::{Event, KeyValue, event::EventType};
use futures::Stream;
use serde_json::{Value, json};

use super::*;

/// The body limit of a member with etcd's default `--max-request-bytes`.
const TEST_BODY_LIMIT: usize = 2 * (1_572_864 + 512 * 1024);

fn to_json<T: Serialize>(msg: &T) -> Value {
    serde_json::to_value(msg).unwrap()
}

fn header() -> ResponseHeader {
    ResponseHeader { cluster_id: 11680594536940575777, member_id: 7785115179637243273, revision: 2, raft_term: 2 }
}

// ---------------------------------------------------------------------------
// JSON mapping
// ---------------------------------------------------------------------------

#[test]
fn int64_and_uint64_are_strings_bytes_are_base64_defaults_omitted() {
    let resp = RangeResponse {
        header: Some(header()),
        kvs: vec![KeyValue {
            key: b"foo".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"bar".to_vec(),
            lease: 0,
        }],
        more: false,
        count: 1,
    };
    // Exactly what etcd's gateway answers (field order included).
    assert_eq!(
        serde_json::to_string(&resp).unwrap(),
        r#"{"header":{"cluster_id":"11680594536940575777","member_id":"7785115179637243273","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}"#
    );
    // Nothing set: nothing printed.
    assert_eq!(serde_json::to_string(&RangeResponse::default()).unwrap(), "{}");
    // An empty but present message is printed as {}.
    let resp = RangeResponse { header: Some(ResponseHeader::default()), ..Default::default() };
    assert_eq!(serde_json::to_string(&resp).unwrap(), r#"{"header":{}}"#);
}

#[test]
fn uint32_is_a_number_and_proto_names_are_kept() {
    let hash = HashResponse { header: None, hash: 4226235036 };
    assert_eq!(to_json(&hash), json!({"hash": 4226235036u32}));

    let grant = LeaseGrantResponse { header: None, id: 100, ttl: 60, error: String::new() };
    assert_eq!(to_json(&grant), json!({"ID": "100", "TTL": "60"}));

    let member = Member {
        id: 1,
        name: "n".into(),
        peer_ur_ls: vec!["http://a:2380".into()],
        client_ur_ls: vec![],
        is_learner: false,
    };
    assert_eq!(to_json(&member), json!({"ID": "1", "name": "n", "peerURLs": ["http://a:2380"]}));

    let status = StatusResponse {
        version: "3.6.0".into(),
        db_size: 20480,
        raft_applied_index: 4,
        db_size_in_use: 16384,
        is_learner: true,
        ..Default::default()
    };
    assert_eq!(
        to_json(&status),
        json!({"version": "3.6.0", "dbSize": "20480", "raftAppliedIndex": "4", "dbSizeInUse": "16384", "isLearner": true})
    );
}

#[test]
fn enums_are_names_and_default_enums_are_omitted() {
    let put = Event { r#type: EventType::Put as i32, kv: None, prev_kv: None };
    assert_eq!(to_json(&put), json!({}));
    let del = Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue { key: b"k".to_vec(), ..Default::default() }),
        prev_kv: None,
    };
    assert_eq!(to_json(&del), json!({"type": "DELETE", "kv": {"key": "aw=="}}));

    let req = RangeRequest {
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Key as i32,
        ..Default::default()
    };
    assert_eq!(to_json(&req), json!({"sort_order": "DESCEND"}));
}

#[test]
fn oneof_members_are_printed_even_at_their_default() {
    let cmp = Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Lease as i32,
        key: b"a".to_vec(),
        range_end: vec![],
        target_union: Some(compare::TargetUnion::Lease(0)),
    };
    assert_eq!(to_json(&cmp), json!({"target": "LEASE", "key": "YQ==", "lease": "0"}));

    let op = pb::ResponseOp { response: Some(pb::response_op::Response::ResponseRange(RangeResponse::default())) };
    assert_eq!(to_json(&op), json!({"response_range": {}}));
}

#[test]
fn requests_accept_proto_and_json_names_strings_and_numbers() {
    let a: PutRequest = decode_request(br#"{"key":"Zm9v","value":"YmFy","lease":"7","prev_kv":true}"#).unwrap();
    let b: PutRequest = decode_request(br#"{"key":"Zm9v","value":"YmFy","lease":7,"prevKv":true}"#).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.key, b"foo");
    assert_eq!(a.value, b"bar");
    assert_eq!(a.lease, 7);
    assert!(a.prev_kv);

    let r: RangeRequest = decode_request(
        br#"{"key":"Zw==","range_end":"Zw","sort_order":"DESCEND","sort_target":3,"count_only":true,"maxCreateRevision":"9"}"#,
    )
    .unwrap();
    assert_eq!(r.range_end, b"g", "unpadded base64");
    assert_eq!(r.sort_order, range_request::SortOrder::Descend as i32);
    assert_eq!(r.sort_target, range_request::SortTarget::Mod as i32);
    assert!(r.count_only);
    assert_eq!(r.max_create_revision, 9);

    // URL-safe base64 (0xfb 0xff = "-_8" URL-safe, "+/8" standard).
    let r: RangeRequest = decode_request(br#"{"key":"-_8="}"#).unwrap();
    assert_eq!(r.key, [0xfb, 0xff]);
    let r: RangeRequest = decode_request(br#"{"key":"+/8="}"#).unwrap();
    assert_eq!(r.key, [0xfb, 0xff]);
}

#[test]
fn nested_oneofs_decode() {
    let t: TxnRequest = decode_request(
        br#"{"compare":[{"key":"YQ==","target":"LEASE","result":"EQUAL","lease":"0"}],
             "success":[{"request_range":{"key":"YQ=="}}],
             "failure":[{"request_txn":{"success":[{"request_put":{"key":"Yg==","value":"MQ=="}}]}}]}"#,
    )
    .unwrap();
    assert_eq!(t.compare[0].target_union, Some(compare::TargetUnion::Lease(0)));
    assert_eq!(t.compare[0].target, compare::CompareTarget::Lease as i32);
    assert!(matches!(&t.success[0].request, Some(request_op::Request::RequestRange(r)) if r.key == b"a"));
    let Some(request_op::Request::RequestTxn(inner)) = &t.failure[0].request else { panic!("{t:?}") };
    assert!(matches!(&inner.success[0].request, Some(request_op::Request::RequestPut(p)) if p.value == b"1"));

    let w: WatchRequest =
        decode_request(br#"{"create_request":{"key":"YQ==","filters":["NODELETE"],"watch_id":"7"}}"#).unwrap();
    let Some(watch_request::RequestUnion::CreateRequest(c)) = w.request_union else { panic!() };
    assert_eq!(c.filters, [pb::watch_create_request::FilterType::Nodelete as i32]);
    assert_eq!(c.watch_id, 7);
}

#[test]
fn empty_bodies_unknown_fields_and_trailing_data() {
    let r: RangeRequest = decode_request(b"").unwrap();
    assert_eq!(r, RangeRequest::default());
    let r: RangeRequest = decode_request(b" \n").unwrap();
    assert_eq!(r, RangeRequest::default());
    let r: RangeRequest = decode_request(br#"{"key":"YQ==","bogus":{"x":[1,2]}}"#).unwrap();
    assert_eq!(r.key, b"a");
    // null is an unset field.
    let r: RangeRequest = decode_request(br#"{"key":"YQ==","range_end":null,"limit":null,"sort_order":null}"#).unwrap();
    assert_eq!(r, RangeRequest { key: b"a".to_vec(), ..Default::default() });
    let t: TxnRequest =
        decode_request(br#"{"success":[{"request_put":{"key":"YQ==","lease":null}}],"failure":null}"#).unwrap();
    assert!(matches!(&t.success[0].request, Some(request_op::Request::RequestPut(p)) if p.key == b"a"));
    // Large unsigned and negative 64-bit values, as strings or numbers.
    let m: pb::MemberRemoveRequest = decode_request(br#"{"ID":"18446744073709551615"}"#).unwrap();
    assert_eq!(m.id, u64::MAX);
    let m: pb::MemberRemoveRequest = decode_request(br#"{"ID":18446744073709551615}"#).unwrap();
    assert_eq!(m.id, u64::MAX);
    let r: RangeRequest = decode_request(br#"{"key":"YQ==","min_mod_revision":"-1","limit":-2}"#).unwrap();
    assert_eq!((r.min_mod_revision, r.limit), (-1, -2));
    // Like Go's json.Decoder, only the first value is read.
    let r: RangeRequest = decode_request(br#"{"key":"YQ=="} {"key":"Yg=="} garbage"#).unwrap();
    assert_eq!(r.key, b"a");
}

#[test]
fn malformed_requests_are_invalid_argument_with_go_texts() {
    let err = decode_request::<RangeRequest>(br#"{"key":"#).unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "unexpected EOF");
    let err = decode_request::<RangeRequest>(br#"{"limit":abc}"#).unwrap_err();
    assert_eq!(err.message(), "invalid character 'a' looking for beginning of value");
    let err = decode_request::<RangeRequest>(br#"{"limit" 1}"#).unwrap_err();
    assert_eq!(err.message(), "invalid character '1' after object key");
    let err = decode_request::<RangeRequest>(br#"{"limit":1 "key":""}"#).unwrap_err();
    assert_eq!(err.message(), "invalid character '\"' after object key:value pair");
    let err = decode_request::<RangeRequest>(br#"{limit:1}"#).unwrap_err();
    assert_eq!(err.message(), "invalid character 'l' looking for beginning of object key string");
    // Well-formed JSON with a bad value: protojson's kind of message.
    let err = decode_request::<RangeRequest>(br#"{"limit":"abc"}"#).unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("proto: "), "{}", err.message());
    let err = decode_request::<RangeRequest>(br#"{"key":"%%%"}"#).unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[test]
fn splitter_yields_values_as_they_complete() {
    let mut s = JsonSplitter::default();
    let whole = br#"{"create_request":{"key":"YQ=="}} {"progress_request":{}}
{"cancel_request":{"watch_id":"3"}}"#;
    let mut got = Vec::new();
    // One byte at a time: values come out exactly when their last byte is in.
    for b in whole {
        s.push(&[*b]);
        while let Some(req) = s.next::<WatchRequest>().unwrap() {
            got.push(req);
        }
    }
    assert_eq!(got.len(), 3);
    assert!(matches!(got[0].request_union, Some(watch_request::RequestUnion::CreateRequest(_))));
    assert!(matches!(got[1].request_union, Some(watch_request::RequestUnion::ProgressRequest(_))));
    assert!(matches!(got[2].request_union, Some(watch_request::RequestUnion::CancelRequest(ref c)) if c.watch_id == 3));
    s.push(b" {\"create_request\":");
    assert!(s.next::<WatchRequest>().unwrap().is_none());
    let mut s = JsonSplitter::default();
    s.push(b"{\"create_request\":{\"key\":1}}");
    let err = s.next::<WatchRequest>().unwrap_err();
    assert!(err.message().starts_with("Failed to decode request: "), "{}", err.message());
}

#[test]
fn grpc_frames_are_length_prefixed() {
    let msg = PutRequest { key: b"a".to_vec(), ..Default::default() };
    assert_eq!(&grpc_frame(&msg)[..], [0, 0, 0, 0, 3, 0x0a, 0x01, b'a']);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn status_codes_follow_grpc_gateway_v2() {
    let table = [
        (Code::Ok, 200),
        (Code::Cancelled, 499),
        (Code::Unknown, 500),
        (Code::InvalidArgument, 400),
        (Code::DeadlineExceeded, 504),
        (Code::NotFound, 404),
        (Code::AlreadyExists, 409),
        (Code::PermissionDenied, 403),
        (Code::Unauthenticated, 401),
        (Code::ResourceExhausted, 429),
        (Code::FailedPrecondition, 400),
        (Code::Aborted, 409),
        (Code::OutOfRange, 400),
        (Code::Unimplemented, 501),
        (Code::Internal, 500),
        (Code::Unavailable, 503),
        (Code::DataLoss, 500),
    ];
    for (code, http) in table {
        assert_eq!(http_status(code).as_u16(), http, "{code:?}");
    }
}

async fn body_string(resp: Response) -> String {
    String::from_utf8(to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap()
}

#[tokio::test]
async fn errors_are_google_rpc_status_json() {
    let resp = error_response(&Status::invalid_argument("etcdserver: key is not provided"));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(body_string(resp).await, r#"{"code":3,"message":"etcdserver: key is not provided"}"#);

    let resp = error_response(&Status::unauthenticated("etcdserver: invalid auth token"));
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "etcdserver: invalid auth token");

    let resp = error_response(&Status::new(Code::Unavailable, ""));
    assert_eq!(body_string(resp).await, r#"{"code":14}"#);
}

// ---------------------------------------------------------------------------
// Calls against fakes
// ---------------------------------------------------------------------------

fn post(body: impl Into<Body>) -> Request {
    HttpRequest::builder().method("POST").uri("/v3/kv/range").body(body.into()).unwrap()
}

async fn fake_range(req: tonic::Request<RangeRequest>) -> Result<tonic::Response<RangeResponse>, Status> {
    let req = req.into_inner();
    if req.key.is_empty() {
        return Err(Status::invalid_argument("etcdserver: key is not provided"));
    }
    Ok(tonic::Response::new(RangeResponse {
        header: Some(header()),
        kvs: vec![KeyValue { key: req.key, value: b"v".to_vec(), version: 1, ..Default::default() }],
        count: 1,
        more: false,
    }))
}

#[tokio::test]
async fn unary_answers_json_with_the_gateway_headers() {
    let resp = unary(post(r#"{"key":"Zm9v"}"#), TEST_BODY_LIMIT, fake_range).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()["grpc-metadata-content-type"], "application/grpc");
    let body: Value = serde_json::from_str(&body_string(resp).await).unwrap();
    assert_eq!(body["kvs"], json!([{"key": "Zm9v", "value": "dg==", "version": "1"}]));
    assert_eq!(body["count"], "1");
    assert!(body.get("more").is_none());
}

#[tokio::test]
async fn unary_maps_service_and_decode_errors() {
    let resp = unary(post("{}"), TEST_BODY_LIMIT, fake_range).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_string(resp).await, r#"{"code":3,"message":"etcdserver: key is not provided"}"#);

    let resp = unary(post(r#"{"key":"#), TEST_BODY_LIMIT, fake_range).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_string(resp).await, r#"{"code":3,"message":"unexpected EOF"}"#);
}

#[tokio::test]
async fn only_post_is_routed() {
    let get = HttpRequest::builder().method("GET").uri("/v3/kv/range").body(Body::empty()).unwrap();
    let resp = unary(get, TEST_BODY_LIMIT, fake_range).await;
    assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
    assert_eq!(body_string(resp).await, r#"{"code":12,"message":"Method Not Allowed"}"#);

    let options = HttpRequest::builder().method("OPTIONS").uri("/v3/kv/range").body(Body::empty()).unwrap();
    let resp = unary(options, TEST_BODY_LIMIT, fake_range).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_string(resp).await, "");

    let resp = not_found(Method::POST).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_string(resp).await, r#"{"code":5,"message":"Not Found"}"#);
}

#[tokio::test]
async fn authorization_is_passed_on_as_metadata() {
    let req = HttpRequest::builder()
        .method("POST")
        .header("Authorization", "tok")
        .header("Grpc-Metadata-Foo", "bar")
        .body(Body::from(r#"{"key":"YQ=="}"#))
        .unwrap();
    let resp = unary(req, TEST_BODY_LIMIT, |r: tonic::Request<RangeRequest>| async move {
        assert_eq!(r.metadata().get("authorization").unwrap(), "tok");
        assert_eq!(r.metadata().get("foo").unwrap(), "bar");
        fake_range(r).await
    })
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A fake Watch: answers each create request with a created response
/// carrying the requested watch id, and fails on a cancel request.
async fn fake_watch(
    req: tonic::Request<tonic::Streaming<WatchRequest>>,
) -> Result<tonic::Response<BoxStream<WatchResponse>>, Status> {
    let mut inbound = req.into_inner();
    let out = async_stream::stream! {
        while let Some(Ok(req)) = inbound.next().await {
            match req.request_union {
                Some(watch_request::RequestUnion::CreateRequest(c)) => {
                    yield Ok(WatchResponse { header: Some(header()), watch_id: c.watch_id, created: true, ..Default::default() });
                }
                _ => {
                    yield Err(Status::unavailable("etcdserver: server stopped"));
                    break;
                }
            }
        }
    };
    Ok(tonic::Response::new(Box::pin(out)))
}

#[tokio::test]
async fn bidi_streams_requests_in_and_results_out() {
    let chunks: Vec<Result<Bytes, Infallible>> = vec![
        Ok(Bytes::from_static(b"{\"create_request\":{\"key\":\"YQ==\"}}\n{\"create_re")),
        Ok(Bytes::from_static(b"quest\":{\"key\":\"Yg==\",\"watch_id\":\"7\"}}")),
        Ok(Bytes::from_static(b" {\"cancel_request\":{}}")),
    ];
    let req = post(Body::from_stream(futures::stream::iter(chunks)));
    let resp = bidi(req, (TEST_BODY_LIMIT, TEST_BODY_LIMIT), fake_watch).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body = body_string(resp).await;
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(body.ends_with('\n'));
    assert_eq!(lines.len(), 3, "{body}");
    assert_eq!(lines[0]["result"]["created"], true);
    assert!(lines[0]["result"].get("watch_id").is_none());
    assert_eq!(lines[1]["result"]["watch_id"], "7");
    assert_eq!(lines[2], json!({"error": {"code": 14, "message": "etcdserver: server stopped"}}));
}

#[tokio::test]
async fn bidi_stops_sending_at_a_malformed_request() {
    let req = post(r#"{"create_request":{"key":"YQ=="}} {"create_request":{"key":5}} {"create_request":{}}"#);
    let resp = bidi(req, (TEST_BODY_LIMIT, TEST_BODY_LIMIT), fake_watch).await;
    let body = body_string(resp).await;
    // The first request got through; the stream then ended without error.
    assert_eq!(body.lines().count(), 1, "{body}");
}

#[tokio::test]
async fn a_stream_failing_first_takes_the_error_status() {
    let resp = forward_stream(futures::stream::iter(vec![Err::<WatchResponse, _>(Status::not_found("gone"))])).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_string(resp).await, "{\"error\":{\"code\":5,\"message\":\"gone\"}}\n");

    let resp = forward_stream(futures::stream::iter(Vec::<Result<WatchResponse, Status>>::new())).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body_string(resp).await, "");
}

#[tokio::test]
async fn server_stream_sends_each_message() {
    let resp = server_stream(post("{}"), TEST_BODY_LIMIT, |_r: tonic::Request<pb::SnapshotRequest>| async {
        let items = vec![
            Ok(pb::SnapshotResponse {
                header: Some(header()),
                remaining_bytes: 3,
                blob: b"ab".to_vec(),
                version: String::new(),
            }),
            Ok(pb::SnapshotResponse { header: None, remaining_bytes: 0, blob: b"c".to_vec(), version: "3.6.0".into() }),
        ];
        Ok(tonic::Response::new(futures::stream::iter(items)))
    })
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = body_string(resp).await;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["result"]["remaining_bytes"], "3");
    assert_eq!(first["result"]["blob"], "YWI=");
    assert_eq!(lines[1], r#"{"result":{"blob":"Yw==","version":"3.6.0"}}"#);
}

#[test]
fn an_endless_streamed_value_is_refused_at_the_limit() {
    let mut s = JsonSplitter::with_limit(64);
    s.push(br#"{"create_request":{"key":""#);
    assert!(s.next::<WatchRequest>().unwrap().is_none(), "incomplete and under the limit: wait for more");
    s.push(&[b'A'; 100]);
    let err = s.next::<WatchRequest>().unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let big = format!(r#"{{"key":"{}"}}"#, "A".repeat(200));
    let resp = unary(post(big), 64, fake_range).await;
    assert_ne!(resp.status(), StatusCode::OK);
}
