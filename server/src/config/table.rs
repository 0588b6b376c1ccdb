//! The flag table: every etcd flag, its default, help and support status, in one place.

use super::*;

/// Help section of a flag, in etcd's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    Member,
    Clustering,
    Security,
    Auth,
    Profiling,
    Logging,
    Tracing,
    Experimental,
    Unsafe,
    Capstan,
    /// Not listed in `--help` (legacy ignored flags, file-only keys).
    Hidden,
}

pub(super) const HELP_GROUPS: [(Group, &str); 10] = [
    (Group::Member, "Member"),
    (Group::Clustering, "Clustering"),
    (Group::Security, "Security"),
    (Group::Auth, "Auth"),
    (Group::Profiling, "Profiling and Monitoring"),
    (Group::Logging, "Logging"),
    (Group::Tracing, "Distributed tracing"),
    (Group::Experimental, "Experimental features (and their 3.6 replacements)"),
    (Group::Unsafe, "Unsafe features"),
    (Group::Capstan, "Capstan"),
];

/// How a value is written; decides boolean flag syntax and YAML conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Bool,
    Str,
    /// One of a fixed set of words.
    Choice,
    Int,
    /// Go duration (`5s`, `1h30m`); YAML numbers are nanoseconds, as in etcd.
    Dur,
    /// Comma-separated list (YAML sequences also accepted).
    List,
    /// A pre-3.0 flag that etcd still accepts and ignores.
    Ignored,
}

/// Where a flag may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Command line, environment and config file.
    All,
    /// Command line and environment only (`config-file`).
    CommandLine,
    /// Only inside a config file (keys of etcd's nested sections without a flag).
    FileOnly,
}

pub(super) type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// What Capstan does with a flag: one status per row of [`FLAGS`], shown by
/// `--help` and the README's table, and enforced by the `support` module.
///
/// A flag left at its default is never an error nor a warning, whatever its
/// status. Security, durability and cluster-formation flags are never
/// ignored silently: they are refused unless etcd itself ignores them in the
/// same situation (TLS settings on `http://` URLs), and then a warning says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// The server does what the flag says.
    Honoured,
    /// Some values are honoured, the others stop start-up; the note says which.
    Partial(&'static str),
    /// Accepted with no effect; a non-default value draws a warning. Only
    /// where etcd treats the flag as advisory, or where ignoring it cannot
    /// lose data, weaken security or change how the cluster forms.
    Ignored(&'static str),
    /// A non-default value stops start-up: "--flag is not supported yet by Capstan".
    Refused(&'static str),
}

impl Support {
    /// The short label of `--help` and the README (empty when honoured).
    pub fn label(self) -> &'static str {
        match self {
            Support::Honoured => "honoured",
            Support::Partial(_) => "partly supported",
            Support::Ignored(_) => "ignored",
            Support::Refused(_) => "not supported yet",
        }
    }

    /// Why the flag is not (fully) honoured; empty when it is.
    pub fn note(self) -> &'static str {
        match self {
            Support::Honoured => "",
            Support::Partial(n) | Support::Ignored(n) | Support::Refused(n) => n,
        }
    }
}

/// Note of the outbound client certificate of the client side: etcd
/// presents it when its gRPC gateway dials its own client URL.
pub(super) const SELF_DIAL_NOTE: &str = "Capstan never dials its own client URLs (the /v3 gateway is served in-process), so there is nothing to present it to";
/// Note of every discovery setting.
pub(super) const DISCOVERY_NOTE: &str = "discovery is not supported yet; bootstrap with --initial-cluster";
/// Note of the distributed-tracing settings.
pub(super) const TRACING_NOTE: &str = "no spans are exported; observability only";
/// Note of the etcd 2 flags that etcd 3.6 accepts and ignores.
pub(super) const ETCD2_NOTE: &str = "etcd 2 flag; etcd 3.6 ignores it too";

/// One etcd flag.
pub(super) struct Flag {
    pub(super) name: &'static str,
    pub(super) group: Group,
    pub(super) ty: Ty,
    pub(super) scope: Scope,
    /// Raw default, applied through `set` by [`Config::default`].
    pub(super) default: &'static str,
    /// What `--help` shows when it differs from `default`.
    pub(super) shown_default: Option<&'static str>,
    pub(super) help: &'static str,
    pub(super) set: Setter,
    /// What Capstan does with it.
    pub(super) support: Support,
}

impl Flag {
    /// This flag, honoured for some values only (checked in the `support` module).
    const fn partial(self, note: &'static str) -> Flag {
        Flag { support: Support::Partial(note), ..self }
    }

