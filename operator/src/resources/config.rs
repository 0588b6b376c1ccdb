//! The ConfigMap holding one Capstan config file per member.
//!
//! Why per-member files rather than flags: a member's bootstrap settings
//! differ by member and over time. The pods that form a new cluster start with
//! `initial-cluster-state: new` and the same `initial-cluster`; a pod added
//! later (scale-up, or a member re-added after losing its volume) must start
//! with `existing` and the members running at that moment. A StatefulSet's pod
//! template is the same for every pod, so the template only says
//! `--config-file=/etc/capstan/$(POD_NAME).yaml` (Kubernetes expands
//! `$(POD_NAME)` from the downward API; no shell in the image), and the
//! operator writes `<pod>.yaml` for every ordinal before the pod can exist.
//!
//! Like etcd, Capstan reads a config file *instead of* flags and environment,
//! so the file is complete: name, data dir, URLs, bootstrap keys, the typed
//! options and `extraArgs` (translated to file keys; every Capstan flag is also
//! a file key). Like etcd, Capstan ignores the bootstrap keys once its data dir
//! holds a cluster, so a restarted member never trips over a stale `new`
//! ("member already bootstrapped") and rewriting these files is harmless for
//! members that already run.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use serde_yaml::Value;

use super::{CLIENT_PORT, Names, PEER_PORT};
use crate::crd::EtcdCluster;

/// Where the ConfigMap is mounted in member pods.
pub const CONFIG_DIR: &str = "/etc/capstan";
/// Capstan's data dir: a subdirectory of the data volume, so the volume's own
/// entries (`lost+found`) never look like member data.
pub const DATA_DIR: &str = "/var/lib/capstan/data";

/// How pods that have no data yet get into the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// No cluster yet: ordinals `0..size` form it together
    /// (`initial-cluster-state: new`).
    New {
        /// Size of the founding member set.
        size: u32,
    },
    /// The cluster exists: a pod without data joins it
    /// (`initial-cluster-state: existing`), after the operator added it.
    Existing {
        /// Ordinals currently in the member list.
        members: BTreeSet<u32>,
    },
}

/// The config file of one member.
pub fn member_config(names: &Names, ec: &EtcdCluster, bootstrap: &Bootstrap, ordinal: u32) -> String {
    let mut keys: BTreeMap<String, Value> = BTreeMap::new();
    // extraArgs first, so that a typed field or an operator key given twice wins.
    for arg in &ec.spec.options.extra_args {
        let flag = arg.trim_start_matches('-');
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k, v),
            None => (flag, "true"),
        };
        keys.insert(key.to_string(), Value::String(value.to_string()));
    }
    let opts = &ec.spec.options;
    let mut put = |k: &str, v: Value| {
        keys.insert(k.to_string(), v);
    };
    if let Some(q) = opts.quota_backend_bytes {
        put("quota-backend-bytes", q.into());
    }
    if let Some(mode) = opts.auto_compaction_mode {
        put("auto-compaction-mode", mode.as_flag_value().into());
    }
    if let Some(r) = &opts.auto_compaction_retention {
        put("auto-compaction-retention", r.as_str().into());
    }
    if let Some(n) = opts.snapshot_count {
        put("snapshot-count", n.into());
    }
    if let Some(ms) = opts.heartbeat_interval_ms {
        put("heartbeat-interval", ms.into());
    }
    if let Some(ms) = opts.election_timeout_ms {
        put("election-timeout", ms.into());
    }

    put("name", names.member(ordinal).into());
    put("data-dir", DATA_DIR.into());
    let scheme = names.scheme();
    put("listen-peer-urls", format!("{scheme}://0.0.0.0:{PEER_PORT}").into());
    put("listen-client-urls", format!("{scheme}://0.0.0.0:{CLIENT_PORT}").into());
    for (key, value) in super::tls::config_keys(ec) {
        put(key, value);
    }
    put("initial-advertise-peer-urls", names.peer_url(ordinal).into());
    put("advertise-client-urls", names.client_url(ordinal).into());
    put("initial-cluster-token", names.cluster_token().into());
    let (state, initial): (&str, BTreeSet<u32>) = match bootstrap {
        Bootstrap::New { size } => ("new", (0..*size).collect()),
        Bootstrap::Existing { members } => {
            let mut set = members.clone();
            set.insert(ordinal);
            ("existing", set)
        }
    };
    let initial_cluster =
        initial.iter().map(|&i| format!("{}={}", names.member(i), names.peer_url(i))).collect::<Vec<_>>().join(",");
    put("initial-cluster", initial_cluster.into());
    put("initial-cluster-state", state.into());

    let mapping: serde_yaml::Mapping = keys.into_iter().map(|(k, v)| (Value::String(k), v)).collect();
    serde_yaml::to_string(&mapping).expect("a string-keyed mapping always serializes")
}

