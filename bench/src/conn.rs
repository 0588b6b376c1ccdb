//! gRPC channels to the endpoints, and leader discovery.
//!
//! A tonic `Channel` built with `connect()` is one HTTP/2 connection; `--conns` of them
//! are opened round-robin over the endpoints (or all to the leader with
//! `--target-leader`), and worker `i` uses channel `i mod conns`.
//!
//! TLS follows etcd's clients: an `https://` endpoint always uses TLS, an `http://` one
//! never does, and a bare `host:port` uses TLS when `--cacert` or `--cert` is given. The
//! server's certificate is verified against `--cacert` for the endpoint's host (an IP
//! address must be among the certificate's IP SANs), unless `--insecure-skip-tls-verify`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::etcdserverpb::AuthenticateRequest;
use capstan_proto::etcdserverpb::StatusRequest;
use capstan_proto::etcdserverpb::auth_client::AuthClient;
use capstan_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::cli::{GlobalOpts, TlsOpts};

/// An endpoint as given (host:port or a URL) → the URL to dial: `tls` says what a bare
/// host:port becomes (https or http); an explicit scheme is kept.
pub fn endpoint_url(ep: &str, tls: bool) -> String {
    let ep = ep.trim();
    if ep.contains("://") {
        ep.to_string()
    } else if tls {
        format!("https://{ep}")
    } else {
        format!("http://{ep}")
    }
}

/// The host of a URL, as the TLS server name: without the port, IPv6 without brackets.
pub fn url_host(url: &str) -> Option<String> {
    let uri: tonic::codegen::http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    Some(host.trim_start_matches('[').trim_end_matches(']').to_string())
}

/// How to dial the endpoints of a run: the TLS material read once from the files.
#[derive(Clone)]
pub struct Dialer {
    /// `None`: no TLS options given (https endpoints were refused by validation unless
    /// --insecure-skip-tls-verify).
    ca: Option<Certificate>,
    identity: Option<Identity>,
    insecure: bool,
    bare_tls: bool,
    dial_timeout: Duration,
}

impl Dialer {
    /// Reads `--cacert`, `--cert` and `--key` (PEM).
    pub fn new(opts: &GlobalOpts) -> anyhow::Result<Self> {
        let TlsOpts { cacert, cert, key, insecure_skip_tls_verify } = &opts.tls;
        let read = |what: &str, path: &std::path::Path| {
            std::fs::read(path).with_context(|| format!("{what} {}", path.display()))
        };
        let ca = match cacert {
            Some(path) => {
                let pem = read("--cacert", path)?;
                // (rustls skips what it cannot parse: an empty bundle would only show as
                // "unknown issuer" at the first handshake)
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    bail!("--cacert {}: no PEM certificate in it", path.display());
                }
                Some(Certificate::from_pem(pem))
            }
            None => None,
        };
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(Identity::from_pem(read("--cert", cert)?, read("--key", key)?)),
            (None, None) => None,
            _ => bail!("--cert and --key go together (both or neither)"),
        };
        Ok(Dialer {
            ca,
            identity,
            insecure: *insecure_skip_tls_verify,
            bare_tls: opts.tls.bare_endpoints_use_tls(),
            dial_timeout: Duration::from_secs_f64(opts.dial_timeout),
        })
    }

    /// The URL an endpoint (as given) is dialled at.
    pub fn url(&self, ep: &str) -> String {
        endpoint_url(ep, self.bare_tls)
    }

    /// Whether the connections to these endpoints use TLS.
    pub fn uses_tls(&self, endpoints: &[String]) -> bool {
        endpoints.iter().any(|ep| self.url(ep).starts_with("https://"))
    }

    /// One connection to an endpoint (as given).
    pub async fn dial(&self, ep: &str) -> anyhow::Result<Channel> {
        let url = self.url(ep);
        let mut endpoint = Endpoint::from_shared(url.clone())
            .with_context(|| format!("bad endpoint {url}"))?
            .connect_timeout(self.dial_timeout)
            .tcp_nodelay(true)
            // Many workers share one connection: do not let HTTP/2 flow control be the limit.
            .initial_connection_window_size(16 << 20)
            .initial_stream_window_size(4 << 20);
        if url.starts_with("https://") {
            let host = url_host(&url).with_context(|| format!("no host in {url}"))?;
            let mut tls = ClientTlsConfig::new().domain_name(host).timeout(self.dial_timeout);
            if let Some(id) = &self.identity {
                tls = tls.identity(id.clone());
            }
            endpoint = if self.insecure {
                endpoint.tls_config_with_verifier(tls, Arc::new(AcceptAnyServerCert::new()))
            } else {
                let Some(ca) = &self.ca else { bail!("{url}: TLS needs --cacert (or --insecure-skip-tls-verify)") };
                endpoint.tls_config(tls.ca_certificate(ca.clone()))
            }
            .with_context(|| format!("TLS configuration for {url}"))?;
        }
        tokio::time::timeout(self.dial_timeout, endpoint.connect())
            .await
            .with_context(|| format!("connecting to {url}: timed out"))?
            .with_context(|| format!("connecting to {url}"))
    }
}

