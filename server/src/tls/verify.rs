//! Certificate checks beyond the chain: etcd's CRL (by serial) and its
//! allowed-CN and allowed-hostname lists, on both the listener (verifying
//! clients or connecting peers) and the dialer (verifying the peer it
//! reached), as etcd's `VerifyPeerCertificate` applies them both ways.

use std::collections::HashSet;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, SignatureScheme};

use super::material::CertFacts;

/// etcd's text when a certificate is not in the allowed lists.
const NOT_ALLOWED: &str = "client certificate authentication failed";

/// What a verified certificate must also satisfy.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Serials revoked by the CRL, or why the CRL could not be read (then
    /// every handshake fails, as in etcd: fail closed).
    pub revoked: Option<Result<Arc<HashSet<Vec<u8>>>, String>>,
    /// The leaf's common name must be one of these (if any).
    pub allowed_cns: Vec<String>,
    /// The leaf must be valid for one of these hostnames (if any).
    pub allowed_hostnames: Vec<String>,
}

fn reject(reason: impl Into<String>) -> Error {
    let reason: String = reason.into();
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(std::io::Error::other(reason)))))
}

impl Extra {
    fn check(&self, end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Result<(), Error> {
        if let Some(revoked) = &self.revoked {
            let revoked = revoked.as_ref().map_err(|e| reject(format!("cannot read the CRL: {e}")))?;
            for cert in std::iter::once(end_entity).chain(intermediates) {
                let facts =
                    CertFacts::read(cert).map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
                if revoked.contains(&facts.serial) {
                    return Err(Error::InvalidCertificate(CertificateError::Revoked));
                }
            }
        }
        if self.allowed_cns.is_empty() && self.allowed_hostnames.is_empty() {
            return Ok(());
        }
        let leaf = CertFacts::read(end_entity).map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let cn_ok = leaf.common_name.as_ref().is_some_and(|cn| self.allowed_cns.iter().any(|a| a == cn));
        let host_ok = self.allowed_hostnames.iter().any(|h| leaf.matches_host(h));
        if cn_ok || host_ok { Ok(()) } else { Err(reject(NOT_ALLOWED)) }
    }
}

/// Verifies client certificates (client listener) or connecting peers'
/// certificates (peer listener): the chain by webpki against the CA bundle,
/// then [`Extra`].
#[derive(Debug)]
pub struct ClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    extra: Extra,
}

impl ClientVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, extra: Extra) -> Self {
        Self { inner, extra }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        self.extra.check(end_entity, intermediates)?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies the certificate of the member a dial reached: the chain and
/// name by webpki against `--peer-trusted-ca-file` (or nothing with
/// auto-TLS, which etcd dials with `InsecureSkipVerify`), then [`Extra`].
#[derive(Debug)]
pub struct ServerVerifier {
    /// `None`: auto-TLS, the chain is not verified (signatures still are).
    inner: Option<Arc<dyn ServerCertVerifier>>,
    extra: Extra,
    provider: Arc<CryptoProvider>,
}

impl ServerVerifier {
    pub fn new(inner: Option<Arc<dyn ServerCertVerifier>>, extra: Extra, provider: Arc<CryptoProvider>) -> Self {
        Self { inner, extra, provider }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Some(inner) = &self.inner {
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        self.extra.check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
