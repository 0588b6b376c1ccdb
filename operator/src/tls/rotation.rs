//! The operator's CA (mode `auto`) and its rotation, as a pure state machine.
//!
//! The CA Secret is the record: it holds the signing CA (`tls.crt`,
//! `tls.key`), the trust bundle every member and client gets (`ca.crt`), the
//! next CA while it is being introduced (`next.crt`, `next.key`) and, in
//! annotations, the phase, when it started and the last `capstan.dev/rotate-ca`
//! value acted on. Each transition is one write of that Secret, so an
//! operator restarted at any point reads the phase back and carries on;
//! `status.tls` only mirrors it (a status can be lost or stale, the keys
//! cannot be).
//!
//! Rotation never makes a member see a certificate it does not trust:
//! 1. `Trusting`: a new CA is generated and appended to every bundle; leaves
//!    are still issued by the old CA. Ends once the settle period has passed,
//!    every leaf Secret carries the new bundle and every member's peer (and,
//!    with client certificate auth, client) listener accepts a certificate
//!    issued by the new CA, which proves it loaded the new bundle.
//! 2. `Reissuing`: the new CA signs; every leaf is re-issued from it (the
//!    bundle still holds both CAs, so old and new leaves are trusted
//!    everywhere). Ends once the settle period has passed and every member
//!    serves new leaves on both ports.
//! 3. `Dropping`: the old CA leaves the bundles. Ends after the settle period.

use std::collections::BTreeMap;

use super::pki::{self, CertInfo, KeyedCert, PkiError};

/// Annotation of the CA Secret: the rotation phase (absent when idle).
pub const PHASE_ANNOTATION: &str = "capstan.dev/ca-rotation-phase";
/// Annotation of the CA Secret: when the phase started (Unix seconds).
pub const SINCE_ANNOTATION: &str = "capstan.dev/ca-rotation-since";
/// Annotation of the CA Secret: the last `capstan.dev/rotate-ca` value acted on.
pub const HANDLED_ANNOTATION: &str = "capstan.dev/rotate-ca-handled";

/// Phase of a CA rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No rotation under way: one CA, trusted and signing.
    Idle,
    /// The next CA is in every bundle; the old one still signs.
    Trusting,
    /// The new CA signs; both are trusted.
    Reissuing,
    /// Only the new CA is trusted; waiting for the bundles to propagate.
    Dropping,
}

impl Phase {
    /// Name used in annotations, status and Events.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "Idle",
            Phase::Trusting => "Trusting",
            Phase::Reissuing => "Reissuing",
            Phase::Dropping => "Dropping",
        }
    }

    fn parse(s: &str) -> Option<Phase> {
        [Phase::Idle, Phase::Trusting, Phase::Reissuing, Phase::Dropping].into_iter().find(|p| p.name() == s)
    }
}

/// Why a CA Secret cannot be used as it is. The operator then changes
/// nothing: overwriting a CA that members trust would cut them off.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// A required key is missing.
    #[error("the CA Secret lacks {0}")]
    Missing(&'static str),
    /// A certificate does not parse.
    #[error("the CA Secret's {0}: {1}")]
    Certificate(&'static str, PkiError),
    /// A key does not belong to its certificate, or a certificate is no CA.
    #[error("the CA Secret's {0} is not a CA with its key")]
    NotACa(&'static str),
    /// The annotations contradict the data.
    #[error("the CA Secret's rotation record is inconsistent: {0}")]
    Inconsistent(String),
}

/// A CA certificate with its key, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ca {
    /// PEM certificate and key.
    pub keyed: KeyedCert,
    /// The parsed certificate.
    pub info: CertInfo,
}

impl Ca {
    fn read(cert: Option<&String>, key: Option<&String>, what: &'static str) -> Result<Ca, RecordError> {
        let cert = cert.ok_or(RecordError::Missing(what))?;
        let key = key.ok_or(RecordError::Missing(what))?;
        let info = pki::parse_first(cert).map_err(|e| RecordError::Certificate(what, e))?;
        if !info.is_ca || !pki::key_matches(&info, key) {
            return Err(RecordError::NotACa(what));
        }
        Ok(Ca { keyed: KeyedCert { cert_pem: cert.clone(), key_pem: key.clone() }, info })
    }

    /// A new CA for the cluster `label`, valid from `now` for `validity` seconds.
    pub fn generate(label: &str, now: i64, validity: i64) -> Result<Ca, PkiError> {
        // Back-dated by five minutes: a member whose clock is a little behind
        // must not see a certificate from the future.
        let keyed = pki::new_ca(label, now - 300, now + validity)?;
        let info = pki::parse_first(&keyed.cert_pem)?;
        Ok(Ca { keyed, info })
    }
}

/// Everything the CA Secret records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaRecord {
    /// The CA that issues leaves now.
    pub signing: Ca,
    /// The CA being introduced (phase `Trusting` only).
    pub next: Option<Ca>,
    /// Every CA members and clients trust now (the bundle), in order.
    pub trusted: Vec<CertInfo>,
    /// Rotation phase.
    pub phase: Phase,
    /// When the phase started (Unix seconds).
    pub since: i64,
    /// The last `capstan.dev/rotate-ca` value acted on.
    pub handled_trigger: Option<String>,
}

