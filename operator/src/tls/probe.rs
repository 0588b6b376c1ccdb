//! Looking at a member from outside over TLS: which certificate it serves,
//! and whether it accepts a given client certificate. This is how a CA
//! rotation knows a member has picked up new files, instead of trusting a
//! timer alone.
//!
//! The probe completes a handshake that accepts any server certificate (it
//! records it; nothing is sent over the connection) and presents the client
//! certificate given. A server that rejects the client certificate says so
//! with an alert: during the handshake with TLS 1.2, right after it with
//! TLS 1.3. So after the handshake the probe reads briefly: data (an HTTP/2
//! server sends its SETTINGS frame at once) or silence means accepted, an
//! alert or a closed connection means rejected.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error as TlsError, SignatureScheme};

use super::pki::{self, CertInfo, KeyedCert};

/// What a probe saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The certificate the server presented, if the handshake got that far.
    pub served: Option<CertInfo>,
    /// Whether the server accepted the client certificate (`false` also
    /// when no connection could be made).
    pub accepted: bool,
    /// What went wrong, for messages.
    pub error: Option<String>,
}

/// Records the server's certificate and accepts it: the probe judges the
/// certificate itself, it does not rely on it.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn failed(served: Option<CertInfo>, error: String) -> ProbeOutcome {
    ProbeOutcome { served, accepted: false, error: Some(error) }
}

/// Probes `host:port`, presenting `identity` when given. Bounded by `timeout`
/// for the connection and handshake, and a second for the verdict read.
pub async fn probe(host: &str, port: u16, identity: Option<&KeyedCert>, timeout: Duration) -> ProbeOutcome {
    let provider = Arc::new(ring::default_provider());
    let recorder = Arc::new(Recorder { seen: Mutex::new(None), provider: provider.clone() });
    let builder = match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(recorder.clone()),
        Err(e) => return failed(None, e.to_string()),
    };
    let config = match identity {
        Some(id) => {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes()).collect();
            let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes());
            match (certs, key) {
                (Ok(certs), Ok(key)) => builder.with_client_auth_cert(certs, key),
                _ => return failed(None, "unreadable client certificate or key".into()),
            }
        }
        None => Ok(builder.with_no_client_auth()),
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => return failed(None, e.to_string()),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let Ok(name) = ServerName::try_from(host.to_string()) else {
        return failed(None, format!("invalid host name {host}"));
    };
    let seen =
        || recorder.seen.lock().unwrap_or_else(|e| e.into_inner()).as_deref().and_then(|der| pki::parse_der(der).ok());
    let connect = async {
        let tcp = TcpStream::connect((host, port)).await?;
        TlsConnector::from(Arc::new(config)).connect(name, tcp).await
    };
    let mut stream = match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(seen(), e.to_string()),
        Err(_) => return failed(seen(), format!("no TLS handshake with {host}:{port} within {timeout:?}")),
    };
    let mut buf = [0u8; 64];
    let verdict = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
    let served = seen();
    match verdict {
        Ok(Ok(n)) if n > 0 => ProbeOutcome { served, accepted: true, error: None },
        Ok(Ok(_)) => failed(served, "the server closed the connection after the handshake".into()),
        Ok(Err(e)) => failed(served, e.to_string()),
        // No alert within a second of the handshake: nothing was rejected.
        Err(_) => ProbeOutcome { served, accepted: true, error: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::tests::{DAY, spec};
    use crate::tls::pki::{Purpose, issue, new_ca, parse_first};
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::RootCertStore;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::server::WebPkiClientVerifier;

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    /// A TLS server requiring client certificates from `trusted`, serving
    /// `cert`, that writes a few bytes to each accepted client (like an
    /// HTTP/2 server's SETTINGS frame).
    async fn server(cert: &KeyedCert, trusted: &KeyedCert) -> u16 {
        let provider = Arc::new(ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(trusted.cert_pem.as_bytes()).unwrap()).unwrap();
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut s) = acceptor.accept(tcp).await {
                        let _ = s.write_all(b"\0\0\0\x04\0\0\0\0\0").await;
                        let _ = s.flush().await;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn sees_the_served_certificate_and_whether_a_client_certificate_is_trusted() {
        let t = now();
        let ca = new_ca("ca", t - 60, t + DAY).unwrap();
        let other = new_ca("other", t - 60, t + DAY).unwrap();
        let served = issue(&ca, &spec(Purpose::Peer), t - 60, t + DAY).unwrap();
        let port = server(&served, &ca).await;
        let good = issue(&ca, &spec(Purpose::Client), t - 60, t + DAY).unwrap();
        let bad = issue(&other, &spec(Purpose::Client), t - 60, t + DAY).unwrap();
        let want = parse_first(&served.cert_pem).unwrap();
        let timeout = Duration::from_secs(5);

        let ok = probe("127.0.0.1", port, Some(&good), timeout).await;
        assert_eq!((ok.served.as_ref(), ok.accepted), (Some(&want), true), "{ok:?}");
        let refused = probe("127.0.0.1", port, Some(&bad), timeout).await;
        assert_eq!((refused.served.as_ref(), refused.accepted), (Some(&want), false), "{refused:?}");
        let anonymous = probe("127.0.0.1", port, None, timeout).await;
        assert_eq!((anonymous.served.as_ref(), anonymous.accepted), (Some(&want), false), "{anonymous:?}");
        let closed = probe("127.0.0.1", 1, Some(&good), timeout).await;
        assert_eq!((closed.served, closed.accepted), (None, false));
    }
}
