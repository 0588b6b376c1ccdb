//! Certificates: generating a CA and leaf certificates (rcgen, ECDSA P-256)
//! and reading certificates back (x509-parser). No I/O; times are Unix
//! seconds passed in, so every decision built on top is testable.
//!
//! Why ECDSA P-256: every TLS stack a Capstan or etcd client may use accepts
//! it (Go, rustls, OpenSSL, Java), keys are small and signing is fast.
//! Serial numbers are rcgen's: a hash of the (fresh, random) public key, so
//! two issued certificates never share one.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why certificate material could not be made or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PkiError {
    /// rcgen refused the parameters or the key.
    #[error("generating a certificate: {0}")]
    Generate(String),
    /// A PEM block or the certificate inside it could not be parsed.
    #[error("parsing a certificate: {0}")]
    Parse(String),
    /// The PEM text held no certificate.
    #[error("no certificate in the PEM text")]
    Empty,
    /// A time outside what X.509 can carry.
    #[error("time {0} is out of range")]
    Time(i64),
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// A certificate with its private key, both PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its PKCS#8 private key (PEM).
    pub key_pem: String,
}

/// What a leaf certificate is for; decides its extended key usages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// Served on the client port: serverAuth.
    Server,
    /// Members serve it on the peer port and present it when dialing peers:
    /// serverAuth and clientAuth (one certificate does both, as in etcd).
    Peer,
    /// Presented by clients (the operator, users): clientAuth.
    Client,
}

impl Purpose {
    /// Every leaf purpose, in a fixed order.
    pub const ALL: [Purpose; 3] = [Purpose::Server, Purpose::Peer, Purpose::Client];

    /// Lower-case name (`server`, `peer`, `client`), used in Secret names and status.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Server => "server",
            Purpose::Peer => "peer",
            Purpose::Client => "client",
        }
    }

    fn usages(self) -> (bool, bool) {
        match self {
            Purpose::Server => (true, false),
            Purpose::Peer => (true, true),
            Purpose::Client => (false, true),
        }
    }
}

/// What a leaf certificate must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafSpec {
    /// Purpose (extended key usages).
    pub purpose: Purpose,
    /// Subject common name.
    pub common_name: String,
    /// DNS subject alternative names.
    pub dns_names: BTreeSet<String>,
    /// IP subject alternative names.
    pub ip_addresses: BTreeSet<IpAddr>,
}

/// A certificate as read back: what the operator decides on and reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject (RFC 4514 text).
    pub subject: String,
    /// Issuer (RFC 4514 text).
    pub issuer: String,
    /// Common name of the subject, if any.
    pub common_name: Option<String>,
    /// Serial number, hex with colons as OpenSSL prints it.
    pub serial: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// DNS SANs.
    pub dns_names: BTreeSet<String>,
    /// IP SANs.
    pub ip_addresses: BTreeSet<IpAddr>,
    /// Has the serverAuth extended key usage.
    pub server_auth: bool,
    /// Has the clientAuth extended key usage.
    pub client_auth: bool,
    /// Basic constraints say CA.
    pub is_ca: bool,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub fingerprint: String,
    /// The DER encoding.
    pub der: Vec<u8>,
}

impl CertInfo {
    /// Whether this certificate carries the usages and names `spec` asks for.
    pub fn matches(&self, spec: &LeafSpec) -> bool {
        let (server, client) = spec.purpose.usages();
        self.server_auth == server
            && self.client_auth == client
            && self.common_name.as_deref() == Some(spec.common_name.as_str())
            && self.dns_names == spec.dns_names
            && self.ip_addresses == spec.ip_addresses
    }

    /// Whether `ca`'s key signed this certificate.
    pub fn signed_by(&self, ca: &CertInfo) -> bool {
        let (Ok((_, leaf)), Ok((_, ca))) = (X509Certificate::from_der(&self.der), X509Certificate::from_der(&ca.der))
        else {
            return false;
        };
        leaf.verify_signature(Some(ca.public_key())).is_ok()
    }
}

fn offset_time(secs: i64) -> Result<time::OffsetDateTime, PkiError> {
    time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| PkiError::Time(secs))
}

