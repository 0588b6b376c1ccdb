//! Generated Rust bindings for the etcd v3 wire protocol and for Capstan's
//! internal Raft log payload.
//!
//! The `.proto` sources live in `proto/proto/`. Message, field and service
//! names and numbers match etcd's, so stock etcd clients interoperate.
//! `bytes` fields map to `Vec<u8>`.
//!
//! The etcd API packages (`etcdserverpb`, `mvccpb`, `authpb`) also implement
//! `serde::Serialize`/`Deserialize` with the proto3 JSON mapping as etcd's
//! gRPC gateway uses it (proto field names, 64-bit integers as strings,
//! bytes as base64, enums by name, default values omitted, unknown fields
//! ignored); see `build.rs`.

/// MVCC record types: `KeyValue` and watch `Event`.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
    include!(concat!(env!("OUT_DIR"), "/mvccpb.serde.rs"));
}

/// Auth records: users, roles and key-range permissions.
pub mod authpb {
    tonic::include_proto!("authpb");
    include!(concat!(env!("OUT_DIR"), "/authpb.serde.rs"));
}

/// The etcd v3 client API: the `KV`, `Watch`, `Lease`, `Cluster`,
/// `Maintenance` and `Auth` services and all of their messages.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.serde.rs"));
}

/// The etcd leader-election service (`Election`).
pub mod v3electionpb {
    tonic::include_proto!("v3electionpb");
    include!(concat!(env!("OUT_DIR"), "/v3electionpb.serde.rs"));
}

/// The etcd distributed-lock service (`Lock`).
pub mod v3lockpb {
    tonic::include_proto!("v3lockpb");
    include!(concat!(env!("OUT_DIR"), "/v3lockpb.serde.rs"));
}

/// Capstan-internal messages carried in Raft log entries
/// (`InternalRequest`, `RequestBatch`, `LeaseCheckpoint`) and the member-to-member
/// `Peer` service.
pub mod capstanpb {
    tonic::include_proto!("capstanpb");
}

/// Encoded `google.protobuf.FileDescriptorSet` covering every file above,
/// for use with gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("capstan_descriptor");

/// Wire-format spot checks: each test pins a field number (and wire type)
/// that must agree with etcd's API definitions.
#[cfg(test)]
mod wire_tests {
    use super::{capstanpb, etcdserverpb as pb, mvccpb};
    use prost::Message;

    #[test]
    fn range_request_sort_order_is_field_5() {
        let req = pb::RangeRequest { sort_order: pb::range_request::SortOrder::Descend as i32, ..Default::default() };
        // tag (5 << 3 | varint) = 0x28, DESCEND = 2
        assert_eq!(req.encode_to_vec(), [0x28, 0x02]);
        let req = pb::RangeRequest {
            sort_target: pb::range_request::SortTarget::Mod as i32,
            max_create_revision: 1,
            ..Default::default()
        };
        // sort_target = 6 (MOD = 3), max_create_revision = 13
        assert_eq!(req.encode_to_vec(), [0x30, 0x03, 0x68, 0x01]);
    }

    #[test]
    fn compare_target_union_and_range_end() {
        let cmp = pb::Compare {
            result: pb::compare::CompareResult::NotEqual as i32,
            target: pb::compare::CompareTarget::Mod as i32,
            target_union: Some(pb::compare::TargetUnion::ModRevision(7)),
            ..Default::default()
        };
        // result = 1 (NOT_EQUAL = 3), target = 2 (MOD = 2), mod_revision = 6
        assert_eq!(cmp.encode_to_vec(), [0x08, 0x03, 0x10, 0x02, 0x30, 0x07]);

        let cmp = pb::Compare {
            target: pb::compare::CompareTarget::Lease as i32,
            target_union: Some(pb::compare::TargetUnion::Lease(1)),
            range_end: b"z".to_vec(),
            ..Default::default()
        };
        // target LEASE = 4, lease = field 8, range_end = field 64
        // (tag 64 << 3 | 2 = 514 = varint 0x82 0x04).
        assert_eq!(cmp.encode_to_vec(), [0x10, 0x04, 0x40, 0x01, 0x82, 0x04, 0x01, b'z']);
    }

    #[test]
    fn txn_ops_oneof_numbers() {
        let op = pb::RequestOp { request: Some(pb::request_op::Request::RequestTxn(Default::default())) };
        assert_eq!(op.encode_to_vec(), [0x22, 0x00]); // request_txn = 4
        let op = pb::ResponseOp { response: Some(pb::response_op::Response::ResponseDeleteRange(Default::default())) };
        assert_eq!(op.encode_to_vec(), [0x1a, 0x00]); // response_delete_range = 3
    }

