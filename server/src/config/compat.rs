//! etcd 3.6's feature gates, renamed `experimental-*` flags and deprecation notices.

use super::*;

/// Known server feature gates: (name, default, stage), as in etcd 3.7, and
/// what Capstan does when a gate is turned away from its default.
#[rustfmt::skip]
pub(super) const FEATURE_GATES: &[(&str, bool, &str, Support)] = &[
    ("AllAlpha", false, "ALPHA", Support::Honoured),
    ("AllBeta", false, "BETA", Support::Honoured),
    ("CompactHashCheck", false, "ALPHA", Support::Refused("compaction hash checks are not implemented")),
    ("FastLeaseKeepAlive", true, "BETA", Support::Ignored("Capstan's leader renews a lease without waiting for the applied index either way")),
    ("InitialCorruptCheck", false, "ALPHA", Support::Refused("corruption checks are not implemented")),
    ("LeaseCheckpoint", false, "ALPHA", Support::Refused("lease checkpoints are not implemented")),
    ("LeaseCheckpointPersist", false, "ALPHA", Support::Refused("lease checkpoints are not implemented")),
    ("PriorityRequest", false, "ALPHA", Support::Ignored("Capstan has no apply-backlog limit that would refuse requests, so none needs priority")),
    ("SetMemberLocalAddr", false, "ALPHA", Support::Refused("choosing the local address of peer connections is not implemented")),
    ("StopGRPCServiceOnDefrag", false, "ALPHA", Support::Ignored("Capstan keeps serving during defragmentation")),
    ("TxnModeWriteWithSharedBuffer", true, "BETA", Support::Ignored("performance tuning of etcd's write buffer")),
];

/// etcd 3.6's boolean `experimental-*` flags that became feature gates.
pub(super) const EXPERIMENTAL_GATE_FLAGS: &[(&str, &str)] = &[
    ("experimental-stop-grpc-service-on-defrag", "StopGRPCServiceOnDefrag"),
    ("experimental-initial-corrupt-check", "InitialCorruptCheck"),
    ("experimental-compact-hash-check-enabled", "CompactHashCheck"),
    ("experimental-txn-mode-write-with-shared-buffer", "TxnModeWriteWithSharedBuffer"),
    ("experimental-enable-lease-checkpoint", "LeaseCheckpoint"),
    ("experimental-enable-lease-checkpoint-persist", "LeaseCheckpointPersist"),
];

/// etcd 3.6's renamed flags: (old, new, copy old value into new field).
pub(super) type Migration = (&'static str, &'static str, fn(&mut Config));
#[rustfmt::skip]
pub(super) const EXPERIMENTAL_MIGRATIONS: &[Migration] = &[
    ("experimental-compact-hash-check-time", "compact-hash-check-time", |c| {
        c.compact_hash_check_time = c.experimental_compact_hash_check_time
    }),
    ("experimental-corrupt-check-time", "corrupt-check-time", |c| {
        c.corrupt_check_time = c.experimental_corrupt_check_time
    }),
    ("experimental-compaction-batch-limit", "compaction-batch-limit", |c| {
        c.compaction_batch_limit = c.experimental_compaction_batch_limit
    }),
    ("experimental-watch-progress-notify-interval", "watch-progress-notify-interval", |c| {
        c.watch_progress_notify_interval = c.experimental_watch_progress_notify_interval
    }),
    ("experimental-warning-apply-duration", "warning-apply-duration", |c| {
        c.warning_apply_duration = c.experimental_warning_apply_duration
    }),
    ("experimental-bootstrap-defrag-threshold-megabytes", "bootstrap-defrag-threshold-megabytes", |c| {
        c.bootstrap_defrag_threshold_megabytes = c.experimental_bootstrap_defrag_threshold_megabytes
    }),
    ("experimental-memory-mlock", "memory-mlock", |c| c.memory_mlock = c.experimental_memory_mlock),
    ("experimental-snapshot-catchup-entries", "snapshot-catchup-entries", |c| {
        c.snapshot_catchup_entries = c.experimental_snapshot_catchup_entries
    }),
    ("experimental-compaction-sleep-interval", "compaction-sleep-interval", |c| {
        c.compaction_sleep_interval = c.experimental_compaction_sleep_interval
    }),
    ("experimental-downgrade-check-time", "downgrade-check-time", |c| {
        c.downgrade_check_time = c.experimental_downgrade_check_time
    }),
    ("experimental-peer-skip-client-san-verification", "peer-skip-client-san-verification", |c| {
        c.peer_skip_client_san_verification = c.experimental_peer_skip_client_san_verification
    }),
    ("experimental-enable-distributed-tracing", "enable-distributed-tracing", |c| {
        c.enable_distributed_tracing = c.experimental_enable_distributed_tracing
    }),
    ("experimental-distributed-tracing-address", "distributed-tracing-address", |c| {
        c.distributed_tracing_address = c.experimental_distributed_tracing_address.clone()
    }),
    ("experimental-distributed-tracing-service-name", "distributed-tracing-service-name", |c| {
        c.distributed_tracing_service_name = c.experimental_distributed_tracing_service_name.clone()
    }),
    ("experimental-distributed-tracing-instance-id", "distributed-tracing-instance-id", |c| {
        c.distributed_tracing_instance_id = c.experimental_distributed_tracing_instance_id.clone()
    }),
    ("experimental-distributed-tracing-sampling-rate", "distributed-tracing-sampling-rate", |c| {
        c.distributed_tracing_sampling_rate = c.experimental_distributed_tracing_sampling_rate
    }),
];

