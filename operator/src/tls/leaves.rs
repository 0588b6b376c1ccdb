//! Leaf certificates of mode `auto` (server, peer, client): when to issue,
//! re-issue, or only refresh the CA bundle of each. Pure.
//!
//! A leaf Secret carries cert-manager's keys (`tls.crt`, `tls.key`,
//! `ca.crt`) so that users and tools treat both modes alike, and an
//! annotation with the last `capstan.dev/renew-certs` value it answered.

use std::collections::BTreeMap;

use super::pki::{self, CertInfo, KeyedCert, LeafSpec, PkiError};
use super::rotation::CaRecord;

/// Annotation of a leaf Secret: the last `capstan.dev/renew-certs` value acted on.
pub const RENEW_HANDLED_ANNOTATION: &str = "capstan.dev/renew-certs-handled";
/// Leaves are back-dated by this much, for members whose clocks lag.
const BACKDATE: i64 = 300;

/// A leaf Secret as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRecord {
    /// Certificate and key (PEM).
    pub keyed: KeyedCert,
    /// The parsed certificate.
    pub info: CertInfo,
    /// The `ca.crt` bundle, as stored.
    pub bundle_pem: String,
    /// The last `renew-certs` value acted on.
    pub handled_renew: Option<String>,
}

impl LeafRecord {
    /// Reads a leaf Secret; `None` when it is missing a key, does not parse,
    /// or its key is not the certificate's (a half-written Secret).
    pub fn read(data: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Option<LeafRecord> {
        let cert_pem = data.get("tls.crt")?;
        let key_pem = data.get("tls.key")?;
        let info = pki::parse_first(cert_pem).ok()?;
        if !pki::key_matches(&info, key_pem) {
            return None;
        }
        Some(LeafRecord {
            keyed: KeyedCert { cert_pem: cert_pem.clone(), key_pem: key_pem.clone() },
            info,
            bundle_pem: data.get("ca.crt").cloned().unwrap_or_default(),
            handled_renew: annotations.get(RENEW_HANDLED_ANNOTATION).cloned(),
        })
    }

    /// Holds the record's bundle and a leaf its signing CA issued.
    pub fn current(&self, ca: &CaRecord) -> bool {
        self.bundle_pem == ca.bundle_pem() && self.info.signed_by(&ca.signing.info)
    }
}

/// Why a leaf is (re-)issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueReason {
    /// No usable certificate in the Secret.
    Missing,
    /// The signing CA changed (CA rotation).
    NewIssuer,
    /// Names or usages differ from what the cluster needs.
    Changed,
    /// Within `renewBefore` of expiry.
    Expiring,
    /// Asked for through `capstan.dev/renew-certs`.
    Requested,
}

impl IssueReason {
    /// Text for Events and logs.
    pub fn text(self) -> &'static str {
        match self {
            IssueReason::Missing => "no valid certificate",
            IssueReason::NewIssuer => "the CA was rotated",
            IssueReason::Changed => "names or usages changed",
            IssueReason::Expiring => "close to expiry",
            IssueReason::Requested => "renewal requested",
        }
    }
}

/// What to do with one leaf Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafAction {
    /// Nothing.
    Keep,
    /// Keep the certificate, write the current CA bundle.
    Rebundle,
    /// Issue a new certificate.
    Issue(IssueReason),
}

/// Lifetimes of leaves, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafPolicy {
    /// Lifetime of a new leaf.
    pub validity: i64,
    /// Re-issue when less than this is left.
    pub renew_before: i64,
}

/// The validity window of a leaf issued now: back-dated a little, and never
/// past the signing CA's own expiry.
pub fn window(ca: &CaRecord, now: i64, policy: &LeafPolicy) -> (i64, i64) {
    (now - BACKDATE, (now + policy.validity).min(ca.signing.info.not_after))
}

