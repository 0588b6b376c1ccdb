//! The server side of TLS: one [`ServerTls`] per side (client, peer),
//! handing each handshake the configuration built from the files as they
//! are now (see [`super::files`]).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, NoClientAuth, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use super::files::Reloading;
use super::material::go_quoted;
use super::verify::{ClientVerifier, Extra};
use super::{Side, SideSettings, TlsError, auto, material, suites};

/// The files one side's TLS is built from.
#[derive(Debug, Clone)]
pub(super) struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: Option<PathBuf>,
    pub crl: Option<PathBuf>,
}

impl Files {
    /// The server certificate files of `s`, generating them first with
    /// auto-TLS when none are given.
    pub(super) fn for_server(s: &SideSettings) -> Result<Self, TlsError> {
        let (cert, key) = match (&s.info.cert_file, &s.info.key_file) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            (None, None) if s.info.auto_tls => {
                auto::self_signed(&s.fixtures_dir, &s.hosts, s.self_signed_validity_years)?
            }
            _ => {
                let flags = match s.side {
                    Side::Client => "--cert-file and --key-file",
                    Side::Peer => "--peer-cert-file and --peer-key-file",
                };
                return Err(TlsError::Invalid(format!("{flags} must both be given for TLS")));
            }
        };
        Ok(Self { cert, key, ca: s.info.trusted_ca_file.clone(), crl: s.info.crl_file.clone() })
    }

    pub(super) fn paths(&self) -> Vec<PathBuf> {
        [Some(&self.cert), Some(&self.key), self.ca.as_ref(), self.crl.as_ref()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// The TLS configuration of one side's listeners, reloaded from its files.
pub struct ServerTls {
    side: Side,
    config: Reloading<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("side", &self.side).finish_non_exhaustive()
    }
}

impl ServerTls {
    pub(super) fn new(settings: SideSettings, allowed: &suites::Allowed) -> Result<Self, TlsError> {
        let files = Files::for_server(&settings)?;
        check_client_auth(&settings)?;
        let provider = super::provider(allowed);
        let side = settings.side;
        let paths = files.paths();
        let config = Reloading::new(format!("{} server certificate", side.endpoint()), paths, move || {
            build(&settings, &files, &provider)
        })?;
        Ok(Self { side, config })
    }

    /// The configuration for a handshake starting now.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.current()
    }
}

/// etcd's start-up checks of client-certificate settings.
fn check_client_auth(s: &SideSettings) -> Result<(), TlsError> {
    if !s.info.allowed_cns.is_empty() && !s.info.allowed_hostnames.is_empty() {
        return Err(TlsError::Invalid(format!(
            "AllowedCNs and AllowedHostnames are mutually exclusive (cns={}, hostnames={})",
            go_quoted(&s.info.allowed_cns),
            go_quoted(&s.info.allowed_hostnames)
        )));
    }
    if s.info.client_cert_auth && s.info.trusted_ca_file.is_none() {
        let (auth, ca) = match s.side {
            Side::Client => ("--client-cert-auth", "--trusted-ca-file"),
            Side::Peer => ("--peer-client-cert-auth", "--peer-trusted-ca-file"),
        };
        return Err(TlsError::Invalid(format!(
            "{auth} needs {ca}: Capstan verifies certificates only against the CA bundle it is given (etcd would fall back to the system's CAs)"
        )));
    }
    Ok(())
}

/// The extra checks of one side, with the CRL read now.
pub(super) fn extra(s: &SideSettings, crl: Option<&PathBuf>) -> Extra {
    Extra {
        revoked: crl.map(|p| material::revoked_serials(p).map(Arc::new).map_err(|e| e.to_string())),
        allowed_cns: s.info.allowed_cns.clone(),
        allowed_hostnames: s.info.allowed_hostnames.clone(),
    }
}

fn build(s: &SideSettings, files: &Files, provider: &Arc<CryptoProvider>) -> Result<ServerConfig, TlsError> {
    let key = material::certified_key(&files.cert, &files.key, provider)?;
    // etcd: `RequireAndVerifyClientCert` when a CA bundle is given or
    // client-certificate authentication is on (`--trusted-ca-file` alone
    // already requires a certificate).
    let verifier: Arc<dyn ClientCertVerifier> = match &files.ca {
        Some(ca) => {
            let roots = Arc::new(material::roots(ca)?);
            let webpki = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| TlsError::Invalid(format!("{}: {e}", ca.display())))?;
            Arc::new(ClientVerifier::new(webpki, extra(s, files.crl.as_ref())))
        }
        None => Arc::new(NoClientAuth),
    };
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&super::versions(s.min_version, s.max_version))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(Fixed(key)));
    // gRPC needs h2; /health and /metrics are also asked over HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// One certificate for every handshake, whatever the SNI (etcd leaves
/// `Certificates` empty and answers every name with its one certificate).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}
