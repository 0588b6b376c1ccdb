//! Member configuration, loaded the way etcd 3.6 loads its own.
//!
//! Capstan replaces etcd in place, so an existing deployment's command line,
//! `ETCD_*` environment and YAML config file must keep working unchanged. The
//! rules below follow etcd 3.6 (`server/etcdmain/config.go`,
//! `server/embed/config.go`, `pkg/flags`):
//!
//! * One table (`FLAGS`) lists every flag: name, default, help group, help
//!   text, value kind and the setter that stores it in [`Config`]. The command
//!   line, the environment and the config file all go through the same
//!   setters, so a value is parsed and checked the same way whatever its
//!   source, and `--help` shows the very defaults that [`Config::default`]
//!   applies.
//! * Command line: Go `flag` syntax — `-flag` or `--flag`, `--flag=value` or
//!   `--flag value`; booleans only as `--flag` or `--flag=true|false`.
//! * Environment: `ETCD_<FLAG>` (upper case, `-` → `_`) for each flag not
//!   given on the command line; empty variables are ignored.
//! * `--config-file PATH` (or `ETCD_CONFIG_FILE`): YAML whose keys are the flag
//!   names, plus etcd's nested `client-transport-security`,
//!   `peer-transport-security`, `discovery-config` and `socket-options`
//!   sections. When a file is given, the other flags and the environment are
//!   ignored, exactly as with etcd.
//!
//! Parsing never logs directly: the tracing subscriber is usually configured
//! *from* this config, so what etcd would log while parsing is collected in
//! [`Config::notices`] and emitted by [`Config::log_notices`] once logging is up.
//!
//! Deliberate differences from etcd 3.6, all in the direction of accepting
//! what etcd accepts while refusing what it would silently drop:
//!
//! * An unknown config-file key is an error (etcd ignores it), except the v2
//!   proxy keys of etcd's own sample file, which draw a warning.
//! * Every flag name is also a config-file key. etcd reads TLS settings only
//!   from the nested `*-transport-security` sections and silently ignores flat
//!   keys such as `cert-file:`; here they work, and disagreeing flat and nested
//!   values are an error.
//! * Durations in a config file may be Go duration strings (`"5s"`) as well
//!   as etcd's integer nanoseconds; list options take YAML lists or commas.
//! * A variable `ETCD_X` shadowed by `--x` is a warning (etcd exits).
//! * `--initial-cluster`, when not given, is always derived from `--name` and
//!   `--initial-advertise-peer-urls` (etcd only does so when `--name` changes).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

/// Default member name (`--name`); etcd warns when it is kept because several
/// members sharing it confuse membership changes.
pub const DEFAULT_NAME: &str = "default";
/// The etcd version Capstan reports unless `--emulated-etcd-version` says otherwise.
pub const DEFAULT_EMULATED_ETCD_VERSION: &str = "3.6.6";
/// Default of `--listen-peer-urls` and `--initial-advertise-peer-urls`.
pub const DEFAULT_PEER_URL: &str = "http://localhost:2380";
/// Default of `--listen-client-urls` and `--advertise-client-urls`.
pub const DEFAULT_CLIENT_URL: &str = "http://localhost:2379";
/// Default `--initial-cluster`: the default name with the default peer URL.
pub const DEFAULT_INITIAL_CLUSTER: &str = "default=http://localhost:2380";
/// Backend quota used when `--quota-backend-bytes` is 0 (etcd's 2 GiB).
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Largest quota etcd recommends (8 GiB); larger values only draw a warning.
pub const MAX_RECOMMENDED_QUOTA_BACKEND_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// Upper bound of `--election-timeout`, in milliseconds (etcd's `maxElectionMs`).
pub const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;
/// Environment variable naming the config file when `--config-file` is absent.
pub const CONFIG_FILE_ENV: &str = "ETCD_CONFIG_FILE";

/// rafthttp's minimum connection timeouts; smaller values are raised (etcd does the same).
const MIN_RAFT_CONN_TIMEOUT: Duration = Duration::from_secs(5);
/// Warning threshold applied when neither unary-request-duration flag is set.
const DEFAULT_WARNING_UNARY_REQUEST_DURATION: Duration = Duration::from_millis(300);
const MAX_TRACING_SAMPLING_RATE: i64 = 1_000_000;
const BCRYPT_MIN_COST: u64 = 4;
const BCRYPT_MAX_COST: u64 = 31;
const BCRYPT_DEFAULT_COST: u64 = 10;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a configuration could not be loaded or is not acceptable.
///
/// `Help` and `Version` are not failures: they carry the text to print on
/// stdout before exiting with status 0 (see [`ConfigError::exit_code`]). Where
/// etcd has an error message for a case, the text is etcd's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `-h`/`--help` was given: print this text and exit 0.
    #[error("{0}")]
    Help(String),
    /// `--version` was given: print this text and exit 0.
    #[error("{0}")]
    Version(String),
    /// A command-line flag etcd does not have (Go `flag`'s wording).
    #[error("flag provided but not defined: -{0}")]
    UnknownFlag(String),
    /// A non-boolean flag was last on the command line without a value.
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    /// An argument such as `---x` or `-=x`.
    #[error("bad flag syntax: {0}")]
    BadFlagSyntax(String),
    /// A positional argument; etcd takes none.
    #[error("{0:?} is not a valid flag")]
    UnexpectedArgument(String),
    /// A value that does not parse for its flag. `key` is `--flag`,
    /// `ETCD_FLAG` or the YAML key; `origin` is empty or ` in <file>`.
    #[error("invalid value {value:?} for {key}{origin}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        origin: String,
        reason: String,
    },
    /// A config-file key that is no etcd option.
    #[error("unknown key {key:?} in {path}")]
    UnknownKey { key: String, path: String },
    /// The same option given twice in one file with different values
    /// (e.g. flat `cert-file` and `client-transport-security.cert-file`).
    #[error("{first:?} and {second:?} in {path} set the same option to different values")]
    ConflictingKeys {
        first: String,
        second: String,
        path: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML (or not a mapping).
    #[error("cannot parse config file {path}: {message}")]
    ParseFile { path: String, message: String },
    /// A deprecated `experimental-*` flag and its replacement were both set.
    #[error("cannot set --{old} and --{new} at the same time, please use --{new} only")]
    ConflictingFlags { old: String, new: String },
    /// A URL that is not `scheme://host:port` with an etcd scheme.
    #[error("invalid URL {url:?} in --{flag}: {reason}")]
    InvalidUrl {
        flag: String,
        url: String,
        reason: String,
    },
    /// A listen URL whose host is a name rather than an IP (only `localhost` is allowed).
    #[error("expected IP in URL for binding ({url})")]
    BindUrlNotIp { url: String },
    /// etcd requires election timeout >= 5 heartbeats.
    #[error(
        "--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{heartbeat_ms}ms]"
    )]
    ElectionTimeoutTooShort { election_ms: u64, heartbeat_ms: u64 },
    /// Election timeout above [`MAX_ELECTION_TIMEOUT_MS`].
    #[error("--election-timeout[{0}ms] is too long, and should be set less than 50000ms")]
    ElectionTimeoutTooLong(u64),
    /// `--initial-cluster` is not `name=url,name=url,...` with valid URLs.
    #[error("invalid --initial-cluster {value:?}: {reason}")]
    InvalidInitialCluster { value: String, reason: String },
    /// The member's own name is missing from `--initial-cluster`.
    #[error("couldn't find local name {name:?} in the initial cluster configuration")]
    LocalMemberMissing { name: String },
    /// `--listen-client-urls` was set on the command line/environment without
    /// `--advertise-client-urls`.
    #[error("--advertise-client-urls is required when --listen-client-urls is set explicitly")]
    UnsetAdvertiseClientUrls,
    /// More than one of initial-cluster / discovery / discovery-endpoints / discovery-srv.
    #[error(
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\", \"discovery-endpoints\" or \"discovery-srv\""
    )]
    ConflictBootstrapFlags,
    /// Any other invalid combination; the text is etcd's where etcd has one.
    #[error("{0}")]
    Invalid(String),
}

impl ConfigError {
    /// Process exit status for this outcome: 0 for help/version, 2 for
    /// command-line syntax errors (Go `flag`'s status), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Help(_) | ConfigError::Version(_) => 0,
            ConfigError::UnknownFlag(_)
            | ConfigError::MissingValue(_)
            | ConfigError::BadFlagSyntax(_) => 2,
            _ => 1,
        }
    }

    /// True for `--help`/`--version`, which print their text to stdout rather than stderr.
    pub fn is_informational(&self) -> bool {
        matches!(self, ConfigError::Help(_) | ConfigError::Version(_))
    }
}

// ---------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------

/// `--initial-cluster-state`: bootstrap a new cluster or join an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterState {
    #[default]
    New,
    Existing,
}

/// `--auto-compaction-mode`: how `--auto-compaction-retention` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompactionMode {
    /// Retention is a time window (plain numbers are hours).
    #[default]
    Periodic,
    /// Retention is a number of revisions to keep.
    Revision,
}

/// The parsed auto-compaction policy (see [`Config::auto_compaction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Retention 0: never compact automatically.
    Disabled,
    /// Keep this much history (periodic mode).
    Periodic(Duration),
    /// Keep this many revisions (revision mode).
    Revision(u64),
}

/// `--log-level` (zap's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
    DPanic,
    Panic,
    Fatal,
}

impl LogLevel {
    /// The closest `tracing` level, for setting up the subscriber.
    pub fn tracing_level(self) -> tracing::Level {
        match self {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error | LogLevel::DPanic | LogLevel::Panic | LogLevel::Fatal => {
                tracing::Level::ERROR
            }
        }
    }

    /// etcd's spelling of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::DPanic => "dpanic",
            LogLevel::Panic => "panic",
            LogLevel::Fatal => "fatal",
        }
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Console,
}

/// `--logger`: etcd 3.6 only has zap (capnslog was removed in 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Logger {
    #[default]
    Zap,
}

/// `--metrics`: whether to export the per-RPC histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsLevel {
    #[default]
    Basic,
    Extensive,
}

/// `--tls-min-version` / `--tls-max-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// `--discovery-fallback`. `proxy` is rejected on the command line (the v2
/// proxy is gone) but tolerated in config files, where etcd never reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscoveryFallback {
    #[default]
    Exit,
    Proxy,
}

/// `--v2-deprecation`. Only `write-only-skip-check` is honoured (as in etcd
/// 3.6); any other value is replaced by the default `write-only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V2Deprecation {
    NotYet,
    #[default]
    WriteOnly,
    WriteOnlySkipCheck,
    WriteOnlyDropData,
    Gone,
}

/// `--auth-token`, decomposed (see [`Config::auth_token_spec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthTokenSpec {
    /// `""`: no token provider.
    None,
    /// `simple`: opaque random tokens, valid for `--auth-token-ttl` seconds.
    Simple,
    /// `jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...`.
    Jwt(BTreeMap<String, String>),
}

/// Log rotation settings from `--log-rotation-config-json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRotation {
    pub max_size_mb: i64,
    pub max_age_days: i64,
    pub max_backups: i64,
    pub local_time: bool,
    pub compress: bool,
}

/// One side's TLS settings (client or peer), gathered from the flat flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Certificate presented when this member acts as a client (defaults to `cert_file`).
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
    pub crl_file: Option<PathBuf>,
    pub allowed_cns: Vec<String>,
    pub allowed_hostnames: Vec<String>,
    pub skip_client_san_verify: bool,
    /// Generate a self-signed certificate when no cert/key is given.
    pub auto_tls: bool,
}

impl TlsInfo {
    /// etcd's `TLSInfo.Empty()`: no certificate and no key configured.
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// URL scheme accepted by etcd for member URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    Http,
    Https,
    Unix,
    Unixs,
}

impl UrlScheme {
    /// Whether connections on this URL use TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, UrlScheme::Https | UrlScheme::Unixs)
    }
}

/// A member URL checked with etcd's rules (`types.NewURLs`): scheme
/// http/https/unix/unixs; http(s) need `host:port` and no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    pub scheme: UrlScheme,
    /// Host without brackets (`::1` for `[::1]`); for unix URLs the whole authority.
    pub host: String,
    /// Port (always present for http/https; `None` for unix URLs).
    pub port: Option<u16>,
    /// Path (always empty for http/https).
    pub path: String,
    /// The URL as written (trimmed).
    pub raw: String,
}

impl ParsedUrl {
    /// Parses one URL with etcd's rules; the error is etcd's message.
    pub fn parse(s: &str) -> Result<ParsedUrl, String> {
        parse_url(s)
    }

    /// The address to bind for a listen URL: `localhost` means 127.0.0.1,
    /// otherwise the host must be an IP literal (etcd refuses names here).
    /// `None` for unix-socket URLs.
    pub fn bind_addr(&self) -> Option<Result<SocketAddr, ConfigError>> {
        let port = self.port?;
        let ip = if self.host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            match self.host.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    return Some(Err(ConfigError::BindUrlNotIp {
                        url: self.raw.clone(),
                    }));
                }
            }
        };
        Some(Ok(SocketAddr::new(ip, port)))
    }

    /// Socket path of a unix/unixs URL (etcd uses the authority, e.g.
    /// `unix://localhost:2379` is the file `localhost:2379`, else the path).
    pub fn unix_socket_path(&self) -> Option<&str> {
        match self.scheme {
            UrlScheme::Unix | UrlScheme::Unixs if !self.host.is_empty() => Some(&self.host),
            UrlScheme::Unix | UrlScheme::Unixs => Some(&self.path),
            _ => None,
        }
    }
}

/// What [`Config::load`] decided: run a member, or print a text and exit 0.
#[derive(Debug)]
pub enum LoadOutcome {
    /// Start a member with this (validated) configuration.
    Run(Box<Config>),
    /// `--help` or `--version`: print this text to stdout and exit with status 0.
    Exit(String),
}

/// Something etcd would have logged while loading the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

/// Severity of a [`Notice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warn,
}

// ---------------------------------------------------------------------------
// The configuration
// ---------------------------------------------------------------------------

