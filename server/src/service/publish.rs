//! A member publishes its name and client URLs through Raft once it runs (as
//! etcd does), so MemberList on every member shows them; then it is ready.
//!
//! Readiness is etcd's `ReadyNotify`: the member has joined, its publication
//! was committed and applied here, so it has caught up to at least that
//! point of the log. Only then does it log "ready to serve client requests"
//! (tools wait for that line: etcd's own test framework, scripts) and report
//! itself ready. A member whose attributes are already published (a restart)
//! waits for a read barrier instead: the leader's commit index, applied here.

use std::sync::Arc;
use std::time::Duration;

use capstan_proto::capstanpb::MemberAttributes;
use capstan_proto::capstanpb::internal_request::Request;

use super::{Server, ServiceError};
use crate::membership::MemberAttrs;

/// Pause between attempts while there is no leader or the proposal fails.
const RETRY: Duration = Duration::from_millis(500);

pub(super) async fn run(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let id = server.member_id();
    let wanted = MemberAttrs { name: server.options.name.clone(), client_urls: server.options.client_urls.clone() };
    loop {
        let attempt = async {
            if server.members.attrs(id).as_ref() == Some(&wanted) {
                server.read_barrier().await?;
                tracing::debug!("member attributes already published; caught up with the leader");
                return Ok::<(), ServiceError>(());
            }
            let request = Request::MemberAttributes(MemberAttributes {
                member_id: id,
                name: wanted.name.clone(),
                client_urls: wanted.client_urls.clone(),
            });
            server.propose(None, request).await?;
            tracing::info!(name = %wanted.name, client_urls = ?wanted.client_urls, "published local member to cluster through raft");
            Ok(())
        };
        tokio::select! {
            r = attempt => match r {
                Ok(()) => {
                    server.ready.send_replace(true);
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "publishing member attributes failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

impl Server {
    /// Waits until this member has published itself and caught up (see the
    /// module doc).
    pub async fn wait_ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }
}