/// Settings of the CA's lifetime and rotation, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaPolicy {
    /// Lifetime of a new CA.
    pub validity: i64,
    /// Rotate when the signing CA has less than this left.
    pub renew_before: i64,
    /// Least duration of each rotation phase.
    pub settle: i64,
}

impl CaRecord {
    /// A fresh record: a new CA, trusted and signing. `trigger` (the current
    /// `rotate-ca` annotation, if any) counts as handled, so creating a
    /// cluster that carries the annotation does not rotate at once.
    pub fn create(common_name: &str, now: i64, policy: &CaPolicy, trigger: Option<&str>) -> Result<CaRecord, PkiError> {
        let signing = Ca::generate(common_name, now, policy.validity)?;
        Ok(CaRecord {
            trusted: vec![signing.info.clone()],
            signing,
            next: None,
            phase: Phase::Idle,
            since: now,
            handled_trigger: trigger.map(str::to_string),
        })
    }

    /// Reads the record from the Secret's data (as UTF-8 text) and annotations.
    pub fn read(
        data: &BTreeMap<String, String>,
        annotations: &BTreeMap<String, String>,
    ) -> Result<CaRecord, RecordError> {
        let signing = Ca::read(data.get("tls.crt"), data.get("tls.key"), "tls.crt/tls.key")?;
        let next = match (data.get("next.crt"), data.get("next.key")) {
            (None, None) => None,
            (cert, key) => Some(Ca::read(cert, key, "next.crt/next.key")?),
        };
        let trusted = pki::parse_pem(data.get("ca.crt").ok_or(RecordError::Missing("ca.crt"))?)
            .map_err(|e| RecordError::Certificate("ca.crt", e))?;
        let phase = match annotations.get(PHASE_ANNOTATION) {
            None => Phase::Idle,
            Some(p) => Phase::parse(p).ok_or_else(|| RecordError::Inconsistent(format!("unknown phase {p:?}")))?,
        };
        let since = annotations.get(SINCE_ANNOTATION).and_then(|s| s.parse().ok()).unwrap_or(0);
        let record = CaRecord {
            signing,
            next,
            trusted,
            phase,
            since,
            handled_trigger: annotations.get(HANDLED_ANNOTATION).cloned(),
        };
        record.check()?;
        Ok(record)
    }

    fn trusts(&self, ca: &CertInfo) -> bool {
        self.trusted.iter().any(|c| c.fingerprint == ca.fingerprint)
    }

    /// The invariants each phase keeps; a record breaking them was not
    /// written by this operator.
    fn check(&self) -> Result<(), RecordError> {
        let bad = |m: &str| Err(RecordError::Inconsistent(m.to_string()));
        if !self.trusts(&self.signing.info) {
            return bad("the signing CA is not in the bundle");
        }
        match (self.phase, &self.next) {
            (Phase::Trusting, None) => bad("phase Trusting without a next CA"),
            (Phase::Trusting, Some(next)) if !self.trusts(&next.info) => bad("the next CA is not in the bundle"),
            (Phase::Idle | Phase::Reissuing | Phase::Dropping, Some(_)) => bad("a next CA outside phase Trusting"),
            _ => Ok(()),
        }
    }

