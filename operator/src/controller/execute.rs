//! Executing one planner step: exactly one API call, then an Event. The
//! next reconcile observes the result and plans the next step, so nothing
//! here needs to remember anything.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};
use serde_json::json;

use super::observe::{MEMBER_ANNOTATION, World};
use super::{Context, Error, apply_statefulset};
use crate::crd::EtcdCluster;
use crate::etcd::{EtcdClient, EtcdError};
use crate::members::Step;
use crate::resources::{FIELD_MANAGER, Names};

/// Metric label and Event reason of a step.
fn labels(step: &Step) -> (&'static str, &'static str) {
    match step {
        Step::AddLearner { .. } => ("add_learner", "MemberAdded"),
        Step::GrowStatefulSet { .. } => ("grow", "StatefulSetGrown"),
        Step::Promote { .. } => ("promote", "MemberPromoted"),
        Step::RemoveMember { .. } => ("remove", "MemberRemoved"),
        Step::ShrinkStatefulSet { .. } => ("shrink", "StatefulSetShrunk"),
        Step::ReplaceLostMember { .. } => ("replace_lost", "LostMemberRemoved"),
        Step::WipeStaleVolume { .. } => ("wipe_stale", "StaleVolumeDeleted"),
        Step::Wait(_) => ("wait", "Waiting"),
        Step::Done => ("done", "Done"),
    }
}

async fn event(ctx: &Context, ec: &EtcdCluster, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Membership".to_string(),
        secondary: None,
    };
    // An event that cannot be written must not fail the step it reports.
    if let Err(e) = ctx.recorder.publish(&ev, &ec.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

/// Executes `step` for the cluster, talking to its members with `etcd`.
pub async fn run(
    ctx: &Context,
    etcd: &EtcdClient,
    ec: &EtcdCluster,
    names: &Names,
    world: &World,
    step: &Step,
) -> Result<(), Error> {
    let endpoints = super::observe::endpoints(names, world.sts_replicas().max(1), world.list.as_ref());
    let result: Result<(), Error> = match *step {
        Step::Wait(_) | Step::Done => return Ok(()),
        Step::AddLearner { ordinal } => match etcd.add_learner(&endpoints, &names.peer_url(ordinal)).await {
            // Someone (an earlier attempt whose answer was lost) added it already.
            Ok(_) | Err(EtcdError::PeerUrlExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Step::GrowStatefulSet { replicas } | Step::ShrinkStatefulSet { replicas } => {
            apply_statefulset(ctx, ec, names, world, replicas).await
        }
        Step::Promote { id, .. } => etcd.promote(&endpoints, id).await.map_err(Error::from),
        Step::RemoveMember { id, .. } => etcd.remove(&endpoints, id).await.map_err(Error::from),
        Step::ReplaceLostMember { id, ordinal } => {
            // The pod on the new volume may already have joined under the lost
            // member's ID (a fresh data dir with `existing` state takes the ID
            // that matches its peer URL) and written that ID to the new volume,
            // which would then come back as a removed member forever. Mark the
            // volume with the ID *before* removing it: once the member is gone,
            // the mark makes the volume stale, so it is wiped before the ordinal
            // is re-added (and a restart between the two steps still sees it).
            mark_volumes(ctx, ec, names, world, &[(ordinal, format!("{id:x}"))]).await?;
            etcd.remove(&endpoints, id).await.map_err(Error::from)
        }
        Step::WipeStaleVolume { ordinal } => wipe(ctx, ec, names, ordinal).await,
    };
    let (label, reason) = labels(step);
    match &result {
        Ok(()) => {
            ctx.metrics.step(label);
            tracing::info!(cluster = %names.cluster, namespace = %names.namespace, %step, "membership step");
            event(ctx, ec, EventType::Normal, reason, step.to_string()).await;
        }
        Err(Error::Etcd(e)) if e.is_transient() => {}
        Err(e) => event(ctx, ec, EventType::Warning, "MembershipStepFailed", format!("{step}: {e}")).await,
    }
    result
}

/// Deletes the volume of an ordinal that holds a removed member's data: the
/// claim (kept until its pod is gone) and the pod; the StatefulSet then
/// recreates both, empty.
async fn wipe(ctx: &Context, ec: &EtcdCluster, names: &Names, ordinal: u32) -> Result<(), Error> {
    let ns = names.namespace.as_str();
    let dp = DeleteParams::default();
    if !ec.spec.storage.empty_dir {
        let claims = Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), ns);
        ignore_not_found(claims.delete(&names.data_claim(ordinal), &dp).await.map(|_| ()))?;
    }
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), ns);
    ignore_not_found(pods.delete(&names.member(ordinal), &dp).await.map(|_| ()))
}

fn ignore_not_found(r: Result<(), kube::Error>) -> Result<(), Error> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        other => other.map_err(Error::Kube),
    }
}

/// Annotates volumes with the member whose data they hold (see
/// `MEMBER_ANNOTATION`); a merge patch of one annotation, so nothing else on
/// the object is touched.
pub async fn mark_volumes(
    ctx: &Context,
    ec: &EtcdCluster,
    names: &Names,
    world: &World,
    marks: &[(u32, String)],
) -> Result<(), Error> {
    let ns = names.namespace.as_str();
    for (ordinal, id) in marks {
        let Some(volume) = world.volumes.get(ordinal) else { continue };
        let patch = Patch::Merge(json!({ "metadata": { "annotations": { MEMBER_ANNOTATION: id } } }));
        let pp = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() };
        let result = if ec.spec.storage.empty_dir {
            Api::<Pod>::namespaced(ctx.client.clone(), ns).patch(&volume.name, &pp, &patch).await.map(|_| ())
        } else {
            Api::<PersistentVolumeClaim>::namespaced(ctx.client.clone(), ns)
                .patch(&volume.name, &pp, &patch)
                .await
                .map(|_| ())
        };
        ignore_not_found(result)?;
    }
    Ok(())
}
