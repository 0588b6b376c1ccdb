//! The `EtcdCluster` custom resource (`capstan.dev/v1alpha1`): what a user asks
//! for (`spec`) and what the operator last observed (`status`).
//!
//! No I/O lives here. Everything the API server can check by itself is in the
//! schema, so a bad spec is rejected at `kubectl apply` time rather than
//! surfacing later as a crash-looping pod: ranges and patterns through
//! `schemars` attributes, cross-field and update rules as CEL
//! (`x-kubernetes-validations`). The CEL rules are evaluated in the unit tests
//! below with kube's client-side CEL interpreter.

mod tls;

pub use tls::{
    AutoTls, CertificateStatus, DurationError, RENEW_CERTS_ANNOTATION, ROTATE_CA_ANNOTATION, TlsMode, TlsSecrets,
    TlsSpec, TlsStatus, parse_duration,
};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// API group of every Capstan resource.
pub const GROUP: &str = "capstan.dev";
/// Largest member count the schema accepts; etcd advises against more than
/// seven voters, nine leaves room for a rolling replacement.
pub const MAX_REPLICAS: i32 = 9;
/// Flags the operator derives itself; `options.extraArgs` may not set them,
/// because a second value would silently fight the operator's.
pub const OPERATOR_OWNED_FLAGS: &[&str] = &[
    "name",
    "data-dir",
    "wal-dir",
    "config-file",
    "listen-peer-urls",
    "listen-client-urls",
    "listen-client-http-urls",
    "initial-advertise-peer-urls",
    "advertise-client-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "discovery",
    "discovery-srv",
    "force-new-cluster",
];

/// Desired state of a Capstan cluster.
// Each `printcolumn(...)` repeats the same keys, which clippy mistakes for
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "capstan.dev",
    version = "v1alpha1",
    kind = "EtcdCluster",
    plural = "etcdclusters",
    shortname = "ec",
    category = "capstan",
    namespaced,
    doc = "A Capstan (etcd-compatible) cluster run as a StatefulSet; scaling goes through safe, one-at-a-time membership changes.",
    status = "EtcdClusterStatus",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.readyMembers",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas", description = "Desired members"),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyMembers",
        description = "Healthy members"
    ),
    printcolumn(
        name = "Leader",
        type_ = "string",
        json_path = ".status.leader",
        description = "Name of the leader member"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version", description = "Capstan version"),
    printcolumn(
        name = "Available",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].status",
        description = "Whether the cluster has quorum"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("has(self.tls) == has(oldSelf.tls)").message("spec.tls cannot be added to or removed from an existing cluster: every member's URLs would change scheme at once; create a new cluster with TLS and move the data (snapshot save/restore)"))]
#[serde(rename_all = "camelCase")]
pub struct EtcdClusterSpec {
    /// Number of members. Odd counts tolerate the most failures per member
    /// (3 tolerate 1, 5 tolerate 2). Changed one member at a time.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 1, max = 9))]
    pub replicas: i32,

    /// Capstan release to run; the image tag unless `image` is given.
    #[schemars(length(min = 1, max = 64), pattern(r"^[0-9A-Za-z][0-9A-Za-z._+-]*$"))]
    pub version: String,

    /// Full image reference overriding the one derived from `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// Where each member keeps its data.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.emptyDir == oldSelf.emptyDir").message("storage.emptyDir cannot change"))]
    #[x_kube(validation = Rule::new("(has(self.storageClassName) ? self.storageClassName : '') == (has(oldSelf.storageClassName) ? oldSelf.storageClassName : '')").message("storage.storageClassName cannot change"))]
    pub storage: Storage,

    /// CPU and memory of the `capstan` container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Scheduling and metadata overrides for the member pods.
    #[serde(default)]
    pub pod: PodOverrides,

    /// Typed `capstan` server options.
    #[serde(default)]
    pub options: ServerOptions,

    /// TLS for client and peer traffic (absent: plain text). Chosen at
    /// creation: it cannot be added or removed later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,

