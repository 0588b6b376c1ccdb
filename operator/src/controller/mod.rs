//! The controller: watches `EtcdCluster`s and the objects they own, and for
//! each one runs [`reconcile`]:
//!
//! 1. read the world (StatefulSet, member volumes, member list, health),
//!    over TLS with the cluster's client certificate when it has TLS;
//! 2. TLS (see [`tls`]): unless paused, issue, renew and rotate
//!    certificates (mode `auto`), report them (both modes);
//! 3. unless paused, server-side apply the owned objects built by
//!    `resources` (field manager `capstan-operator`, forced, owner references
//!    set so deleting the EtcdCluster garbage-collects them);
//! 4. unless paused, plan one membership step and execute it, with an Event;
//! 5. mark volumes with their member, write the status if it changed;
//! 6. requeue: soon while a change is under way, slowly when settled.
//!
//! No finalizer: everything the operator creates is owned through owner
//! references and garbage-collected by Kubernetes, and nothing lives outside
//! the cluster that would need cleaning up first.

mod execute;
pub mod observe;
pub mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::crd::{EtcdCluster, EtcdClusterStatus};
use crate::etcd::{EtcdClient, EtcdError};
use crate::members::{Step, plan};
use crate::metrics::Metrics;
use crate::resources::{self, Bootstrap, BuildError, FIELD_MANAGER, Names};
use crate::status;

/// Errors of one reconcile; each is retried by `error_policy`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource lacks stored metadata.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A Kubernetes API call failed.
    #[error("kubernetes API: {0}")]
    Kube(#[source] kube::Error),
    /// A membership call to the cluster failed.
    #[error("etcd: {0}")]
    Etcd(#[from] EtcdError),
}

/// What every reconcile shares.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Event recorder.
    pub recorder: Recorder,
    /// etcd client for membership calls.
    pub etcd: EtcdClient,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Image repository members run when `spec.image` is absent.
    pub image_repository: String,
}

impl Context {
    /// A context with a recorder reporting as `capstan-operator` (instance `instance`).
    pub fn new(client: Client, metrics: Arc<Metrics>, image_repository: String, instance: Option<String>) -> Context {
        let reporter = Reporter { controller: FIELD_MANAGER.to_string(), instance };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            etcd: EtcdClient::default(),
            metrics,
            image_repository,
        }
    }
}

/// Server-side apply of one owned object.
async fn apply<K>(client: &Client, ns: &str, obj: &K) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    // apiVersion and kind are required in an apply body; k8s-openapi's
    // Serialize writes them for every built-in type.
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj)).await.map_err(Error::Kube)?;
    Ok(())
}

/// How pods without data get in (see `resources::Bootstrap`), or `None` when
/// that cannot be known now: the cluster exists but no member answered, so
/// the ConfigMap is left as it is rather than rewritten from a guess.
fn bootstrap(ec: &EtcdCluster, world: &observe::World, names: &Names) -> Option<Bootstrap> {
    let formed = ec.status.as_ref().is_some_and(|s| s.cluster_id.is_some());
    match &world.list {
        Some(list) => Some(Bootstrap::Existing {
            members: list
                .members
                .iter()
                .filter_map(|m| m.peer_ur_ls.iter().find_map(|u| names.ordinal_of_peer_url(u)))
                .collect(),
        }),
        None if formed => None,
        // The founding set is fixed once the StatefulSet exists: its replicas
        // only change through the planner, which needs a formed cluster.
        None => Some(Bootstrap::New {
            size: world.statefulset.as_ref().map_or(ec.spec.replicas.max(1) as u32, |_| world.sts_replicas()),
        }),
    }
}

/// The claim size for the StatefulSet: the existing template's (Kubernetes
/// forbids changing it), else the spec's.
fn claim_size(ec: &EtcdCluster, world: &observe::World) -> String {
    world
        .statefulset
        .as_ref()
        .and_then(|s| s.spec.volume_claim_templates.as_ref())
        .and_then(|t| t.first())
        .and_then(|c| c.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage").cloned())
        .map(|q| q.0)
        .or_else(|| ec.spec.storage.size.clone())
        .unwrap_or_else(|| resources::DEFAULT_STORAGE_SIZE.to_string())
}

/// Applies every owned object; `replicas` is the StatefulSet size to state.
async fn apply_all(
    ctx: &Context,
    ec: &EtcdCluster,
    names: &Names,
    world: &observe::World,
    replicas: u32,
) -> Result<(), Error> {
    let ns = names.namespace.as_str();
    let client = &ctx.client;
    let pods = replicas.max(ec.spec.replicas.max(1) as u32);
    if let Some(boot) = bootstrap(ec, world, names) {
        apply(client, ns, &resources::config_map(names, ec, &boot, pods)).await?;
    }
    apply(client, ns, &resources::peer_service(names)).await?;
    apply(client, ns, &resources::client_service(names)).await?;
    apply_statefulset(ctx, ec, names, world, replicas).await?;
    Ok(())
}

/// Applies the StatefulSet with `replicas` pods, and the disruption budget
/// sized for that many members.
async fn apply_statefulset(
    ctx: &Context,
    ec: &EtcdCluster,
    names: &Names,
    world: &observe::World,
    replicas: u32,
) -> Result<(), Error> {
    let ns = names.namespace.as_str();
    let image = ec.image(&ctx.image_repository);
    let sts = resources::statefulset(names, ec, replicas as i32, image, &claim_size(ec, world));
    apply(&ctx.client, ns, &sts).await?;
    apply(&ctx.client, ns, &resources::pod_disruption_budget(names, replicas as i32)).await
}

/// One reconcile of one EtcdCluster; see the module docs for the sequence.
pub async fn reconcile(ec: Arc<EtcdCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&ec, &ctx).await;
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    result
}

