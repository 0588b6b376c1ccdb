//! Prometheus metrics under etcd's names, rendered in the text exposition
//! format 0.0.4 by `GET /metrics`.
//!
//! Two kinds of values:
//! - counters, gauges and histograms that the request path updates through
//!   the cheap, lock-free methods of [`Metrics`] (atomics only);
//! - gauges read from the server when scraped (leader, sizes, revisions,
//!   keys, alarms), passed to [`Metrics::render`] as a [`ServerSnapshot`].
//!
//! Values are printed like Go's client (`strconv.FormatFloat(v, 'g', -1, 64)`,
//! so `2147483648` prints as `2.147483648e+09`), and histogram buckets are
//! computed like `prometheus.ExponentialBuckets`, so dashboards and alerts
//! written for etcd work unchanged.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capstan_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, TxnRequest, TxnResponse, request_op, response_op};
use parking_lot::RwLock;

// ---------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Self(AtomicI64::new(0))
    }
    #[inline]
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    #[inline]
    pub fn sub(&self, n: i64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }
    /// Raises the gauge to `v` if it is lower.
    #[inline]
    pub fn set_max(&self, v: i64) {
        self.0.fetch_max(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `prometheus.ExponentialBuckets(start, factor, count)`, computed the same
/// way (repeated multiplication) so the bounds print identically.
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count);
    let mut v = start;
    for _ in 0..count {
        out.push(v);
        v *= factor;
    }
    out
}

/// A histogram with fixed upper bounds (`le`, inclusive). Observing is one
/// atomic add on a bucket plus a compare-and-swap on the sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: Box<[f64]>,
    /// Per-bucket (not cumulative) counts; the last slot is `+Inf`.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: Vec<f64>) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bucket bounds must increase");
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds: bounds.into_boxed_slice(), counts, sum: AtomicU64::new(0f64.to_bits()) }
    }

    /// `ExponentialBuckets(start, factor, count)`.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Self {
        Self::new(exponential_buckets(start, factor, count))
    }

    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let idx = self.bounds.partition_point(|b| *b < v);
        self.counts[idx].fetch_add(1, Ordering::Relaxed);
        let mut cur = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match self.sum.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Observes a duration in seconds.
    #[inline]
    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observes a duration in milliseconds (etcd's `*_milliseconds` histograms).
    #[inline]
    pub fn observe_millis(&self, d: Duration) {
        self.observe(d.as_secs_f64() * 1000.0);
    }

    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Cumulative counts per bound, then the total (the `+Inf` bucket), and the sum.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let mut acc = 0u64;
        for c in &self.counts[..self.bounds.len()] {
            acc += c.load(Ordering::Relaxed);
            cumulative.push(acc);
        }
        acc += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        (cumulative, acc, f64::from_bits(self.sum.load(Ordering::Relaxed)))
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

// ---------------------------------------------------------------------------
// Text exposition
// ---------------------------------------------------------------------------

/// Formats a value as Go's `strconv.FormatFloat(v, 'g', -1, 64)` (what the
/// Prometheus Go client prints): the shortest digits that round-trip, in
/// exponent form (`1e+06`, `1.5e-07`) when the decimal exponent is below -4
/// or at least 6, plain decimal otherwise.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(out: &mut String, v: f64) {
    if v == 1.0 {
        out.push('1');
    } else if v == 0.0 {
        out.push('0');
    } else if v == -1.0 {
        out.push_str("-1");
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Shortest round-trip digits with their decimal exponent.
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
        let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
        if !(-4..GO_SHORTEST_EPREC).contains(&exp) {
            out.push_str(mantissa);
            out.push('e');
            out.push(if exp < 0 { '-' } else { '+' });
            let _ = write!(out, "{:02}", exp.unsigned_abs());
        } else {
            // Rust's Display is the shortest round-trip digits without exponent.
            let _ = write!(out, "{v}");
        }
    }
}

/// Go's shortest `%g` uses exponent form from this decimal exponent up
/// (`strconv/ftoa.go`: "if shortest { eprec = 6 }").
const GO_SHORTEST_EPREC: i32 = 6;

fn escape_help(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes metric families in the text format. Each family's samples must be
/// written right after its header.
#[derive(Debug, Default)]
pub struct Encoder {
    out: String,
}

impl Encoder {
    pub fn new() -> Self {
        Self { out: String::with_capacity(64 * 1024) }
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.write_labels(labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    fn write_labels(&mut self, labels: &[(&str, &str)], le: Option<f64>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in labels {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label_value(&mut self.out, v);
            self.out.push('"');
        }
        if let Some(le) = le {
            if !first {
                self.out.push(',');
            }
            self.out.push_str("le=\"");
            write_value(&mut self.out, le);
            self.out.push('"');
        }
        self.out.push('}');
    }

    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, help, "counter");
        self.sample(name, &[], value as f64);
    }

    /// A counter family whose value is fractional (CPU seconds).
    pub fn counter_f64(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help, "counter");
        self.sample(name, &[], value);
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, help, "gauge");
        self.sample(name, &[], value);
    }

    /// A whole histogram family with one series.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.family(name, help, "histogram");
        self.histogram_series(name, &[], h);
    }

    /// One histogram series (buckets, `+Inf`, `_sum`, `_count`) under a family
    /// header written before.
    pub fn histogram_series(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let (cumulative, total, sum) = h.snapshot();
        let bucket = format!("{name}_bucket");
        for (bound, count) in h.bounds().iter().zip(cumulative) {
            self.out.push_str(&bucket);
            self.write_labels(labels, Some(*bound));
            self.out.push(' ');
            write_value(&mut self.out, count as f64);
            self.out.push('\n');
        }
        self.out.push_str(&bucket);
        self.write_labels(labels, Some(f64::INFINITY));
        self.out.push(' ');
        write_value(&mut self.out, total as f64);
        self.out.push('\n');
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, total as f64);
    }
}

// ---------------------------------------------------------------------------
// gRPC method table (go-grpc-middleware/providers/prometheus semantics)
// ---------------------------------------------------------------------------

/// How a gRPC method streams (the `grpc_type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcType {
    Unary,
    ClientStream,
    ServerStream,
    BidiStream,
}

impl GrpcType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrpcType::Unary => "unary",
            GrpcType::ClientStream => "client_stream",
            GrpcType::ServerStream => "server_stream",
            GrpcType::BidiStream => "bidi_stream",
        }
    }
}

struct MethodInfo {
    service: &'static str,
    method: &'static str,
    kind: GrpcType,
    /// Shown with zero values before the first call, as etcd does for the
    /// services registered before `InitializeMetrics`.
    preinit: bool,
}

const fn m(service: &'static str, method: &'static str, kind: GrpcType, preinit: bool) -> MethodInfo {
    MethodInfo { service, method, kind, preinit }
}

use GrpcType::{BidiStream, ServerStream, Unary};