    #[test]
    fn watch_request_and_create_fields() {
        let req = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(pb::WatchProgressRequest {})),
        };
        assert_eq!(req.encode_to_vec(), [0x1a, 0x00]); // progress_request = 3

        let create = pb::WatchCreateRequest {
            filters: vec![pb::watch_create_request::FilterType::Nodelete as i32],
            watch_id: 9,
            fragment: true,
            ..Default::default()
        };
        // filters = 5 (packed, NODELETE = 1), watch_id = 7, fragment = 8
        assert_eq!(create.encode_to_vec(), [0x2a, 0x01, 0x01, 0x38, 0x09, 0x40, 0x01]);
    }

    #[test]
    fn watch_response_fields() {
        let resp = pb::WatchResponse {
            compact_revision: 3,
            cancel_reason: "x".into(),
            fragment: true,
            events: vec![mvccpb::Event { r#type: mvccpb::event::EventType::Delete as i32, ..Default::default() }],
            ..Default::default()
        };
        // compact_revision = 5, cancel_reason = 6, fragment = 7,
        // events = 11 containing type = 1 (DELETE = 1)
        assert_eq!(resp.encode_to_vec(), [0x28, 0x03, 0x32, 0x01, b'x', 0x38, 0x01, 0x5a, 0x02, 0x08, 0x01]);
    }

    #[test]
    fn status_response_newer_fields() {
        let resp = pb::StatusResponse {
            db_size_in_use: 1,
            is_learner: true,
            storage_version: "v".into(),
            db_size_quota: 5,
            downgrade_info: Some(pb::DowngradeInfo::default()),
            ..Default::default()
        };
        // dbSizeInUse = 9, isLearner = 10, storageVersion = 11,
        // dbSizeQuota = 12, downgradeInfo = 13
        assert_eq!(resp.encode_to_vec(), [0x48, 0x01, 0x50, 0x01, 0x5a, 0x01, b'v', 0x60, 0x05, 0x6a, 0x00]);
    }

    #[test]
    fn maintenance_and_cluster_fields() {
        let hkv = pb::HashKvResponse { hash_revision: 5, ..Default::default() };
        assert_eq!(hkv.encode_to_vec(), [0x20, 0x05]); // hash_revision = 4

        let member = pb::Member { is_learner: true, ..Default::default() };
        assert_eq!(member.encode_to_vec(), [0x28, 0x01]); // isLearner = 5

        let list = pb::MemberListRequest { linearizable: true };
        assert_eq!(list.encode_to_vec(), [0x08, 0x01]); // linearizable = 1

        let alarm = pb::AlarmMember { member_id: 0, alarm: pb::AlarmType::Corrupt as i32 };
        assert_eq!(alarm.encode_to_vec(), [0x10, 0x02]); // alarm = 2, CORRUPT = 2

        let dg = pb::DowngradeRequest {
            action: pb::downgrade_request::DowngradeAction::Cancel as i32,
            version: String::new(),
        };
        assert_eq!(dg.encode_to_vec(), [0x08, 0x02]); // CANCEL = 2
    }

    #[test]
    fn lease_and_auth_fields() {
        let ttl = pb::LeaseTimeToLiveResponse { granted_ttl: 60, keys: vec![b"k".to_vec()], ..Default::default() };
        // grantedTTL = 4, keys = 5
        assert_eq!(ttl.encode_to_vec(), [0x20, 0x3c, 0x2a, 0x01, b'k']);

        let st = pb::AuthStatusResponse { enabled: true, auth_revision: 7, ..Default::default() };
        assert_eq!(st.encode_to_vec(), [0x10, 0x01, 0x18, 0x07]); // enabled = 2, authRevision = 3

        let add = pb::AuthUserAddRequest { hashed_password: "h".into(), ..Default::default() };
        assert_eq!(add.encode_to_vec(), [0x22, 0x01, b'h']); // hashedPassword = 4
    }

    #[test]
    fn decodes_bytes_as_an_etcd_client_would_send_them() {
        // PutRequest{key:"a", value:"b", lease:1, prev_kv:true}
        let put = pb::PutRequest::decode(&[0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x18, 0x01, 0x20, 0x01][..]).unwrap();
        assert_eq!(put.key, b"a");
        assert_eq!(put.value, b"b");
        assert_eq!(put.lease, 1);
        assert!(put.prev_kv);
    }

    #[test]
    fn internal_request_numbers() {
        let req = capstanpb::InternalRequest {
            id: 1,
            leader_time_unix_ms: 2,
            auth: Some(capstanpb::AuthHeader { username: "u".into(), revision: 3 }),
            request: Some(capstanpb::internal_request::Request::LeaseCheckpoint(capstanpb::LeaseCheckpoint::default())),
        };
        // id = 1, leader_time_unix_ms = 2, auth = 3 {username = 1, revision = 2},
        // lease_checkpoint = 17 (tag 0x8a 0x01)
        let auth = [0x1a, 0x05, 0x0a, 0x01, b'u', 0x10, 0x03];
        let want: Vec<u8> = [&[0x08, 0x01, 0x10, 0x02][..], &auth, &[0x8a, 0x01, 0x00]].concat();
        assert_eq!(req.encode_to_vec(), want);
        let batch = capstanpb::RequestBatch { requests: vec![req] };
        let back = capstanpb::RequestBatch::decode(batch.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, batch);
    }

    #[test]
    fn descriptor_set_is_embedded() {
        // One FileDescriptorProto per .proto file compiled by build.rs.
        assert_eq!(count_files(super::FILE_DESCRIPTOR_SET), 7);
    }

    /// Counts the top-level `file` entries (field 1) of the encoded
    /// FileDescriptorSet without depending on prost-types.
    fn count_files(mut buf: &[u8]) -> usize {
        let mut files = 0;
        while !buf.is_empty() {
            let key = prost::encoding::decode_varint(&mut buf).unwrap();
            assert_eq!(key, (1 << 3) | 2, "unexpected field in descriptor set");
            let len = prost::encoding::decode_varint(&mut buf).unwrap() as usize;
            buf = &buf[len..];
            files += 1;
        }
        files
    }
}
