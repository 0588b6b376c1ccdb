//! The StatefulSet running the members.
//!
//! Choices and why:
//! * `podManagementPolicy: Parallel`. Bootstrapping a new cluster needs all
//!   founding members up at once (none is ready before a quorum exists, so
//!   `OrderedReady` would wait forever on pod 0). Later the operator itself
//!   changes `replicas` one member at a time, after the membership change, so
//!   Parallel never starts two joins at once.
//! * `replicas` is an input, not `spec.replicas`: the membership planner owns
//!   it, and every apply must restate the value the planner last set.
//! * `persistentVolumeClaimRetentionPolicy: whenScaled: Delete`. A member is
//!   removed from the cluster before its pod goes, so its data is stale; kept,
//!   it would resurface on the next scale-up as a removed member's data dir.
//!   `whenDeleted: Delete` makes deleting the EtcdCluster clean up entirely.
//! * Every pod reads `/etc/capstan/$(POD_NAME).yaml` (see `config.rs`).
//! * Probes: `/readyz` gates the client Service; `/livez` restarts a wedged
//!   process; a startup probe gives a member catching up from a large snapshot
//!   minutes before liveness counts. With TLS they go to the plain metrics
//!   listener (port `metrics`), since kubelet presents no client certificate.
//! * With TLS, the server and peer Secrets are mounted read-only (see
//!   `tls.rs`); a renewed certificate reaches the files without a restart,
//!   and the pod template does not change, so nothing is rolled.
//! * Non-root, read-only root filesystem, no capabilities; `fsGroup` makes the
//!   claim writable by that user.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecurityContext, Volume, VolumeMount, VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::CONFIG_DIR;
use super::tls::METRICS_PORT;
use super::{CLIENT_PORT, Names, PEER_PORT};
use crate::crd::EtcdCluster;

/// Claim size when `storage.size` is absent.
pub const DEFAULT_STORAGE_SIZE: &str = "1Gi";
/// Name of the data volume (and prefix of the claims' names).
pub(super) const DATA_VOLUME: &str = "data";
const CONFIG_VOLUME: &str = "config";
const TMP_VOLUME: &str = "tmp";
/// Mount point of the data volume; `DATA_DIR` lies inside it.
const DATA_MOUNT: &str = "/var/lib/capstan";
/// The unprivileged user of the image (Debian's `nobody`-style high UID).
const RUN_AS: i64 = 65532;

