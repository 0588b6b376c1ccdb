//! gRPC server metrics under go-grpc-middleware's names and semantics
//! (`grpc_server_*`): the table of methods Capstan serves, their per-method
//! counters, and the rendering of the four `grpc_server_*` families. The
//! tower layer that feeds them is `http::grpc_metrics`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::Metrics;
use super::table::{Scrape, Series};

/// How a gRPC method streams (the `grpc_type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcType {
    Unary,
    /// No client-streaming method is served today; kept so the label set is etcd's.
    #[allow(dead_code)]
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

#[cfg(test)]
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
}

/// Counts of one method.
#[derive(Default)]
pub(super) struct MethodCounters {
    pub started: AtomicU64,
    pub msg_received: AtomicU64,
    pub msg_sent: AtomicU64,
    handled: [AtomicU64; 17],
}

/// Counts of every method of [`GRPC_METHODS`], by index.
pub(super) struct GrpcCounters {
    methods: Box<[MethodCounters]>,
    /// Set once a method that is not pre-initialised was called.
    seen: AtomicBool,
}

impl Default for GrpcCounters {
    fn default() -> Self {
        Self { methods: GRPC_METHODS.iter().map(|_| MethodCounters::default()).collect(), seen: AtomicBool::new(false) }
    }
}

impl GrpcCounters {
    /// The methods shown: the pre-initialised ones always (at zero, as etcd
    /// shows them), the others once called.
    fn shown(&self) -> impl Iterator<Item = (&'static MethodInfo, &MethodCounters)> {
        let seen = self.seen.load(Ordering::Relaxed);
        GRPC_METHODS
            .iter()
            .zip(&self.methods[..])
            .filter(move |(m, c)| m.preinit || (seen && c.started.load(Ordering::Relaxed) > 0))
    }
}

impl MethodInfo {
    fn labels(&self) -> [&'static str; 3] {
        [self.method, self.service, self.kind.as_str()]
    }
}

/// grpc_server_handled_total: every code of a pre-initialised method, only
/// the codes seen of the others.
pub(super) fn render_handled(s: &Scrape<'_>, out: &mut Series<'_>) {
    for (m, c) in s.m.state.grpc.shown() {
        let [method, service, kind] = m.labels();
        for (code, name) in GRPC_CODE_NAMES.iter().enumerate() {
            let n = c.handled[code].load(Ordering::Relaxed);
            if n > 0 || m.preinit {
                out.sample(&[*name, method, service, kind], n as f64);
            }
        }
    }
}

/// One sample per shown method of the counter `pick` selects.
pub(super) fn render_per_method(s: &Scrape<'_>, out: &mut Series<'_>, pick: fn(&MethodCounters) -> &AtomicU64) {
    for (m, c) in s.m.state.grpc.shown() {
        out.sample(&m.labels(), pick(c).load(Ordering::Relaxed) as f64);
    }
}

impl Metrics {
    fn grpc_method(&self, m: GrpcMethod) -> &MethodCounters {
        &self.state.grpc.methods[m.0]
    }

    #[inline]
    pub fn grpc_started(&self, m: GrpcMethod) {
        self.grpc_method(m).started.fetch_add(1, Ordering::Relaxed);
        if !GRPC_METHODS[m.0].preinit {
            self.state.grpc.seen.store(true, Ordering::Relaxed);
        }
    }

    /// The call ended with gRPC status `code` (a `tonic::Code as i32`).
    #[inline]
    pub fn grpc_handled(&self, m: GrpcMethod, code: i32) {
        let idx =
            usize::try_from(code).ok().filter(|c| *c < GRPC_CODE_NAMES.len()).unwrap_or(GRPC_CODE_UNKNOWN as usize);
        self.grpc_method(m).handled[idx].fetch_add(1, Ordering::Relaxed);
    }

    /// One request message of `bytes` (payload) received.
    #[inline]
    pub fn grpc_msg_received(&self, m: GrpcMethod, bytes: u64) {
        self.grpc_method(m).msg_received.fetch_add(1, Ordering::Relaxed);
        self.client_grpc_received_bytes.add(bytes);
    }

    /// One response message of `bytes` (payload) sent.
    #[inline]
    pub fn grpc_msg_sent(&self, m: GrpcMethod, bytes: u64) {
        self.grpc_method(m).msg_sent.fetch_add(1, Ordering::Relaxed);
        self.client_grpc_sent_bytes.add(bytes);
    }
}
