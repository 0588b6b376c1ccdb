//! The two Services of a cluster.
//!
//! The headless peer Service gives every member pod a stable DNS name
//! (`<pod>.<cluster>-peers.<ns>.svc`), which is what peer and advertised
//! client URLs are made of. It publishes not-ready addresses: a member is
//! only ready once it is part of a quorum, and it cannot get there unless its
//! peers can resolve it first. The client Service load-balances over ready
//! members only.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{CLIENT_PORT, Names, PEER_PORT};

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port: number,
        target_port: Some(IntOrString::String(name.to_string())),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    }
}

/// The headless Service behind member DNS names (client and peer ports).
pub fn peer_service(names: &Names) -> Service {
    Service {
        metadata: names.meta(names.peer_service()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_string()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names.selector_labels()),
            ports: Some(vec![port("client", CLIENT_PORT), port("peer", PEER_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The ClusterIP Service clients connect to (client port, ready members only).
pub fn client_service(names: &Names) -> Service {
    Service {
        metadata: names.meta(names.client_service()),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(names.selector_labels()),
            ports: Some(vec![port("client", CLIENT_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::names;

    #[test]
    fn peer_service_is_headless_and_publishes_not_ready() {
        let svc = peer_service(&names());
        assert_eq!(svc.metadata.name.as_deref(), Some("demo-peers"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        let ports: Vec<(String, i32)> = spec.ports.unwrap().into_iter().map(|p| (p.name.unwrap(), p.port)).collect();
        assert_eq!(ports, [("client".to_string(), 2379), ("peer".to_string(), 2380)]);
        assert_eq!(spec.selector, Some(names().selector_labels()));
    }

    #[test]
    fn client_service_only_exposes_the_client_port() {
        let svc = client_service(&names());
        assert_eq!(svc.metadata.name.as_deref(), Some("demo"));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.publish_not_ready_addresses, None);
        let ports = spec.ports.unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port, 2379);
        assert_eq!(ports[0].target_port, Some(IntOrString::String("client".into())));
    }
}