/// `--insecure-skip-tls-verify`: any server certificate is accepted (the handshake's
/// signatures are still checked, so the connection is encrypted, but not authenticated).
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl AcceptAnyServerCert {
    fn new() -> Self {
        AcceptAnyServerCert(Arc::new(rustls::crypto::ring::default_provider()))
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The endpoint (as given) whose member is the leader: asks Maintenance.Status of every
/// endpoint and picks the one whose own member ID equals the leader ID it reports.
pub async fn find_leader(dialer: &Dialer, endpoints: &[String]) -> anyhow::Result<String> {
    let mut seen = Vec::new();
    for ep in endpoints {
        let status = async {
            let ch = dialer.dial(ep).await?;
            let resp = tokio::time::timeout(dialer.dial_timeout, MaintenanceClient::new(ch).status(StatusRequest {}))
                .await
                .context("Status timed out")??
                .into_inner();
            anyhow::Ok(resp)
        }
        .await;
        match status {
            Ok(s) => {
                let id = s.header.as_ref().map_or(0, |h| h.member_id);
                if s.leader != 0 && s.leader == id {
                    return Ok(ep.clone());
                }
                seen.push(format!("{ep}: member {id:x}, leader {:x}", s.leader));
            }
            Err(e) => seen.push(format!("{ep}: {e:#}")),
        }
    }
    bail!("no endpoint is the leader ({})", seen.join("; "))
}

/// A connection of a run: a channel whose requests carry the `--user`'s auth token
/// (etcd's `token` metadata), as clientv3 sends it.
pub type Conn = InterceptedService<Channel, TokenInterceptor>;

/// Adds the token, if any, to every request.
#[derive(Clone, Default)]
pub struct TokenInterceptor(Option<MetadataValue<Ascii>>);

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert("token", token.clone());
        }
        Ok(request)
    }
}

/// `--user name:password`: authenticates once (etcd's Authenticate) and returns the
/// token every request then carries. Simple tokens slide with every use, so a run of
/// any length keeps one; a JWT expiring mid-run shows as failed requests.
async fn token(channel: Channel, user: &str) -> anyhow::Result<TokenInterceptor> {
    let (name, password) = user.split_once(':').context("--user must be NAME:PASSWORD")?;
    let req = AuthenticateRequest { name: name.into(), password: password.into() };
    let resp = AuthClient::new(channel).authenticate(req).await.context("authenticating --user")?;
    Ok(TokenInterceptor(Some(resp.into_inner().token.parse().context("token is not ASCII")?)))
}

/// Opens the channels of a run: `--conns` connections, round-robin over the endpoints
/// (only the leader's with `--target-leader`). Returns them, the endpoints used and
/// whether the connections use TLS.
pub async fn connect(opts: &GlobalOpts) -> anyhow::Result<(Vec<Conn>, Vec<String>, bool)> {
    let dialer = Dialer::new(opts)?;
    let targets =
        if opts.target_leader { vec![find_leader(&dialer, &opts.endpoints).await?] } else { opts.endpoints.clone() };
    let dials = (0..opts.conns).map(|i| {
        let (dialer, ep) = (&dialer, &targets[i % targets.len()]);
        async move { dialer.dial(ep).await }
    });
    let channels = futures::future::try_join_all(dials).await?;
    let tls = dialer.uses_tls(&targets);
    let interceptor = match (&opts.user, channels.first()) {
        (Some(user), Some(first)) => token(first.clone(), user).await?,
        _ => TokenInterceptor::default(),
    };
    let conns = channels.into_iter().map(|c| InterceptedService::new(c, interceptor.clone())).collect();
    Ok((conns, targets, tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn endpoint_urls() {
        assert_eq!(endpoint_url("127.0.0.1:2379", false), "http://127.0.0.1:2379");
        assert_eq!(endpoint_url("127.0.0.1:2379", true), "https://127.0.0.1:2379");
        assert_eq!(endpoint_url(" http://h:1 ", false), "http://h:1");
        assert_eq!(endpoint_url(" http://h:1 ", true), "http://h:1");
        assert_eq!(endpoint_url("https://h:1", false), "https://h:1");
    }

    #[test]
    fn server_names() {
        assert_eq!(url_host("https://127.0.0.1:2379").as_deref(), Some("127.0.0.1"));
        assert_eq!(url_host("https://localhost:2379").as_deref(), Some("localhost"));
        assert_eq!(url_host("https://[::1]:2379").as_deref(), Some("::1"));
        assert_eq!(url_host("https://node-1.example:2379/").as_deref(), Some("node-1.example"));
    }

    fn dialer(args: &[&str]) -> anyhow::Result<Dialer> {
        let cli = crate::cli::Cli::try_parse_from(["capstan-bench"].iter().chain(args)).unwrap();
        Dialer::new(&cli.global)
    }

    #[test]
    fn tls_decision() {
        let dir = std::env::temp_dir().join(format!("capstan-bench-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n").unwrap();
        let ca = ca.to_str().unwrap();
        let eps = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let plain = dialer(&["range", "k"]).unwrap();
        assert_eq!(plain.url("h:1"), "http://h:1");
        assert!(!plain.uses_tls(&eps(&["h:1", "http://h:2"])));
        assert!(plain.uses_tls(&eps(&["h:1", "https://h:2"])));

        let tls = dialer(&["--cacert", ca, "range", "k"]).unwrap();
        assert_eq!(tls.url("h:1"), "https://h:1");
        assert_eq!(tls.url("http://h:1"), "http://h:1");
        assert!(tls.uses_tls(&eps(&["h:1"])));
        assert!(!tls.uses_tls(&eps(&["http://h:1"])));

        let insecure = dialer(&["--insecure-skip-tls-verify", "range", "k"]).unwrap();
        assert_eq!(insecure.url("h:1"), "http://h:1", "insecure alone does not turn TLS on (as etcd's benchmark)");

        let err = dialer(&["--cacert", dir.join("missing.pem").to_str().unwrap(), "range", "k"]).err().unwrap();
        assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let err = dialer(&["--cacert", not_pem.to_str().unwrap(), "range", "k"]).err().unwrap();
        assert!(format!("{err:#}").contains("no PEM certificate"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
