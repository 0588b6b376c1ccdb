//! Opening a member's data directory and starting its Raft node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::Mutex;

use crate::config::Config;
use crate::lease::Lessor;
use crate::membership::{self, Member};
use crate::mvcc::KvStore;
use crate::raft::state_machine::{Alarms, StateMachine, load_leases};
use crate::raft::{LogStore, PeerNetwork, Raft};
use crate::service::{HeaderFactory, Hooks, Server, ServerOptions, ServerParts, Waiters};
use crate::storage::schema::meta;
use crate::storage::{Cf, Engine, WriteBatch};
use crate::watch::{WatchConfig, WatchHub};

/// Who this member is in its cluster.
#[derive(Debug, Clone)]
pub struct Identity {
    pub member: Member,
    pub members: Vec<Member>,
    pub cluster_id: u64,
}

/// A started member: its request router and identity.
pub struct StartedMember {
    pub server: Arc<Server>,
    pub identity: Identity,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The identity the configuration describes (etcd's static bootstrap).
fn identity_from_config(config: &Config) -> anyhow::Result<Identity> {
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

pub async fn start(config: &Config, shutdown: tokio::sync::watch::Receiver<bool>) -> anyhow::Result<StartedMember> {
    let identity = identity_from_config(config)?;
    if identity.members.len() > 1 {
        anyhow::bail!(
            "this capstan build runs single-member clusters only; --initial-cluster lists {} members",
            identity.members.len()
        );
    }
    let data_dir = PathBuf::from(&config.data_dir);
    let engine = Engine::open(&data_dir.join("member").join("db"))
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;

    // The cluster id is fixed when the data dir is first used.
    let cluster_id = match engine.get(Cf::Meta, meta::CLUSTER_ID)? {
        Some(b) => crate::storage::schema::decode_u64(&b).context("corrupt cluster id")?,
        None => {
            let mut batch = WriteBatch::default();
            batch.put(&engine, Cf::Meta, meta::CLUSTER_ID, identity.cluster_id.to_be_bytes());
            engine.write(batch, true)?;
            identity.cluster_id
        }
    };
    let identity = Identity { cluster_id, ..identity };
    let member_id = identity.member.id;
    tracing::info!(
        name = %identity.member.name,
        member_id = %format!("{member_id:x}"),
        cluster_id = %format!("{cluster_id:x}"),
        data_dir = %data_dir.display(),
        "starting member"
    );

    let metrics = crate::metrics::global().clone();
    let (kv, attachments) = KvStore::open(engine.clone()).context("recovering the key space")?;
    let kv = Arc::new(kv);
    let mut lessor = Lessor::new(config.min_lease_ttl_seconds());
    lessor.recover(load_leases(&engine)?, attachments);
    let lessor = Arc::new(Mutex::new(lessor));
    let hub = WatchHub::new(kv.clone(), WatchConfig {
        max_response_bytes: config.max_request_bytes as usize,
        progress_notify_interval: config.watch_progress_notify_interval,
        ..WatchConfig::default()
    });
    let waiters = Arc::new(Waiters::default());
    let alarms: Alarms = Arc::default();
    let hooks = Arc::new(Hooks { waiters: waiters.clone(), hub: hub.clone() });
    let state_machine = StateMachine::open(engine.clone(), kv.clone(), lessor.clone(), alarms.clone(), hooks)?;
    let log_store = LogStore::new(engine.clone(), !config.unsafe_no_fsync);
    let pristine = log_store.is_pristine()?;

    let heartbeat = config.heartbeat_interval().as_millis() as u64;
    let election = config.election_timeout().as_millis() as u64;
    let raft_config = openraft::Config {
        cluster_name: config.initial_cluster_token.clone(),
        heartbeat_interval: heartbeat,
        election_timeout_min: election,
        election_timeout_max: election * 2,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_count.max(1)),
        // Like etcd's catch-up entries: keep some log after a snapshot.
        max_in_snapshot_log_to_keep: 5000,
        ..Default::default()
    };
    let raft_config = Arc::new(raft_config.validate().context("raft configuration")?);
    let raft = Raft::new(member_id, raft_config, PeerNetwork, log_store, state_machine)
        .await
        .context("starting raft")?;
    metrics.spawn_raft_observer(raft.metrics());
    if pristine {
        let nodes: BTreeMap<u64, openraft::BasicNode> = identity
            .members
            .iter()
            .map(|m| (m.id, openraft::BasicNode::new(m.peer_urls.first().cloned().unwrap_or_default())))
            .collect();
        raft.initialize(nodes).await.context("bootstrapping the raft group")?;
    }

    let options = ServerOptions {
        // etcd: 5 s plus two election timeouts.
        request_timeout: Duration::from_secs(5) + 2 * config.election_timeout(),
        max_request_bytes: config.max_request_bytes as usize,
        max_txn_ops: config.max_txn_ops as usize,
        quota_backend_bytes: config.quota_backend_bytes_effective(),
        etcd_version: config.emulated_etcd_version.clone(),
        data_dir,
        compaction: compaction_policy(config)?,
    };
    let headers = HeaderFactory::new(cluster_id, member_id);
    let parts = ServerParts { raft, kv, lessor, hub, alarms, headers, waiters, engine, options };
    let server = Server::start(parts, shutdown);
    Ok(StartedMember { server, identity, metrics })
}
