//! TLS pieces of the owned objects: which Secrets hold what, the names each
//! certificate must carry, the Secret objects of mode `auto`, the pod
//! volumes and the config file sections.
//!
//! Certificates are shared by all members (one server, one peer Secret):
//! a StatefulSet's pod template is the same for every pod, and a shared
//! certificate naming every pod that can exist (ordinals `0..MAX_REPLICAS`)
//! never needs re-issuing when the cluster scales.
//!
//! Mount points: `/etc/capstan-tls/server` and `/etc/capstan-tls/peer`,
//! next to (not inside) the ConfigMap's `/etc/capstan`. Kubelet refreshes
//! them in place through the `..data` symlink swap, which Capstan notices.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource, Volume, VolumeMount};
use serde_yaml::{Mapping, Value};

use super::Names;
use crate::crd::{EtcdCluster, MAX_REPLICAS, TlsMode, TlsSpec};
use crate::tls::pki::{LeafSpec, Purpose};

/// Parent directory of the mounted TLS Secrets.
pub const TLS_DIR: &str = "/etc/capstan-tls";
/// Port of the plain-HTTP listener for `/livez`, `/readyz` and `/metrics`
/// (`listen-metrics-urls`), used when the client port speaks TLS: kubelet's
/// probes present no client certificate, so they cannot use the client port
/// when it requires one. etcd's kubeadm manifests do the same.
pub const METRICS_PORT: i32 = 2381;
/// Common name of the client certificate of mode `auto`: `root`, the user a
/// certificate maps to once auth is enabled (as etcd maps CNs to users).
pub const CLIENT_COMMON_NAME: &str = "root";

/// Names of the Secrets a TLS cluster uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSecretNames {
    /// Client port certificate.
    pub server: String,
    /// Peer certificate.
    pub peer: String,
    /// The operator's client certificate (absent in mode `secrets` without
    /// client certificate auth).
    pub client: Option<String>,
    /// The CA (mode `auto` only).
    pub ca: Option<String>,
}

impl TlsSecretNames {
    /// The Secrets of `tls` for the cluster of `names`.
    pub fn of(names: &Names, tls: &TlsSpec) -> TlsSecretNames {
        match (&tls.mode, &tls.secrets) {
            (TlsMode::Secrets, Some(s)) => {
                TlsSecretNames { server: s.server.clone(), peer: s.peer.clone(), client: s.client.clone(), ca: None }
            }
            // (mode auto; `secrets` without its section is refused by the schema)
            _ => TlsSecretNames {
                server: names.leaf_secret(Purpose::Server),
                peer: names.leaf_secret(Purpose::Peer),
                client: Some(names.leaf_secret(Purpose::Client)),
                ca: Some(names.ca_secret()),
            },
        }
    }

    /// The Secret of a leaf purpose.
    pub fn leaf(&self, purpose: Purpose) -> Option<&str> {
        match purpose {
            Purpose::Server => Some(&self.server),
            Purpose::Peer => Some(&self.peer),
            Purpose::Client => self.client.as_deref(),
        }
    }
}

impl Names {
    /// The CA Secret of mode `auto`.
    pub fn ca_secret(&self) -> String {
        format!("{}-ca", self.cluster)
    }

    /// The leaf Secret of mode `auto` for `purpose`.
    pub fn leaf_secret(&self, purpose: Purpose) -> String {
        format!("{}-{}-tls", self.cluster, purpose.name())
    }

    /// What the operator's CAs say they are for (`<namespace>/<name>`).
    pub fn ca_label(&self) -> String {
        format!("{}/{}", self.namespace, self.cluster)
    }

