//! Labelled series with small, bounded label sets: health checks, client
//! API versions and peers. Each holds its counters (updated with atomics)
//! and renders the samples of its families in `table.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;

use super::Metrics;
use super::table::{Scrape, Series};

// ---------------------------------------------------------------------------
// Health checks (etcd_server_healthcheck / etcd_server_healthchecks_total)
// ---------------------------------------------------------------------------

/// The (type, name) pairs of etcd's `/livez` and `/readyz` checks.
pub const HEALTH_CHECKS: [(&str, &str); 5] = [
    ("livez", "serializable_read"),
    ("readyz", "data_corruption"),
    ("readyz", "serializable_read"),
    ("readyz", "linearizable_read"),
    ("readyz", "non_learner"),
];

/// Results per check of [`HEALTH_CHECKS`]; shown once the check has run.
pub(super) struct HealthChecks([HealthCheckCounters; 5]);

struct HealthCheckCounters {
    /// -1 = never run, else 0/1 (the gauge).
    last: AtomicI64,
    success: AtomicU64,
    error: AtomicU64,
}

impl Default for HealthChecks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| HealthCheckCounters {
            last: AtomicI64::new(-1),
            success: AtomicU64::new(0),
            error: AtomicU64::new(0),
        }))
    }
}

impl HealthChecks {
    fn ran(&self) -> impl Iterator<Item = (&'static str, &'static str, &HealthCheckCounters)> {
        HEALTH_CHECKS
            .iter()
            .zip(&self.0)
            .filter(|(_, c)| c.last.load(Ordering::Relaxed) >= 0)
            .map(|((k, n), c)| (*k, *n, c))
    }
}

pub(super) fn render_health_last(s: &Scrape<'_>, out: &mut Series<'_>) {
    for (kind, name, c) in s.m.state.health.ran() {
        out.sample(&[name, kind], c.last.load(Ordering::Relaxed) as f64);
    }
}

