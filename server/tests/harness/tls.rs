//! Certificates for a peer-TLS harness cluster: one CA and one peer
//! certificate for 127.0.0.1 that every member serves and dials with (both
//! usages, as etcd's fixtures), written to a temp dir.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};

pub struct PeerCerts {
    pub dir: tempfile::TempDir,
    /// The `peer-transport-security:` section naming the files.
    pub yaml: String,
}

impl PeerCerts {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name.push(DnType::CommonName, "harness-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut peer = CertificateParams::default();
        peer.distinguished_name.push(DnType::CommonName, "harness-peer");
        peer.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        peer.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = peer.signed_by(&key, &issuer).unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let ca_path = write("ca.crt", ca_cert.pem());
        let cert_path = write("peer.crt", cert.pem());
        let key_path = write("peer.key", key.serialize_pem());
        let yaml = format!(
            "peer-transport-security:\n  cert-file: {cert_path}\n  key-file: {key_path}\n  trusted-ca-file: {ca_path}\n  client-cert-auth: true\n"
        );
        Self { dir, yaml }
    }
}