    /// Every DNS name a member pod can be reached by: full, `cluster.local`
    /// and, with `short`, the forms a pod in the same namespace may use.
    fn pod_dns_names(&self, short: bool) -> impl Iterator<Item = String> + '_ {
        (0..MAX_REPLICAS as u32).flat_map(move |i| {
            let base = format!("{}.{}", self.member(i), self.peer_service());
            let mut names =
                vec![format!("{base}.{}.svc", self.namespace), format!("{base}.{}.svc.cluster.local", self.namespace)];
            if short {
                names.extend([format!("{base}.{}", self.namespace), base]);
            }
            names
        })
    }

    /// What the leaf certificate of `purpose` must say (mode `auto`).
    pub fn leaf_spec(&self, purpose: Purpose) -> LeafSpec {
        let loopback: BTreeSet<IpAddr> = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)].into();
        let mut dns: BTreeSet<String> = BTreeSet::new();
        let mut ips = BTreeSet::new();
        match purpose {
            Purpose::Server => {
                dns.extend(self.pod_dns_names(true));
                let svc = self.client_service();
                dns.extend([
                    svc.clone(),
                    format!("{svc}.{}", self.namespace),
                    format!("{svc}.{}.svc", self.namespace),
                    format!("{svc}.{}.svc.cluster.local", self.namespace),
                    "localhost".to_string(),
                ]);
                ips = loopback;
            }
            // Peers dial the advertised (full) names only. A member checks a
            // connecting peer's address against each DNS name of its
            // certificate with a lookup, as etcd does, so every extra name
            // costs lookups on every peer handshake.
            Purpose::Peer => {
                dns.extend(self.pod_dns_names(false));
                dns.insert("localhost".into());
                ips = loopback;
            }
            Purpose::Client => {}
        }
        let common_name = match purpose {
            Purpose::Client => CLIENT_COMMON_NAME.to_string(),
            _ => format!("{}-{}", self.cluster, purpose.name()),
        };
        LeafSpec { purpose, common_name, dns_names: dns, ip_addresses: ips }
    }
}

/// A Secret of type `kubernetes.io/tls` owned by the cluster.
pub fn tls_secret(
    names: &Names,
    name: String,
    data: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Secret {
    let mut metadata = names.meta(name);
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    Secret {
        metadata,
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        ..Secret::default()
    }
}

/// A Secret's data as text (certificates and keys are PEM); entries that are
/// not UTF-8 are left out, so they read as missing.
pub fn secret_text(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| String::from_utf8(v.0.clone()).ok().map(|s| (k.clone(), s)))
        .collect()
}

fn dir(purpose: Purpose) -> String {
    format!("{TLS_DIR}/{}", purpose.name())
}

fn volume_name(purpose: Purpose) -> String {
    format!("tls-{}", purpose.name())
}

/// Whether a pod spec's volumes include the TLS Secrets (what a running
/// StatefulSet says about the cluster it runs).
pub fn has_tls_volumes(volumes: &[Volume]) -> bool {
    volumes.iter().any(|v| v.name == volume_name(Purpose::Peer))
}