/// Every method Capstan may serve. Calls to paths outside this table are not
/// counted (grpc-go rejects them before its interceptors run), which also
/// bounds the label cardinality.
static GRPC_METHODS: &[MethodInfo] = &[
    m("etcdserverpb.KV", "Range", Unary, true),
    m("etcdserverpb.KV", "Put", Unary, true),
    m("etcdserverpb.KV", "DeleteRange", Unary, true),
    m("etcdserverpb.KV", "Txn", Unary, true),
    m("etcdserverpb.KV", "Compact", Unary, true),
    // etcd 3.7+; not part of the 3.6 API, so only shown once called.
    m("etcdserverpb.KV", "RangeStream", ServerStream, false),
    m("etcdserverpb.Watch", "Watch", BidiStream, true),
    m("etcdserverpb.Lease", "LeaseGrant", Unary, true),
    m("etcdserverpb.Lease", "LeaseRevoke", Unary, true),
    m("etcdserverpb.Lease", "LeaseKeepAlive", BidiStream, true),
    m("etcdserverpb.Lease", "LeaseTimeToLive", Unary, true),
    m("etcdserverpb.Lease", "LeaseLeases", Unary, true),
    m("etcdserverpb.Cluster", "MemberAdd", Unary, true),
    m("etcdserverpb.Cluster", "MemberRemove", Unary, true),
    m("etcdserverpb.Cluster", "MemberUpdate", Unary, true),
    m("etcdserverpb.Cluster", "MemberList", Unary, true),
    m("etcdserverpb.Cluster", "MemberPromote", Unary, true),
    m("etcdserverpb.Maintenance", "Alarm", Unary, true),
    m("etcdserverpb.Maintenance", "Status", Unary, true),
    m("etcdserverpb.Maintenance", "Defragment", Unary, true),
    m("etcdserverpb.Maintenance", "Hash", Unary, true),
    m("etcdserverpb.Maintenance", "HashKV", Unary, true),
    m("etcdserverpb.Maintenance", "Snapshot", ServerStream, true),
    m("etcdserverpb.Maintenance", "MoveLeader", Unary, true),
    m("etcdserverpb.Maintenance", "Downgrade", Unary, true),
    m("etcdserverpb.Auth", "AuthEnable", Unary, true),
    m("etcdserverpb.Auth", "AuthDisable", Unary, true),
    m("etcdserverpb.Auth", "AuthStatus", Unary, true),
    m("etcdserverpb.Auth", "Authenticate", Unary, true),
    m("etcdserverpb.Auth", "UserAdd", Unary, true),
    m("etcdserverpb.Auth", "UserGet", Unary, true),
    m("etcdserverpb.Auth", "UserList", Unary, true),
    m("etcdserverpb.Auth", "UserDelete", Unary, true),
    m("etcdserverpb.Auth", "UserChangePassword", Unary, true),
    m("etcdserverpb.Auth", "UserGrantRole", Unary, true),
    m("etcdserverpb.Auth", "UserRevokeRole", Unary, true),
    m("etcdserverpb.Auth", "RoleAdd", Unary, true),
    m("etcdserverpb.Auth", "RoleGet", Unary, true),
    m("etcdserverpb.Auth", "RoleList", Unary, true),
    m("etcdserverpb.Auth", "RoleDelete", Unary, true),
    m("etcdserverpb.Auth", "RoleGrantPermission", Unary, true),
    m("etcdserverpb.Auth", "RoleRevokePermission", Unary, true),
    m("grpc.health.v1.Health", "Check", Unary, false),
    m("grpc.health.v1.Health", "Watch", ServerStream, false),
    m("v3electionpb.Election", "Campaign", Unary, false),
    m("v3electionpb.Election", "Proclaim", Unary, false),
    m("v3electionpb.Election", "Leader", Unary, false),
    m("v3electionpb.Election", "Observe", ServerStream, false),
    m("v3electionpb.Election", "Resign", Unary, false),
    m("v3lockpb.Lock", "Lock", Unary, false),
    m("v3lockpb.Lock", "Unlock", Unary, false),
];

/// gRPC status code names as grpc-go prints them (`codes.Code.String()`).
pub const GRPC_CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

pub const GRPC_CODE_OK: i32 = 0;
pub const GRPC_CODE_CANCELED: i32 = 1;
pub const GRPC_CODE_UNKNOWN: i32 = 2;

fn grpc_path_index() -> &'static HashMap<String, usize> {
    static INDEX: OnceLock<HashMap<String, usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        GRPC_METHODS.iter().enumerate().map(|(i, m)| (format!("/{}/{}", m.service, m.method), i)).collect()
    })
}

/// One of the gRPC methods Capstan meters, resolved once per call from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcMethod(usize);

impl GrpcMethod {
    /// Resolves a request path such as `/etcdserverpb.KV/Range`.
    pub fn from_path(path: &str) -> Option<Self> {
        grpc_path_index().get(path).copied().map(GrpcMethod)
    }
    pub fn kind(self) -> GrpcType {
        GRPC_METHODS[self.0].kind
    }
    pub fn service(self) -> &'static str {
        GRPC_METHODS[self.0].service
    }
    pub fn method(self) -> &'static str {
        GRPC_METHODS[self.0].method
    }
}

#[derive(Default)]
struct GrpcMethodCounters {
    started: AtomicU64,
    msg_received: AtomicU64,
    msg_sent: AtomicU64,
    handled: [AtomicU64; 17],
}

// ---------------------------------------------------------------------------
// Health-check metrics (etcd_server_healthcheck / healthchecks_total)
// ---------------------------------------------------------------------------

/// The (type, name) pairs of etcd's `/livez` and `/readyz` checks.
pub const HEALTH_CHECKS: [(&str, &str); 5] = [
    ("livez", "serializable_read"),
    ("readyz", "data_corruption"),
    ("readyz", "serializable_read"),
    ("readyz", "linearizable_read"),
    ("readyz", "non_learner"),
];

#[derive(Default)]
struct HealthCheckCounters {
    /// -1 = never run, else 0/1 (the gauge).
    last: AtomicI64,
    success: AtomicU64,
    error: AtomicU64,
}

// ---------------------------------------------------------------------------
// Labelled counters with a small, bounded label set
// ---------------------------------------------------------------------------

/// Client API versions seen (etcd_server_client_requests_total); at most
/// this many distinct values, then "unknown".
const MAX_CLIENT_VERSIONS: usize = 16;

#[derive(Default)]
struct PeerCounters {
    sent_bytes: AtomicU64,
    received_bytes: AtomicU64,
    sent_failures: AtomicU64,
    received_failures: AtomicU64,
}

// ---------------------------------------------------------------------------
// Values read from the server at scrape time
// ---------------------------------------------------------------------------

/// What `/metrics` reads from the server when scraped.
#[derive(Debug, Clone, Default)]
pub struct ServerSnapshot {
    pub member_id: u64,
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    /// The etcd version reported to clients (e.g. "3.6.0").
    pub server_version: String,
    /// `--quota-backend-bytes` as in effect.
    pub quota_backend_bytes: i64,
    pub db_total_size_bytes: u64,
    pub db_in_use_bytes: u64,
    pub keys_total: u64,
    pub current_revision: i64,
    pub compact_revision: i64,
    /// Raft index last applied to the state machine.
    pub applied_index: u64,
    /// Raft index last committed, when known (else the applied index is used).
    pub committed_index: Option<u64>,
    /// Active alarms: (member id, etcd AlarmType number).
    pub alarms: Vec<(u64, i32)>,
}

/// etcd's `major.minor` of a version string ("3.6.4" → "3.6").
pub fn major_minor(version: &str) -> String {
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("{a}.{b}"),
        _ => version.to_string(),
    }
}

/// etcd's AlarmType names.
pub fn alarm_name(alarm: i32) -> String {
    match alarm {
        0 => "NONE".to_string(),
        1 => "NOSPACE".to_string(),
        2 => "CORRUPT".to_string(),
        n => n.to_string(),
    }
}

// ---------------------------------------------------------------------------
// mvcc operation counts of a request, as etcd's metricsTxnWrite counts them
// ---------------------------------------------------------------------------

/// The mvcc operations one request performed: etcd counts every range
/// (including a Put's or DeleteRange's read of the previous value and a
/// Txn's compares), put and delete of the request's mvcc transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MvccOps {
    pub ranges: u64,
    pub puts: u64,
    pub deletes: u64,
    /// Key plus value bytes of the puts.
    pub put_bytes: u64,
}

impl MvccOps {
    pub fn range() -> Self {
        Self { ranges: 1, ..Self::default() }
    }

    pub fn put(req: &PutRequest) -> Self {
        Self {
            ranges: u64::from(req.prev_kv || req.ignore_value || req.ignore_lease),
            puts: 1,
            deletes: 0,
            put_bytes: (req.key.len() + req.value.len()) as u64,
        }
    }

    pub fn delete_range(req: &DeleteRangeRequest) -> Self {
        Self { ranges: u64::from(req.prev_kv), deletes: 1, ..Self::default() }
    }

