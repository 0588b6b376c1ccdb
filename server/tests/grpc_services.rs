//! gRPC surface checks against a real process: the standard health service
//! and etcd's answer to the not-yet-streamed RangeStream.

mod common;

use capstan_proto::etcdserverpb::RangeRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[test]
fn health_service_reports_serving_and_range_stream_is_unimplemented() {
    let member = common::Member::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let channel = tonic::transport::Channel::from_shared(member.endpoint()).unwrap().connect().await.unwrap();
        let mut health = HealthClient::new(channel);
        let resp = health.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
        assert_eq!(resp.status, ServingStatus::Serving as i32);

        let mut kv = member.kv().await;
        let err = kv.range_stream(RangeRequest { key: b"a".to_vec(), ..Default::default() }).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented, "clients fall back to Range only on Unimplemented");
    });
}
