//! The errors of the request path. [`EtcdError`] is etcd's catalogue of
//! errors clients can tell apart (their gRPC codes and texts are the API
//! layer's business, `api::error`); [`ServiceError`] is what the service's
//! methods return, most of it one of those.

use openraft::error::{CheckIsLeaderError, RaftError};

use crate::lease::LeaseError;
use crate::mvcc::MvccError;
use crate::raft::{ApplyError, PeerNode};

/// Declares [`EtcdError`] and its [`EtcdError::ALL`] from one list, so a
/// new variant cannot be left out of the golden test.
macro_rules! etcd_errors {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// Every etcd error Capstan can return.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum EtcdError {
            $($(#[$doc])* $variant,)*
        }

        impl EtcdError {
            /// Every variant (the golden test lists each with its code and text).
            pub const ALL: &'static [EtcdError] = &[$(EtcdError::$variant,)*];
        }
    };
}

etcd_errors! {
    EmptyKey,
    KeyNotFound,
    ValueProvided,
    LeaseProvided,
    TooManyOps,
    DuplicateKey,
    InvalidSortOption,
    Compacted,
    FutureRev,
    NoSpace,
    LeaseNotFound,
    LeaseExist,
    LeaseTtlTooLarge,
    MemberNotFound,
    RequestTooLarge,
    AuthNotEnabled,
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    AuthFailed,
    PermissionNotGiven,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    InvalidAuthToken,
    InvalidAuthMgmt,
    AuthOldRevision,
    NoPasswordUser,
    VerifyOnly,
    NoLeader,
    NotLeader,
    Stopped,
    Timeout,
    BadLeaderTransferee,
    Corrupt,
    NotCapable,
    LeaderChanged,
    NotSupportedForLearner,
    PeerUrlExists,
    MemberExist,
    MemberNotLearner,
    LearnerNotReady,
    TooManyLearners,
    UnhealthyCluster,
    /// A membership change would leave fewer started members than a quorum
    /// (etcd's `--strict-reconfig-check`).
    NotEnoughStartedMembers,
    LeadershipTransferTimeout,
    ContextDeadline,
    /// Downgrade: the target is not `X.Y` or `X.Y.Z`.
    WrongDowngradeVersionFormat,
    /// Downgrade: the target is not one minor version below the cluster's.
    InvalidDowngradeTargetVersion,
    /// A request for a method the server does not know (an unknown enum value).
    UnknownMethod,
    /// RangeStream refuses sort orders other than by key, ascending.
    StreamCustomSort,
    /// RangeStream refuses min/max mod/create revision filters.
    StreamRevisionFilters,
    /// The state machine answered a request with the wrong kind of result
    /// (a bug; not one of etcd's errors).
    UnexpectedApplyResult,
}

impl EtcdError {
    /// The variant's name: how a member's refusal names it in the peer
    /// protocol (so it is part of the wire format; the golden test pins it).
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    /// The variant named `name` (see [`EtcdError::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }
}

impl From<&MvccError> for EtcdError {
    fn from(e: &MvccError) -> Self {
        match e {
            MvccError::Compacted => EtcdError::Compacted,
            MvccError::FutureRevision => EtcdError::FutureRev,
            MvccError::KeyNotFound => EtcdError::KeyNotFound,
            MvccError::LeaseNotFound => EtcdError::LeaseNotFound,
            MvccError::Storage(_) | MvccError::Corrupt(_) => EtcdError::Corrupt,
        }
    }
}

impl From<&crate::auth::AuthError> for EtcdError {
    fn from(e: &crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as A;
        match e {
            A::RootUserNotExist => EtcdError::RootUserNotExist,
            A::RootRoleNotExist => EtcdError::RootRoleNotExist,
            A::UserEmpty => EtcdError::UserEmpty,
            A::UserNotFound => EtcdError::UserNotFound,
            A::RoleNotFound => EtcdError::RoleNotFound,
            A::RoleEmpty => EtcdError::RoleEmpty,
            A::AuthFailed => EtcdError::AuthFailed,
            A::PermissionNotGiven => EtcdError::PermissionNotGiven,
            A::PermissionDenied => EtcdError::PermissionDenied,
            A::RoleNotGranted => EtcdError::RoleNotGranted,
            A::PermissionNotGranted => EtcdError::PermissionNotGranted,
            A::InvalidAuthToken => EtcdError::InvalidAuthToken,
            A::InvalidAuthMgmt => EtcdError::InvalidAuthMgmt,
            A::AuthOldRevision => EtcdError::AuthOldRevision,
            A::NoPasswordUser => EtcdError::NoPasswordUser,
            A::VerifyOnly => EtcdError::VerifyOnly,
            A::UserAlreadyExist => EtcdError::UserAlreadyExist,
            A::RoleAlreadyExist => EtcdError::RoleAlreadyExist,
            A::AuthNotEnabled => EtcdError::AuthNotEnabled,
        }
    }
}

impl From<crate::auth::AuthError> for ServiceError {
    fn from(e: crate::auth::AuthError) -> Self {
        ServiceError::Etcd((&e).into())
    }
}