/// Flags etcd 3.6 warns about when they are set (its `deprecatedFlags`).
#[rustfmt::skip]
pub(super) const DEPRECATED_FLAGS: &[(&str, &str)] = &[
    ("max-snapshots", "--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.8."),
    ("v2-deprecation", "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input."),
    ("experimental-compact-hash-check-enabled", "--experimental-compact-hash-check-enabled is deprecated in 3.6 and will be decommissioned in 3.7. Use '--feature-gates=CompactHashCheck=true' instead."),
    ("experimental-compact-hash-check-time", "--experimental-compact-hash-check-time is deprecated in 3.6 and will be decommissioned in 3.7. Use '--compact-hash-check-time' instead."),
    ("experimental-txn-mode-write-with-shared-buffer", "--experimental-txn-mode-write-with-shared-buffer is deprecated in v3.6 and will be decommissioned in v3.7. Use '--feature-gates=TxnModeWriteWithSharedBuffer=true' instead."),
    ("experimental-corrupt-check-time", "--experimental-corrupt-check-time is deprecated in v3.6 and will be decommissioned in v3.7. Use '--corrupt-check-time' instead."),
    ("experimental-compaction-batch-limit", "--experimental-compaction-batch-limit is deprecated in v3.6 and will be decommissioned in v3.7. Use '--compaction-batch-limit' instead."),
    ("experimental-watch-progress-notify-interval", "--experimental-watch-progress-notify-interval is deprecated in v3.6 and will be decommissioned in v3.7. Use '--watch-progress-notify-interval' instead."),
    ("experimental-warning-apply-duration", "--experimental-warning-apply-duration is deprecated in v3.6 and will be decommissioned in v3.7. Use '--warning-apply-duration' instead."),
    ("experimental-bootstrap-defrag-threshold-megabytes", "--experimental-bootstrap-defrag-threshold-megabytes is deprecated in v3.6 and will be decommissioned in v3.7. Use '--bootstrap-defrag-threshold-megabytes' instead."),
    ("experimental-memory-mlock", "--experimental-memory-mlock is deprecated in v3.6 and will be decommissioned in v3.7. Use '--memory-mlock' instead."),
    ("experimental-snapshot-catchup-entries", "--experimental-snapshot-catchup-entries is deprecated in v3.6 and will be decommissioned in v3.7. Use '--snapshot-catchup-entries' instead."),
    ("experimental-compaction-sleep-interval", "--experimental-compaction-sleep-interval is deprecated in v3.6 and will be decommissioned in v3.7. Use 'compaction-sleep-interval' instead."),
    ("experimental-downgrade-check-time", "--experimental-downgrade-check-time is deprecated in v3.6 and will be decommissioned in v3.7. Use '--downgrade-check-time' instead."),
    ("experimental-enable-distributed-tracing", "--experimental-enable-distributed-tracing is deprecated in 3.6 and will be decommissioned in 3.7. Use --enable-distributed-tracing instead."),
    ("experimental-distributed-tracing-address", "--experimental-distributed-tracing-address is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-address instead."),
    ("experimental-distributed-tracing-service-name", "--experimental-distributed-tracing-service-name is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-service-name instead."),
    ("experimental-distributed-tracing-instance-id", "--experimental-distributed-tracing-instance-id is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-instance-id instead."),
    ("experimental-distributed-tracing-sampling-rate", "--experimental-distributed-tracing-sampling-rate is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-sampling-rate instead."),
];
