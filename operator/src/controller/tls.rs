//! The effectful side of TLS, once per reconcile: read the Secrets, decide
//! (with [`crate::tls::plan_auto`] in mode `auto`), check members over TLS
//! when a CA rotation phase needs it, write the Secrets (CA first, then
//! leaves), publish Events, and report `status.tls` and the
//! `CertificatesReady` condition.
//!
//! Switching an existing cluster between plain text and TLS is refused, not
//! rolled: every member's listen, advertised and peer URLs change scheme,
//! and a member cannot serve http and https on one port, so a rolling switch
//! needs second ports, `member update` of every peer URL, two rounds of pod
//! restarts and a way back at each step. The schema already refuses the
//! change at `kubectl apply` time; [`switch_refused`] is the guard for a
//! spec that got past it (an older CRD, validation bypassed): the operator
//! then leaves every object as it is and says why in `CertificatesReady`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource};

use super::observe::World;
use super::{Context, Error};
use crate::crd::{EtcdCluster, RENEW_CERTS_ANNOTATION, ROTATE_CA_ANNOTATION, TlsMode, TlsSpec, TlsStatus};
use crate::etcd::ClientTls;
use crate::metrics::{PhaseLabel, PurposeLabel};
use crate::resources::{FIELD_MANAGER, Names, TlsSecretNames, has_tls_volumes, secret_text, tls_secret};
use crate::status::Draft;
use crate::tls::leaves::{IssueReason, LeafAction, LeafRecord};
use crate::tls::pki::{self, CertInfo, KeyedCert, LeafSpec, Purpose};
use crate::tls::rotation::{self, CaRecord, MemberCheck, Phase, Transition};
use crate::tls::{AutoInput, cert_status, plan_auto, policies, probe, time};

/// Type of the condition this module reports (only on TLS clusters).
pub const CONDITION: &str = "CertificatesReady";
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the TLS step found and did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `status.tls`.
    pub status: Option<TlsStatus>,
    /// The `CertificatesReady` condition.
    pub condition: Option<Draft>,
    /// A CA rotation is under way (reconcile again soon).
    pub rotating: bool,
}

fn ready(status: bool, reason: &'static str, message: String) -> Option<Draft> {
    Some(Draft { type_: CONDITION, status, reason, message })
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Why the spec's TLS setting cannot be applied to the running StatefulSet,
/// if it cannot (see the module docs).
pub fn switch_refused(ec: &EtcdCluster, world: &World) -> Option<String> {
    let volumes = world.statefulset.as_ref()?.spec.template.spec.as_ref()?.volumes.clone().unwrap_or_default();
    let running = has_tls_volumes(&volumes);
    match (running, ec.spec.tls.is_some()) {
        (true, false) => Some("spec.tls was removed from a cluster running with TLS; the operator changes nothing until it is restored (switching is not supported: create a new cluster and move the data)".into()),
        (false, true) => Some("spec.tls was added to a cluster running in plain text; the operator changes nothing until it is removed (switching is not supported: create a new cluster with TLS and move the data)".into()),
        _ => None,
    }
}

/// The condition for a refused switch.
pub fn refused_condition(message: String) -> Draft {
    Draft { type_: CONDITION, status: false, reason: "TLSChangeRefused", message }
}

async fn get_secret(ctx: &Context, ns: &str, name: &str) -> Result<Option<Secret>, Error> {
    Api::<Secret>::namespaced(ctx.client.clone(), ns).get_opt(name).await.map_err(Error::Kube)
}

fn annotations(s: &Secret) -> BTreeMap<String, String> {
    s.metadata.annotations.clone().unwrap_or_default()
}

/// The operator's TLS material for `ec`'s members, from its Secrets; `None`
/// without TLS or while the Secrets do not exist yet.
pub async fn client_material(ctx: &Context, ec: &EtcdCluster, names: &Names) -> Result<Option<ClientTls>, Error> {
    let Some(tls) = &ec.spec.tls else { return Ok(None) };
    let secrets = TlsSecretNames::of(names, tls);
    let ns = names.namespace.as_str();
    let mut ca_pem = String::new();
    let mut identity = None;
    if let Some(name) = &secrets.client
        && let Some(s) = get_secret(ctx, ns, name).await?
    {
        let data = secret_text(&s);
        if let Some(rec) = LeafRecord::read(&data, &BTreeMap::new()) {
            identity = Some((rec.keyed.cert_pem, rec.keyed.key_pem));
        }
        ca_pem.push_str(data.get("ca.crt").map(String::as_str).unwrap_or_default());
    }
    if tls.mode == TlsMode::Secrets
        && let Some(s) = get_secret(ctx, ns, &secrets.server).await?
    {
        ca_pem.push_str(secret_text(&s).get("ca.crt").map(String::as_str).unwrap_or_default());
    }
    if ca_pem.is_empty() {
        return Ok(None);
    }
    Ok(Some(ClientTls { ca_pem, identity }))
}

async fn event(ctx: &Context, ec: &EtcdCluster, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: "Certificates".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &ec.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

async fn apply_secret(ctx: &Context, ns: &str, secret: &Secret) -> Result<(), Error> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(secret))
        .await
        .map_err(Error::Kube)?;
    Ok(())
}