    /// The trust bundle (PEM).
    pub fn bundle_pem(&self) -> String {
        pki::bundle(&self.trusted)
    }

    /// The Secret's data.
    pub fn data(&self) -> BTreeMap<String, String> {
        let mut data = BTreeMap::from([
            ("tls.crt".to_string(), self.signing.keyed.cert_pem.clone()),
            ("tls.key".to_string(), self.signing.keyed.key_pem.clone()),
            ("ca.crt".to_string(), self.bundle_pem()),
        ]);
        if let Some(next) = &self.next {
            data.insert("next.crt".into(), next.keyed.cert_pem.clone());
            data.insert("next.key".into(), next.keyed.key_pem.clone());
        }
        data
    }

    /// The Secret's annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut a = BTreeMap::from([(SINCE_ANNOTATION.to_string(), self.since.to_string())]);
        if self.phase != Phase::Idle {
            a.insert(PHASE_ANNOTATION.into(), self.phase.name().into());
        }
        if let Some(t) = &self.handled_trigger {
            a.insert(HANDLED_ANNOTATION.into(), t.clone());
        }
        a
    }
}

/// What must be checked on the members before the current phase may end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberCheck {
    /// Nothing (idle, settling, or the phase needs no check).
    None,
    /// Every member accepts a client certificate issued by this CA.
    Trusts(Ca),
    /// Every member serves leaves issued by this CA on both ports.
    Serves(CertInfo),
}

/// What the reconcile found that the phase may depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed<'a> {
    /// Unix seconds now.
    pub now: i64,
    /// The `capstan.dev/rotate-ca` annotation.
    pub trigger: Option<&'a str>,
    /// Every leaf Secret holds the current bundle and a leaf from the
    /// signing CA (as read at the start of this reconcile).
    pub leaves_current: bool,
    /// Result of [`member_check`]: `Ok` when it passed (or none was
    /// needed), `Err(what is missing)` otherwise.
    pub members: Result<(), String>,
}

/// A change of the record, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// No change; `waiting_for` says what the phase waits for.
    Stay {
        /// What the phase still waits for (`None` when idle).
        waiting_for: Option<String>,
    },
    /// Start a rotation (Idle → Trusting).
    Start {
        /// Why: the trigger annotation or the CA's expiry.
        reason: String,
    },
    /// The next CA starts signing (Trusting → Reissuing).
    Promote,
    /// The old CA leaves the bundle (Reissuing → Dropping).
    Drop,
    /// Rotation done (Dropping → Idle).
    Finish,
}

/// The member check the current phase needs, once its settle period has
/// passed (checks cost a TLS handshake per member and port, so they are not
/// made before they can matter).
pub fn member_check(rec: &CaRecord, now: i64, policy: &CaPolicy) -> MemberCheck {
    if now - rec.since < policy.settle {
        return MemberCheck::None;
    }
    match (rec.phase, &rec.next) {
        (Phase::Trusting, Some(next)) => MemberCheck::Trusts(next.clone()),
        (Phase::Reissuing, _) => MemberCheck::Serves(rec.signing.info.clone()),
        _ => MemberCheck::None,
    }
}

/// Decides the next transition. Pure.
pub fn decide(rec: &CaRecord, policy: &CaPolicy, obs: &Observed<'_>) -> Transition {
    let settled = obs.now - rec.since >= policy.settle;
    let wait = |what: String| Transition::Stay { waiting_for: Some(what) };
    let gate = |next: Transition, leaves_what: &str| {
        if !settled {
            wait(format!("the settle period ({} s) to pass", policy.settle - (obs.now - rec.since)))
        } else if !obs.leaves_current {
            wait(format!("the leaf Secrets to {leaves_what}"))
        } else if let Err(what) = &obs.members {
            wait(what.clone())
        } else {
            next
        }
    };
    match rec.phase {
        Phase::Idle => {
            if let Some(t) = obs.trigger
                && rec.handled_trigger.as_deref() != Some(t)
            {
                return Transition::Start {
                    reason: format!("requested by the capstan.dev/rotate-ca annotation ({t})"),
                };
            }
            let left = rec.signing.info.not_after - obs.now;
            if left < policy.renew_before {
                return Transition::Start { reason: format!("the CA expires in {} h", left.max(0) / 3600) };
            }
            Transition::Stay { waiting_for: None }
        }
        Phase::Trusting => gate(Transition::Promote, "carry the new CA in their bundle"),
        Phase::Reissuing => gate(Transition::Drop, "hold leaves issued by the new CA"),
        Phase::Dropping => gate(Transition::Finish, "drop the old CA from their bundle"),
    }
}