    /// When true the operator only observes and reports status: no object is
    /// applied and no membership change is made.
    #[serde(default)]
    pub paused: bool,
}

fn default_replicas() -> i32 {
    3
}

/// Member storage: a PersistentVolumeClaim per member, or an `emptyDir` for
/// tests and throw-away clusters (data is lost with the pod).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("!(self.emptyDir && has(self.size))").message("storage.size and storage.emptyDir are mutually exclusive"))]
#[x_kube(validation = Rule::new("!(self.emptyDir && has(self.storageClassName))").message("storage.storageClassName and storage.emptyDir are mutually exclusive"))]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Size of each member's volume (a Kubernetes quantity, default `1Gi`). It
    /// may grow but never shrink: a volume cannot be made smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    #[x_kube(validation = Rule::new("quantity(self).compareTo(quantity(oldSelf)) >= 0").message("storage.size cannot shrink"))]
    pub size: Option<String>,

    /// StorageClass of the claims; the cluster default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class_name: Option<String>,

    /// Use an `emptyDir` instead of a claim (data dies with the pod).
    #[serde(default)]
    pub empty_dir: bool,
}

/// Overrides applied to every member pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Extra pod labels; the operator's own selector labels always win.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Pod affinity; when absent the operator prefers spreading members across nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Pod tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node selector.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Topology spread constraints (the operator fills in the label selector
    /// when a constraint leaves it empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// PriorityClass of the member pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// How auto-compaction reads `autoCompactionRetention`.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AutoCompactionMode {
    /// Retention is a duration (`1h`, or a bare number of hours).
    Periodic,
    /// Retention is a number of revisions.
    Revision,
}

impl AutoCompactionMode {
    /// The value `--auto-compaction-mode` takes.
    pub fn as_flag_value(self) -> &'static str {
        match self {
            AutoCompactionMode::Periodic => "periodic",
            AutoCompactionMode::Revision => "revision",
        }
    }
}

/// Server options with a typed field; anything else goes through `extraArgs`.
/// Defaults are Capstan's (which are etcd's) when a field is absent.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new(
    "(has(self.electionTimeoutMs) ? self.electionTimeoutMs : 1000) >= 5 * (has(self.heartbeatIntervalMs) ? self.heartbeatIntervalMs : 100)"
).message("electionTimeoutMs must be at least 5 times heartbeatIntervalMs"))]
#[serde(rename_all = "camelCase")]
pub struct ServerOptions {
    /// Backend size quota in bytes (`--quota-backend-bytes`; 0 = 2 GiB default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 68719476736_i64))]
    pub quota_backend_bytes: Option<i64>,

    /// `--auto-compaction-mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_compaction_mode: Option<AutoCompactionMode>,

    /// `--auto-compaction-retention` (`0` disables auto-compaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32), pattern(r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)?$"))]
    pub auto_compaction_retention: Option<String>,

    /// `--snapshot-count`: applied entries between Raft snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub snapshot_count: Option<i64>,

    /// `--heartbeat-interval` in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 10000))]
    pub heartbeat_interval_ms: Option<i32>,

    /// `--election-timeout` in milliseconds (at most 50000, as etcd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 50000))]
    pub election_timeout_ms: Option<i32>,

    /// Further flags as `--flag=value` (or `--flag` for a boolean), for options
    /// without a typed field. Flags the operator derives itself are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 3, max = 256), pattern(r"^--[a-z0-9][a-z0-9-]*(=.*)?$")))]
    #[x_kube(validation = Rule::new(
        "self.all(a, !a.matches('^--(name|data-dir|wal-dir|config-file|listen-peer-urls|listen-client-urls|listen-client-http-urls|initial-advertise-peer-urls|advertise-client-urls|initial-cluster|initial-cluster-state|initial-cluster-token|discovery|discovery-srv|force-new-cluster)(=.*)?$'))"
    ).message("extraArgs may not set flags the operator manages (name, data-dir, URLs, initial-cluster*, discovery, force-new-cluster)"))]
    pub extra_args: Vec<String>,
}