/// Ordinals of members that have started (they advertise client URLs), or
/// why they cannot be known.
fn started_members(names: &Names, world: &World) -> Result<Vec<u32>, String> {
    let list = world.list.as_ref().ok_or_else(|| "the member list to be readable".to_string())?;
    let mut ordinals = Vec::new();
    for m in &list.members {
        match m.peer_ur_ls.iter().find_map(|u| names.ordinal_of_peer_url(u)) {
            Some(i) if !m.client_ur_ls.is_empty() => ordinals.push(i),
            Some(i) => return Err(format!("member {} to start", names.member(i))),
            None => return Err(format!("member {:x} (not one of this cluster's pods) cannot be checked", m.id)),
        }
    }
    Ok(ordinals)
}

/// Every started member accepts `identity` on its peer port (and client
/// port when `client_port`), which shows it loaded a bundle trusting its CA.
async fn members_trust(names: &Names, world: &World, identity: &KeyedCert, client_port: bool) -> Result<(), String> {
    let members = started_members(names, world)?;
    let ports: &[u16] = if client_port { &[2380, 2379] } else { &[2380] };
    let probes = members
        .iter()
        .flat_map(|&i| ports.iter().map(move |&p| (i, p)))
        .map(|(i, p)| async move { (i, p, probe::probe(&names.pod_host(i), p, Some(identity), PROBE_TIMEOUT).await) });
    let refused: Vec<String> = join_all(probes)
        .await
        .into_iter()
        .filter(|(_, _, o)| !o.accepted)
        .map(|(i, p, _)| format!("{}:{p}", names.member(i)))
        .collect();
    if refused.is_empty() { Ok(()) } else { Err(format!("{} to trust the new CA", refused.join(", "))) }
}

/// Every started member serves a certificate issued by `ca` on both ports.
async fn members_serve(
    names: &Names,
    world: &World,
    identity: Option<&KeyedCert>,
    ca: &CertInfo,
) -> Result<(), String> {
    let members = started_members(names, world)?;
    let probes = members
        .iter()
        .flat_map(|&i| [2379u16, 2380].map(move |p| (i, p)))
        .map(|(i, p)| async move { (i, p, probe::probe(&names.pod_host(i), p, identity, PROBE_TIMEOUT).await) });
    let stale: Vec<String> = join_all(probes)
        .await
        .into_iter()
        .filter(|(_, _, o)| !o.served.as_ref().is_some_and(|c| c.signed_by(ca)))
        .map(|(i, p, _)| format!("{}:{p}", names.member(i)))
        .collect();
    if stale.is_empty() { Ok(()) } else { Err(format!("{} to serve certificates of the new CA", stale.join(", "))) }
}