    /// This flag, accepted with no effect (a non-default value draws a warning).
    const fn ignored(self, note: &'static str) -> Flag {
        Flag { support: Support::Ignored(note), ..self }
    }

    /// This flag, refused at start-up when set to a non-default value.
    const fn refused(self, note: &'static str) -> Flag {
        Flag { support: Support::Refused(note), ..self }
    }
}

macro_rules! flag {
    ($group:ident, $ty:ident, $name:expr, $default:expr, $field:ident = $parse:expr, $help:expr) => {
        Flag {
            name: $name,
            group: Group::$group,
            ty: Ty::$ty,
            scope: Scope::All,
            default: $default,
            shown_default: None,
            help: $help,
            set: |c: &mut Config, v: &str| {
                c.$field = $parse(v)?;
                Ok(())
            },
            support: Support::Honoured,
        }
    };
}

macro_rules! ignored {
    ($name:expr) => {
        Flag {
            name: $name,
            group: Group::Hidden,
            ty: Ty::Ignored,
            scope: Scope::All,
            default: "",
            shown_default: None,
            help: "",
            set: |_: &mut Config, _: &str| Ok(()),
            support: Support::Ignored(ETCD2_NOTE),
        }
    };
}

macro_rules! file_only {
    ($ty:ident, $name:expr, $field:ident = $parse:expr) => {
        Flag { group: Group::Hidden, scope: Scope::FileOnly, ..flag!(Hidden, $ty, $name, "", $field = $parse, "") }
    };
}

