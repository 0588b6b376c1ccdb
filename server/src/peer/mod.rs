//! The member-to-member protocol (`capstanpb.Peer`, served on the peer URLs):
//! Raft messages, and the requests a follower hands to the leader (writes,
//! read index, lease keep-alives, membership changes). Here: its metadata
//! and error codes, and the client the service layer and Raft call peers
//! with; the service answering them is `api::peer`, an edge above the
//! service layer.

mod client;

pub use client::{Contact, PeerClients, PeerError, with_causes};

/// gRPC metadata naming the sender's cluster (hex).
pub const CLUSTER_ID_HEADER: &str = "capstan-cluster-id";
/// gRPC metadata naming the sending member (hex).
pub const MEMBER_ID_HEADER: &str = "capstan-member-id";
/// gRPC metadata on a member's refusal naming the error, so that the caller
/// knows what happened without matching texts: an etcd error's name
/// (`EtcdError::name`), or one of the peer protocol's own codes below.
pub const ERROR_CODE_HEADER: &str = "capstan-error";
/// Refusal code: the caller was removed from the cluster.
pub const REMOVED_CODE: &str = "MemberRemoved";
/// Refusal code: the caller belongs to another cluster, or named none.
pub const CLUSTER_MISMATCH_CODE: &str = "ClusterIdMismatch";
/// The text a member answers a removed member with (etcd's wording).
pub const REMOVED_TEXT: &str = "the member has been permanently removed from the cluster";
/// The text a member answers a member of another cluster with (etcd's wording).
pub const CLUSTER_MISMATCH_TEXT: &str = "request cluster ID mismatch";
