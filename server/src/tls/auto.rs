//! `--auto-tls` / `--peer-auto-tls`: a self-signed certificate, as etcd
//! makes it (`transport.SelfCert`): for encryption in tests, not for
//! authentication (a dialer does not verify it).
//!
//! Written to `<data-dir>/fixtures/{client,peer}/{cert,key}.pem` and reused
//! when present, as etcd does. One deviation: the key is ECDSA P-256, not
//! P-521 (ring, rustls' provider here, does not sign with P-521).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};

use super::TlsError;

/// The certificate and key files for `hosts`, generated unless present.
pub fn self_signed(dir: &Path, hosts: &[String], validity_years: u64) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        tracing::info!(cert = %cert_path.display(), "reusing the self-signed certificate generated earlier");
        return Ok((cert_path, key_path));
    }
    if validity_years == 0 {
        return Err(TlsError::Invalid("selfSignedCertValidity is invalid,it should be greater than 0".to_string()));
    }
    let failed = |e: rcgen::Error| TlsError::Invalid(format!("cannot generate a self-signed certificate: {e}"));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::OrganizationName, "etcd");
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut serial[..]);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(365 * i64::try_from(validity_years).unwrap_or(i64::MAX / 366));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    for host in hosts {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => params.subject_alt_names.push(SanType::IpAddress(ip)),
            Err(_) => params
                .subject_alt_names
                .push(SanType::DnsName(host.to_string().try_into().map_err(|e: rcgen::Error| failed(e))?)),
        }
    }
    let cert = params.self_signed(&key).map_err(failed)?;
    let write = |path: &Path, text: String| {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(path, text))
            .map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
    };
    write(&key_path, key.serialize_pem())?;
    write(&cert_path, cert.pem())?;
    tracing::info!(cert = %cert_path.display(), hosts = ?hosts, "generated a self-signed certificate");
    Ok((cert_path, key_path))
}
