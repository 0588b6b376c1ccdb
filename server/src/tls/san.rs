//! etcd's check of a connecting peer's address against its certificate
//! (`checkCertSAN`, peer listener only, unless
//! `--peer-skip-client-san-verification`): a member may only connect from
//! an address its certificate names.
//!
//! 1. A certificate without IP and DNS SANs is accepted.
//! 2. An IP SAN equal to the remote IP is accepted.
//! 3. A DNS SAN (not a wildcard) that resolves to the remote IP is accepted.
//!
//! etcd also tries a reverse (PTR) lookup of the remote IP against the DNS
//! SANs, wildcards included; Capstan does not (a member whose certificate
//! names it only by a wildcard that PTR records would match is refused).

use std::net::IpAddr;

use rustls::pki_types::CertificateDer;

use super::material::{CertFacts, go_quoted};

/// Ok when `leaf` names `remote`; else etcd's error text.
pub async fn check(leaf: &CertificateDer<'static>, remote: IpAddr) -> Result<(), String> {
    let facts = CertFacts::read(leaf)?;
    if facts.ips.is_empty() && facts.dns_names.is_empty() {
        return Ok(());
    }
    // An IPv4 peer seen on a dual-stack socket as ::ffff:a.b.c.d.
    let remote = match remote {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(remote, IpAddr::V4),
        v4 => v4,
    };
    if facts.ips.contains(&remote) {
        return Ok(());
    }
    for name in facts.dns_names.iter().filter(|n| !n.starts_with("*.")) {
        if let Ok(addrs) = tokio::net::lookup_host((name.as_str(), 0)).await
            && addrs.into_iter().any(|a| a.ip() == remote)
        {
            return Ok(());
        }
    }
    if facts.dns_names.is_empty() {
        let ips: Vec<String> = facts.ips.iter().map(IpAddr::to_string).collect();
        return Err(format!("tls: \"{remote}\" does not match any of IPAddresses {}", go_quoted(&ips)));
    }
    Err(format!("tls: \"{remote}\" does not match any of DNSNames {}", go_quoted(&facts.dns_names)))
}