/// Decides what to do with one leaf. Pure.
pub fn action(
    existing: Option<&LeafRecord>,
    spec: &LeafSpec,
    ca: &CaRecord,
    now: i64,
    policy: &LeafPolicy,
    renew_trigger: Option<&str>,
) -> LeafAction {
    let Some(leaf) = existing else { return LeafAction::Issue(IssueReason::Missing) };
    if now >= leaf.info.not_after {
        return LeafAction::Issue(IssueReason::Missing);
    }
    if !leaf.info.signed_by(&ca.signing.info) {
        return LeafAction::Issue(IssueReason::NewIssuer);
    }
    if !leaf.info.matches(spec) {
        return LeafAction::Issue(IssueReason::Changed);
    }
    if let Some(t) = renew_trigger
        && leaf.handled_renew.as_deref() != Some(t)
    {
        return LeafAction::Issue(IssueReason::Requested);
    }
    // Near the CA's own expiry a new leaf would not live longer: renewing
    // then would only churn (the CA rotation fixes that instead).
    let (_, not_after) = window(ca, now, policy);
    if leaf.info.not_after - now < policy.renew_before && not_after > leaf.info.not_after + 60 {
        return LeafAction::Issue(IssueReason::Expiring);
    }
    if leaf.bundle_pem != ca.bundle_pem() {
        return LeafAction::Rebundle;
    }
    LeafAction::Keep
}

/// The data and annotations a leaf Secret should hold after `action`, or
/// `None` for [`LeafAction::Keep`].
pub fn render(
    action: LeafAction,
    existing: Option<&LeafRecord>,
    spec: &LeafSpec,
    ca: &CaRecord,
    now: i64,
    policy: &LeafPolicy,
    renew_trigger: Option<&str>,
) -> Result<Option<LeafRecord>, PkiError> {
    let keyed = match (action, existing) {
        (LeafAction::Keep, _) => return Ok(None),
        (LeafAction::Rebundle, Some(leaf)) => leaf.keyed.clone(),
        _ => {
            let (nb, na) = window(ca, now, policy);
            pki::issue(&ca.signing.keyed, spec, nb, na)?
        }
    };
    let info = pki::parse_first(&keyed.cert_pem)?;
    // A renewal answers the trigger in force, whatever caused it.
    let handled_renew = match action {
        LeafAction::Rebundle => existing.and_then(|l| l.handled_renew.clone()),
        _ => renew_trigger.map(str::to_string),
    };
    Ok(Some(LeafRecord { keyed, info, bundle_pem: ca.bundle_pem(), handled_renew }))
}

