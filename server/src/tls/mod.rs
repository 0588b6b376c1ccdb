//! TLS on the client and peer listeners and on the peer dialer (rustls),
//! with etcd's semantics (`client/pkg/transport`) and one improvement:
//! everything reloads.
//!
//! * [`ServerTls`]: what a listener hands to each handshake. etcd re-reads
//!   the certificate and key on every handshake but reads the CA bundle once
//!   (etcd#11555); here the certificate, key, CA bundle and CRL all reload:
//!   each handshake asks a [`files::Reloading`] source for the current
//!   configuration, which stats the files and rebuilds only when one of them
//!   changed. A stat per file per handshake costs microseconds, needs no
//!   watcher thread, follows the symlink swap Kubernetes makes when a Secret
//!   changes, and never serves a half-written pair: a build that fails (a
//!   certificate whose key has not been written yet) keeps the previous
//!   configuration until the files are consistent again. Established
//!   connections keep the certificate they were opened with.
//! * [`PeerDialer`]: the client side towards other members, verifying their
//!   certificates against `--peer-trusted-ca-file` and presenting
//!   `--peer-client-cert-file` (default `--peer-cert-file`), reloaded alike.
//! * [`listener`]: accepts, runs handshakes concurrently with etcd's 10 s
//!   deadline, logs refusals as etcd does, and (peers only) checks that the
//!   connecting address is one the certificate names.

mod auto;
pub mod dial;
pub mod files;
pub mod listener;
mod material;
mod san;
mod server;
mod stream;
mod suites;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

pub use dial::PeerDialer;
pub use server::ServerTls;

use crate::config::{Config, TlsInfo, TlsVersion, UrlScheme};

/// Which side of the member a TLS setting belongs to: it names the flags in
/// messages and the endpoint in etcd's log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Peer,
}

impl Side {
    /// etcd's word for the listener in "rejected connection on ... endpoint".
    pub fn endpoint(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }

    fn fixtures_dir(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Peer => "peer",
        }
    }
}

/// Why TLS could not be set up. Texts follow etcd's where etcd has one.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("open {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: no certificate found (expected PEM \"CERTIFICATE\" blocks)")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no private key found (expected an unencrypted PEM private key)")]
    NoKey { path: PathBuf },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("tls: private key in {key} does not match public key in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{0}")]
    Invalid(String),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS settings of one side, with what they apply to.
#[derive(Debug, Clone)]
pub struct SideSettings {
    pub side: Side,
    pub info: TlsInfo,
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// Years of validity of a generated (auto-TLS) certificate.
    pub self_signed_validity_years: u64,
    /// Where generated certificates are kept: `<data-dir>/fixtures/<side>`.
    pub fixtures_dir: PathBuf,
    /// Hosts of the listen URLs: the SANs of a generated certificate.
    pub hosts: Vec<String>,
}

/// Everything TLS a member needs, built once at start-up so that a bad
/// setting stops the member before it listens.
pub struct MemberTls {
    /// For `https://`/`unixs://` client listeners; `None` when none is TLS.
    pub client: Option<Arc<ServerTls>>,
    /// For `https://` peer listeners; `None` when none is TLS.
    pub peer: Option<Arc<ServerTls>>,
    /// Dials other members (plain or TLS, as their URL says).
    pub dialer: PeerDialer,
}

impl MemberTls {
    /// Checks the TLS settings against the URLs (etcd's start-up errors)
    /// and loads the certificates of the listeners that use TLS.
    pub fn from_config(config: &Config) -> Result<Self, TlsError> {
        let cipher_suites = suites::parse(&config.cipher_suites)?;
        let client = settings(config, Side::Client);
        let peer = settings(config, Side::Peer);
        let client_urls = config.listen_client_urls_parsed().map_err(|e| TlsError::Invalid(e.to_string()))?;
        let peer_urls = config.listen_peer_urls_parsed().map_err(|e| TlsError::Invalid(e.to_string()))?;
        check_pair(&client.info, "ClientKeyFile and ClientCertFile")?;
        check_pair(&peer.info, "ClientKeyFile and ClientCertFile")?;

        let metrics_urls = config.listen_metrics_urls_parsed().map_err(|e| TlsError::Invalid(e.to_string()))?;
        if metrics_urls.iter().any(|u| u.scheme.is_tls()) && client.info.is_empty() {
            return Err(TlsError::Invalid(
                "client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url".to_string(),
            ));
        }
        let client_tls = match client_urls.iter().chain(&metrics_urls).find(|u| u.scheme.is_tls()) {
            None => None,
            Some(url) => {
                if client.info.is_empty() && !client.info.auto_tls {
                    return Err(TlsError::Invalid(format!(
                        "TLS key/cert (--cert-file, --key-file) must be provided for client url {} with HTTPS scheme",
                        url.raw
                    )));
                }
                Some(Arc::new(ServerTls::new(client.clone(), &cipher_suites)?))
            }
        };
        let peer_tls = match peer_urls.iter().find(|u| u.scheme == UrlScheme::Https) {
            None => None,
            Some(url) => {
                if peer.info.is_empty() && !peer.info.auto_tls {
                    let addr = match url.port {
                        Some(p) => format!("{}:{p}", url.host),
                        None => url.host.clone(),
                    };
                    return Err(TlsError::Invalid(format!(
                        "cannot listen on TLS for {addr}: KeyFile and CertFile are not presented"
                    )));
                }
                Some(Arc::new(ServerTls::new(peer.clone(), &cipher_suites)?))
            }
        };
        let dialer = PeerDialer::new(peer, peer_tls.as_deref(), &cipher_suites)?;
        Ok(Self { client: client_tls, peer: peer_tls, dialer })
    }
}

/// etcd's check that an outbound certificate is given whole or not at all.
fn check_pair(info: &TlsInfo, what: &str) -> Result<(), TlsError> {
    if info.client_cert_file.is_some() != info.client_key_file.is_some() {
        return Err(TlsError::Invalid(format!("{what} must both be present or both absent")));
    }
    Ok(())
}

fn settings(config: &Config, side: Side) -> SideSettings {
    let (info, urls) = match side {
        Side::Client => (config.client_tls(), config.listen_client_urls_parsed()),
        Side::Peer => (config.peer_tls(), config.listen_peer_urls_parsed()),
    };
    let mut hosts: Vec<String> =
        urls.unwrap_or_default().into_iter().filter(|u| u.port.is_some()).map(|u| u.host).collect();
    hosts.sort();
    hosts.dedup();
    SideSettings {
        side,
        info,
        min_version: config.tls_min_version,
        max_version: config.tls_max_version,
        self_signed_validity_years: config.self_signed_cert_validity,
        fixtures_dir: config.data_dir.join("fixtures").join(side.fixtures_dir()),
        hosts,
    }
}

/// The crypto provider every TLS object uses: ring, with the cipher suites
/// `--cipher-suites` allows (all of rustls' when it is empty).
fn provider(suites: &suites::Allowed) -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|s| suites.allows(s));
    Arc::new(provider)
}

/// The protocol versions `--tls-min-version`/`--tls-max-version` allow
/// (etcd's default minimum is TLS 1.2, the only versions it names).
fn versions(min: Option<TlsVersion>, max: Option<TlsVersion>) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let min = min.unwrap_or(TlsVersion::Tls12);
    let max = max.unwrap_or(TlsVersion::Tls13);
    let mut out = Vec::new();
    if min <= TlsVersion::Tls13 && max >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    if min <= TlsVersion::Tls12 && max >= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    out
}

#[cfg(test)]
mod tests;
