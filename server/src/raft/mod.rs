//! openraft glue: the type configuration, the RocksDB log store, the state
//! machine and the peer network.

// openraft's StorageError is large by design and every storage trait returns it.
#![allow(clippy::result_large_err)]

mod apply_auth;
#[cfg(test)]
mod conformance_tests;
mod log_store;
mod log_sync;
mod network;
pub mod snapshot;
pub mod state_machine;

pub use log_store::LogStore;
pub use network::PeerNetwork;
pub use state_machine::{AppliedOutput, AppliedProgress, ApplyError, ApplyHooks, ApplyResult, request_op};

/// The payload of one Raft entry: a protobuf `capstanpb.RequestBatch`, i.e.
/// many client requests proposed together (group commit).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proposal {
    /// As bytes, not as a sequence of u8 (which serde encodes one element at
    /// a time): the same bincode encoding, at a fraction of the cost.
    #[serde(with = "serde_bytes")]
    pub batch: Vec<u8>,
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proposal({} bytes)", self.batch.len())
    }
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// What Raft knows about a member: where to reach it. Names and client URLs
/// are published separately (`MemberAttributes`), as etcd does.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerNode {
    pub peer_urls: Vec<String>,
}

impl std::fmt::Display for PeerNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.peer_urls.join(","))
    }
}

openraft::declare_raft_types!(
    /// Capstan's Raft types: member ids are etcd member ids; snapshots are
    /// files (a packed RocksDB checkpoint) streamed in chunks.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = u64,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageResult<T> = Result<T, openraft::StorageError<NodeId>>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, PeerNode>;

/// Maps any storage failure into openraft's error for `subject`.
fn io_err(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: impl std::error::Error + 'static,
) -> openraft::StorageError<NodeId> {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}
