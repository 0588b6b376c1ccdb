//! TLS material: certificates ([`pki`]), the CA and its rotation
//! ([`rotation`]), leaf renewal ([`leaves`]), and looking at members over
//! TLS ([`probe`]). Everything but `probe` is pure; [`plan_auto`] joins the
//! pure parts into one decision per reconcile, which the controller then
//! writes (CA Secret first, then leaves) and reports.
//!
//! Nothing here restarts a member: Capstan re-reads its certificate, key and
//! CA bundle when kubelet swaps the mounted Secret files, so renewing a
//! certificate is writing a Secret, and a CA rotation is three rounds of
//! Secret writes with checks in between.

pub mod leaves;
pub mod pki;
pub mod probe;
pub mod rotation;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::crd::{AutoTls, CertificateStatus, DurationError, parse_duration};
use leaves::{LeafAction, LeafPolicy, LeafRecord};
use pki::{CertInfo, LeafSpec, PkiError, Purpose};
use rotation::{CaPolicy, CaRecord, Observed, Transition};

/// The CA and leaf policies of `spec.tls.auto` (defaults when absent).
pub fn policies(auto: Option<&AutoTls>) -> Result<(CaPolicy, LeafPolicy), DurationError> {
    let default = AutoTls::default();
    let a = auto.unwrap_or(&default);
    let secs = |s: &str| parse_duration(s).map(|d| d.as_secs() as i64);
    Ok((
        CaPolicy {
            validity: secs(&a.ca_validity)?,
            renew_before: secs(&a.ca_renew_before)?,
            settle: secs(&a.rotation_settle)?,
        },
        LeafPolicy { validity: secs(&a.validity)?, renew_before: secs(&a.renew_before)? },
    ))
}

/// What [`plan_auto`] needs.
#[derive(Clone, Debug)]
pub struct AutoInput<'a> {
    /// The CA record as read (`None`: no CA Secret yet).
    pub ca: Option<CaRecord>,
    /// Each leaf Secret as read (absent or unusable: missing).
    pub leaves: BTreeMap<Purpose, LeafRecord>,
    /// What each leaf must say.
    pub specs: BTreeMap<Purpose, LeafSpec>,
    /// Label of a new CA (see [`pki::new_ca`]).
    pub ca_name: &'a str,
    /// CA policy.
    pub ca_policy: CaPolicy,
    /// Leaf policy.
    pub leaf_policy: LeafPolicy,
    /// Unix seconds now.
    pub now: i64,
    /// `capstan.dev/rotate-ca`.
    pub rotate_trigger: Option<&'a str>,
    /// `capstan.dev/renew-certs`.
    pub renew_trigger: Option<&'a str>,
    /// The member check of the current phase (see [`rotation::member_check`]).
    pub members: Result<(), String>,
}

/// One reconcile's decision for mode `auto`.
#[derive(Clone, Debug)]
pub struct AutoPlan {
    /// The CA record after this reconcile.
    pub ca: CaRecord,
    /// Whether the CA Secret must be written.
    pub write_ca: bool,
    /// The transition decided (for status and Events).
    pub transition: Transition,
    /// Each leaf after this reconcile.
    pub leaves: BTreeMap<Purpose, LeafRecord>,
    /// Leaves to write, with why.
    pub leaf_writes: Vec<(Purpose, LeafAction)>,
}

/// Decides the CA transition and every leaf's action. Pure but for key
/// generation.
pub fn plan_auto(input: AutoInput<'_>) -> Result<AutoPlan, PkiError> {
    let (ca, created) = match input.ca {
        Some(rec) => (rec, false),
        None => (CaRecord::create(input.ca_name, input.now, &input.ca_policy, input.rotate_trigger)?, true),
    };
    let leaves_current = input.specs.keys().all(|p| input.leaves.get(p).is_some_and(|l| l.current(&ca)));
    let obs =
        Observed { now: input.now, trigger: input.rotate_trigger, leaves_current, members: input.members.clone() };
    let transition =
        if created { Transition::Stay { waiting_for: None } } else { rotation::decide(&ca, &input.ca_policy, &obs) };
    let next = rotation::apply(&ca, &transition, input.ca_name, &input.ca_policy, &obs)?;
    let write_ca = created || next != ca;

    let mut leaves = input.leaves.clone();
    let mut leaf_writes = Vec::new();
    for (purpose, spec) in &input.specs {
        let existing = input.leaves.get(purpose);
        let action = leaves::action(existing, spec, &next, input.now, &input.leaf_policy, input.renew_trigger);
        if let Some(rec) =
            leaves::render(action, existing, spec, &next, input.now, &input.leaf_policy, input.renew_trigger)?
        {
            leaves.insert(*purpose, rec);
            leaf_writes.push((*purpose, action));
        }
    }
    Ok(AutoPlan { ca: next, write_ca, transition, leaves, leaf_writes })
}

