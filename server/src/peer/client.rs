//! Connections to other members. One lazily connected HTTP/2 channel per
//! peer URL, shared by Raft replication and request forwarding; every call
//! names this member and its cluster in its metadata.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use capstan_proto::capstanpb::peer_client::PeerClient;
use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{CLUSTER_ID_HEADER, CLUSTER_MISMATCH_TEXT, MEMBER_ID_HEADER, REMOVED_TEXT};
use crate::membership::MemberTable;

/// Why a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// No connection (refused, reset, timed out connecting): try later.
    #[error("peer {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The peer answered with an error.
    #[error("peer {url}: {status}")]
    Refused { url: String, status: Status },
    #[error("peer url {0:?} is not usable: {1}")]
    BadUrl(String, String),
    #[error("member {0:x} has no peer URLs")]
    NoAddress(u64),
}

impl PeerError {
    /// The peer's gRPC status, when it answered.
    pub fn status(&self) -> Option<&Status> {
        match self {
            PeerError::Refused { status, .. } => Some(status),
            _ => None,
        }
    }
}

/// The shared pool of peer connections.
pub struct PeerClients {
    local_id: u64,
    /// 0 until known (a member joining an existing cluster learns it first).
    cluster_id: AtomicU64,
    members: Arc<MemberTable>,
    channels: Mutex<HashMap<String, Channel>>,
}

/// Bound on establishing a connection; Raft retries unreachable peers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl PeerClients {
    pub fn new(local_id: u64, cluster_id: u64, members: Arc<MemberTable>) -> Arc<Self> {
        Arc::new(Self { local_id, cluster_id: AtomicU64::new(cluster_id), members, channels: Mutex::default() })
    }

    pub fn set_cluster_id(&self, id: u64) {
        self.cluster_id.store(id, Ordering::Relaxed);
    }

    pub fn local_id(&self) -> u64 {
        self.local_id
    }

    /// A client for the peer at `url` (the connection is made on first use).
    pub fn client(&self, url: &str) -> Result<PeerClient<Channel>, PeerError> {
        let mut channels = self.channels.lock();
        if let Some(ch) = channels.get(url) {
            return Ok(wrap(ch.clone()));
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| PeerError::BadUrl(url.to_string(), e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .http2_adaptive_window(true);
        let ch = endpoint.connect_lazy();
        channels.insert(url.to_string(), ch.clone());
        Ok(wrap(ch))
    }

    /// Wraps `message` with this member's identity and an optional deadline.
    pub fn request<T>(&self, message: T, timeout: Option<Duration>) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        let md = req.metadata_mut();
        let cluster = format!("{:x}", self.cluster_id.load(Ordering::Relaxed));
        md.insert(CLUSTER_ID_HEADER, cluster.parse().expect("hex is valid metadata"));
        md.insert(MEMBER_ID_HEADER, format!("{:x}", self.local_id).parse().expect("hex is valid metadata"));
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        req
    }

    /// Classifies a failed call; notices when the peer says this member was
    /// removed from the cluster.
    pub fn error(&self, url: &str, status: Status) -> PeerError {
        if status.code() == Code::PermissionDenied && status.message() == REMOVED_TEXT {
            tracing::error!(peer = url, "a peer reports this member was removed from the cluster");
            self.members.mark_self_removed();
        }
        if status.code() == Code::FailedPrecondition && status.message() == CLUSTER_MISMATCH_TEXT {
            tracing::error!(
                peer = url,
                local_cluster = %format!("{:x}", self.cluster_id.load(Ordering::Relaxed)),
                "the peer belongs to another cluster (check --initial-cluster-token and --initial-cluster)"
            );
        }
        let unreachable = matches!(status.code(), Code::Unavailable | Code::Cancelled)
            || (status.code() == Code::Unknown && status.message().contains("transport"));
        if unreachable {
            return PeerError::Unreachable { url: url.to_string(), reason: status.message().to_string() };
        }
        PeerError::Refused { url: url.to_string(), status }
    }
}

fn wrap(ch: Channel) -> PeerClient<Channel> {
    PeerClient::new(ch).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX)
}
