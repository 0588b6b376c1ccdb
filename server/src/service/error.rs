use openraft::error::{CheckIsLeaderError, RaftError};

use crate::api::error::EtcdError;
use crate::raft::{ApplyError, PeerNode};

/// Errors of the request path, mapped to etcd's gRPC errors by the API layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("no leader")]
    NoLeader,
    #[error("not leader")]
    NotLeader,
    #[error("request timed out")]
    Timeout,
    #[error("server stopped")]
    Stopped,
    /// The request may or may not have been applied: the leader changed or
    /// went away while it was in flight.
    #[error("leader changed")]
    LeaderChanged,
    /// No leader took the request before its deadline (etcd's raw context
    /// deadline error in this case).
    #[error("context deadline exceeded")]
    NoLeaderInTime,
    /// Learners serve serializable reads only.
    #[error("rpc not supported for learner")]
    Learner,
    /// A refusal that is already one of etcd's errors (membership checks,
    /// or an error a peer returned for a forwarded request).
    #[error("{0:?}")]
    Etcd(EtcdError),
    /// A peer's answer to a forwarded request, passed on to the client as is.
    #[error("{}", .0.message())]
    Remote(tonic::Status),
}

impl ServiceError {
    pub(crate) fn from_raft_read(e: RaftError<u64, CheckIsLeaderError<u64, PeerNode>>) -> Self {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) if f.leader_id.is_none() => ServiceError::NoLeader,
            RaftError::APIError(_) => ServiceError::NotLeader,
            RaftError::Fatal(_) => ServiceError::Stopped,
        }
    }
}

impl ServiceError {
    /// Interprets a peer's refusal of a forwarded request.
    pub(crate) fn from_peer(e: crate::peer::PeerError) -> Self {
        use crate::peer::PeerError;
        match e {
            PeerError::Refused { status, .. } => {
                let (code, text) = EtcdError::NotLeader.code_and_text();
                if status.code() == code && status.message() == text {
                    ServiceError::NotLeader
                } else {
                    ServiceError::Remote(status)
                }
            }
            // A connection that could not be made carried nothing: retry.
            PeerError::Unreachable { reason, .. } if reason.contains("connect") => ServiceError::NotLeader,
            PeerError::Unreachable { .. } | PeerError::NoAddress(_) | PeerError::BadUrl(..) => ServiceError::LeaderChanged,
        }
    }
}
