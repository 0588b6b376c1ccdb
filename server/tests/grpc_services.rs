//! gRPC surface checks against an in-process member (harness): the standard
//! health service, KV.RangeStream (etcd 3.7), which kube-apiserver 1.37 lists
//! through, and etcd's transport limit on request messages.

mod harness;

use capstan_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use capstan_proto::etcdserverpb::{PutRequest, RangeRequest};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_service_reports_serving() {
    let member = harness::Cluster::new(1).await;
    let mut health = HealthClient::new(member.channel(0).await);
    let resp = health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    assert_eq!(resp.status, ServingStatus::Serving as i32);
    member.shutdown().await;
}

/// R2: messages were decoded up to 64 MiB before etcd's size check. Now the
/// transport refuses them at the length prefix, at etcd's limit and with
/// grpc-go's code and words, and the member keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_transport_limit_is_refused_as_grpc_go_does() {
    let member = harness::Cluster::new(1).await;
    let mut kv = member.kv(0).await.max_encoding_message_size(usize::MAX);
    let big = PutRequest { key: b"big".to_vec(), value: vec![0; 3 << 20], ..Default::default() };
    let len = prost::Message::encoded_len(&big);
    let err = kv.put(big).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
    assert_eq!(err.message(), format!("grpc: received message larger than max ({len} vs. {})", 1_572_864 + 512 * 1024));
    // Between --max-request-bytes and the transport limit: etcd's own check.
    let over = PutRequest { key: b"big".to_vec(), value: vec![0; 1_700_000], ..Default::default() };
    let err = kv.put(over).await.unwrap_err();
    assert_eq!(err.message(), "etcdserver: request is too large");
    assert!(member.put(0, "still", "serving").await > 1);
    member.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_stream_chunks_merge_into_the_range_answer() {
    let member = harness::Cluster::new(1).await;
    {
        let mut kv = member.kv(0).await;
        for i in 0..45 {
            let put =
                PutRequest { key: format!("s/{i:03}").into_bytes(), value: vec![b'v'; 100], ..Default::default() };
            kv.put(put).await.unwrap();
        }
        let prefix = RangeRequest { key: b"s/".to_vec(), range_end: b"s0".to_vec(), ..Default::default() };
        let plain = kv.range(prefix.clone()).await.unwrap().into_inner();

        let mut stream = kv.range_stream(prefix.clone()).await.unwrap().into_inner();
        let mut chunks = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            chunks.push(chunk.range_response.expect("every chunk carries a RangeResponse"));
        }
        // 10 keys, then 20 (the limit doubles while chunks stay small), then the rest.
        let sizes: Vec<usize> = chunks.iter().map(|c| c.kvs.len()).collect();
        assert_eq!(sizes, vec![10, 20, 15]);
        let (last, rest) = chunks.split_last().unwrap();
        assert!(
            rest.iter().all(|c| c.header.is_none() && c.count == 0 && !c.more),
            "only the last chunk has header/count"
        );
        assert_eq!(last.count, 45);
        assert!(!last.more);
        assert_eq!(last.header.unwrap().revision, plain.header.unwrap().revision);
        let streamed: Vec<_> = chunks.iter().flat_map(|c| c.kvs.iter().cloned()).collect();
        assert_eq!(streamed, plain.kvs);

        // A limit: the first 25 keys, more = true, count of the whole range.
        let limited = RangeRequest { limit: 25, ..prefix.clone() };
        let mut stream = kv.range_stream(limited).await.unwrap().into_inner();
        let (mut keys, mut last) = (0, None);
        while let Some(chunk) = stream.message().await.unwrap() {
            let r = chunk.range_response.unwrap();
            keys += r.kvs.len();
            last = Some(r);
        }
        let last = last.unwrap();
        assert_eq!((keys, last.more, last.count), (25, true, 45));

        // A sort target without an order sorts ascending by it, as Range does
        // (etcd 3.7's chunks are Ranges with the request's sort).
        let small = RangeRequest { key: b"v/".to_vec(), range_end: b"v0".to_vec(), ..Default::default() };
        for (k, v) in [("v/a", "3"), ("v/b", "1"), ("v/c", "2")] {
            kv.put(PutRequest { key: k.into(), value: v.into(), ..Default::default() }).await.unwrap();
        }
        let by_value = RangeRequest { sort_target: SortTarget::Value as i32, ..small };
        let mut stream = kv.range_stream(by_value).await.unwrap().into_inner();
        let mut values = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            values.extend(chunk.range_response.unwrap().kvs.into_iter().map(|kv| kv.value));
        }
        assert_eq!(values, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);

        // What etcd 3.7 refuses, with its code and text.
        let descending = RangeRequest { sort_order: SortOrder::Descend as i32, ..prefix.clone() };
        let err = kv.range_stream(descending).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        assert_eq!(err.message(), "RangeStream does not support custom sort orders");
        let filtered = RangeRequest { min_mod_revision: 2, ..prefix };
        let err = kv.range_stream(filtered).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
        assert_eq!(err.message(), "RangeStream does not support revision filters");
    }
    member.shutdown().await;
}

/// Maintenance answers shaped as etcd 3.7's: Defragment and the Snapshot
/// chunks carry no header; Downgrade validates its target as etcd does
/// (one minor below the cluster version), refuses to enable it (Capstan
/// emulates one version), and cancels successfully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_answers_are_shaped_as_etcds() {
    use capstan_proto::etcdserverpb::downgrade_request::DowngradeAction;
    use capstan_proto::etcdserverpb::{DefragmentRequest, DowngradeRequest, SnapshotRequest};
    let member = harness::Cluster::new(1).await;
    let mut m = member.maintenance(0).await;
    assert_eq!(m.defragment(DefragmentRequest {}).await.unwrap().into_inner().header, None);
    let mut chunks = m.snapshot(SnapshotRequest {}).await.unwrap().into_inner();
    let mut n = 0;
    while let Some(chunk) = chunks.message().await.unwrap() {
        assert_eq!(chunk.header, None);
        n += 1;
    }
    assert!(n >= 2, "data chunks, then the checksum");
    let downgrade =
        |action: DowngradeAction, version: &str| DowngradeRequest { action: action as i32, version: version.into() };
    let ok = m.downgrade(downgrade(DowngradeAction::Validate, "3.5")).await.unwrap().into_inner();
    assert_eq!(ok.version, "3.6");
    assert!(ok.header.is_some());
    for (version, text) in [
        ("3.4", "etcdserver: invalid downgrade target version"),
        ("3.6.1", "etcdserver: invalid downgrade target version"),
        ("bogus", "etcdserver: wrong downgrade target version format"),
    ] {
        let err = m.downgrade(downgrade(DowngradeAction::Validate, version)).await.unwrap_err();
        assert_eq!((err.code(), err.message()), (tonic::Code::InvalidArgument, text), "{version}");
    }
    let err = m.downgrade(downgrade(DowngradeAction::Enable, "3.5")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("--emulated-etcd-version"), "{}", err.message());
    assert_eq!(m.downgrade(downgrade(DowngradeAction::Cancel, "")).await.unwrap().into_inner().version, "3.6");
    member.shutdown().await;
}
