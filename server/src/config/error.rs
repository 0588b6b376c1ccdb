//! Errors of configuration loading, with etcd's texts where etcd has one.

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
    InvalidValue { key: String, value: String, origin: String, reason: String },
    /// A config-file key that is no etcd option.
    #[error("unknown key {key:?} in {path}")]
    UnknownKey { key: String, path: String },
    /// The same option given twice in one file with different values
    /// (e.g. flat `cert-file` and `client-transport-security.cert-file`).
    #[error("{first:?} and {second:?} in {path} set the same option to different values")]
    ConflictingKeys { first: String, second: String, path: String },
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
    InvalidUrl { flag: String, url: String, reason: String },
    /// A listen URL whose host is a name rather than an IP (only `localhost` is allowed).
    #[error("expected IP in URL for binding ({url})")]
    BindUrlNotIp { url: String },
    /// etcd requires election timeout >= 5 heartbeats.
    #[error(
        "--election-timeout[{election_ms}ms] should be at least as 5 times as --heartbeat-interval[{heartbeat_ms}ms]"
    )]
    ElectionTimeoutTooShort { election_ms: u64, heartbeat_ms: u64 },
    /// Election timeout above [`super::MAX_ELECTION_TIMEOUT_MS`].
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
    /// A setting Capstan does not implement yet (a flag set to another value
    /// than its default whose status in the flag table is "refused", or a
    /// refused value of a partly supported flag). `what` names the flag.
    #[error("{what} is not supported yet by Capstan ({reason})")]
    Unsupported { what: String, reason: String },
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
            ConfigError::UnknownFlag(_) | ConfigError::MissingValue(_) | ConfigError::BadFlagSyntax(_) => 2,
            _ => 1,
        }
    }

    /// True for `--help`/`--version`, which print their text to stdout rather than stderr.
    pub fn is_informational(&self) -> bool {
        matches!(self, ConfigError::Help(_) | ConfigError::Version(_))
    }
}
