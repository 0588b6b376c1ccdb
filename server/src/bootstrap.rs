//! Opening a member's data directory and starting its Raft node.

mod join;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;

use crate::auth::jwt::JwtTokens;
use crate::auth::simple::SimpleTokens;
use crate::auth::{AuthStore, Tokens};
use crate::config::{AuthTokenSpec, ClusterState, Config};
use crate::lease::Lessor;
use crate::membership::{self, Member, MemberTable};
use crate::mvcc::KvStore;
use crate::peer::PeerClients;
use crate::raft::snapshot::SnapshotStore;
use crate::raft::state_machine::{Alarms, StateMachine, load_leases};
use crate::raft::{LogStore, PeerNetwork, PeerNode, Raft};
use crate::service::{HeaderFactory, Hooks, RetentionPolicy, Server, ServerOptions, ServerParts, Waiters};
use crate::storage::schema::{meta, raft_meta};
use crate::storage::{Cf, Engine, WriteBatch};
use crate::watch::{WatchConfig, WatchHub};

/// Who this member is in its cluster.
#[derive(Debug, Clone)]
pub struct Identity {
    pub member: Member,
    pub members: Vec<Member>,
    pub cluster_id: u64,
}

/// A started member: its request router and metrics.
pub struct StartedMember {
    pub server: Arc<Server>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The identity the configuration describes (etcd's static bootstrap).
pub(crate) fn identity_from_config(config: &Config) -> anyhow::Result<Identity> {
    let token = config.initial_cluster_token.clone();
    let mut members = Vec::new();
    for (name, peer_urls) in config.initial_cluster_members().context("parsing --initial-cluster")? {
        let id = membership::member_id(&peer_urls, &token, None);
        members.push(Member { id, name, peer_urls, client_urls: Vec::new(), is_learner: false });
    }
    let own_peers = config.initial_advertise_peer_urls.clone();
    let local_id = membership::member_id(&own_peers, &token, None);
    let Some(local) = members.iter_mut().find(|m| m.name == config.name) else {
        anyhow::bail!("couldn't find local name {:?} in the initial cluster configuration", config.name);
    };
    if local.id != local_id {
        anyhow::bail!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} (\"{}\"(resolved from {}) != \"{}\")",
            config.name,
            local.peer_urls.join(","),
            own_peers.join(","),
            own_peers.join(","),
            own_peers.join(","),
            local.peer_urls.join(",")
        );
    }
    local.client_urls = config.advertise_client_urls.clone();
    let member = local.clone();
    let cluster_id = membership::cluster_id(&members.iter().map(|m| m.id).collect::<Vec<_>>());
    Ok(Identity { member, members, cluster_id })
}

/// The automatic compaction the configuration asks for, if any.
fn compaction_policy(config: &Config) -> anyhow::Result<Option<crate::service::CompactionPolicy>> {
    use crate::config::AutoCompaction;
    use crate::service::CompactionPolicy;
    Ok(match config.auto_compaction()? {
        AutoCompaction::Disabled => None,
        AutoCompaction::Periodic(d) => Some(CompactionPolicy::Periodic(d)),
        AutoCompaction::Revision(n) => Some(CompactionPolicy::Revision(n as i64)),
    })
}

/// How this member finds its place in the cluster.
enum Placement {
    /// The data dir already holds a member: bootstrap flags are ignored.
    Restart,
    /// `--initial-cluster-state new`: form the cluster from `--initial-cluster`.
    Form(Vec<Member>),
    /// `--initial-cluster-state existing`: join a running cluster (added with
    /// MemberAdd beforehand); the leader sends the data.
    Join,
}

/// Finds this member's id and cluster id: from the data dir if it has them,
/// else from the configuration (new cluster) or from running peers (join).
async fn place(
    config: &Config,
    engine: &Engine,
    dialer: &crate::tls::PeerDialer,
) -> anyhow::Result<(u64, u64, Placement)> {
    let stored_member =
        engine.get_decoded(Cf::RaftMeta, raft_meta::MEMBER_ID, crate::storage::schema::decode_u64_exact)?;
    let stored_cluster = engine.get_decoded(Cf::Meta, meta::CLUSTER_ID, crate::storage::schema::decode_u64_exact)?;
    if let (Some(member), Some(cluster)) = (stored_member, stored_cluster) {
        tracing::info!(
            member_id = %format!("{member:x}"),
            cluster_id = %format!("{cluster:x}"),
            "the data dir already holds a member; ignoring --initial-cluster, --initial-cluster-state and --initial-cluster-token"
        );
        return Ok((member, cluster, Placement::Restart));
    }
    match config.initial_cluster_state {
        ClusterState::Existing => {
            let (member, cluster) = join::find_self(config, dialer).await?;
            Ok((member, cluster, Placement::Join))
        }
        ClusterState::New => {
            let identity = identity_from_config(config)?;
            join::check_peers_agree(config, &identity, dialer).await?;
            Ok((identity.member.id, identity.cluster_id, Placement::Form(identity.members)))
        }
    }
}

pub async fn start(
    config: &Config,
    dialer: &crate::tls::PeerDialer,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<StartedMember> {
    let data_dir = PathBuf::from(&config.data_dir);
    prepare_data_dir(&data_dir)?;
    let engine = Engine::open(&data_dir.join("member").join("db"))
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let snapshots =
        SnapshotStore::open(data_dir.join("member").join("snap")).context("opening the snapshot directory")?;
    snapshots.resume_install(&engine).context("finishing an interrupted snapshot installation")?;

    let (member_id, cluster_id, placement) = place(config, &engine, dialer).await?;
    let mut batch = WriteBatch::default();
    batch.put(&engine, Cf::RaftMeta, raft_meta::MEMBER_ID, member_id.to_be_bytes());
    batch.put(&engine, Cf::Meta, meta::CLUSTER_ID, cluster_id.to_be_bytes());
    engine.write(batch, true)?;
    tracing::info!(
        name = %config.name,
        member_id = %format!("{member_id:x}"),
        cluster_id = %format!("{cluster_id:x}"),
        data_dir = %data_dir.display(),
        "starting member"
    );

    // This member's metrics, handed to every part that updates them.
    let metrics = crate::metrics::Metrics::new();
    let (kv, attachments) = KvStore::open(engine.clone()).context("recovering the key space")?;
    let kv = Arc::new(kv);
    let mut lessor = Lessor::new(config.min_lease_ttl_seconds());
    lessor.recover(load_leases(&engine)?, attachments);
    let lessor = Arc::new(Mutex::new(lessor));
    let hub = WatchHub::new(
        kv.clone(),
        WatchConfig {
            max_response_bytes: config.max_request_bytes as usize,
            progress_notify_interval: config.watch_progress_notify_interval,
            ..WatchConfig::default()
        },
    );
    let waiters = Arc::new(Waiters::default());
    let alarms: Alarms = Arc::default();
    let members = Arc::new(MemberTable::new(member_id));
    let (progress_tx, progress) = tokio::sync::watch::channel(Default::default());
    let hooks = Arc::new(Hooks { waiters: waiters.clone(), hub: hub.clone(), progress: progress_tx });
    let auth = Arc::new(AuthStore::open(&engine, token_provider(config)?)?);
    let state_machine = StateMachine::open(
        engine.clone(),
        kv.clone(),
        lessor.clone(),
        alarms.clone(),
        members.clone(),
        snapshots,
        hooks,
        metrics.clone(),
        auth.clone(),
    )?;
    let log_store = LogStore::new(engine.clone(), !config.unsafe_no_fsync, metrics.clone())
        .context("starting the WAL sync thread")?;
    let pristine = log_store.is_pristine()?;

    let heartbeat = config.heartbeat_interval().as_millis() as u64;
    let election = config.election_timeout().as_millis() as u64;
    let raft_config = openraft::Config {
        cluster_name: config.initial_cluster_token.clone(),
        heartbeat_interval: heartbeat,
        // A follower of openraft 0.9 campaigns `max + rand[min, max)` after its
        // last heartbeat (the leader lease, then a random timeout), and voters
        // refuse votes until `max` has passed. With min = E/2 and max = 3E/4 a
        // follower campaigns 1.25–1.5 E after losing its leader, like etcd's
        // randomized [E, 2E), and its vote requests are granted at once.
        election_timeout_min: (election / 2).max(heartbeat + 1),
        election_timeout_max: (election * 3 / 4).max(heartbeat + 2),
        // Snapshots and log purges are driven by service::log_retention,
        // which counts requests (etcd's --snapshot-count and
        // --snapshot-catchup-entries) rather than entries of many requests.
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: u64::MAX,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    };
    let raft_config = Arc::new(raft_config.validate().context("raft configuration")?);
    let peers = PeerClients::new(member_id, cluster_id, members.clone(), dialer.clone());
    let started = state_machine.started();
    let raft =
        Raft::new(member_id, raft_config, PeerNetwork::new(peers.clone(), metrics.clone()), log_store, state_machine)
            .await
            .context("starting raft")?;
    started.store(true, std::sync::atomic::Ordering::Relaxed);
    metrics.spawn_raft_observer(raft.metrics());
    match placement {
        Placement::Form(initial) if pristine => {
            let nodes: BTreeMap<u64, PeerNode> =
                initial.iter().map(|m| (m.id, PeerNode { peer_urls: m.peer_urls.clone() })).collect();
            match raft.initialize(nodes).await {
                Ok(()) => {}
                // Another member's initial entry reached us first: same cluster.
                Err(openraft::error::RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(anyhow::Error::new(e).context("bootstrapping the raft group")),
            }
        }
        Placement::Join if pristine => {
            tracing::info!("joining the cluster: waiting for the leader to replicate to this member")
        }
        _ => {}
    }

    let options = ServerOptions {
        // etcd: 5 s plus two election timeouts.
        request_timeout: Duration::from_secs(5) + 2 * config.election_timeout(),
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
        quota_backend_bytes: config.quota_backend_bytes_effective(),
        etcd_version: config.emulated_etcd_version.clone(),
        compaction: compaction_policy(config)?,
        name: config.name.clone(),
        client_urls: config.advertise_client_urls.clone(),
        cluster_token: config.initial_cluster_token.clone(),
        max_learners: config.max_learners.max(0) as usize,
        strict_reconfig_check: config.strict_reconfig_check,
        feature_gates: config.feature_gate_states(),
        warning_unary_request_duration: config.warning_unary_request_duration,
        client_cert_auth: config.client_cert_auth,
        election_timeout: config.election_timeout(),
        retention: RetentionPolicy { snapshot_count: config.snapshot_count, catchup: config.snapshot_catchup_entries },
    };
    let headers = HeaderFactory::new(cluster_id, member_id);
    let parts = ServerParts {
        raft,
        kv,
        lessor,
        hub,
        alarms,
        headers,
        waiters,
        engine,
        peers,
        members,
        options,
        progress,
        metrics: metrics.clone(),
        auth,
        passwords: crate::auth::password::Passwords::new(config.bcrypt_cost as u32),
    };
    let server = Server::start(parts, shutdown);
    Ok(StartedMember { server, metrics })
}

/// The token provider `--auth-token` names (checked again here because a
/// JWT's key files are read only now; their errors are etcd's).
fn token_provider(config: &Config) -> anyhow::Result<Tokens> {
    Ok(match config.auth_token_spec()? {
        AuthTokenSpec::None => Tokens::None,
        AuthTokenSpec::Simple => Tokens::Simple(SimpleTokens::new(Duration::from_secs(config.auth_token_ttl))),
        AuthTokenSpec::Jwt(options) => Tokens::Jwt(Box::new(JwtTokens::from_options(&options)?)),
    })
}

/// The data dir's mode, as etcd's: readable by this user only.
const PRIVATE_DIR_MODE: u32 = 0o700;

/// Creates the data dir (and its `member/`) readable by this user only, as
/// etcd does; an existing one that others may read is used, with etcd's
/// warning.
fn prepare_data_dir(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let create = |dir: &std::path::Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir)
            .with_context(|| format!("cannot access data directory {}", dir.display()))
    };
    create(data_dir)?;
    let mode = std::fs::metadata(data_dir)?.permissions().mode() & 0o777;
    if mode != PRIVATE_DIR_MODE {
        tracing::warn!(
            error = %format!(
                "directory {:?} exist, but the permission is {:?}. The recommended permission is \"-rwx------\" to prevent possible unprivileged access to the data",
                data_dir.display().to_string(),
                mode_string(mode)
            ),
            "check file permission"
        );
    }
    create(&data_dir.join("member"))
}

/// `ls -l` style text of a directory mode (Go's `os.FileMode.String`).
fn mode_string(mode: u32) -> String {
    let mut s = String::from("d");
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_data_dir_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("data");
        prepare_data_dir(&dir).unwrap();
        for d in [dir.clone(), dir.join("member")] {
            assert_eq!(
                std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
                PRIVATE_DIR_MODE,
                "{}",
                d.display()
            );
        }
        assert_eq!(mode_string(0o755), "drwxr-xr-x");
    }
}
