//! `spec.tls` and `status.tls`: TLS for client and peer traffic.
//!
//! Two modes, both mutual TLS between members:
//! * `auto`: the operator is the certificate authority. It keeps a CA
//!   (ECDSA P-256) and the server, peer and client certificates in Secrets,
//!   renews leaf certificates before they expire and rotates the CA in three
//!   phases, without restarting a member (Capstan re-reads its certificate
//!   files when kubelet swaps them).
//! * `secrets`: the user (or cert-manager) provides the Secrets; the operator
//!   mounts them, watches them and reports their expiry.
//!
//! TLS is chosen when the cluster is created: adding or removing `spec.tls`
//! later, or changing its mode, is refused by the schema (see
//! [`crate::crd::EtcdClusterSpec`]), because every member's listen and
//! advertised URLs would change scheme at once and a half-switched cluster
//! cannot talk to itself.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Annotation on an `EtcdCluster`: any new value starts a CA rotation (mode
/// `auto`). A timestamp is the usual value; the operator records the last
/// value it acted on in the CA Secret, so the same value never acts twice.
pub const ROTATE_CA_ANNOTATION: &str = "capstan.dev/rotate-ca";
/// Annotation on an `EtcdCluster`: any new value re-issues every leaf
/// certificate now (mode `auto`), recorded per leaf Secret.
pub const RENEW_CERTS_ANNOTATION: &str = "capstan.dev/renew-certs";

/// Where certificates come from.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// The operator generates, renews and rotates everything.
    Auto,
    /// Secrets named in `tls.secrets` are mounted as they are.
    Secrets,
}

/// TLS for client and peer traffic; absent means plain text.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("self.mode == 'secrets' ? has(self.secrets) : !has(self.secrets)").message("tls.secrets is required with mode secrets and not allowed with mode auto"))]
#[x_kube(validation = Rule::new("self.mode == 'auto' || !has(self.auto)").message("tls.auto is only allowed with mode auto"))]
#[x_kube(validation = Rule::new("!has(self.secrets) || (has(self.clientCertAuth) && !self.clientCertAuth) || has(self.secrets.client)").message("tls.secrets.client is required when clientCertAuth is true: the operator needs a client certificate to manage members"))]
#[x_kube(validation = Rule::new("self.mode == oldSelf.mode").message("tls.mode cannot change on an existing cluster"))]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// `auto` (the operator is the CA) or `secrets` (bring your own).
    pub mode: TlsMode,

    /// Lifetimes for mode `auto`; defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoTls>,

    /// Secrets for mode `secrets`, each with cert-manager's keys `tls.crt`,
    /// `tls.key` and `ca.crt` (the CA bundle: several CAs may be
    /// concatenated, which is how a CA is rotated by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<TlsSecrets>,

    /// Require and verify client certificates on the client port (peers
    /// always authenticate each other). With it, the certificate's CN is the
    /// user once auth is enabled, as in etcd.
    #[serde(default = "default_true")]
    pub client_cert_auth: bool,
}

fn default_true() -> bool {
    true
}

/// Lifetimes of the operator's certificates, as Go durations (`8760h`, `90m`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(test, x_kube(cel))]
#[x_kube(validation = Rule::new("duration(has(self.renewBefore) ? self.renewBefore : '720h') < duration(has(self.validity) ? self.validity : '8760h')").message("tls.auto.renewBefore must be shorter than validity"))]
#[x_kube(validation = Rule::new("duration(has(self.caRenewBefore) ? self.caRenewBefore : '8760h') < duration(has(self.caValidity) ? self.caValidity : '87600h')").message("tls.auto.caRenewBefore must be shorter than caValidity"))]
#[serde(rename_all = "camelCase")]
pub struct AutoTls {
    /// Lifetime of server, peer and client certificates (default 1 year).
    #[serde(default = "default_validity")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+(h|m|s))+$"))]
    pub validity: String,

    /// Leaf certificates are re-issued this long before they expire
    /// (default 30 days).
    #[serde(default = "default_renew_before")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+(h|m|s))+$"))]
    pub renew_before: String,

    /// Lifetime of the CA (default 10 years).
    #[serde(default = "default_ca_validity")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+(h|m|s))+$"))]
    pub ca_validity: String,

    /// The CA is rotated this long before it expires (default 1 year).
    #[serde(default = "default_ca_renew_before")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+(h|m|s))+$"))]
    pub ca_renew_before: String,

    /// Least time each CA rotation phase lasts before the next one starts,
    /// on top of checking the members themselves (default 2 minutes:
    /// kubelet refreshes mounted Secrets within its sync period, about a
    /// minute).
    #[serde(default = "default_rotation_settle")]
    #[schemars(length(max = 32), pattern(r"^([0-9]+(h|m|s))+$"))]
    pub rotation_settle: String,
}

fn default_validity() -> String {
    "8760h".into()
}
fn default_renew_before() -> String {
    "720h".into()
}
fn default_ca_validity() -> String {
    "87600h".into()
}
fn default_ca_renew_before() -> String {
    "8760h".into()
}
fn default_rotation_settle() -> String {
    "2m".into()
}

impl Default for AutoTls {
    fn default() -> Self {
        AutoTls {
            validity: default_validity(),
            renew_before: default_renew_before(),
            ca_validity: default_ca_validity(),
            ca_renew_before: default_ca_renew_before(),
            rotation_settle: default_rotation_settle(),
        }
    }
}

