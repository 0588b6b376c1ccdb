//! Reading certificates, keys, CA bundles and CRLs, and the few facts read
//! out of a certificate (serial, common name, SANs).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::TlsError;

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

/// Every certificate of a PEM file, in order (leaf first for a chain).
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Malformed { path: path.to_path_buf(), reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1; unencrypted, as etcd requires).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey { path: path.to_path_buf() },
        e => TlsError::Malformed { path: path.to_path_buf(), reason: e.to_string() },
    })
}

/// A certificate chain with its key, checked to belong together.
pub fn certified_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert)?;
    let key_der = private_key(key)?;
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::Malformed { path: key.to_path_buf(), reason: e.to_string() })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(TlsError::KeyMismatch { cert: cert.to_path_buf(), key: key.to_path_buf() })
        }
        Err(e) => Err(TlsError::Malformed { path: cert.to_path_buf(), reason: e.to_string() }),
    }
}

/// The trust anchors of a CA bundle (one or several PEM certificates).
pub fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(path)? {
        store
            .add(cert)
            .map_err(|e| TlsError::Malformed { path: path.to_path_buf(), reason: format!("CA certificate: {e}") })?;
    }
    Ok(store)
}

/// The serial numbers a CRL revokes. etcd parses a DER CRL and matches by
/// serial only (no signature, issuer or next-update check); so does this.
/// A PEM-armoured CRL is accepted too.
pub fn revoked_serials(path: &Path) -> Result<HashSet<Vec<u8>>, TlsError> {
    let bytes = read(path)?;
    let der = match rustls::pki_types::CertificateRevocationListDer::from_pem_slice(&bytes) {
        Ok(crl) => crl.as_ref().to_vec(),
        Err(_) => bytes,
    };
    use x509_parser::prelude::FromDer;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
        .map_err(|e| TlsError::Malformed { path: path.to_path_buf(), reason: format!("CRL: {e}") })?;
    Ok(crl.iter_revoked_certificates().map(|r| normalize_serial(r.raw_serial())).collect())
}

/// Serial bytes without leading zero bytes (DER pads positive serials).
fn normalize_serial(raw: &[u8]) -> Vec<u8> {
    let start = raw.iter().position(|b| *b != 0).unwrap_or(raw.len().saturating_sub(1));
    raw[start..].to_vec()
}

/// Go's `%q` of a string slice, `["a" "b"]`: how etcd's TLS errors print lists.
pub fn go_quoted(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", inner.join(" "))
}

/// What verification needs to know about one certificate.
#[derive(Debug, Clone, Default)]
pub struct CertFacts {
    pub serial: Vec<u8>,
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl CertFacts {
    pub fn read(der: &CertificateDer<'_>) -> Result<Self, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
        let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
        let mut facts = CertFacts { serial: normalize_serial(cert.raw_serial()), common_name, ..Default::default() };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => facts.dns_names.push(d.to_string()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => facts.ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                        16 => facts.ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        Ok(facts)
    }

    /// Go's `Certificate.VerifyHostname`: an IP against the IP SANs, a name
    /// against the DNS SANs (case-insensitive, `*.` matching one label);
    /// the common name is never used.
    pub fn matches_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.ips.contains(&ip);
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.dns_names.iter().any(|pattern| {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => pattern == host,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_matching_follows_go() {
        let facts = CertFacts {
            dns_names: vec!["*.example.com".into(), "etcd.local".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            ..Default::default()
        };
        assert!(facts.matches_host("a.example.com"));
        assert!(facts.matches_host("A.Example.COM."));
        assert!(!facts.matches_host("a.b.example.com"));
        assert!(!facts.matches_host("example.com"));
        assert!(facts.matches_host("etcd.local"));
        assert!(facts.matches_host("127.0.0.1"));
        assert!(!facts.matches_host("127.0.0.2"));
    }

    #[test]
    fn serials_compare_without_padding() {
        assert_eq!(normalize_serial(&[0, 0x80, 1]), vec![0x80, 1]);
        assert_eq!(normalize_serial(&[0]), vec![0]);
    }
}