/// What the operator last observed; written only when it changes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EtcdClusterStatus {
    /// `Available` (quorum and a leader), `Progressing` (a change is under
    /// way), `Degraded` (some member is unhealthy or unknown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// Members as the cluster reports them, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberStatus>,

    /// Members that answered a Status request and see a leader.
    #[serde(default)]
    pub ready_members: i32,

    /// Cluster ID (hex). Once set, the cluster is known to be bootstrapped and
    /// new pods always join it (`initial-cluster-state: existing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// Member ID of the leader (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_id: Option<String>,

    /// Name of the leader member (for the printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,

    /// `metadata.generation` of the spec this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Label selector of the member pods (for the `/scale` subresource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// Certificates, CA and rotation phase, when `spec.tls` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsStatus>,
}

/// One member of the running cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Member (and pod) name; empty while an added member has not started.
    pub name: String,
    /// Member ID (hex).
    pub id: String,
    /// A learner: replicating, not voting.
    #[serde(default)]
    pub learner: bool,
    /// The current leader.
    #[serde(default)]
    pub leader: bool,
    /// Answered a Status request and sees a leader.
    #[serde(default)]
    pub healthy: bool,
    /// etcd API version the member reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// UID of the object whose lifetime bounds this member's data: its
    /// PersistentVolumeClaim, or its pod with `emptyDir` storage. Recorded
    /// while the member is known to own that data; a different UID later
    /// means the data was lost and the member must be replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_uid: Option<String>,
}