/// Every etcd 3.6 server flag, in `etcd --help` order, then Capstan's, then
/// the legacy flags etcd ignores and the config-file-only keys.
#[rustfmt::skip]
pub(super) static FLAGS: &[Flag] = &[
    // ----- Member
    flag!(Member, Str, "name", DEFAULT_NAME, name = p_string, "Human-readable name for this member."),
    Flag {
        shown_default: Some("${name}.etcd"),
        ..flag!(Member, Str, "data-dir", "", data_dir = p_path, "Path to the data directory.")
    },
    flag!(Member, Str, "wal-dir", "", wal_dir = p_opt_path, "Path to a dedicated WAL directory.").refused("the Raft log lives in the data dir's RocksDB; a separate WAL directory is not implemented"),
    flag!(Member, Int, "snapshot-count", "10000", snapshot_count = p_u64, "Number of committed transactions to trigger a snapshot."),
    flag!(Member, Int, "heartbeat-interval", "100", heartbeat_interval_ms = p_u64, "Time (in milliseconds) of a heartbeat interval."),
    flag!(Member, Int, "election-timeout", "1000", election_timeout_ms = p_u64, "Time (in milliseconds) for an election to time out; at least 5 heartbeat intervals."),
    flag!(Member, Bool, "initial-election-tick-advance", "true", initial_election_tick_advance = p_bool, "Fast-forward the initial election ticks on boot for a faster first election.").ignored("only the timing of the first election after start-up"),
    flag!(Member, List, "listen-peer-urls", DEFAULT_PEER_URL, listen_peer_urls = p_urls, "URLs to listen on for peer traffic.").partial("http:// and https:// only: unix:// peer URLs are refused"),
    flag!(Member, List, "listen-client-urls", DEFAULT_CLIENT_URL, listen_client_urls = p_urls, "URLs to listen on for client gRPC traffic, and HTTP unless --listen-client-http-urls is set."),
    flag!(Member, List, "listen-client-http-urls", "", listen_client_http_urls = p_urls, "URLs to listen on for HTTP-only client traffic; setting it removes HTTP from --listen-client-urls.").refused("separate HTTP-only client listeners are not implemented"),
    flag!(Member, Int, "max-snapshots", "5", max_snapshots = p_u64, "Maximum number of snapshot files to retain (0 is unlimited). Deprecated in etcd 3.6.").ignored("file retention; only the newest snapshot is kept (etcd 3.6 deprecates the flag)"),
    flag!(Member, Int, "max-wals", "5", max_wals = p_u64, "Maximum number of WAL files to retain (0 is unlimited).").ignored("file retention; there are no WAL files (the Raft log is purged after --snapshot-catchup-entries)"),
    flag!(Member, Bool, "memory-mlock", "false", memory_mlock = p_bool, "Lock the server's memory in RAM so it is never swapped out.").ignored("performance: memory may be swapped out"),
    flag!(Member, Int, "quota-backend-bytes", "0", quota_backend_bytes = p_i64, "Maximum size of the backend database; exceeding it raises a NOSPACE alarm and makes the\ncluster read-only. 0 means the default of 2 GiB; a negative value disables the quota."),
    flag!(Member, Str, "backend-bbolt-freelist-type", "map", backend_bbolt_freelist_type = p_string, "bbolt freelist type (array or map). Accepted for compatibility.").ignored("bbolt only; Capstan stores data in RocksDB"),
    Flag {
        shown_default: Some(""),
        ..flag!(Member, Dur, "backend-batch-interval", "0s", backend_batch_interval = p_duration, "Maximum time before committing a backend transaction (0 = built-in default).")
    }.ignored("performance tuning of etcd's bbolt commits"),
    flag!(Member, Int, "backend-batch-limit", "0", backend_batch_limit = p_i64, "Maximum operations before committing a backend transaction (0 = built-in default).").ignored("performance tuning of etcd's bbolt commits"),
    flag!(Member, Int, "max-txn-ops", "128", max_txn_ops = p_u64, "Maximum number of operations permitted in a transaction."),
    flag!(Member, Int, "max-request-bytes", "1572864", max_request_bytes = p_u64, "Maximum client request size in bytes the server will accept."),
    Flag {
        shown_default: Some("math.MaxUint32"),
        ..flag!(Member, Int, "max-concurrent-streams", "4294967295", max_concurrent_streams = p_u32, "Maximum concurrent gRPC streams each client connection can open.")
    }.refused("a per-connection stream limit is not implemented"),
    flag!(Member, Dur, "grpc-keepalive-min-time", "5s", grpc_keepalive_min_time = p_duration, "Minimum interval a client should wait before pinging the server.").ignored("keepalive tuning; the transport's defaults apply"),
    flag!(Member, Dur, "grpc-keepalive-interval", "2h", grpc_keepalive_interval = p_duration, "Interval of server-to-client pings checking that a connection is alive (0 to disable).").ignored("keepalive tuning; the transport's defaults apply"),
    flag!(Member, Dur, "grpc-keepalive-timeout", "20s", grpc_keepalive_timeout = p_duration, "Extra wait before closing a connection that does not answer a ping (0 to disable).").ignored("keepalive tuning; the transport's defaults apply"),
    flag!(Member, Bool, "socket-reuse-port", "false", socket_reuse_port = p_bool, "Set SO_REUSEPORT on listeners, allowing rebinding of a port already in use.").ignored("socket option; without it a busy port fails to bind, as by default"),
    flag!(Member, Bool, "socket-reuse-address", "false", socket_reuse_address = p_bool, "Set SO_REUSEADDR on listeners, allowing binding to an address in TIME_WAIT state.").ignored("socket option; without it a busy port fails to bind, as by default"),
    flag!(Member, Bool, "enable-grpc-gateway", "true", enable_grpc_gateway = p_bool, "Serve the JSON gRPC gateway (/v3/...) on the client URLs."),
    flag!(Member, Dur, "raft-read-timeout", "5s", raft_read_timeout = p_duration, "Read timeout on each peer (raft) connection; at least 5s.").ignored("peer connection tuning; Capstan uses its own fixed peer timeouts"),
    flag!(Member, Dur, "raft-write-timeout", "5s", raft_write_timeout = p_duration, "Write timeout on each peer (raft) connection; at least 5s.").ignored("peer connection tuning; Capstan uses its own fixed peer timeouts"),
    Flag {
        name: "feature-gates",
        group: Group::Member,
        ty: Ty::Str,
        scope: Scope::All,
        default: "",
        shown_default: None,
        help: "Comma-separated key=value pairs turning server feature gates on or off. Known gates:",
        set: set_feature_gates,
        support: Support::Honoured,
    }.partial("gates that change correctness or checks (InitialCorruptCheck, CompactHashCheck, LeaseCheckpoint, LeaseCheckpointPersist, SetMemberLocalAddr) are refused when on; the performance gates are ignored"),
    // ----- Clustering
    flag!(Clustering, List, "initial-advertise-peer-urls", DEFAULT_PEER_URL, initial_advertise_peer_urls = p_urls, "This member's peer URLs to advertise to the rest of the cluster.").partial("http:// and https:// only: unix:// peer URLs are refused"),
    Flag {
        shown_default: Some(DEFAULT_INITIAL_CLUSTER),
        ..flag!(Clustering, Str, "initial-cluster", "", initial_cluster = p_string, "Initial cluster configuration for bootstrapping (name=url,name=url,...). When not given it is\n<name>=<each --initial-advertise-peer-urls>.")
    }.partial("http:// and https:// peer URLs only: unix:// peer URLs are refused"),
    flag!(Clustering, Choice, "initial-cluster-state", "new", initial_cluster_state = p_cluster_state, "'new' when bootstrapping a new cluster, 'existing' when joining an existing one.\nIgnored once the member has data."),
    flag!(Clustering, Str, "initial-cluster-token", "etcd-cluster", initial_cluster_token = p_string, "Cluster token used during bootstrap; keeps separate clusters from joining each other."),
    flag!(Clustering, List, "advertise-client-urls", DEFAULT_CLIENT_URL, advertise_client_urls = p_urls, "This member's client URLs to advertise to clients; they must be reachable by clients.\nRequired when --listen-client-urls is given on the command line or in the environment."),
    flag!(Clustering, Str, "discovery", "", discovery = p_opt_string, "v2 discovery URL used to bootstrap the cluster. Deprecated in etcd 3.6.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-token", "", discovery_token = p_opt_string, "v3 discovery: token of the cluster to bootstrap.").refused(DISCOVERY_NOTE),
    flag!(Clustering, List, "discovery-endpoints", "", discovery_endpoints = p_unique_strings, "v3 discovery: gRPC endpoints of the discovery service.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Dur, "discovery-dial-timeout", "2s", discovery_dial_timeout = p_duration, "v3 discovery: dial timeout.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Dur, "discovery-request-timeout", "5s", discovery_request_timeout = p_duration, "v3 discovery: request timeout (excluding dialing).").refused(DISCOVERY_NOTE),
    flag!(Clustering, Dur, "discovery-keepalive-time", "2s", discovery_keepalive_time = p_duration, "v3 discovery: keepalive time.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Dur, "discovery-keepalive-timeout", "6s", discovery_keepalive_timeout = p_duration, "v3 discovery: keepalive timeout.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Bool, "discovery-insecure-transport", "true", discovery_insecure_transport = p_bool, "v3 discovery: do not use TLS.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Bool, "discovery-insecure-skip-tls-verify", "false", discovery_insecure_skip_tls_verify = p_bool, "v3 discovery: skip server certificate verification (testing only).").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-cert", "", discovery_cert = p_opt_path, "v3 discovery: client TLS certificate file.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-key", "", discovery_key = p_opt_path, "v3 discovery: client TLS key file.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-cacert", "", discovery_cacert = p_opt_path, "v3 discovery: CA bundle verifying the discovery servers.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-user", "", discovery_user = p_opt_string, "v3 discovery: username[:password] for authentication.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-password", "", discovery_password = p_opt_string, "v3 discovery: password for authentication.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Choice, "discovery-fallback", "exit", discovery_fallback = p_discovery_fallback, "Behaviour when discovery fails: 'exit' (the v2 proxy is gone).").ignored("only used by discovery, which is refused (etcd's sample file sets it)"),
    flag!(Clustering, Str, "discovery-proxy", "", discovery_proxy = p_opt_string, "HTTP proxy for traffic to the discovery service. Deprecated in etcd 3.6.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-srv", "", discovery_srv = p_opt_string, "DNS domain whose SRV records bootstrap the cluster.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Str, "discovery-srv-name", "", discovery_srv_name = p_opt_string, "Suffix of the DNS SRV service name queried when bootstrapping.").refused(DISCOVERY_NOTE),
    flag!(Clustering, Bool, "strict-reconfig-check", "true", strict_reconfig_check = p_bool, "Reject membership changes that would cause quorum loss."),
    flag!(Clustering, Bool, "pre-vote", "true", pre_vote = p_bool, "Enable Raft pre-vote so a rejoining partitioned member does not disrupt the cluster.").ignored("Capstan's Raft (openraft) has no pre-vote; election timing only, no data at risk"),
    flag!(Clustering, Str, "auto-compaction-retention", "0", auto_compaction_retention = p_string, "Auto compaction retention; 0 disables auto compaction. In periodic mode a plain number is\nhours, or give a duration such as '30m'; in revision mode the number of revisions to keep."),
    flag!(Clustering, Choice, "auto-compaction-mode", "periodic", auto_compaction_mode = p_compaction_mode, "How to read --auto-compaction-retention: 'periodic' (time based) or 'revision'."),
    flag!(Clustering, Choice, "v2-deprecation", "write-only", v2_deprecation = p_v2_deprecation, "Phase of v2store deprecation. Only 'write-only-skip-check' changes anything; other values are\nreplaced by the default, as in etcd 3.6.").ignored("etcd 3.6 ignores it too; Capstan has no v2 store"),
    // ----- Security
    flag!(Security, Str, "cert-file", "", cert_file = p_opt_path, "Path to the client server TLS cert file."),
    flag!(Security, Str, "key-file", "", key_file = p_opt_path, "Path to the client server TLS key file."),
    flag!(Security, Bool, "client-cert-auth", "false", client_cert_auth = p_bool, "Require and verify client certificates."),
    flag!(Security, Str, "client-cert-file", "", client_cert_file = p_opt_path, "Certificate this member presents as a client (default: --cert-file).").ignored(SELF_DIAL_NOTE),
    flag!(Security, Str, "client-key-file", "", client_key_file = p_opt_path, "Key this member uses as a client (default: --key-file).").ignored(SELF_DIAL_NOTE),
    flag!(Security, Str, "client-crl-file", "", client_crl_file = p_opt_path, "Path to the client certificate revocation list file."),
    flag!(Security, List, "client-cert-allowed-hostname", "", client_cert_allowed_hostname = p_list, "Comma-separated SAN hostnames accepted for client certificate authentication."),
    flag!(Security, Str, "trusted-ca-file", "", trusted_ca_file = p_opt_path, "Path to the client server TLS trusted CA cert file."),
    flag!(Security, Bool, "auto-tls", "false", auto_tls = p_bool, "Client TLS using generated (self-signed) certificates."),
    flag!(Security, Str, "peer-cert-file", "", peer_cert_file = p_opt_path, "Path to the peer server TLS cert file."),
    flag!(Security, Str, "peer-key-file", "", peer_key_file = p_opt_path, "Path to the peer server TLS key file."),
    flag!(Security, Bool, "peer-client-cert-auth", "false", peer_client_cert_auth = p_bool, "Require and verify peer client certificates."),
    flag!(Security, Str, "peer-client-cert-file", "", peer_client_cert_file = p_opt_path, "Certificate presented to other peers (default: --peer-cert-file)."),
    flag!(Security, Str, "peer-client-key-file", "", peer_client_key_file = p_opt_path, "Key used towards other peers (default: --peer-key-file)."),
    flag!(Security, Str, "peer-trusted-ca-file", "", peer_trusted_ca_file = p_opt_path, "Path to the peer server TLS trusted CA file."),
    flag!(Security, List, "peer-cert-allowed-cn", "", peer_cert_allowed_cn = p_list, "Comma-separated CNs allowed for peer TLS authentication."),
    flag!(Security, List, "peer-cert-allowed-hostname", "", peer_cert_allowed_hostname = p_list, "Comma-separated SAN hostnames allowed for peer TLS authentication."),
    flag!(Security, Bool, "peer-auto-tls", "false", peer_auto_tls = p_bool, "Peer TLS using self-generated certificates if no peer cert/key is given."),
    flag!(Security, Int, "self-signed-cert-validity", "1", self_signed_cert_validity = p_u64, "Validity, in years, of the certificates generated by --auto-tls and --peer-auto-tls."),
    flag!(Security, Str, "peer-crl-file", "", peer_crl_file = p_opt_path, "Path to the peer certificate revocation list file."),
    flag!(Security, List, "cipher-suites", "", cipher_suites = p_list, "Comma-separated TLS cipher suites for client and peer connections (empty = library default)."),
    flag!(Security, List, "cors", "*", cors = p_cors, "Comma-separated origins allowed for CORS ('*' allows all).").refused("Capstan sends no CORS headers"),
    flag!(Security, List, "host-whitelist", "*", host_whitelist = p_host_whitelist, "Acceptable Host headers on plain-HTTP client requests (empty or '*' allows all).").refused("Host header checking is not implemented"),
    flag!(Security, Choice, "tls-min-version", "TLS1.2", tls_min_version = p_tls_version, "Minimum TLS version: TLS1.2 or TLS1.3."),
    flag!(Security, Choice, "tls-max-version", "", tls_max_version = p_tls_version, "Maximum TLS version: TLS1.2 or TLS1.3 (empty = highest supported)."),
    // ----- Auth
    flag!(Auth, Str, "auth-token", "simple", auth_token = p_string, "Authentication token type and options: 'simple', or 'jwt,pub-key=...,priv-key=...,sign-method=...'."),
    flag!(Auth, Int, "bcrypt-cost", "10", bcrypt_cost = p_u64, "bcrypt cost for hashing auth passwords (4 to 31)."),
    flag!(Auth, Int, "auth-token-ttl", "300", auth_token_ttl = p_u64, "Lifetime, in seconds, of a simple auth token."),
    // ----- Profiling and monitoring
    flag!(Profiling, Bool, "enable-pprof", "false", enable_pprof = p_bool, "Serve runtime profiling data at <client URL>/debug/pprof/.").ignored("Capstan serves no /debug/pprof profiles"),
    Flag {
        name: "metrics",
        group: Group::Profiling,
        ty: Ty::Choice,
        scope: Scope::All,
        default: "basic",
        shown_default: None,
        help: "Detail of exported metrics: 'basic', or 'extensive' to add per-RPC histograms.",
        set: set_metrics,
        support: Support::Honoured,
    }.ignored("Capstan exports the same metrics at either level"),
    flag!(Profiling, List, "listen-metrics-urls", "", listen_metrics_urls = p_urls, "Extra URLs serving /metrics and /health (https uses the client TLS settings)."),
    // ----- Logging
    flag!(Logging, Choice, "logger", "zap", logger = p_logger, "Logger; only 'zap' (structured logging) is supported."),
    flag!(Logging, List, "log-outputs", "default", log_outputs = p_unique_strings, "Log destinations: 'default', 'stderr', 'stdout', 'systemd/journal' or file paths.").partial("default, stderr and stdout; files and systemd/journal are refused"),
    flag!(Logging, Choice, "log-level", "info", log_level = p_log_level, "Log level: debug, info, warn, error, panic or fatal."),
    flag!(Logging, Choice, "log-format", "json", log_format = p_log_format, "Log format: json or console."),
    flag!(Logging, Bool, "enable-log-rotation", "false", enable_log_rotation = p_bool, "Rotate the single file named in --log-outputs.").ignored("log files are refused, so there is nothing to rotate"),
    flag!(Logging, Str, "log-rotation-config-json", r#"{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}"#, log_rotation_config_json = p_string, "Log rotation settings: maxsize (MB), maxage (days, 0 = no limit), maxbackups (0 = no limit),\nlocaltime, compress.").ignored("log files are refused, so there is nothing to rotate"),
    Flag {
        shown_default: Some("300ms"),
        ..flag!(Logging, Dur, "warning-unary-request-duration", "0s", warning_unary_request_duration = p_duration, "Log a warning for unary requests taking longer than this.")
    }.partial("KV requests (Range, Put, DeleteRange, Txn) are logged as etcd's \"request stats\"; other unary requests are not"),
    Flag {
        shown_default: Some("300ms"),
        ..flag!(Experimental, Dur, "experimental-warning-unary-request-duration", "0s", experimental_warning_unary_request_duration = p_duration, "Deprecated in etcd 3.6: use --warning-unary-request-duration.")
    }.partial("as --warning-unary-request-duration"),
    // ----- Distributed tracing
    flag!(Tracing, Bool, "experimental-enable-distributed-tracing", "false", experimental_enable_distributed_tracing = p_bool, "Deprecated in etcd 3.6: use --enable-distributed-tracing.").ignored(TRACING_NOTE),
    flag!(Tracing, Bool, "enable-distributed-tracing", "false", enable_distributed_tracing = p_bool, "Enable distributed tracing (OpenTelemetry).").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "experimental-distributed-tracing-address", "localhost:4317", experimental_distributed_tracing_address = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-address.").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "distributed-tracing-address", "localhost:4317", distributed_tracing_address = p_string, "Tracing collector address.").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "experimental-distributed-tracing-service-name", "etcd", experimental_distributed_tracing_service_name = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-service-name.").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "distributed-tracing-service-name", "etcd", distributed_tracing_service_name = p_string, "Tracing service name; the same on all members.").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "experimental-distributed-tracing-instance-id", "", experimental_distributed_tracing_instance_id = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-instance-id.").ignored(TRACING_NOTE),
    flag!(Tracing, Str, "distributed-tracing-instance-id", "", distributed_tracing_instance_id = p_string, "Tracing instance ID; unique per member.").ignored(TRACING_NOTE),
    flag!(Tracing, Int, "experimental-distributed-tracing-sampling-rate", "0", experimental_distributed_tracing_sampling_rate = p_i64, "Deprecated in etcd 3.6: use --distributed-tracing-sampling-rate.").ignored(TRACING_NOTE),
    flag!(Tracing, Int, "distributed-tracing-sampling-rate", "0", distributed_tracing_sampling_rate = p_i64, "Spans sampled per million (0 to 1000000).").ignored(TRACING_NOTE),
    // ----- Experimental
    flag!(Experimental, Bool, "experimental-initial-corrupt-check", "false", experimental_initial_corrupt_check = p_bool, "Deprecated in etcd 3.6: use --feature-gates=InitialCorruptCheck=true.").refused("corruption checks are not implemented"),
    flag!(Experimental, Dur, "experimental-corrupt-check-time", "0s", experimental_corrupt_check_time = p_duration, "Deprecated in etcd 3.6: use --corrupt-check-time.").refused("corruption checks are not implemented"),
    flag!(Experimental, Dur, "corrupt-check-time", "0s", corrupt_check_time = p_duration, "Interval between cluster corruption checks (0 disables them).").refused("corruption checks are not implemented"),
    flag!(Experimental, Bool, "experimental-compact-hash-check-enabled", "false", experimental_compact_hash_check_enabled = p_bool, "Deprecated in etcd 3.6: use --feature-gates=CompactHashCheck=true.").refused("compaction hash checks are not implemented"),
    flag!(Experimental, Dur, "experimental-compact-hash-check-time", "1m", experimental_compact_hash_check_time = p_duration, "Deprecated in etcd 3.6: use --compact-hash-check-time.").ignored("only used by the CompactHashCheck gate, which is refused"),
    flag!(Experimental, Dur, "compact-hash-check-time", "1m", compact_hash_check_time = p_duration, "Interval between the leader's checks of followers' compaction hashes.").ignored("only used by the CompactHashCheck gate, which is refused"),
    flag!(Experimental, Bool, "experimental-enable-lease-checkpoint", "false", experimental_enable_lease_checkpoint = p_bool, "Deprecated in etcd 3.6: use --feature-gates=LeaseCheckpoint=true.").refused("lease checkpoints are not implemented"),
    flag!(Experimental, Int, "experimental-compaction-batch-limit", "1000", experimental_compaction_batch_limit = p_i64, "Deprecated in etcd 3.6: use --compaction-batch-limit.").ignored("performance tuning of compaction"),
    flag!(Experimental, Int, "compaction-batch-limit", "1000", compaction_batch_limit = p_i64, "Maximum revisions deleted in each compaction batch.").ignored("performance tuning of compaction"),
    flag!(Experimental, Bool, "experimental-peer-skip-client-san-verification", "false", experimental_peer_skip_client_san_verification = p_bool, "Deprecated in etcd 3.6: use --peer-skip-client-san-verification."),
    flag!(Experimental, Bool, "peer-skip-client-san-verification", "false", peer_skip_client_san_verification = p_bool, "Skip verifying the SAN of peer client certificates."),
    flag!(Experimental, Dur, "experimental-watch-progress-notify-interval", "10m", experimental_watch_progress_notify_interval = p_duration, "Deprecated in etcd 3.6: use --watch-progress-notify-interval."),
    flag!(Experimental, Dur, "watch-progress-notify-interval", "10m", watch_progress_notify_interval = p_duration, "Interval of periodic watch progress notifications."),
    flag!(Experimental, Dur, "experimental-warning-apply-duration", "100ms", experimental_warning_apply_duration = p_duration, "Deprecated in etcd 3.6: use --warning-apply-duration.").ignored("a logging threshold; slow applies are not logged"),
    flag!(Experimental, Dur, "warning-apply-duration", "100ms", warning_apply_duration = p_duration, "Log a warning when applying a request takes longer than this.").ignored("a logging threshold; slow applies are not logged"),
    flag!(Experimental, Bool, "experimental-txn-mode-write-with-shared-buffer", "true", experimental_txn_mode_write_with_shared_buffer = p_bool, "Deprecated in etcd 3.6: use --feature-gates=TxnModeWriteWithSharedBuffer=true.").ignored("performance tuning of etcd's write buffer"),
    flag!(Experimental, Int, "experimental-bootstrap-defrag-threshold-megabytes", "0", experimental_bootstrap_defrag_threshold_megabytes = p_u64, "Deprecated in etcd 3.6: use --bootstrap-defrag-threshold-megabytes.").ignored("maintenance tuning; no defragmentation at start-up"),
    flag!(Experimental, Int, "bootstrap-defrag-threshold-megabytes", "0", bootstrap_defrag_threshold_megabytes = p_u64, "Defragment at boot when that frees at least this many megabytes (0 disables).").ignored("maintenance tuning; no defragmentation at start-up"),
    flag!(Experimental, Int, "max-learners", "1", max_learners = p_i64, "Maximum number of learner members in the cluster."),
    flag!(Experimental, Dur, "experimental-compaction-sleep-interval", "0s", experimental_compaction_sleep_interval = p_duration, "Deprecated in etcd 3.6: use --compaction-sleep-interval.").ignored("performance tuning of compaction"),
    flag!(Experimental, Dur, "compaction-sleep-interval", "0s", compaction_sleep_interval = p_duration, "Sleep between compaction batches (0 = built-in default).").ignored("performance tuning of compaction"),
    flag!(Experimental, Dur, "experimental-downgrade-check-time", "5s", experimental_downgrade_check_time = p_duration, "Deprecated in etcd 3.6: use --downgrade-check-time.").ignored("downgrades are not implemented; only the interval of a check"),
    flag!(Experimental, Dur, "downgrade-check-time", "5s", downgrade_check_time = p_duration, "Interval between two downgrade status checks.").ignored("downgrades are not implemented; only the interval of a check"),
    flag!(Experimental, Bool, "experimental-enable-lease-checkpoint-persist", "false", experimental_enable_lease_checkpoint_persist = p_bool, "Deprecated in etcd 3.6: use --feature-gates=LeaseCheckpointPersist=true.").refused("lease checkpoints are not implemented"),
    flag!(Experimental, Bool, "experimental-memory-mlock", "false", experimental_memory_mlock = p_bool, "Deprecated in etcd 3.6: use --memory-mlock.").ignored("performance: memory may be swapped out"),
    flag!(Experimental, Int, "experimental-snapshot-catchup-entries", "5000", experimental_snapshot_catchup_entries = p_u64, "Deprecated in etcd 3.6: use --snapshot-catchup-entries."),
    flag!(Experimental, Int, "snapshot-catchup-entries", "5000", snapshot_catchup_entries = p_u64, "Entries kept after compacting the raft log so slow followers can catch up."),
    flag!(Experimental, Bool, "experimental-stop-grpc-service-on-defrag", "false", experimental_stop_grpc_service_on_defrag = p_bool, "Deprecated in etcd 3.6: use --feature-gates=StopGRPCServiceOnDefrag=true.").ignored("Capstan keeps serving during defragmentation"),
    // ----- Unsafe
    flag!(Unsafe, Bool, "force-new-cluster", "false", force_new_cluster = p_bool, "Force the creation of a new one-member cluster from the existing data.").refused("recovering a one-member cluster from existing data is not implemented"),
    flag!(Unsafe, Bool, "unsafe-no-fsync", "false", unsafe_no_fsync = p_bool, "Disable fsync: unsafe, loses data on crashes."),
    // ----- Capstan
    flag!(Capstan, Str, "emulated-etcd-version", DEFAULT_EMULATED_ETCD_VERSION, emulated_etcd_version = p_string, "etcd version Capstan reports in Maintenance.Status, /version and --version (MAJOR.MINOR.PATCH).\nClients such as kube-apiserver enable features by it."),
    // ----- Command line only
    Flag {
        name: "config-file",
        group: Group::Hidden,
        ty: Ty::Str,
        scope: Scope::CommandLine,
        default: "",
        shown_default: None,
        help: "",
        set: |c: &mut Config, v: &str| {
            c.config_file = p_opt_path(v)?;
            Ok(())
        },
        support: Support::Honoured,
    },
    // ----- Flags of etcd 2 that etcd 3.6 still accepts and ignores
    ignored!("cluster-active-size"),
    ignored!("cluster-remove-delay"),
    ignored!("cluster-sync-interval"),
    ignored!("config"),
    ignored!("force"),
    ignored!("max-result-buffer"),
    ignored!("max-retry-attempts"),
    ignored!("peer-heartbeat-interval"),
    ignored!("peer-election-timeout"),
    ignored!("retry-interval"),
    ignored!("snapshot"),
    ignored!("v"),
    ignored!("vv"),
    ignored!("test.coverprofile"),
    ignored!("test.outputdir"),
    // ----- Keys of etcd's nested config-file sections that have no flag
    file_only!(List, "client-transport-security.allowed-cn", client_cert_allowed_cn = p_list),
    file_only!(Bool, "client-transport-security.skip-client-san-verification", client_skip_client_san_verification = p_bool).ignored("etcd checks connecting addresses against certificates on the peer listener only; on the client listener this has no effect in etcd either"),
    file_only!(Str, "discovery-config.client.secure.server-name", discovery_server_name = p_opt_string).refused(DISCOVERY_NOTE),
    file_only!(Int, "discovery-config.client.max-request-bytes", discovery_max_request_bytes = p_i64).refused(DISCOVERY_NOTE),
    file_only!(Int, "discovery-config.client.max-recv-bytes", discovery_max_recv_bytes = p_i64).refused(DISCOVERY_NOTE),
];

pub(super) fn find_flag(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The environment variable etcd reads for a flag: `ETCD_` + upper case, `-` → `_`.
pub fn env_var_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Of the given environment variable names, those that start with `ETCD_`
/// but match no flag (etcd warns about each one).
pub fn unrecognized_env_vars<I: IntoIterator<Item = String>>(names: I) -> Vec<String> {
    let known: BTreeSet<String> = FLAGS
        .iter()
        .filter(|f| f.scope != Scope::FileOnly)
        .map(|f| env_var_name(f.name))
        .chain(["ETCD_VERSION".to_string()])
        .collect();
    names.into_iter().filter(|n| n.starts_with("ETCD_") && !known.contains(n)).collect()
}