/// Names of Secrets (in the cluster's namespace) for mode `secrets`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsSecrets {
    /// Served on the client port: needs serverAuth and SANs for the pod and
    /// client Service names clients use.
    #[schemars(length(min = 1, max = 253))]
    pub server: String,
    /// Used by members to serve and to dial each other: needs serverAuth and
    /// clientAuth and SANs for the pod DNS names.
    #[schemars(length(min = 1, max = 253))]
    pub peer: String,
    /// The operator's own client certificate (clientAuth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client: Option<String>,
}

/// A Go duration string (`1h30m`, `720h`, `45s`) could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {0:?}: expected digits followed by h, m or s, repeated (e.g. 720h, 1h30m)")]
pub struct DurationError(pub String);

/// Parses the subset of Go durations the schema allows: `(<digits>(h|m|s))+`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => digits.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = digits.parse().map_err(|_| err())?;
                let unit = match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
                digits.clear();
            }
            _ => return Err(err()),
        }
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(err());
    }
    Ok(Duration::from_secs(total))
}

/// What the operator last observed of the cluster's certificates.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TlsStatus {
    /// `auto` or `secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The CA that issues (mode `auto`) or the first CA of the server
    /// Secret's bundle (mode `secrets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertificateStatus>,
    /// SHA-256 fingerprints of every CA members trust now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_ca_fingerprints: Vec<String>,
    /// CA rotation phase (mode `auto`): `Idle`, `Trusting` (new CA added to
    /// every bundle), `Reissuing` (leaves issued by the new CA), `Dropping`
    /// (old CA removed from every bundle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_phase: Option<String>,
    /// When the current rotation phase started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_phase_since: Option<Time>,
    /// What the current phase waits for, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_waiting_for: Option<String>,
    /// Earliest expiry among the server, peer and client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// The leaf certificates, by purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateStatus>,
}

/// One certificate as found in its Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// `ca`, `server`, `peer` or `client`.
    pub purpose: String,
    /// The Secret holding it.
    pub secret: String,
    /// Subject (RFC 4514).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Serial number (hex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial: String,
    /// SHA-256 fingerprint of the DER certificate (hex).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    /// Expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_parse_like_go_for_h_m_s() {
        assert_eq!(parse_duration("8760h"), Ok(Duration::from_secs(8760 * 3600)));
        assert_eq!(parse_duration("1h30m5s"), Ok(Duration::from_secs(5405)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "10", "h", "1d", "1.5h", "-1h", "1h 2m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_from_minimal_yaml() {
        let tls: TlsSpec = serde_yaml::from_str("mode: auto").unwrap();
        assert!(tls.client_cert_auth);
        assert_eq!(tls.auto, None);
        let auto: AutoTls = serde_yaml::from_str("{}").unwrap();
        assert_eq!(auto, AutoTls::default());
        for d in [&auto.validity, &auto.renew_before, &auto.ca_validity, &auto.ca_renew_before, &auto.rotation_settle] {
            assert!(parse_duration(d).is_ok(), "{d}");
        }
    }

    #[test]
    fn cel_mode_needs_its_own_section() {
        let ok = [
            json!({"mode": "auto"}),
            json!({"mode": "auto", "auto": {"validity": "24h", "renewBefore": "1h"}}),
            json!({"mode": "secrets", "secrets": {"server": "s", "peer": "p", "client": "c"}}),
            json!({"mode": "secrets", "clientCertAuth": false, "secrets": {"server": "s", "peer": "p"}}),
        ];
        for v in ok {
            assert!(TlsSpec::validate_cel(&v, None).is_ok(), "{v}");
        }
        let bad = [
            json!({"mode": "secrets"}),
            json!({"mode": "auto", "secrets": {"server": "s", "peer": "p"}}),
            json!({"mode": "secrets", "auto": {}, "secrets": {"server": "s", "peer": "p", "client": "c"}}),
            json!({"mode": "secrets", "secrets": {"server": "s", "peer": "p"}}),
        ];
        for v in bad {
            assert!(TlsSpec::validate_cel(&v, None).is_err(), "{v}");
        }
    }

    #[test]
    fn cel_mode_is_immutable() {
        let old = json!({"mode": "auto"});
        let new = json!({"mode": "secrets", "secrets": {"server": "s", "peer": "p", "client": "c"}});
        assert!(TlsSpec::validate_cel(&new, Some(&old)).is_err());
        assert!(TlsSpec::validate_cel(&json!({"mode": "auto", "clientCertAuth": false}), Some(&old)).is_ok());
    }

    #[test]
    fn cel_renew_before_shorter_than_validity() {
        assert!(AutoTls::validate_cel(&json!({}), None).is_ok());
        assert!(AutoTls::validate_cel(&json!({"validity": "24h", "renewBefore": "2h"}), None).is_ok());
        assert!(AutoTls::validate_cel(&json!({"validity": "24h", "renewBefore": "24h"}), None).is_err());
        // The default renewBefore (720h) against a short validity.
        assert!(AutoTls::validate_cel(&json!({"validity": "24h"}), None).is_err());
        assert!(AutoTls::validate_cel(&json!({"caValidity": "8000h"}), None).is_err());
    }
}
