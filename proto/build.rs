//! Compiles the .proto files under `proto/` into Rust (prost messages plus
//! tonic clients and servers for every service).

use std::{env, io, path::PathBuf};

const PROTO_ROOT: &str = "proto";

const PROTOS: &[&str] = &[
    "proto/etcd/api/mvccpb/kv.proto",
    "proto/etcd/api/authpb/auth.proto",
    "proto/etcd/api/etcdserverpb/rpc.proto",
    "proto/etcd/server/v3election/v3electionpb/v3election.proto",
    "proto/etcd/server/v3lock/v3lockpb/v3lock.proto",
    "proto/capstan/internal.proto",
];

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Kept for gRPC server reflection; exposed as `FILE_DESCRIPTOR_SET`.
        .file_descriptor_set_path(out_dir.join("capstan_descriptor.bin"))
        .compile_protos(PROTOS, &[PROTO_ROOT])
}
