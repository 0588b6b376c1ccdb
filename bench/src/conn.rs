//! gRPC channels to the endpoints, and leader discovery.
//!
//! A tonic `Channel` built with `connect()` is one HTTP/2 connection; `--conns` of them
//! are opened round-robin over the endpoints (or all to the leader with
//! `--target-leader`), and worker `i` uses channel `i mod conns`.

use std::time::Duration;

use anyhow::{Context, bail};
use capstan_proto::etcdserverpb::StatusRequest;
use capstan_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use tonic::transport::{Channel, Endpoint};

use crate::cli::GlobalOpts;

/// "host:port" or a URL → a URL tonic accepts.
pub fn endpoint_url(ep: &str) -> String {
    let ep = ep.trim();
    if ep.contains("://") { ep.to_string() } else { format!("http://{ep}") }
}

async fn dial(url: &str, dial_timeout: Duration) -> anyhow::Result<Channel> {
    let ep = Endpoint::from_shared(url.to_string())
        .with_context(|| format!("bad endpoint {url}"))?
        .connect_timeout(dial_timeout)
        .tcp_nodelay(true)
        // Many workers share one connection: do not let HTTP/2 flow control be the limit.
        .initial_connection_window_size(16 << 20)
        .initial_stream_window_size(4 << 20);
    tokio::time::timeout(dial_timeout, ep.connect())
        .await
        .with_context(|| format!("connecting to {url}: timed out"))?
        .with_context(|| format!("connecting to {url}"))
}

/// The endpoint (as given) whose member is the leader: asks Maintenance.Status of every
/// endpoint and picks the one whose own member ID equals the leader ID it reports.
pub async fn find_leader(endpoints: &[String], dial_timeout: Duration) -> anyhow::Result<String> {
    let mut seen = Vec::new();
    for ep in endpoints {
        let status = async {
            let ch = dial(&endpoint_url(ep), dial_timeout).await?;
            let resp = tokio::time::timeout(dial_timeout, MaintenanceClient::new(ch).status(StatusRequest {}))
                .await
                .context("Status timed out")??
                .into_inner();
            anyhow::Ok(resp)
        }
        .await;
        match status {
            Ok(s) => {
                let id = s.header.as_ref().map_or(0, |h| h.member_id);
                if s.leader != 0 && s.leader == id {
                    return Ok(ep.clone());
                }
                seen.push(format!("{ep}: member {id:x}, leader {:x}", s.leader));
            }
            Err(e) => seen.push(format!("{ep}: {e:#}")),
        }
    }
    bail!("no endpoint is the leader ({})", seen.join("; "))
}

/// Opens the channels of a run: `--conns` connections, round-robin over the endpoints
/// (only the leader's with `--target-leader`). Returns them and the endpoints used.
pub async fn connect(opts: &GlobalOpts) -> anyhow::Result<(Vec<Channel>, Vec<String>)> {
    let dial_timeout = Duration::from_secs_f64(opts.dial_timeout);
    let targets = if opts.target_leader {
        vec![find_leader(&opts.endpoints, dial_timeout).await?]
    } else {
        opts.endpoints.clone()
    };
    let dials = (0..opts.conns).map(|i| {
        let url = endpoint_url(&targets[i % targets.len()]);
        async move { dial(&url, dial_timeout).await }
    });
    let channels = futures::future::try_join_all(dials).await?;
    Ok((channels, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert_eq!(endpoint_url("127.0.0.1:2379"), "http://127.0.0.1:2379");
        assert_eq!(endpoint_url(" http://h:1 "), "http://h:1");
        assert_eq!(endpoint_url("https://h:1"), "https://h:1");
    }
}
