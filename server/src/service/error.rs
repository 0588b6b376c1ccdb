use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::BasicNode;

use crate::raft::ApplyError;

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
}

impl ServiceError {
    pub(crate) fn from_raft_read(e: RaftError<u64, CheckIsLeaderError<u64, BasicNode>>) -> Self {
        match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) if f.leader_id.is_none() => ServiceError::NoLeader,
            RaftError::APIError(_) => ServiceError::NotLeader,
            RaftError::Fatal(_) => ServiceError::Stopped,
        }
    }
}
