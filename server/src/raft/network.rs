//! openraft's network over the peer gRPC service: each Raft RPC is one unary
//! call whose payload is the bincode encoding of openraft's request, and whose
//! reply is the bincode encoding of the remote `Result`. Snapshots travel in
//! chunks through `InstallSnapshot` (openraft's chunked transport reads them
//! from the snapshot file).

use std::sync::Arc;

use capstan_proto::capstanpb::RaftMessage;
use capstan_proto::capstanpb::peer_client::PeerClient;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use super::{NodeId, PeerNode, TypeConfig};
use crate::metrics::Metrics;
use crate::peer::{Contact, PeerClients, PeerError};

/// Creates connections to peers.
#[derive(Clone)]
pub struct PeerNetwork {
    clients: Arc<PeerClients>,
    metrics: Arc<Metrics>,
}

impl PeerNetwork {
    pub fn new(clients: Arc<PeerClients>, metrics: Arc<Metrics>) -> Self {
        Self { clients, metrics }
    }
}

/// A connection to one peer.
pub struct PeerConnection {
    target: NodeId,
    urls: Vec<String>,
    clients: Arc<PeerClients>,
    metrics: Arc<Metrics>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerConnection {
        PeerConnection {
            target,
            urls: node.peer_urls.clone(),
            clients: self.clients.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum RaftRpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CodecError(String);

type RpcResult<T, E> = Result<T, RPCError<NodeId, PeerNode, RaftError<NodeId, E>>>;

impl PeerConnection {
    async fn call<Q, P, E>(&self, rpc: RaftRpc, request: &Q, option: &RPCOption) -> RpcResult<P, E>
    where
        Q: Serialize,
        P: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let payload = bincode::serialize(request)
            .map_err(|e| RPCError::Network(NetworkError::new(&CodecError(e.to_string()))))?;
        let Some(url) = self.urls.first() else {
            return Err(RPCError::Unreachable(Unreachable::new(&PeerError::NoAddress(self.target))));
        };
        let client = self.clients.client(url).map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let request = self.clients.request(RaftMessage { payload }, Some(option.hard_ttl()));
        let reply = match send(client, rpc, request).await {
            Ok(reply) => reply.into_inner(),
            Err(status) => {
                let code = status.code();
                let error = self.clients.error(url, status);
                // Like etcd's transport, a peer stops counting as connected
                // when the connection fails, not when one call times out
                // under load (that reset the 5 s health clock of the
                // reconfiguration checks over and over).
                let contact = match &error {
                    PeerError::Unreachable { never_sent: true, .. } => Contact::Lost,
                    PeerError::Unreachable { .. } if code == tonic::Code::Unavailable => Contact::Lost,
                    PeerError::Unreachable { .. } => Contact::Unknown,
                    _ => Contact::Answered,
                };
                if self.clients.record_contact(self.target, contact) {
                    // etcd logs when a peer's stream is lost; so do we, once
                    // per loss, with the transport's reason (a refused TLS
                    // handshake names the certificate problem).
                    tracing::warn!(
                        remote_peer_id = %format!("{:x}", self.target),
                        error = %error,
                        "cannot reach a remote peer"
                    );
                }
                return Err(match error {
                    e @ PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
                    e => RPCError::Network(NetworkError::new(&e)),
                });
            }
        };
        self.clients.record_contact(self.target, Contact::Answered);
        let result: Result<P, RaftError<NodeId, E>> = bincode::deserialize(&reply.payload)
            .map_err(|e| RPCError::Network(NetworkError::new(&CodecError(e.to_string()))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

async fn send(
    mut client: PeerClient<Channel>,
    rpc: RaftRpc,
    request: tonic::Request<RaftMessage>,
) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
    match rpc {
        RaftRpc::AppendEntries => client.append_entries(request).await,
        RaftRpc::Vote => client.vote(request).await,
        RaftRpc::InstallSnapshot => client.install_snapshot(request).await,
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call(RaftRpc::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        let done = rpc.done;
        let result = self.call(RaftRpc::InstallSnapshot, &rpc, &option).await;
        if done && result.is_ok() {
            self.metrics.snapshot_send_success.inc();
        }
        result
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call(RaftRpc::Vote, &rpc, &option).await
    }
}