/// Runs the TLS step; `write` is false when paused (then only reports).
pub async fn reconcile(
    ctx: &Context,
    ec: &EtcdCluster,
    names: &Names,
    world: &World,
    write: bool,
) -> Result<Outcome, Error> {
    match &ec.spec.tls {
        None => Ok(Outcome::default()),
        Some(tls) if tls.mode == TlsMode::Secrets => secrets_mode(ctx, ec, names, tls).await,
        Some(tls) => auto_mode(ctx, ec, names, tls, world, write).await,
    }
}

fn leaf_statuses(
    secrets: &TlsSecretNames,
    leaves: &BTreeMap<Purpose, CertInfo>,
) -> (Vec<crate::crd::CertificateStatus>, Option<i64>) {
    let certs = leaves.iter().filter_map(|(p, info)| Some(cert_status(p.name(), secrets.leaf(*p)?, info))).collect();
    (certs, leaves.values().map(|c| c.not_after).min())
}

async fn auto_mode(
    ctx: &Context,
    ec: &EtcdCluster,
    names: &Names,
    tls: &TlsSpec,
    world: &World,
    write: bool,
) -> Result<Outcome, Error> {
    let ns = names.namespace.as_str();
    let secrets = TlsSecretNames::of(names, tls);
    let ca_secret = secrets.ca.clone().unwrap_or_else(|| names.ca_secret());
    let mut outcome =
        Outcome { status: Some(TlsStatus { mode: Some("auto".into()), ..TlsStatus::default() }), ..Outcome::default() };
    let (ca_policy, leaf_policy) = match policies(tls.auto.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            outcome.condition = ready(false, "InvalidSpec", e.to_string());
            return Ok(outcome);
        }
    };
    let ca = match get_secret(ctx, ns, &ca_secret).await? {
        None => None,
        Some(s) => match CaRecord::read(&secret_text(&s), &annotations(&s)) {
            Ok(rec) => Some(rec),
            Err(e) => {
                outcome.condition = ready(false, "CAInvalid", format!("Secret {ca_secret}: {e}; nothing is changed"));
                return Ok(outcome);
            }
        },
    };
    let mut leaves = BTreeMap::new();
    for p in Purpose::ALL {
        if let Some(name) = secrets.leaf(p)
            && let Some(s) = get_secret(ctx, ns, name).await?
            && let Some(rec) = LeafRecord::read(&secret_text(&s), &annotations(&s))
        {
            leaves.insert(p, rec);
        }
    }
    if ca.is_none() && !leaves.is_empty() {
        // The CA Secret was deleted under running members: a new CA now would
        // re-issue every leaf from a CA nobody trusts, cutting peers off from
        // each other. Leave everything alone and say how to proceed.
        outcome.condition = ready(
            false,
            "CAMissing",
            format!(
                "Secret {ca_secret} is gone while leaf Secrets remain; nothing is changed. Restore it, or delete the leaf Secrets to re-issue everything from a new CA (members lose contact until every one has the new files)"
            ),
        );
        return Ok(outcome);
    }
    let now = now();
    let ann = ec.metadata.annotations.clone().unwrap_or_default();
    let rotate_trigger = ann.get(ROTATE_CA_ANNOTATION).map(String::as_str);
    let renew_trigger = ann.get(RENEW_CERTS_ANNOTATION).map(String::as_str);

    // Paused: report what is stored; no member checks, no keys generated.
    let (record, leaf_infos, transition) = if write {
        let check = ca.as_ref().map_or(MemberCheck::None, |r| rotation::member_check(r, now, &ca_policy));
        let client_identity = leaves.get(&Purpose::Client).map(|l| l.keyed.clone());
        let members = match &check {
            MemberCheck::None => Ok(()),
            MemberCheck::Trusts(next) => {
                // A throw-away client certificate from the new CA, without SANs
                // (a peer listener checks SANs against the caller's address only
                // when there are some).
                let spec = LeafSpec {
                    purpose: Purpose::Client,
                    common_name: "capstan-operator-probe".into(),
                    dns_names: Default::default(),
                    ip_addresses: Default::default(),
                };
                match pki::issue(&next.keyed, &spec, now - 300, now + 3600) {
                    Ok(id) => members_trust(names, world, &id, tls.client_cert_auth).await,
                    Err(e) => Err(format!("a probe certificate ({e})")),
                }
            }
            MemberCheck::Serves(ca) => members_serve(names, world, client_identity.as_ref(), ca).await,
        };
        let specs: BTreeMap<Purpose, LeafSpec> = Purpose::ALL.into_iter().map(|p| (p, names.leaf_spec(p))).collect();
        let ca_name = names.ca_label();
        let input = AutoInput {
            ca: ca.clone(),
            leaves: leaves.clone(),
            specs,
            ca_name: &ca_name,
            ca_policy,
            leaf_policy,
            now,
            rotate_trigger,
            renew_trigger,
            members,
        };
        let plan = match plan_auto(input) {
            Ok(p) => p,
            Err(e) => {
                outcome.condition = ready(false, "IssueFailed", e.to_string());
                return Ok(outcome);
            }
        };
        // The transition's Event goes out before the CA Secret records the new
        // phase: an operator killed between the two leaves the old phase behind,
        // and its successor makes the transition (and says so) again. The other
        // order would lose the Event for good (at least once beats at most once).
        report_transition(ctx, ec, &plan.transition, &plan.ca).await;
        if plan.write_ca {
            apply_secret(ctx, ns, &tls_secret(names, ca_secret.clone(), plan.ca.data(), plan.ca.annotations())).await?;
        }
        for (purpose, action) in &plan.leaf_writes {
            let (Some(name), Some(rec)) = (secrets.leaf(*purpose), plan.leaves.get(purpose)) else { continue };
            apply_secret(ctx, ns, &tls_secret(names, name.to_string(), rec.data(), rec.annotations())).await?;
            tracing::info!(cluster = %names.cluster, namespace = %ns, purpose = purpose.name(), ?action, serial = %rec.info.serial, "certificate written");
        }
        report_changes(ctx, ec, &plan.ca, &plan.leaf_writes, ca.is_none()).await;
        let infos = plan.leaves.iter().map(|(p, l)| (*p, l.info.clone())).collect();
        (Some(plan.ca.clone()), infos, plan.transition.clone())
    } else {
        let infos = leaves.iter().map(|(p, l)| (*p, l.info.clone())).collect();
        (ca, infos, Transition::Stay { waiting_for: None })
    };
    let Some(record) = record else {
        outcome.condition = ready(false, "Pending", "no CA yet (paused before the first issue)".into());
        return Ok(outcome);
    };
    let (certificates, earliest) = leaf_statuses(&secrets, &leaf_infos);
    let waiting_for = match &transition {
        Transition::Stay { waiting_for } => waiting_for.clone(),
        _ => None,
    };
    outcome.rotating = record.phase != Phase::Idle;
    outcome.status = Some(TlsStatus {
        mode: Some("auto".into()),
        ca: Some(cert_status("ca", &ca_secret, &record.signing.info)),
        trusted_ca_fingerprints: record.trusted.iter().map(|c| c.fingerprint.clone()).collect(),
        rotation_phase: Some(record.phase.name().into()),
        rotation_phase_since: time(record.since),
        rotation_waiting_for: waiting_for.clone(),
        not_after: earliest.and_then(time),
        certificates,
    });
    outcome.condition = if leaf_infos.len() < Purpose::ALL.len() {
        ready(false, "Issuing", "certificates are being issued".into())
    } else if outcome.rotating {
        let wait = waiting_for.map(|w| format!(": waiting for {w}")).unwrap_or_default();
        ready(true, "RotatingCA", format!("CA rotation phase {}{wait}", record.phase.name()))
    } else {
        ready(
            true,
            "Issued",
            format!("CA {} signs server, peer and client certificates", &record.signing.info.fingerprint[..16]),
        )
    };
    Ok(outcome)
}

