//! Pure builders for every object the operator owns. Each takes the
//! `EtcdCluster` (plus the little observed state it needs) and returns the full
//! desired object, ready for server-side apply; nothing here talks to the API
//! server, so each builder is unit-tested on its own.
//!
//! Names and URLs of members are defined once, in [`Names`], because the pods,
//! the ConfigMap, the planner and the etcd client must all agree on them.

mod config;
mod pdb;
mod services;
mod statefulset;
mod tls;

pub use config::{Bootstrap, CONFIG_DIR, DATA_DIR, config_map, member_config};
pub use pdb::pod_disruption_budget;
pub use services::{client_service, peer_service};
pub use statefulset::{DEFAULT_STORAGE_SIZE, statefulset};
pub use tls::{CLIENT_COMMON_NAME, METRICS_PORT, TLS_DIR, TlsSecretNames, has_tls_volumes, secret_text, tls_secret};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::crd::EtcdCluster;

/// Client port of every member (gRPC, the JSON gateway and `/livez`, `/readyz`).
pub const CLIENT_PORT: i32 = 2379;
/// Peer (Raft) port of every member.
pub const PEER_PORT: i32 = 2380;
/// Field manager of all the operator's server-side applies.
pub const FIELD_MANAGER: &str = "capstan-operator";

/// Why an object could not be built: the resource lacks what the API server
/// always fills in, so this only happens with a hand-made object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// `metadata.name`, `metadata.namespace` or `metadata.uid` is missing.
    #[error("EtcdCluster lacks metadata.{0}")]
    MissingMetadata(&'static str),
}

/// Everything derived from the resource's identity: object names, labels,
/// member names and URLs, the owner reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Names {
    /// `metadata.name` of the EtcdCluster; also the StatefulSet's and the client Service's name.
    pub cluster: String,
    /// Namespace of the EtcdCluster and of everything it owns.
    pub namespace: String,
    /// `metadata.uid`; makes the initial-cluster token unique per incarnation,
    /// so a recreated cluster of the same name never joins old members.
    pub uid: String,
    /// Members speak TLS (`spec.tls` is set): URLs are `https://`.
    pub tls: bool,
    owner: OwnerReference,
}

impl Names {
    /// Derives the names of a stored resource.
    pub fn of(ec: &EtcdCluster) -> Result<Names, BuildError> {
        let cluster = ec.metadata.name.clone().ok_or(BuildError::MissingMetadata("name"))?;
        let namespace = ec.metadata.namespace.clone().ok_or(BuildError::MissingMetadata("namespace"))?;
        let uid = ec.metadata.uid.clone().ok_or(BuildError::MissingMetadata("uid"))?;
        let owner = ec.controller_owner_ref(&()).ok_or(BuildError::MissingMetadata("uid"))?;
        Ok(Names { cluster, namespace, uid, tls: ec.spec.tls.is_some(), owner })
    }

    /// The headless Service giving each member a stable DNS name.
    pub fn peer_service(&self) -> String {
        format!("{}-peers", self.cluster)
    }

    /// The ClusterIP Service clients use.
    pub fn client_service(&self) -> String {
        self.cluster.clone()
    }

    /// The ConfigMap holding each member's config file.
    pub fn config_map(&self) -> String {
        format!("{}-config", self.cluster)
    }

    /// The StatefulSet (and PodDisruptionBudget).
    pub fn statefulset(&self) -> String {
        self.cluster.clone()
    }