/// The complete configuration of one member: one field per etcd 3.6 server
/// flag (named after the flag), plus Capstan's `--emulated-etcd-version`.
///
/// Build it with [`Config::load`] (process args + env), [`Config::from_args_env`]
/// (tests) or [`Config::from_yaml_str`]; [`Config::default`] gives etcd's defaults.
/// Fields that etcd treats as "unset when empty" are `Option`s here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    // ----- Member
    /// `--name`: human-readable member name.
    pub name: String,
    /// `--data-dir`: data directory (defaults to `<name>.etcd`).
    pub data_dir: PathBuf,
    /// `--wal-dir`: dedicated WAL directory (default: inside the data dir).
    pub wal_dir: Option<PathBuf>,
    /// `--snapshot-count`: committed entries between snapshots.
    pub snapshot_count: u64,
    /// `--heartbeat-interval`, milliseconds.
    pub heartbeat_interval_ms: u64,
    /// `--election-timeout`, milliseconds.
    pub election_timeout_ms: u64,
    /// `--initial-election-tick-advance`: fast-forward election ticks at boot.
    pub initial_election_tick_advance: bool,
    /// `--listen-peer-urls`.
    pub listen_peer_urls: Vec<String>,
    /// `--listen-client-urls` (gRPC, and HTTP unless `--listen-client-http-urls` is set).
    pub listen_client_urls: Vec<String>,
    /// `--listen-client-http-urls`: HTTP-only client listeners.
    pub listen_client_http_urls: Vec<String>,
    /// `--max-snapshots`: snapshot files kept (0 = unlimited). Deprecated in etcd 3.6.
    pub max_snapshots: u64,
    /// `--max-wals`: WAL files kept (0 = unlimited).
    pub max_wals: u64,
    /// `--memory-mlock`: lock the process memory in RAM.
    pub memory_mlock: bool,
    /// `--quota-backend-bytes`: 0 = 2 GiB default, negative = no quota.
    pub quota_backend_bytes: i64,
    /// `--backend-bbolt-freelist-type` (bbolt only; stored for compatibility).
    pub backend_bbolt_freelist_type: String,
    /// `--backend-batch-interval`: max time before committing a backend batch (0 = default).
    pub backend_batch_interval: Duration,
    /// `--backend-batch-limit`: max operations per backend batch (0 = default).
    pub backend_batch_limit: i64,
    /// `--max-txn-ops`: operations allowed in one transaction.
    pub max_txn_ops: u64,
    /// `--max-request-bytes`: largest client request accepted.
    pub max_request_bytes: u64,
    /// `--max-concurrent-streams`: per-connection gRPC stream limit.
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-min-time`: minimum client ping interval.
    pub grpc_keepalive_min_time: Duration,
    /// `--grpc-keepalive-interval`: server ping interval (0 = off).
    pub grpc_keepalive_interval: Duration,
    /// `--grpc-keepalive-timeout`: wait for a ping answer (0 = off).
    pub grpc_keepalive_timeout: Duration,
    /// `--socket-reuse-port`: SO_REUSEPORT on listeners.
    pub socket_reuse_port: bool,
    /// `--socket-reuse-address`: SO_REUSEADDR on listeners.
    pub socket_reuse_address: bool,
    /// `--enable-grpc-gateway`: serve the JSON gateway (`/v3/...`) on client URLs.
    pub enable_grpc_gateway: bool,
    /// `--raft-read-timeout` (at least 5s).
    pub raft_read_timeout: Duration,
    /// `--raft-write-timeout` (at least 5s).
    pub raft_write_timeout: Duration,
    /// `--feature-gates`: gates set explicitly (see [`Config::feature_enabled`]).
    pub feature_gates: BTreeMap<String, bool>,

    // ----- Clustering
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<String>,
    /// `--initial-cluster`: `name=url,...`; derived from the name and
    /// advertised peer URLs when not given (empty when discovery is used).
    pub initial_cluster: String,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<String>,
    /// `--discovery`: v2 discovery URL.
    pub discovery: Option<String>,
    /// `--discovery-token` (v3 discovery).
    pub discovery_token: Option<String>,
    /// `--discovery-endpoints` (v3 discovery).
    pub discovery_endpoints: Vec<String>,
    /// `--discovery-dial-timeout`.
    pub discovery_dial_timeout: Duration,
    /// `--discovery-request-timeout`.
    pub discovery_request_timeout: Duration,
    /// `--discovery-keepalive-time`.
    pub discovery_keepalive_time: Duration,
    /// `--discovery-keepalive-timeout`.
    pub discovery_keepalive_timeout: Duration,
    /// `--discovery-insecure-transport`.
    pub discovery_insecure_transport: bool,
    /// `--discovery-insecure-skip-tls-verify`.
    pub discovery_insecure_skip_tls_verify: bool,
    /// `--discovery-cert`.
    pub discovery_cert: Option<PathBuf>,
    /// `--discovery-key`.
    pub discovery_key: Option<PathBuf>,
    /// `--discovery-cacert`.
    pub discovery_cacert: Option<PathBuf>,
    /// `--discovery-user`.
    pub discovery_user: Option<String>,
    /// `--discovery-password`.
    pub discovery_password: Option<String>,
    /// `discovery-config.client.secure.server-name` (config file only).
    pub discovery_server_name: Option<String>,
    /// `discovery-config.client.max-request-bytes` (config file only).
    pub discovery_max_request_bytes: i64,
    /// `discovery-config.client.max-recv-bytes` (config file only).
    pub discovery_max_recv_bytes: i64,
    /// `--discovery-fallback`.
    pub discovery_fallback: DiscoveryFallback,
    /// `--discovery-proxy`.
    pub discovery_proxy: Option<String>,
    /// `--discovery-srv`: DNS domain for SRV discovery.
    pub discovery_srv: Option<String>,
    /// `--discovery-srv-name`: suffix of the SRV service name.
    pub discovery_srv_name: Option<String>,
    /// `--strict-reconfig-check`: reject membership changes that would lose quorum.
    pub strict_reconfig_check: bool,
    /// `--pre-vote`: Raft pre-vote.
    pub pre_vote: bool,
    /// `--auto-compaction-retention` as written (see [`Config::auto_compaction`]).
    pub auto_compaction_retention: String,
    /// `--auto-compaction-mode`.
    pub auto_compaction_mode: CompactionMode,
    /// `--v2-deprecation` (after etcd 3.6's forcing to the default).
    pub v2_deprecation: V2Deprecation,

    // ----- Security
    /// `--cert-file`: client-facing server certificate.
    pub cert_file: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--client-cert-auth`: require client certificates.
    pub client_cert_auth: bool,
    /// `--client-cert-file`.
    pub client_cert_file: Option<PathBuf>,
    /// `--client-key-file`.
    pub client_key_file: Option<PathBuf>,
    /// `--client-crl-file`.
    pub client_crl_file: Option<PathBuf>,
    /// `--client-cert-allowed-hostname`.
    pub client_cert_allowed_hostname: Vec<String>,
    /// `client-transport-security.allowed-cn` (config file only).
    pub client_cert_allowed_cn: Vec<String>,
    /// `client-transport-security.skip-client-san-verification` (config file only).
    pub client_skip_client_san_verification: bool,
    /// `--trusted-ca-file`.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--auto-tls`: self-signed client certificates.
    pub auto_tls: bool,
    /// `--peer-cert-file`.
    pub peer_cert_file: Option<PathBuf>,
    /// `--peer-key-file`.
    pub peer_key_file: Option<PathBuf>,
    /// `--peer-client-cert-auth`.
    pub peer_client_cert_auth: bool,
    /// `--peer-client-cert-file`.
    pub peer_client_cert_file: Option<PathBuf>,
    /// `--peer-client-key-file`.
    pub peer_client_key_file: Option<PathBuf>,
    /// `--peer-trusted-ca-file`.
    pub peer_trusted_ca_file: Option<PathBuf>,
    /// `--peer-cert-allowed-cn`.
    pub peer_cert_allowed_cn: Vec<String>,
    /// `--peer-cert-allowed-hostname`.
    pub peer_cert_allowed_hostname: Vec<String>,
    /// `--peer-auto-tls`.
    pub peer_auto_tls: bool,
    /// `--self-signed-cert-validity`, years.
    pub self_signed_cert_validity: u64,
    /// `--peer-crl-file`.
    pub peer_crl_file: Option<PathBuf>,
    /// `--cipher-suites` (Go names).
    pub cipher_suites: Vec<String>,
    /// `--experimental-peer-skip-client-san-verification` (copied to the new flag).
    pub experimental_peer_skip_client_san_verification: bool,
    /// `--peer-skip-client-san-verification`.
    pub peer_skip_client_san_verification: bool,
    /// `--tls-min-version` (`None`: library default, TLS 1.2).
    pub tls_min_version: Option<TlsVersion>,
    /// `--tls-max-version` (`None`: highest supported).
    pub tls_max_version: Option<TlsVersion>,
    /// `--cors`: allowed origins (`*` = all).
    pub cors: Vec<String>,
    /// `--host-whitelist`: accepted Host headers on plain HTTP (`*` or empty = all).
    pub host_whitelist: Vec<String>,

    // ----- Auth
    /// `--auth-token` (see [`Config::auth_token_spec`]).
    pub auth_token: String,
    /// `--bcrypt-cost`.
    pub bcrypt_cost: u64,
    /// `--auth-token-ttl`, seconds.
    pub auth_token_ttl: u64,

    // ----- Profiling and monitoring
    /// `--enable-pprof`.
    pub enable_pprof: bool,
    /// `--metrics`.
    pub metrics: MetricsLevel,
    /// `--listen-metrics-urls`: extra listeners for `/metrics` and `/health`.
    pub listen_metrics_urls: Vec<String>,

    // ----- Logging
    /// `--logger`.
    pub logger: Logger,
    /// `--log-outputs`: `default`, `stderr`, `stdout`, `systemd/journal` or file paths.
    pub log_outputs: Vec<String>,
    /// `--log-level`.
    pub log_level: LogLevel,
    /// `--log-format`.
    pub log_format: LogFormat,
    /// `--enable-log-rotation`.
    pub enable_log_rotation: bool,
    /// `--log-rotation-config-json` (see [`Config::log_rotation`]).
    pub log_rotation_config_json: String,
    /// `--warning-unary-request-duration` (resolved: 300ms unless set).
    pub warning_unary_request_duration: Duration,
    /// `--experimental-warning-unary-request-duration` (deprecated alias).
    pub experimental_warning_unary_request_duration: Duration,

    // ----- Distributed tracing
    /// `--experimental-enable-distributed-tracing` (copied to the new flag).
    pub experimental_enable_distributed_tracing: bool,
    /// `--enable-distributed-tracing`.
    pub enable_distributed_tracing: bool,
    /// `--experimental-distributed-tracing-address`.
    pub experimental_distributed_tracing_address: String,
    /// `--distributed-tracing-address`.
    pub distributed_tracing_address: String,
    /// `--experimental-distributed-tracing-service-name`.
    pub experimental_distributed_tracing_service_name: String,
    /// `--distributed-tracing-service-name`.
    pub distributed_tracing_service_name: String,
    /// `--experimental-distributed-tracing-instance-id`.
    pub experimental_distributed_tracing_instance_id: String,
    /// `--distributed-tracing-instance-id`.
    pub distributed_tracing_instance_id: String,
    /// `--experimental-distributed-tracing-sampling-rate` (per million).
    pub experimental_distributed_tracing_sampling_rate: i64,
    /// `--distributed-tracing-sampling-rate` (per million).
    pub distributed_tracing_sampling_rate: i64,

    // ----- Experimental (and their 3.6 replacements)
    /// `--experimental-initial-corrupt-check` (→ feature gate `InitialCorruptCheck`).
    pub experimental_initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time`.
    pub experimental_corrupt_check_time: Duration,
    /// `--corrupt-check-time`: period of cluster corruption checks (0 = off).
    pub corrupt_check_time: Duration,
    /// `--experimental-compact-hash-check-enabled` (→ feature gate `CompactHashCheck`).
    pub experimental_compact_hash_check_enabled: bool,
    /// `--experimental-compact-hash-check-time`.
    pub experimental_compact_hash_check_time: Duration,
    /// `--compact-hash-check-time`.
    pub compact_hash_check_time: Duration,
    /// `--experimental-enable-lease-checkpoint` (→ feature gate `LeaseCheckpoint`).
    pub experimental_enable_lease_checkpoint: bool,
    /// `--experimental-enable-lease-checkpoint-persist` (→ `LeaseCheckpointPersist`).
    pub experimental_enable_lease_checkpoint_persist: bool,
    /// `--experimental-compaction-batch-limit`.
    pub experimental_compaction_batch_limit: i64,
    /// `--compaction-batch-limit`: revisions deleted per compaction batch.
    pub compaction_batch_limit: i64,
    /// `--experimental-compaction-sleep-interval`.
    pub experimental_compaction_sleep_interval: Duration,
    /// `--compaction-sleep-interval` (0 = server default).
    pub compaction_sleep_interval: Duration,
    /// `--experimental-watch-progress-notify-interval`.
    pub experimental_watch_progress_notify_interval: Duration,
    /// `--watch-progress-notify-interval`.
    pub watch_progress_notify_interval: Duration,
    /// `--experimental-warning-apply-duration`.
    pub experimental_warning_apply_duration: Duration,
    /// `--warning-apply-duration`.
    pub warning_apply_duration: Duration,
    /// `--experimental-txn-mode-write-with-shared-buffer` (→ `TxnModeWriteWithSharedBuffer`).
    pub experimental_txn_mode_write_with_shared_buffer: bool,
    /// `--experimental-bootstrap-defrag-threshold-megabytes`.
    pub experimental_bootstrap_defrag_threshold_megabytes: u64,
    /// `--bootstrap-defrag-threshold-megabytes` (0 = off).
    pub bootstrap_defrag_threshold_megabytes: u64,
    /// `--max-learners`.
    pub max_learners: i64,
    /// `--experimental-snapshot-catchup-entries`.
    pub experimental_snapshot_catchup_entries: u64,
    /// `--snapshot-catchup-entries`.
    pub snapshot_catchup_entries: u64,
    /// `--experimental-downgrade-check-time`.
    pub experimental_downgrade_check_time: Duration,
    /// `--downgrade-check-time`.
    pub downgrade_check_time: Duration,
    /// `--experimental-memory-mlock` (copied to `memory_mlock`).
    pub experimental_memory_mlock: bool,
    /// `--experimental-stop-grpc-service-on-defrag` (→ `StopGRPCServiceOnDefrag`).
    pub experimental_stop_grpc_service_on_defrag: bool,

    // ----- Unsafe
    /// `--force-new-cluster`: restart as a one-member cluster.
    pub force_new_cluster: bool,
    /// `--unsafe-no-fsync`.
    pub unsafe_no_fsync: bool,

    // ----- Capstan
    /// `--emulated-etcd-version`: reported by Status, `/version` and `--version`.
    pub emulated_etcd_version: String,

    // ----- Provenance
    /// The config file the values came from, if any.
    pub config_file: Option<PathBuf>,
    /// What etcd would have logged while loading (see [`Config::log_notices`]).
    pub notices: Vec<Notice>,
    /// Flags given explicitly (command line, environment or file).
    explicitly_set: BTreeSet<String>,
}

impl Default for Config {
    /// etcd 3.6's defaults (data dir `default.etcd`, initial cluster
    /// `default=http://localhost:2380`, ...), taken from the flag table: the
    /// configuration of `capstan` run without flags, environment or file.
    fn default() -> Self {
        let mut cfg = Config::table_defaults();
        if let Err(e) = cfg.finish(false) {
            unreachable!("the default configuration is inconsistent: {e}");
        }
        cfg.notices.clear();
        cfg
    }
}

// ---------------------------------------------------------------------------
// The flag table
// ---------------------------------------------------------------------------

/// Help section of a flag, in etcd's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
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

const HELP_GROUPS: [(Group, &str); 10] = [
    (Group::Member, "Member"),
    (Group::Clustering, "Clustering"),
    (Group::Security, "Security"),
    (Group::Auth, "Auth"),
    (Group::Profiling, "Profiling and Monitoring"),
    (Group::Logging, "Logging"),
    (Group::Tracing, "Distributed tracing"),
    (
        Group::Experimental,
        "Experimental features (and their 3.6 replacements)",
    ),
    (Group::Unsafe, "Unsafe features"),
    (Group::Capstan, "Capstan"),
];

/// How a value is written; decides boolean flag syntax and YAML conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
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
enum Scope {
    /// Command line, environment and config file.
    All,
    /// Command line and environment only (`config-file`).
    CommandLine,
    /// Only inside a config file (keys of etcd's nested sections without a flag).
    FileOnly,
}

type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// One etcd flag.
struct Flag {
    name: &'static str,
    group: Group,
    ty: Ty,
    scope: Scope,
    /// Raw default, applied through `set` by [`Config::default`].
    default: &'static str,
    /// What `--help` shows when it differs from `default`.
    shown_default: Option<&'static str>,
    help: &'static str,
    set: Setter,
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
        }
    };
}

macro_rules! file_only {
    ($ty:ident, $name:expr, $field:ident = $parse:expr) => {
        Flag {
            group: Group::Hidden,
            scope: Scope::FileOnly,
            ..flag!(Hidden, $ty, $name, "", $field = $parse, "")
        }
    };
}

