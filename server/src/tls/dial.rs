//! Dialing other members: plain TCP for `http://` peer URLs, TLS for
//! `https://` ones, verifying the member reached against
//! `--peer-trusted-ca-file` (its name against the URL's host) and
//! presenting `--peer-client-cert-file` (default `--peer-cert-file`).

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;

use super::files::Reloading;
use super::server::{ServerTls, extra};
use super::stream::MaybeTls;
use super::verify::ServerVerifier;
use super::{Side, SideSettings, TlsError, auto, material, suites};

/// How this member connects to the others; cheap to clone.
#[derive(Clone, Default)]
pub struct PeerDialer {
    /// `None` when no peer TLS is configured: `https://` peers cannot be dialed.
    tls: Option<Arc<Reloading<ClientConfig>>>,
}

impl std::fmt::Debug for PeerDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerDialer").field("tls", &self.tls.is_some()).finish()
    }
}

/// A connection to a peer, as hyper wants it.
pub type PeerConnection = TokioIo<MaybeTls<TcpStream>>;

impl PeerDialer {
    /// Plain TCP only (members without peer TLS, and tests).
    pub fn plain() -> Self {
        Self::default()
    }

    pub(super) fn new(
        s: SideSettings,
        listener: Option<&ServerTls>,
        allowed: &suites::Allowed,
    ) -> Result<Self, TlsError> {
        debug_assert_eq!(s.side, Side::Peer);
        let info = &s.info;
        let (cert, key) = match (&info.client_cert_file, &info.client_key_file, &info.cert_file, &info.key_file) {
            (Some(c), Some(k), _, _) | (None, None, Some(c), Some(k)) => (c.clone(), k.clone()),
            _ if info.auto_tls && info.is_empty() && listener.is_some() => {
                auto::self_signed(&s.fixtures_dir, &s.hosts, s.self_signed_validity_years)?
            }
            _ if info.trusted_ca_file.is_some() => {
                return Err(TlsError::Invalid(
                    "--peer-trusted-ca-file is set without a peer certificate (--peer-cert-file and --peer-key-file)"
                        .to_string(),
                ));
            }
            _ => return Ok(Self::plain()),
        };
        if info.trusted_ca_file.is_none() && !info.auto_tls {
            return Err(TlsError::Invalid(
                "peer TLS needs --peer-trusted-ca-file to verify the other members (Capstan does not fall back to the system's CAs), or --peer-auto-tls".to_string(),
            ));
        }
        let provider = super::provider(allowed);
        let mut paths = vec![cert.clone(), key.clone()];
        paths.extend(info.trusted_ca_file.clone());
        let config = Reloading::new("peer client certificate", paths, move || build(&s, &cert, &key, &provider))?;
        Ok(Self { tls: Some(Arc::new(config)) })
    }

    /// A connector for tonic that dials `url` (`http://` or `https://`),
    /// and the URL to give tonic.
    ///
    /// tonic is handed the URL with an `http` scheme and TLS is decided
    /// here, from the real URL: with its own TLS feature compiled in (cargo
    /// unifies features across a workspace build) tonic refuses an `https`
    /// URI whose TLS it did not set up itself, and drops the connection the
    /// handshake just opened.
    pub fn connector_for(&self, url: &str) -> (String, PeerConnector) {
        let tls = url.starts_with("https://");
        let plain = match url.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => url.to_string(),
        };
        (plain, PeerConnector { dialer: self.clone(), tls })
    }

    /// Connects to `uri`, over TLS when `tls`.
    pub async fn connect(&self, uri: Uri, tls: bool) -> Result<PeerConnection, std::io::Error> {
        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {uri}"));
        let host = uri.host().ok_or_else(|| bad("peer URL without a host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port)).await?;
        // Without TCP_NODELAY a Raft message written in several frames waits
        // for the peer's delayed ACK.
        tcp.set_nodelay(true)?;
        if !tls {
            return Ok(TokioIo::new(MaybeTls::Plain(tcp)));
        }
        let Some(config) = &self.tls else {
            return Err(std::io::Error::other(format!(
                "cannot dial https://{host}:{port}: peer TLS is not configured (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file)"
            )));
        };
        let name = ServerName::try_from(host).map_err(|_| bad("peer URL host is not a valid TLS name"))?;
        let connector = tokio_rustls::TlsConnector::from(config.current());
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(TokioIo::new(MaybeTls::Tls(Box::new(tokio_rustls::TlsStream::Client(stream)))))
    }
}

/// The connector of one peer URL: [`PeerDialer::connect`] with that URL's
/// scheme (see [`PeerDialer::connector_for`]).
#[derive(Clone, Debug)]
pub struct PeerConnector {
    dialer: PeerDialer,
    tls: bool,
}

impl tower::Service<Uri> for PeerConnector {
    type Response = PeerConnection;
    type Error = std::io::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<PeerConnection, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.dialer.connect(uri, this.tls).await })
    }
}

/// etcd's bound on a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn build(
    s: &SideSettings,
    cert: &std::path::Path,
    key: &std::path::Path,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientConfig, TlsError> {
    let certified = material::certified_key(cert, key, provider)?;
    let inner: Option<Arc<dyn ServerCertVerifier>> = match &s.info.trusted_ca_file {
        Some(ca) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(material::roots(ca)?), provider.clone())
                .build()
                .map_err(|e| TlsError::Invalid(format!("{}: {e}", ca.display())))?,
        ),
        // Auto-TLS: etcd dials with InsecureSkipVerify.
        None => None,
    };
    let mut extra = extra(s, None);
    extra.revoked = None;
    let verifier = Arc::new(ServerVerifier::new(inner, extra, provider.clone()));
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&super::versions(s.min_version, s.max_version))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(FixedClient(certified)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Presents the one peer certificate whatever the server asks for.
#[derive(Debug)]
struct FixedClient(Arc<CertifiedKey>);

impl ResolvesClientCert for FixedClient {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