    /// Member (= pod) name of an ordinal.
    pub fn member(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.cluster)
    }

    /// The PersistentVolumeClaim the StatefulSet creates for an ordinal.
    pub fn data_claim(&self, ordinal: u32) -> String {
        format!("{}-{}", statefulset::DATA_VOLUME, self.member(ordinal))
    }

    fn host(&self, ordinal: u32) -> String {
        format!("{}.{}.{}.svc", self.member(ordinal), self.peer_service(), self.namespace)
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Peer URL of an ordinal, through the headless Service's DNS.
    pub fn peer_url(&self, ordinal: u32) -> String {
        format!("{}://{}:{PEER_PORT}", self.scheme(), self.host(ordinal))
    }

    /// Client URL of an ordinal, through the headless Service's DNS.
    pub fn client_url(&self, ordinal: u32) -> String {
        format!("{}://{}:{CLIENT_PORT}", self.scheme(), self.host(ordinal))
    }

    /// The DNS name of an ordinal's pod (what its certificates name).
    pub fn pod_host(&self, ordinal: u32) -> String {
        self.host(ordinal)
    }

    /// The ordinal whose peer URL this is, or `None` for a URL that is not one
    /// of this cluster's pods (a member added by hand, or a URL of the other
    /// scheme).
    pub fn ordinal_of_peer_url(&self, url: &str) -> Option<u32> {
        let rest = url.strip_prefix(self.scheme())?.strip_prefix("://")?;
        let host = rest.strip_suffix(&format!(":{PEER_PORT}"))?;
        let first = host.strip_suffix(&format!(".{}.{}.svc", self.peer_service(), self.namespace))?;
        let ordinal = first.strip_prefix(&format!("{}-", self.cluster))?;
        // Reject "01", "+1" and the like: only the canonical spelling is ours.
        let n: u32 = ordinal.parse().ok()?;
        (n.to_string() == ordinal).then_some(n)
    }

    /// The `initial-cluster-token`: unique per EtcdCluster incarnation.
    pub fn cluster_token(&self) -> String {
        format!("capstan-{}", self.uid)
    }

    /// Labels selecting this cluster's member pods (stable for the
    /// StatefulSet's immutable selector).
    pub fn selector_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "capstan".to_string()),
            ("app.kubernetes.io/instance".to_string(), self.cluster.clone()),
        ])
    }

    /// `selector_labels` as a label-selector string (for `status.selector`).
    pub fn selector_string(&self) -> String {
        self.selector_labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }

    /// Labels of every owned object.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector_labels();
        labels.insert("app.kubernetes.io/managed-by".to_string(), FIELD_MANAGER.to_string());
        labels
    }

    /// Metadata of an owned object: name, namespace, labels, owner reference
    /// (so deleting the EtcdCluster garbage-collects it).
    pub fn meta(&self, name: String) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// Majority of `voters` (0 for none).
pub fn quorum(voters: u32) -> u32 {
    if voters == 0 { 0 } else { voters / 2 + 1 }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::crd::EtcdClusterSpec;

    /// A stored-looking EtcdCluster named `demo` in `ns`.
    pub fn cluster(yaml_spec: &str) -> EtcdCluster {
        let spec: EtcdClusterSpec = serde_yaml::from_str(yaml_spec).unwrap();
        let mut ec = EtcdCluster::new("demo", spec);
        ec.metadata.namespace = Some("ns".into());
        ec.metadata.uid = Some("u-1".into());
        ec.metadata.generation = Some(4);
        ec
    }

    pub fn names() -> Names {
        Names::of(&cluster("version: 0.1.0")).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn member_urls_use_headless_service_dns() {
        let n = names();
        assert_eq!(n.member(2), "demo-2");
        assert_eq!(n.peer_url(2), "http://demo-2.demo-peers.ns.svc:2380");
        assert_eq!(n.client_url(0), "http://demo-0.demo-peers.ns.svc:2379");
        assert_eq!(n.data_claim(1), "data-demo-1");
    }

    #[test]
    fn ordinal_round_trips_and_rejects_foreign_urls() {
        let n = names();
        for i in [0, 1, 8, 10] {
            assert_eq!(n.ordinal_of_peer_url(&n.peer_url(i)), Some(i));
        }
        for url in [
            "http://demo-01.demo-peers.ns.svc:2380",
            "http://other-1.demo-peers.ns.svc:2380",
            "http://demo-1.demo-peers.other.svc:2380",
            "http://demo-1.demo-peers.ns.svc:2379",
            "https://demo-1.demo-peers.ns.svc:2380",
            "http://10.0.0.1:2380",
        ] {
            assert_eq!(n.ordinal_of_peer_url(url), None, "{url}");
        }
    }

    #[test]
    fn tls_clusters_use_https_urls() {
        let n = Names::of(&cluster("version: 0.1.0\ntls: {mode: auto}\n")).unwrap();
        assert_eq!(n.peer_url(1), "https://demo-1.demo-peers.ns.svc:2380");
        assert_eq!(n.client_url(1), "https://demo-1.demo-peers.ns.svc:2379");
        assert_eq!(n.ordinal_of_peer_url(&n.peer_url(4)), Some(4));
        assert_eq!(n.ordinal_of_peer_url("http://demo-4.demo-peers.ns.svc:2380"), None);
    }

    #[test]
    fn names_need_stored_metadata() {
        let mut ec = cluster("version: 0.1.0");
        ec.metadata.uid = None;
        assert_eq!(Names::of(&ec), Err(BuildError::MissingMetadata("uid")));
    }

    #[test]
    fn owned_objects_point_at_the_cluster() {
        let meta = names().meta("x".into());
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(owner.kind, "EtcdCluster");
        assert_eq!(owner.api_version, "capstan.dev/v1alpha1");
        assert_eq!(owner.uid, "u-1");
        assert_eq!(owner.controller, Some(true));
    }

    #[test]
    fn quorum_is_a_majority() {
        assert_eq!([0, 1, 2, 3, 4, 5].map(quorum), [0, 1, 2, 2, 3, 3]);
    }
}