    /// The compares plus the operations of the branch that ran, nested txns
    /// included (`resp` says which branch ran at each level).
    pub fn txn(req: &TxnRequest, resp: &TxnResponse) -> Self {
        let mut ops = Self { ranges: req.compare.len() as u64, ..Self::default() };
        let branch = if resp.succeeded { &req.success } else { &req.failure };
        for (i, op) in branch.iter().enumerate() {
            let nested = match (&op.request, resp.responses.get(i).and_then(|r| r.response.as_ref())) {
                (Some(request_op::Request::RequestRange(_)), _) => Self::range(),
                (Some(request_op::Request::RequestPut(p)), _) => Self::put(p),
                (Some(request_op::Request::RequestDeleteRange(d)), _) => Self::delete_range(d),
                (Some(request_op::Request::RequestTxn(t)), Some(response_op::Response::ResponseTxn(r))) => {
                    Self::txn(t, r)
                }
                _ => Self::default(),
            };
            ops.ranges += nested.ranges;
            ops.puts += nested.puts;
            ops.deletes += nested.deletes;
            ops.put_bytes += nested.put_bytes;
        }
        ops
    }
}

// ---------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------

/// Every metric Capstan exports. One per process (see [`global`]); cheap to
/// update from any thread.
pub struct Metrics {
    start_time: SystemTime,

    // etcd_server_*
    /// Last leader seen, encoded as id + 1 (0 = none).
    last_leader: AtomicU64,
    pub leader_changes: Counter,
    /// Highest Raft index known committed (`set_committed_index`).
    pub committed_index: Gauge,
    pub proposals_pending: Gauge,
    pub proposals_failed: Counter,
    pub slow_apply: Counter,
    pub read_indexes_failed: Counter,
    pub slow_read_indexes: Counter,
    pub heartbeat_send_failures: Counter,
    pub snapshot_apply_in_progress: Gauge,
    pub snapshot_receive_success: Counter,
    pub snapshot_send_success: Counter,
    pub lease_expired: Counter,
    pub health_success: Counter,
    pub health_failures: Counter,
    health_checks: [HealthCheckCounters; 5],
    client_requests: RwLock<Vec<(Box<str>, [AtomicU64; 2])>>,

    // etcd_mvcc_* / etcd_debugging_mvcc_*
    pub range_total: Counter,
    pub put_total: Counter,
    pub delete_total: Counter,
    pub txn_total: Counter,
    pub total_put_size_bytes: Gauge,
    pub watch_streams: Gauge,
    pub watchers: Gauge,
    pub slow_watchers: Gauge,
    pub events_total: Counter,
    pub pending_events: Gauge,
    pub index_compaction_pause_ms: Histogram,
    pub db_compaction_pause_ms: Histogram,
    pub db_compaction_total_ms: Histogram,
    pub db_compaction_last: Gauge,
    pub db_compaction_keys: Counter,
    pub hash_duration: Histogram,
    pub hash_rev_duration: Histogram,

    // etcd_disk_*
    pub wal_fsync_duration: Histogram,
    pub wal_write_duration: Histogram,
    pub wal_write_bytes: Gauge,
    pub backend_commit_duration: Histogram,
    pub backend_defrag_duration: Histogram,
    pub backend_snapshot_duration: Histogram,
    pub defrag_inflight: Gauge,

    // etcd_debugging_lease_*
    pub lease_granted: Counter,
    pub lease_revoked: Counter,
    pub lease_renewed: Counter,
    pub lease_ttl: Histogram,

    // etcd_network_*
    pub client_grpc_received_bytes: Counter,
    pub client_grpc_sent_bytes: Counter,
    peers: RwLock<Vec<(u64, Arc<PeerCounters>)>>,

    // grpc_server_*
    grpc: Box<[GrpcMethodCounters]>,
    grpc_seen: AtomicBool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The process-wide metrics, for call sites that have no handle. Pass the same
/// `Arc` to [`crate::http::router`] (`metrics::global().clone()`).
pub fn global() -> &'static Arc<Metrics> {
    static GLOBAL: OnceLock<Arc<Metrics>> = OnceLock::new();
    GLOBAL.get_or_init(Metrics::new)
}

/// Decrements `proposals_pending` when dropped (see [`Metrics::proposal_pending`]).
#[must_use = "the proposal counts as pending until the guard is dropped"]
pub struct PendingProposal<'a>(&'a Gauge);

