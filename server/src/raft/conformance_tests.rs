//! openraft's storage conformance suite (`openraft::testing::Suite`) over
//! Capstan's log store and state machine, each built on a fresh RocksDB: the
//! invariants openraft relies on (log state after append, truncate and
//! purge; vote persistence; applied state and membership; snapshot transfer)
//! checked by openraft's own tests rather than by our reading of them.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use parking_lot::Mutex;

use super::snapshot::SnapshotStore;
use super::state_machine::{Alarms, AppliedProgress, ApplyHooks, ApplyResult, StateMachine};
use super::{LogStore, NodeId, TypeConfig};
use crate::lease::Lessor;
use crate::membership::MemberTable;
use crate::mvcc::KvStore;
use crate::storage::Engine;

/// Hooks with no one listening.
struct Unobserved;

impl ApplyHooks for Unobserved {
    fn committed(&self, _: &[capstan_proto::mvccpb::Event], _: i64) {}
    fn applied(&self, _: Vec<(u64, ApplyResult)>) {}
    fn restored(&self, _: i64) {}
    fn progress(&self, _: AppliedProgress) {}
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), openraft::StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let io = |e: crate::storage::StorageError| {
            super::io_err(openraft::ErrorSubject::Store, openraft::ErrorVerb::Read, e)
        };
        let engine = Engine::open(&dir.path().join("db")).map_err(io)?;
        let (kv, _) = KvStore::open(engine.clone())
            .map_err(|e| io(crate::storage::StorageError::Io(std::io::Error::other(e))))?;
        let snapshots = SnapshotStore::open(dir.path().join("snap")).map_err(io)?;
        let metrics = crate::metrics::Metrics::new();
        let log = LogStore::new(engine.clone(), true, metrics.clone()).expect("log store");
        let auth = Arc::new(crate::auth::AuthStore::open(&engine, crate::auth::Tokens::None).map_err(io)?);
        let sm = StateMachine::open(
            engine,
            Arc::new(kv),
            Arc::new(Mutex::new(Lessor::new(1))),
            Alarms::default(),
            Arc::new(MemberTable::new(1)),
            snapshots,
            Arc::new(Unobserved),
            metrics,
            auth,
        )
        .map_err(io)?;
        sm.started().store(true, std::sync::atomic::Ordering::SeqCst);
        Ok((dir, log, sm))
    }
}

type S = Suite<TypeConfig, LogStore, StateMachine, Builder, tempfile::TempDir>;

/// Runs one case of the suite on a fresh store, naming it if it fails.
fn case<F, Fut>(name: &str, test: F)
where
    F: FnOnce(LogStore, StateMachine) -> Fut,
    Fut: std::future::Future<Output = Result<(), openraft::StorageError<NodeId>>>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_dir, log, sm) = Builder.build().await.unwrap();
        test(log, sm).await.unwrap_or_else(|e| panic!("openraft suite case {name}: {e}"));
    });
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                case(stringify!($name), S::$name);
            }
        )*
    };
}

cases!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_membership_from_log_and_sm,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

#[test]
fn transfer_snapshot() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(S::transfer_snapshot(&Builder))
        .unwrap_or_else(|e| panic!("openraft suite case transfer_snapshot: {e}"));
}