/// SHA-256 fingerprint (lower-case hex) of DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// A new self-signed CA valid from `not_before` to `not_after` (Unix
/// seconds). Path length 0: it signs leaves only.
///
/// `label` (the cluster, `<namespace>/<name>`) becomes the organizational
/// unit, cut to X.509's 64 characters. The common name is unique per CA
/// (`capstan-ca` and the start of its key's SHA-256): during a rotation two
/// CAs sit in one bundle, and a verifier that picks an issuer by name alone
/// (OpenSSL does, for a certificate without an authority key identifier)
/// must not find the wrong one.
pub fn new_ca(label: &str, not_before: i64, not_after: i64) -> Result<KeyedCert, PkiError> {
    let key = KeyPair::generate().map_err(gen_err)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "capstan");
    params.distinguished_name.push(DnType::OrganizationalUnitName, label.chars().take(64).collect::<String>());
    let id = &fingerprint(key.public_key_raw())[..8];
    params.distinguished_name.push(DnType::CommonName, format!("capstan-ca {id}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = offset_time(not_before)?;
    params.not_after = offset_time(not_after)?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(KeyedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A leaf certificate for `spec`, with a fresh key, signed by `ca`.
pub fn issue(ca: &KeyedCert, spec: &LeafSpec, not_before: i64, not_after: i64) -> Result<KeyedCert, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(gen_err)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(gen_err)?;
    let key = KeyPair::generate().map_err(gen_err)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "capstan");
    params.distinguished_name.push(DnType::CommonName, spec.common_name.as_str());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let (server, client) = spec.purpose.usages();
    if server {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if client {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for name in &spec.dns_names {
        params.subject_alt_names.push(SanType::DnsName(name.as_str().try_into().map_err(gen_err)?));
    }
    for ip in &spec.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    params.use_authority_key_identifier_extension = true;
    params.not_before = offset_time(not_before)?;
    params.not_after = offset_time(not_after)?;
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    Ok(KeyedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Reads one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, PkiError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::Parse(e.to_string()))?;
    let mut dns_names = BTreeSet::new();
    let mut ip_addresses = BTreeSet::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => {
                    dns_names.insert(n.to_string());
                }
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    ip_addresses.extend(ip);
                }
                _ => {}
            }
        }
    }
    let (server_auth, client_auth) = match cert.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        _ => (false, false),
    };
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_name,
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        dns_names,
        ip_addresses,
        server_auth,
        client_auth,
        is_ca: cert.is_ca(),
        fingerprint: fingerprint(der),
        der: der.to_vec(),
    })
}

/// Reads every certificate of a PEM text (a bundle, or a chain), in order.
/// Blocks that are not certificates (a key) are skipped; an unreadable
/// certificate is an error.
pub fn parse_pem(pem: &str) -> Result<Vec<CertInfo>, PkiError> {
    let mut out = Vec::new();
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| PkiError::Parse(e.to_string()))?;
        if block.label == "CERTIFICATE" {
            out.push(parse_der(&block.contents)?);
        }
    }
    if out.is_empty() { Err(PkiError::Empty) } else { Ok(out) }
}

/// The first certificate of a PEM text.
pub fn parse_first(pem: &str) -> Result<CertInfo, PkiError> {
    parse_pem(pem)?.into_iter().next().ok_or(PkiError::Empty)
}

/// Whether a private key (PEM) belongs to a certificate: a half-updated
/// Secret (new certificate, old key) must not be taken as valid.
pub fn key_matches(cert: &CertInfo, key_pem: &str) -> bool {
    let (Ok(key), Ok((_, cert))) = (KeyPair::from_pem(key_pem), X509Certificate::from_der(&cert.der)) else {
        return false;
    };
    key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref()
}

/// Concatenates certificates into one PEM bundle, without duplicates
/// (by fingerprint), in the order given.
pub fn bundle<'a>(certs: impl IntoIterator<Item = &'a CertInfo>) -> String {
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for c in certs {
        if seen.insert(c.fingerprint.clone()) {
            out.push_str(&pem_of(&c.der));
        }
    }
    out
}