impl Drop for PendingProposal<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// A fresh registry. Production code should share one (see [`global`]);
    /// tests may create their own.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Arc<Self> {
        // etcd's buckets: 1 ms .. 8.192 s for disk latencies.
        let disk = || Histogram::exponential(0.001, 2.0, 14);
        Arc::new(Self {
            start_time: SystemTime::now(),
            last_leader: AtomicU64::new(0),
            leader_changes: Counter::new(),
            committed_index: Gauge::new(),
            proposals_pending: Gauge::new(),
            proposals_failed: Counter::new(),
            slow_apply: Counter::new(),
            read_indexes_failed: Counter::new(),
            slow_read_indexes: Counter::new(),
            heartbeat_send_failures: Counter::new(),
            snapshot_apply_in_progress: Gauge::new(),
            snapshot_receive_success: Counter::new(),
            snapshot_send_success: Counter::new(),
            lease_expired: Counter::new(),
            health_success: Counter::new(),
            health_failures: Counter::new(),
            health_checks: std::array::from_fn(|_| HealthCheckCounters {
                last: AtomicI64::new(-1),
                ..Default::default()
            }),
            client_requests: RwLock::new(Vec::new()),
            range_total: Counter::new(),
            put_total: Counter::new(),
            delete_total: Counter::new(),
            txn_total: Counter::new(),
            total_put_size_bytes: Gauge::new(),
            watch_streams: Gauge::new(),
            watchers: Gauge::new(),
            slow_watchers: Gauge::new(),
            events_total: Counter::new(),
            pending_events: Gauge::new(),
            index_compaction_pause_ms: Histogram::exponential(0.5, 2.0, 14),
            db_compaction_pause_ms: Histogram::exponential(1.0, 2.0, 13),
            db_compaction_total_ms: Histogram::exponential(100.0, 2.0, 14),
            db_compaction_last: Gauge::new(),
            db_compaction_keys: Counter::new(),
            hash_duration: Histogram::exponential(0.01, 2.0, 15),
            hash_rev_duration: Histogram::exponential(0.01, 2.0, 15),
            wal_fsync_duration: disk(),
            wal_write_duration: disk(),
            wal_write_bytes: Gauge::new(),
            backend_commit_duration: disk(),
            backend_defrag_duration: Histogram::exponential(0.1, 2.0, 13),
            backend_snapshot_duration: Histogram::exponential(0.01, 2.0, 17),
            defrag_inflight: Gauge::new(),
            lease_granted: Counter::new(),
            lease_revoked: Counter::new(),
            lease_renewed: Counter::new(),
            lease_ttl: Histogram::exponential(1.0, 2.0, 24),
            client_grpc_received_bytes: Counter::new(),
            client_grpc_sent_bytes: Counter::new(),
            peers: RwLock::new(Vec::new()),
            grpc: (0..GRPC_METHODS.len()).map(|_| GrpcMethodCounters::default()).collect(),
            grpc_seen: AtomicBool::new(false),
        })
    }

    // ----- server / raft -------------------------------------------------

    /// Records the leader a member currently sees; counts a leader change
    /// (etcd_server_leader_changes_seen_total) each time a leader different
    /// from the last one seen appears, as etcd's raft loop does.
    pub fn observe_leader(&self, leader: Option<u64>) {
        let enc = leader.map_or(0, |id| id.wrapping_add(1));
        let prev = self.last_leader.swap(enc, Ordering::Relaxed);
        if enc != 0 && prev != enc {
            self.leader_changes.inc();
        }
    }

    /// Follows openraft's metrics channel: counts leader changes. Ends when
    /// the Raft instance shuts down.
    pub fn spawn_raft_observer(
        self: &Arc<Self>,
        mut rx: tokio::sync::watch::Receiver<crate::raft::RaftMetrics>,
    ) -> tokio::task::JoinHandle<()> {
        let metrics = self.clone();
        tokio::spawn(async move {
            loop {
                let leader = rx.borrow_and_update().current_leader;
                metrics.observe_leader(leader);
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
    }

    /// The Raft commit index advanced (etcd_server_proposals_committed_total).
    #[inline]
    pub fn set_committed_index(&self, index: u64) {
        self.committed_index.set_max(index as i64);
    }

    /// Counts a proposal as pending until the guard drops
    /// (etcd_server_proposals_pending).
    #[inline]
    pub fn proposal_pending(&self) -> PendingProposal<'_> {
        self.proposals_pending.inc();
        PendingProposal(&self.proposals_pending)
    }

    // ----- mvcc ------------------------------------------------------------

    /// One mvcc transaction ended (a Range, Put, DeleteRange or Txn request),
    /// with the operations it performed: etcd counts each op, and a txn when
    /// the request performed more than one.
    #[inline]
    pub fn record_mvcc_txn(&self, ranges: u64, puts: u64, deletes: u64, put_bytes: u64) {
        if ranges + puts + deletes > 1 {
            self.txn_total.inc();
        }
        if ranges > 0 {
            self.range_total.add(ranges);
        }
        if puts > 0 {
            self.put_total.add(puts);
            self.total_put_size_bytes.add(put_bytes as i64);
        }
        if deletes > 0 {
            self.delete_total.add(deletes);
        }
    }

    /// Records the mvcc operations of one applied request (see [`MvccOps`]).
    #[inline]
    pub fn record_mvcc(&self, ops: MvccOps) {
        self.record_mvcc_txn(ops.ranges, ops.puts, ops.deletes, ops.put_bytes);
    }

    /// A compaction finished after `total` and removed `keys` revisions.
    pub fn observe_compaction(&self, total: Duration, keys: u64) {
        self.db_compaction_total_ms.observe_millis(total);
        self.db_compaction_keys.add(keys);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.db_compaction_last.set(now as i64);
    }

    // ----- disk ----------------------------------------------------------

    /// A synced write of Raft log entries (etcd_disk_wal_fsync_duration_seconds).
    #[inline]
    pub fn observe_wal_fsync(&self, d: Duration) {
        self.wal_fsync_duration.observe_duration(d);
    }

    /// A state-machine batch committed to the backend
    /// (etcd_disk_backend_commit_duration_seconds).
    #[inline]
    pub fn observe_backend_commit(&self, d: Duration) {
        self.backend_commit_duration.observe_duration(d);
    }

    // ----- lease -------------------------------------------------------------

    /// A lease was granted with `ttl` seconds (counter and TTL histogram).
    #[inline]
    pub fn observe_lease_grant(&self, ttl_seconds: i64) {
        self.lease_granted.inc();
        self.lease_ttl.observe(ttl_seconds as f64);
    }

    // ----- gRPC ------------------------------------------------------------

    #[inline]
    pub fn grpc_started(&self, m: GrpcMethod) {
        self.grpc[m.0].started.fetch_add(1, Ordering::Relaxed);
        if !GRPC_METHODS[m.0].preinit {
            self.grpc_seen.store(true, Ordering::Relaxed);
        }
    }

    /// The call ended with gRPC status `code` (a `tonic::Code as i32`).
    #[inline]
    pub fn grpc_handled(&self, m: GrpcMethod, code: i32) {
        let idx =
            usize::try_from(code).ok().filter(|c| *c < GRPC_CODE_NAMES.len()).unwrap_or(GRPC_CODE_UNKNOWN as usize);
        self.grpc[m.0].handled[idx].fetch_add(1, Ordering::Relaxed);
    }

    /// One request message of `bytes` (payload) received.
    #[inline]
    pub fn grpc_msg_received(&self, m: GrpcMethod, bytes: u64) {
        self.grpc[m.0].msg_received.fetch_add(1, Ordering::Relaxed);
        self.client_grpc_received_bytes.add(bytes);
    }

    /// One response message of `bytes` (payload) sent.
    #[inline]
    pub fn grpc_msg_sent(&self, m: GrpcMethod, bytes: u64) {
        self.grpc[m.0].msg_sent.fetch_add(1, Ordering::Relaxed);
        self.client_grpc_sent_bytes.add(bytes);
    }

    /// etcd_server_client_requests_total{type="unary"|"stream", client_api_version}.
    /// `version` is the `client-api-version` metadata ("unknown" when absent).
    pub fn client_request(&self, stream: bool, version: Option<&str>) {
        let version = version.filter(|v| !v.is_empty() && v.len() <= 32).unwrap_or("unknown");
        let slot = usize::from(stream);
        {
            let list = self.client_requests.read();
            if let Some((_, c)) = list.iter().find(|(v, _)| &**v == version) {
                c[slot].fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut list = self.client_requests.write();
        let version = if list.len() >= MAX_CLIENT_VERSIONS { "unknown" } else { version };
        if let Some((_, c)) = list.iter().find(|(v, _)| &**v == version) {
            c[slot].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let counters: [AtomicU64; 2] = Default::default();
        counters[slot].fetch_add(1, Ordering::Relaxed);
        list.push((version.into(), counters));
    }

    // ----- peers -------------------------------------------------------------

    fn peer(&self, id: u64) -> Arc<PeerCounters> {
        if let Some((_, p)) = self.peers.read().iter().find(|(p, _)| *p == id) {
            return p.clone();
        }
        let mut peers = self.peers.write();
        if let Some((_, p)) = peers.iter().find(|(p, _)| *p == id) {
            return p.clone();
        }
        let p = Arc::new(PeerCounters::default());
        peers.push((id, p.clone()));
        p
    }

    /// Bytes sent to a peer over the Raft transport (etcd_network_peer_sent_bytes_total{To}).
    pub fn peer_sent(&self, to: u64, bytes: u64) {
        self.peer(to).sent_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes received from a peer (etcd_network_peer_received_bytes_total{From}).
    pub fn peer_received(&self, from: u64, bytes: u64) {
        self.peer(from).received_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn peer_send_failed(&self, to: u64) {
        self.peer(to).sent_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn peer_receive_failed(&self, from: u64) {
        self.peer(from).received_failures.fetch_add(1, Ordering::Relaxed);
    }

    // ----- health ----------------------------------------------------------

    /// Records one `/livez` or `/readyz` check (etcd_server_healthcheck and
    /// etcd_server_healthchecks_total). Unknown pairs are ignored.
    pub fn record_health_check(&self, kind: &str, name: &str, ok: bool) {
        let Some(i) = HEALTH_CHECKS.iter().position(|(k, n)| *k == kind && *n == name) else { return };
        let c = &self.health_checks[i];
        c.last.store(i64::from(ok), Ordering::Relaxed);
        if ok {
            c.success.fetch_add(1, Ordering::Relaxed);
        } else {
            c.error.fetch_add(1, Ordering::Relaxed);
        }
    }

    // ----- rendering -------------------------------------------------------

    /// The whole exposition. Scrape-time gauges come from `server` (omitted
    /// when `None`).
    pub fn render(&self, server: Option<&ServerSnapshot>) -> String {
        let mut e = Encoder::new();
        if let Some(s) = server {
            self.render_server_snapshot(&mut e, s);
        }
        self.render_server(&mut e);
        self.render_mvcc(&mut e);
        self.render_disk(&mut e);
        self.render_lease(&mut e);
        self.render_network(&mut e);
        self.render_grpc(&mut e);
        self.render_process(&mut e);
        e.finish()
    }

    fn render_server_snapshot(&self, e: &mut Encoder, s: &ServerSnapshot) {
        let member = format!("{:x}", s.member_id);
        e.gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            f64::from(u8::from(s.has_leader)),
        );
        e.gauge(
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            f64::from(u8::from(s.is_leader)),
        );
        e.gauge(
            "etcd_server_is_learner",
            "Whether or not this member is a learner. 1 if is, 0 otherwise.",
            f64::from(u8::from(s.is_learner)),
        );
        e.family(
            "etcd_server_id",
            "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
            "gauge",
        );
        e.sample("etcd_server_id", &[("server_id", &member)], 1.0);
        e.family(
            "etcd_server_version",
            "Which version is running. 1 for 'server_version' label with current version.",
            "gauge",
        );
        e.sample("etcd_server_version", &[("server_version", &s.server_version)], 1.0);
        e.family(
            "etcd_cluster_version",
            "Which version is running. 1 for 'cluster_version' label with current cluster version",
            "gauge",
        );
        e.sample("etcd_cluster_version", &[("cluster_version", &major_minor(&s.server_version))], 1.0);
        e.gauge(
            "etcd_server_quota_backend_bytes",
            "Current backend storage quota size in bytes.",
            s.quota_backend_bytes as f64,
        );
        let committed =
            s.committed_index.unwrap_or(0).max(self.committed_index.get().max(0) as u64).max(s.applied_index);
        e.gauge(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            committed as f64,
        );
        e.gauge(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
            s.applied_index as f64,
        );
        if !s.alarms.is_empty() {
            e.family(
                "etcd_debugging_server_alarms",
                "Alarms for every member in cluster. 1 for 'server_id' label with current ID. 2 for 'alarm_type' label with type of this alarm",
                "gauge",
            );
            for (member, alarm) in &s.alarms {
                e.sample(
                    "etcd_debugging_server_alarms",
                    &[("alarm_type", &alarm_name(*alarm)), ("server_id", &format!("{member:x}"))],
                    1.0,
                );
            }
        }
        e.gauge(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
            s.db_total_size_bytes as f64,
        );
        e.gauge(
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "Total size of the underlying database logically in use in bytes.",
            s.db_in_use_bytes as f64,
        );
        e.gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", s.keys_total as f64);
        e.gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.", s.current_revision as f64);
        e.gauge(
            "etcd_debugging_mvcc_compact_revision",
            "The revision of the last compaction in store.",
            s.compact_revision as f64,
        );
    }

    fn render_server(&self, e: &mut Encoder) {
        e.counter(
            "etcd_server_leader_changes_seen_total",
            "The number of leader changes seen.",
            self.leader_changes.get(),
        );
        e.gauge(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            self.proposals_pending.get() as f64,
        );
        e.counter(
            "etcd_server_proposals_failed_total",
            "The total number of failed proposals seen.",
            self.proposals_failed.get(),
        );
        e.counter(
            "etcd_server_slow_apply_total",
            "The total number of slow apply requests (likely overloaded from slow disk).",
            self.slow_apply.get(),
        );
        e.counter(
            "etcd_server_read_indexes_failed_total",
            "The total number of failed read indexes seen.",
            self.read_indexes_failed.get(),
        );
        e.counter(
            "etcd_server_slow_read_indexes_total",
            "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
            self.slow_read_indexes.get(),
        );
        e.counter(
            "etcd_server_heartbeat_send_failures_total",
            "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
            self.heartbeat_send_failures.get(),
        );
        e.gauge(
            "etcd_server_snapshot_apply_in_progress_total",
            "1 if the server is applying the incoming snapshot. 0 if none.",
            self.snapshot_apply_in_progress.get() as f64,
        );
        e.counter(
            "etcd_network_snapshot_receive_success",
            "Total number of successful snapshot receives",
            self.snapshot_receive_success.get(),
        );
        e.counter(
            "etcd_network_snapshot_send_success",
            "Total number of successful snapshot sends",
            self.snapshot_send_success.get(),
        );
        e.counter(
            "etcd_debugging_server_lease_expired_total",
            "The total number of expired leases.",
            self.lease_expired.get(),
        );
        e.counter(
            "etcd_server_health_success",
            "The total number of successful health checks",
            self.health_success.get(),
        );
        e.counter(
            "etcd_server_health_failures",
            "The total number of failed health checks",
            self.health_failures.get(),
        );

        let ran: Vec<usize> =
            (0..HEALTH_CHECKS.len()).filter(|i| self.health_checks[*i].last.load(Ordering::Relaxed) >= 0).collect();
        if !ran.is_empty() {
            e.family("etcd_server_healthcheck", "The result of each kind of healthcheck.", "gauge");
            for &i in &ran {
                let (kind, name) = HEALTH_CHECKS[i];
                let v = self.health_checks[i].last.load(Ordering::Relaxed);
                e.sample("etcd_server_healthcheck", &[("name", name), ("type", kind)], v as f64);
            }
            e.family("etcd_server_healthchecks_total", "The total number of each kind of healthcheck.", "counter");
            for &i in &ran {
                let (kind, name) = HEALTH_CHECKS[i];
                let c = &self.health_checks[i];
                for (status, n) in [("error", &c.error), ("success", &c.success)] {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        e.sample(
                            "etcd_server_healthchecks_total",
                            &[("name", name), ("status", status), ("type", kind)],
                            n as f64,
                        );
                    }
                }
            }
        }

        let clients = self.client_requests.read();
        if !clients.is_empty() {
            e.family(
                "etcd_server_client_requests_total",
                "The total number of client requests per client version.",
                "counter",
            );
            for (version, c) in clients.iter() {
                for (slot, kind) in ["unary", "stream"].iter().enumerate() {
                    let n = c[slot].load(Ordering::Relaxed);
                    if n > 0 {
                        e.sample(
                            "etcd_server_client_requests_total",
                            &[("client_api_version", version), ("type", kind)],
                            n as f64,
                        );
                    }
                }
            }
        }
    }

    fn render_mvcc(&self, e: &mut Encoder) {
        e.counter("etcd_mvcc_range_total", "Total number of ranges seen by this member.", self.range_total.get());
        e.counter("etcd_mvcc_put_total", "Total number of puts seen by this member.", self.put_total.get());
        e.counter("etcd_mvcc_delete_total", "Total number of deletes seen by this member.", self.delete_total.get());
        e.counter("etcd_mvcc_txn_total", "Total number of txns seen by this member.", self.txn_total.get());
        e.gauge(
            "etcd_debugging_mvcc_total_put_size_in_bytes",
            "The total size of put kv pairs seen by this member.",
            self.total_put_size_bytes.get() as f64,
        );
        e.gauge(
            "etcd_debugging_mvcc_watch_stream_total",
            "Total number of watch streams.",
            self.watch_streams.get() as f64,
        );
        e.gauge("etcd_debugging_mvcc_watcher_total", "Total number of watchers.", self.watchers.get() as f64);
        e.gauge(
            "etcd_debugging_mvcc_slow_watcher_total",
            "Total number of unsynced slow watchers.",
            self.slow_watchers.get() as f64,
        );
        e.counter(
            "etcd_debugging_mvcc_events_total",
            "Total number of events sent by this member.",
            self.events_total.get(),
        );
        e.gauge(
            "etcd_debugging_mvcc_pending_events_total",
            "Total number of pending events to be sent.",
            self.pending_events.get() as f64,
        );
        e.histogram(
            "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
            "Bucketed histogram of index compaction pause duration.",
            &self.index_compaction_pause_ms,
        );
        e.histogram(
            "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
            "Bucketed histogram of db compaction pause duration.",
            &self.db_compaction_pause_ms,
        );
        e.histogram(
            "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
            "Bucketed histogram of db compaction total duration.",
            &self.db_compaction_total_ms,
        );
        e.gauge(
            "etcd_debugging_mvcc_db_compaction_last",
            "The unix time of the last db compaction. Resets to 0 on start.",
            self.db_compaction_last.get() as f64,
        );
        e.counter(
            "etcd_debugging_mvcc_db_compaction_keys_total",
            "Total number of db keys compacted.",
            self.db_compaction_keys.get(),
        );
        e.histogram(
            "etcd_mvcc_hash_duration_seconds",
            "The latency distribution of storage hash operation.",
            &self.hash_duration,
        );
        e.histogram(
            "etcd_mvcc_hash_rev_duration_seconds",
            "The latency distribution of storage hash by revision operation.",
            &self.hash_rev_duration,
        );
    }

    fn render_disk(&self, e: &mut Encoder) {
        e.histogram(
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            &self.wal_fsync_duration,
        );
        e.histogram(
            "etcd_disk_wal_write_duration_seconds",
            "The latency distributions of write called by WAL.",
            &self.wal_write_duration,
        );
        e.gauge(
            "etcd_disk_wal_write_bytes_total",
            "Total number of bytes written in WAL.",
            self.wal_write_bytes.get() as f64,
        );
        e.histogram(
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
            &self.backend_commit_duration,
        );
        e.histogram(
            "etcd_disk_backend_defrag_duration_seconds",
            "The latency distribution of backend defragmentation.",
            &self.backend_defrag_duration,
        );
        e.histogram(
            "etcd_disk_backend_snapshot_duration_seconds",
            "The latency distribution of backend snapshots.",
            &self.backend_snapshot_duration,
        );
        e.gauge(
            "etcd_disk_defrag_inflight",
            "Whether or not defrag is active on the member. 1 means active, 0 means not.",
            self.defrag_inflight.get() as f64,
        );
    }

    fn render_lease(&self, e: &mut Encoder) {
        e.counter(
            "etcd_debugging_lease_granted_total",
            "The total number of granted leases.",
            self.lease_granted.get(),
        );
        e.counter(
            "etcd_debugging_lease_revoked_total",
            "The total number of revoked leases.",
            self.lease_revoked.get(),
        );
        e.counter(
            "etcd_debugging_lease_renewed_total",
            "The number of renewed leases seen by the leader.",
            self.lease_renewed.get(),
        );
        e.histogram("etcd_debugging_lease_ttl_total", "Bucketed histogram of lease TTLs.", &self.lease_ttl);
    }

    fn render_network(&self, e: &mut Encoder) {
        e.counter(
            "etcd_network_client_grpc_received_bytes_total",
            "The total number of bytes received from grpc clients.",
            self.client_grpc_received_bytes.get(),
        );
        e.counter(
            "etcd_network_client_grpc_sent_bytes_total",
            "The total number of bytes sent to grpc clients.",
            self.client_grpc_sent_bytes.get(),
        );
        let peers: Vec<(String, Arc<PeerCounters>)> =
            self.peers.read().iter().map(|(id, p)| (format!("{id:x}"), p.clone())).collect();
        if peers.is_empty() {
            return;
        }
        type Pick = fn(&PeerCounters) -> &AtomicU64;
        let families: [(&str, &str, &str, Pick); 4] = [
            ("etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.", "To", |p| &p.sent_bytes),
            ("etcd_network_peer_received_bytes_total", "The total number of bytes received from peers.", "From", |p| {
                &p.received_bytes
            }),
            ("etcd_network_peer_sent_failures_total", "The total number of send failures from peers.", "To", |p| {
                &p.sent_failures
            }),
            (
                "etcd_network_peer_received_failures_total",
                "The total number of receive failures from peers.",
                "From",
                |p| &p.received_failures,
            ),
        ];
        for (name, help, label, pick) in families {
            e.family(name, help, "counter");
            for (id, p) in &peers {
                e.sample(name, &[(label, id)], pick(p).load(Ordering::Relaxed) as f64);
            }
        }
    }

    fn render_grpc(&self, e: &mut Encoder) {
        let seen = self.grpc_seen.load(Ordering::Relaxed);
        let shown: Vec<usize> = (0..GRPC_METHODS.len())
            .filter(|&i| GRPC_METHODS[i].preinit || (seen && self.grpc[i].started.load(Ordering::Relaxed) > 0))
            .collect();
        let labels = |i: usize| -> [(&'static str, &'static str); 3] {
            let m = &GRPC_METHODS[i];
            [("grpc_method", m.method), ("grpc_service", m.service), ("grpc_type", m.kind.as_str())]
        };

        e.family(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            "counter",
        );
        for &i in &shown {
            let [method, service, kind] = labels(i);
            for (code, name) in GRPC_CODE_NAMES.iter().enumerate() {
                let n = self.grpc[i].handled[code].load(Ordering::Relaxed);
                if n > 0 || GRPC_METHODS[i].preinit {
                    e.sample("grpc_server_handled_total", &[("grpc_code", name), method, service, kind], n as f64);
                }
            }
        }
        type Pick = fn(&GrpcMethodCounters) -> &AtomicU64;
        let families: [(&str, &str, Pick); 3] = [
            ("grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", |c| {
                &c.msg_received
            }),
            ("grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", |c| &c.msg_sent),
            ("grpc_server_started_total", "Total number of RPCs started on the server.", |c| &c.started),
        ];
        for (name, help, pick) in families {
            e.family(name, help, "counter");
            for &i in &shown {
                e.sample(name, &labels(i), pick(&self.grpc[i]).load(Ordering::Relaxed) as f64);
            }
        }
    }

    fn render_process(&self, e: &mut Encoder) {
        let p = process::read(self.start_time);
        if let Some(cpu) = p.cpu_seconds {
            e.counter_f64("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu);
        }
        if let Some(n) = p.open_fds {
            e.gauge("process_open_fds", "Number of open file descriptors.", n as f64);
            e.gauge("os_fd_used", "The number of used file descriptors.", n as f64);
        }
        if let Some(n) = p.max_fds {
            e.gauge("process_max_fds", "Maximum number of open file descriptors.", n as f64);
            e.gauge("os_fd_limit", "The file descriptor limit.", n as f64);
        }
        if let Some(n) = p.resident_bytes {
            e.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", n as f64);
        }
        e.gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        );
        if let Some(n) = p.virtual_bytes {
            e.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", n as f64);
        }
        if let Some(n) = p.virtual_max_bytes {
            e.gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", n);
        }
    }
}

// ---------------------------------------------------------------------------
// Process metrics (what Go's process collector exports), from /proc on Linux
// ---------------------------------------------------------------------------

mod process {
    use std::time::{SystemTime, UNIX_EPOCH};

    #[derive(Debug, Default)]
    pub struct Stats {
        pub cpu_seconds: Option<f64>,
        pub open_fds: Option<u64>,
        pub max_fds: Option<u64>,
        pub resident_bytes: Option<u64>,
        pub virtual_bytes: Option<u64>,
        pub virtual_max_bytes: Option<f64>,
        pub start_time_seconds: f64,
    }

    /// Linux reports CPU times and start time in USER_HZ ticks, which is 100
    /// on every mainstream architecture (Go's procfs assumes the same).
    const USER_HZ: f64 = 100.0;

    pub fn read(fallback_start: SystemTime) -> Stats {
        let mut s = Stats {
            start_time_seconds: fallback_start.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            ..Default::default()
        };
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name (which may contain spaces).
            if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                // rest[0] is field 3 (state); field n is at index n - 3.
                let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
                if let (Some(utime), Some(stime)) = (field(14), field(15)) {
                    s.cpu_seconds = Some((utime + stime) as f64 / USER_HZ);
                }
                if let (Some(start), Some(btime)) = (field(22), boot_time()) {
                    s.start_time_seconds = btime as f64 + start as f64 / USER_HZ;
                }
                s.virtual_bytes = field(23);
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            s.resident_bytes = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            s.open_fds = Some(dir.count() as u64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            let soft = |prefix: &str| -> Option<Option<u64>> {
                let line = limits.lines().find(|l| l.starts_with(prefix))?;
                let soft = line[prefix.len()..].split_whitespace().next()?;
                Some(if soft == "unlimited" { None } else { soft.parse().ok() })
            };
            s.max_fds = soft("Max open files").flatten();
            // Go reports "unlimited" as the largest uint64.
            s.virtual_max_bytes = soft("Max address space").map(|v| v.map_or(u64::MAX as f64, |n| n as f64));
        }
        s
    }

    fn boot_time() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(-1.0), "-1");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.001), "0.001");
        assert_eq!(format_value(0.0001), "0.0001");
        assert_eq!(format_value(0.00001), "1e-05");
        assert_eq!(format_value(8.192), "8.192");
        assert_eq!(format_value(42.0), "42");
        assert_eq!(format_value(123456.0), "123456");
        assert_eq!(format_value(1_000_000.0), "1e+06");
        assert_eq!(format_value(2_147_483_648.0), "2.147483648e+09");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(u64::MAX as f64), "1.8446744073709552e+19");
        assert_eq!(format_value(1_234_567.0), "1.234567e+06");
        assert_eq!(format_value(100_000.0), "100000");
        assert_eq!(format_value(999_999.0), "999999");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(3.0000000000000004e-05), "3.0000000000000004e-05");
    }

    #[test]
    fn exponential_buckets_match_etcd() {
        let b = exponential_buckets(0.001, 2.0, 14);
        let printed: Vec<String> = b.iter().map(|v| format_value(*v)).collect();
        assert_eq!(
            printed,
            [
                "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024",
                "2.048", "4.096", "8.192"
            ]
        );
        // Printed by Go's strconv.FormatFloat(v, 'g', -1, 64) for
        // ExponentialBuckets(1, 2, 24) (etcd's lease TTL histogram).
        let b = exponential_buckets(1.0, 2.0, 24);
        let printed: Vec<String> = b[18..].iter().map(|v| format_value(*v)).collect();
        assert_eq!(printed, ["262144", "524288", "1.048576e+06", "2.097152e+06", "4.194304e+06", "8.388608e+06"]);
        let printed: Vec<String> = exponential_buckets(0.01, 2.0, 17).iter().map(|v| format_value(*v)).collect();
        assert_eq!(printed[16], "655.36");
        assert_eq!(printed[14], "163.84");
        let b = exponential_buckets(0.0001, 2.0, 20);
        assert_eq!(format_value(b[0]), "0.0001");
        assert_eq!(format_value(b[9]), "0.0512");
        assert_eq!(format_value(b[19]), "52.4288");
    }

    #[test]
    fn histogram_exposition_is_cumulative() {
        let h = Histogram::new(vec![0.1, 1.0, 10.0]);
        h.observe(0.05);
        h.observe(0.1); // bounds are inclusive
        h.observe(0.5);
        h.observe(20.0);
        let mut e = Encoder::new();
        e.histogram("x_seconds", "Some help.", &h);
        let text = e.finish();
        let sum = format_value(0.05 + 0.1 + 0.5 + 20.0);
        assert_eq!(
            text,
            format!(
                "# HELP x_seconds Some help.\n\
                 # TYPE x_seconds histogram\n\
                 x_seconds_bucket{{le=\"0.1\"}} 2\n\
                 x_seconds_bucket{{le=\"1\"}} 3\n\
                 x_seconds_bucket{{le=\"10\"}} 3\n\
                 x_seconds_bucket{{le=\"+Inf\"}} 4\n\
                 x_seconds_sum {sum}\n\
                 x_seconds_count 4\n"
            )
        );
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn histogram_with_labels_puts_le_last() {
        let h = Histogram::new(vec![1.0]);
        h.observe(2.0);
        let mut e = Encoder::new();
        e.family("y", "h", "histogram");
        e.histogram_series("y", &[("op", "put")], &h);
        let text = e.finish();
        assert!(text.contains("y_bucket{op=\"put\",le=\"1\"} 0\n"), "{text}");
        assert!(text.contains("y_bucket{op=\"put\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("y_sum{op=\"put\"} 2\n"), "{text}");
        assert!(text.contains("y_count{op=\"put\"} 1\n"), "{text}");
    }

    #[test]
    fn escaping() {
        let mut e = Encoder::new();
        e.family("z", "a \\ b\nc \"q\"", "gauge");
        e.sample("z", &[("v", "x\\y\"z\nw")], 3.0);
        assert_eq!(e.finish(), "# HELP z a \\\\ b\\nc \"q\"\n# TYPE z gauge\nz{v=\"x\\\\y\\\"z\\nw\"} 3\n");
    }

    #[test]
    fn leader_changes_count_new_leaders_only() {
        let m = Metrics::new();
        m.observe_leader(None);
        assert_eq!(m.leader_changes.get(), 0);
        m.observe_leader(Some(7));
        m.observe_leader(Some(7));
        assert_eq!(m.leader_changes.get(), 1);
        m.observe_leader(None);
        m.observe_leader(Some(7));
        assert_eq!(m.leader_changes.get(), 2);
        m.observe_leader(Some(9));
        assert_eq!(m.leader_changes.get(), 3);
    }

    #[test]
    fn mvcc_txn_counting_follows_etcd() {
        let m = Metrics::new();
        m.record_mvcc_txn(0, 1, 0, 10);
        assert_eq!((m.put_total.get(), m.txn_total.get()), (1, 0));
        m.record_mvcc_txn(1, 2, 1, 5);
        assert_eq!((m.range_total.get(), m.put_total.get(), m.delete_total.get(), m.txn_total.get()), (1, 3, 1, 1));
        assert_eq!(m.total_put_size_bytes.get(), 15);
    }

    #[test]
    fn mvcc_ops_of_requests() {
        use capstan_proto::etcdserverpb::{Compare, RangeRequest, RequestOp, ResponseOp, TxnResponse};
        let put = PutRequest { key: b"k".to_vec(), value: b"vv".to_vec(), prev_kv: true, ..Default::default() };
        assert_eq!(MvccOps::put(&put), MvccOps { ranges: 1, puts: 1, deletes: 0, put_bytes: 3 });
        let op = |r: request_op::Request| RequestOp { request: Some(r) };
        let inner = TxnRequest {
            success: vec![op(request_op::Request::RequestDeleteRange(DeleteRangeRequest::default()))],
            failure: vec![op(request_op::Request::RequestRange(RangeRequest::default()))],
            ..Default::default()
        };
        let outer = TxnRequest {
            compare: vec![Compare::default(), Compare::default()],
            success: vec![op(request_op::Request::RequestPut(put.clone())), op(request_op::Request::RequestTxn(inner))],
            failure: vec![op(request_op::Request::RequestRange(RangeRequest::default()))],
        };
        let inner_resp = TxnResponse { succeeded: true, ..Default::default() };
        let resp = TxnResponse {
            succeeded: true,
            responses: vec![
                ResponseOp::default(),
                ResponseOp { response: Some(response_op::Response::ResponseTxn(inner_resp)) },
            ],
            ..Default::default()
        };
        assert_eq!(MvccOps::txn(&outer, &resp), MvccOps { ranges: 3, puts: 1, deletes: 1, put_bytes: 3 });
        let failed = TxnResponse { succeeded: false, ..Default::default() };
        assert_eq!(MvccOps::txn(&outer, &failed), MvccOps { ranges: 3, ..Default::default() });
        let m = Metrics::new();
        m.record_mvcc(MvccOps::txn(&outer, &resp));
        assert_eq!((m.range_total.get(), m.put_total.get(), m.delete_total.get(), m.txn_total.get()), (3, 1, 1, 1));
    }

    #[test]
    fn pending_proposal_guard() {
        let m = Metrics::new();
        {
            let _a = m.proposal_pending();
            let _b = m.proposal_pending();
            assert_eq!(m.proposals_pending.get(), 2);
        }
        assert_eq!(m.proposals_pending.get(), 0);
    }

    fn sample_value(text: &str, line_prefix: &str) -> Option<String> {
        text.lines().find_map(|l| l.strip_prefix(line_prefix)).map(|v| v.trim().to_string())
    }

    #[test]
    fn render_contains_etcd_names() {
        let m = Metrics::new();
        m.put_total.add(3);
        m.observe_wal_fsync(Duration::from_millis(3));
        m.observe_lease_grant(60);
        let snap = ServerSnapshot {
            member_id: 0x8e9e05c52164694d,
            has_leader: true,
            is_leader: true,
            server_version: "3.6.0".into(),
            quota_backend_bytes: 2 << 30,
            db_total_size_bytes: 20480,
            db_in_use_bytes: 16384,
            keys_total: 5,
            current_revision: 9,
            compact_revision: 2,
            applied_index: 12,
            alarms: vec![(0x8e9e05c52164694d, 1)],
            ..Default::default()
        };
        let text = m.render(Some(&snap));
        for name in [
            "etcd_server_has_leader",
            "etcd_server_is_leader",
            "etcd_server_leader_changes_seen_total",
            "etcd_server_proposals_committed_total",
            "etcd_server_proposals_applied_total",
            "etcd_server_proposals_pending",
            "etcd_server_proposals_failed_total",
            "etcd_server_quota_backend_bytes",
            "etcd_mvcc_db_total_size_in_bytes",
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "etcd_debugging_mvcc_keys_total",
            "etcd_mvcc_put_total",
            "etcd_mvcc_delete_total",
            "etcd_mvcc_range_total",
            "etcd_mvcc_txn_total",
            "etcd_debugging_mvcc_current_revision",
            "etcd_debugging_mvcc_compact_revision",
            "etcd_disk_wal_fsync_duration_seconds",
            "etcd_disk_backend_commit_duration_seconds",
            "etcd_debugging_lease_granted_total",
            "etcd_debugging_lease_revoked_total",
            "etcd_debugging_lease_renewed_total",
            "etcd_network_client_grpc_received_bytes_total",
            "etcd_network_client_grpc_sent_bytes_total",
            "grpc_server_started_total",
            "grpc_server_handled_total",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "missing {name}");
        }
        assert_eq!(sample_value(&text, "etcd_server_version{server_version=\"3.6.0\"}").as_deref(), Some("1"));
        assert_eq!(sample_value(&text, "etcd_cluster_version{cluster_version=\"3.6\"}").as_deref(), Some("1"));
        assert_eq!(sample_value(&text, "etcd_server_id{server_id=\"8e9e05c52164694d\"}").as_deref(), Some("1"));
        assert_eq!(sample_value(&text, "etcd_server_quota_backend_bytes").as_deref(), Some("2.147483648e+09"));
        assert_eq!(sample_value(&text, "etcd_mvcc_put_total").as_deref(), Some("3"));
        assert_eq!(sample_value(&text, "etcd_debugging_mvcc_current_revision").as_deref(), Some("9"));
        assert_eq!(sample_value(&text, "etcd_server_proposals_committed_total").as_deref(), Some("12"));
        assert_eq!(
            sample_value(&text, "etcd_debugging_server_alarms{alarm_type=\"NOSPACE\",server_id=\"8e9e05c52164694d\"}")
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"}").as_deref(),
            Some("0")
        );
        assert_eq!(
            sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"}").as_deref(),
            Some("1")
        );
        assert_eq!(sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_count").as_deref(), Some("1"));
        assert_eq!(sample_value(&text, "etcd_debugging_lease_ttl_total_bucket{le=\"64\"}").as_deref(), Some("1"));
        // Every family has exactly one HELP and one TYPE line, and samples of a
        // family are contiguous.
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(name.clone()), "duplicate family {name}");
                current = name;
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                    .unwrap_or(name);
                assert_eq!(base, current, "sample {line} outside its family");
            }
        }
    }

    #[test]
    fn grpc_preinitialized_and_lazy_methods() {
        let m = Metrics::new();
        let range = GrpcMethod::from_path("/etcdserverpb.KV/Range").unwrap();
        assert_eq!(range.kind(), GrpcType::Unary);
        assert_eq!(GrpcMethod::from_path("/etcdserverpb.Watch/Watch").unwrap().kind(), GrpcType::BidiStream);
        assert!(GrpcMethod::from_path("/nope.Svc/X").is_none());
        m.grpc_started(range);
        m.grpc_msg_received(range, 10);
        m.grpc_msg_sent(range, 20);
        m.grpc_handled(range, GRPC_CODE_OK);
        m.grpc_handled(range, 99); // out of range -> Unknown
        let text = m.render(None);
        let l = "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
        assert_eq!(sample_value(&text, &format!("grpc_server_started_total{{{l}}}")).as_deref(), Some("1"));
        assert_eq!(
            sample_value(&text, &format!("grpc_server_handled_total{{grpc_code=\"OK\",{l}}}")).as_deref(),
            Some("1")
        );
        assert_eq!(
            sample_value(&text, &format!("grpc_server_handled_total{{grpc_code=\"Unknown\",{l}}}")).as_deref(),
            Some("1")
        );
        // Pre-initialized: Put shows zero values for every code.
        assert_eq!(
            sample_value(
                &text,
                "grpc_server_handled_total{grpc_code=\"DataLoss\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"}"
            )
            .as_deref(),
            Some("0")
        );
        // Lazy: Election methods only once called.
        assert!(!text.contains("v3electionpb.Election"));
        let campaign = GrpcMethod::from_path("/v3electionpb.Election/Campaign").unwrap();
        m.grpc_started(campaign);
        m.grpc_handled(campaign, 14);
        let text = m.render(None);
        assert!(text.contains(
            "grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"Campaign\",grpc_service=\"v3electionpb.Election\",grpc_type=\"unary\"} 1"
        ));
        assert!(!text.contains("grpc_code=\"OK\",grpc_method=\"Campaign\""));
        assert_eq!(sample_value(&text, "etcd_network_client_grpc_received_bytes_total").as_deref(), Some("10"));
        assert_eq!(sample_value(&text, "etcd_network_client_grpc_sent_bytes_total").as_deref(), Some("20"));
    }

    #[test]
    fn client_requests_bounded() {
        let m = Metrics::new();
        m.client_request(false, Some("3.6"));
        m.client_request(true, Some("3.6"));
        m.client_request(false, None);
        for i in 0..100 {
            m.client_request(false, Some(&format!("9.{i}")));
        }
        assert!(m.client_requests.read().len() <= MAX_CLIENT_VERSIONS);
        let text = m.render(None);
        assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"unary\"} 1\n"));
        assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"stream\"} 1\n"));
    }

    #[test]
    fn health_check_metrics() {
        let m = Metrics::new();
        m.record_health_check("readyz", "linearizable_read", false);
        m.record_health_check("readyz", "linearizable_read", true);
        m.record_health_check("bogus", "x", true);
        let text = m.render(None);
        assert!(text.contains("etcd_server_healthcheck{name=\"linearizable_read\",type=\"readyz\"} 1\n"));
        assert!(text.contains(
            "etcd_server_healthchecks_total{name=\"linearizable_read\",status=\"error\",type=\"readyz\"} 1\n"
        ));
        assert!(!text.contains("name=\"serializable_read\""));
    }

    #[test]
    fn peers_render_hex_ids() {
        let m = Metrics::new();
        m.peer_sent(0xabc, 100);
        m.peer_received(0xabc, 7);
        let text = m.render(None);
        assert!(text.contains("etcd_network_peer_sent_bytes_total{To=\"abc\"} 100\n"));
        assert!(text.contains("etcd_network_peer_received_bytes_total{From=\"abc\"} 7\n"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_on_linux() {
        let text = Metrics::new().render(None);
        for name in
            ["process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_cpu_seconds_total"]
        {
            assert!(text.contains(&format!("# TYPE {name} ")), "missing {name}");
        }
        let start: f64 = sample_value(&text, "process_start_time_seconds").unwrap().parse().unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(start > now - 86400.0 * 365.0 && start <= now + 1.0, "{start} vs {now}");
    }
}
