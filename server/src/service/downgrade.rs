//! Maintenance.Downgrade as etcd 3.6/3.7 answers it. Capstan emulates one
//! etcd version (`--emulated-etcd-version`) and does not change behaviour by
//! cluster version, so it cannot run a downgrade: VALIDATE answers exactly as
//! etcd does (the only valid target is one minor version below the cluster
//! version), ENABLE of a valid target is refused saying so, and CANCEL
//! succeeds, as etcd's does when no downgrade is in progress.

use capstan_proto::etcdserverpb::downgrade_request::DowngradeAction;
use capstan_proto::etcdserverpb::{DowngradeRequest, DowngradeResponse};

use super::{EtcdError, Server, ServiceError};

/// `major.minor` of a version given as `X.Y` or `X.Y.Z` (etcd's
/// `convertToClusterVersion`), or `None` when it is not one.
fn cluster_version_of(v: &str) -> Option<(u64, u64)> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((parts[0].parse().ok()?, parts[1].parse().ok()?))
}

impl Server {
    /// The cluster version (`major.minor`) this member reports.
    fn cluster_version(&self) -> (u64, u64) {
        cluster_version_of(&self.options.etcd_version).unwrap_or((3, 6))
    }

    pub async fn downgrade(&self, req: DowngradeRequest) -> Result<DowngradeResponse, ServiceError> {
        let action = DowngradeAction::try_from(req.action).map_err(|_| ServiceError::Etcd(EtcdError::UnknownMethod))?;
        let (major, minor) = self.cluster_version();
        let answer = || DowngradeResponse {
            header: Some(self.headers.header(self.kv.current_revision())),
            version: format!("{major}.{minor}"),
        };
        if action == DowngradeAction::Cancel {
            return Ok(answer());
        }
        let target =
            cluster_version_of(&req.version).ok_or(ServiceError::Etcd(EtcdError::WrongDowngradeVersionFormat))?;
        // etcd reads the cluster version linearizably first.
        self.read_barrier().await?;
        if target != (major, minor.wrapping_sub(1)) {
            return Err(ServiceError::Etcd(EtcdError::InvalidDowngradeTargetVersion));
        }
        match action {
            DowngradeAction::Validate => Ok(answer()),
            _ => Err(ServiceError::Remote(tonic::Status::unimplemented(format!(
                "capstan cannot downgrade the cluster to {}.{}: it emulates etcd {} (--emulated-etcd-version); \
                 start members with --emulated-etcd-version={}.{}.0 instead",
                target.0, target.1, self.options.etcd_version, target.0, target.1
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_etcd_reads_them() {
        assert_eq!(cluster_version_of("3.6"), Some((3, 6)));
        assert_eq!(cluster_version_of("3.6.9"), Some((3, 6)));
        assert_eq!(cluster_version_of("3.6.0-alpha.1"), Some((3, 6)));
        for bad in ["bogus", "3", "3.", "3.6.7.8", "v3.6", ""] {
            assert_eq!(cluster_version_of(bad), None, "{bad}");
        }
    }
}