impl LeafRecord {
    /// The Secret's data.
    pub fn data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("tls.crt".to_string(), self.keyed.cert_pem.clone()),
            ("tls.key".to_string(), self.keyed.key_pem.clone()),
            ("ca.crt".to_string(), self.bundle_pem.clone()),
        ])
    }

    /// The Secret's annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.handled_renew.iter().map(|t| (RENEW_HANDLED_ANNOTATION.to_string(), t.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::Purpose;
    use crate::tls::pki::tests::{DAY, NOW, spec};
    use crate::tls::rotation::{CaPolicy, Observed, Transition, apply};

    const CA: CaPolicy = CaPolicy { validity: 3650 * DAY, renew_before: 365 * DAY, settle: 60 };
    const LEAF: LeafPolicy = LeafPolicy { validity: 365 * DAY, renew_before: 30 * DAY };

    fn issued(ca: &CaRecord, s: &LeafSpec, now: i64, trigger: Option<&str>) -> LeafRecord {
        let r = render(LeafAction::Issue(IssueReason::Missing), None, s, ca, now, &LEAF, trigger).unwrap().unwrap();
        LeafRecord::read(&r.data(), &r.annotations()).unwrap()
    }

    #[test]
    fn missing_then_kept_until_renew_before() {
        let ca = CaRecord::create("ca", NOW, &CA, None).unwrap();
        let s = spec(Purpose::Server);
        assert_eq!(action(None, &s, &ca, NOW, &LEAF, None), LeafAction::Issue(IssueReason::Missing));
        let leaf = issued(&ca, &s, NOW, None);
        assert_eq!(leaf.info.not_before, NOW - 300);
        assert_eq!(leaf.info.not_after, NOW + 365 * DAY);
        assert!(leaf.current(&ca));
        assert_eq!(action(Some(&leaf), &s, &ca, NOW + 334 * DAY, &LEAF, None), LeafAction::Keep);
        assert_eq!(
            action(Some(&leaf), &s, &ca, NOW + 336 * DAY, &LEAF, None),
            LeafAction::Issue(IssueReason::Expiring)
        );
        assert_eq!(action(Some(&leaf), &s, &ca, NOW + 366 * DAY, &LEAF, None), LeafAction::Issue(IssueReason::Missing));
    }

    #[test]
    fn names_trigger_and_bundle_changes() {
        let ca = CaRecord::create("ca", NOW, &CA, None).unwrap();
        let s = spec(Purpose::Peer);
        let leaf = issued(&ca, &s, NOW, Some("t1"));
        assert_eq!(leaf.handled_renew.as_deref(), Some("t1"));
        let mut wider = s.clone();
        wider.dns_names.insert("demo-5.demo-peers.ns.svc".into());
        assert_eq!(action(Some(&leaf), &wider, &ca, NOW, &LEAF, None), LeafAction::Issue(IssueReason::Changed));
        assert_eq!(action(Some(&leaf), &s, &ca, NOW, &LEAF, Some("t1")), LeafAction::Keep);
        assert_eq!(action(Some(&leaf), &s, &ca, NOW, &LEAF, Some("t2")), LeafAction::Issue(IssueReason::Requested));

        // A rotation's first phase only changes the bundle; its second the issuer.
        let obs = Observed { now: NOW, trigger: Some("r"), leaves_current: true, members: Ok(()) };
        let trusting = apply(&ca, &Transition::Start { reason: String::new() }, "ca", &CA, &obs).unwrap();
        assert_eq!(action(Some(&leaf), &s, &trusting, NOW, &LEAF, None), LeafAction::Rebundle);
        let r = render(LeafAction::Rebundle, Some(&leaf), &s, &trusting, NOW, &LEAF, None).unwrap().unwrap();
        assert_eq!(r.keyed, leaf.keyed);
        assert_eq!(r.handled_renew.as_deref(), Some("t1"));
        assert_eq!(crate::tls::pki::parse_pem(&r.bundle_pem).unwrap().len(), 2);
        let reissuing = apply(&trusting, &Transition::Promote, "ca", &CA, &obs).unwrap();
        assert_eq!(action(Some(&r), &s, &reissuing, NOW, &LEAF, None), LeafAction::Issue(IssueReason::NewIssuer));
        let new = issued(&reissuing, &s, NOW, None);
        assert!(new.info.signed_by(&reissuing.signing.info));
        assert!(new.current(&reissuing));
        assert!(!r.current(&reissuing));
    }

    #[test]
    fn leaves_never_outlive_the_ca_and_do_not_churn_near_its_end() {
        let ca = CaRecord::create("ca", NOW, &CaPolicy { validity: 100 * DAY, ..CA }, None).unwrap();
        let s = spec(Purpose::Client);
        let leaf = issued(&ca, &s, NOW, None);
        assert_eq!(leaf.info.not_after, ca.signing.info.not_after);
        // Within renewBefore of its expiry, but a new leaf would end at the same time.
        assert_eq!(action(Some(&leaf), &s, &ca, NOW + 80 * DAY, &LEAF, None), LeafAction::Keep);
    }

    #[test]
    fn half_written_secrets_are_not_leaves() {
        let ca = CaRecord::create("ca", NOW, &CA, None).unwrap();
        let a = issued(&ca, &spec(Purpose::Server), NOW, None);
        let b = issued(&ca, &spec(Purpose::Server), NOW, None);
        let mut data = a.data();
        data.insert("tls.key".into(), b.keyed.key_pem.clone());
        assert_eq!(LeafRecord::read(&data, &BTreeMap::new()), None);
        data.remove("tls.key");
        assert_eq!(LeafRecord::read(&data, &BTreeMap::new()), None);
    }
}
