//! The one table from Capstan's errors to etcd's gRPC errors. Clients match
//! on these exact codes and texts (the Go client maps errors by message), so
//! each text is etcd's, byte for byte. The errors themselves are the
//! service's ([`crate::service::EtcdError`]); this is only their gRPC face.

use tonic::{Code, Status};

use crate::lease::LeaseError;
use crate::mvcc::MvccError;
use crate::raft::ApplyError;
pub use crate::service::EtcdError;
use crate::service::ServiceError;

impl EtcdError {
    /// The gRPC code and message etcd uses (etcd `api/v3rpc/rpctypes/error.go`).
    pub fn code_and_text(self) -> (Code, &'static str) {
        use EtcdError::*;
        match self {
            EmptyKey => (Code::InvalidArgument, "etcdserver: key is not provided"),
            KeyNotFound => (Code::InvalidArgument, "etcdserver: key not found"),
            ValueProvided => (Code::InvalidArgument, "etcdserver: value is provided"),
            LeaseProvided => (Code::InvalidArgument, "etcdserver: lease is provided"),
            TooManyOps => (Code::InvalidArgument, "etcdserver: too many operations in txn request"),
            DuplicateKey => (Code::InvalidArgument, "etcdserver: duplicate key given in txn request"),
            InvalidSortOption => (Code::InvalidArgument, "etcdserver: invalid sort option"),
            Compacted => (Code::OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
            FutureRev => (Code::OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
            NoSpace => (Code::ResourceExhausted, "etcdserver: mvcc: database space exceeded"),
            LeaseNotFound => (Code::NotFound, "etcdserver: requested lease not found"),
            LeaseExist => (Code::FailedPrecondition, "etcdserver: lease already exists"),
            LeaseTtlTooLarge => (Code::OutOfRange, "etcdserver: too large lease TTL"),
            MemberNotFound => (Code::NotFound, "etcdserver: member not found"),
            RequestTooLarge => (Code::InvalidArgument, "etcdserver: request is too large"),
            AuthNotEnabled => (Code::FailedPrecondition, "etcdserver: authentication is not enabled"),
            RootUserNotExist => (Code::FailedPrecondition, "etcdserver: root user does not exist"),
            RootRoleNotExist => (Code::FailedPrecondition, "etcdserver: root user does not have root role"),
            UserAlreadyExist => (Code::FailedPrecondition, "etcdserver: user name already exists"),
            UserEmpty => (Code::InvalidArgument, "etcdserver: user name is empty"),
            UserNotFound => (Code::FailedPrecondition, "etcdserver: user name not found"),
            RoleAlreadyExist => (Code::FailedPrecondition, "etcdserver: role name already exists"),
            RoleNotFound => (Code::FailedPrecondition, "etcdserver: role name not found"),
            RoleEmpty => (Code::InvalidArgument, "etcdserver: role name is empty"),
            AuthFailed => (Code::InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
            PermissionNotGiven => (Code::InvalidArgument, "etcdserver: permission not given"),
            PermissionDenied => (Code::PermissionDenied, "etcdserver: permission denied"),
            RoleNotGranted => (Code::FailedPrecondition, "etcdserver: role is not granted to the user"),
            PermissionNotGranted => (Code::FailedPrecondition, "etcdserver: permission is not granted to the role"),
            InvalidAuthToken => (Code::Unauthenticated, "etcdserver: invalid auth token"),
            InvalidAuthMgmt => (Code::InvalidArgument, "etcdserver: invalid auth management"),
            AuthOldRevision => (Code::InvalidArgument, "etcdserver: revision of auth store is old"),
            NoPasswordUser => (Code::Unknown, "auth: authentication failed, password was given for no password user"),
            VerifyOnly => (Code::Unknown, "auth: token signing attempted with verify-only key"),

            NoLeader => (Code::Unavailable, "etcdserver: no leader"),
            NotLeader => (Code::FailedPrecondition, "etcdserver: not leader"),
            Stopped => (Code::Unavailable, "etcdserver: server stopped"),
            Timeout => (Code::Unavailable, "etcdserver: request timed out"),
            BadLeaderTransferee => (Code::FailedPrecondition, "etcdserver: bad leader transferee"),
            Corrupt => (Code::DataLoss, "etcdserver: corrupt cluster"),
            NotCapable => (Code::FailedPrecondition, "etcdserver: not capable"),
            LeaderChanged => (Code::Unavailable, "etcdserver: leader changed"),
            NotSupportedForLearner => (Code::Unavailable, "etcdserver: rpc not supported for learner"),
            PeerUrlExists => (Code::FailedPrecondition, "etcdserver: Peer URLs already exists"),
            MemberExist => (Code::FailedPrecondition, "etcdserver: member ID already exist"),
            MemberNotLearner => (Code::FailedPrecondition, "etcdserver: can only promote a learner member"),
            LearnerNotReady => {
                (Code::FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader")
            }
            TooManyLearners => (Code::FailedPrecondition, "etcdserver: too many learner members in cluster"),
            UnhealthyCluster => (Code::Unavailable, "etcdserver: unhealthy cluster"),
            WrongDowngradeVersionFormat => (Code::InvalidArgument, "etcdserver: wrong downgrade target version format"),
            InvalidDowngradeTargetVersion => (Code::InvalidArgument, "etcdserver: invalid downgrade target version"),
            UnknownMethod => (Code::InvalidArgument, "etcdserver: unknown method"),
            NotEnoughStartedMembers => {
                (Code::FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members")
            }
            // etcd's error map lacks this one, so clients see code Unknown.
            // etcd returns the context's own error when a proposal never
            // reached a leader before the request timeout (code Unknown).
            ContextDeadline => (Code::Unknown, "context deadline exceeded"),
            StreamCustomSort => (Code::Unimplemented, "RangeStream does not support custom sort orders"),
            StreamRevisionFilters => (Code::Unimplemented, "RangeStream does not support revision filters"),
            LeadershipTransferTimeout => {
                (Code::Unknown, "etcdserver: request timed out, leader transfer took too long")
            }
            UnexpectedApplyResult => (Code::Internal, "unexpected apply result"),
        }
    }
}

impl From<EtcdError> for Status {
    fn from(e: EtcdError) -> Self {
        let (code, text) = e.code_and_text();
        Status::new(code, text)
    }
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Self {
        if let ServiceError::Remote(status) = e {
            return status;
        }
        if let ServiceError::Apply(ApplyError::Mvcc(m)) = &e
            && matches!(m.as_ref(), MvccError::Storage(_) | MvccError::Corrupt(_))
        {
            tracing::error!(error = %m, "storage failure serving a request");
        }
        EtcdError::from(&e).into()
    }
}

impl From<MvccError> for Status {
    fn from(e: MvccError) -> Self {
        ServiceError::Apply(e.into()).into()
    }
}

impl From<LeaseError> for Status {
    fn from(e: LeaseError) -> Self {
        EtcdError::from(&e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden table of every variant: its name in the peer protocol, and
    /// the code and exact text clients see.
    #[test]
    fn etcd_codes_and_texts() {
        let cases = [
            (
                EtcdError::RootUserNotExist,
                "RootUserNotExist",
                Code::FailedPrecondition,
                "etcdserver: root user does not exist",
            ),
            (
                EtcdError::RootRoleNotExist,
                "RootRoleNotExist",
                Code::FailedPrecondition,
                "etcdserver: root user does not have root role",
            ),
            (
                EtcdError::UserAlreadyExist,
                "UserAlreadyExist",
                Code::FailedPrecondition,
                "etcdserver: user name already exists",
            ),
            (EtcdError::UserEmpty, "UserEmpty", Code::InvalidArgument, "etcdserver: user name is empty"),
            (EtcdError::UserNotFound, "UserNotFound", Code::FailedPrecondition, "etcdserver: user name not found"),
            (
                EtcdError::RoleAlreadyExist,
                "RoleAlreadyExist",
                Code::FailedPrecondition,
                "etcdserver: role name already exists",
            ),
            (EtcdError::RoleNotFound, "RoleNotFound", Code::FailedPrecondition, "etcdserver: role name not found"),
            (EtcdError::RoleEmpty, "RoleEmpty", Code::InvalidArgument, "etcdserver: role name is empty"),
            (
                EtcdError::AuthFailed,
                "AuthFailed",
                Code::InvalidArgument,
                "etcdserver: authentication failed, invalid user ID or password",
            ),
            (
                EtcdError::PermissionNotGiven,
                "PermissionNotGiven",
                Code::InvalidArgument,
                "etcdserver: permission not given",
            ),
            (EtcdError::PermissionDenied, "PermissionDenied", Code::PermissionDenied, "etcdserver: permission denied"),
            (
                EtcdError::RoleNotGranted,
                "RoleNotGranted",
                Code::FailedPrecondition,
                "etcdserver: role is not granted to the user",
            ),
            (
                EtcdError::PermissionNotGranted,
                "PermissionNotGranted",
                Code::FailedPrecondition,
                "etcdserver: permission is not granted to the role",
            ),
            (EtcdError::InvalidAuthToken, "InvalidAuthToken", Code::Unauthenticated, "etcdserver: invalid auth token"),
            (
                EtcdError::InvalidAuthMgmt,
                "InvalidAuthMgmt",
                Code::InvalidArgument,
                "etcdserver: invalid auth management",
            ),
            (
                EtcdError::AuthOldRevision,
                "AuthOldRevision",
                Code::InvalidArgument,
                "etcdserver: revision of auth store is old",
            ),
            (
                EtcdError::NoPasswordUser,
                "NoPasswordUser",
                Code::Unknown,
                "auth: authentication failed, password was given for no password user",
            ),
            (EtcdError::VerifyOnly, "VerifyOnly", Code::Unknown, "auth: token signing attempted with verify-only key"),
            (EtcdError::EmptyKey, "EmptyKey", Code::InvalidArgument, "etcdserver: key is not provided"),
            (EtcdError::KeyNotFound, "KeyNotFound", Code::InvalidArgument, "etcdserver: key not found"),
            (EtcdError::ValueProvided, "ValueProvided", Code::InvalidArgument, "etcdserver: value is provided"),
            (EtcdError::LeaseProvided, "LeaseProvided", Code::InvalidArgument, "etcdserver: lease is provided"),
            (
                EtcdError::TooManyOps,
                "TooManyOps",
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            (
                EtcdError::DuplicateKey,
                "DuplicateKey",
                Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
            ),
            (
                EtcdError::InvalidSortOption,
                "InvalidSortOption",
                Code::InvalidArgument,
                "etcdserver: invalid sort option",
            ),
            (
                EtcdError::Compacted,
                "Compacted",
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            (
                EtcdError::FutureRev,
                "FutureRev",
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            (EtcdError::NoSpace, "NoSpace", Code::ResourceExhausted, "etcdserver: mvcc: database space exceeded"),
            (EtcdError::LeaseNotFound, "LeaseNotFound", Code::NotFound, "etcdserver: requested lease not found"),
            (EtcdError::LeaseExist, "LeaseExist", Code::FailedPrecondition, "etcdserver: lease already exists"),
            (EtcdError::LeaseTtlTooLarge, "LeaseTtlTooLarge", Code::OutOfRange, "etcdserver: too large lease TTL"),
            (EtcdError::MemberNotFound, "MemberNotFound", Code::NotFound, "etcdserver: member not found"),
            (EtcdError::RequestTooLarge, "RequestTooLarge", Code::InvalidArgument, "etcdserver: request is too large"),
            (
                EtcdError::AuthNotEnabled,
                "AuthNotEnabled",
                Code::FailedPrecondition,
                "etcdserver: authentication is not enabled",
            ),
            (EtcdError::NoLeader, "NoLeader", Code::Unavailable, "etcdserver: no leader"),
            (EtcdError::NotLeader, "NotLeader", Code::FailedPrecondition, "etcdserver: not leader"),
            (EtcdError::Stopped, "Stopped", Code::Unavailable, "etcdserver: server stopped"),
            (EtcdError::Timeout, "Timeout", Code::Unavailable, "etcdserver: request timed out"),
            (
                EtcdError::BadLeaderTransferee,
                "BadLeaderTransferee",
                Code::FailedPrecondition,
                "etcdserver: bad leader transferee",
            ),
            (EtcdError::Corrupt, "Corrupt", Code::DataLoss, "etcdserver: corrupt cluster"),
            (EtcdError::NotCapable, "NotCapable", Code::FailedPrecondition, "etcdserver: not capable"),
            (EtcdError::LeaderChanged, "LeaderChanged", Code::Unavailable, "etcdserver: leader changed"),
            (
                EtcdError::NotSupportedForLearner,
                "NotSupportedForLearner",
                Code::Unavailable,
                "etcdserver: rpc not supported for learner",
            ),
            (
                EtcdError::PeerUrlExists,
                "PeerUrlExists",
                Code::FailedPrecondition,
                "etcdserver: Peer URLs already exists",
            ),
            (EtcdError::MemberExist, "MemberExist", Code::FailedPrecondition, "etcdserver: member ID already exist"),
            (
                EtcdError::MemberNotLearner,
                "MemberNotLearner",
                Code::FailedPrecondition,
                "etcdserver: can only promote a learner member",
            ),
            (
                EtcdError::LearnerNotReady,
                "LearnerNotReady",
                Code::FailedPrecondition,
                "etcdserver: can only promote a learner member which is in sync with leader",
            ),
            (
                EtcdError::TooManyLearners,
                "TooManyLearners",
                Code::FailedPrecondition,
                "etcdserver: too many learner members in cluster",
            ),
            (EtcdError::UnhealthyCluster, "UnhealthyCluster", Code::Unavailable, "etcdserver: unhealthy cluster"),
            (
                EtcdError::WrongDowngradeVersionFormat,
                "WrongDowngradeVersionFormat",
                Code::InvalidArgument,
                "etcdserver: wrong downgrade target version format",
            ),
            (
                EtcdError::InvalidDowngradeTargetVersion,
                "InvalidDowngradeTargetVersion",
                Code::InvalidArgument,
                "etcdserver: invalid downgrade target version",
            ),
            (EtcdError::UnknownMethod, "UnknownMethod", Code::InvalidArgument, "etcdserver: unknown method"),
            (
                EtcdError::NotEnoughStartedMembers,
                "NotEnoughStartedMembers",
                Code::FailedPrecondition,
                "etcdserver: re-configuration failed due to not enough started members",
            ),
            (EtcdError::ContextDeadline, "ContextDeadline", Code::Unknown, "context deadline exceeded"),
            (
                EtcdError::StreamCustomSort,
                "StreamCustomSort",
                Code::Unimplemented,
                "RangeStream does not support custom sort orders",
            ),
            (
                EtcdError::StreamRevisionFilters,
                "StreamRevisionFilters",
                Code::Unimplemented,
                "RangeStream does not support revision filters",
            ),
            (EtcdError::UnexpectedApplyResult, "UnexpectedApplyResult", Code::Internal, "unexpected apply result"),
            (
                EtcdError::LeadershipTransferTimeout,
                "LeadershipTransferTimeout",
                Code::Unknown,
                "etcdserver: request timed out, leader transfer took too long",
            ),
        ];
        assert_eq!(cases.len(), EtcdError::ALL.len(), "every variant is in the table");
        for (e, name, code, text) in cases {
            let s: Status = e.into();
            assert_eq!((s.code(), s.message()), (code, text), "{e:?}");
            assert_eq!(e.name(), name);
            assert_eq!(EtcdError::from_name(name), Some(e));
        }
        for &e in EtcdError::ALL {
            assert!(cases.iter().any(|c| c.0 == e), "{e:?} is in the table");
        }
    }

    #[test]
    fn layer_errors_map_to_etcd_errors() {
        let s: Status = MvccError::Compacted.into();
        assert_eq!(s.code(), Code::OutOfRange);
        let s: Status = LeaseError::AlreadyExists.into();
        assert_eq!(s.message(), "etcdserver: lease already exists");
        let s: Status = ServiceError::Apply(ApplyError::NoSpace).into();
        assert_eq!(s.code(), Code::ResourceExhausted);
    }
}
