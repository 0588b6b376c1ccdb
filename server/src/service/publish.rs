//! A member publishes its name and client URLs through Raft once it runs (as
//! etcd does), so MemberList on every member shows them.

use std::sync::Arc;
use std::time::Duration;

use capstan_proto::capstanpb::MemberAttributes;
use capstan_proto::capstanpb::internal_request::Request;

use super::Server;
use crate::membership::MemberAttrs;

/// Pause between attempts while there is no leader or the proposal fails.
const RETRY: Duration = Duration::from_millis(500);

pub(super) async fn run(server: Arc<Server>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let id = server.member_id();
    let wanted = MemberAttrs { name: server.options.name.clone(), client_urls: server.options.client_urls.clone() };
    loop {
        if server.members.attrs(id).as_ref() == Some(&wanted) {
            tracing::debug!("member attributes already published");
            return;
        }
        let request = Request::MemberAttributes(MemberAttributes {
            member_id: id,
            name: wanted.name.clone(),
            client_urls: wanted.client_urls.clone(),
        });
        tokio::select! {
            r = server.propose(request) => match r {
                Ok(_) => {
                    tracing::info!(name = %wanted.name, client_urls = ?wanted.client_urls, "published local member to cluster through raft");
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