/// Applies a transition to the record. Only `Start` generates a key.
pub fn apply(
    rec: &CaRecord,
    t: &Transition,
    common_name: &str,
    policy: &CaPolicy,
    obs: &Observed<'_>,
) -> Result<CaRecord, PkiError> {
    let mut out = rec.clone();
    let now = obs.now;
    match t {
        Transition::Stay { .. } => return Ok(out),
        Transition::Start { .. } => {
            let next = Ca::generate(common_name, now, policy.validity)?;
            out.trusted.push(next.info.clone());
            out.next = Some(next);
            out.phase = Phase::Trusting;
            if let Some(trigger) = obs.trigger {
                out.handled_trigger = Some(trigger.to_string());
            }
        }
        Transition::Promote => {
            let Some(next) = out.next.take() else { return Ok(rec.clone()) };
            out.signing = next;
            out.phase = Phase::Reissuing;
        }
        Transition::Drop => {
            out.trusted = vec![out.signing.info.clone()];
            out.phase = Phase::Dropping;
        }
        Transition::Finish => out.phase = Phase::Idle,
    }
    out.since = now;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::tests::{DAY, NOW};

    const POLICY: CaPolicy = CaPolicy { validity: 3650 * DAY, renew_before: 365 * DAY, settle: 120 };

    fn obs(now: i64) -> Observed<'static> {
        Observed { now, trigger: None, leaves_current: true, members: Ok(()) }
    }

    fn round_trip(rec: &CaRecord) -> CaRecord {
        CaRecord::read(&rec.data(), &rec.annotations()).unwrap()
    }

    #[test]
    fn a_fresh_record_is_idle_and_round_trips() {
        let rec = CaRecord::create("ca", NOW, &POLICY, Some("t0")).unwrap();
        assert_eq!(rec.phase, Phase::Idle);
        assert_eq!(rec.trusted, std::slice::from_ref(&rec.signing.info));
        assert_eq!(round_trip(&rec), rec);
        assert!(!rec.annotations().contains_key(PHASE_ANNOTATION));
        // The trigger present at creation is not a request to rotate.
        let o = Observed { trigger: Some("t0"), ..obs(NOW + 10) };
        assert_eq!(decide(&rec, &POLICY, &o), Transition::Stay { waiting_for: None });
    }

    #[test]
    fn full_rotation_walks_three_phases_and_resumes_from_the_secret() {
        let rec = CaRecord::create("ca", NOW, &POLICY, None).unwrap();
        let old = rec.signing.info.clone();
        let o = Observed { trigger: Some("2026-01-01T00:00:00Z"), ..obs(NOW + 1000) };
        let t = decide(&rec, &POLICY, &o);
        assert!(matches!(t, Transition::Start { ref reason } if reason.contains("rotate-ca")), "{t:?}");
        let rec = round_trip(&apply(&rec, &t, "ca", &POLICY, &o).unwrap());
        assert_eq!(rec.phase, Phase::Trusting);
        let new = rec.next.clone().unwrap().info;
        assert_eq!(rec.signing.info, old, "the old CA still signs while the new one is being trusted");
        assert_eq!(rec.trusted, [old.clone(), new.clone()]);
        assert_eq!(rec.handled_trigger.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(member_check(&rec, NOW + 1000 + 119, &POLICY), MemberCheck::None, "settling");
        assert_eq!(member_check(&rec, NOW + 1000 + 120, &POLICY), MemberCheck::Trusts(rec.next.clone().unwrap()));

        // Trusting → Reissuing only once settled, leaves current and members checked.
        let at = NOW + 1000 + 120;
        assert!(matches!(decide(&rec, &POLICY, &obs(at - 1)), Transition::Stay { .. }));
        let not_current = Observed { leaves_current: false, ..obs(at) };
        assert!(
            matches!(decide(&rec, &POLICY, &not_current), Transition::Stay { waiting_for: Some(w) } if w.contains("bundle"))
        );
        let member_missing = Observed { members: Err("demo-2 to trust the new CA".into()), ..obs(at) };
        assert_eq!(
            decide(&rec, &POLICY, &member_missing),
            Transition::Stay { waiting_for: Some("demo-2 to trust the new CA".into()) }
        );
        let t = decide(&rec, &POLICY, &obs(at));
        assert_eq!(t, Transition::Promote);
        let rec = round_trip(&apply(&rec, &t, "ca", &POLICY, &obs(at)).unwrap());
        assert_eq!((rec.phase, rec.signing.info.clone(), rec.next.clone()), (Phase::Reissuing, new.clone(), None));
        assert_eq!(rec.trusted, [old.clone(), new.clone()], "both trusted while leaves are re-issued");
        assert_eq!(member_check(&rec, at + 120, &POLICY), MemberCheck::Serves(new.clone()));

        // Reissuing → Dropping.
        let at = at + 120;
        let t = decide(&rec, &POLICY, &obs(at));
        assert_eq!(t, Transition::Drop);
        let rec = round_trip(&apply(&rec, &t, "ca", &POLICY, &obs(at)).unwrap());
        assert_eq!((rec.phase, rec.trusted.clone()), (Phase::Dropping, vec![new.clone()]));
        assert_eq!(member_check(&rec, at + 120, &POLICY), MemberCheck::None);

        // Dropping → Idle; the same trigger value does not start again.
        let at = at + 120;
        let t = decide(&rec, &POLICY, &obs(at));
        assert_eq!(t, Transition::Finish);
        let rec = round_trip(&apply(&rec, &t, "ca", &POLICY, &obs(at)).unwrap());
        assert_eq!(rec.phase, Phase::Idle);
        let same = Observed { trigger: Some("2026-01-01T00:00:00Z"), ..obs(at + 500) };
        assert_eq!(decide(&rec, &POLICY, &same), Transition::Stay { waiting_for: None });
        let newer = Observed { trigger: Some("2026-02-01T00:00:00Z"), ..obs(at + 500) };
        assert!(matches!(decide(&rec, &POLICY, &newer), Transition::Start { .. }));
    }

    #[test]
    fn an_expiring_ca_starts_a_rotation_by_itself() {
        let rec = CaRecord::create("ca", NOW, &POLICY, None).unwrap();
        let expiry = rec.signing.info.not_after;
        assert_eq!(
            decide(&rec, &POLICY, &obs(expiry - POLICY.renew_before - 1)),
            Transition::Stay { waiting_for: None }
        );
        let t = decide(&rec, &POLICY, &obs(expiry - POLICY.renew_before + 3600));
        assert!(matches!(t, Transition::Start { ref reason } if reason.contains("expires")), "{t:?}");
    }

    #[test]
    fn inconsistent_secrets_are_refused_not_overwritten() {
        let rec = CaRecord::create("ca", NOW, &POLICY, None).unwrap();
        let other = CaRecord::create("ca", NOW, &POLICY, None).unwrap();
        let mut data = rec.data();
        data.insert("tls.key".into(), other.signing.keyed.key_pem.clone());
        assert_eq!(CaRecord::read(&data, &rec.annotations()), Err(RecordError::NotACa("tls.crt/tls.key")));
        let mut data = rec.data();
        data.insert("ca.crt".into(), other.bundle_pem());
        assert!(matches!(CaRecord::read(&data, &rec.annotations()), Err(RecordError::Inconsistent(_))));
        let mut ann = rec.annotations();
        ann.insert(PHASE_ANNOTATION.into(), "Trusting".into());
        assert!(matches!(CaRecord::read(&rec.data(), &ann), Err(RecordError::Inconsistent(_))));
        ann.insert(PHASE_ANNOTATION.into(), "Sideways".into());
        assert!(matches!(CaRecord::read(&rec.data(), &ann), Err(RecordError::Inconsistent(_))));
        let mut data = rec.data();
        data.remove("ca.crt");
        assert_eq!(CaRecord::read(&data, &rec.annotations()), Err(RecordError::Missing("ca.crt")));
    }
}
