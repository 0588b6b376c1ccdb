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
//!   keys such as `cert-file:` (the seed guide's conf.yml uses them); here they
//!   are read as the flags of the same name with a warning saying etcd would
//!   not, and disagreeing flat and nested values are an error.
//! * Every flag has a support status in the flag table ([`Support`]):
//!   honoured, partly supported, ignored (a non-default value warns) or
//!   refused (a non-default value stops start-up: "--wal-dir is not supported
//!   yet by Capstan"). Security, durability and cluster-formation settings are
//!   refused rather than ignored, except TLS settings with `http://` URLs,
//!   which etcd ignores too (with the same warning); `https://` and `unix://`
//!   URLs are refused.
//! * Durations in a config file may be Go duration strings (`"5s"`) as well
//!   as etcd's integer nanoseconds; list options take YAML lists or commas.
//! * A variable `ETCD_X` shadowed by `--x` is a warning (etcd exits).
//! * `--initial-cluster`, when not given, is always derived from `--name` and
//!   `--initial-advertise-peer-urls` (etcd only does so when `--name` changes).
//!
//! The module's files, one job each: `table` (the flag table, with each
//! flag's support status), `compat` (etcd 3.6's renamed flags and feature
//! gates), `goflag` (Go command-line and scalar syntax), `values` (value
//! parsers), `yaml` (the config file), `url` (member URLs), `load` (sources
//! and post-processing), `support` (what Capstan honours, ignores or
//! refuses), `validate` (etcd's whole-configuration checks), `access`
//! (accessors for the server) and `help` (`--help`, `--version`, the README
//! table).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_yaml::Value;

mod access;
mod compat;
mod error;
mod goflag;
mod help;
mod load;
mod support;
mod table;
#[cfg(test)]
mod tests;
mod types;
mod url;
mod validate;
mod values;
mod yaml;

use compat::*;
pub use error::*;
pub use goflag::*;
pub use help::*;
use load::*;
pub use table::*;
pub use types::*;
pub use url::*;
use values::*;
#[cfg(test)]
use yaml::*;

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

/// The complete configuration of one member: one field per etcd 3.6 server
/// flag (named after the flag), plus Capstan's `--emulated-etcd-version`.
///
/// Build it with [`Config::load`] (process args + env), [`Config::from_args_env`]
/// (tests) or [`Config::from_yaml_str`]; [`Config::default`] gives etcd's defaults.
/// Fields that etcd treats as "unset when empty" are `Option`s here.
/// Declares [`Config`] and `Config::blank()` (every field at its type's
/// zero value) from one list, so a field is written once here plus its row
/// in the flag table.
macro_rules! config_struct {
    ($(#[$meta:meta])* pub struct Config { $($(#[$fmeta:meta])* $vis:vis $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct Config { $($(#[$fmeta])* $vis $field: $ty,)* }

        impl Config {
            /// A configuration with every field zero/empty; only the loader starts here.
            fn blank() -> Config {
                Config { $($field: Default::default(),)* }
            }
        }
    };
}

config_struct! {
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
    /// Flags given explicitly (command line, environment or file), with
    /// the last value given (the support checks compare it with the default).
    explicit: BTreeMap<String, String>,
}
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
