//! What this member reports about itself (Maintenance.Status) and the
//! leases it knows (Lease.Leases), answered from local state.

use capstan_proto::etcdserverpb::{AlarmType, LeaseLeasesResponse, LeaseStatus, StatusResponse};

use super::Server;

impl Server {
    /// This member's status. `errors` lists the active alarms; etcd's gRPC
    /// layer adds "no leader" when `leader` is 0, and so does ours.
    pub fn status(&self) -> StatusResponse {
        let (term, last_index, applied) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.last_log_index.unwrap_or(0), m.last_applied.map_or(0, |l| l.index))
        };
        let errors = self.alarms.lock().iter().map(|(m, a)| alarm_text(*m, *a)).collect();
        let version = self.options.etcd_version.clone();
        StatusResponse {
            header: Some(self.headers.header(self.kv.current_revision())),
            storage_version: storage_version(&version),
            version,
            db_size: self.engine.size_on_disk() as i64,
            leader: self.leader().unwrap_or(0),
            raft_index: last_index,
            raft_term: term,
            raft_applied_index: applied,
            errors,
            db_size_in_use: self.engine.live_data_size() as i64,
            is_learner: self.is_learner(),
            db_size_quota: self.options.quota_backend_bytes as i64,
            // etcd 3.6 always reports downgrade info (empty when none is in progress).
            downgrade_info: Some(Default::default()),
        }
    }

    /// The leases this member's lessor knows.
    pub fn lease_leases(&self) -> LeaseLeasesResponse {
        let ids = self.lessor.lock().ids();
        LeaseLeasesResponse {
            header: Some(self.headers.header(self.kv.current_revision())),
            leases: ids.into_iter().map(|id| LeaseStatus { id }).collect(),
        }
    }
}

/// etcd's text for an active alarm in Status.errors.
fn alarm_text(member: u64, alarm: i32) -> String {
    let name = AlarmType::try_from(alarm).map_or("UNKNOWN", |a| a.as_str_name());
    format!("memberID:{member} alarm:{name} ")
}

/// The storage version etcd reports alongside its version: "major.minor.0".
pub fn storage_version(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}.0"),
        _ => version.to_string(),
    }
}
