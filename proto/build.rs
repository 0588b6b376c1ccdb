//! Compiles the .proto files under `proto/` into Rust (prost messages plus
//! tonic clients and servers for every service), and generates serde
//! implementations (pbjson) for the etcd API messages: the proto3 JSON
//! mapping that etcd's gRPC gateway speaks.

use std::{env, io, path::PathBuf};

const PROTO_ROOT: &str = "proto";

const PROTOS: &[&str] = &[
    "proto/etcd/api/mvccpb/kv.proto",
    "proto/etcd/api/authpb/auth.proto",
    "proto/etcd/api/etcdserverpb/rpc.proto",
    "proto/etcd/server/v3election/v3electionpb/v3election.proto",
    "proto/etcd/server/v3lock/v3lockpb/v3lock.proto",
    "proto/capstan/internal.proto",
    "proto/capstan/peer.proto",
];

/// The packages whose messages get JSON (serde) support.
const JSON_PACKAGES: &[&str] = &[".etcdserverpb", ".mvccpb", ".authpb", ".v3electionpb", ".v3lockpb"];

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let descriptor_path = out_dir.join("capstan_descriptor.bin");

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Kept for gRPC server reflection; exposed as `FILE_DESCRIPTOR_SET`.
        .file_descriptor_set_path(&descriptor_path)
        .compile_protos(PROTOS, &[PROTO_ROOT])?;

    // serde for the etcd API (`<package>.serde.rs`, included by lib.rs) with
    // the options of etcd's gateway marshaler (protojson `UseProtoNames`,
    // `EmitUnpopulated: false`, `DiscardUnknown: true`): proto field names
    // on output (both spellings accepted on input), default values omitted,
    // unknown fields ignored. 64-bit integers are strings, bytes base64 and
    // enums names, as the proto3 JSON mapping has them.
    let descriptors = std::fs::read(&descriptor_path)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .preserve_proto_field_names()
        .ignore_unknown_fields()
        .build(JSON_PACKAGES)
}
