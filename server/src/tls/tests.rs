//! Handshakes over real sockets: a [`SecureListener`] on 127.0.0.1 and a
//! rustls client, with certificates made here by rcgen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::serve::Listener;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::listener::{Mode, SecureListener};
use super::*;
use crate::config::TlsInfo;

struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Ca { cert_pem: cert.pem(), issuer: Issuer::new(params, key) }
}

/// A leaf for 127.0.0.1 with both usages, as etcd's fixtures.
fn leaf(ca: &Ca, cn: &str, serial: u64) -> (String, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.serial_number = Some(SerialNumber::from(serial));
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    // Atomic replacement, as a Secret update or `mv` does.
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn settings(dir: &Path, info: TlsInfo) -> SideSettings {
    SideSettings {
        side: Side::Client,
        info,
        min_version: None,
        max_version: None,
        self_signed_validity_years: 1,
        fixtures_dir: dir.join("fixtures"),
        hosts: vec!["127.0.0.1".into()],
    }
}

async fn serve(tls: Arc<ServerTls>) -> std::net::SocketAddr {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let mut listener = SecureListener::spawn(tcp, Mode::Tls(tls), Side::Client, false);
    tokio::spawn(async move {
        loop {
            let (mut conn, remote) = listener.accept().await;
            let cn = remote.common_name.as_deref().unwrap_or("-").to_string();
            tokio::spawn(async move {
                let _ = conn.write_all(cn.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

/// Connects as a client trusting `ca_pem`, with an optional certificate;
/// returns the server's leaf serial and what the server wrote (the CN it saw).
async fn connect(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    client: Option<&(String, String)>,
) -> Result<(Vec<u8>, String), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap();
    let builder = builder.with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes()).map(Result::unwrap).collect();
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap()).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut stream =
        connector.connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.map_err(|e| e.to_string())?;
    let serial = {
        let leaf = &stream.get_ref().1.peer_certificates().unwrap()[0];
        material::CertFacts::read(leaf).unwrap().serial
    };
    // With TLS 1.3 a refused client certificate shows on the first read.
    let mut seen = String::new();
    stream.read_to_string(&mut seen).await.map_err(|e| e.to_string())?;
    Ok((serial, seen))
}

fn with_files(dir: &Path, ca: &Ca, server: &(String, String)) -> TlsInfo {
    TlsInfo {
        cert_file: Some(write(dir, "server.crt", &server.0)),
        key_file: Some(write(dir, "server.key", &server.1)),
        trusted_ca_file: Some(write(dir, "ca.crt", &ca.cert_pem)),
        client_cert_auth: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn client_certificates_are_required_and_their_common_name_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("ca");
    let info = with_files(dir.path(), &ca, &leaf(&ca, "server", 1));
    let tls = Arc::new(ServerTls::new(settings(dir.path(), info), &Default::default()).unwrap());
    let addr = serve(tls).await;

    let alice = leaf(&ca, "alice", 10);
    let (_, cn) = connect(addr, &ca.cert_pem, Some(&alice)).await.unwrap();
    assert_eq!(cn, "alice");
    assert!(connect(addr, &ca.cert_pem, None).await.is_err(), "a client without a certificate is refused");
    let other = new_ca("other");
    let foreign = leaf(&other, "mallory", 11);
    assert!(connect(addr, &ca.cert_pem, Some(&foreign)).await.is_err(), "another CA's certificate is refused");
}

#[tokio::test]
async fn renewed_certificate_and_ca_bundle_are_used_by_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let old = new_ca("old-ca");
    let info = with_files(dir.path(), &old, &leaf(&old, "server", 1));
    let tls = Arc::new(ServerTls::new(settings(dir.path(), info), &Default::default()).unwrap());
    let addr = serve(tls).await;
    let client_old = leaf(&old, "alice", 20);
    assert_eq!(connect(addr, &old.cert_pem, Some(&client_old)).await.unwrap().0, vec![1]);

    // Phase 1: the bundle trusts both CAs.
    let new = new_ca("new-ca");
    let bundle = format!("{}{}", old.cert_pem, new.cert_pem);
    write(dir.path(), "ca.crt", &bundle);
    let client_new = leaf(&new, "bob", 21);
    assert_eq!(connect(addr, &old.cert_pem, Some(&client_new)).await.unwrap().1, "bob");
    assert_eq!(connect(addr, &old.cert_pem, Some(&client_old)).await.unwrap().1, "alice");

    // Phase 2: the server's certificate is re-issued by the new CA. The key
    // is written second: in between, the old pair goes on being served.
    let server_new = leaf(&new, "server", 2);
    write(dir.path(), "server.crt", &server_new.0);
    assert_eq!(connect(addr, &bundle, Some(&client_new)).await.unwrap().0, vec![1], "half-written pair ignored");
    write(dir.path(), "server.key", &server_new.1);
    assert_eq!(connect(addr, &bundle, Some(&client_new)).await.unwrap().0, vec![2]);

    // Phase 3: the old CA is dropped: its clients are refused.
    write(dir.path(), "ca.crt", &new.cert_pem);
    assert!(connect(addr, &new.cert_pem, Some(&client_old)).await.is_err());
    assert_eq!(connect(addr, &new.cert_pem, Some(&client_new)).await.unwrap().1, "bob");
}

#[tokio::test]
async fn revoked_and_not_allowed_certificates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("ca");
    // A CRL revoking serial 30, signed by the CA.
    let crl = rcgen::CertificateRevocationListParams {
        this_update: time::OffsetDateTime::now_utc(),
        next_update: time::OffsetDateTime::now_utc() + time::Duration::days(1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: SerialNumber::from(30u64),
            revocation_time: time::OffsetDateTime::now_utc(),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&ca.issuer)
    .unwrap();
    let crl_path = dir.path().join("crl.der");
    std::fs::write(&crl_path, crl.der()).unwrap();
    let mut info = with_files(dir.path(), &ca, &leaf(&ca, "server", 1));
    info.crl_file = Some(crl_path);
    info.allowed_cns = vec!["alice".into(), "carol".into()];
    let tls = Arc::new(ServerTls::new(settings(dir.path(), info), &Default::default()).unwrap());
    let addr = serve(tls).await;

    assert_eq!(connect(addr, &ca.cert_pem, Some(&leaf(&ca, "alice", 31))).await.unwrap().1, "alice");
    assert!(connect(addr, &ca.cert_pem, Some(&leaf(&ca, "carol", 30))).await.is_err(), "revoked");
    assert!(connect(addr, &ca.cert_pem, Some(&leaf(&ca, "bob", 32))).await.is_err(), "CN not allowed");
}

#[test]
fn start_up_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("ca");
    let mut info = with_files(dir.path(), &ca, &leaf(&ca, "server", 1));
    info.allowed_cns = vec!["a".into()];
    info.allowed_hostnames = vec!["b".into()];
    let e = ServerTls::new(settings(dir.path(), info), &Default::default()).unwrap_err().to_string();
    assert_eq!(e, "AllowedCNs and AllowedHostnames are mutually exclusive (cns=[\"a\"], hostnames=[\"b\"])");

    let mut info = with_files(dir.path(), &ca, &leaf(&ca, "server", 1));
    info.key_file = Some(write(dir.path(), "other.key", &leaf(&ca, "x", 2).1));
    let e = ServerTls::new(settings(dir.path(), info), &Default::default()).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
}

#[tokio::test]
async fn auto_tls_generates_once_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let info = TlsInfo { auto_tls: true, ..Default::default() };
    let s = settings(dir.path(), info);
    let _tls = ServerTls::new(s.clone(), &Default::default()).unwrap();
    let cert = std::fs::read(dir.path().join("fixtures/cert.pem")).unwrap();
    let _again = ServerTls::new(s, &Default::default()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("fixtures/cert.pem")).unwrap(), cert);
}
