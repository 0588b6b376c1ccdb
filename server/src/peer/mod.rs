//! The member-to-member protocol (`capstanpb.Peer`, served on the peer URLs):
//! Raft messages, and the requests a follower hands to the leader (writes,
//! read index, lease keep-alives, membership changes).

mod client;
mod service;

pub use client::{PeerClients, PeerError};
pub use service::PeerService;

/// gRPC metadata naming the sender's cluster (hex).
pub const CLUSTER_ID_HEADER: &str = "capstan-cluster-id";
/// gRPC metadata naming the sending member (hex).
pub const MEMBER_ID_HEADER: &str = "capstan-member-id";
/// The text a member answers a removed member with (etcd's wording).
pub const REMOVED_TEXT: &str = "the member has been permanently removed from the cluster";
/// The text a member answers a member of another cluster with (etcd's wording).
pub const CLUSTER_MISMATCH_TEXT: &str = "request cluster ID mismatch";