/// The Event (and metric) of a CA rotation phase change, if this reconcile
/// makes one.
async fn report_transition(ctx: &Context, ec: &EtcdCluster, transition: &Transition, ca: &CaRecord) {
    let (reason, note) = match transition {
        Transition::Stay { .. } => ("", String::new()),
        Transition::Start { reason } => (
            "CARotationTrusting",
            format!(
                "CA rotation started ({reason}): new CA {} added to every bundle",
                ca.trusted.last().map(|c| &c.fingerprint[..16]).unwrap_or_default()
            ),
        ),
        Transition::Promote => (
            "CARotationReissuing",
            format!("every member trusts the new CA; it now signs ({})", &ca.signing.info.fingerprint[..16]),
        ),
        Transition::Drop => (
            "CARotationDropping",
            "every member serves certificates of the new CA; the old CA is removed from the bundles".to_string(),
        ),
        Transition::Finish => (
            "CARotationComplete",
            format!("CA rotation complete: only {} is trusted", &ca.signing.info.fingerprint[..16]),
        ),
    };
    if !reason.is_empty() {
        ctx.metrics.ca_phases.get_or_create(&PhaseLabel { phase: ca.phase.name() }).inc();
        event(ctx, ec, EventType::Normal, reason, note).await;
    }
}