/// A Kubernetes time from Unix seconds.
pub fn time(secs: i64) -> Option<Time> {
    Timestamp::from_second(secs).ok().map(Time)
}

/// The status entry of one certificate.
pub fn cert_status(purpose: &str, secret: &str, info: &CertInfo) -> CertificateStatus {
    CertificateStatus {
        purpose: purpose.to_string(),
        secret: secret.to_string(),
        subject: info.subject.clone(),
        serial: info.serial.clone(),
        fingerprint: info.fingerprint.clone(),
        not_after: time(info.not_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::tests::{DAY, NOW, spec};
    use crate::tls::rotation::Phase;

    fn input<'a>(ca: Option<CaRecord>, leaves: BTreeMap<Purpose, LeafRecord>, now: i64) -> AutoInput<'a> {
        let (ca_policy, leaf_policy) = policies(None).unwrap();
        AutoInput {
            ca,
            leaves,
            specs: Purpose::ALL.into_iter().map(|p| (p, spec(p))).collect(),
            ca_name: "capstan-ca",
            ca_policy,
            leaf_policy,
            now,
            rotate_trigger: None,
            renew_trigger: None,
            members: Ok(()),
        }
    }

    #[test]
    fn default_policies_are_a_year_and_thirty_days() {
        let (ca, leaf) = policies(None).unwrap();
        assert_eq!((leaf.validity, leaf.renew_before), (365 * DAY, 30 * DAY));
        assert_eq!((ca.validity, ca.renew_before, ca.settle), (3650 * DAY, 365 * DAY, 120));
    }

    #[test]
    fn first_plan_creates_everything_then_nothing_changes() {
        let plan = plan_auto(input(None, BTreeMap::new(), NOW)).unwrap();
        assert!(plan.write_ca);
        assert_eq!(plan.leaf_writes.len(), 3);
        assert!(plan.leaves.values().all(|l| l.current(&plan.ca)));
        let again = plan_auto(input(Some(plan.ca.clone()), plan.leaves.clone(), NOW + 60)).unwrap();
        assert!(!again.write_ca);
        assert!(again.leaf_writes.is_empty());
    }

    #[test]
    fn rotation_rewrites_bundles_then_leaves_then_bundles() {
        let first = plan_auto(input(None, BTreeMap::new(), NOW)).unwrap();
        let mut i = input(Some(first.ca.clone()), first.leaves.clone(), NOW + 10);
        i.rotate_trigger = Some("now");
        let trusting = plan_auto(i).unwrap();
        assert_eq!(trusting.ca.phase, Phase::Trusting);
        assert!(trusting.leaf_writes.iter().all(|(_, a)| *a == LeafAction::Rebundle));
        assert_eq!(trusting.leaf_writes.len(), 3);

        let mut i = input(Some(trusting.ca.clone()), trusting.leaves.clone(), NOW + 10 + 120);
        i.rotate_trigger = Some("now");
        let reissuing = plan_auto(i).unwrap();
        assert_eq!(reissuing.ca.phase, Phase::Reissuing);
        assert!(reissuing.leaf_writes.iter().all(|(_, a)| *a == LeafAction::Issue(leaves::IssueReason::NewIssuer)));

        // Members not yet serving the new leaves: the phase holds.
        let mut i = input(Some(reissuing.ca.clone()), reissuing.leaves.clone(), NOW + 10 + 240);
        i.members = Err("demo-1 to serve".into());
        let held = plan_auto(i).unwrap();
        assert_eq!((held.ca.phase, held.write_ca), (Phase::Reissuing, false));

        let dropping = plan_auto(input(Some(reissuing.ca.clone()), reissuing.leaves.clone(), NOW + 10 + 240)).unwrap();
        assert_eq!(dropping.ca.phase, Phase::Dropping);
        assert!(dropping.leaf_writes.iter().all(|(_, a)| *a == LeafAction::Rebundle));
        assert_eq!(pki::parse_pem(&dropping.leaves[&Purpose::Peer].bundle_pem).unwrap().len(), 1);
    }
}