/// An HTTP probe on `port` (the client port, or with TLS the plain metrics
/// listener: kubelet presents no client certificate).
fn probe(path: &str, port: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(port.to_string()),
            scheme: Some("HTTP".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

fn container(ec: &EtcdCluster, image: String, tls_mounts: Vec<VolumeMount>) -> Container {
    let probe_port = if ec.spec.tls.is_some() { "metrics" } else { "client" };
    let mut ports = vec![
        ContainerPort {
            name: Some("client".to_string()),
            container_port: CLIENT_PORT,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        },
        ContainerPort {
            name: Some("peer".to_string()),
            container_port: PEER_PORT,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        },
    ];
    if ec.spec.tls.is_some() {
        ports.push(ContainerPort {
            name: Some("metrics".to_string()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        });
    }
    let mut mounts = vec![
        VolumeMount { name: DATA_VOLUME.to_string(), mount_path: DATA_MOUNT.to_string(), ..VolumeMount::default() },
        VolumeMount {
            name: CONFIG_VOLUME.to_string(),
            mount_path: CONFIG_DIR.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        // The root filesystem is read-only; anything that wants a scratch
        // file gets a writable /tmp.
        VolumeMount { name: TMP_VOLUME.to_string(), mount_path: "/tmp".to_string(), ..VolumeMount::default() },
    ];
    mounts.extend(tls_mounts);
    Container {
        name: "capstan".to_string(),
        image: Some(image),
        command: Some(vec!["capstan".to_string()]),
        args: Some(vec![format!("--config-file={CONFIG_DIR}/$(POD_NAME).yaml")]),
        env: Some(vec![EnvVar {
            name: "POD_NAME".to_string(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".to_string(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        ports: Some(ports),
        readiness_probe: Some(probe("/readyz", probe_port, 5, 3)),
        liveness_probe: Some(probe("/livez", probe_port, 10, 3)),
        startup_probe: Some(probe("/livez", probe_port, 5, 60)),
        resources: ec.spec.resources.clone(),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_string()]), ..Capabilities::default() }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

/// Spread members across nodes when the user gave no affinity: preferred,
/// not required, so a small test cluster still schedules.
fn default_affinity(names: &Names) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    topology_key: "kubernetes.io/hostname".to_string(),
                    label_selector: Some(LabelSelector {
                        match_labels: Some(names.selector_labels()),
                        ..LabelSelector::default()
                    }),
                    ..PodAffinityTerm::default()
                },
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

fn opt_map(m: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!m.is_empty()).then_some(m)
}

fn opt_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The StatefulSet with `replicas` pods running `image` (see
/// [`EtcdCluster::image`]); `claim_size` is the data claim template's size
/// (ignored with `emptyDir`).
pub fn statefulset(names: &Names, ec: &EtcdCluster, replicas: i32, image: String, claim_size: &str) -> StatefulSet {
    let pod = &ec.spec.pod;
    // User labels first: the selector labels must win or the pods fall out of
    // their own StatefulSet.
    let mut labels = pod.labels.clone();
    labels.extend(names.labels());

    let topology = pod
        .topology_spread_constraints
        .iter()
        .cloned()
        .map(|mut c| {
            if c.label_selector.is_none() {
                c.label_selector =
                    Some(LabelSelector { match_labels: Some(names.selector_labels()), ..LabelSelector::default() });
            }
            c
        })
        .collect();

    let mut volumes = vec![
        Volume {
            name: CONFIG_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource { name: names.config_map(), ..ConfigMapVolumeSource::default() }),
            ..Volume::default()
        },
        Volume { name: TMP_VOLUME.to_string(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Volume::default() },
    ];
    let (tls_volumes, tls_mounts) = match &ec.spec.tls {
        Some(tls) => super::tls::volumes(names, tls),
        None => (vec![], vec![]),
    };
    volumes.extend(tls_volumes);
    let mut claims = None;
    if ec.spec.storage.empty_dir {
        volumes.push(Volume {
            name: DATA_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    } else {
        claims = Some(vec![PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(DATA_VOLUME.to_string()),
                labels: Some(names.labels()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_string()]),
                storage_class_name: ec.spec.storage.storage_class_name.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([("storage".to_string(), Quantity(claim_size.to_string()))])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }]);
    }

    StatefulSet {
        metadata: names.meta(names.statefulset()),
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(names.peer_service()),
            pod_management_policy: Some("Parallel".to_string()),
            selector: LabelSelector { match_labels: Some(names.selector_labels()), ..LabelSelector::default() },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_string()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Delete".to_string()),
                when_scaled: Some("Delete".to_string()),
            }),
            volume_claim_templates: claims,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: opt_map(pod.annotations.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container(ec, image, tls_mounts)],
                    volumes: Some(volumes),
                    affinity: Some(pod.affinity.clone().unwrap_or_else(|| default_affinity(names))),
                    tolerations: opt_vec(pod.tolerations.clone()),
                    node_selector: opt_map(pod.node_selector.clone()),
                    topology_spread_constraints: opt_vec(topology),
                    priority_class_name: pod.priority_class_name.clone(),
                    termination_grace_period_seconds: Some(30),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS),
                        run_as_group: Some(RUN_AS),
                        fs_group: Some(RUN_AS),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    ..PodSpec::default()
                }),
            },
            ..StatefulSetSpec::default()
        },
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::{cluster, names};

    fn build(yaml: &str, replicas: i32) -> StatefulSet {
        let ec = cluster(yaml);
        statefulset(&names(), &ec, replicas, ec.image("capstan"), "1Gi")
    }

    fn pod_spec(sts: &StatefulSet) -> PodSpec {
        sts.spec.clone().template.spec.unwrap()
    }

    #[test]
    fn pods_read_their_own_config_file() {
        let sts = build("version: 0.2.0", 3);
        let spec = sts.spec.clone();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.service_name.as_deref(), Some("demo-peers"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        let c = &pod_spec(&sts).containers[0];
        assert_eq!(c.image.as_deref(), Some("capstan:0.2.0"));
        assert_eq!(c.args, Some(vec!["--config-file=/etc/capstan/$(POD_NAME).yaml".to_string()]));
        let env = &c.env.as_ref().unwrap()[0];
        assert_eq!(env.name, "POD_NAME");
        assert_eq!(env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path, "metadata.name");
    }

    #[test]
    fn probes_hit_livez_and_readyz_on_the_client_port() {
        let sts = build("version: 0.2.0", 3);
        let c = &pod_spec(&sts).containers[0];
        let path = |p: &Option<Probe>| p.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap();
        assert_eq!(path(&c.readiness_probe), "/readyz");
        assert_eq!(path(&c.liveness_probe), "/livez");
        let port = &c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap().port;
        assert_eq!(port, &IntOrString::String("client".into()));
    }

    #[test]
    fn claims_follow_storage_spec() {
        let sts = build("version: 0.2.0\nstorage:\n  size: 8Gi\n  storageClassName: fast\n", 3);
        let spec = sts.spec;
        let claim = &spec.volume_claim_templates.unwrap()[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data"));
        let cs = claim.spec.as_ref().unwrap();
        assert_eq!(cs.storage_class_name.as_deref(), Some("fast"));
        // The size comes from the caller (Kubernetes forbids changing a claim template).
        assert_eq!(cs.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"], Quantity("1Gi".into()));
        let policy = spec.persistent_volume_claim_retention_policy.unwrap();
        assert_eq!(policy.when_scaled.as_deref(), Some("Delete"));
    }

    #[test]
    fn empty_dir_storage_has_no_claims() {
        let sts = build("version: 0.2.0\nreplicas: 1\nstorage:\n  emptyDir: true\n", 1);
        assert!(sts.spec.clone().volume_claim_templates.is_none());
        let vols = pod_spec(&sts).volumes.unwrap();
        assert!(vols.iter().any(|v| v.name == "data" && v.empty_dir.is_some()));
    }

    #[test]
    fn pod_overrides_apply_but_selector_labels_win() {
        let sts = build(
            "version: 0.2.0\nimage: registry.example/capstan@sha256:abc\npod:\n  labels: {team: db, app.kubernetes.io/instance: evil}\n  annotations: {a: b}\n  nodeSelector: {disk: ssd}\n  priorityClassName: high\n  tolerations: [{key: k, operator: Exists}]\n  topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]\n",
            3,
        );
        let tmpl = sts.spec.clone().template;
        let labels = tmpl.metadata.as_ref().unwrap().labels.clone().unwrap();
        assert_eq!(labels["team"], "db");
        assert_eq!(labels["app.kubernetes.io/instance"], "demo");
        assert_eq!(tmpl.metadata.unwrap().annotations.unwrap()["a"], "b");
        let spec = pod_spec(&sts);
        assert_eq!(spec.containers[0].image.as_deref(), Some("registry.example/capstan@sha256:abc"));
        assert_eq!(spec.node_selector.unwrap()["disk"], "ssd");
        assert_eq!(spec.priority_class_name.as_deref(), Some("high"));
        assert_eq!(spec.tolerations.unwrap().len(), 1);
        let tsc = &spec.topology_spread_constraints.unwrap()[0];
        assert_eq!(tsc.label_selector.as_ref().unwrap().match_labels, Some(names().selector_labels()));
        // Default anti-affinity when none is given.
        assert!(spec.affinity.unwrap().pod_anti_affinity.is_some());
    }

    #[test]
    fn tls_mounts_both_secrets_and_probes_the_metrics_port() {
        let sts = build("version: 0.2.0\ntls: {mode: secrets, secrets: {server: srv, peer: pr, client: cl}}\n", 3);
        let spec = pod_spec(&sts);
        let vols = spec.volumes.clone().unwrap();
        let secret = |name: &str| vols.iter().find(|v| v.name == name).and_then(|v| v.secret.clone()).unwrap();
        assert_eq!(secret("tls-server").secret_name.as_deref(), Some("srv"));
        assert_eq!(secret("tls-peer").secret_name.as_deref(), Some("pr"));
        assert_eq!(secret("tls-peer").default_mode, Some(0o440));
        assert!(!vols.iter().any(|v| v.name == "tls-client"), "members never get the client certificate");
        assert!(super::super::has_tls_volumes(&vols));
        let c = &spec.containers[0];
        let mounts: Vec<(String, String)> =
            c.volume_mounts.clone().unwrap().into_iter().map(|m| (m.name, m.mount_path)).collect();
        assert!(mounts.contains(&("tls-server".into(), "/etc/capstan-tls/server".into())));
        assert!(mounts.contains(&("tls-peer".into(), "/etc/capstan-tls/peer".into())));
        let port = &c.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap().port;
        assert_eq!(port, &IntOrString::String("metrics".into()));
        assert!(
            c.ports.as_ref().unwrap().iter().any(|p| p.name.as_deref() == Some("metrics") && p.container_port == 2381)
        );
        // Plain clusters: no TLS volumes, probes on the client port.
        let plain = pod_spec(&build("version: 0.2.0", 3));
        assert!(!super::super::has_tls_volumes(&plain.volumes.unwrap()));
        assert_eq!(plain.containers[0].ports.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn runs_as_non_root() {
        let sts = build("version: 0.2.0", 1);
        let spec = pod_spec(&sts);
        let psc = spec.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.fs_group, Some(RUN_AS));
        let sc = spec.containers[0].security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
    }
}