impl EtcdCluster {
    /// The container image members run: `spec.image`, or the default
    /// repository tagged with `spec.version`.
    pub fn image(&self, default_repository: &str) -> String {
        match &self.spec.image {
            Some(image) => image.clone(),
            None => format!("{default_repository}:{}", self.spec.version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::json;

    fn crd_json() -> serde_json::Value {
        serde_json::to_value(EtcdCluster::crd()).unwrap()
    }

    #[test]
    fn crd_names_subresources_and_columns() {
        let crd = crd_json();
        assert_eq!(crd["metadata"]["name"], "etcdclusters.capstan.dev");
        assert_eq!(crd["spec"]["scope"], "Namespaced");
        assert_eq!(crd["spec"]["names"]["shortNames"], json!(["ec"]));
        let version = &crd["spec"]["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert_eq!(version["subresources"]["status"], json!({}));
        assert_eq!(version["subresources"]["scale"]["specReplicasPath"], ".spec.replicas");
        assert_eq!(version["subresources"]["scale"]["labelSelectorPath"], ".status.selector");
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Replicas", "Ready", "Leader", "Version", "Available", "Age"]);
    }

    #[test]
    fn crd_schema_carries_ranges_and_cel() {
        let crd = crd_json();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["properties"]["replicas"]["minimum"].as_f64(), Some(1.0));
        assert_eq!(spec["properties"]["replicas"]["maximum"].as_f64(), Some(f64::from(MAX_REPLICAS)));
        assert_eq!(spec["required"], json!(["version"]));
        let text = crd.to_string();
        assert!(text.contains("storage.size cannot shrink"));
        assert!(text.contains("electionTimeoutMs must be at least 5 times"));
    }

    #[test]
    fn extra_args_rule_lists_every_operator_owned_flag() {
        let text = crd_json().to_string();
        for flag in OPERATOR_OWNED_FLAGS {
            assert!(
                text.contains(&format!("|{flag}|"))
                    || text.contains(&format!("({flag}|"))
                    || text.contains(&format!("|{flag})")),
                "{flag}"
            );
        }
    }

    #[test]
    fn cel_storage_exclusive_fields() {
        assert!(Storage::validate_cel(&json!({"emptyDir": false, "size": "1Gi"}), None).is_ok());
        assert!(Storage::validate_cel(&json!({"emptyDir": true}), None).is_ok());
        assert!(Storage::validate_cel(&json!({"emptyDir": true, "size": "1Gi"}), None).is_err());
        assert!(Storage::validate_cel(&json!({"emptyDir": true, "storageClassName": "fast"}), None).is_err());
    }

    #[test]
    fn cel_storage_size_never_shrinks() {
        let old = json!({"emptyDir": false, "size": "2Gi"});
        assert!(Storage::validate_cel(&json!({"emptyDir": false, "size": "4Gi"}), Some(&old)).is_ok());
        assert!(Storage::validate_cel(&json!({"emptyDir": false, "size": "2048Mi"}), Some(&old)).is_ok());
        assert!(Storage::validate_cel(&json!({"emptyDir": false, "size": "1Gi"}), Some(&old)).is_err());
    }

    #[test]
    fn cel_election_timeout_against_heartbeat() {
        assert!(ServerOptions::validate_cel(&json!({}), None).is_ok());
        assert!(
            ServerOptions::validate_cel(&json!({"heartbeatIntervalMs": 100, "electionTimeoutMs": 500}), None).is_ok()
        );
        assert!(
            ServerOptions::validate_cel(&json!({"heartbeatIntervalMs": 100, "electionTimeoutMs": 400}), None).is_err()
        );
        // The unset side takes Capstan's default (heartbeat 100 ms, election 1000 ms).
        assert!(ServerOptions::validate_cel(&json!({"heartbeatIntervalMs": 300}), None).is_err());
        assert!(ServerOptions::validate_cel(&json!({"electionTimeoutMs": 400}), None).is_err());
    }

    #[test]
    fn cel_extra_args_refuse_operator_flags() {
        let ok = json!({"extraArgs": ["--max-txn-ops=256", "--enable-pprof"]});
        assert!(ServerOptions::validate_cel(&ok, None).is_ok());
        for bad in ["--name=x", "--initial-cluster-state=new", "--data-dir=/tmp", "--force-new-cluster"] {
            let v = json!({ "extraArgs": [bad] });
            assert!(ServerOptions::validate_cel(&v, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn examples_are_valid_resources() {
        for text in [
            include_str!("../../../examples/etcdcluster-3.yaml"),
            include_str!("../../../examples/etcdcluster-dev.yaml"),
            include_str!("../../../examples/etcdcluster-tls.yaml"),
        ] {
            let ec: EtcdCluster = serde_yaml::from_str(text).unwrap();
            let spec = serde_json::to_value(&ec.spec).unwrap();
            assert!(EtcdClusterSpec::validate_cel(&spec, None).is_ok(), "{text}");
            assert!(Storage::validate_cel(&spec["storage"], None).is_ok());
            assert!(ServerOptions::validate_cel(&spec["options"], None).is_ok());
            if let Some(tls) = spec.get("tls") {
                assert!(TlsSpec::validate_cel(tls, None).is_ok());
                assert!(AutoTls::validate_cel(&tls["auto"], None).is_ok());
            }
        }
    }

    #[test]
    fn cel_tls_cannot_be_added_or_removed() {
        let plain = json!({"version": "0.1.0", "replicas": 3});
        let tls = json!({"version": "0.1.0", "replicas": 3, "tls": {"mode": "auto"}});
        assert!(EtcdClusterSpec::validate_cel(&tls, Some(&plain)).is_err());
        assert!(EtcdClusterSpec::validate_cel(&plain, Some(&tls)).is_err());
        assert!(EtcdClusterSpec::validate_cel(&tls, Some(&tls)).is_ok());
        assert!(EtcdClusterSpec::validate_cel(&plain, Some(&plain)).is_ok());
        assert!(crd_json().to_string().contains("spec.tls cannot be added to or removed"));
    }

    #[test]
    fn spec_defaults_from_minimal_yaml() {
        let spec: EtcdClusterSpec = serde_yaml::from_str("version: 0.1.0").unwrap();
        assert_eq!(spec.replicas, 3);
        assert!(!spec.paused);
        assert!(!spec.storage.empty_dir);
        let ec = EtcdCluster::new("a", spec);
        assert_eq!(ec.image("capstan"), "capstan:0.1.0");
    }
}