/// The ConfigMap with `<member>.yaml` for ordinals `0..pods`; `pods` covers
/// every pod that exists or is about to (the larger of the StatefulSet's
/// replicas and the one being added).
pub fn config_map(names: &Names, ec: &EtcdCluster, bootstrap: &Bootstrap, pods: u32) -> ConfigMap {
    let data =
        (0..pods).map(|i| (format!("{}.yaml", names.member(i)), member_config(names, ec, bootstrap, i))).collect();
    ConfigMap { metadata: names.meta(names.config_map()), data: Some(data), ..ConfigMap::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::{cluster, names};

    fn parse(text: &str) -> BTreeMap<String, Value> {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn bootstrap_members_share_the_founding_set() {
        let ec = cluster("version: 0.1.0");
        let cfg = parse(&member_config(&names(), &ec, &Bootstrap::New { size: 3 }, 1));
        assert_eq!(cfg["name"], "demo-1");
        assert_eq!(cfg["initial-cluster-state"], "new");
        assert_eq!(
            cfg["initial-cluster"],
            "demo-0=http://demo-0.demo-peers.ns.svc:2380,demo-1=http://demo-1.demo-peers.ns.svc:2380,demo-2=http://demo-2.demo-peers.ns.svc:2380"
        );
        assert_eq!(cfg["initial-advertise-peer-urls"], "http://demo-1.demo-peers.ns.svc:2380");
        assert_eq!(cfg["advertise-client-urls"], "http://demo-1.demo-peers.ns.svc:2379");
        assert_eq!(cfg["listen-client-urls"], "http://0.0.0.0:2379");
        assert_eq!(cfg["data-dir"], DATA_DIR);
        assert_eq!(cfg["initial-cluster-token"], "capstan-u-1");
    }

    #[test]
    fn a_joining_member_lists_the_running_members_and_itself() {
        let ec = cluster("version: 0.1.0");
        let boot = Bootstrap::Existing { members: BTreeSet::from([0, 2]) };
        let cfg = parse(&member_config(&names(), &ec, &boot, 1));
        assert_eq!(cfg["initial-cluster-state"], "existing");
        let initial = cfg["initial-cluster"].as_str().unwrap();
        let listed: Vec<&str> = initial.split(',').map(|m| m.split('=').next().unwrap()).collect();
        assert_eq!(listed, ["demo-0", "demo-1", "demo-2"]);
    }

    #[test]
    fn typed_options_and_extra_args_become_file_keys() {
        let ec = cluster(
            "version: 0.1.0\noptions:\n  quotaBackendBytes: 4294967296\n  autoCompactionMode: revision\n  autoCompactionRetention: \"1000\"\n  snapshotCount: 5000\n  heartbeatIntervalMs: 200\n  electionTimeoutMs: 2000\n  extraArgs: [\"--max-txn-ops=256\", \"--enable-pprof\", \"--snapshot-count=1\"]\n",
        );
        let cfg = parse(&member_config(&names(), &ec, &Bootstrap::New { size: 1 }, 0));
        assert_eq!(cfg["quota-backend-bytes"], 4294967296_i64);
        assert_eq!(cfg["auto-compaction-mode"], "revision");
        assert_eq!(cfg["auto-compaction-retention"], "1000");
        assert_eq!(cfg["heartbeat-interval"], 200);
        assert_eq!(cfg["election-timeout"], 2000);
        assert_eq!(cfg["max-txn-ops"], "256");
        assert_eq!(cfg["enable-pprof"], "true");
        // The typed field wins over the same flag in extraArgs.
        assert_eq!(cfg["snapshot-count"], 5000);
    }

    #[test]
    fn tls_members_listen_and_advertise_https_with_both_sections() {
        let ec = cluster("version: 0.1.0\ntls: {mode: auto}\nreplicas: 3\n");
        let n = Names::of(&ec).unwrap();
        let text = member_config(&n, &ec, &Bootstrap::New { size: 3 }, 2);
        let cfg = parse(&text);
        assert_eq!(cfg["listen-client-urls"], "https://0.0.0.0:2379");
        assert_eq!(cfg["listen-peer-urls"], "https://0.0.0.0:2380");
        assert_eq!(cfg["initial-advertise-peer-urls"], "https://demo-2.demo-peers.ns.svc:2380");
        assert_eq!(cfg["advertise-client-urls"], "https://demo-2.demo-peers.ns.svc:2379");
        assert!(cfg["initial-cluster"].as_str().unwrap().starts_with("demo-0=https://demo-0.demo-peers.ns.svc:2380,"));
        assert_eq!(cfg["client-transport-security"]["client-cert-auth"], true);
        assert_eq!(cfg["peer-transport-security"]["trusted-ca-file"], "/etc/capstan-tls/peer/ca.crt");
        assert_eq!(cfg["listen-metrics-urls"], "http://0.0.0.0:2381");
        // Plain clusters have none of it.
        let plain = parse(&member_config(&names(), &cluster("version: 0.1.0"), &Bootstrap::New { size: 3 }, 2));
        assert!(!plain.contains_key("client-transport-security") && !plain.contains_key("listen-metrics-urls"));
    }

    #[test]
    fn config_map_has_a_file_per_pod_and_is_deterministic() {
        let ec = cluster("version: 0.1.0");
        let boot = Bootstrap::New { size: 3 };
        let cm = config_map(&names(), &ec, &boot, 3);
        assert_eq!(cm.metadata.name.as_deref(), Some("demo-config"));
        let data = cm.data.clone().unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["demo-0.yaml", "demo-1.yaml", "demo-2.yaml"]);
        assert_eq!(cm, config_map(&names(), &ec, &boot, 3));
    }
}
