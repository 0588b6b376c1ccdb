//! A small etcd v3 client for what the operator needs: the Cluster service
//! (MemberList/Add/Promote/Remove) and Maintenance.Status, over tonic with the
//! generated `capstan-proto` clients. It speaks gRPC like any etcd client and
//! never links server code, so it works against Capstan and etcd alike.
//!
//! Membership calls go to whichever endpoint answers first; the member list
//! is read linearizably, so a partitioned follower's stale view can never
//! drive a change. Status goes to one member at a time, since its answer
//! describes that member.

use std::time::Duration;

use capstan_proto::etcdserverpb::cluster_client::ClusterClient;
use capstan_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use capstan_proto::etcdserverpb::{
    Member, MemberAddRequest, MemberListRequest, MemberPromoteRequest, MemberRemoveRequest, StatusRequest,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Errors of the etcd client, with etcd's error texts recognised where the
/// operator reacts to them differently.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The URL is not a valid gRPC endpoint.
    #[error("invalid endpoint {endpoint}: {source}")]
    Endpoint {
        /// The URL.
        endpoint: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// No connection could be made.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The URL.
        endpoint: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The member answered with an error.
    #[error("{op} at {endpoint}: {source}")]
    Rpc {
        /// The RPC.
        op: &'static str,
        /// The URL.
        endpoint: String,
        /// The status.
        #[source]
        source: tonic::Status,
    },
    /// Every endpoint failed; the last error is kept.
    #[error("no endpoint answered {op}: {last}")]
    Unreachable {
        /// The RPC.
        op: &'static str,
        /// The last endpoint's error.
        #[source]
        last: Box<EtcdError>,
    },
    /// No endpoints were given.
    #[error("no endpoints to ask for {0}")]
    NoEndpoints(&'static str),
    /// `etcdserver: member not found`.
    #[error("member {0:x} not found")]
    MemberNotFound(u64),
    /// `etcdserver: Peer URLs already exists`.
    #[error("a member with peer URL {0} already exists")]
    PeerUrlExists(String),
    /// `etcdserver: can only promote a learner member which is in sync with leader`.
    #[error("learner {0:x} has not caught up with the leader yet")]
    LearnerNotReady(u64),
    /// The MemberAdd answer carried no member.
    #[error("MemberAdd answered without the new member")]
    NoMemberInAnswer,
}

impl EtcdError {
    /// Whether the error means "try again shortly" rather than a fault.
    pub fn is_transient(&self) -> bool {
        matches!(self, EtcdError::LearnerNotReady(_))
    }
}

/// The cluster's member list with its ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberList {
    /// Cluster ID.
    pub cluster_id: u64,
    /// Members as reported.
    pub members: Vec<Member>,
}

/// One member's own view, from Maintenance.Status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberHealth {
    /// The member's ID.
    pub member_id: u64,
    /// The leader it sees (0 = none).
    pub leader: u64,
    /// The etcd API version it reports.
    pub version: String,
    /// Alarms and errors it reports.
    pub errors: Vec<String>,
    /// Whether it is a learner.
    pub is_learner: bool,
}

impl MemberHealth {
    /// Healthy: sees a leader and reports no error.
    pub fn healthy(&self) -> bool {
        self.leader != 0 && self.errors.is_empty()
    }
}

/// TLS material for talking to a TLS cluster: the CA bundle to verify
/// members with and, with client certificate auth, the operator's own
/// certificate. Read from the cluster's Secrets at every reconcile, so a
/// renewed client certificate or a rotated CA is used at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// Trusted CAs (PEM, several allowed).
    pub ca_pem: String,
    /// Client certificate and key (PEM), if any.
    pub identity: Option<(String, String)>,
}

/// The client; cheap to clone, opens a connection per call (the operator
/// makes a handful of calls per reconcile, so pooling would buy nothing and
/// cost stale connections to replaced pods).
#[derive(Clone, Debug)]
pub struct EtcdClient {
    timeout: Duration,
    tls: Option<ClientTlsConfig>,
}

impl Default for EtcdClient {
    fn default() -> Self {
        EtcdClient { timeout: Duration::from_secs(5), tls: None }
    }
}

fn message_is(status: &tonic::Status, text: &str) -> bool {
    status.message().contains(text)
}

impl EtcdClient {
    /// A client whose every call (connect + RPC) is bounded by `timeout`.
    pub fn new(timeout: Duration) -> EtcdClient {
        EtcdClient { timeout, tls: None }
    }

