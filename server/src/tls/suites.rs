//! `--cipher-suites`: Go's names mapped to rustls' suites.
//!
//! etcd accepts every name Go knows (`tls.CipherSuites()` and
//! `tls.InsecureCipherSuites()`); rustls implements only the AEAD suites with
//! ECDHE key exchange. A Go name rustls lacks (CBC, RC4, 3DES, RSA key
//! exchange) is refused at start-up with a message that says so, rather than
//! dropped silently; an unknown name gets etcd's error. As in Go, the list
//! governs TLS 1.2 only: TLS 1.3 names are accepted and the TLS 1.3 suites
//! stay available.

use rustls::CipherSuite;
use rustls::SupportedCipherSuite;

use super::TlsError;

/// The TLS 1.2 suites `--cipher-suites` allows; `None` means all.
#[derive(Debug, Clone, Default)]
pub struct Allowed(Option<Vec<CipherSuite>>);

impl Allowed {
    pub fn allows(&self, suite: &SupportedCipherSuite) -> bool {
        match (&self.0, suite) {
            (None, _) | (_, SupportedCipherSuite::Tls13(_)) => true,
            (Some(list), s) => list.contains(&s.suite()),
        }
    }
}

/// Go's names of the TLS 1.2 suites rustls implements (with Go's aliases).
const SUPPORTED: &[(&str, CipherSuite)] = &[
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
];

/// Go's TLS 1.3 names: accepted, with no effect (as in Go).
const TLS13: &[&str] = &["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/// Go's names of suites rustls does not implement.
const UNSUPPORTED: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Parses `--cipher-suites` (already split at commas).
pub fn parse(names: &[String]) -> Result<Allowed, TlsError> {
    if names.is_empty() {
        return Ok(Allowed(None));
    }
    let mut out = Vec::new();
    for name in names {
        if let Some((_, suite)) = SUPPORTED.iter().find(|(n, _)| n == name) {
            out.push(*suite);
        } else if TLS13.contains(&name.as_str()) {
            continue;
        } else if UNSUPPORTED.contains(&name.as_str()) {
            return Err(TlsError::Invalid(format!(
                "TLS cipher suite {name:?} is not supported by Capstan: rustls implements only AEAD suites with ECDHE key exchange (e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)"
            )));
        } else {
            return Err(TlsError::Invalid(format!("unexpected TLS cipher suite {name:?}")));
        }
    }
    Ok(Allowed(Some(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_like_go() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(parse(&[]).unwrap().0.is_none());
        let a = parse(&s(&["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_AES_128_GCM_SHA256"])).unwrap();
        assert_eq!(a.0.unwrap(), vec![CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]);
        let e = parse(&s(&["BOGUS"])).unwrap_err().to_string();
        assert_eq!(e, "unexpected TLS cipher suite \"BOGUS\"");
        let e = parse(&s(&["TLS_RSA_WITH_AES_128_CBC_SHA"])).unwrap_err().to_string();
        assert!(e.contains("not supported by Capstan"), "{e}");
    }
}