/// Events for the certificates this reconcile wrote.
async fn report_changes(
    ctx: &Context,
    ec: &EtcdCluster,
    ca: &CaRecord,
    writes: &[(Purpose, LeafAction)],
    created: bool,
) {
    if created {
        event(
            ctx,
            ec,
            EventType::Normal,
            "CertificatesIssued",
            format!("new CA {} and server, peer and client certificates", &ca.signing.info.fingerprint[..16]),
        )
        .await;
    }
    for (p, a) in writes {
        if matches!(a, LeafAction::Issue(_)) {
            ctx.metrics.certificates.get_or_create(&PurposeLabel { purpose: p.name() }).inc();
        }
    }
    let renewed: Vec<String> = writes
        .iter()
        .filter_map(|(p, a)| match a {
            LeafAction::Issue(IssueReason::Missing) if created => None,
            LeafAction::Issue(r) => Some(format!("{} ({})", p.name(), r.text())),
            _ => None,
        })
        .collect();
    if !renewed.is_empty() {
        event(
            ctx,
            ec,
            EventType::Normal,
            "CertificatesRotated",
            format!("re-issued: {}; members reload them without a restart", renewed.join(", ")),
        )
        .await;
    }
}

/// Expiry closer than this is reported (mode `secrets`: renewing is the
/// user's or cert-manager's job).
const EXPIRY_WARNING: i64 = 14 * 86_400;

