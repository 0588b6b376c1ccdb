//! Connections to other members. One lazily connected HTTP/2 channel per
//! peer URL, shared by Raft replication and request forwarding; every call
//! names this member and its cluster in its metadata.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use capstan_proto::capstanpb::peer_client::PeerClient;
use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{CLUSTER_ID_HEADER, CLUSTER_MISMATCH_CODE, ERROR_CODE_HEADER, MEMBER_ID_HEADER, REMOVED_CODE};
use crate::membership::MemberTable;
use crate::tls::PeerDialer;

/// Why a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PeerError {
    /// No answer from the peer (connection refused, reset or lost, deadline
    /// passed): try later. Unless `never_sent`, the request may have reached
    /// the peer and taken effect there.
    #[error("peer {url} unreachable: {reason}")]
    Unreachable {
        url: String,
        reason: String,
        /// No connection could be made, so the request never left this member.
        never_sent: bool,
    },
    /// The peer (or something between) answered with an error. `code` is the
    /// peer's typed refusal ([`ERROR_CODE_HEADER`]), if it named one.
    #[error("peer {url}: {status}")]
    Refused { url: String, status: Status, code: Option<String> },
    #[error("peer url {0:?} is not usable: {1}")]
    BadUrl(String, String),
    #[error("member {0:x} has no peer URLs")]
    NoAddress(u64),
}
/// What one call to a peer tells about the connection to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// The peer answered (even with a refusal): it is reachable.
    Answered,
    /// No connection could be made, or the connection failed.
    Lost,
    /// The call timed out or was cancelled: says nothing of the connection.
    Unknown,
}

/// The shared pool of peer connections.
pub struct PeerClients {
    local_id: u64,
    /// 0 until known (a member joining an existing cluster learns it first).
    cluster_id: AtomicU64,
    members: Arc<MemberTable>,
    /// Dials plain `http://` or TLS `https://` peer URLs.
    dialer: PeerDialer,
    channels: Mutex<HashMap<String, Channel>>,
    /// Since when each peer has answered every Raft message without a
    /// transport failure (etcd's transport `ActiveSince`); absent while it
    /// is unreachable or was never reached.
    active_since: Mutex<HashMap<u64, Instant>>,
    /// Peers whose loss was logged since they last answered.
    loss_reported: Mutex<std::collections::HashSet<u64>>,
}