/// Every etcd 3.6 server flag, in `etcd --help` order, then Capstan's, then
/// the legacy flags etcd ignores and the config-file-only keys.
#[rustfmt::skip]
static FLAGS: &[Flag] = &[
    // ----- Member
    flag!(Member, Str, "name", DEFAULT_NAME, name = p_string, "Human-readable name for this member."),
    Flag {
        shown_default: Some("${name}.etcd"),
        ..flag!(Member, Str, "data-dir", "", data_dir = p_path, "Path to the data directory.")
    },
    flag!(Member, Str, "wal-dir", "", wal_dir = p_opt_path, "Path to a dedicated WAL directory."),
    flag!(Member, Int, "snapshot-count", "10000", snapshot_count = p_u64, "Number of committed transactions to trigger a snapshot."),
    flag!(Member, Int, "heartbeat-interval", "100", heartbeat_interval_ms = p_u64, "Time (in milliseconds) of a heartbeat interval."),
    flag!(Member, Int, "election-timeout", "1000", election_timeout_ms = p_u64, "Time (in milliseconds) for an election to time out; at least 5 heartbeat intervals."),
    flag!(Member, Bool, "initial-election-tick-advance", "true", initial_election_tick_advance = p_bool, "Fast-forward the initial election ticks on boot for a faster first election."),
    flag!(Member, List, "listen-peer-urls", DEFAULT_PEER_URL, listen_peer_urls = p_urls, "URLs to listen on for peer traffic."),
    flag!(Member, List, "listen-client-urls", DEFAULT_CLIENT_URL, listen_client_urls = p_urls, "URLs to listen on for client gRPC traffic, and HTTP unless --listen-client-http-urls is set."),
    flag!(Member, List, "listen-client-http-urls", "", listen_client_http_urls = p_urls, "URLs to listen on for HTTP-only client traffic; setting it removes HTTP from --listen-client-urls."),
    flag!(Member, Int, "max-snapshots", "5", max_snapshots = p_u64, "Maximum number of snapshot files to retain (0 is unlimited). Deprecated in etcd 3.6."),
    flag!(Member, Int, "max-wals", "5", max_wals = p_u64, "Maximum number of WAL files to retain (0 is unlimited)."),
    flag!(Member, Bool, "memory-mlock", "false", memory_mlock = p_bool, "Lock the server's memory in RAM so it is never swapped out."),
    flag!(Member, Int, "quota-backend-bytes", "0", quota_backend_bytes = p_i64, "Maximum size of the backend database; exceeding it raises a NOSPACE alarm and makes the\ncluster read-only. 0 means the default of 2 GiB; a negative value disables the quota."),
    flag!(Member, Str, "backend-bbolt-freelist-type", "map", backend_bbolt_freelist_type = p_string, "bbolt freelist type (array or map). Accepted for compatibility."),
    Flag {
        shown_default: Some(""),
        ..flag!(Member, Dur, "backend-batch-interval", "0s", backend_batch_interval = p_duration, "Maximum time before committing a backend transaction (0 = built-in default).")
    },
    flag!(Member, Int, "backend-batch-limit", "0", backend_batch_limit = p_i64, "Maximum operations before committing a backend transaction (0 = built-in default)."),
    flag!(Member, Int, "max-txn-ops", "128", max_txn_ops = p_u64, "Maximum number of operations permitted in a transaction."),
    flag!(Member, Int, "max-request-bytes", "1572864", max_request_bytes = p_u64, "Maximum client request size in bytes the server will accept."),
    Flag {
        shown_default: Some("math.MaxUint32"),
        ..flag!(Member, Int, "max-concurrent-streams", "4294967295", max_concurrent_streams = p_u32, "Maximum concurrent gRPC streams each client connection can open.")
    },
    flag!(Member, Dur, "grpc-keepalive-min-time", "5s", grpc_keepalive_min_time = p_duration, "Minimum interval a client should wait before pinging the server."),
    flag!(Member, Dur, "grpc-keepalive-interval", "2h", grpc_keepalive_interval = p_duration, "Interval of server-to-client pings checking that a connection is alive (0 to disable)."),
    flag!(Member, Dur, "grpc-keepalive-timeout", "20s", grpc_keepalive_timeout = p_duration, "Extra wait before closing a connection that does not answer a ping (0 to disable)."),
    flag!(Member, Bool, "socket-reuse-port", "false", socket_reuse_port = p_bool, "Set SO_REUSEPORT on listeners, allowing rebinding of a port already in use."),
    flag!(Member, Bool, "socket-reuse-address", "false", socket_reuse_address = p_bool, "Set SO_REUSEADDR on listeners, allowing binding to an address in TIME_WAIT state."),
    flag!(Member, Bool, "enable-grpc-gateway", "true", enable_grpc_gateway = p_bool, "Serve the JSON gRPC gateway (/v3/...) on the client URLs."),
    flag!(Member, Dur, "raft-read-timeout", "5s", raft_read_timeout = p_duration, "Read timeout on each peer (raft) connection; at least 5s."),
    flag!(Member, Dur, "raft-write-timeout", "5s", raft_write_timeout = p_duration, "Write timeout on each peer (raft) connection; at least 5s."),
    Flag {
        name: "feature-gates",
        group: Group::Member,
        ty: Ty::Str,
        scope: Scope::All,
        default: "",
        shown_default: None,
        help: "Comma-separated key=value pairs turning server feature gates on or off. Known gates:",
        set: set_feature_gates,
    },
    // ----- Clustering
    flag!(Clustering, List, "initial-advertise-peer-urls", DEFAULT_PEER_URL, initial_advertise_peer_urls = p_urls, "This member's peer URLs to advertise to the rest of the cluster."),
    Flag {
        shown_default: Some(DEFAULT_INITIAL_CLUSTER),
        ..flag!(Clustering, Str, "initial-cluster", "", initial_cluster = p_string, "Initial cluster configuration for bootstrapping (name=url,name=url,...). When not given it is\n<name>=<each --initial-advertise-peer-urls>.")
    },
    flag!(Clustering, Choice, "initial-cluster-state", "new", initial_cluster_state = p_cluster_state, "'new' when bootstrapping a new cluster, 'existing' when joining an existing one.\nIgnored once the member has data."),
    flag!(Clustering, Str, "initial-cluster-token", "etcd-cluster", initial_cluster_token = p_string, "Cluster token used during bootstrap; keeps separate clusters from joining each other."),
    flag!(Clustering, List, "advertise-client-urls", DEFAULT_CLIENT_URL, advertise_client_urls = p_urls, "This member's client URLs to advertise to clients; they must be reachable by clients.\nRequired when --listen-client-urls is given on the command line or in the environment."),
    flag!(Clustering, Str, "discovery", "", discovery = p_opt_string, "v2 discovery URL used to bootstrap the cluster. Deprecated in etcd 3.6."),
    flag!(Clustering, Str, "discovery-token", "", discovery_token = p_opt_string, "v3 discovery: token of the cluster to bootstrap."),
    flag!(Clustering, List, "discovery-endpoints", "", discovery_endpoints = p_unique_strings, "v3 discovery: gRPC endpoints of the discovery service."),
    flag!(Clustering, Dur, "discovery-dial-timeout", "2s", discovery_dial_timeout = p_duration, "v3 discovery: dial timeout."),
    flag!(Clustering, Dur, "discovery-request-timeout", "5s", discovery_request_timeout = p_duration, "v3 discovery: request timeout (excluding dialing)."),
    flag!(Clustering, Dur, "discovery-keepalive-time", "2s", discovery_keepalive_time = p_duration, "v3 discovery: keepalive time."),
    flag!(Clustering, Dur, "discovery-keepalive-timeout", "6s", discovery_keepalive_timeout = p_duration, "v3 discovery: keepalive timeout."),
    flag!(Clustering, Bool, "discovery-insecure-transport", "true", discovery_insecure_transport = p_bool, "v3 discovery: do not use TLS."),
    flag!(Clustering, Bool, "discovery-insecure-skip-tls-verify", "false", discovery_insecure_skip_tls_verify = p_bool, "v3 discovery: skip server certificate verification (testing only)."),
    flag!(Clustering, Str, "discovery-cert", "", discovery_cert = p_opt_path, "v3 discovery: client TLS certificate file."),
    flag!(Clustering, Str, "discovery-key", "", discovery_key = p_opt_path, "v3 discovery: client TLS key file."),
    flag!(Clustering, Str, "discovery-cacert", "", discovery_cacert = p_opt_path, "v3 discovery: CA bundle verifying the discovery servers."),
    flag!(Clustering, Str, "discovery-user", "", discovery_user = p_opt_string, "v3 discovery: username[:password] for authentication."),
    flag!(Clustering, Str, "discovery-password", "", discovery_password = p_opt_string, "v3 discovery: password for authentication."),
    flag!(Clustering, Choice, "discovery-fallback", "exit", discovery_fallback = p_discovery_fallback, "Behaviour when discovery fails: 'exit' (the v2 proxy is gone)."),
    flag!(Clustering, Str, "discovery-proxy", "", discovery_proxy = p_opt_string, "HTTP proxy for traffic to the discovery service. Deprecated in etcd 3.6."),
    flag!(Clustering, Str, "discovery-srv", "", discovery_srv = p_opt_string, "DNS domain whose SRV records bootstrap the cluster."),
    flag!(Clustering, Str, "discovery-srv-name", "", discovery_srv_name = p_opt_string, "Suffix of the DNS SRV service name queried when bootstrapping."),
    flag!(Clustering, Bool, "strict-reconfig-check", "true", strict_reconfig_check = p_bool, "Reject membership changes that would cause quorum loss."),
    flag!(Clustering, Bool, "pre-vote", "true", pre_vote = p_bool, "Enable Raft pre-vote so a rejoining partitioned member does not disrupt the cluster."),
    flag!(Clustering, Str, "auto-compaction-retention", "0", auto_compaction_retention = p_string, "Auto compaction retention; 0 disables auto compaction. In periodic mode a plain number is\nhours, or give a duration such as '30m'; in revision mode the number of revisions to keep."),
    flag!(Clustering, Choice, "auto-compaction-mode", "periodic", auto_compaction_mode = p_compaction_mode, "How to read --auto-compaction-retention: 'periodic' (time based) or 'revision'."),
    flag!(Clustering, Choice, "v2-deprecation", "write-only", v2_deprecation = p_v2_deprecation, "Phase of v2store deprecation. Only 'write-only-skip-check' changes anything; other values are\nreplaced by the default, as in etcd 3.6."),
    // ----- Security
    flag!(Security, Str, "cert-file", "", cert_file = p_opt_path, "Path to the client server TLS cert file."),
    flag!(Security, Str, "key-file", "", key_file = p_opt_path, "Path to the client server TLS key file."),
    flag!(Security, Bool, "client-cert-auth", "false", client_cert_auth = p_bool, "Require and verify client certificates."),
    flag!(Security, Str, "client-cert-file", "", client_cert_file = p_opt_path, "Certificate this member presents as a client (default: --cert-file)."),
    flag!(Security, Str, "client-key-file", "", client_key_file = p_opt_path, "Key this member uses as a client (default: --key-file)."),
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
    flag!(Security, List, "cors", "*", cors = p_cors, "Comma-separated origins allowed for CORS ('*' allows all)."),
    flag!(Security, List, "host-whitelist", "*", host_whitelist = p_host_whitelist, "Acceptable Host headers on plain-HTTP client requests (empty or '*' allows all)."),
    flag!(Security, Choice, "tls-min-version", "TLS1.2", tls_min_version = p_tls_version, "Minimum TLS version: TLS1.2 or TLS1.3."),
    flag!(Security, Choice, "tls-max-version", "", tls_max_version = p_tls_version, "Maximum TLS version: TLS1.2 or TLS1.3 (empty = highest supported)."),
    // ----- Auth
    flag!(Auth, Str, "auth-token", "simple", auth_token = p_string, "Authentication token type and options: 'simple', or 'jwt,pub-key=...,priv-key=...,sign-method=...'."),
    flag!(Auth, Int, "bcrypt-cost", "10", bcrypt_cost = p_u64, "bcrypt cost for hashing auth passwords (4 to 31)."),
    flag!(Auth, Int, "auth-token-ttl", "300", auth_token_ttl = p_u64, "Lifetime, in seconds, of a simple auth token."),
    // ----- Profiling and monitoring
    flag!(Profiling, Bool, "enable-pprof", "false", enable_pprof = p_bool, "Serve runtime profiling data at <client URL>/debug/pprof/."),
    Flag {
        name: "metrics",
        group: Group::Profiling,
        ty: Ty::Choice,
        scope: Scope::All,
        default: "basic",
        shown_default: None,
        help: "Detail of exported metrics: 'basic', or 'extensive' to add per-RPC histograms.",
        set: set_metrics,
    },
    flag!(Profiling, List, "listen-metrics-urls", "", listen_metrics_urls = p_urls, "Extra URLs serving /metrics and /health (https uses the client TLS settings)."),
    // ----- Logging
    flag!(Logging, Choice, "logger", "zap", logger = p_logger, "Logger; only 'zap' (structured logging) is supported."),
    flag!(Logging, List, "log-outputs", "default", log_outputs = p_unique_strings, "Log destinations: 'default', 'stderr', 'stdout', 'systemd/journal' or file paths."),
    flag!(Logging, Choice, "log-level", "info", log_level = p_log_level, "Log level: debug, info, warn, error, panic or fatal."),
    flag!(Logging, Choice, "log-format", "json", log_format = p_log_format, "Log format: json or console."),
    flag!(Logging, Bool, "enable-log-rotation", "false", enable_log_rotation = p_bool, "Rotate the single file named in --log-outputs."),
    flag!(Logging, Str, "log-rotation-config-json", r#"{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}"#, log_rotation_config_json = p_string, "Log rotation settings: maxsize (MB), maxage (days, 0 = no limit), maxbackups (0 = no limit),\nlocaltime, compress."),
    Flag {
        shown_default: Some("300ms"),
        ..flag!(Logging, Dur, "warning-unary-request-duration", "0s", warning_unary_request_duration = p_duration, "Log a warning for unary requests taking longer than this.")
    },
    Flag {
        shown_default: Some("300ms"),
        ..flag!(Experimental, Dur, "experimental-warning-unary-request-duration", "0s", experimental_warning_unary_request_duration = p_duration, "Deprecated in etcd 3.6: use --warning-unary-request-duration.")
    },
    // ----- Distributed tracing
    flag!(Tracing, Bool, "experimental-enable-distributed-tracing", "false", experimental_enable_distributed_tracing = p_bool, "Deprecated in etcd 3.6: use --enable-distributed-tracing."),
    flag!(Tracing, Bool, "enable-distributed-tracing", "false", enable_distributed_tracing = p_bool, "Enable distributed tracing (OpenTelemetry)."),
    flag!(Tracing, Str, "experimental-distributed-tracing-address", "localhost:4317", experimental_distributed_tracing_address = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-address."),
    flag!(Tracing, Str, "distributed-tracing-address", "localhost:4317", distributed_tracing_address = p_string, "Tracing collector address."),
    flag!(Tracing, Str, "experimental-distributed-tracing-service-name", "etcd", experimental_distributed_tracing_service_name = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-service-name."),
    flag!(Tracing, Str, "distributed-tracing-service-name", "etcd", distributed_tracing_service_name = p_string, "Tracing service name; the same on all members."),
    flag!(Tracing, Str, "experimental-distributed-tracing-instance-id", "", experimental_distributed_tracing_instance_id = p_string, "Deprecated in etcd 3.6: use --distributed-tracing-instance-id."),
    flag!(Tracing, Str, "distributed-tracing-instance-id", "", distributed_tracing_instance_id = p_string, "Tracing instance ID; unique per member."),
    flag!(Tracing, Int, "experimental-distributed-tracing-sampling-rate", "0", experimental_distributed_tracing_sampling_rate = p_i64, "Deprecated in etcd 3.6: use --distributed-tracing-sampling-rate."),
    flag!(Tracing, Int, "distributed-tracing-sampling-rate", "0", distributed_tracing_sampling_rate = p_i64, "Spans sampled per million (0 to 1000000)."),
    // ----- Experimental
    flag!(Experimental, Bool, "experimental-initial-corrupt-check", "false", experimental_initial_corrupt_check = p_bool, "Deprecated in etcd 3.6: use --feature-gates=InitialCorruptCheck=true."),
    flag!(Experimental, Dur, "experimental-corrupt-check-time", "0s", experimental_corrupt_check_time = p_duration, "Deprecated in etcd 3.6: use --corrupt-check-time."),
    flag!(Experimental, Dur, "corrupt-check-time", "0s", corrupt_check_time = p_duration, "Interval between cluster corruption checks (0 disables them)."),
    flag!(Experimental, Bool, "experimental-compact-hash-check-enabled", "false", experimental_compact_hash_check_enabled = p_bool, "Deprecated in etcd 3.6: use --feature-gates=CompactHashCheck=true."),
    flag!(Experimental, Dur, "experimental-compact-hash-check-time", "1m", experimental_compact_hash_check_time = p_duration, "Deprecated in etcd 3.6: use --compact-hash-check-time."),
    flag!(Experimental, Dur, "compact-hash-check-time", "1m", compact_hash_check_time = p_duration, "Interval between the leader's checks of followers' compaction hashes."),
    flag!(Experimental, Bool, "experimental-enable-lease-checkpoint", "false", experimental_enable_lease_checkpoint = p_bool, "Deprecated in etcd 3.6: use --feature-gates=LeaseCheckpoint=true."),
    flag!(Experimental, Int, "experimental-compaction-batch-limit", "1000", experimental_compaction_batch_limit = p_i64, "Deprecated in etcd 3.6: use --compaction-batch-limit."),
    flag!(Experimental, Int, "compaction-batch-limit", "1000", compaction_batch_limit = p_i64, "Maximum revisions deleted in each compaction batch."),
    flag!(Experimental, Bool, "experimental-peer-skip-client-san-verification", "false", experimental_peer_skip_client_san_verification = p_bool, "Deprecated in etcd 3.6: use --peer-skip-client-san-verification."),
    flag!(Experimental, Bool, "peer-skip-client-san-verification", "false", peer_skip_client_san_verification = p_bool, "Skip verifying the SAN of peer client certificates."),
    flag!(Experimental, Dur, "experimental-watch-progress-notify-interval", "10m", experimental_watch_progress_notify_interval = p_duration, "Deprecated in etcd 3.6: use --watch-progress-notify-interval."),
    flag!(Experimental, Dur, "watch-progress-notify-interval", "10m", watch_progress_notify_interval = p_duration, "Interval of periodic watch progress notifications."),
    flag!(Experimental, Dur, "experimental-warning-apply-duration", "100ms", experimental_warning_apply_duration = p_duration, "Deprecated in etcd 3.6: use --warning-apply-duration."),
    flag!(Experimental, Dur, "warning-apply-duration", "100ms", warning_apply_duration = p_duration, "Log a warning when applying a request takes longer than this."),
    flag!(Experimental, Bool, "experimental-txn-mode-write-with-shared-buffer", "true", experimental_txn_mode_write_with_shared_buffer = p_bool, "Deprecated in etcd 3.6: use --feature-gates=TxnModeWriteWithSharedBuffer=true."),
    flag!(Experimental, Int, "experimental-bootstrap-defrag-threshold-megabytes", "0", experimental_bootstrap_defrag_threshold_megabytes = p_u64, "Deprecated in etcd 3.6: use --bootstrap-defrag-threshold-megabytes."),
    flag!(Experimental, Int, "bootstrap-defrag-threshold-megabytes", "0", bootstrap_defrag_threshold_megabytes = p_u64, "Defragment at boot when that frees at least this many megabytes (0 disables)."),
    flag!(Experimental, Int, "max-learners", "1", max_learners = p_i64, "Maximum number of learner members in the cluster."),
    flag!(Experimental, Dur, "experimental-compaction-sleep-interval", "0s", experimental_compaction_sleep_interval = p_duration, "Deprecated in etcd 3.6: use --compaction-sleep-interval."),
    flag!(Experimental, Dur, "compaction-sleep-interval", "0s", compaction_sleep_interval = p_duration, "Sleep between compaction batches (0 = built-in default)."),
    flag!(Experimental, Dur, "experimental-downgrade-check-time", "5s", experimental_downgrade_check_time = p_duration, "Deprecated in etcd 3.6: use --downgrade-check-time."),
    flag!(Experimental, Dur, "downgrade-check-time", "5s", downgrade_check_time = p_duration, "Interval between two downgrade status checks."),
    flag!(Experimental, Bool, "experimental-enable-lease-checkpoint-persist", "false", experimental_enable_lease_checkpoint_persist = p_bool, "Deprecated in etcd 3.6: use --feature-gates=LeaseCheckpointPersist=true."),
    flag!(Experimental, Bool, "experimental-memory-mlock", "false", experimental_memory_mlock = p_bool, "Deprecated in etcd 3.6: use --memory-mlock."),
    flag!(Experimental, Int, "experimental-snapshot-catchup-entries", "5000", experimental_snapshot_catchup_entries = p_u64, "Deprecated in etcd 3.6: use --snapshot-catchup-entries."),
    flag!(Experimental, Int, "snapshot-catchup-entries", "5000", snapshot_catchup_entries = p_u64, "Entries kept after compacting the raft log so slow followers can catch up."),
    flag!(Experimental, Bool, "experimental-stop-grpc-service-on-defrag", "false", experimental_stop_grpc_service_on_defrag = p_bool, "Deprecated in etcd 3.6: use --feature-gates=StopGRPCServiceOnDefrag=true."),
    // ----- Unsafe
    flag!(Unsafe, Bool, "force-new-cluster", "false", force_new_cluster = p_bool, "Force the creation of a new one-member cluster from the existing data."),
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
    file_only!(Bool, "client-transport-security.skip-client-san-verification", client_skip_client_san_verification = p_bool),
    file_only!(Str, "discovery-config.client.secure.server-name", discovery_server_name = p_opt_string),
    file_only!(Int, "discovery-config.client.max-request-bytes", discovery_max_request_bytes = p_i64),
    file_only!(Int, "discovery-config.client.max-recv-bytes", discovery_max_recv_bytes = p_i64),
];

fn find_flag(name: &str) -> Option<&'static Flag> {
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
    names
        .into_iter()
        .filter(|n| n.starts_with("ETCD_") && !known.contains(n))
        .collect()
}

/// Known server feature gates: (name, default, stage), as in etcd 3.6.
const FEATURE_GATES: &[(&str, bool, &str)] = &[
    ("AllAlpha", false, "ALPHA"),
    ("AllBeta", false, "BETA"),
    ("CompactHashCheck", false, "ALPHA"),
    ("InitialCorruptCheck", false, "ALPHA"),
    ("LeaseCheckpoint", false, "ALPHA"),
    ("LeaseCheckpointPersist", false, "ALPHA"),
    ("SetMemberLocalAddr", false, "ALPHA"),
    ("StopGRPCServiceOnDefrag", false, "ALPHA"),
    ("TxnModeWriteWithSharedBuffer", true, "BETA"),
];

/// etcd 3.6's boolean `experimental-*` flags that became feature gates.
const EXPERIMENTAL_GATE_FLAGS: &[(&str, &str)] = &[
    (
        "experimental-stop-grpc-service-on-defrag",
        "StopGRPCServiceOnDefrag",
    ),
    ("experimental-initial-corrupt-check", "InitialCorruptCheck"),
    (
        "experimental-compact-hash-check-enabled",
        "CompactHashCheck",
    ),
    (
        "experimental-txn-mode-write-with-shared-buffer",
        "TxnModeWriteWithSharedBuffer",
    ),
    ("experimental-enable-lease-checkpoint", "LeaseCheckpoint"),
    (
        "experimental-enable-lease-checkpoint-persist",
        "LeaseCheckpointPersist",
    ),
];

/// etcd 3.6's renamed flags: (old, new, copy old value into new field).
type Migration = (&'static str, &'static str, fn(&mut Config));
#[rustfmt::skip]
const EXPERIMENTAL_MIGRATIONS: &[Migration] = &[
    ("experimental-compact-hash-check-time", "compact-hash-check-time", |c| {
        c.compact_hash_check_time = c.experimental_compact_hash_check_time
    }),
    ("experimental-corrupt-check-time", "corrupt-check-time", |c| {
        c.corrupt_check_time = c.experimental_corrupt_check_time
    }),
    ("experimental-compaction-batch-limit", "compaction-batch-limit", |c| {
        c.compaction_batch_limit = c.experimental_compaction_batch_limit
    }),
    ("experimental-watch-progress-notify-interval", "watch-progress-notify-interval", |c| {
        c.watch_progress_notify_interval = c.experimental_watch_progress_notify_interval
    }),
    ("experimental-warning-apply-duration", "warning-apply-duration", |c| {
        c.warning_apply_duration = c.experimental_warning_apply_duration
    }),
    ("experimental-bootstrap-defrag-threshold-megabytes", "bootstrap-defrag-threshold-megabytes", |c| {
        c.bootstrap_defrag_threshold_megabytes = c.experimental_bootstrap_defrag_threshold_megabytes
    }),
    ("experimental-memory-mlock", "memory-mlock", |c| c.memory_mlock = c.experimental_memory_mlock),
    ("experimental-snapshot-catchup-entries", "snapshot-catchup-entries", |c| {
        c.snapshot_catchup_entries = c.experimental_snapshot_catchup_entries
    }),
    ("experimental-compaction-sleep-interval", "compaction-sleep-interval", |c| {
        c.compaction_sleep_interval = c.experimental_compaction_sleep_interval
    }),
    ("experimental-downgrade-check-time", "downgrade-check-time", |c| {
        c.downgrade_check_time = c.experimental_downgrade_check_time
    }),
    ("experimental-peer-skip-client-san-verification", "peer-skip-client-san-verification", |c| {
        c.peer_skip_client_san_verification = c.experimental_peer_skip_client_san_verification
    }),
    ("experimental-enable-distributed-tracing", "enable-distributed-tracing", |c| {
        c.enable_distributed_tracing = c.experimental_enable_distributed_tracing
    }),
    ("experimental-distributed-tracing-address", "distributed-tracing-address", |c| {
        c.distributed_tracing_address = c.experimental_distributed_tracing_address.clone()
    }),
    ("experimental-distributed-tracing-service-name", "distributed-tracing-service-name", |c| {
        c.distributed_tracing_service_name = c.experimental_distributed_tracing_service_name.clone()
    }),
    ("experimental-distributed-tracing-instance-id", "distributed-tracing-instance-id", |c| {
        c.distributed_tracing_instance_id = c.experimental_distributed_tracing_instance_id.clone()
    }),
    ("experimental-distributed-tracing-sampling-rate", "distributed-tracing-sampling-rate", |c| {
        c.distributed_tracing_sampling_rate = c.experimental_distributed_tracing_sampling_rate
    }),
];

/// Flags etcd 3.6 warns about when they are set (its `deprecatedFlags`).
#[rustfmt::skip]
const DEPRECATED_FLAGS: &[(&str, &str)] = &[
    ("max-snapshots", "--max-snapshots is deprecated in 3.6 and will be decommissioned in 3.8."),
    ("v2-deprecation", "--v2-deprecation is deprecated and scheduled for removal in v3.8. The default value is enforced, ignoring user input."),
    ("experimental-compact-hash-check-enabled", "--experimental-compact-hash-check-enabled is deprecated in 3.6 and will be decommissioned in 3.7. Use '--feature-gates=CompactHashCheck=true' instead."),
    ("experimental-compact-hash-check-time", "--experimental-compact-hash-check-time is deprecated in 3.6 and will be decommissioned in 3.7. Use '--compact-hash-check-time' instead."),
    ("experimental-txn-mode-write-with-shared-buffer", "--experimental-txn-mode-write-with-shared-buffer is deprecated in v3.6 and will be decommissioned in v3.7. Use '--feature-gates=TxnModeWriteWithSharedBuffer=true' instead."),
    ("experimental-corrupt-check-time", "--experimental-corrupt-check-time is deprecated in v3.6 and will be decommissioned in v3.7. Use '--corrupt-check-time' instead."),
    ("experimental-compaction-batch-limit", "--experimental-compaction-batch-limit is deprecated in v3.6 and will be decommissioned in v3.7. Use '--compaction-batch-limit' instead."),
    ("experimental-watch-progress-notify-interval", "--experimental-watch-progress-notify-interval is deprecated in v3.6 and will be decommissioned in v3.7. Use '--watch-progress-notify-interval' instead."),
    ("experimental-warning-apply-duration", "--experimental-warning-apply-duration is deprecated in v3.6 and will be decommissioned in v3.7. Use '--warning-apply-duration' instead."),
    ("experimental-bootstrap-defrag-threshold-megabytes", "--experimental-bootstrap-defrag-threshold-megabytes is deprecated in v3.6 and will be decommissioned in v3.7. Use '--bootstrap-defrag-threshold-megabytes' instead."),
    ("experimental-memory-mlock", "--experimental-memory-mlock is deprecated in v3.6 and will be decommissioned in v3.7. Use '--memory-mlock' instead."),
    ("experimental-snapshot-catchup-entries", "--experimental-snapshot-catchup-entries is deprecated in v3.6 and will be decommissioned in v3.7. Use '--snapshot-catchup-entries' instead."),
    ("experimental-compaction-sleep-interval", "--experimental-compaction-sleep-interval is deprecated in v3.6 and will be decommissioned in v3.7. Use 'compaction-sleep-interval' instead."),
    ("experimental-downgrade-check-time", "--experimental-downgrade-check-time is deprecated in v3.6 and will be decommissioned in v3.7. Use '--downgrade-check-time' instead."),
    ("experimental-enable-distributed-tracing", "--experimental-enable-distributed-tracing is deprecated in 3.6 and will be decommissioned in 3.7. Use --enable-distributed-tracing instead."),
    ("experimental-distributed-tracing-address", "--experimental-distributed-tracing-address is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-address instead."),
    ("experimental-distributed-tracing-service-name", "--experimental-distributed-tracing-service-name is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-service-name instead."),
    ("experimental-distributed-tracing-instance-id", "--experimental-distributed-tracing-instance-id is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-instance-id instead."),
    ("experimental-distributed-tracing-sampling-rate", "--experimental-distributed-tracing-sampling-rate is deprecated in 3.6 and will be decommissioned in 3.7. Use --distributed-tracing-sampling-rate instead."),
];

// ---------------------------------------------------------------------------
// Config-file layout
// ---------------------------------------------------------------------------

/// A key inside one of etcd's nested config-file sections.
enum Node {
    /// Stores into this flag.
    Leaf(&'static str),
    /// A further nested mapping.
    Map(&'static [(&'static str, Node)]),
}

const CLIENT_SECURITY: &[(&str, Node)] = &[
    ("cert-file", Node::Leaf("cert-file")),
    ("key-file", Node::Leaf("key-file")),
    ("client-cert-file", Node::Leaf("client-cert-file")),
    ("client-key-file", Node::Leaf("client-key-file")),
    ("client-cert-auth", Node::Leaf("client-cert-auth")),
    ("trusted-ca-file", Node::Leaf("trusted-ca-file")),
    ("auto-tls", Node::Leaf("auto-tls")),
    (
        "allowed-cn",
        Node::Leaf("client-transport-security.allowed-cn"),
    ),
    (
        "allowed-hostname",
        Node::Leaf("client-cert-allowed-hostname"),
    ),
    (
        "skip-client-san-verification",
        Node::Leaf("client-transport-security.skip-client-san-verification"),
    ),
    // Not read by etcd from this section; accepted as an extension.
    ("crl-file", Node::Leaf("client-crl-file")),
];

const PEER_SECURITY: &[(&str, Node)] = &[
    ("cert-file", Node::Leaf("peer-cert-file")),
    ("key-file", Node::Leaf("peer-key-file")),
    ("client-cert-file", Node::Leaf("peer-client-cert-file")),
    ("client-key-file", Node::Leaf("peer-client-key-file")),
    ("client-cert-auth", Node::Leaf("peer-client-cert-auth")),
    ("trusted-ca-file", Node::Leaf("peer-trusted-ca-file")),
    ("auto-tls", Node::Leaf("peer-auto-tls")),
    ("allowed-cn", Node::Leaf("peer-cert-allowed-cn")),
    ("allowed-hostname", Node::Leaf("peer-cert-allowed-hostname")),
    (
        "skip-client-san-verification",
        Node::Leaf("peer-skip-client-san-verification"),
    ),
    // Not read by etcd from this section; accepted as an extension.
    ("crl-file", Node::Leaf("peer-crl-file")),
];

const SOCKET_OPTIONS: &[(&str, Node)] = &[
    ("reuse-port", Node::Leaf("socket-reuse-port")),
    ("reuse-address", Node::Leaf("socket-reuse-address")),
];

const DISCOVERY_SECURE: &[(&str, Node)] = &[
    ("cert", Node::Leaf("discovery-cert")),
    ("key", Node::Leaf("discovery-key")),
    ("cacert", Node::Leaf("discovery-cacert")),
    (
        "server-name",
        Node::Leaf("discovery-config.client.secure.server-name"),
    ),
    (
        "insecure-transport",
        Node::Leaf("discovery-insecure-transport"),
    ),
    (
        "insecure-skip-tls-verify",
        Node::Leaf("discovery-insecure-skip-tls-verify"),
    ),
];

const DISCOVERY_AUTH: &[(&str, Node)] = &[
    ("username", Node::Leaf("discovery-user")),
    ("password", Node::Leaf("discovery-password")),
];

const DISCOVERY_CLIENT: &[(&str, Node)] = &[
    ("endpoints", Node::Leaf("discovery-endpoints")),
    ("request-timeout", Node::Leaf("discovery-request-timeout")),
    ("dial-timeout", Node::Leaf("discovery-dial-timeout")),
    ("keepalive-time", Node::Leaf("discovery-keepalive-time")),
    (
        "keepalive-timeout",
        Node::Leaf("discovery-keepalive-timeout"),
    ),
    (
        "max-request-bytes",
        Node::Leaf("discovery-config.client.max-request-bytes"),
    ),
    (
        "max-recv-bytes",
        Node::Leaf("discovery-config.client.max-recv-bytes"),
    ),
    ("secure", Node::Map(DISCOVERY_SECURE)),
    ("auth", Node::Map(DISCOVERY_AUTH)),
];

const DISCOVERY_CONFIG: &[(&str, Node)] = &[
    ("token", Node::Leaf("discovery-token")),
    ("client", Node::Map(DISCOVERY_CLIENT)),
];

/// Top-level config-file sections holding nested mappings.
const FILE_SECTIONS: &[(&str, Node)] = &[
    ("client-transport-security", Node::Map(CLIENT_SECURITY)),
    ("peer-transport-security", Node::Map(PEER_SECURITY)),
    ("socket-options", Node::Map(SOCKET_OPTIONS)),
    ("discovery-config", Node::Map(DISCOVERY_CONFIG)),
];

/// Keys of etcd's own sample config (v2 proxy settings) that etcd 3.6 ignores.
const IGNORED_FILE_KEYS: &[&str] = &[
    "proxy",
    "proxy-failure-wait",
    "proxy-refresh-interval",
    "proxy-dial-timeout",
    "proxy-write-timeout",
    "proxy-read-timeout",
];

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// Where a value came from, for error messages and notices.
enum Source<'a> {
    Flag,
    Env(&'a str),
    File { path: &'a str, key: &'a str },
}

/// The command line, split into flags.
struct CommandLine {
    /// Flag settings in command-line order.
    sets: Vec<(&'static Flag, String)>,
    /// Value of `--version`, if given.
    version: bool,
}

impl Config {
    /// Loads the configuration of this process: `std::env::args()`, the
    /// process environment (warning about unknown `ETCD_*` variables, as etcd
    /// does) and the config file if one is named. The result is validated.
    ///
    /// `--help`/`--version` come back as [`LoadOutcome::Exit`] with the text
    /// to print on stdout before exiting 0.
    pub fn load() -> Result<LoadOutcome, ConfigError> {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut cfg = match Config::from_args_env(args, |key| std::env::var(key).ok()) {
            Ok(cfg) => cfg,
            Err(ConfigError::Help(text) | ConfigError::Version(text)) => {
                return Ok(LoadOutcome::Exit(text.trim_end().to_string()));
            }
            Err(e) => return Err(e),
        };
        if cfg.config_file.is_none() {
            let names = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned());
            for name in unrecognized_env_vars(names) {
                cfg.warn(format!("unrecognized environment variable {name}"));
            }
        }
        Ok(LoadOutcome::Run(Box::new(cfg)))
    }

    /// Loads from explicit arguments and an environment lookup, so tests need
    /// not touch the process environment.
    ///
    /// `args` includes the program name first, like `std::env::args()`.
    /// `env` returns a variable's value (empty values count as unset, as in etcd).
    /// Returns [`ConfigError::Help`]/[`ConfigError::Version`] for `--help`/`--version`.
    /// The returned configuration has passed [`Config::validate`].
    pub fn from_args_env<I, E>(args: I, env: E) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = String>,
        E: Fn(&str) -> Option<String>,
    {
        let args: Vec<String> = args.into_iter().skip(1).collect();
        let env = |key: &str| env(key).filter(|v| !v.is_empty());
        let cmdline = parse_command_line(&args)?;
        // Like Go's flag package, every command-line value is checked while
        // parsing, before --version or --config-file are looked at.
        let mut from_flags = Config::table_defaults();
        for (flag, value) in &cmdline.sets {
            from_flags.apply(flag, value, Source::Flag)?;
        }

        if cmdline.version {
            let emulated = if from_flags.is_explicitly_set("emulated-etcd-version") {
                from_flags.emulated_etcd_version.clone()
            } else {
                env(&env_var_name("emulated-etcd-version"))
                    .unwrap_or_else(|| DEFAULT_EMULATED_ETCD_VERSION.to_string())
            };
            return Err(ConfigError::Version(version_text(&emulated)));
        }

        // The config file is decided first: if there is one, the other flags
        // and the environment are not used at all.
        let file = from_flags
            .config_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| env(CONFIG_FILE_ENV));

        let mut cfg = match file {
            Some(_) => Config::table_defaults(),
            None => from_flags,
        };
        match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
                cfg.apply_yaml(&text, &path)?;
                cfg.config_file = Some(PathBuf::from(&path));
                cfg.info(format!(
                    "loaded server configuration from {path}, other configuration command line flags and environment variables will be ignored if provided"
                ));
                let ignored_flags: Vec<String> = cmdline
                    .sets
                    .iter()
                    .filter(|(f, _)| f.name != "config-file")
                    .map(|(f, _)| format!("--{}", f.name))
                    .collect();
                if !ignored_flags.is_empty() {
                    cfg.warn(format!(
                        "ignoring command-line flags because a config file is used: {}",
                        ignored_flags.join(", ")
                    ));
                }
                let ignored_env: Vec<String> = FLAGS
                    .iter()
                    .filter(|f| f.scope == Scope::All)
                    .map(|f| env_var_name(f.name))
                    .filter(|k| env(k).is_some())
                    .collect();
                if !ignored_env.is_empty() {
                    cfg.warn(format!(
                        "ignoring environment variables because a config file is used: {}",
                        ignored_env.join(", ")
                    ));
                }
                cfg.finish(true)?;
            }
            None => {
                if let Some(v) = env("ETCD_VERSION") {
                    cfg.warn(format!(
                        "cannot set special environment variable ETCD_VERSION (value {v:?}); ignoring it"
                    ));
                }
                let mut names: Vec<&'static Flag> =
                    FLAGS.iter().filter(|f| f.scope == Scope::All).collect();
                names.sort_by_key(|f| f.name);
                for flag in names {
                    let key = env_var_name(flag.name);
                    let Some(value) = env(&key) else { continue };
                    if cmdline.sets.iter().any(|(f, _)| f.name == flag.name) {
                        cfg.warn(format!(
                            "environment variable {key} is shadowed by the command-line flag --{} (etcd refuses to start in this case; unset one of them)",
                            flag.name
                        ));
                        continue;
                    }
                    cfg.apply(flag, &value, Source::Env(&key))?;
                    let shown = if flag.name.contains("password") {
                        "<redacted>"
                    } else {
                        value.as_str()
                    };
                    cfg.info(format!(
                        "recognized and used environment variable {key}={shown}"
                    ));
                }
                cfg.finish(false)?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads a configuration from YAML text in etcd's config-file format
    /// (`origin` names the file in messages). The result is validated.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::table_defaults();
        cfg.apply_yaml(text, origin)?;
        cfg.config_file = Some(PathBuf::from(origin));
        cfg.finish(true)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Whether a flag was given explicitly (command line, environment or file).
    pub fn is_explicitly_set(&self, flag: &str) -> bool {
        self.explicitly_set.contains(flag)
    }

    /// Emits the collected [`Config::notices`] through `tracing`; call once the
    /// subscriber is installed.
    pub fn log_notices(&self) {
        for n in &self.notices {
            match n.level {
                NoticeLevel::Info => tracing::info!(target: "capstan::config", "{}", n.message),
                NoticeLevel::Warn => tracing::warn!(target: "capstan::config", "{}", n.message),
            }
        }
    }

    /// All flags at their table defaults, nothing derived yet.
    fn table_defaults() -> Config {
        let mut cfg = Config::blank();
        // An empty default is the blank value already (and etcd refuses an
        // explicit empty URL list, so it must not go through the setter).
        for flag in FLAGS
            .iter()
            .filter(|f| f.ty != Ty::Ignored && !f.default.is_empty())
        {
            if let Err(e) = (flag.set)(&mut cfg, flag.default) {
                unreachable!(
                    "default {:?} of --{} does not parse: {e}",
                    flag.default, flag.name
                );
            }
        }
        cfg
    }

    fn info(&mut self, message: String) {
        self.notices.push(Notice {
            level: NoticeLevel::Info,
            message,
        });
    }

    fn warn(&mut self, message: String) {
        self.notices.push(Notice {
            level: NoticeLevel::Warn,
            message,
        });
    }

    /// Stores one value through its flag's setter.
    fn apply(&mut self, flag: &Flag, value: &str, source: Source<'_>) -> Result<(), ConfigError> {
        if flag.ty == Ty::Ignored {
            self.warn(format!(
                "flag is no longer supported - ignoring: --{}",
                flag.name
            ));
            return Ok(());
        }
        (flag.set)(self, value).map_err(|reason| {
            let (key, origin) = match source {
                Source::Flag => (format!("--{}", flag.name), String::new()),
                Source::Env(k) => (k.to_string(), String::new()),
                Source::File { path, key } => (key.to_string(), format!(" in {path}")),
            };
            ConfigError::InvalidValue {
                key,
                value: value.to_string(),
                origin,
                reason,
            }
        })?;
        self.explicitly_set.insert(flag.name.to_string());
        Ok(())
    }

    /// Applies a config file's YAML on top of the current values.
    fn apply_yaml(&mut self, text: &str, path: &str) -> Result<(), ConfigError> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::ParseFile {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let map = match doc {
            Value::Null => return Ok(()),
            Value::Mapping(m) => m,
            _ => {
                return Err(ConfigError::ParseFile {
                    path: path.to_string(),
                    message: "expected a mapping of option names to values".to_string(),
                });
            }
        };
        let mut entries: Vec<(&'static Flag, String, Value)> = Vec::new();
        for (k, v) in &map {
            let key = yaml_key(k, path)?;
            if let Some((_, node)) = FILE_SECTIONS.iter().find(|(n, _)| *n == key) {
                collect_nested(node, &key, v, path, &mut entries)?;
                continue;
            }
            if IGNORED_FILE_KEYS.contains(&key.as_str()) {
                self.warn(format!(
                    "ignoring config file key {key:?} in {path}: the v2 proxy was removed in etcd 3.6"
                ));
                continue;
            }
            // etcd's file key for this option is misspelled; both spellings work.
            let name = if key == "experimental-snapshot-catch-up-entries" {
                "experimental-snapshot-catchup-entries"
            } else {
                key.as_str()
            };
            match find_flag(name) {
                Some(flag) if flag.scope == Scope::All => {
                    if flag.ty == Ty::Ignored {
                        self.warn(format!(
                            "ignoring config file key {key:?} in {path}: no longer supported"
                        ));
                    } else {
                        entries.push((flag, key.clone(), v.clone()));
                    }
                }
                Some(flag) if flag.scope == Scope::CommandLine => {
                    self.warn(format!(
                        "ignoring config file key {key:?} in {path}: only valid on the command line"
                    ));
                }
                _ => {
                    return Err(ConfigError::UnknownKey {
                        key,
                        path: path.to_string(),
                    });
                }
            }
        }

        let mut seen: BTreeMap<&'static str, (String, String)> = BTreeMap::new();
        for (flag, key, value) in entries {
            let text =
                yaml_value_text(flag.ty, &value).map_err(|reason| ConfigError::InvalidValue {
                    key: key.clone(),
                    value: render_yaml(&value),
                    origin: format!(" in {path}"),
                    reason,
                })?;
            let Some(text) = text else { continue };
            if let Some((first, previous)) = seen.get(flag.name) {
                if *previous != text {
                    return Err(ConfigError::ConflictingKeys {
                        first: first.clone(),
                        second: key,
                        path: path.to_string(),
                    });
                }
                continue;
            }
            self.apply(flag, &text, Source::File { path, key: &key })?;
            seen.insert(flag.name, (key, text));
        }
        Ok(())
    }

    /// etcd's post-processing after the sources are read: defaults derived
    /// from other values, deprecated-flag migration and feature gates.
    fn finish(&mut self, from_file: bool) -> Result<(), ConfigError> {
        if !from_file {
            for (flag, value) in [
                ("raft-read-timeout", self.raft_read_timeout),
                ("raft-write-timeout", self.raft_write_timeout),
            ] {
                if value < MIN_RAFT_CONN_TIMEOUT {
                    self.info(format!("{flag} increased to minimum value: 5s"));
                }
            }
            // etcd drops the default advertise URL when only the listen URL is
            // given, so that validation asks for an explicit one.
            if self.is_explicitly_set("listen-client-urls")
                && !self.is_explicitly_set("advertise-client-urls")
            {
                self.advertise_client_urls.clear();
            }
            if self.discovery_fallback == DiscoveryFallback::Proxy {
                return Err(ConfigError::Invalid(
                    "v2 proxy is deprecated, and --discovery-fallback can't be configured as \"proxy\"".to_string(),
                ));
            }
        }
        self.raft_read_timeout = self.raft_read_timeout.max(MIN_RAFT_CONN_TIMEOUT);
        self.raft_write_timeout = self.raft_write_timeout.max(MIN_RAFT_CONN_TIMEOUT);

        for (old, _, copy) in EXPERIMENTAL_MIGRATIONS {
            if self.is_explicitly_set(old) {
                copy(self);
            }
        }
        for (old, gate) in EXPERIMENTAL_GATE_FLAGS {
            if !self.is_explicitly_set(old) {
                continue;
            }
            let value = self.experimental_gate_flag(old);
            if self.feature_gates.contains_key(*gate) {
                let current = self.feature_enabled(gate);
                return Err(ConfigError::Invalid(format!(
                    "cannot specify both flags: --{old}={value} and --feature-gates={gate}={current} at the same time, please just use --feature-gates={gate}={current}"
                )));
            }
            self.feature_gates.insert(gate.to_string(), value);
        }

        if self.v2_deprecation != V2Deprecation::WriteOnlySkipCheck {
            self.v2_deprecation = V2Deprecation::WriteOnly;
        }

        let new = self.warning_unary_request_duration;
        let old = self.experimental_warning_unary_request_duration;
        if !new.is_zero() && !old.is_zero() {
            return Err(ConfigError::Invalid(
                "both --experimental-warning-unary-request-duration and --warning-unary-request-duration flags are set. Use only --warning-unary-request-duration".to_string(),
            ));
        }
        if new.is_zero() {
            if old.is_zero() {
                self.warning_unary_request_duration = DEFAULT_WARNING_UNARY_REQUEST_DURATION;
            } else {
                self.warning_unary_request_duration = old;
                self.warn("--experimental-warning-unary-request-duration is deprecated, and will be decommissioned in v3.7. Use --warning-unary-request-duration instead.".to_string());
            }
        }

        if self.data_dir.as_os_str().is_empty() {
            self.warn(format!(
                "'data-dir' was empty; using default {}.etcd",
                self.name
            ));
        }
        self.derive_defaults();

        if self.self_signed_cert_validity == 0 {
            self.self_signed_cert_validity = 1;
        }
        if self.auto_compaction_retention.is_empty() {
            self.auto_compaction_retention = "0".to_string();
        }
        if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&self.bcrypt_cost) {
            self.warn(format!(
                "use default bcrypt cost instead of the invalid given cost {} (must be {BCRYPT_MIN_COST} to {BCRYPT_MAX_COST})",
                self.bcrypt_cost
            ));
            self.bcrypt_cost = BCRYPT_DEFAULT_COST;
        }
        if self.quota_backend_bytes > 0
            && self.quota_backend_bytes as u64 > MAX_RECOMMENDED_QUOTA_BACKEND_BYTES
        {
            self.warn(format!(
                "quota-backend-bytes {} exceeds the recommended maximum of {MAX_RECOMMENDED_QUOTA_BACKEND_BYTES} bytes",
                self.quota_backend_bytes
            ));
        }
        for (flag, message) in DEPRECATED_FLAGS {
            if self.is_explicitly_set(flag) {
                self.warn(message.to_string());
            }
        }
        if self.name == DEFAULT_NAME {
            self.warn("it isn't recommended to use default name, please set a value for --name. Note that etcd might run into issue when multiple members have the same default name".to_string());
        }
        Ok(())
    }

    /// Defaults that depend on other values: the data dir (`<name>.etcd`) and
    /// the initial cluster (`<name>=<advertised peer URL>,...`).
    fn derive_defaults(&mut self) {
        if self.data_dir.as_os_str().is_empty() {
            self.data_dir = PathBuf::from(format!("{}.etcd", self.name));
        }
        let discovery = self.discovery.is_some()
            || self.discovery_srv.is_some()
            || !self.discovery_endpoints.is_empty();
        if !self.is_explicitly_set("initial-cluster") {
            if discovery {
                self.initial_cluster.clear();
            } else {
                self.initial_cluster = self.initial_cluster_from_name();
            }
        } else if self.initial_cluster == DEFAULT_INITIAL_CLUSTER && self.name != DEFAULT_NAME {
            // etcd rewrites the untouched default for a renamed member.
            self.initial_cluster = self.initial_cluster_from_name();
        }
    }

    fn initial_cluster_from_name(&self) -> String {
        let name = if self.name.is_empty() {
            DEFAULT_NAME
        } else {
            &self.name
        };
        self.initial_advertise_peer_urls
            .iter()
            .map(|u| format!("{name}={u}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn experimental_gate_flag(&self, flag: &str) -> bool {
        match flag {
            "experimental-stop-grpc-service-on-defrag" => {
                self.experimental_stop_grpc_service_on_defrag
            }
            "experimental-initial-corrupt-check" => self.experimental_initial_corrupt_check,
            "experimental-compact-hash-check-enabled" => {
                self.experimental_compact_hash_check_enabled
            }
            "experimental-txn-mode-write-with-shared-buffer" => {
                self.experimental_txn_mode_write_with_shared_buffer
            }
            "experimental-enable-lease-checkpoint" => self.experimental_enable_lease_checkpoint,
            "experimental-enable-lease-checkpoint-persist" => {
                self.experimental_enable_lease_checkpoint_persist
            }
            _ => false,
        }
    }

    // -----------------------------------------------------------------------
    // Validation
    // -----------------------------------------------------------------------

    /// Checks the configuration as a whole, with etcd 3.6's rules and messages
    /// (`embed.Config.Validate` plus the bootstrap checks that need no disk or
    /// network): URLs, timing, bootstrap method, logging, TLS versions, the
    /// initial cluster and whether this member is in it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (old, new, _) in EXPERIMENTAL_MIGRATIONS {
            if self.is_explicitly_set(old) && self.is_explicitly_set(new) {
                return Err(ConfigError::ConflictingFlags {
                    old: old.to_string(),
                    new: new.to_string(),
                });
            }
        }
        self.validate_logging()?;

        for (flag, urls) in [
            ("listen-peer-urls", &self.listen_peer_urls),
            ("listen-client-urls", &self.listen_client_urls),
            ("listen-client-http-urls", &self.listen_client_http_urls),
            ("listen-metrics-urls", &self.listen_metrics_urls),
        ] {
            for parsed in parse_url_list(flag, urls)? {
                if let Some(Err(e)) = parsed.bind_addr() {
                    return Err(e);
                }
            }
        }
        for (flag, urls) in [
            (
                "initial-advertise-peer-urls",
                &self.initial_advertise_peer_urls,
            ),
            ("advertise-client-urls", &self.advertise_client_urls),
        ] {
            for parsed in parse_url_list(flag, urls)? {
                if parsed.host.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "--{flag} {:?} must be \"host:port\" (unexpected empty host ({}))",
                        urls.join(","),
                        parsed.raw
                    )));
                }
            }
        }

        let methods = [
            self.discovery.is_some(),
            !self.initial_cluster.is_empty(),
            self.discovery_srv.is_some(),
            !self.discovery_endpoints.is_empty(),
        ];
        if methods.iter().filter(|&&b| b).count() > 1 {
            return Err(ConfigError::ConflictBootstrapFlags);
        }
        let v3_discovery = !self.discovery_endpoints.is_empty()
            || self.discovery_token.is_some()
            || self.discovery_cert.is_some()
            || self.discovery_key.is_some()
            || self.discovery_cacert.is_some()
            || self.discovery_user.is_some()
            || self.discovery_password.is_some();
        if self.discovery_proxy.is_some() && v3_discovery {
            return Err(ConfigError::Invalid(
                "both v2 discovery settings (discovery, discovery-proxy) and v3 discovery settings (discovery-token, discovery-endpoints, discovery-cert, discovery-key, discovery-cacert, discovery-user, discovery-password) are set".to_string(),
            ));
        }
        let has_token = self.discovery_token.is_some();
        let has_endpoints = !self.discovery_endpoints.is_empty();
        if has_token != has_endpoints {
            return Err(ConfigError::Invalid(
                "both --discovery-token and --discovery-endpoints must be set".to_string(),
            ));
        }
        if self.discovery_endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err(ConfigError::Invalid(
                "--discovery-endpoints must not contain empty endpoints".to_string(),
            ));
        }

        if self.heartbeat_interval_ms == 0 {
            return Err(ConfigError::Invalid(format!(
                "--heartbeat-interval must be >0 (set to {}ms)",
                self.heartbeat_interval_ms
            )));
        }
        if self.election_timeout_ms == 0 {
            return Err(ConfigError::Invalid(format!(
                "--election-timeout must be >0 (set to {}ms)",
                self.election_timeout_ms
            )));
        }
        if self.heartbeat_interval_ms.saturating_mul(5) > self.election_timeout_ms {
            return Err(ConfigError::ElectionTimeoutTooShort {
                election_ms: self.election_timeout_ms,
                heartbeat_ms: self.heartbeat_interval_ms,
            });
        }
        if self.election_timeout_ms > MAX_ELECTION_TIMEOUT_MS {
            return Err(ConfigError::ElectionTimeoutTooLong(
                self.election_timeout_ms,
            ));
        }

        if !self.listen_client_urls.is_empty() && self.advertise_client_urls.is_empty() {
            return Err(ConfigError::UnsetAdvertiseClientUrls);
        }

        self.auto_compaction()?;

        if self.enable_distributed_tracing {
            let rate = self.distributed_tracing_sampling_rate;
            if rate < 0 {
                return Err(ConfigError::Invalid(
                    "distributed tracing configurition is not valid: (tracing sampling rate must be positive)".to_string(),
                ));
            }
            if rate > MAX_TRACING_SAMPLING_RATE {
                return Err(ConfigError::Invalid(format!(
                    "distributed tracing configurition is not valid: (tracing sampling rate must be less than {MAX_TRACING_SAMPLING_RATE})"
                )));
            }
        }
        if self.feature_enabled("LeaseCheckpointPersist")
            && !self.feature_enabled("LeaseCheckpoint")
        {
            return Err(ConfigError::Invalid(
                "enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint".to_string(),
            ));
        }
        for (flag, value) in [
            (
                "experimental-compact-hash-check-time",
                self.experimental_compact_hash_check_time,
            ),
            ("compact-hash-check-time", self.compact_hash_check_time),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!(
                    "--{flag} must be >0 (set to {})",
                    go_duration_string(value)
                )));
            }
        }

        if let (Some(min), Some(max)) = (self.tls_min_version, self.tls_max_version)
            && min > max {
                return Err(ConfigError::Invalid(format!(
                    "min version ({}) is greater than max version ({})",
                    tls_version_str(Some(min)),
                    tls_version_str(Some(max))
                )));
            }
        if self.tls_min_version == Some(TlsVersion::Tls13) && !self.cipher_suites.is_empty() {
            return Err(ConfigError::Invalid(
                "cipher suites cannot be configured when only TLS1.3 is enabled".to_string(),
            ));
        }

        // etcd's bootstrap checks (VerifyBootstrap) that need neither disk nor
        // network: every URL valid, this member listed, no URL used twice. A
        // member joining an existing cluster is checked when it joins.
        let members = parse_initial_cluster(&self.initial_cluster)?;
        let static_bootstrap = self.discovery.is_none()
            && self.discovery_srv.is_none()
            && self.discovery_endpoints.is_empty();
        if self.initial_cluster_state == ClusterState::New && static_bootstrap {
            if !members.iter().any(|(n, _)| *n == self.name) {
                return Err(ConfigError::LocalMemberMissing {
                    name: self.name.clone(),
                });
            }
            let mut seen = BTreeSet::new();
            let duplicate = members
                .iter()
                .flat_map(|(_, urls)| urls)
                .any(|u| !seen.insert(u.as_str()));
            if duplicate {
                let mut pairs: Vec<String> = members
                    .iter()
                    .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
                    .collect();
                pairs.sort();
                return Err(ConfigError::Invalid(format!(
                    "initial cluster {} has duplicate url",
                    pairs.join(",")
                )));
            }
        }

        if self.max_txn_ops == 0 {
            return Err(ConfigError::Invalid(
                "--max-txn-ops must be >0 (set to 0)".to_string(),
            ));
        }
        if self.max_request_bytes == 0 {
            return Err(ConfigError::Invalid(
                "--max-request-bytes must be >0 (set to 0)".to_string(),
            ));
        }
        self.auth_token_spec()?;
        parse_semver(&self.emulated_etcd_version).map_err(|reason| ConfigError::InvalidValue {
            key: "--emulated-etcd-version".to_string(),
            value: self.emulated_etcd_version.clone(),
            origin: String::new(),
            reason,
        })?;
        Ok(())
    }

    fn validate_logging(&self) -> Result<(), ConfigError> {
        let outputs = &self.log_outputs;
        if outputs.len() > 1 && outputs.iter().any(|o| o == "default") {
            return Err(ConfigError::Invalid(
                "multi logoutput for \"default\" is not supported yet".to_string(),
            ));
        }
        if outputs.len() > 1 && outputs.iter().any(|o| o == "systemd/journal") {
            let quoted: Vec<String> = outputs.iter().map(|o| format!("{o:?}")).collect();
            return Err(ConfigError::Invalid(format!(
                "running with systemd/journal but other '--log-outputs' values ([{}]) are configured with 'default'; override 'default' value with something else",
                quoted.join(" ")
            )));
        }
        if self.enable_log_rotation {
            let files = outputs
                .iter()
                .filter(|o| !matches!(o.as_str(), "default" | "stderr" | "stdout"))
                .count();
            if (outputs.len() == 1 && files == 0) || files > 1 {
                return Err(ConfigError::Invalid(
                    "--log-outputs requires a single file path when --log-rotate-config-json is defined".to_string(),
                ));
            }
            self.log_rotation()?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Accessors used by the server
    // -----------------------------------------------------------------------

    /// Heartbeat interval (`--heartbeat-interval`).
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// Election timeout (`--election-timeout`).
    pub fn election_timeout(&self) -> Duration {
        Duration::from_millis(self.election_timeout_ms)
    }

    /// Election timeout in heartbeat ticks, as etcd's raft counts it.
    pub fn election_ticks(&self) -> u64 {
        self.election_timeout_ms / self.heartbeat_interval_ms.max(1)
    }

    /// Smallest lease TTL granted, in seconds: etcd's
    /// `ceil(((3 * election_ticks) / 2) * heartbeat)` — about 1.5 election
    /// timeouts, so a lease cannot expire during a leader election.
    pub fn min_lease_ttl_seconds(&self) -> i64 {
        let ms = (3 * self.election_ticks() / 2) * self.heartbeat_interval_ms;
        ms.div_ceil(1000) as i64
    }

    /// Time budget of one client request: 5s plus two election timeouts (etcd's `ReqTimeout`).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(5) + 2 * self.election_timeout()
    }

    /// Dial timeout towards peers: 1s plus one election timeout (etcd's `PeerDialTimeout`).
    pub fn peer_dial_timeout(&self) -> Duration {
        Duration::from_secs(1) + self.election_timeout()
    }

    /// Backend size limit in bytes: 2 GiB when 0; `u64::MAX` (no limit) when negative.
    pub fn quota_backend_bytes_effective(&self) -> u64 {
        match self.quota_backend_bytes {
            0 => DEFAULT_QUOTA_BACKEND_BYTES,
            n if n < 0 => u64::MAX,
            n => n as u64,
        }
    }

    /// Whether this member bootstraps a new cluster.
    pub fn is_new_cluster(&self) -> bool {
        self.initial_cluster_state == ClusterState::New
    }

    /// `<data-dir>/member`, where etcd keeps the member's state.
    pub fn member_dir(&self) -> PathBuf {
        self.data_dir.join("member")
    }

    /// The WAL directory: `--wal-dir`, else `<data-dir>/member/wal`.
    pub fn wal_dir_effective(&self) -> PathBuf {
        self.wal_dir
            .clone()
            .unwrap_or_else(|| self.member_dir().join("wal"))
    }

    /// `<data-dir>/member/snap`.
    pub fn snap_dir(&self) -> PathBuf {
        self.member_dir().join("snap")
    }

    /// The parsed auto-compaction policy, read as etcd does: in periodic mode
    /// a plain non-negative integer is hours, otherwise a Go duration
    /// (`30m`, `1h30m`); in revision mode an integer revision count. Zero disables.
    pub fn auto_compaction(&self) -> Result<AutoCompaction, ConfigError> {
        let raw = if self.auto_compaction_retention.is_empty() {
            "0"
        } else {
            &self.auto_compaction_retention
        };
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: "--auto-compaction-retention".to_string(),
            value: raw.to_string(),
            origin: String::new(),
            reason,
        };
        let hours_or_count = if raw.bytes().all(|b| b.is_ascii_digit()) {
            raw.parse::<u64>().ok()
        } else {
            None
        };
        match (self.auto_compaction_mode, hours_or_count) {
            (_, Some(0)) => Ok(AutoCompaction::Disabled),
            (CompactionMode::Revision, Some(n)) => Ok(AutoCompaction::Revision(n)),
            (CompactionMode::Revision, None) => Err(invalid(
                "revision mode needs a number of revisions to keep".to_string(),
            )),
            (CompactionMode::Periodic, Some(h)) => h
                .checked_mul(3600)
                .map(|s| AutoCompaction::Periodic(Duration::from_secs(s)))
                .ok_or_else(|| invalid("value out of range".to_string())),
            (CompactionMode::Periodic, None) => {
                let d = parse_go_duration(raw)
                    .map_err(|e| invalid(format!("error parsing CompactionRetention: {e}")))?;
                Ok(if d.is_zero() {
                    AutoCompaction::Disabled
                } else {
                    AutoCompaction::Periodic(d)
                })
            }
        }
    }

    /// Whether a server feature gate is on: an explicit `--feature-gates`
    /// value, else `AllAlpha`/`AllBeta` for gates of that stage, else the default.
    /// Unknown names are off.
    pub fn feature_enabled(&self, gate: &str) -> bool {
        if let Some(v) = self.feature_gates.get(gate) {
            return *v;
        }
        let Some((_, default, stage)) = FEATURE_GATES.iter().find(|(n, _, _)| *n == gate) else {
            return false;
        };
        let all = if *stage == "ALPHA" {
            "AllAlpha"
        } else {
            "AllBeta"
        };
        self.feature_gates.get(all).copied().unwrap_or(*default)
    }

    /// `--initial-cluster` as (name, URLs) pairs sorted by name, each
    /// member's URLs sorted as etcd sorts them (etcd derives member IDs from
    /// that order). Fails like etcd's `types.NewURLsMap` on a bad URL.
    pub fn initial_cluster_members(&self) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        parse_initial_cluster(&self.initial_cluster)
    }

    /// Addresses to bind for `--listen-client-urls` (`localhost` → 127.0.0.1).
    /// Unix-socket URLs are not included; see [`Config::listen_client_urls_parsed`].
    pub fn client_listen_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        bind_addrs("listen-client-urls", &self.listen_client_urls)
    }

    /// Addresses to bind for `--listen-client-http-urls`.
    pub fn client_http_listen_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        bind_addrs("listen-client-http-urls", &self.listen_client_http_urls)
    }

    /// Addresses to bind for `--listen-peer-urls`.
    pub fn peer_listen_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        bind_addrs("listen-peer-urls", &self.listen_peer_urls)
    }

    /// Addresses to bind for `--listen-metrics-urls`.
    pub fn metrics_listen_addrs(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        bind_addrs("listen-metrics-urls", &self.listen_metrics_urls)
    }

    /// `--listen-client-urls` parsed (scheme tells whether TLS is wanted).
    pub fn listen_client_urls_parsed(&self) -> Result<Vec<ParsedUrl>, ConfigError> {
        parse_url_list("listen-client-urls", &self.listen_client_urls)
    }

    /// `--listen-peer-urls` parsed.
    pub fn listen_peer_urls_parsed(&self) -> Result<Vec<ParsedUrl>, ConfigError> {
        parse_url_list("listen-peer-urls", &self.listen_peer_urls)
    }

    /// Client-side TLS settings gathered from the flat flags.
    pub fn client_tls(&self) -> TlsInfo {
        TlsInfo {
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            client_cert_file: self.client_cert_file.clone(),
            client_key_file: self.client_key_file.clone(),
            trusted_ca_file: self.trusted_ca_file.clone(),
            client_cert_auth: self.client_cert_auth,
            crl_file: self.client_crl_file.clone(),
            allowed_cns: self.client_cert_allowed_cn.clone(),
            allowed_hostnames: self.client_cert_allowed_hostname.clone(),
            skip_client_san_verify: self.client_skip_client_san_verification,
            auto_tls: self.auto_tls,
        }
    }

    /// Peer-side TLS settings gathered from the flat flags.
    pub fn peer_tls(&self) -> TlsInfo {
        TlsInfo {
            cert_file: self.peer_cert_file.clone(),
            key_file: self.peer_key_file.clone(),
            client_cert_file: self.peer_client_cert_file.clone(),
            client_key_file: self.peer_client_key_file.clone(),
            trusted_ca_file: self.peer_trusted_ca_file.clone(),
            client_cert_auth: self.peer_client_cert_auth,
            crl_file: self.peer_crl_file.clone(),
            allowed_cns: self.peer_cert_allowed_cn.clone(),
            allowed_hostnames: self.peer_cert_allowed_hostname.clone(),
            skip_client_san_verify: self.peer_skip_client_san_verification,
            auto_tls: self.peer_auto_tls,
        }
    }

    /// `--auth-token` decomposed like etcd's `decomposeOpts`.
    pub fn auth_token_spec(&self) -> Result<AuthTokenSpec, ConfigError> {
        let invalid = || ConfigError::Invalid("auth: invalid auth options".to_string());
        let mut parts = self.auth_token.split(',');
        let kind = parts.next().unwrap_or("");
        let mut options = BTreeMap::new();
        for opt in parts {
            let pair: Vec<&str> = opt.split('=').collect();
            if pair.len() != 2
                || options
                    .insert(pair[0].to_string(), pair[1].to_string())
                    .is_some()
            {
                return Err(invalid());
            }
        }
        match kind {
            "" => Ok(AuthTokenSpec::None),
            "simple" => Ok(AuthTokenSpec::Simple),
            "jwt" => Ok(AuthTokenSpec::Jwt(options)),
            _ => Err(invalid()),
        }
    }

    /// `--log-rotation-config-json` parsed (JSON, as etcd reads it).
    pub fn log_rotation(&self) -> Result<LogRotation, ConfigError> {
        let value: Value = serde_yaml::from_str(&self.log_rotation_config_json).map_err(|e| {
            ConfigError::Invalid(format!("improperly formatted log rotation config: {e}"))
        })?;
        let Value::Mapping(map) = value else {
            return Err(ConfigError::Invalid(
                "invalid log rotation config: expected a JSON object".to_string(),
            ));
        };
        let mut rot = LogRotation {
            max_size_mb: 0,
            max_age_days: 0,
            max_backups: 0,
            local_time: false,
            compress: false,
        };
        for (k, v) in &map {
            let key = k.as_str().unwrap_or("");
            let bad = || {
                ConfigError::Invalid(format!(
                    "invalid log rotation config: bad value for {key:?}"
                ))
            };
            match key.to_ascii_lowercase().as_str() {
                "maxsize" => rot.max_size_mb = v.as_i64().ok_or_else(bad)?,
                "maxage" => rot.max_age_days = v.as_i64().ok_or_else(bad)?,
                "maxbackups" => rot.max_backups = v.as_i64().ok_or_else(bad)?,
                "localtime" => rot.local_time = v.as_bool().ok_or_else(bad)?,
                "compress" => rot.compress = v.as_bool().ok_or_else(bad)?,
                _ => {}
            }
        }
        Ok(rot)
    }

    /// The cluster version matching the emulated etcd version (`3.6.6` → `3.6.0`),
    /// as etcd reports it in `/version` and the member's cluster version.
    pub fn emulated_cluster_version(&self) -> String {
        match parse_semver(&self.emulated_etcd_version) {
            Ok((major, minor, _)) => format!("{major}.{minor}.0"),
            Err(_) => "3.6.0".to_string(),
        }
    }

    /// A configuration with every field zero/empty; only the loader starts here.
    fn blank() -> Config {
        Config {
            name: String::new(),
            data_dir: PathBuf::new(),
            wal_dir: None,
            snapshot_count: 0,
            heartbeat_interval_ms: 0,
            election_timeout_ms: 0,
            initial_election_tick_advance: false,
            listen_peer_urls: Vec::new(),
            listen_client_urls: Vec::new(),
            listen_client_http_urls: Vec::new(),
            max_snapshots: 0,
            max_wals: 0,
            memory_mlock: false,
            quota_backend_bytes: 0,
            backend_bbolt_freelist_type: String::new(),
            backend_batch_interval: Duration::ZERO,
            backend_batch_limit: 0,
            max_txn_ops: 0,
            max_request_bytes: 0,
            max_concurrent_streams: 0,
            grpc_keepalive_min_time: Duration::ZERO,
            grpc_keepalive_interval: Duration::ZERO,
            grpc_keepalive_timeout: Duration::ZERO,
            socket_reuse_port: false,
            socket_reuse_address: false,
            enable_grpc_gateway: false,
            raft_read_timeout: Duration::ZERO,
            raft_write_timeout: Duration::ZERO,
            feature_gates: BTreeMap::new(),
            initial_advertise_peer_urls: Vec::new(),
            initial_cluster: String::new(),
            initial_cluster_state: ClusterState::New,
            initial_cluster_token: String::new(),
            advertise_client_urls: Vec::new(),
            discovery: None,
            discovery_token: None,
            discovery_endpoints: Vec::new(),
            discovery_dial_timeout: Duration::ZERO,
            discovery_request_timeout: Duration::ZERO,
            discovery_keepalive_time: Duration::ZERO,
            discovery_keepalive_timeout: Duration::ZERO,
            discovery_insecure_transport: false,
            discovery_insecure_skip_tls_verify: false,
            discovery_cert: None,
            discovery_key: None,
            discovery_cacert: None,
            discovery_user: None,
            discovery_password: None,
            discovery_server_name: None,
            discovery_max_request_bytes: 0,
            discovery_max_recv_bytes: 0,
            discovery_fallback: DiscoveryFallback::Exit,
            discovery_proxy: None,
            discovery_srv: None,
            discovery_srv_name: None,
            strict_reconfig_check: false,
            pre_vote: false,
            auto_compaction_retention: String::new(),
            auto_compaction_mode: CompactionMode::Periodic,
            v2_deprecation: V2Deprecation::WriteOnly,
            cert_file: None,
            key_file: None,
            client_cert_auth: false,
            client_cert_file: None,
            client_key_file: None,
            client_crl_file: None,
            client_cert_allowed_hostname: Vec::new(),
            client_cert_allowed_cn: Vec::new(),
            client_skip_client_san_verification: false,
            trusted_ca_file: None,
            auto_tls: false,
            peer_cert_file: None,
            peer_key_file: None,
            peer_client_cert_auth: false,
            peer_client_cert_file: None,
            peer_client_key_file: None,
            peer_trusted_ca_file: None,
            peer_cert_allowed_cn: Vec::new(),
            peer_cert_allowed_hostname: Vec::new(),
            peer_auto_tls: false,
            self_signed_cert_validity: 0,
            peer_crl_file: None,
            cipher_suites: Vec::new(),
            experimental_peer_skip_client_san_verification: false,
            peer_skip_client_san_verification: false,
            tls_min_version: None,
            tls_max_version: None,
            cors: Vec::new(),
            host_whitelist: Vec::new(),
            auth_token: String::new(),
            bcrypt_cost: 0,
            auth_token_ttl: 0,
            enable_pprof: false,
            metrics: MetricsLevel::Basic,
            listen_metrics_urls: Vec::new(),
            logger: Logger::Zap,
            log_outputs: Vec::new(),
            log_level: LogLevel::Info,
            log_format: LogFormat::Json,
            enable_log_rotation: false,
            log_rotation_config_json: String::new(),
            warning_unary_request_duration: Duration::ZERO,
            experimental_warning_unary_request_duration: Duration::ZERO,
            experimental_enable_distributed_tracing: false,
            enable_distributed_tracing: false,
            experimental_distributed_tracing_address: String::new(),
            distributed_tracing_address: String::new(),
            experimental_distributed_tracing_service_name: String::new(),
            distributed_tracing_service_name: String::new(),
            experimental_distributed_tracing_instance_id: String::new(),
            distributed_tracing_instance_id: String::new(),
            experimental_distributed_tracing_sampling_rate: 0,
            distributed_tracing_sampling_rate: 0,
            experimental_initial_corrupt_check: false,
            experimental_corrupt_check_time: Duration::ZERO,
            corrupt_check_time: Duration::ZERO,
            experimental_compact_hash_check_enabled: false,
            experimental_compact_hash_check_time: Duration::ZERO,
            compact_hash_check_time: Duration::ZERO,
            experimental_enable_lease_checkpoint: false,
            experimental_enable_lease_checkpoint_persist: false,
            experimental_compaction_batch_limit: 0,
            compaction_batch_limit: 0,
            experimental_compaction_sleep_interval: Duration::ZERO,
            compaction_sleep_interval: Duration::ZERO,
            experimental_watch_progress_notify_interval: Duration::ZERO,
            watch_progress_notify_interval: Duration::ZERO,
            experimental_warning_apply_duration: Duration::ZERO,
            warning_apply_duration: Duration::ZERO,
            experimental_txn_mode_write_with_shared_buffer: false,
            experimental_bootstrap_defrag_threshold_megabytes: 0,
            bootstrap_defrag_threshold_megabytes: 0,
            max_learners: 0,
            experimental_snapshot_catchup_entries: 0,
            snapshot_catchup_entries: 0,
            experimental_downgrade_check_time: Duration::ZERO,
            downgrade_check_time: Duration::ZERO,
            experimental_memory_mlock: false,
            experimental_stop_grpc_service_on_defrag: false,
            force_new_cluster: false,
            unsafe_no_fsync: false,
            emulated_etcd_version: String::new(),
            config_file: None,
            notices: Vec::new(),
            explicitly_set: BTreeSet::new(),
        }
    }
}