impl From<&LeaseError> for EtcdError {
    fn from(e: &LeaseError) -> Self {
        match e {
            LeaseError::NotFound => EtcdError::LeaseNotFound,
            LeaseError::AlreadyExists => EtcdError::LeaseExist,
            LeaseError::TtlTooLarge => EtcdError::LeaseTtlTooLarge,
            LeaseError::NotPrimary => EtcdError::NotLeader,
        }
    }
}

impl From<&ServiceError> for EtcdError {
    fn from(e: &ServiceError) -> Self {
        match e {
            ServiceError::Apply(ApplyError::Mvcc(m)) => m.as_ref().into(),
            ServiceError::Apply(ApplyError::Lease(l)) => l.into(),
            ServiceError::Apply(ApplyError::NoSpace) => EtcdError::NoSpace,
            ServiceError::Apply(ApplyError::Auth(a)) => a.into(),
            ServiceError::Apply(ApplyError::Unsupported) => EtcdError::NotCapable,
            ServiceError::NoLeader => EtcdError::NoLeader,
            ServiceError::NotLeader => EtcdError::NotLeader,
            ServiceError::Timeout => EtcdError::Timeout,
            ServiceError::Stopped => EtcdError::Stopped,
            ServiceError::LeaderChanged => EtcdError::LeaderChanged,
            ServiceError::Learner => EtcdError::NotSupportedForLearner,
            ServiceError::NoLeaderInTime => EtcdError::ContextDeadline,
            ServiceError::Etcd(e) => *e,
            ServiceError::Remote(_) => EtcdError::LeaderChanged,
        }
    }
}

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
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) if f.leader_id.is_none() => {
                ServiceError::NoLeader
            }
            RaftError::APIError(_) => ServiceError::NotLeader,
            RaftError::Fatal(_) => ServiceError::Stopped,
        }
    }
}

impl ServiceError {
    /// Interprets a failed call to a peer, by the peer's typed refusal and
    /// by whether the request left this member, never by texts.
    /// [`ServiceError::NotLeader`] means nothing can have happened on the
    /// peer (it said it does not lead, or no connection could be made), so
    /// the caller may ask again; everything else may have taken effect.
    pub(crate) fn from_peer(e: crate::peer::PeerError) -> Self {
        use crate::peer::PeerError;
        match e {
            PeerError::Refused { code: Some(code), status, .. } => match EtcdError::from_name(&code) {
                Some(e) => ServiceError::from_etcd(e),
                None => ServiceError::Remote(status),
            },
            PeerError::Refused { status, code: None, .. } => ServiceError::Remote(status),
            PeerError::Unreachable { never_sent: true, .. } => ServiceError::NotLeader,
            PeerError::Unreachable { never_sent: false, .. } | PeerError::NoAddress(_) | PeerError::BadUrl(..) => {
                ServiceError::LeaderChanged
            }
        }
    }

    /// The error a peer named, as this layer's own where it has one.
    pub(crate) fn from_etcd(e: EtcdError) -> Self {
        match e {
            EtcdError::NotLeader => ServiceError::NotLeader,
            EtcdError::NoLeader => ServiceError::NoLeader,
            EtcdError::Timeout => ServiceError::Timeout,
            EtcdError::Stopped => ServiceError::Stopped,
            EtcdError::LeaderChanged => ServiceError::LeaderChanged,
            EtcdError::ContextDeadline => ServiceError::NoLeaderInTime,
            EtcdError::NotSupportedForLearner => ServiceError::Learner,
            e => ServiceError::Etcd(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerError;

    fn refused(code: Option<&str>) -> PeerError {
        let status = tonic::Status::not_found("etcdserver: requested lease not found");
        PeerError::Refused { url: "http://p".into(), status, code: code.map(str::to_string) }
    }

    #[test]
    fn a_peers_typed_refusal_becomes_the_same_error_here() {
        assert!(matches!(
            ServiceError::from_peer(refused(Some("LeaseNotFound"))),
            ServiceError::Etcd(EtcdError::LeaseNotFound)
        ));
        assert!(matches!(ServiceError::from_peer(refused(Some("NotLeader"))), ServiceError::NotLeader));
        assert!(matches!(ServiceError::from_peer(refused(Some("NoLeader"))), ServiceError::NoLeader));
        // Unknown or missing codes: the peer's answer is passed on as it came.
        assert!(matches!(ServiceError::from_peer(refused(Some("FromTheFuture"))), ServiceError::Remote(_)));
        assert!(matches!(ServiceError::from_peer(refused(None)), ServiceError::Remote(_)));
    }

    #[test]
    fn only_what_never_left_is_retried() {
        let lost = |never_sent| PeerError::Unreachable {
            url: "http://p".into(),
            reason: "connection reset".into(),
            never_sent,
        };
        assert!(matches!(ServiceError::from_peer(lost(true)), ServiceError::NotLeader));
        assert!(matches!(ServiceError::from_peer(lost(false)), ServiceError::LeaderChanged));
    }
}
