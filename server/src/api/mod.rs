//! The etcd v3 gRPC services. Each handler validates the request, calls the
//! service layer, maps errors through the one table in [`error`] and fills
//! the response header.

pub mod auth;
pub mod cluster;
pub mod election;
pub mod error;
pub mod guard;
pub mod identity;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
pub mod peer;
pub mod recipes;
mod request_stats;
pub mod validate;
pub mod watch;

use tonic::Status;

use crate::service::Server;
use error::EtcdError;

/// etcd lets gRPC messages exceed `--max-request-bytes` by this much before
/// the transport refuses them.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// etcd's two size limits: the transport's (request bytes + overhead, with
/// grpc-go's text) and the proposal's (`request is too large`).
pub(crate) fn check_size(server: &Server, msg: &impl prost::Message) -> Result<(), Status> {
    let len = msg.encoded_len();
    let max = server.options().max_request_bytes;
    if len > max + GRPC_OVERHEAD_BYTES {
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {})",
            max + GRPC_OVERHEAD_BYTES
        )));
    }
    if len > max {
        return Err(EtcdError::RequestTooLarge.into());
    }
    Ok(())
}