/// PEM text of one DER certificate (LF line endings, as OpenSSL writes).
pub fn pem_of(der: &[u8]) -> String {
    let block = pem::Pem::new("CERTIFICATE", der);
    pem::encode_config(&block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    pub const NOW: i64 = 1_800_000_000;
    pub const DAY: i64 = 86_400;

    pub fn spec(purpose: Purpose) -> LeafSpec {
        LeafSpec {
            purpose,
            common_name: format!("demo-{}", purpose.name()),
            dns_names: ["demo-0.demo-peers.ns.svc", "localhost", "*.demo-peers.ns.svc"]
                .into_iter()
                .map(String::from)
                .collect(),
            ip_addresses: ["127.0.0.1".parse().unwrap()].into_iter().collect(),
        }
    }

    fn openssl() -> bool {
        Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success())
    }

    #[test]
    fn ca_is_a_p256_ca_with_its_validity() {
        let ca = new_ca("ns/demo", NOW, NOW + 3650 * DAY).unwrap();
        let info = parse_first(&ca.cert_pem).unwrap();
        assert!(info.is_ca);
        assert!(info.subject.starts_with("O=capstan, OU=ns/demo, CN=capstan-ca "), "{}", info.subject);
        let again = parse_first(&new_ca("ns/demo", NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        assert_ne!(info.subject, again.subject, "successive CAs of one cluster have distinct names");
        let long = parse_first(&new_ca(&"x".repeat(300), NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        assert!(long.subject.contains(&format!("OU={},", "x".repeat(64))), "{}", long.subject);
        assert_eq!(info.subject, info.issuer);
        assert_eq!((info.not_before, info.not_after), (NOW, NOW + 3650 * DAY));
        assert!(info.signed_by(&info));
        assert!(key_matches(&info, &ca.key_pem));
        assert!(ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn leaves_carry_sans_usages_and_validity_and_chain_to_the_ca() {
        let ca = new_ca("ca", NOW, NOW + 3650 * DAY).unwrap();
        let ca_info = parse_first(&ca.cert_pem).unwrap();
        let other = parse_first(&new_ca("other", NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        for (purpose, server, client) in
            [(Purpose::Server, true, false), (Purpose::Peer, true, true), (Purpose::Client, false, true)]
        {
            let s = spec(purpose);
            let leaf = issue(&ca, &s, NOW, NOW + 365 * DAY).unwrap();
            let info = parse_first(&leaf.cert_pem).unwrap();
            assert_eq!((info.server_auth, info.client_auth), (server, client), "{purpose:?}");
            assert!(!info.is_ca);
            assert_eq!(info.dns_names, s.dns_names);
            assert_eq!(info.ip_addresses, s.ip_addresses);
            assert_eq!(info.issuer, ca_info.subject);
            assert_eq!(info.not_after - info.not_before, 365 * DAY);
            assert!(info.matches(&s));
            assert!(info.signed_by(&ca_info));
            assert!(!info.signed_by(&other));
            assert!(key_matches(&info, &leaf.key_pem));
            assert!(!key_matches(&info, &ca.key_pem));
        }
        // A changed SAN set or purpose no longer matches.
        let info = parse_first(&issue(&ca, &spec(Purpose::Peer), NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        let mut s = spec(Purpose::Peer);
        s.dns_names.insert("demo-9.demo-peers.ns.svc".into());
        assert!(!info.matches(&s));
        assert!(!info.matches(&spec(Purpose::Server)));
        // Fresh keys, so fresh serials.
        let again = parse_first(&issue(&ca, &spec(Purpose::Peer), NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        assert_ne!(info.serial, again.serial);
    }

    #[test]
    fn bundles_round_trip_and_deduplicate() {
        let a = parse_first(&new_ca("a", NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        let b = parse_first(&new_ca("b", NOW, NOW + DAY).unwrap().cert_pem).unwrap();
        let text = bundle([&a, &b, &a]);
        let back = parse_pem(&text).unwrap();
        assert_eq!(back.iter().map(|c| c.fingerprint.clone()).collect::<Vec<_>>(), [a.fingerprint, b.fingerprint]);
        assert_eq!(parse_pem(""), Err(PkiError::Empty));
        assert!(parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }

    /// The same checks through OpenSSL, the way an operator would inspect a
    /// Secret: the chain verifies for the purpose, and the text shows the
    /// SANs and usages.
    #[test]
    fn openssl_verifies_the_chain_for_each_purpose() {
        if !openssl() {
            eprintln!("skipped: no openssl");
            return;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let ca = new_ca("ns/demo", now - 60, now + 3650 * DAY).unwrap();
        let old_ca = new_ca("ns/demo", now - 60, now + 3650 * DAY).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca_file = write("ca.crt", &ca.cert_pem);
        let both = write("both.crt", &format!("{}{}", old_ca.cert_pem, ca.cert_pem));
        // Each CA of a two-CA bundle verifies against it: their names differ.
        let out = Command::new("openssl").args(["verify", "-CAfile"]).arg(&both).arg(&ca_file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        for (purpose, openssl_purpose, bad) in
            [(Purpose::Server, "sslserver", "sslclient"), (Purpose::Client, "sslclient", "sslserver")]
        {
            let leaf = issue(&ca, &spec(purpose), now - 60, now + 365 * DAY).unwrap();
            let file = write("leaf.crt", &leaf.cert_pem);
            for (bundle, purpose, ok) in
                [(&ca_file, openssl_purpose, true), (&both, openssl_purpose, true), (&ca_file, bad, false)]
            {
                let out = Command::new("openssl")
                    .args(["verify", "-purpose", purpose, "-CAfile"])
                    .arg(bundle)
                    .arg(&file)
                    .output()
                    .unwrap();
                assert_eq!(out.status.success(), ok, "{purpose}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let peer = issue(&ca, &spec(Purpose::Peer), now - 60, now + 365 * DAY).unwrap();
        let file = write("peer.crt", &peer.cert_pem);
        for purpose in ["sslserver", "sslclient"] {
            let out = Command::new("openssl")
                .args(["verify", "-purpose", purpose, "-CAfile"])
                .arg(&ca_file)
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "peer {purpose}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&file).output().unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("DNS:demo-0.demo-peers.ns.svc"), "{text}");
        assert!(text.contains("IP Address:127.0.0.1"), "{text}");
        assert!(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"), "{text}");
        assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
        // A leaf from another CA does not verify against this bundle.
        let stranger = issue(&old_ca, &spec(Purpose::Server), now - 60, now + DAY).unwrap();
        let file = write("stranger.crt", &stranger.cert_pem);
        let out = Command::new("openssl").args(["verify", "-CAfile"]).arg(&ca_file).arg(&file).output().unwrap();
        assert!(!out.status.success());
    }
}
