//! Command line: global options shared by every workload, one subcommand per workload.
//!
//! Flag names follow etcd's `benchmark` tool where it has one (`--conns`, `--clients`,
//! `--total`, `--rate`, `--key-size`, `--val-size`, `--sequential-keys`,
//! `--key-space-size`, `--consistency`, `--txn-ops`, `--target-leader`, and the TLS
//! options `--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// capstan-bench: drive an etcd-compatible cluster (Capstan or etcd) over the etcd v3
/// gRPC API and report throughput, latency percentiles and errors.
#[derive(Debug, Parser)]
#[command(name = "capstan-bench", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub workload: Workload,
}

/// Options that every workload takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalOpts {
    /// Client endpoints, comma separated: host:port, http://host:port or
    /// https://host:port. host:port uses TLS when --cacert or --cert is given.
    #[arg(long, global = true, value_delimiter = ',', default_value = "127.0.0.1:2379")]
    pub endpoints: Vec<String>,
    /// Number of gRPC channels (HTTP/2 connections), spread over the endpoints.
    #[arg(long, global = true, default_value_t = 1)]
    pub conns: usize,
    /// Number of concurrent workers (in-flight requests), spread over the channels.
    #[arg(long, global = true, default_value_t = 1)]
    pub clients: usize,
    /// Number of requests (for watch: puts). 0 = unbounded (needs --duration).
    #[arg(long, global = true, default_value_t = 10_000)]
    pub total: u64,
    /// Stop issuing requests after this many seconds (0 = no time limit).
    #[arg(long, global = true, default_value_t = 0.0)]
    pub duration: f64,
    /// Requests per second over all workers (0 = as fast as the workers go).
    #[arg(long, global = true, default_value_t = 0.0)]
    pub rate: f64,
    /// Send requests only to the leader (found with Maintenance.Status on each endpoint).
    #[arg(long, global = true)]
    pub target_leader: bool,
    /// Time limit of one request in seconds; a request over it counts as DeadlineExceeded.
    #[arg(long, global = true, default_value_t = 10.0)]
    pub request_timeout: f64,
    /// Time limit for connecting to an endpoint, in seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub dial_timeout: f64,
    /// Print only the JSON result line (no human-readable report).
    #[arg(long, global = true)]
    pub json: bool,
    /// Show the progress bar even when stderr is not a terminal.
    #[arg(long, global = true, conflicts_with = "no_progress")]
    pub progress: bool,
    /// Never show the progress bar.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Free-form label copied into the JSON result (e.g. "etcd-3m-round1").
    #[arg(long, global = true, default_value = "")]
    pub label: String,
    /// NAME:PASSWORD: authenticate once and send the token with every request (etcd auth).
    #[arg(long, global = true, value_name = "NAME:PASSWORD")]
    pub user: Option<String>,
    #[command(flatten)]
    pub tls: TlsOpts,
}

/// TLS to the servers, with etcd's `benchmark` (and etcdctl) flag names.
#[derive(Debug, Args, Clone, Default)]
pub struct TlsOpts {
    /// Verify the servers' certificates with this CA bundle (PEM). Bare host:port
    /// endpoints then use TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM) presented to the servers (with --key). Bare host:port
    /// endpoints then use TLS.
    #[arg(long, global = true, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    // (id: `key` is the range subcommand's KEY argument)
    #[arg(id = "tls_key", long = "key", global = true, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Do not verify the servers' certificates (for https endpoints or with --cert).
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,
}

impl TlsOpts {
    /// Whether an endpoint without a scheme (host:port) is dialled with TLS: when TLS
    /// material is given, as etcd's clients do (an `http://` endpoint stays plain text,
    /// an `https://` one always uses TLS).
    pub fn bare_endpoints_use_tls(&self) -> bool {
        self.cacert.is_some() || self.cert.is_some()
    }
}

impl GlobalOpts {
    /// Checks the combinations clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.endpoints.is_empty() || self.endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err("--endpoints: at least one non-empty endpoint".into());
        }
        if self.conns == 0 || self.clients == 0 {
            return Err("--conns and --clients must be at least 1".into());
        }
        if self.total == 0 && self.duration <= 0.0 {
            return Err("--total 0 (unbounded) needs --duration".into());
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err("--rate must be a non-negative number".into());
        }
        if !(self.request_timeout > 0.0 && self.dial_timeout > 0.0) {
            return Err("--request-timeout and --dial-timeout must be positive".into());
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err("--cert and --key go together (both or neither)".into());
        }
        for ep in &self.endpoints {
            let ep = ep.trim();
            match ep.split_once("://") {
                None => {}
                Some(("http" | "https", _)) => {}
                Some((scheme, _)) => {
                    return Err(format!("--endpoints: {ep}: scheme {scheme}:// (only http and https)"));
                }
            }
        }
        let uses_tls = self.endpoints.iter().any(|ep| {
            let ep = ep.trim();
            ep.starts_with("https://") || (!ep.contains("://") && self.tls.bare_endpoints_use_tls())
        });
        if uses_tls && self.tls.cacert.is_none() && !self.tls.insecure_skip_tls_verify {
            // (etcd's clients fall back to the system's trust store; this tool has none)
            return Err("TLS endpoints need --cacert (or --insecure-skip-tls-verify)".into());
        }
        Ok(())
    }

    /// The per-request time limit.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout)
    }

    /// The time limit of the run, if any.
    pub fn run_duration(&self) -> Option<Duration> {
        (self.duration > 0.0).then(|| Duration::from_secs_f64(self.duration))
    }
}