// ---------------------------------------------------------------------------
// Help and version
// ---------------------------------------------------------------------------

/// The `--help` text: usage, then every flag with its default, grouped like
/// `etcd --help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "Usage:

  capstan [flags]
    Start a Capstan member (an etcd-compatible key-value server).

  capstan --version
    Show the version of capstan and the etcd version it emulates.

  capstan -h | --help
    Show this help.

  capstan --config-file PATH
    Read the configuration from an etcd YAML config file (also ETCD_CONFIG_FILE). When a
    config file is given, other command-line flags and environment variables are ignored.

Every flag can also be set with an environment variable ETCD_<FLAG>, upper case with '-'
replaced by '_' (e.g. ETCD_INITIAL_CLUSTER for --initial-cluster); a flag given on the
command line wins. Flags are written --flag value or --flag=value; booleans --flag or
--flag=false.
",
    );
    for (group, title) in HELP_GROUPS {
        out.push('\n');
        out.push_str(title);
        out.push_str(":\n");
        for flag in FLAGS.iter().filter(|f| f.group == group) {
            let shown = flag.shown_default.unwrap_or(flag.default);
            out.push_str(&format!("  --{} '{}'\n", flag.name, shown));
            for line in flag.help.lines() {
                out.push_str("    ");
                out.push_str(line);
                out.push('\n');
            }
            if flag.name == "feature-gates" {
                for (gate, default, stage) in FEATURE_GATES {
                    out.push_str(&format!(
                        "      {gate}=true|false ({stage} - default={default})\n"
                    ));
                }
            }
        }
    }
    out.push_str("\nCAUTIOUS with unsafe flags! They may break the guarantees given by the consensus protocol!\n");
    out
}