async fn secrets_mode(ctx: &Context, ec: &EtcdCluster, names: &Names, tls: &TlsSpec) -> Result<Outcome, Error> {
    let ns = names.namespace.as_str();
    let secrets = TlsSecretNames::of(names, tls);
    let mut infos = BTreeMap::new();
    let mut problems = Vec::new();
    let mut bundle = Vec::new();
    for p in Purpose::ALL {
        let Some(name) = secrets.leaf(p) else { continue };
        let Some(s) = get_secret(ctx, ns, name).await? else {
            problems.push(format!("Secret {name} not found"));
            continue;
        };
        let data = secret_text(&s);
        match LeafRecord::read(&data, &BTreeMap::new()) {
            Some(rec) => {
                infos.insert(p, rec.info);
            }
            None => problems.push(format!("Secret {name}: no tls.crt with its tls.key")),
        }
        if p == Purpose::Server {
            match data.get("ca.crt").map(|b| pki::parse_pem(b)) {
                Some(Ok(cas)) => bundle = cas,
                _ => problems.push(format!("Secret {name}: no readable ca.crt")),
            }
        }
    }
    let (certificates, earliest) = leaf_statuses(&secrets, &infos);
    // A changed certificate (cert-manager renewed it): say so once, members
    // pick it up from the refreshed files.
    let before = ec.status.as_ref().and_then(|s| s.tls.as_ref()).map(|t| t.certificates.clone()).unwrap_or_default();
    let changed: Vec<String> = certificates
        .iter()
        .filter_map(|c| {
            let old = before.iter().find(|b| b.purpose == c.purpose)?;
            (old.serial != c.serial).then(|| format!("{} (serial {} -> {})", c.purpose, old.serial, c.serial))
        })
        .collect();
    if !changed.is_empty() {
        event(
            ctx,
            ec,
            EventType::Normal,
            "CertificatesRotated",
            format!("changed in their Secrets: {}; members reload them without a restart", changed.join(", ")),
        )
        .await;
    }
    let now = now();
    let expired: Vec<&str> = infos.iter().filter(|(_, c)| c.not_after <= now).map(|(p, _)| p.name()).collect();
    let condition = if !problems.is_empty() {
        ready(false, "SecretInvalid", problems.join("; "))
    } else if !expired.is_empty() {
        ready(false, "Expired", format!("expired: {}", expired.join(", ")))
    } else if let Some(t) = earliest.filter(|t| t - now < EXPIRY_WARNING) {
        ready(true, "ExpiringSoon", format!("a certificate expires in {} h and is not renewed yet", (t - now) / 3600))
    } else {
        ready(true, "SecretsValid", format!("earliest expiry in {} h", (earliest.unwrap_or(now) - now) / 3600))
    };
    Ok(Outcome {
        status: Some(TlsStatus {
            mode: Some("secrets".into()),
            ca: bundle.first().map(|c| cert_status("ca", &secrets.server, c)),
            trusted_ca_fingerprints: bundle.iter().map(|c| c.fingerprint.clone()).collect(),
            not_after: earliest.and_then(time),
            certificates,
            ..TlsStatus::default()
        }),
        condition,
        rotating: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::cluster;
    use crate::resources::{Names, statefulset};

    fn world_with(ec: &EtcdCluster) -> World {
        let names = Names::of(ec).unwrap();
        World { statefulset: Some(statefulset(&names, ec, 3, "capstan:x".into(), "1Gi")), ..World::default() }
    }

    #[test]
    fn a_running_cluster_keeps_its_scheme() {
        let plain = cluster("version: 0.1.0");
        let tls = cluster("version: 0.1.0\ntls: {mode: auto}\n");
        // No StatefulSet yet: anything goes.
        assert_eq!(switch_refused(&tls, &World::default()), None);
        assert_eq!(switch_refused(&plain, &world_with(&plain)), None);
        assert_eq!(switch_refused(&tls, &world_with(&tls)), None);
        let added = switch_refused(&tls, &world_with(&plain)).unwrap();
        assert!(added.contains("added to a cluster running in plain text"), "{added}");
        let removed = switch_refused(&plain, &world_with(&tls)).unwrap();
        assert!(removed.contains("removed from a cluster running with TLS"), "{removed}");
        assert_eq!(refused_condition(added).reason, "TLSChangeRefused");
    }

    #[test]
    fn only_started_members_of_this_cluster_can_be_checked() {
        use capstan_proto::etcdserverpb::Member;
        let ec = cluster("version: 0.1.0\ntls: {mode: auto}\n");
        let n = Names::of(&ec).unwrap();
        let member = |i: u32, started: bool| Member {
            id: u64::from(i) + 1,
            name: n.member(i),
            peer_ur_ls: vec![n.peer_url(i)],
            client_ur_ls: if started { vec![n.client_url(i)] } else { vec![] },
            is_learner: false,
        };
        let world =
            |members| World { list: Some(crate::etcd::MemberList { cluster_id: 1, members }), ..World::default() };
        assert_eq!(started_members(&n, &World::default()), Err("the member list to be readable".into()));
        assert_eq!(started_members(&n, &world(vec![member(0, true), member(2, true)])), Ok(vec![0, 2]));
        assert_eq!(
            started_members(&n, &world(vec![member(0, true), member(1, false)])),
            Err("member demo-1 to start".into())
        );
    }
}