/// One workload per subcommand.
#[derive(Debug, Subcommand)]
pub enum Workload {
    /// Put keys (one Put per request).
    Put(PutOpts),
    /// Range requests on KEY (or [KEY, END)).
    Range(RangeOpts),
    /// Txn requests, each with --txn-ops puts.
    TxnPut(TxnPutOpts),
    /// N watchers on M keys; a separate putter writes --total puts; reports the latency
    /// from each put's send to each event's delivery.
    Watch(WatchOpts),
    /// LeaseKeepAlive round trips: each worker grants a lease and keeps it alive.
    LeaseKeepalive(LeaseOpts),
}

impl Workload {
    /// The workload's name as it appears in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Put(_) => "put",
            Workload::Range(_) => "range",
            Workload::TxnPut(_) => "txn-put",
            Workload::Watch(_) => "watch",
            Workload::LeaseKeepalive(_) => "lease-keepalive",
        }
    }
}

/// How keys are chosen and how large keys and values are (put, txn-put, watch).
#[derive(Debug, Args, Clone)]
pub struct KeyOpts {
    /// Key size in bytes (after --key-prefix); the key index is written in decimal,
    /// zero-padded to this width.
    #[arg(long, default_value_t = 8)]
    pub key_size: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 8)]
    pub val_size: usize,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 1)]
    pub key_space_size: u64,
    /// Key i of the run is index i mod --key-space-size (else a random index).
    #[arg(long)]
    pub sequential_keys: bool,
    /// Prefix of every key (not counted in --key-size).
    #[arg(long, default_value = "")]
    pub key_prefix: String,
}

impl KeyOpts {
    /// These options as they appear in a report's `config`.
    pub fn report_config(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut config = serde_json::Map::new();
        config.insert("key_size".into(), self.key_size.into());
        config.insert("val_size".into(), self.val_size.into());
        config.insert("key_space_size".into(), self.key_space_size.into());
        config.insert("sequential_keys".into(), self.sequential_keys.into());
        config.insert("key_prefix".into(), self.key_prefix.clone().into());
        config
    }
}

/// `put` options.
#[derive(Debug, Args, Clone)]
pub struct PutOpts {
    #[command(flatten)]
    pub keys: KeyOpts,
}

/// Read consistency of a range.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Consistency {
    /// Linearizable (read-index through the leader).
    L,
    /// Serializable (the member's local state).
    S,
}

/// `range` options.
#[derive(Debug, Args, Clone)]
pub struct RangeOpts {
    /// The key (or start of the range).
    pub key: String,
    /// End of the range (exclusive); "\0" means every key >= KEY.
    pub end: Option<String>,
    /// l = linearizable, s = serializable.
    #[arg(long, value_enum, default_value = "l")]
    pub consistency: Consistency,
    /// Ask for keys only (no values).
    #[arg(long)]
    pub keys_only: bool,
    /// Ask for the count only.
    #[arg(long)]
    pub count_only: bool,
    /// Maximum number of keys returned (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
}

/// `txn-put` options.
#[derive(Debug, Args, Clone)]
pub struct TxnPutOpts {
    #[command(flatten)]
    pub keys: KeyOpts,
    /// Puts per transaction (consecutive key indexes).
    #[arg(long, default_value_t = 1)]
    pub txn_ops: u64,
}