/// The Secret volumes and their mounts (server and peer; members never use
/// the client certificate).
pub fn volumes(names: &Names, tls: &TlsSpec) -> (Vec<Volume>, Vec<VolumeMount>) {
    let secrets = TlsSecretNames::of(names, tls);
    [Purpose::Server, Purpose::Peer]
        .into_iter()
        .map(|p| {
            let volume = Volume {
                name: volume_name(p),
                secret: Some(SecretVolumeSource {
                    secret_name: secrets.leaf(p).map(str::to_string),
                    // Owner and group (fsGroup) only: the key is private.
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            };
            let mount = VolumeMount {
                name: volume_name(p),
                mount_path: dir(p),
                read_only: Some(true),
                ..VolumeMount::default()
            };
            (volume, mount)
        })
        .unzip()
}

fn section(purpose: Purpose, client_cert_auth: bool) -> Value {
    let d = dir(purpose);
    let mut m = Mapping::new();
    m.insert("cert-file".into(), format!("{d}/tls.crt").into());
    m.insert("key-file".into(), format!("{d}/tls.key").into());
    m.insert("trusted-ca-file".into(), format!("{d}/ca.crt").into());
    m.insert("client-cert-auth".into(), client_cert_auth.into());
    Value::Mapping(m)
}

/// The config file keys TLS adds: both transport sections and the plain
/// metrics listener. Peers always authenticate each other with certificates.
pub fn config_keys(ec: &EtcdCluster) -> Vec<(&'static str, Value)> {
    let Some(tls) = &ec.spec.tls else { return vec![] };
    vec![
        ("client-transport-security", section(Purpose::Server, tls.client_cert_auth)),
        ("peer-transport-security", section(Purpose::Peer, true)),
        ("listen-metrics-urls", format!("http://0.0.0.0:{METRICS_PORT}").into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::{cluster, names};

    #[test]
    fn auto_secret_names_and_leaf_names() {
        let ec = cluster("version: 0.1.0\ntls: {mode: auto}\n");
        let n = Names::of(&ec).unwrap();
        let s = TlsSecretNames::of(&n, ec.spec.tls.as_ref().unwrap());
        assert_eq!(
            (s.server.as_str(), s.peer.as_str(), s.client.as_deref(), s.ca.as_deref()),
            ("demo-server-tls", "demo-peer-tls", Some("demo-client-tls"), Some("demo-ca"))
        );
        let server = n.leaf_spec(Purpose::Server);
        for want in [
            "demo-0.demo-peers.ns.svc",
            "demo-8.demo-peers.ns.svc.cluster.local",
            "demo-3.demo-peers.ns",
            "demo-3.demo-peers",
            "demo",
            "demo.ns.svc",
            "demo.ns.svc.cluster.local",
            "localhost",
        ] {
            assert!(server.dns_names.contains(want), "{want}");
        }
        assert!(!server.dns_names.contains("demo-9.demo-peers.ns.svc"), "ordinals stop below MAX_REPLICAS");
        assert!(server.ip_addresses.contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        let peer = n.leaf_spec(Purpose::Peer);
        assert!(peer.dns_names.contains("demo-4.demo-peers.ns.svc"));
        assert!(peer.dns_names.contains("demo-4.demo-peers.ns.svc.cluster.local"));
        assert!(
            !peer.dns_names.contains("demo-4.demo-peers"),
            "no short forms: each name costs a lookup per peer handshake"
        );
        assert_eq!(peer.dns_names.len(), 2 * MAX_REPLICAS as usize + 1);
        assert!(!peer.dns_names.contains("demo.ns.svc"), "peers are not reached through the client Service");
        let client = n.leaf_spec(Purpose::Client);
        assert_eq!((client.common_name.as_str(), client.dns_names.len()), ("root", 0));
    }

    #[test]
    fn byo_secret_names() {
        let ec = cluster(
            "version: 0.1.0\ntls: {mode: secrets, secrets: {server: s, peer: p, client: c}, clientCertAuth: true}\n",
        );
        let s = TlsSecretNames::of(&names(), ec.spec.tls.as_ref().unwrap());
        assert_eq!((s.server, s.peer, s.client, s.ca), ("s".into(), "p".into(), Some("c".into()), None));
    }

    #[test]
    fn config_sections_name_the_mounted_files() {
        let ec = cluster("version: 0.1.0\ntls: {mode: auto, clientCertAuth: false}\n");
        let keys: BTreeMap<_, _> = config_keys(&ec).into_iter().collect();
        let client = &keys["client-transport-security"];
        assert_eq!(client["cert-file"], "/etc/capstan-tls/server/tls.crt");
        assert_eq!(client["trusted-ca-file"], "/etc/capstan-tls/server/ca.crt");
        assert_eq!(client["client-cert-auth"], false);
        let peer = &keys["peer-transport-security"];
        assert_eq!(peer["key-file"], "/etc/capstan-tls/peer/tls.key");
        assert_eq!(peer["client-cert-auth"], true);
        assert_eq!(keys["listen-metrics-urls"], "http://0.0.0.0:2381");
        assert!(config_keys(&cluster("version: 0.1.0")).is_empty());
    }

    #[test]
    fn secrets_are_tls_typed_and_owned() {
        let data = BTreeMap::from([("tls.crt".to_string(), "x".to_string())]);
        let s = tls_secret(&names(), "demo-ca".into(), data.clone(), BTreeMap::new());
        assert_eq!(s.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(s.metadata.owner_references.as_ref().unwrap()[0].kind, "EtcdCluster");
        assert_eq!(s.metadata.annotations, None);
        assert_eq!(secret_text(&s), data);
    }
}
