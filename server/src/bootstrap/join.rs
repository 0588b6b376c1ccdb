//! Talking to peers before Raft starts: a member joining a running cluster
//! learns its id and the cluster id from them, and a member forming a new
//! cluster checks that peers already running agree on the cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use capstan_proto::capstanpb::{MembersRequest, MembersResponse};

use super::Identity;
use crate::config::Config;
use crate::membership::MemberTable;
use crate::peer::PeerClients;
use crate::tls::PeerDialer;

/// How long a joining member keeps trying to reach the cluster.
const JOIN_PATIENCE: Duration = Duration::from_secs(10);
/// How long a forming member waits for each peer's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The peer URLs of the other members named in `--initial-cluster`.
fn other_peer_urls(config: &Config) -> anyhow::Result<Vec<String>> {
    let mut urls = Vec::new();
    for (name, peer_urls) in config.initial_cluster_members()? {
        if name != config.name {
            urls.extend(peer_urls);
        }
    }
    Ok(urls)
}

/// The member list of the peer at `url`, or why it could not be had (with
/// the transport's causes: a refused TLS handshake names the certificate).
async fn ask_members(clients: &PeerClients, url: &str) -> Result<MembersResponse, String> {
    let mut client = clients.client(url).map_err(|e| e.to_string())?;
    let req = clients.request(MembersRequest {}, Some(PROBE_TIMEOUT));
    match tokio::time::timeout(PROBE_TIMEOUT, client.members(req)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(status)) => Err(crate::peer::with_causes(&status)),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}

fn anonymous_clients(dialer: &PeerDialer) -> Arc<PeerClients> {
    PeerClients::new(0, 0, Arc::new(MemberTable::new(0)), dialer.clone())
}

fn sorted(urls: &[String]) -> Vec<String> {
    let mut v = urls.to_vec();
    v.sort();
    v
}

/// `--initial-cluster-state existing`: asks the running members for the
/// member whose peer URLs are this member's `--initial-advertise-peer-urls`
/// (added beforehand with `member add`).
pub(super) async fn find_self(config: &Config, dialer: &PeerDialer) -> anyhow::Result<(u64, u64)> {
    let urls = other_peer_urls(config)?;
    if urls.is_empty() {
        bail!("--initial-cluster-state=existing needs the running members in --initial-cluster");
    }
    let own = sorted(&config.initial_advertise_peer_urls);
    let clients = anonymous_clients(dialer);
    let deadline = Instant::now() + JOIN_PATIENCE;
    let mut last_error = String::new();
    loop {
        for url in &urls {
            let resp = match ask_members(&clients, url).await {
                Ok(resp) => resp,
                Err(e) => {
                    if e != last_error {
                        tracing::warn!(peer = %url, error = %e, "cannot get the member list from a peer");
                    }
                    last_error = e;
                    continue;
                }
            };
            if let Some(me) = resp.members.iter().find(|m| sorted(&m.peer_urls) == own) {
                if !me.client_urls.is_empty() {
                    // It has run before (it published its name and client URLs) and
                    // its data dir is now empty: its log is lost. Joining with an empty
                    // log under the same ID would make the leader see a follower's log
                    // go backwards, and entries this member acknowledged would no
                    // longer be durable. etcd refuses too; the way back is `member
                    // remove` and `member add` (a new ID).
                    bail!(
                        "member {:x} has already been bootstrapped: its data dir {} holds no data (was it lost?); remove the member (etcdctl member remove {:x}) and add it again",
                        me.id,
                        config.data_dir.display(),
                        me.id
                    );
                }
                tracing::info!(
                    peer = %url,
                    member_id = %format!("{:x}", me.id),
                    cluster_id = %format!("{:x}", resp.cluster_id),
                    "found this member in the running cluster"
                );
                return Ok((me.id, resp.cluster_id));
            }
            let known: Vec<String> =
                resp.members.iter().map(|m| format!("{}={}", m.name, m.peer_urls.join(","))).collect();
            bail!(
                "error validating peerURLs: member with peer URLs {} is not in the running cluster {:x} (members: {}); add it first with `etcdctl member add`",
                own.join(","),
                resp.cluster_id,
                known.join(", ")
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs ({}): {last_error}",
                urls.join(",")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `--initial-cluster-state new`: members already running must belong to the
/// cluster this configuration describes (same token and member list);
/// otherwise starting would create a second, divergent cluster.
pub(super) async fn check_peers_agree(config: &Config, identity: &Identity, dialer: &PeerDialer) -> anyhow::Result<()> {
    let urls = other_peer_urls(config)?;
    if urls.is_empty() {
        return Ok(());
    }
    let clients = anonymous_clients(dialer);
    let answers = futures::future::join_all(urls.iter().map(|u| ask_members(&clients, u))).await;
    for (url, resp) in urls.iter().zip(answers) {
        let Ok(resp) = resp else { continue };
        if resp.cluster_id != identity.cluster_id {
            bail!(
                "cluster ID mismatch: the member at {url} belongs to cluster {:x}, but this configuration forms cluster {:x}; \
                 check --initial-cluster-token and --initial-cluster (or use --initial-cluster-state=existing to join a running cluster)",
                resp.cluster_id,
                identity.cluster_id
            );
        }
    }
    Ok(())
}