/// Bound on establishing a connection; Raft retries unreachable peers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl PeerClients {
    pub fn new(local_id: u64, cluster_id: u64, members: Arc<MemberTable>, dialer: PeerDialer) -> Arc<Self> {
        Arc::new(Self {
            local_id,
            cluster_id: AtomicU64::new(cluster_id),
            members,
            dialer,
            channels: Mutex::default(),
            active_since: Mutex::default(),
            loss_reported: Mutex::default(),
        })
    }

    /// A client for the peer at `url` (the connection is made on first use).
    pub fn client(&self, url: &str) -> Result<PeerClient<Channel>, PeerError> {
        let mut channels = self.channels.lock();
        if let Some(ch) = channels.get(url) {
            return Ok(wrap(ch.clone()));
        }
        let (tonic_url, connector) = self.dialer.connector_for(url);
        let endpoint = Endpoint::from_shared(tonic_url)
            .map_err(|e| PeerError::BadUrl(url.to_string(), e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .http2_adaptive_window(true);
        let ch = endpoint.connect_with_connector_lazy(connector);
        channels.insert(url.to_string(), ch.clone());
        Ok(wrap(ch))
    }

    /// Records the outcome of a Raft message to `peer` (see [`Contact`]);
    /// true when the loss is worth a log line: it ends a period of activity,
    /// or it is the first failure since the peer last answered (a peer never
    /// reached, e.g. refused by TLS, is reported once, not per message).
    pub fn record_contact(&self, peer: u64, contact: Contact) -> bool {
        let mut active = self.active_since.lock();
        let mut reported = self.loss_reported.lock();
        match contact {
            Contact::Answered => {
                active.entry(peer).or_insert_with(Instant::now);
                reported.remove(&peer);
                false
            }
            Contact::Lost => {
                let was_active = active.remove(&peer).is_some();
                reported.insert(peer) || was_active
            }
            Contact::Unknown => false,
        }
    }

    /// Since when `peer` has been reachable without interruption, if it is.
    pub fn active_since(&self, peer: u64) -> Option<Instant> {
        self.active_since.lock().get(&peer).copied()
    }

    /// Wraps `message` with this member's identity and an optional deadline.
    pub fn request<T>(&self, message: T, timeout: Option<Duration>) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        let md = req.metadata_mut();
        let cluster = format!("{:x}", self.cluster_id.load(Ordering::Relaxed));
        md.insert(CLUSTER_ID_HEADER, cluster.parse().expect("hex is valid metadata"));
        md.insert(MEMBER_ID_HEADER, format!("{:x}", self.local_id).parse().expect("hex is valid metadata"));
        if let Some(t) = timeout {
            req.set_timeout(t);
        }
        req
    }

    /// Classifies a failed call; notices when the peer says this member was
    /// removed from the cluster. Typed, never by the error's text: a peer's
    /// refusal carries its code in [`ERROR_CODE_HEADER`], and whether a
    /// request left this member is read from the transport's error types.
    pub fn error(&self, url: &str, status: Status) -> PeerError {
        let code = status.metadata().get(ERROR_CODE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        match code.as_deref() {
            Some(REMOVED_CODE) => {
                tracing::error!(peer = url, "a peer reports this member was removed from the cluster");
                self.members.mark_self_removed();
            }
            Some(CLUSTER_MISMATCH_CODE) => tracing::error!(
                peer = url,
                local_cluster = %format!("{:x}", self.cluster_id.load(Ordering::Relaxed)),
                "the peer belongs to another cluster (check --initial-cluster-token and --initial-cluster)"
            ),
            _ => {}
        }
        if code.is_some() {
            return PeerError::Refused { url: url.to_string(), status, code };
        }
        // A status with a source was made by this member's transport, not received.
        let failed_here = std::error::Error::source(&status);
        if failed_here.is_some() || matches!(status.code(), Code::Unavailable | Code::Cancelled) {
            return PeerError::Unreachable {
                url: url.to_string(),
                reason: with_causes(&status),
                never_sent: failed_here.is_some_and(never_connected),
            };
        }
        PeerError::Refused { url: url.to_string(), status, code: None }
    }
}

/// A status's message followed by its chain of causes (the transport's
/// own errors carry the reason there: refused connection, TLS alert).
pub fn with_causes(status: &Status) -> String {
    let mut text = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(e) = cause {
        let line = e.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = e.source();
    }
    text
}

/// Whether a transport error is a failure to connect: tonic wraps what its
/// connector returns (TCP connect, TLS handshake) in [`tonic::ConnectError`],
/// and a request is written only on an established connection.
fn never_connected(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn wrap(ch: Channel) -> PeerClient<Channel> {
    PeerClient::new(ch).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX)
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;
    use crate::peer::REMOVED_TEXT;

    fn coded(mut status: Status, code: &'static str) -> Status {
        status.metadata_mut().insert(ERROR_CODE_HEADER, MetadataValue::from_static(code));
        status
    }

    /// A peer's refusal is read from its code, not its text.
    #[test]
    fn refusals_are_typed_by_their_code() {
        let members = Arc::new(MemberTable::new(1));
        let peers = PeerClients::new(1, 0x1c, members.clone(), PeerDialer::plain());
        let removed = members.watch_self_removed();

        let e = peers.error("http://p", Status::permission_denied(REMOVED_TEXT));
        assert!(matches!(&e, PeerError::Refused { code: None, .. }), "{e:?}");
        assert!(!*removed.borrow(), "an untyped text does not remove this member");

        let e = peers.error("http://p", coded(Status::permission_denied(REMOVED_TEXT), REMOVED_CODE));
        assert!(matches!(&e, PeerError::Refused { code: Some(c), .. } if c == REMOVED_CODE), "{e:?}");
        assert!(*removed.borrow());

        // An etcd error a peer names, even one of code UNAVAILABLE, is its answer.
        let e = peers.error("http://p", coded(Status::unavailable("etcdserver: no leader"), "NoLeader"));
        assert!(matches!(&e, PeerError::Refused { code: Some(c), .. } if c == "NoLeader"), "{e:?}");
        // An UNAVAILABLE nobody typed may come from anything between: it may have been delivered.
        let e = peers.error("http://p", Status::unavailable("tcp connect error"));
        assert!(matches!(&e, PeerError::Unreachable { never_sent: false, .. }), "{e:?}");
    }
}