/// The `--version` text; `emulated` is the etcd version Capstan claims to be.
pub fn version_text(emulated: &str) -> String {
    format!(
        "capstan Version: {}\netcd API Version: {}\nGit SHA: {}\nRust Version: {}\nOS/Arch: {}/{}\n",
        env!("CARGO_PKG_VERSION"),
        emulated,
        option_env!("CAPSTAN_GIT_SHA").unwrap_or("Not provided"),
        option_env!("CAPSTAN_RUST_VERSION").unwrap_or("Not provided"),
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

// ---------------------------------------------------------------------------
// Command line (Go `flag` package rules)
// ---------------------------------------------------------------------------

fn parse_command_line(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut out = CommandLine {
        sets: Vec::new(),
        version: false,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.len() < 2 || !arg.starts_with('-') {
            return Err(ConfigError::UnexpectedArgument(arg.clone()));
        }
        let body = if let Some(rest) = arg.strip_prefix("--") {
            if rest.is_empty() {
                // "--" ends the flags; etcd takes no positional arguments.
                return match args.get(i) {
                    Some(extra) => Err(ConfigError::UnexpectedArgument(extra.clone())),
                    None => Ok(out),
                };
            }
            rest
        } else {
            &arg[1..]
        };
        if body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::BadFlagSyntax(arg.clone()));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "version" {
            let v = inline.unwrap_or_else(|| "true".to_string());
            out.version = parse_go_bool(&v).map_err(|reason| ConfigError::InvalidValue {
                key: "--version".to_string(),
                value: v.clone(),
                origin: String::new(),
                reason,
            })?;
            continue;
        }
        let flag = match find_flag(name) {
            Some(f) if f.scope != Scope::FileOnly => f,
            _ if name == "help" || name == "h" => return Err(ConfigError::Help(help_text())),
            _ => return Err(ConfigError::UnknownFlag(name.to_string())),
        };
        let value = match (flag.ty, inline) {
            (_, Some(v)) => v,
            (Ty::Bool | Ty::Ignored, None) => "true".to_string(),
            (_, None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => return Err(ConfigError::MissingValue(name.to_string())),
            },
        };
        out.sets.push((flag, value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Config-file helpers
// ---------------------------------------------------------------------------

fn yaml_key(k: &Value, path: &str) -> Result<String, ConfigError> {
    match k {
        Value::String(s) => Ok(s.clone()),
        other => Err(ConfigError::UnknownKey {
            key: render_yaml(other),
            path: path.to_string(),
        }),
    }
}

/// Walks one nested section, collecting (flag, dotted key, value).
fn collect_nested(
    node: &Node,
    prefix: &str,
    value: &Value,
    path: &str,
    out: &mut Vec<(&'static Flag, String, Value)>,
) -> Result<(), ConfigError> {
    match node {
        Node::Leaf(name) => {
            let flag = find_flag(name).expect("nested key maps to a known flag");
            out.push((flag, prefix.to_string(), value.clone()));
            Ok(())
        }
        Node::Map(children) => {
            let map = match value {
                Value::Null => return Ok(()),
                Value::Mapping(m) => m,
                other => {
                    return Err(ConfigError::InvalidValue {
                        key: prefix.to_string(),
                        value: render_yaml(other),
                        origin: format!(" in {path}"),
                        reason: "expected a mapping".to_string(),
                    });
                }
            };
            for (k, v) in map {
                let key = yaml_key(k, path)?;
                let full = format!("{prefix}.{key}");
                match children.iter().find(|(n, _)| *n == key) {
                    Some((_, child)) => collect_nested(child, &full, v, path, out)?,
                    None => {
                        return Err(ConfigError::UnknownKey {
                            key: full,
                            path: path.to_string(),
                        });
                    }
                }
            }
            Ok(())
        }
    }
}

/// A YAML value as the text a flag setter takes; `None` leaves the default
/// (null, and empty values for non-string options, as etcd's file loader does).
fn yaml_value_text(ty: Ty, value: &Value) -> Result<Option<String>, String> {
    let scalar = |v: &Value| -> Result<Option<String>, String> {
        match v {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Number(n) if ty == Ty::Dur => match n.as_u64() {
                // etcd's file format stores durations as integer nanoseconds.
                Some(ns) => Ok(Some(format!("{ns}ns"))),
                None => Err(
                    "a duration is an integer number of nanoseconds or a string such as \"5s\""
                        .to_string(),
                ),
            },
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::String(s) if ty == Ty::Bool => Ok(Some(
                match s.as_str() {
                    "yes" | "Yes" | "YES" | "on" | "On" | "ON" => "true",
                    "no" | "No" | "NO" | "off" | "Off" | "OFF" => "false",
                    other => other,
                }
                .to_string(),
            )),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Sequence(_) => Err("expected a single value, not a list".to_string()),
            Value::Mapping(_) => Err("expected a single value, not a mapping".to_string()),
            Value::Tagged(_) => Err("tagged values are not supported".to_string()),
        }
    };
    let text = match value {
        Value::Sequence(items) if ty == Ty::List => {
            let mut parts = Vec::new();
            for item in items {
                if let Some(s) = scalar(item)? {
                    parts.push(s);
                }
            }
            Some(parts.join(","))
        }
        other => scalar(other)?,
    };
    Ok(text.filter(|t| !(t.is_empty() && ty != Ty::Str)))
}

/// A short rendering of a YAML value for error messages.
fn render_yaml(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => format!(
            "[{}]",
            items.iter().map(render_yaml).collect::<Vec<_>>().join(", ")
        ),
        Value::Mapping(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", render_yaml(k), render_yaml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tagged(t) => format!("{} {}", t.tag, render_yaml(&t.value)),
    }
}

// ---------------------------------------------------------------------------
// Value parsers (the setters' building blocks)
// ---------------------------------------------------------------------------

fn p_string(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

fn p_opt_string(v: &str) -> Result<Option<String>, String> {
    Ok((!v.is_empty()).then(|| v.to_string()))
}

fn p_path(v: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(v))
}

fn p_opt_path(v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

fn p_bool(v: &str) -> Result<bool, String> {
    parse_go_bool(v)
}

fn p_u64(v: &str) -> Result<u64, String> {
    parse_go_uint(v, 64)
}

fn p_u32(v: &str) -> Result<u32, String> {
    parse_go_uint(v, 32).map(|n| n as u32)
}

fn p_i64(v: &str) -> Result<i64, String> {
    parse_go_int(v)
}

fn p_duration(v: &str) -> Result<Duration, String> {
    parse_go_duration(v)
}

/// A URL list (`types.NewURLs`): each URL checked, duplicates dropped, sorted.
fn p_urls(v: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in v.split(',') {
        let parsed = parse_url(part)?;
        if !out.contains(&parsed.raw) {
            out.push(parsed.raw);
        }
    }
    out.sort();
    Ok(out)
}

/// etcd's unique-strings flags: split on commas, duplicates dropped, sorted.
fn p_unique_strings(v: &str) -> Result<Vec<String>, String> {
    let set: BTreeSet<String> = v.split(',').map(str::to_string).collect();
    Ok(set.into_iter().collect())
}

/// Plain comma-separated list; empty items dropped.
fn p_list(v: &str) -> Result<Vec<String>, String> {
    Ok(v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// `--cors`: `*`, or URLs checked like member URLs (as etcd does).
fn p_cors(v: &str) -> Result<Vec<String>, String> {
    if v == "*" {
        return Ok(vec!["*".to_string()]);
    }
    p_urls(v)
}

fn p_host_whitelist(v: &str) -> Result<Vec<String>, String> {
    let set: BTreeSet<String> = v
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(set.into_iter().collect())
}

fn p_cluster_state(v: &str) -> Result<ClusterState, String> {
    match v {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        _ => Err("must be \"new\" or \"existing\"".to_string()),
    }
}

fn p_compaction_mode(v: &str) -> Result<CompactionMode, String> {
    match v {
        "periodic" => Ok(CompactionMode::Periodic),
        "revision" => Ok(CompactionMode::Revision),
        "" => Err("undefined auto-compaction-mode".to_string()),
        other => Err(format!("unknown auto-compaction-mode {other:?}")),
    }
}

fn p_v2_deprecation(v: &str) -> Result<V2Deprecation, String> {
    match v {
        "not-yet" => Ok(V2Deprecation::NotYet),
        "write-only" => Ok(V2Deprecation::WriteOnly),
        "write-only-skip-check" => Ok(V2Deprecation::WriteOnlySkipCheck),
        "write-only-drop-data" => Ok(V2Deprecation::WriteOnlyDropData),
        "gone" => Ok(V2Deprecation::Gone),
        _ => Err(
            "must be one of: write-only, write-only-skip-check, write-only-drop-data, gone"
                .to_string(),
        ),
    }
}

fn p_discovery_fallback(v: &str) -> Result<DiscoveryFallback, String> {
    match v {
        "exit" => Ok(DiscoveryFallback::Exit),
        "proxy" => Ok(DiscoveryFallback::Proxy),
        _ => Err("must be \"exit\"".to_string()),
    }
}

fn p_logger(v: &str) -> Result<Logger, String> {
    match v {
        "zap" => Ok(Logger::Zap),
        "capnslog" => Err("--logger=capnslog is removed in v3.5".to_string()),
        other => Err(format!("unknown logger option {other:?}")),
    }
}

fn p_log_level(v: &str) -> Result<LogLevel, String> {
    match v.to_ascii_lowercase().as_str() {
        "debug" => Ok(LogLevel::Debug),
        "info" | "" => Ok(LogLevel::Info),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        "dpanic" => Ok(LogLevel::DPanic),
        "panic" => Ok(LogLevel::Panic),
        "fatal" => Ok(LogLevel::Fatal),
        _ => Err("must be one of: debug, info, warn, error, panic, fatal".to_string()),
    }
}

fn p_log_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "json" | "" => Ok(LogFormat::Json),
        "console" => Ok(LogFormat::Console),
        other => Err(format!(
            "unknown log format: {other}, supported values json, console"
        )),
    }
}

fn p_tls_version(v: &str) -> Result<Option<TlsVersion>, String> {
    match v {
        "" => Ok(None),
        "TLS1.2" => Ok(Some(TlsVersion::Tls12)),
        "TLS1.3" => Ok(Some(TlsVersion::Tls13)),
        other => Err(format!(
            "unexpected TLS version {other:?} (must be one of: TLS1.2, TLS1.3)"
        )),
    }
}

fn tls_version_str(v: Option<TlsVersion>) -> &'static str {
    match v {
        None => "",
        Some(TlsVersion::Tls12) => "TLS1.2",
        Some(TlsVersion::Tls13) => "TLS1.3",
    }
}

/// `--metrics`: etcd treats any value other than `extensive` as basic; so do we, with a warning.
fn set_metrics(c: &mut Config, v: &str) -> Result<(), String> {
    c.metrics = match v {
        "extensive" => MetricsLevel::Extensive,
        "basic" => MetricsLevel::Basic,
        other => {
            c.warn(format!(
                "unknown --metrics value {other:?}; using \"basic\""
            ));
            MetricsLevel::Basic
        }
    };
    Ok(())
}

/// `--feature-gates`: `Gate=bool,...`, merged across repeated flags like etcd's feature gate.
fn set_feature_gates(c: &mut Config, v: &str) -> Result<(), String> {
    let mut parsed = Vec::new();
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => return Err(format!("missing bool value for {}", part.trim())),
        };
        let enabled = parse_go_bool(value)
            .map_err(|e| format!("invalid value of {key}={value}, err: {e}"))?;
        if !FEATURE_GATES.iter().any(|(n, _, _)| *n == key) {
            return Err(format!("unrecognized feature gate: {key}"));
        }
        parsed.push((key.to_string(), enabled));
    }
    c.feature_gates.extend(parsed);
    Ok(())
}

// ---------------------------------------------------------------------------
// Go-compatible scalar parsing
// ---------------------------------------------------------------------------

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected a boolean (true or false)".to_string()),
    }
}

/// Go's `strconv.ParseUint(v, 0, bits)`: decimal, `0x`, `0o`, `0b` or leading-`0` octal.
fn parse_go_uint(v: &str, bits: u32) -> Result<u64, String> {
    let not_number = || "expected a non-negative integer".to_string();
    let (digits, radix) = if let Some(r) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = v.strip_prefix("0o").or_else(|| v.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = v.strip_prefix("0b").or_else(|| v.strip_prefix("0B")) {
        (r, 2)
    } else if v.len() > 1 && v.starts_with('0') {
        (&v[1..], 8)
    } else {
        (v, 10)
    };
    // Go allows underscores between digits only when the base comes from a prefix.
    let cleaned: String = if radix != 10 {
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    // (after the prefix: "0x_ff" is fine, "0xff_" and "0x__f" are not).
    if cleaned.is_empty()
        || !cleaned.chars().all(|c| c.is_digit(radix))
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(not_number());
    }
    let n = u64::from_str_radix(&cleaned, radix).map_err(|_| "value out of range".to_string())?;
    if bits < 64 && n >> bits != 0 {
        return Err("value out of range".to_string());
    }
    Ok(n)
}

/// Go's `strconv.ParseInt(v, 0, 64)`.
fn parse_go_int(v: &str) -> Result<i64, String> {
    let (neg, rest) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let magnitude = parse_go_uint(rest, 64).map_err(|e| {
        if e == "value out of range" {
            e
        } else {
            "expected an integer".to_string()
        }
    })?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return Err("value out of range".to_string());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| "value out of range".to_string())
    }
}

/// Go's `time.ParseDuration` (`300ms`, `1.5h`, `2h45m`; a bare `0`).
/// Negative durations are refused: no etcd option means anything by them.
pub fn parse_go_duration(v: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {v:?}");
    let (neg, mut s) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_end];
        s = &s[int_end..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..end];
            s = &rest[end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_end];
        s = &s[unit_end..];
        let unit_ns: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {v:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            other => return Err(format!("time: unknown unit {other:?} in duration {v:?}")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(unit_ns).ok_or_else(invalid)?;
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for d in frac_part.bytes().take(30) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value += frac * unit_ns / scale;
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    if neg && total != 0 {
        return Err(format!("negative duration {v:?} is not allowed"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Go's `time.Duration.String()` (`0s`, `100ms`, `1m0s`, `2h0m0s`), for etcd's messages.
pub fn go_duration_string(d: Duration) -> String {
    fn frac(v: u128, unit: u128, digits: usize) -> String {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            whole.to_string()
        } else {
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000, 6));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = ns % 3_600_000_000_000 / 60_000_000_000;
    let secs = ns % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", frac(secs, 1_000_000_000, 9)));
    out
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre`/`+build` suffix.
fn parse_semver(v: &str) -> Result<(u64, u64, u64), String> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let bad = || "expected a version like 3.6.6".to_string();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let n = |s: &str| s.parse::<u64>().map_err(|_| bad());
    Ok((n(parts[0])?, n(parts[1])?, n(parts[2])?))
}

// ---------------------------------------------------------------------------
// URLs and the initial cluster
// ---------------------------------------------------------------------------

/// etcd's `types.NewURLs` check of one URL; errors are etcd's messages.
fn parse_url(input: &str) -> Result<ParsedUrl, String> {
    let s = input.trim();
    let scheme_err = || format!("URL scheme must be http, https, unix, or unixs: {s}");
    let host_port_err = || format!("URL address does not have the form \"host:port\": {s}");
    let (scheme_text, rest) = match s.find("://") {
        Some(i) => (&s[..i], &s[i + 3..]),
        None => {
            let scheme = s.split(':').next().unwrap_or("").to_ascii_lowercase();
            return Err(if scheme == "http" || scheme == "https" {
                host_port_err()
            } else {
                scheme_err()
            });
        }
    };
    let scheme = match scheme_text.to_ascii_lowercase().as_str() {
        "http" => UrlScheme::Http,
        "https" => UrlScheme::Https,
        "unix" => UrlScheme::Unix,
        "unixs" => UrlScheme::Unixs,
        _ => return Err(scheme_err()),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let after = &rest[end..];
    let path = after.split(['?', '#']).next().unwrap_or("").to_string();
    if matches!(scheme, UrlScheme::Unix | UrlScheme::Unixs) {
        return Ok(ParsedUrl {
            scheme,
            host: authority.to_string(),
            port: None,
            path,
            raw: s.to_string(),
        });
    }
    let (host, port) = split_host_port(authority).ok_or_else(host_port_err)?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("invalid port {port:?} in URL {s}"))?;
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {s}"));
    }
    Ok(ParsedUrl {
        scheme,
        host: host.to_string(),
        port: Some(port),
        path,
        raw: s.to_string(),
    })
}

/// Go's `net.SplitHostPort`, with a numeric, non-empty port.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = hostport.rsplit_once(':')?;
        if host.contains(':') {
            return None;
        }
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port))
}

fn parse_url_list(flag: &str, urls: &[String]) -> Result<Vec<ParsedUrl>, ConfigError> {
    urls.iter()
        .map(|u| {
            parse_url(u).map_err(|reason| ConfigError::InvalidUrl {
                flag: flag.to_string(),
                url: u.clone(),
                reason,
            })
        })
        .collect()
}

fn bind_addrs(flag: &str, urls: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for parsed in parse_url_list(flag, urls)? {
        if let Some(addr) = parsed.bind_addr() {
            out.push(addr?);
        }
    }
    Ok(out)
}

/// etcd's `types.NewURLsMap`: `name=url` entries, every URL valid.
fn parse_initial_cluster(value: &str) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in value.split(',').filter(|e| !e.is_empty()) {
        let (name, url) = entry.split_once('=').unwrap_or((entry, ""));
        let parsed = parse_url(url).map_err(|reason| ConfigError::InvalidInitialCluster {
            value: value.to_string(),
            reason,
        })?;
        members
            .entry(name.to_string())
            .or_default()
            .push(parsed.raw);
    }
    Ok(members.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("capstan")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn load(list: &[&str]) -> Result<Config, ConfigError> {
        Config::from_args_env(args(list), no_env)
    }

    fn load_env(list: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_args_env(args(list), env_of(env))
    }

    /// A config file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!(
                "capstan-config-test-{}-{n}.yml",
                std::process::id()
            ));
            std::fs::write(&path, contents).expect("write temp config");
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("utf-8 temp path")
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn has_notice(cfg: &Config, level: NoticeLevel, needle: &str) -> bool {
        cfg.notices
            .iter()
            .any(|n| n.level == level && n.message.contains(needle))
    }

    const SEED_CONF: &str = "\
name: etcd0
data-dir: /var/lib/etcd
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: http://192.168.1.10:2380
listen-client-urls: http://192.168.1.10:2379
initial-cluster: etcd0=http://192.168.1.10:2380,etcd1=http://192.168.1.11:2380,etcd2=http://192.168.1.12:2380
initial-advertise-peer-urls: http://192.168.1.10:2380
advertise-client-urls: http://192.168.1.10:2379
initial-cluster-state: new
initial-cluster-token: etcd-cluster-token
cert-file: /etc/ssl/etcd/server.pem
key-file: /etc/ssl/etcd/server-key.pem
trusted-ca-file: /etc/ssl/etcd/ca.pem
client-cert-auth: true
peer-cert-file: /etc/ssl/etcd/server.pem
peer-key-file: /etc/ssl/etcd/server-key.pem
peer-trusted-ca-file: /etc/ssl/etcd/ca.pem
peer-client-cert-auth: true
";

    fn assert_seed_values(cfg: &Config) {
        assert_eq!(cfg.name, "etcd0");
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/etcd"));
        assert_eq!(cfg.heartbeat_interval(), Duration::from_millis(100));
        assert_eq!(cfg.election_timeout(), Duration::from_secs(1));
        assert_eq!(cfg.listen_peer_urls, ["http://192.168.1.10:2380"]);
        assert_eq!(cfg.listen_client_urls, ["http://192.168.1.10:2379"]);
        assert_eq!(
            cfg.initial_advertise_peer_urls,
            ["http://192.168.1.10:2380"]
        );
        assert_eq!(cfg.advertise_client_urls, ["http://192.168.1.10:2379"]);
        assert_eq!(cfg.initial_cluster_state, ClusterState::New);
        assert_eq!(cfg.initial_cluster_token, "etcd-cluster-token");
        assert_eq!(
            cfg.initial_cluster_members().unwrap(),
            vec![
                (
                    "etcd0".to_string(),
                    vec!["http://192.168.1.10:2380".to_string()]
                ),
                (
                    "etcd1".to_string(),
                    vec!["http://192.168.1.11:2380".to_string()]
                ),
                (
                    "etcd2".to_string(),
                    vec!["http://192.168.1.12:2380".to_string()]
                ),
            ]
        );
        let client = cfg.client_tls();
        assert_eq!(
            client.cert_file,
            Some(PathBuf::from("/etc/ssl/etcd/server.pem"))
        );
        assert_eq!(
            client.key_file,
            Some(PathBuf::from("/etc/ssl/etcd/server-key.pem"))
        );
        assert_eq!(
            client.trusted_ca_file,
            Some(PathBuf::from("/etc/ssl/etcd/ca.pem"))
        );
        assert!(client.client_cert_auth);
        let peer = cfg.peer_tls();
        assert_eq!(
            peer.cert_file,
            Some(PathBuf::from("/etc/ssl/etcd/server.pem"))
        );
        assert_eq!(
            peer.key_file,
            Some(PathBuf::from("/etc/ssl/etcd/server-key.pem"))
        );
        assert_eq!(
            peer.trusted_ca_file,
            Some(PathBuf::from("/etc/ssl/etcd/ca.pem"))
        );
        assert!(peer.client_cert_auth);
        assert_eq!(
            cfg.client_listen_addrs().unwrap(),
            ["192.168.1.10:2379".parse().unwrap()]
        );
        assert_eq!(
            cfg.peer_listen_addrs().unwrap(),
            ["192.168.1.10:2380".parse().unwrap()]
        );
        // Untouched options keep etcd's defaults.
        assert_eq!(cfg.snapshot_count, 10_000);
        assert_eq!(cfg.max_txn_ops, 128);
        assert_eq!(cfg.emulated_etcd_version, "3.6.6");
    }

    #[test]
    fn seed_guide_conf_yml_loads() {
        let file = TempFile::new(SEED_CONF);
        let cfg = load(&["--config-file", file.path()]).unwrap();
        assert_seed_values(&cfg);
        assert_eq!(cfg.config_file.as_deref(), Some(file.0.as_path()));

        let cfg = Config::from_yaml_str(SEED_CONF, "/etc/etcd/conf.yml").unwrap();
        assert_seed_values(&cfg);
    }

    #[test]
    fn config_file_from_environment() {
        let file = TempFile::new(SEED_CONF);
        let cfg = load_env(&[], &[("ETCD_CONFIG_FILE", file.path())]).unwrap();
        assert_seed_values(&cfg);
    }

    #[test]
    fn config_file_ignores_flags_and_env() {
        let file = TempFile::new(SEED_CONF);
        let cfg = load_env(
            &[
                "--config-file",
                file.path(),
                "--name",
                "other",
                "--snapshot-count=5",
            ],
            &[("ETCD_HEARTBEAT_INTERVAL", "7")],
        )
        .unwrap();
        assert_eq!(cfg.name, "etcd0");
        assert_eq!(cfg.snapshot_count, 10_000);
        assert_eq!(cfg.heartbeat_interval_ms, 100);
        assert!(has_notice(
            &cfg,
            NoticeLevel::Warn,
            "--name, --snapshot-count"
        ));
        assert!(has_notice(
            &cfg,
            NoticeLevel::Warn,
            "ETCD_HEARTBEAT_INTERVAL"
        ));
        assert!(has_notice(
            &cfg,
            NoticeLevel::Info,
            "loaded server configuration"
        ));

        // As with etcd, the ignored flags must still be valid flags and values.
        let err = load(&["--config-file", file.path(), "--heartbeat-interval", "abc"]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }));
        assert!(matches!(
            load(&["--config-file", file.path(), "--nope"]),
            Err(ConfigError::UnknownFlag(_))
        ));
    }

    #[test]
    fn etcd_style_sample_file_loads() {
        // The shape of etcd's own etcd.conf.yml.sample: empty values, the
        // removed v2 proxy keys, lists, nested TLS sections.
        let yaml = "\
name: 'default'
data-dir:
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: http://localhost:2380
listen-client-urls: http://localhost:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: http://localhost:2380
advertise-client-urls: http://localhost:2379
discovery:
discovery-fallback: 'proxy'
discovery-proxy:
discovery-srv:
initial-cluster:
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-pprof: true
proxy: 'off'
proxy-failure-wait: 5000
proxy-refresh-interval: 30000
proxy-dial-timeout: 1000
proxy-write-timeout: 5000
proxy-read-timeout: 0
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
  allowed-cn:
  allowed-hostname:
self-signed-cert-validity: 1
log-level: debug
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: \"1\"
cipher-suites: [
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
]
tls-min-version: 'TLS1.2'
tls-max-version: 'TLS1.3'
";
        let cfg = Config::from_yaml_str(yaml, "etcd.conf.yml").unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(cfg.wal_dir, None);
        assert_eq!(cfg.initial_cluster, DEFAULT_INITIAL_CLUSTER);
        assert!(!cfg.strict_reconfig_check);
        assert!(cfg.enable_pprof);
        assert_eq!(cfg.log_level, LogLevel::Debug);
        assert_eq!(cfg.log_outputs, ["stderr"]);
        assert_eq!(cfg.cors, ["*"]);
        assert_eq!(cfg.cipher_suites.len(), 2);
        assert_eq!(cfg.tls_min_version, Some(TlsVersion::Tls12));
        assert_eq!(cfg.tls_max_version, Some(TlsVersion::Tls13));
        assert_eq!(
            cfg.auto_compaction().unwrap(),
            AutoCompaction::Periodic(Duration::from_secs(3600))
        );
        assert!(has_notice(
            &cfg,
            NoticeLevel::Warn,
            "\"proxy-failure-wait\""
        ));
    }

    #[test]
    fn defaults_match_etcd() {
        let cfg = load(&[]).unwrap();
        assert_eq!(cfg.name, "default");
        assert_eq!(cfg.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(cfg.wal_dir, None);
        assert_eq!(cfg.listen_client_urls, [DEFAULT_CLIENT_URL]);
        assert_eq!(cfg.advertise_client_urls, [DEFAULT_CLIENT_URL]);
        assert_eq!(cfg.listen_peer_urls, [DEFAULT_PEER_URL]);
        assert_eq!(cfg.initial_advertise_peer_urls, [DEFAULT_PEER_URL]);
        assert_eq!(cfg.initial_cluster, "default=http://localhost:2380");
        assert_eq!(cfg.initial_cluster_state, ClusterState::New);
        assert_eq!(cfg.initial_cluster_token, "etcd-cluster");
        assert_eq!(cfg.heartbeat_interval_ms, 100);
        assert_eq!(cfg.election_timeout_ms, 1000);
        assert_eq!(cfg.snapshot_count, 10_000);
        assert_eq!(cfg.quota_backend_bytes, 0);
        assert_eq!(cfg.quota_backend_bytes_effective(), 2 * 1024 * 1024 * 1024);
        assert_eq!(cfg.max_request_bytes, 1_572_864);
        assert_eq!(cfg.max_txn_ops, 128);
        assert_eq!(cfg.max_concurrent_streams, u32::MAX);
        assert_eq!(cfg.auto_compaction_mode, CompactionMode::Periodic);
        assert_eq!(cfg.auto_compaction().unwrap(), AutoCompaction::Disabled);
        assert_eq!(cfg.log_level, LogLevel::Info);
        assert_eq!(cfg.logger, Logger::Zap);
        assert_eq!(cfg.log_outputs, ["default"]);
        assert_eq!(cfg.metrics, MetricsLevel::Basic);
        assert_eq!(cfg.grpc_keepalive_min_time, Duration::from_secs(5));
        assert_eq!(cfg.grpc_keepalive_interval, Duration::from_secs(7200));
        assert_eq!(cfg.grpc_keepalive_timeout, Duration::from_secs(20));
        assert_eq!(
            cfg.warning_unary_request_duration,
            Duration::from_millis(300)
        );
        assert_eq!(cfg.compact_hash_check_time, Duration::from_secs(60));
        assert_eq!(cfg.max_snapshots, 5);
        assert_eq!(cfg.max_wals, 5);
        assert!(cfg.pre_vote);
        assert!(cfg.strict_reconfig_check);
        assert!(cfg.enable_grpc_gateway);
        assert_eq!(cfg.auth_token, "simple");
        assert_eq!(cfg.bcrypt_cost, 10);
        assert_eq!(cfg.auth_token_ttl, 300);
        assert_eq!(cfg.cors, ["*"]);
        assert_eq!(cfg.host_whitelist, ["*"]);
        assert_eq!(cfg.tls_min_version, Some(TlsVersion::Tls12));
        assert_eq!(cfg.tls_max_version, None);
        assert_eq!(cfg.emulated_etcd_version, DEFAULT_EMULATED_ETCD_VERSION);
        assert_eq!(cfg.emulated_cluster_version(), "3.6.0");
        assert!(cfg.feature_enabled("TxnModeWriteWithSharedBuffer"));
        assert!(!cfg.feature_enabled("InitialCorruptCheck"));
        assert!(has_notice(&cfg, NoticeLevel::Warn, "default name"));

        // Config::default() is the same configuration.
        let mut loaded = cfg.clone();
        loaded.notices.clear();
        assert_eq!(Config::default(), loaded);
        Config::default().validate().unwrap();
    }

    #[test]
    fn flags_override_defaults() {
        let cfg = load(&[
            "--name",
            "infra1",
            "--data-dir=/data",
            "-heartbeat-interval",
            "50",
            "--election-timeout=500",
            "--initial-cluster-state",
            "existing",
            "--initial-cluster",
            "infra0=http://10.0.0.1:2380,infra1=http://10.0.0.2:2380",
            "--initial-advertise-peer-urls",
            "http://10.0.0.2:2380",
            "--listen-peer-urls",
            "http://0.0.0.0:2380",
            "--listen-client-urls",
            "http://10.0.0.2:2379,http://127.0.0.1:2379",
            "--advertise-client-urls",
            "http://10.0.0.2:2379",
            "--client-cert-auth",
            "--pre-vote=false",
            "-strict-reconfig-check=0",
            "--quota-backend-bytes",
            "8589934592",
            "--auto-compaction-mode",
            "revision",
            "--auto-compaction-retention",
            "1000",
            "--log-level",
            "warn",
            "--log-outputs",
            "stdout,stderr,stdout",
            "--grpc-keepalive-interval",
            "1h30m",
            "--max-concurrent-streams",
            "0x100",
            "--metrics=extensive",
            "--emulated-etcd-version",
            "3.5.17",
        ])
        .unwrap();
        assert_eq!(cfg.name, "infra1");
        assert_eq!(cfg.data_dir, PathBuf::from("/data"));
        assert_eq!(cfg.wal_dir_effective(), PathBuf::from("/data/member/wal"));
        assert_eq!(cfg.heartbeat_interval_ms, 50);
        assert_eq!(cfg.election_timeout_ms, 500);
        assert_eq!(cfg.election_ticks(), 10);
        assert_eq!(cfg.initial_cluster_state, ClusterState::Existing);
        assert!(cfg.client_cert_auth);
        assert!(!cfg.pre_vote);
        assert!(!cfg.strict_reconfig_check);
        assert_eq!(cfg.quota_backend_bytes_effective(), 8 * 1024 * 1024 * 1024);
        assert_eq!(
            cfg.auto_compaction().unwrap(),
            AutoCompaction::Revision(1000)
        );
        assert_eq!(cfg.log_level, LogLevel::Warn);
        assert_eq!(cfg.log_outputs, ["stderr", "stdout"]);
        assert_eq!(cfg.grpc_keepalive_interval, Duration::from_secs(5400));
        assert_eq!(cfg.max_concurrent_streams, 256);
        assert_eq!(cfg.metrics, MetricsLevel::Extensive);
        assert_eq!(cfg.emulated_cluster_version(), "3.5.0");
        assert_eq!(
            cfg.client_listen_addrs().unwrap(),
            [
                "10.0.0.2:2379".parse().unwrap(),
                "127.0.0.1:2379".parse().unwrap()
            ]
        );
        assert_eq!(
            cfg.peer_listen_addrs().unwrap(),
            ["0.0.0.0:2380".parse().unwrap()]
        );
        assert!(cfg.is_explicitly_set("pre-vote"));
        assert!(!cfg.is_explicitly_set("snapshot-count"));
    }

    #[test]
    fn environment_variables_apply() {
        let cfg = load_env(
            &[],
            &[
                ("ETCD_NAME", "envname"),
                ("ETCD_SNAPSHOT_COUNT", "42"),
                ("ETCD_CLIENT_CERT_AUTH", "true"),
                ("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:12379"),
                ("ETCD_ADVERTISE_CLIENT_URLS", "http://127.0.0.1:12379"),
                ("ETCD_DISCOVERY_PASSWORD", "hunter2"),
                ("ETCD_DISCOVERY_TOKEN", ""),
            ],
        )
        .unwrap();
        assert_eq!(cfg.name, "envname");
        assert_eq!(cfg.snapshot_count, 42);
        assert!(cfg.client_cert_auth);
        assert_eq!(
            cfg.client_listen_addrs().unwrap(),
            ["127.0.0.1:12379".parse().unwrap()]
        );
        assert_eq!(cfg.initial_cluster, "envname=http://localhost:2380");
        assert_eq!(cfg.discovery_token, None, "empty variables are ignored");
        assert!(has_notice(
            &cfg,
            NoticeLevel::Info,
            "recognized and used environment variable ETCD_NAME=envname"
        ));
        assert!(has_notice(
            &cfg,
            NoticeLevel::Info,
            "ETCD_DISCOVERY_PASSWORD=<redacted>"
        ));
        assert!(!cfg.notices.iter().any(|n| n.message.contains("hunter2")));
    }

    #[test]
    fn flags_beat_environment() {
        let cfg = load_env(
            &["--name", "fromflag"],
            &[("ETCD_NAME", "fromenv"), ("ETCD_SNAPSHOT_COUNT", "7")],
        )
        .unwrap();
        assert_eq!(cfg.name, "fromflag");
        assert_eq!(cfg.snapshot_count, 7);
        assert!(has_notice(&cfg, NoticeLevel::Warn, "ETCD_NAME is shadowed"));
    }

    #[test]
    fn special_and_unknown_environment_variables() {
        let cfg = load_env(&[], &[("ETCD_VERSION", "true")]).unwrap();
        assert!(has_notice(&cfg, NoticeLevel::Warn, "ETCD_VERSION"));
        let unknown = unrecognized_env_vars(
            [
                "ETCD_NAME",
                "ETCD_FOO",
                "PATH",
                "ETCD_CONFIG_FILE",
                "ETCD_EMULATED_ETCD_VERSION",
                "ETCD_VERSION",
            ]
            .map(String::from),
        );
        assert_eq!(unknown, ["ETCD_FOO"]);
        assert_eq!(
            env_var_name("initial-cluster-token"),
            "ETCD_INITIAL_CLUSTER_TOKEN"
        );
    }

    #[test]
    fn invalid_environment_value_names_the_variable() {
        let err = load_env(&[], &[("ETCD_HEARTBEAT_INTERVAL", "abc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for ETCD_HEARTBEAT_INTERVAL: expected a non-negative integer"
        );
    }

    #[test]
    fn unknown_flag_is_an_error() {
        let err = load(&["--foo"]).unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownFlag(f) if f == "foo"));
        assert_eq!(err.to_string(), "flag provided but not defined: -foo");
        assert_eq!(err.exit_code(), 2);
        assert!(matches!(load(&["--foo=bar"]), Err(ConfigError::UnknownFlag(f)) if f == "foo"));
        // File-only keys are not flags.
        assert!(matches!(
            load(&["--client-transport-security.allowed-cn=x"]),
            Err(ConfigError::UnknownFlag(_))
        ));
    }

    #[test]
    fn command_line_syntax_follows_go_flag() {
        assert!(matches!(load(&["--name"]), Err(ConfigError::MissingValue(f)) if f == "name"));
        assert!(matches!(
            load(&["---name=x"]),
            Err(ConfigError::BadFlagSyntax(_))
        ));
        assert!(matches!(
            load(&["--=x"]),
            Err(ConfigError::BadFlagSyntax(_))
        ));
        // Booleans take their value only after '='.
        let err = load(&["--pre-vote", "false"]).unwrap_err();
        assert_eq!(err.to_string(), "\"false\" is not a valid flag");
        assert!(
            matches!(load(&["serve"]), Err(ConfigError::UnexpectedArgument(a)) if a == "serve")
        );
        assert!(matches!(load(&["--", "x"]), Err(ConfigError::UnexpectedArgument(a)) if a == "x"));
        assert_eq!(load(&["--name", "a", "--"]).unwrap().name, "a");
        // A value may start with '-' and the last occurrence wins.
        assert_eq!(load(&["--name", "-x-", "--name=b"]).unwrap().name, "b");
        // etcd still accepts (and ignores) its etcd 2 flags.
        let cfg = load(&["--v", "--peer-heartbeat-interval=5"]).unwrap();
        assert!(has_notice(
            &cfg,
            NoticeLevel::Warn,
            "no longer supported - ignoring: --v"
        ));
    }

    #[test]
    fn bad_integer_is_an_error() {
        let err = load(&["--heartbeat-interval", "abc"]).unwrap_err();
        match &err {
            ConfigError::InvalidValue { key, value, .. } => {
                assert_eq!(key, "--heartbeat-interval");
                assert_eq!(value, "abc");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for --heartbeat-interval: expected a non-negative integer"
        );
        assert!(matches!(
            load(&["--max-concurrent-streams=4294967296"]),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            load(&["--snapshot-count=-1"]),
            Err(ConfigError::InvalidValue { .. })
        ));

        let err =
            Config::from_yaml_str("heartbeat-interval: abc\n", "/etc/etcd/conf.yml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"abc\" for heartbeat-interval in /etc/etcd/conf.yml: expected a non-negative integer"
        );
    }

    #[test]
    fn bad_url_is_an_error() {
        let err = load(&["--listen-client-urls", "localhost:2379"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"localhost:2379\" for --listen-client-urls: URL scheme must be http, https, unix, or unixs: localhost:2379"
        );
        let err = load(&["--listen-peer-urls", "http://10.0.0.1"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("URL address does not have the form \"host:port\": http://10.0.0.1")
        );
        let err = load(&["--initial-advertise-peer-urls", "http://10.0.0.1:2380/x"]).unwrap_err();
        assert!(err.to_string().contains("URL must not contain a path"));
        let err = Config::from_yaml_str("listen-peer-urls: ftp://a:1\n", "c.yml").unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "listen-peer-urls")
        );

        // Listen URLs must name an IP (or localhost).
        let err = load(&[
            "--listen-client-urls",
            "http://example.com:2379",
            "--advertise-client-urls",
            "http://example.com:2379",
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected IP in URL for binding (http://example.com:2379)"
        );
        // A bad URL inside --initial-cluster.
        let err = load(&["--initial-cluster", "default=localhost:2380"]).unwrap_err();
        assert!(matches!(err, ConfigError::InvalidInitialCluster { .. }));
    }

    #[test]
    fn url_parsing() {
        let u = ParsedUrl::parse("https://[::1]:2379").unwrap();
        assert_eq!(u.scheme, UrlScheme::Https);
        assert!(u.scheme.is_tls());
        assert_eq!(u.host, "::1");
        assert_eq!(
            u.bind_addr().unwrap().unwrap(),
            "[::1]:2379".parse().unwrap()
        );
        let u = ParsedUrl::parse("unix://localhost:2379").unwrap();
        assert_eq!(u.unix_socket_path(), Some("localhost:2379"));
        assert!(u.bind_addr().is_none());
        assert!(ParsedUrl::parse("http://a:99999").is_err());
        assert!(ParsedUrl::parse("http://a:b:1").is_err());
        // Duplicates are dropped and the list is sorted, as etcd does.
        let cfg = load(&[
            "--listen-client-urls",
            "http://127.0.0.1:2,http://127.0.0.1:1,http://127.0.0.1:2",
            "--advertise-client-urls",
            "http://127.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(
            cfg.listen_client_urls,
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
    }

    #[test]
    fn bad_state_is_an_error() {
        let err = load(&["--initial-cluster-state", "maybe"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"maybe\" for --initial-cluster-state: must be \"new\" or \"existing\""
        );
        let err = Config::from_yaml_str("initial-cluster-state: maybe\n", "c.yml").unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "initial-cluster-state")
        );
    }

    #[test]
    fn unknown_yaml_key_is_an_error() {
        let err = Config::from_yaml_str("name: a\nfoo: 1\n", "/etc/etcd/conf.yml").unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "foo"));
        assert_eq!(err.to_string(), "unknown key \"foo\" in /etc/etcd/conf.yml");
        let err =
            Config::from_yaml_str("client-transport-security:\n  bogus: 1\n", "c.yml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown key \"client-transport-security.bogus\" in c.yml"
        );
        let file = TempFile::new("foo: 1\n");
        let err = load(&["--config-file", file.path()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("unknown key \"foo\" in {}", file.path())
        );
    }

    #[test]
    fn config_file_errors() {
        let err = load(&["--config-file", "/nonexistent/capstan.yml"]).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }));
        assert!(matches!(
            Config::from_yaml_str("name: [a\n", "c.yml"),
            Err(ConfigError::ParseFile { .. })
        ));
        assert!(matches!(
            Config::from_yaml_str("- a\n", "c.yml"),
            Err(ConfigError::ParseFile { .. })
        ));
        assert!(matches!(
            Config::from_yaml_str("name: [a, b]\n", "c.yml"),
            Err(ConfigError::InvalidValue { .. })
        ));
        // An empty file is all defaults.
        assert_eq!(Config::from_yaml_str("", "c.yml").unwrap().name, "default");
    }

    #[test]
    fn nested_transport_security_sections() {
        let yaml = "\
name: n1
initial-cluster: n1=https://127.0.0.1:2380
initial-advertise-peer-urls: https://127.0.0.1:2380
listen-peer-urls: https://127.0.0.1:2380
client-transport-security:
  cert-file: /c.pem
  key-file: /c-key.pem
  client-cert-auth: true
  trusted-ca-file: /ca.pem
  allowed-cn: [a, b]
  allowed-hostname: h1
  crl-file: /c.crl
peer-transport-security:
  cert-file: /p.pem
  key-file: /p-key.pem
  client-cert-auth: yes
  auto-tls: false
  allowed-cn: peer-cn
  skip-client-san-verification: true
socket-options:
  reuse-port: true
discovery-config:
  client:
    dial-timeout: 3000000000
    keepalive-time: 4s
";
        let cfg = Config::from_yaml_str(yaml, "c.yml").unwrap();
        let client = cfg.client_tls();
        assert_eq!(client.cert_file, Some(PathBuf::from("/c.pem")));
        assert!(client.client_cert_auth);
        assert_eq!(client.allowed_cns, ["a", "b"]);
        assert_eq!(client.allowed_hostnames, ["h1"]);
        assert_eq!(client.crl_file, Some(PathBuf::from("/c.crl")));
        let peer = cfg.peer_tls();
        assert_eq!(peer.key_file, Some(PathBuf::from("/p-key.pem")));
        assert!(peer.client_cert_auth);
        assert_eq!(peer.allowed_cns, ["peer-cn"]);
        assert!(peer.skip_client_san_verify);
        assert!(cfg.socket_reuse_port);
        assert_eq!(cfg.discovery_dial_timeout, Duration::from_secs(3));
        assert_eq!(cfg.discovery_keepalive_time, Duration::from_secs(4));

        // Flat and nested spellings of one option must agree.
        let err = Config::from_yaml_str(
            "cert-file: /a\nclient-transport-security:\n  cert-file: /b\n",
            "c.yml",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::ConflictingKeys { .. }));
        assert!(
            Config::from_yaml_str(
                "cert-file: /a\nclient-transport-security:\n  cert-file: /a\n",
                "c.yml"
            )
            .is_ok()
        );
    }

    #[test]
    fn yaml_value_forms() {
        let yaml = "\
grpc-keepalive-min-time: 10000000000
grpc-keepalive-timeout: 30s
experimental-snapshot-catch-up-entries: 100
auto-compaction-retention: 5m
name: 123
log-outputs: stdout
";
        let cfg = Config::from_yaml_str(yaml, "c.yml").unwrap();
        assert_eq!(cfg.grpc_keepalive_min_time, Duration::from_secs(10));
        assert_eq!(cfg.grpc_keepalive_timeout, Duration::from_secs(30));
        assert_eq!(cfg.snapshot_catchup_entries, 100);
        assert_eq!(
            cfg.auto_compaction().unwrap(),
            AutoCompaction::Periodic(Duration::from_secs(300))
        );
        assert_eq!(cfg.name, "123");
        assert_eq!(cfg.initial_cluster, "123=http://localhost:2380");
        assert_eq!(cfg.log_outputs, ["stdout"]);
        assert!(Config::from_yaml_str("grpc-keepalive-min-time: 1.5\n", "c.yml").is_err());
    }

    #[test]
    fn help_lists_every_flag_by_group() {
        for flags in [
            &["--help"][..],
            &["-h"],
            &["-help"],
            &["--name", "x", "--help"],
        ] {
            let err = load(flags).unwrap_err();
            assert!(err.is_informational());
            assert_eq!(err.exit_code(), 0);
            let ConfigError::Help(text) = err else {
                panic!("expected help")
            };
            for heading in [
                "Member:",
                "Clustering:",
                "Security:",
                "Auth:",
                "Logging:",
                "Capstan:",
            ] {
                assert!(text.contains(heading), "missing {heading}");
            }
            assert!(text.contains("  --name 'default'\n    Human-readable name for this member."));
            assert!(text.contains("--data-dir '${name}.etcd'"));
            assert!(text.contains("--initial-cluster 'default=http://localhost:2380'"));
            assert!(text.contains("--emulated-etcd-version '3.6.6'"));
            assert!(text.contains("TxnModeWriteWithSharedBuffer=true|false (BETA - default=true)"));
            for flag in FLAGS.iter().filter(|f| f.group != Group::Hidden) {
                assert!(
                    text.contains(&format!("  --{} '", flag.name)),
                    "--{} missing from help",
                    flag.name
                );
                assert!(!flag.help.is_empty(), "--{} has no help", flag.name);
            }
        }
    }

    #[test]
    fn version_prints_emulated_version() {
        let err = load(&["--version"]).unwrap_err();
        assert_eq!(err.exit_code(), 0);
        let ConfigError::Version(text) = err else {
            panic!("expected version")
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("capstan Version: {}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(lines[1], "etcd API Version: 3.6.6");
        assert!(lines[2].starts_with("Git SHA: "));
        assert!(lines[3].starts_with("Rust Version: "));
        assert_eq!(
            lines[4],
            format!(
                "OS/Arch: {}/{}",
                std::env::consts::OS,
                std::env::consts::ARCH
            )
        );

        let err = load(&["--emulated-etcd-version=3.5.21", "--version"]).unwrap_err();
        assert!(err.to_string().contains("etcd API Version: 3.5.21"));
        let err = load_env(&["-version"], &[("ETCD_EMULATED_ETCD_VERSION", "3.4.0")]).unwrap_err();
        assert!(err.to_string().contains("etcd API Version: 3.4.0"));
        // --version=false runs normally.
        assert!(load(&["--version=false"]).is_ok());
        assert!(matches!(
            load(&["--emulated-etcd-version", "three"]),
            Err(ConfigError::InvalidValue { .. })
        ));
    }

    #[test]
    fn initial_cluster_default_derivation() {
        let cfg = load(&["--name", "infra1"]).unwrap();
        assert_eq!(cfg.initial_cluster, "infra1=http://localhost:2380");
        assert_eq!(cfg.data_dir, PathBuf::from("infra1.etcd"));

        let cfg = load(&[
            "--name",
            "infra1",
            "--initial-advertise-peer-urls",
            "http://10.0.0.2:2380,http://10.0.0.1:2380",
            "--listen-peer-urls",
            "http://0.0.0.0:2380",
        ])
        .unwrap();
        assert_eq!(
            cfg.initial_cluster,
            "infra1=http://10.0.0.1:2380,infra1=http://10.0.0.2:2380"
        );
        assert_eq!(
            cfg.initial_cluster_members().unwrap(),
            vec![(
                "infra1".to_string(),
                vec![
                    "http://10.0.0.1:2380".to_string(),
                    "http://10.0.0.2:2380".to_string()
                ]
            )]
        );

        // With the default name but other peer URLs.
        let cfg = load(&["--initial-advertise-peer-urls", "http://10.0.0.9:2380"]).unwrap();
        assert_eq!(cfg.initial_cluster, "default=http://10.0.0.9:2380");

        // etcd rewrites an explicit but untouched default for a renamed member.
        let cfg = load(&["--name", "x", "--initial-cluster", DEFAULT_INITIAL_CLUSTER]).unwrap();
        assert_eq!(cfg.initial_cluster, "x=http://localhost:2380");

        // An explicit value is kept.
        let cfg = load(&[
            "--name",
            "a",
            "--initial-cluster",
            "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380",
        ])
        .unwrap();
        assert_eq!(
            cfg.initial_cluster,
            "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380"
        );

        // Discovery replaces the static initial cluster.
        let cfg = load(&["--discovery-srv", "example.com"]).unwrap();
        assert_eq!(cfg.initial_cluster, "");
        let err = load(&[
            "--discovery-srv",
            "example.com",
            "--initial-cluster",
            "default=http://localhost:2380",
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::ConflictBootstrapFlags));

        // The same derivation from a config file.
        let cfg = Config::from_yaml_str("name: y\n", "c.yml").unwrap();
        assert_eq!(cfg.initial_cluster, "y=http://localhost:2380");
    }

    #[test]
    fn validation_mirrors_etcd() {
        let err = load(&["--heartbeat-interval", "300"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"
        );
        let err = load(&["--election-timeout", "60000"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms"
        );
        assert!(
            load(&["--heartbeat-interval", "0"])
                .unwrap_err()
                .to_string()
                .contains("--heartbeat-interval must be >0")
        );

        let err = load(&[
            "--name",
            "x",
            "--initial-cluster",
            "a=http://127.0.0.1:2380",
        ])
        .unwrap_err();
        assert!(matches!(&err, ConfigError::LocalMemberMissing { name } if name == "x"));
        assert_eq!(
            err.to_string(),
            "couldn't find local name \"x\" in the initial cluster configuration"
        );
        // Joining an existing cluster is checked at bootstrap, not here.
        assert!(
            load(&[
                "--name",
                "x",
                "--initial-cluster",
                "a=http://127.0.0.1:2380",
                "--initial-cluster-state=existing"
            ])
            .is_ok()
        );

        let err = load(&[
            "--initial-cluster",
            "default=http://127.0.0.1:2380,b=http://127.0.0.1:2380",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("has duplicate url"));
        // An emptied initial cluster cannot bootstrap this member.
        let err = load(&["--initial-cluster", ""]).unwrap_err();
        assert!(matches!(err, ConfigError::LocalMemberMissing { .. }));
        let err = Config::from_yaml_str("initial-cluster: ''\n", "c.yml").unwrap_err();
        assert!(matches!(err, ConfigError::LocalMemberMissing { .. }));
        // CORS origins: '*' or URLs; an empty file value keeps the default.
        assert_eq!(
            Config::from_yaml_str("cors: ''\n", "c.yml").unwrap().cors,
            ["*"]
        );
        assert_eq!(
            load(&["--cors", "http://a.example:80,http://b.example:80"])
                .unwrap()
                .cors,
            ["http://a.example:80", "http://b.example:80"]
        );

        let err = load(&["--listen-client-urls", "http://127.0.0.1:2379"]).unwrap_err();
        assert!(matches!(err, ConfigError::UnsetAdvertiseClientUrls));
        let err =
            load_env(&[], &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379")]).unwrap_err();
        assert!(matches!(err, ConfigError::UnsetAdvertiseClientUrls));
        // A config file keeps the default advertise URL, as etcd does.
        let cfg =
            Config::from_yaml_str("listen-client-urls: http://127.0.0.1:2379\n", "c.yml").unwrap();
        assert_eq!(cfg.advertise_client_urls, [DEFAULT_CLIENT_URL]);

        let err = load(&["--discovery-token", "t"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "both --discovery-token and --discovery-endpoints must be set"
        );
        assert!(
            load(&[
                "--discovery-token",
                "t",
                "--discovery-endpoints",
                "http://127.0.0.1:2379"
            ])
            .is_ok()
        );
        let err = load(&["--discovery-fallback", "proxy"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--discovery-fallback can't be configured as \"proxy\"")
        );
        assert!(load(&["--max-txn-ops", "0"]).is_err());
        assert!(load(&["--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"]).is_err());
        assert!(load(&["--tls-min-version", "TLS1.3", "--cipher-suites", "X"]).is_err());
        assert!(load(&["--tls-min-version", "SSL3"]).is_err());
        assert!(load(&["--log-outputs", "default,stderr"]).is_err());
        assert!(load(&["--enable-log-rotation"]).is_err());
        let cfg = load(&[
            "--enable-log-rotation",
            "--log-outputs",
            "/var/log/capstan.log",
        ])
        .unwrap();
        assert_eq!(cfg.log_rotation().unwrap().max_size_mb, 100);
        assert!(
            load(&["--logger", "capnslog"])
                .unwrap_err()
                .to_string()
                .contains("--logger=capnslog is removed in v3.5")
        );
        assert!(load(&["--auth-token", "bogus"]).is_err());
        assert_eq!(
            load(&["--auth-token", "jwt,sign-method=RS256,ttl=10m"])
                .unwrap()
                .auth_token_spec()
                .unwrap(),
            AuthTokenSpec::Jwt(BTreeMap::from([
                ("sign-method".to_string(), "RS256".to_string()),
                ("ttl".to_string(), "10m".to_string()),
            ]))
        );
        assert!(
            load(&[
                "--enable-distributed-tracing",
                "--distributed-tracing-sampling-rate",
                "2000000"
            ])
            .is_err()
        );
    }

    #[test]
    fn experimental_flags_migrate() {
        let cfg = load(&[
            "--experimental-compact-hash-check-time",
            "2m",
            "--experimental-memory-mlock",
        ])
        .unwrap();
        assert_eq!(cfg.compact_hash_check_time, Duration::from_secs(120));
        assert!(cfg.memory_mlock);
        assert!(has_notice(
            &cfg,
            NoticeLevel::Warn,
            "--experimental-compact-hash-check-time is deprecated"
        ));

        let err = load(&[
            "--experimental-compact-hash-check-time",
            "2m",
            "--compact-hash-check-time",
            "3m",
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot set --experimental-compact-hash-check-time and --compact-hash-check-time at the same time, please use --compact-hash-check-time only"
        );

        let cfg = load(&["--experimental-warning-unary-request-duration", "1s"]).unwrap();
        assert_eq!(cfg.warning_unary_request_duration, Duration::from_secs(1));
        assert!(
            load(&[
                "--experimental-warning-unary-request-duration",
                "1s",
                "--warning-unary-request-duration",
                "2s"
            ])
            .is_err()
        );

        let cfg = load(&["--experimental-initial-corrupt-check=true"]).unwrap();
        assert!(cfg.feature_enabled("InitialCorruptCheck"));
    }

    #[test]
    fn feature_gates() {
        let cfg = load(&[
            "--feature-gates=LeaseCheckpoint=true",
            "--feature-gates",
            "LeaseCheckpointPersist=true",
        ])
        .unwrap();
        assert!(cfg.feature_enabled("LeaseCheckpoint"));
        assert!(cfg.feature_enabled("LeaseCheckpointPersist"));

        let err = load(&["--feature-gates", "LeaseCheckpointPersist=true"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("requires enabling feature gate LeaseCheckpoint")
        );

        let err = load(&["--feature-gates", "Bogus=true"]).unwrap_err();
        assert!(err.to_string().contains("unrecognized feature gate: Bogus"));
        assert!(
            load(&["--feature-gates", "CompactHashCheck"])
                .unwrap_err()
                .to_string()
                .contains("missing bool value")
        );

        let err = load(&[
            "--experimental-enable-lease-checkpoint",
            "--feature-gates",
            "LeaseCheckpoint=false",
        ])
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "cannot specify both flags: --experimental-enable-lease-checkpoint=true"
            )
        );

        let cfg = load(&["--feature-gates", "AllAlpha=true,SetMemberLocalAddr=false"]).unwrap();
        assert!(cfg.feature_enabled("CompactHashCheck"));
        assert!(!cfg.feature_enabled("SetMemberLocalAddr"));
        assert!(cfg.feature_enabled("TxnModeWriteWithSharedBuffer"));
    }

    #[test]
    fn auto_compaction_parsing() {
        let mut cfg = Config::default();
        let cases: &[(CompactionMode, &str, Option<AutoCompaction>)] = &[
            (
                CompactionMode::Periodic,
                "0",
                Some(AutoCompaction::Disabled),
            ),
            (
                CompactionMode::Periodic,
                "1",
                Some(AutoCompaction::Periodic(Duration::from_secs(3600))),
            ),
            (
                CompactionMode::Periodic,
                "72",
                Some(AutoCompaction::Periodic(Duration::from_secs(72 * 3600))),
            ),
            (
                CompactionMode::Periodic,
                "5m",
                Some(AutoCompaction::Periodic(Duration::from_secs(300))),
            ),
            (
                CompactionMode::Periodic,
                "1.5h",
                Some(AutoCompaction::Periodic(Duration::from_secs(5400))),
            ),
            (CompactionMode::Periodic, "abc", None),
            (CompactionMode::Periodic, "-1", None),
            (
                CompactionMode::Revision,
                "1000",
                Some(AutoCompaction::Revision(1000)),
            ),
            (
                CompactionMode::Revision,
                "0",
                Some(AutoCompaction::Disabled),
            ),
            (CompactionMode::Revision, "5m", None),
        ];
        for (mode, retention, want) in cases {
            cfg.auto_compaction_mode = *mode;
            cfg.auto_compaction_retention = retention.to_string();
            assert_eq!(cfg.auto_compaction().ok(), *want, "{mode:?} {retention}");
        }
        let err = load(&["--auto-compaction-retention", "abc"]).unwrap_err();
        assert!(err.to_string().contains("--auto-compaction-retention"));
        assert!(
            load(&["--auto-compaction-mode", "hourly"])
                .unwrap_err()
                .to_string()
                .contains("unknown auto-compaction-mode \"hourly\"")
        );
    }

    #[test]
    fn go_scalar_parsing() {
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(
            parse_go_duration("2h45m"),
            Ok(Duration::from_secs(2 * 3600 + 45 * 60))
        );
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_go_duration("5"),
            Err("time: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse_go_duration("5d"),
            Err("time: unknown unit \"d\" in duration \"5d\"".to_string())
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert_eq!(go_duration_string(Duration::ZERO), "0s");
        assert_eq!(go_duration_string(Duration::from_millis(100)), "100ms");
        assert_eq!(go_duration_string(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration_string(Duration::from_secs(7200)), "2h0m0s");
        assert_eq!(go_duration_string(Duration::from_millis(1500)), "1.5s");

        assert_eq!(parse_go_uint("0x10", 64), Ok(16));
        assert_eq!(parse_go_uint("010", 64), Ok(8));
        assert_eq!(parse_go_uint("0b101", 64), Ok(5));
        assert_eq!(parse_go_uint("0x_ff", 64), Ok(255));
        assert!(parse_go_uint("1_000", 64).is_err());
        assert!(parse_go_uint("+1", 64).is_err());
        assert!(parse_go_uint("", 64).is_err());
        assert!(parse_go_uint("4294967296", 32).is_err());
        assert_eq!(parse_go_int("-5"), Ok(-5));
        assert_eq!(parse_go_int("-9223372036854775808"), Ok(i64::MIN));
        assert!(parse_go_int("9223372036854775808").is_err());
        assert_eq!(parse_go_bool("T"), Ok(true));
        assert_eq!(parse_go_bool("0"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }

    #[test]
    fn accessors() {
        let cfg = Config::default();
        assert_eq!(
            cfg.client_listen_addrs().unwrap(),
            ["127.0.0.1:2379".parse().unwrap()]
        );
        assert_eq!(
            cfg.peer_listen_addrs().unwrap(),
            ["127.0.0.1:2380".parse().unwrap()]
        );
        assert!(cfg.metrics_listen_addrs().unwrap().is_empty());
        assert!(cfg.is_new_cluster());
        assert_eq!(cfg.min_lease_ttl_seconds(), 2);
        assert_eq!(cfg.request_timeout(), Duration::from_secs(7));
        assert_eq!(cfg.member_dir(), PathBuf::from("default.etcd/member"));
        assert_eq!(cfg.snap_dir(), PathBuf::from("default.etcd/member/snap"));
        assert_eq!(cfg.auth_token_spec().unwrap(), AuthTokenSpec::Simple);
        assert!(cfg.client_tls().is_empty());

        let cfg = load(&["--heartbeat-interval", "100", "--election-timeout", "500"]).unwrap();
        assert_eq!(cfg.min_lease_ttl_seconds(), 1);
        let cfg = load(&[
            "--heartbeat-interval",
            "1000",
            "--election-timeout",
            "10000",
        ])
        .unwrap();
        assert_eq!(cfg.min_lease_ttl_seconds(), 15);

        let cfg = load(&["--quota-backend-bytes", "-1"]).unwrap();
        assert_eq!(cfg.quota_backend_bytes_effective(), u64::MAX);
        let cfg = load(&["--quota-backend-bytes", "1024"]).unwrap();
        assert_eq!(cfg.quota_backend_bytes_effective(), 1024);
        let cfg = load(&["--wal-dir", "/wal"]).unwrap();
        assert_eq!(cfg.wal_dir_effective(), PathBuf::from("/wal"));
        let cfg = load(&["--raft-read-timeout", "1s"]).unwrap();
        assert_eq!(cfg.raft_read_timeout, Duration::from_secs(5));
        assert_eq!(LogLevel::Fatal.tracing_level(), tracing::Level::ERROR);
    }

    #[test]
    fn every_default_parses_and_every_flag_is_unique() {
        let mut names = BTreeSet::new();
        for flag in FLAGS {
            assert!(names.insert(flag.name), "--{} listed twice", flag.name);
            if flag.default.is_empty() {
                continue;
            }
            let mut cfg = Config::blank();
            (flag.set)(&mut cfg, flag.default).unwrap_or_else(|e| panic!("--{}: {e}", flag.name));
        }
        for (_, node) in FILE_SECTIONS {
            fn check(node: &Node) {
                match node {
                    Node::Leaf(name) => assert!(find_flag(name).is_some(), "{name} is not a flag"),
                    Node::Map(children) => children.iter().for_each(|(_, c)| check(c)),
                }
            }
            check(node);
        }
        for (old, new, _) in EXPERIMENTAL_MIGRATIONS {
            assert!(
                find_flag(old).is_some() && find_flag(new).is_some(),
                "{old} -> {new}"
            );
        }
        for (flag, gate) in EXPERIMENTAL_GATE_FLAGS {
            assert!(find_flag(flag).is_some(), "{flag}");
            assert!(FEATURE_GATES.iter().any(|(g, _, _)| g == gate), "{gate}");
        }
    }
}