    /// The same client speaking TLS with `tls` to `https://` endpoints (the
    /// server name checked is the endpoint's host, which the member
    /// certificates name), or plain text with `None`.
    pub fn with_tls(&self, tls: Option<&ClientTls>) -> EtcdClient {
        let tls = tls.map(|t| {
            let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&t.ca_pem)).assume_http2(true);
            if let Some((cert, key)) = &t.identity {
                config = config.identity(Identity::from_pem(cert, key));
            }
            config
        });
        EtcdClient { timeout: self.timeout, tls }
    }

    async fn channel(&self, endpoint: &str) -> Result<Channel, EtcdError> {
        let mut ep = Endpoint::from_shared(endpoint.to_string())
            .map_err(|source| EtcdError::Endpoint { endpoint: endpoint.to_string(), source })?;
        if let Some(tls) = &self.tls
            && endpoint.starts_with("https://")
        {
            ep = ep
                .tls_config(tls.clone())
                .map_err(|source| EtcdError::Endpoint { endpoint: endpoint.to_string(), source })?;
        }
        ep.connect_timeout(self.timeout)
            .timeout(self.timeout)
            .connect()
            .await
            .map_err(|source| EtcdError::Connect { endpoint: endpoint.to_string(), source })
    }

    /// Runs `call` against each endpoint in turn until one answers; errors
    /// that describe the request (not the endpoint) end the loop at once.
    async fn first<T, F, Fut>(&self, op: &'static str, endpoints: &[String], mut call: F) -> Result<T, EtcdError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut last = None;
        for endpoint in endpoints {
            let channel = match self.channel(endpoint).await {
                Ok(c) => c,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            match call(channel).await {
                Ok(v) => return Ok(v),
                Err(source) => {
                    let definitive = matches!(
                        source.code(),
                        tonic::Code::NotFound | tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument
                    );
                    let err = EtcdError::Rpc { op, endpoint: endpoint.clone(), source };
                    if definitive {
                        return Err(err);
                    }
                    last = Some(err);
                }
            }
        }
        match last {
            Some(last) => Err(EtcdError::Unreachable { op, last: Box::new(last) }),
            None => Err(EtcdError::NoEndpoints(op)),
        }
    }

    /// Linearizable MemberList through the first endpoint that answers.
    pub async fn member_list(&self, endpoints: &[String]) -> Result<MemberList, EtcdError> {
        self.first("MemberList", endpoints, |ch| async move {
            let resp = ClusterClient::new(ch).member_list(MemberListRequest { linearizable: true }).await?.into_inner();
            Ok(MemberList { cluster_id: resp.header.map(|h| h.cluster_id).unwrap_or_default(), members: resp.members })
        })
        .await
    }

    /// MemberAdd as a learner; returns the new member's ID.
    pub async fn add_learner(&self, endpoints: &[String], peer_url: &str) -> Result<u64, EtcdError> {
        let result = self
            .first("MemberAdd", endpoints, |ch| async move {
                let resp = ClusterClient::new(ch)
                    .member_add(MemberAddRequest { peer_ur_ls: vec![peer_url.to_string()], is_learner: true })
                    .await?
                    .into_inner();
                Ok(resp.member.map(|m| m.id))
            })
            .await;
        match result {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(EtcdError::NoMemberInAnswer),
            Err(EtcdError::Rpc { source, .. }) if message_is(&source, "Peer URLs already exists") => {
                Err(EtcdError::PeerUrlExists(peer_url.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// MemberPromote of a learner.
    pub async fn promote(&self, endpoints: &[String], id: u64) -> Result<(), EtcdError> {
        let result = self
            .first("MemberPromote", endpoints, |ch| async move {
                ClusterClient::new(ch).member_promote(MemberPromoteRequest { id }).await?;
                Ok(())
            })
            .await;
        match result {
            Err(EtcdError::Rpc { source, .. }) if message_is(&source, "in sync with leader") => {
                Err(EtcdError::LearnerNotReady(id))
            }
            Err(EtcdError::Rpc { source, .. }) if message_is(&source, "member not found") => {
                Err(EtcdError::MemberNotFound(id))
            }
            other => other,
        }
    }

    /// MemberRemove. Removing a member that is already gone succeeds: the
    /// step's goal holds, which keeps retries idempotent.
    pub async fn remove(&self, endpoints: &[String], id: u64) -> Result<(), EtcdError> {
        let result = self
            .first("MemberRemove", endpoints, |ch| async move {
                ClusterClient::new(ch).member_remove(MemberRemoveRequest { id }).await?;
                Ok(())
            })
            .await;
        match result {
            Err(EtcdError::Rpc { source, .. }) if message_is(&source, "member not found") => Ok(()),
            other => other,
        }
    }

    /// Maintenance.Status of the member at `endpoint`.
    pub async fn status(&self, endpoint: &str) -> Result<MemberHealth, EtcdError> {
        let channel = self.channel(endpoint).await?;
        let resp = MaintenanceClient::new(channel)
            .status(StatusRequest {})
            .await
            .map_err(|source| EtcdError::Rpc { op: "Status", endpoint: endpoint.to_string(), source })?
            .into_inner();
        Ok(MemberHealth {
            member_id: resp.header.map(|h| h.member_id).unwrap_or_default(),
            leader: resp.leader,
            version: resp.version,
            errors: resp.errors,
            is_learner: resp.is_learner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_endpoints_report_the_last_error() {
        let client = EtcdClient::new(Duration::from_millis(300));
        // Port 1 on loopback: nothing listens there.
        let err = client.member_list(&["http://127.0.0.1:1".to_string()]).await.unwrap_err();
        assert!(matches!(err, EtcdError::Unreachable { op: "MemberList", .. }), "{err}");
        let err = client.member_list(&[]).await.unwrap_err();
        assert!(matches!(err, EtcdError::NoEndpoints("MemberList")));
        let err = client.status("not a url").await.unwrap_err();
        assert!(matches!(err, EtcdError::Endpoint { .. } | EtcdError::Connect { .. }), "{err}");
    }

    /// A Cluster service that answers MemberList only, served over TLS.
    struct FakeCluster;

    #[tonic::async_trait]
    impl capstan_proto::etcdserverpb::cluster_server::Cluster for FakeCluster {
        async fn member_add(
            &self,
            _: tonic::Request<MemberAddRequest>,
        ) -> Result<tonic::Response<capstan_proto::etcdserverpb::MemberAddResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("test"))
        }
        async fn member_remove(
            &self,
            _: tonic::Request<MemberRemoveRequest>,
        ) -> Result<tonic::Response<capstan_proto::etcdserverpb::MemberRemoveResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("test"))
        }
        async fn member_update(
            &self,
            _: tonic::Request<capstan_proto::etcdserverpb::MemberUpdateRequest>,
        ) -> Result<tonic::Response<capstan_proto::etcdserverpb::MemberUpdateResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("test"))
        }
        async fn member_list(
            &self,
            _: tonic::Request<MemberListRequest>,
        ) -> Result<tonic::Response<capstan_proto::etcdserverpb::MemberListResponse>, tonic::Status> {
            let header = capstan_proto::etcdserverpb::ResponseHeader { cluster_id: 42, ..Default::default() };
            Ok(tonic::Response::new(capstan_proto::etcdserverpb::MemberListResponse {
                header: Some(header),
                ..Default::default()
            }))
        }
        async fn member_promote(
            &self,
            _: tonic::Request<MemberPromoteRequest>,
        ) -> Result<tonic::Response<capstan_proto::etcdserverpb::MemberPromoteResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("test"))
        }
    }

    /// The operator's client against a gRPC server requiring client
    /// certificates: the right CA bundle (holding two CAs, as during a
    /// rotation) and client certificate work; a missing client certificate
    /// or a foreign CA does not.
    #[tokio::test]
    async fn member_list_over_mutual_tls() {
        use crate::tls::pki::tests::{DAY, spec};
        use crate::tls::pki::{Purpose, issue, new_ca};
        use tonic::transport::{Server, ServerTlsConfig};
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let ca = new_ca("ca", now - 60, now + DAY).unwrap();
        let other = new_ca("other", now - 60, now + DAY).unwrap();
        let server = issue(&ca, &spec(Purpose::Server), now - 60, now + DAY).unwrap();
        let client = issue(&ca, &spec(Purpose::Client), now - 60, now + DAY).unwrap();
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(&server.cert_pem, &server.key_pem))
            .client_ca_root(Certificate::from_pem(&ca.cert_pem));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(
            Server::builder()
                .tls_config(tls)
                .unwrap()
                .add_service(capstan_proto::etcdserverpb::cluster_server::ClusterServer::new(FakeCluster))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        // `localhost` is one of the certificate's names; 127.0.0.1 too.
        let endpoints = [format!("https://localhost:{port}")];
        let base = EtcdClient::new(Duration::from_secs(3));
        let good = ClientTls {
            ca_pem: format!("{}{}", other.cert_pem, ca.cert_pem),
            identity: Some((client.cert_pem.clone(), client.key_pem.clone())),
        };
        let list = base.with_tls(Some(&good)).member_list(&endpoints).await.unwrap();
        assert_eq!(list.cluster_id, 42);
        let anonymous = ClientTls { identity: None, ..good.clone() };
        assert!(base.with_tls(Some(&anonymous)).member_list(&endpoints).await.is_err());
        let foreign = ClientTls { ca_pem: other.cert_pem.clone(), ..good.clone() };
        assert!(base.with_tls(Some(&foreign)).member_list(&endpoints).await.is_err());
        assert!(base.member_list(&endpoints).await.is_err(), "no TLS configured");
    }

    #[test]
    fn health_needs_a_leader_and_no_errors() {
        let mut h =
            MemberHealth { member_id: 1, leader: 2, version: "3.6.6".into(), errors: vec![], is_learner: false };
        assert!(h.healthy());
        h.errors.push("NOSPACE".into());
        assert!(!h.healthy());
        h.errors.clear();
        h.leader = 0;
        assert!(!h.healthy());
    }
}