async fn reconcile_inner(ec: &EtcdCluster, ctx: &Context) -> Result<Action, Error> {
    let names = Names::of(ec)?;
    let material = tls::client_material(ctx, ec, &names).await?;
    let etcd = ctx.etcd.with_tls(material.as_ref());
    let world = observe::read(ctx, &etcd, ec, &names).await?;
    let desired = ec.spec.replicas.max(1) as u32;
    let previous = ec.status.clone().unwrap_or_default();
    let assessment = observe::assess(&names, desired, &world, &previous.members);

    // The StatefulSet size to state: the current one (the planner changes
    // it), or the founding size when creating it.
    let replicas = if world.statefulset.is_some() { world.sts_replicas() } else { desired };
    let mut step = None;
    // A TLS switch is refused: nothing is changed (see `tls`).
    let refused = tls::switch_refused(ec, &world);
    let certs = match &refused {
        None => tls::reconcile(ctx, ec, &names, &world, !ec.spec.paused).await?,
        Some(why) => {
            tracing::warn!(cluster = %names.cluster, namespace = %names.namespace, why, "TLS switch refused");
            tls::Outcome { condition: Some(tls::refused_condition(why.clone())), ..tls::Outcome::default() }
        }
    };
    if !ec.spec.paused && refused.is_none() {
        apply_all(ctx, ec, &names, &world, replicas).await?;
        if let Some(observed) = &assessment.observed {
            let next = plan(observed);
            execute::run(ctx, &etcd, ec, &names, &world, &next).await?;
            step = Some(next);
        }
    }
    execute::mark_volumes(ctx, ec, &names, &world, &assessment.marks).await?;

    let mut status = build_status(ec, &names, &world, &assessment, step.as_ref(), &previous, certs.condition);
    status.tls = certs.status.or_else(|| if refused.is_some() { previous.tls.clone() } else { None });
    if ec.status.as_ref() != Some(&status) {
        let api = Api::<EtcdCluster>::namespaced(ctx.client.clone(), &names.namespace);
        let body =
            json!({ "apiVersion": EtcdCluster::api_version(&()), "kind": EtcdCluster::kind(&()), "status": status });
        api.patch_status(&ec.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
            .await
            .map_err(Error::Kube)?;
    }
    let after = match step {
        Some(Step::Done) => Duration::from_secs(60),
        Some(Step::Wait(_)) | None => Duration::from_secs(10),
        Some(_) => Duration::from_secs(2),
    };
    // A CA rotation phase ends on a timer and on what members serve, which
    // no watch reports: look again soon.
    Ok(Action::requeue(if certs.rotating { after.min(Duration::from_secs(5)) } else { after }))
}

fn build_status(
    ec: &EtcdCluster,
    names: &Names,
    world: &observe::World,
    a: &observe::Assessment,
    step: Option<&Step>,
    previous: &EtcdClusterStatus,
    certificates: Option<status::Draft>,
) -> EtcdClusterStatus {
    let cluster_id = world.list.as_ref().map(|l| format!("{:x}", l.cluster_id)).or_else(|| previous.cluster_id.clone());
    let obs = status::Observation {
        reachable: world.list.is_some(),
        bootstrapping: cluster_id.is_none(),
        members: &a.members,
        desired: ec.spec.replicas.max(1) as u32,
        step,
        paused: ec.spec.paused,
    };
    let mut drafts = status::drafts(&obs);
    drafts.extend(certificates);
    let now = Time(Timestamp::now());
    let leader = a.members.iter().find(|m| m.leader);
    EtcdClusterStatus {
        conditions: status::conditions(&previous.conditions, drafts, &now, ec.metadata.generation),
        ready_members: a.members.iter().filter(|m| m.healthy).count() as i32,
        cluster_id,
        leader_id: leader.map(|m| m.id.clone()),
        leader: leader.map(|m| m.name.clone()),
        observed_generation: ec.metadata.generation,
        selector: Some(names.selector_string()),
        members: a.members.clone(),
        tls: None,
    }
}

/// Requeue after a failed reconcile; transient etcd answers retry sooner.
pub fn error_policy(_ec: Arc<EtcdCluster>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(%error, "reconcile failed");
    match error {
        Error::Etcd(e) if e.is_transient() => Action::requeue(Duration::from_secs(3)),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

/// Runs the controller until `shutdown` resolves (in-flight reconciles finish first).
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let api: Api<EtcdCluster> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    fn owned<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let managed = watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={FIELD_MANAGER}"));
    let pods = watcher::Config::default().labels("app.kubernetes.io/name=capstan");
    let controller = Controller::new(api, watcher::Config::default());
    let clusters = controller.store();
    // TLS Secrets: the operator's own (mode auto) and those named in
    // `spec.tls.secrets` (cert-manager writes this type). Watching only this
    // type keeps the cache to certificates rather than every Secret.
    let tls_secrets = watcher::Config::default().fields("type=kubernetes.io/tls");
    controller
        .owns(owned::<StatefulSet>(&client, &namespace), managed.clone())
        .owns(owned::<Service>(&client, &namespace), managed.clone())
        .owns(owned::<ConfigMap>(&client, &namespace), managed.clone())
        .owns(owned::<PodDisruptionBudget>(&client, &namespace), managed)
        // Pods and claims are owned by the StatefulSet, not by us: map them
        // back to their cluster by the instance label.
        .watches(owned::<Pod>(&client, &namespace), pods.clone(), instance_ref)
        .watches(owned::<PersistentVolumeClaim>(&client, &namespace), pods, instance_ref)
        .watches(owned::<Secret>(&client, &namespace), tls_secrets, move |secret: Secret| {
            secret_users(&clusters.state(), &secret)
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::debug!(cluster = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
}

/// The clusters a TLS Secret belongs to: its owner, or any cluster naming it
/// in `spec.tls.secrets` in the same namespace.
fn secret_users(
    clusters: &[Arc<EtcdCluster>],
    secret: &Secret,
) -> Vec<kube::runtime::reflector::ObjectRef<EtcdCluster>> {
    let meta = &secret.metadata;
    let (Some(name), Some(ns)) = (meta.name.as_deref(), meta.namespace.as_deref()) else { return vec![] };
    clusters
        .iter()
        .filter(|ec| ec.metadata.namespace.as_deref() == Some(ns))
        .filter(|ec| {
            let owned = meta.owner_references.iter().flatten().any(|o| Some(&o.uid) == ec.metadata.uid.as_ref());
            let named = ec
                .spec
                .tls
                .as_ref()
                .and_then(|t| t.secrets.as_ref())
                .is_some_and(|s| s.server == name || s.peer == name || s.client.as_deref() == Some(name));
            owned || named
        })
        .map(|ec| kube::runtime::reflector::ObjectRef::from_obj(ec.as_ref()))
        .collect()
}

fn instance_ref<K: Resource>(obj: K) -> Option<kube::runtime::reflector::ObjectRef<EtcdCluster>> {
    let meta = obj.meta();
    let name = meta.labels.as_ref()?.get("app.kubernetes.io/instance")?;
    Some(kube::runtime::reflector::ObjectRef::new(name).within(meta.namespace.as_deref()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::cluster;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    fn secret(name: &str, ns: &str, owner_uid: Option<&str>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                owner_references: owner_uid.map(|uid| {
                    vec![OwnerReference { uid: uid.into(), kind: "EtcdCluster".into(), ..OwnerReference::default() }]
                }),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn tls_secrets_map_to_their_owner_or_the_clusters_naming_them() {
        let auto = Arc::new(cluster("version: 0.1.0\ntls: {mode: auto}\n"));
        let mut byo = cluster("version: 0.1.0\ntls: {mode: secrets, secrets: {server: s, peer: p, client: c}}\n");
        byo.metadata.name = Some("byo".into());
        byo.metadata.uid = Some("u-2".into());
        let byo = Arc::new(byo);
        let clusters = [auto.clone(), byo.clone()];
        let names = |s: &Secret| -> Vec<String> { secret_users(&clusters, s).into_iter().map(|r| r.name).collect() };
        assert_eq!(names(&secret("demo-peer-tls", "ns", Some("u-1"))), ["demo"]);
        assert_eq!(names(&secret("p", "ns", None)), ["byo"]);
        assert_eq!(names(&secret("c", "ns", None)), ["byo"]);
        assert!(names(&secret("p", "other", None)).is_empty(), "same name, other namespace");
        assert!(names(&secret("unrelated", "ns", None)).is_empty());
    }
}
