//! An in-process cluster: every member is `capstan::run` on listeners bound
//! to 127.0.0.1 port 0 by the harness (so no port is ever guessed), each with
//! its own data dir, all in the test's runtime. Members can be stopped
//! (graceful shutdown, which joins the member's tasks and closes its
//! database), restarted on the same ports and data dir, and added.
//!
//! Clients reach members over real gRPC connections, as etcd clients do.

#![allow(dead_code)]

pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use capstan_proto::etcdserverpb::cluster_client::ClusterClient;
use capstan_proto::etcdserverpb::kv_client::KvClient;
use capstan_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use capstan_proto::etcdserverpb::{PutRequest, RangeRequest, StatusRequest};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Timing of harness clusters: short, so elections take well under a second.
pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_MS: u64 = 500;
/// How long the harness waits for anything (a leader, a catch-up) before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One member's place in the cluster: its ports and data dir outlive the
/// member process (a restart reuses them).
pub struct Slot {
    pub name: String,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    pub data_dir: PathBuf,
    /// Extra configuration lines (YAML) for this member.
    pub extra: String,
    /// `http` or `https` (peer TLS, see [`Cluster::with_peer_tls`]).
    pub peer_scheme: &'static str,
    /// Listeners bound and not yet handed to a member.
    listeners: Option<(TcpListener, TcpListener)>,
    running: Option<Running>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Slot {
    async fn bind(name: String, data_dir: PathBuf) -> Self {
        let client = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Slot {
            name,
            client: client.local_addr().unwrap(),
            peer: peer.local_addr().unwrap(),
            data_dir,
            extra: String::new(),
            peer_scheme: "http",
            listeners: Some((client, peer)),
            running: None,
        }
    }

    pub fn client_url(&self) -> String {
        format!("http://{}", self.client)
    }

    pub fn peer_url(&self) -> String {
        format!("{}://{}", self.peer_scheme, self.peer)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

/// A request that fails with DeadlineExceeded after [`PATIENCE`] rather
/// than waiting forever (a test must fail, not hang).
pub fn bounded<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(PATIENCE);
    request
}

pub struct Cluster {
    pub slots: Vec<Slot>,
    pub token: String,
    _dir: tempfile::TempDir,
    /// Certificates of a peer-TLS cluster.
    _certs: Option<tls::PeerCerts>,
}

impl Cluster {
    /// A new cluster of `size` members, started and with a leader.
    pub async fn new(size: usize) -> Self {
        Self::with_config(size, "").await
    }

    /// [`Cluster::new`] with extra YAML configuration for every member.
    pub async fn with_config(size: usize, extra: &str) -> Self {
        Self::start_new(size, extra, None).await
    }

    /// [`Cluster::new`] with mutual TLS between the members (`https://`
    /// peer URLs, certificates from a CA made for the test); clients stay
    /// on plain `http://`.
    pub async fn with_peer_tls(size: usize) -> Self {
        let certs = tls::PeerCerts::new();
        let extra = certs.yaml.clone();
        Self::start_new(size, &extra, Some(certs)).await
    }

    async fn start_new(size: usize, extra: &str, certs: Option<tls::PeerCerts>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut slots = Vec::new();
        for i in 0..size {
            let name = format!("m{i}");
            let mut slot = Slot::bind(name.clone(), dir.path().join(&name)).await;
            slot.extra = extra.to_string();
            if certs.is_some() {
                slot.peer_scheme = "https";
            }
            slots.push(slot);
        }
        let mut cluster = Cluster { slots, token: format!("harness-{}", std::process::id()), _dir: dir, _certs: certs };
        let initial = cluster.initial_cluster(size);
        for i in 0..size {
            cluster.start_with(i, &initial, "new");
        }
        cluster.wait_for_leader(&(0..size).collect::<Vec<_>>()).await;
        cluster
    }

    fn initial_cluster(&self, upto: usize) -> String {
        self.slots[..upto].iter().map(|s| format!("{}={}", s.name, s.peer_url())).collect::<Vec<_>>().join(",")
    }

    fn config(&self, i: usize, initial_cluster: &str, state: &str) -> capstan::config::Config {
        let s = &self.slots[i];
        let yaml = format!(
            "name: {name}\ndata-dir: {dir}\nlisten-client-urls: {c}\nadvertise-client-urls: {c}\n\
             listen-peer-urls: {p}\ninitial-advertise-peer-urls: {p}\ninitial-cluster: {initial}\n\
             initial-cluster-state: {state}\ninitial-cluster-token: {token}\n\
             heartbeat-interval: {HEARTBEAT_MS}\nelection-timeout: {ELECTION_MS}\n{extra}",
            name = s.name,
            dir = s.data_dir.display(),
            c = s.client_url(),
            p = s.peer_url(),
            initial = initial_cluster,
            token = self.token,
            extra = s.extra,
        );
        capstan::config::Config::from_yaml_str(&yaml, "harness").expect("harness configuration")
    }

    fn start_with(&mut self, i: usize, initial_cluster: &str, state: &str) {
        let config = self.config(i, initial_cluster, state);
        let slot = &mut self.slots[i];
        assert!(slot.running.is_none(), "{} is already running", slot.name);
        let (client, peer) = slot.listeners.take().expect("listeners bound");
        let listeners =
            capstan::Listeners { client: vec![client], peer: vec![peer], client_unix: Vec::new(), metrics: Vec::new() };
        let (stop, shutdown) = watch::channel(false);
        let name = slot.name.clone();
        let task = tokio::spawn(async move {
            let result = capstan::run(config, listeners, shutdown).await;
            if let Err(e) = &result {
                eprintln!("member {name} stopped: {e:#}");
            }
            result
        });
        slot.running = Some(Running { stop, task });
    }

    /// Starts member `i` again on its ports and data dir.
    pub async fn start(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.listeners.is_none() {
            let client = TcpListener::bind(slot.client).await.unwrap();
            let peer = TcpListener::bind(slot.peer).await.unwrap();
            slot.listeners = Some((client, peer));
        }
        let initial = self.initial_cluster(self.slots.len());
        self.start_with(i, &initial, "new");
    }

    /// Stops member `i` gracefully and waits until it has released
    /// everything (its task returned).
    pub async fn stop(&mut self, i: usize) {
        let running = self.slots[i].running.take().expect("member running");
        let _ = running.stop.send(true);
        let result = tokio::time::timeout(PATIENCE, running.task).await.expect("member stops in time");
        result.expect("member task").expect("member stopped cleanly");
    }

    /// Adds a slot for a new member (not started): ports and data dir.
    pub async fn add_slot(&mut self) -> usize {
        let i = self.slots.len();
        let name = format!("m{i}");
        let dir = self._dir.path().join(&name);
        let mut slot = Slot::bind(name, dir).await;
        slot.extra = self.slots[0].extra.clone();
        slot.peer_scheme = self.slots[0].peer_scheme;
        self.slots.push(slot);
        i
    }

    /// Starts the member of slot `i` joining the running cluster
    /// (`--initial-cluster-state existing`); it must have been added.
    pub fn start_joining(&mut self, i: usize) {
        let initial = self.initial_cluster(i + 1);
        self.start_with(i, &initial, "existing");
    }

    /// A connection to member `i`'s client port. A member serves clients
    /// only once it is ready (until then connections wait in the listen
    /// backlog), so this is bounded: a member that never becomes ready, or
    /// whose task ended, fails the test with the reason instead of hanging it.
    pub async fn channel(&self, i: usize) -> Channel {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.check_alive(i);
            let endpoint = Channel::from_shared(self.slots[i].client_url()).unwrap();
            match tokio::time::timeout(Duration::from_secs(2), endpoint.connect()).await {
                Ok(Ok(channel)) => return channel,
                Ok(Err(e)) if Instant::now() >= deadline => panic!("member {i}: cannot connect: {e}"),
                Err(_) if Instant::now() >= deadline => panic!("member {i} did not serve clients within {PATIENCE:?}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Panics with the member's own error if its task has ended.
    fn check_alive(&self, i: usize) {
        if let Some(running) = &self.slots[i].running
            && running.task.is_finished()
        {
            panic!("member {i} ({}) stopped on its own; see its error in the log above", self.slots[i].name);
        }
    }

    pub async fn kv(&self, i: usize) -> KvClient<Channel> {
        KvClient::new(self.channel(i).await)
    }

    pub async fn maintenance(&self, i: usize) -> MaintenanceClient<Channel> {
        MaintenanceClient::new(self.channel(i).await)
    }

    pub async fn cluster_client(&self, i: usize) -> ClusterClient<Channel> {
        ClusterClient::new(self.channel(i).await)
    }

    /// The leader as member `i` sees it (0: none), or None if unreachable.
    pub async fn leader_seen_by(&self, i: usize) -> Option<u64> {
        let channel = Channel::from_shared(self.slots[i].client_url()).ok()?.connect().await.ok()?;
        let status = MaintenanceClient::new(channel).status(StatusRequest {}).await.ok()?.into_inner();
        Some(status.leader)
    }

    /// The member id of slot `i`.
    pub async fn member_id(&self, i: usize) -> u64 {
        let status = self.maintenance(i).await.status(StatusRequest {}).await.unwrap().into_inner();
        status.header.unwrap().member_id
    }

    /// Waits until every member of `among` reports the same leader; returns
    /// the leader's slot.
    pub async fn wait_for_leader(&self, among: &[usize]) -> usize {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut seen = Vec::new();
            for &i in among {
                seen.push(self.leader_seen_by(i).await);
            }
            if let Some(Some(leader)) = seen.first().copied()
                && leader != 0
                && seen.iter().all(|s| *s == Some(leader))
            {
                for &i in among {
                    if self.member_id(i).await == leader {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no agreed leader among {among:?}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Puts `key` = `value` through member `i`; returns the revision.
    pub async fn put(&self, i: usize, key: &str, value: &str) -> i64 {
        let req = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
        self.kv(i).await.put(bounded(req)).await.unwrap().into_inner().header.unwrap().revision
    }

    /// `key`'s value read from member `i` (serializable: that member's own state).
    pub async fn get_local(&self, i: usize, key: &str) -> Option<String> {
        let req = RangeRequest { key: key.into(), serializable: true, ..Default::default() };
        let resp = self.kv(i).await.range(bounded(req)).await.unwrap().into_inner();
        resp.kvs.first().map(|kv| String::from_utf8(kv.value.clone()).unwrap())
    }

    /// The revision of member `i`'s own store.
    pub async fn local_revision(&self, i: usize) -> i64 {
        let req = RangeRequest { key: b"\0".to_vec(), serializable: true, count_only: true, ..Default::default() };
        self.kv(i).await.range(bounded(req)).await.unwrap().into_inner().header.unwrap().revision
    }

    /// Waits until member `i` has applied revision `rev`.
    pub async fn wait_for_revision(&self, i: usize, rev: i64) {
        let deadline = Instant::now() + PATIENCE;
        while self.local_revision(i).await < rev {
            assert!(Instant::now() < deadline, "member {i} did not reach revision {rev}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The body of `GET path` on member `i`'s client port (HTTP/1.1).
    pub async fn http_get(&self, i: usize, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(self.slots[i].client).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.slots[i].client);
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
    }

    /// The value of an unlabelled-or-labelled sample `name` in member `i`'s
    /// /metrics (the first series of that name).
    pub async fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let text = self.http_get(i, "/metrics").await;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.split(['{', ' ']).next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Stops every running member.
    pub async fn shutdown(mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_running() {
                self.stop(i).await;
            }
        }
    }
}