pub(super) fn render_health_totals(s: &Scrape<'_>, out: &mut Series<'_>) {
    for (kind, name, c) in s.m.state.health.ran() {
        for (status, n) in [("error", &c.error), ("success", &c.success)] {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                out.sample(&[name, status, kind], n as f64);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Client API versions (etcd_server_client_requests_total)
// ---------------------------------------------------------------------------

/// Client API versions seen; at most this many distinct values, then
/// "unknown", so a client cannot grow the label set without bound.
pub(super) const MAX_CLIENT_VERSIONS: usize = 16;

/// Per version: [unary, stream] request counts.
pub(super) type ClientRequests = RwLock<Vec<(Box<str>, [AtomicU64; 2])>>;

pub(super) fn render_client_requests(s: &Scrape<'_>, out: &mut Series<'_>) {
    for (version, c) in s.m.state.clients.read().iter() {
        for (slot, kind) in ["unary", "stream"].iter().enumerate() {
            let n = c[slot].load(Ordering::Relaxed);
            if n > 0 {
                out.sample(&[&**version, *kind], n as f64);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Peers (etcd_network_peer_*)
// ---------------------------------------------------------------------------

#[derive(Default)]
pub(super) struct PeerCounters {
    pub sent_bytes: AtomicU64,
    pub received_bytes: AtomicU64,
    pub sent_failures: AtomicU64,
    pub received_failures: AtomicU64,
}

/// Counters per peer id, created on first use.
pub(super) type Peers = RwLock<Vec<(u64, Arc<PeerCounters>)>>;

/// One sample per peer seen (label: the peer's hex id).
pub(super) fn render_peers(s: &Scrape<'_>, out: &mut Series<'_>, pick: fn(&PeerCounters) -> &AtomicU64) {
    for (id, p) in s.m.state.peers.read().iter() {
        out.sample(&[&format!("{id:x}")], pick(p).load(Ordering::Relaxed) as f64);
    }
}

impl Metrics {
    /// Records one `/livez` or `/readyz` check (etcd_server_healthcheck and
    /// etcd_server_healthchecks_total). Unknown pairs are ignored.
    pub fn record_health_check(&self, kind: &str, name: &str, ok: bool) {
        let Some(i) = HEALTH_CHECKS.iter().position(|(k, n)| *k == kind && *n == name) else { return };
        let c = &self.state.health.0[i];
        c.last.store(i64::from(ok), Ordering::Relaxed);
        if ok {
            c.success.fetch_add(1, Ordering::Relaxed);
        } else {
            c.error.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// etcd_server_client_requests_total{type="unary"|"stream", client_api_version}.
    /// `version` is the `client-api-version` metadata ("unknown" when absent).
    pub fn client_request(&self, stream: bool, version: Option<&str>) {
        let version = version.filter(|v| !v.is_empty() && v.len() <= 32).unwrap_or("unknown");
        let slot = usize::from(stream);
        {
            let list = self.state.clients.read();
            if let Some((_, c)) = list.iter().find(|(v, _)| &**v == version) {
                c[slot].fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut list = self.state.clients.write();
        let version = if list.len() >= MAX_CLIENT_VERSIONS { "unknown" } else { version };
        if let Some((_, c)) = list.iter().find(|(v, _)| &**v == version) {
            c[slot].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let counters: [AtomicU64; 2] = Default::default();
        counters[slot].fetch_add(1, Ordering::Relaxed);
        list.push((version.into(), counters));
    }

    // The peer families (etcd_network_peer_*) are declared but no caller
    // updates them yet (see the issue notes).
    #[allow(dead_code)]
    fn peer(&self, id: u64) -> Arc<PeerCounters> {
        if let Some((_, p)) = self.state.peers.read().iter().find(|(p, _)| *p == id) {
            return p.clone();
        }
        let mut peers = self.state.peers.write();
        if let Some((_, p)) = peers.iter().find(|(p, _)| *p == id) {
            return p.clone();
        }
        let p = Arc::new(PeerCounters::default());
        peers.push((id, p.clone()));
        p
    }

    #[allow(dead_code)]
    /// Bytes sent to a peer over the Raft transport (etcd_network_peer_sent_bytes_total{To}).
    pub fn peer_sent(&self, to: u64, bytes: u64) {
        self.peer(to).sent_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    #[allow(dead_code)]
    /// Bytes received from a peer (etcd_network_peer_received_bytes_total{From}).
    pub fn peer_received(&self, from: u64, bytes: u64) {
        self.peer(from).received_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    #[allow(dead_code)]
    pub fn peer_send_failed(&self, to: u64) {
        self.peer(to).sent_failures.fetch_add(1, Ordering::Relaxed);
    }

    #[allow(dead_code)]
    pub fn peer_receive_failed(&self, from: u64) {
        self.peer(from).received_failures.fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// Labelled histograms (etcd_server_apply_duration_seconds,
// etcd_server_request_duration_seconds)
// ---------------------------------------------------------------------------

/// Histograms keyed by label values (one per combination seen), all with
/// the same bounds; a combination appears once observed, as a Go HistogramVec.
pub(super) struct HistogramVec {
    bounds: Vec<f64>,
    series: RwLock<std::collections::BTreeMap<Vec<&'static str>, Arc<super::instruments::Histogram>>>,
}

impl HistogramVec {
    pub(super) fn new(bounds: Vec<f64>) -> Self {
        Self { bounds, series: RwLock::default() }
    }

    /// Observes `seconds` under `labels` (values in the family's label order).
    pub(super) fn observe(&self, labels: &[&'static str], seconds: f64) {
        if let Some(h) = self.series.read().get(labels) {
            h.observe(seconds);
            return;
        }
        let h = self
            .series
            .write()
            .entry(labels.to_vec())
            .or_insert_with(|| Arc::new(super::instruments::Histogram::new(self.bounds.clone())))
            .clone();
        h.observe(seconds);
    }

    pub(super) fn render(&self, out: &mut Series<'_>) {
        for (labels, h) in self.series.read().iter() {
            out.histogram(labels, h);
        }
    }
}
