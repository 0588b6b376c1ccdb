//! Members and their ids. Ids are computed exactly as etcd computes them, so
//! the same configuration gives the same member and cluster ids as etcd.

use std::collections::{BTreeMap, BTreeSet};

use parking_lot::RwLock;
use sha1::{Digest, Sha1};
use tokio::sync::watch;

/// A member of the cluster as clients see it (MemberList).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub is_learner: bool,
}

/// What a member publishes about itself (replicated): name and client URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberAttrs {
    pub name: String,
    pub client_urls: Vec<String>,
}

/// The replicated facts about members that Raft's membership does not hold:
/// published attributes and the ids removed from the cluster (which may never
/// rejoin). Shared by the state machine (writer) and the API (readers).
pub struct MemberTable {
    attrs: RwLock<BTreeMap<u64, MemberAttrs>>,
    removed: RwLock<BTreeSet<u64>>,
    /// Set once this member learns it was removed; the process then stops.
    self_removed: watch::Sender<bool>,
    local_id: u64,
}

impl MemberTable {
    pub fn new(local_id: u64) -> Self {
        Self { attrs: RwLock::default(), removed: RwLock::default(), self_removed: watch::channel(false).0, local_id }
    }

    /// Replaces everything (recovery, snapshot install).
    pub fn reset(&self, attrs: BTreeMap<u64, MemberAttrs>, removed: BTreeSet<u64>) {
        let me_removed = removed.contains(&self.local_id);
        *self.attrs.write() = attrs;
        *self.removed.write() = removed;
        if me_removed {
            self.mark_self_removed();
        }
    }

    pub fn attrs(&self, id: u64) -> Option<MemberAttrs> {
        self.attrs.read().get(&id).cloned()
    }

    pub fn all_attrs(&self) -> BTreeMap<u64, MemberAttrs> {
        self.attrs.read().clone()
    }

    pub fn set_attrs(&self, id: u64, attrs: MemberAttrs) {
        self.attrs.write().insert(id, attrs);
    }

    pub fn is_removed(&self, id: u64) -> bool {
        self.removed.read().contains(&id)
    }

    pub fn removed(&self) -> BTreeSet<u64> {
        self.removed.read().clone()
    }

    /// Records members that left the cluster; notices if this member is one.
    pub fn record_removed(&self, ids: impl IntoIterator<Item = u64>) {
        let mut removed = self.removed.write();
        let mut attrs = self.attrs.write();
        for id in ids {
            removed.insert(id);
            attrs.remove(&id);
            if id == self.local_id {
                self.mark_self_removed();
            }
        }
    }

    /// This member learnt (from the log, or from a peer refusing it) that it
    /// is no longer part of the cluster.
    pub fn mark_self_removed(&self) {
        self.self_removed.send_replace(true);
    }

    /// Fires when this member has been removed from the cluster.
    pub fn watch_self_removed(&self) -> watch::Receiver<bool> {
        self.self_removed.subscribe()
    }
}

/// etcd's member id: the first 8 bytes (big-endian) of SHA-1 over the sorted
/// peer URLs concatenated, the cluster token and, for members added at
/// runtime, the Unix time in seconds.
pub fn member_id(peer_urls: &[String], token: &str, added_at_unix: Option<i64>) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut input = urls.concat().into_bytes();
    input.extend_from_slice(token.as_bytes());
    if let Some(t) = added_at_unix {
        input.extend_from_slice(t.to_string().as_bytes());
    }
    first_u64(&Sha1::digest(&input))
}

/// etcd's cluster id: SHA-1 over the sorted member ids (8 bytes big-endian each).
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    first_u64(&Sha1::digest(&bytes))
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by etcd 3.4 (`etcdctl member list`) for a single member
    /// started with `--initial-advertise-peer-urls http://localhost:2380` and
    /// the default token `etcd-cluster`.
    #[test]
    fn ids_match_etcd() {
        let id = member_id(&["http://localhost:2380".to_string()], "etcd-cluster", None);
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "cdf818194e3a8c32");
    }
}
