//! Unit tests of the configuration loader.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

fn args(list: &[&str]) -> Vec<String> {
    std::iter::once("capstan").chain(list.iter().copied()).map(String::from).collect()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn load(list: &[&str]) -> Result<Config, ConfigError> {
    Config::from_args_env(args(list), no_env)
}

/// Parses and checks with etcd's rules only: for options Capstan refuses,
/// whose parsing is still etcd's (`load` refuses them; see `support`).
fn parse(list: &[&str]) -> Result<Config, ConfigError> {
    parse_env(list, &[])
}

fn parse_env(list: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let cfg = Config::from_sources(args(list), env_of(env))?;
    cfg.validate_etcd()?;
    Ok(cfg)
}

fn parse_yaml(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let cfg = Config::from_yaml_source(text, origin)?;
    cfg.validate_etcd()?;
    Ok(cfg)
}

/// The refusal of a configuration for a setting Capstan does not support yet.
fn unsupported(result: Result<Config, ConfigError>) -> String {
    match result {
        Err(e @ ConfigError::Unsupported { .. }) => e.to_string(),
        other => panic!("expected an Unsupported error, got {other:?}"),
    }
}

fn load_env(list: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_args_env(args(list), env_of(env))
}

/// A config file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("capstan-config-test-{}-{n}.yml", std::process::id()));
        std::fs::write(&path, contents).expect("write temp config");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn has_notice(cfg: &Config, level: NoticeLevel, needle: &str) -> bool {
    cfg.notices.iter().any(|n| n.level == level && n.message.contains(needle))
}

const SEED_CONF: &str = "\
name: etcd0
data-dir: /var/lib/etcd
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: http://192.168.1.10:2380
listen-client-urls: http://192.168.1.10:2379
initial-cluster: etcd0=http://192.168.1.10:2380,etcd1=http://192.168.1.11:2380,etcd2=http://192.168.1.12:2380
initial-advertise-peer-urls: http://192.168.1.10:2380
advertise-client-urls: http://192.168.1.10:2379
initial-cluster-state: new
initial-cluster-token: etcd-cluster-token
cert-file: /etc/ssl/etcd/server.pem
key-file: /etc/ssl/etcd/server-key.pem
trusted-ca-file: /etc/ssl/etcd/ca.pem
client-cert-auth: true
peer-cert-file: /etc/ssl/etcd/server.pem
peer-key-file: /etc/ssl/etcd/server-key.pem
peer-trusted-ca-file: /etc/ssl/etcd/ca.pem
peer-client-cert-auth: true
";

fn assert_seed_values(cfg: &Config) {
    assert_eq!(cfg.name, "etcd0");
    assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/etcd"));
    assert_eq!(cfg.heartbeat_interval(), Duration::from_millis(100));
    assert_eq!(cfg.election_timeout(), Duration::from_secs(1));
    assert_eq!(cfg.listen_peer_urls, ["http://192.168.1.10:2380"]);
    assert_eq!(cfg.listen_client_urls, ["http://192.168.1.10:2379"]);
    assert_eq!(cfg.initial_advertise_peer_urls, ["http://192.168.1.10:2380"]);
    assert_eq!(cfg.advertise_client_urls, ["http://192.168.1.10:2379"]);
    assert_eq!(cfg.initial_cluster_state, ClusterState::New);
    assert_eq!(cfg.initial_cluster_token, "etcd-cluster-token");
    assert_eq!(
        cfg.initial_cluster_members().unwrap(),
        vec![
            ("etcd0".to_string(), vec!["http://192.168.1.10:2380".to_string()]),
            ("etcd1".to_string(), vec!["http://192.168.1.11:2380".to_string()]),
            ("etcd2".to_string(), vec!["http://192.168.1.12:2380".to_string()]),
        ]
    );
    let client = cfg.client_tls();
    assert_eq!(client.cert_file, Some(PathBuf::from("/etc/ssl/etcd/server.pem")));
    assert_eq!(client.key_file, Some(PathBuf::from("/etc/ssl/etcd/server-key.pem")));
    assert_eq!(client.trusted_ca_file, Some(PathBuf::from("/etc/ssl/etcd/ca.pem")));
    assert!(client.client_cert_auth);
    let peer = cfg.peer_tls();
    assert_eq!(peer.cert_file, Some(PathBuf::from("/etc/ssl/etcd/server.pem")));
    assert_eq!(peer.key_file, Some(PathBuf::from("/etc/ssl/etcd/server-key.pem")));
    assert_eq!(peer.trusted_ca_file, Some(PathBuf::from("/etc/ssl/etcd/ca.pem")));
    assert!(peer.client_cert_auth);
    assert_eq!(cfg.client_listen_addrs().unwrap(), ["192.168.1.10:2379".parse().unwrap()]);
    assert_eq!(cfg.peer_listen_addrs().unwrap(), ["192.168.1.10:2380".parse().unwrap()]);
    // Untouched options keep etcd's defaults.
    assert_eq!(cfg.snapshot_count, 10_000);
    assert_eq!(cfg.max_txn_ops, 128);
    assert_eq!(cfg.emulated_etcd_version, "3.6.6");
}

mod loading;
mod rules;
mod support;
