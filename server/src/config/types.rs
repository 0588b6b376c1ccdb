//! Typed values of options, and what loading reports besides the configuration.

use super::*;

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
            LogLevel::Error | LogLevel::DPanic | LogLevel::Panic | LogLevel::Fatal => tracing::Level::ERROR,
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
/// 3.6); any other value is replaced by the default `write-only`. etcd 3.7
/// no longer accepts `not-yet` (its v2 store is gone): neither do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V2Deprecation {
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