/// `watch` options.
#[derive(Debug, Args, Clone)]
pub struct WatchOpts {
    /// Number of watchers; watcher i watches key i mod --keys.
    #[arg(long, default_value_t = 100)]
    pub watchers: u64,
    /// Number of watched keys (the putter writes them round-robin).
    #[arg(long, default_value_t = 1)]
    pub keys: u64,
    /// Number of watch streams the watchers are spread over (spread over the channels).
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Value size of each put (at least 8: the put's send time is in the value).
    #[arg(long, default_value_t = 32)]
    pub val_size: usize,
    /// Prefix of the watched keys.
    #[arg(long, default_value = "bench-watch/")]
    pub key_prefix: String,
    /// How long to wait for outstanding events after the last put, in seconds; events
    /// not delivered by then count as errors ("Missing").
    #[arg(long, default_value_t = 10.0)]
    pub drain_timeout: f64,
}

/// `lease-keepalive` options.
#[derive(Debug, Args, Clone)]
pub struct LeaseOpts {
    /// TTL of the lease each worker grants, in seconds.
    #[arg(long, default_value_t = 60)]
    pub ttl: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_etcd_style_flags() {
        let cli = Cli::try_parse_from([
            "capstan-bench",
            "--endpoints",
            "a:1,b:2",
            "--conns=4",
            "--clients",
            "16",
            "put",
            "--key-size",
            "8",
            "--sequential-keys",
            "--key-space-size",
            "1000",
            "--total",
            "50",
        ])
        .unwrap();
        assert_eq!(cli.global.endpoints, vec!["a:1", "b:2"]);
        assert_eq!((cli.global.conns, cli.global.clients, cli.global.total), (4, 16, 50));
        let Workload::Put(p) = cli.workload else { panic!("not put") };
        assert!(p.keys.sequential_keys);
        assert_eq!(p.keys.key_space_size, 1000);
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(["capstan-bench"].iter().chain(args)).unwrap()
    }

    #[test]
    fn tls_flags() {
        let cli = parse(&["--cacert", "ca.pem", "--cert=c.pem", "--key", "k.pem", "put", "--endpoints", "h:1"]);
        let t = &cli.global.tls;
        assert_eq!(t.cacert.as_deref(), Some(std::path::Path::new("ca.pem")));
        assert_eq!(t.cert.as_deref(), Some(std::path::Path::new("c.pem")));
        assert_eq!(t.key.as_deref(), Some(std::path::Path::new("k.pem")));
        assert!(!t.insecure_skip_tls_verify);
        assert!(t.bare_endpoints_use_tls());
        assert!(cli.global.validate().is_ok());
        // Global: after the subcommand too.
        let cli = parse(&["range", "k", "--cacert", "ca.pem", "--insecure-skip-tls-verify"]);
        assert!(cli.global.tls.insecure_skip_tls_verify);
        assert!(cli.global.tls.bare_endpoints_use_tls());
        // --key (the TLS key) next to range's KEY argument.
        let cli = parse(&["range", "k", "--key", "k.pem", "--cert", "c.pem", "--cacert", "ca.pem"]);
        let Workload::Range(r) = &cli.workload else { panic!("not range") };
        assert_eq!(r.key, "k");
        assert_eq!(cli.global.tls.key.as_deref(), Some(std::path::Path::new("k.pem")));
        let cli = parse(&["range", "k"]);
        assert!(!cli.global.tls.bare_endpoints_use_tls());
        assert!(cli.global.validate().is_ok());
    }

    #[test]
    fn cert_and_key_go_together() {
        for args in
            [&["--cacert", "ca", "--cert", "c", "range", "k"][..], &["--cacert", "ca", "--key", "k", "range", "k"]]
        {
            let err = parse(args).global.validate().unwrap_err();
            assert!(err.contains("--cert and --key"), "{err}");
        }
    }

    #[test]
    fn tls_endpoints_need_a_ca() {
        // https without --cacert: nothing to verify the server with.
        let err = parse(&["--endpoints", "https://h:1", "range", "k"]).global.validate().unwrap_err();
        assert!(err.contains("--cacert"), "{err}");
        // A client certificate alone makes bare endpoints TLS, so the same.
        let err = parse(&["--cert", "c", "--key", "k", "range", "k"]).global.validate().unwrap_err();
        assert!(err.contains("--cacert"), "{err}");
        assert!(
            parse(&["--endpoints", "https://h:1", "--insecure-skip-tls-verify", "range", "k"])
                .global
                .validate()
                .is_ok()
        );
        // Explicit http:// endpoints stay plain text whatever the TLS flags.
        assert!(
            parse(&["--endpoints", "http://h:1", "--cert", "c", "--key", "k", "range", "k"]).global.validate().is_ok()
        );
        let err = parse(&["--endpoints", "unix://s", "range", "k"]).global.validate().unwrap_err();
        assert!(err.contains("scheme unix"), "{err}");
    }

    #[test]
    fn unbounded_needs_duration() {
        let cli = Cli::try_parse_from(["capstan-bench", "--total", "0", "range", "k"]).unwrap();
        assert!(cli.global.validate().is_err());
        let cli = Cli::try_parse_from(["capstan-bench", "--total", "0", "--duration", "1", "range", "k"]).unwrap();
        assert!(cli.global.validate().is_ok());
    }
}
