//! Sources: config file, command line, environment.

use super::*;

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
        &["--config-file", file.path(), "--name", "other", "--snapshot-count=5"],
        &[("ETCD_HEARTBEAT_INTERVAL", "7")],
    )
    .unwrap();
    assert_eq!(cfg.name, "etcd0");
    assert_eq!(cfg.snapshot_count, 10_000);
    assert_eq!(cfg.heartbeat_interval_ms, 100);
    assert!(has_notice(&cfg, NoticeLevel::Warn, "--name, --snapshot-count"));
    assert!(has_notice(&cfg, NoticeLevel::Warn, "ETCD_HEARTBEAT_INTERVAL"));
    assert!(has_notice(&cfg, NoticeLevel::Info, "loaded server configuration"));

    // As with etcd, the ignored flags must still be valid flags and values.
    let err = load(&["--config-file", file.path(), "--heartbeat-interval", "abc"]).unwrap_err();
    assert!(matches!(err, ConfigError::InvalidValue { .. }));
    assert!(matches!(load(&["--config-file", file.path(), "--nope"]), Err(ConfigError::UnknownFlag(_))));
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
    assert_eq!(cfg.auto_compaction().unwrap(), AutoCompaction::Periodic(Duration::from_secs(3600)));
    assert!(has_notice(&cfg, NoticeLevel::Warn, "\"proxy-failure-wait\""));
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
    assert_eq!(cfg.warning_unary_request_duration, Duration::from_millis(300));
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
    let cfg = parse(&[
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
    assert_eq!(cfg.auto_compaction().unwrap(), AutoCompaction::Revision(1000));
    assert_eq!(cfg.log_level, LogLevel::Warn);
    assert_eq!(cfg.log_outputs, ["stderr", "stdout"]);
    assert_eq!(cfg.grpc_keepalive_interval, Duration::from_secs(5400));
    assert_eq!(cfg.max_concurrent_streams, 256);
    assert_eq!(cfg.metrics, MetricsLevel::Extensive);
    assert_eq!(cfg.emulated_cluster_version(), "3.5.0");
    assert_eq!(
        cfg.client_listen_addrs().unwrap(),
        ["10.0.0.2:2379".parse().unwrap(), "127.0.0.1:2379".parse().unwrap()]
    );
    assert_eq!(cfg.peer_listen_addrs().unwrap(), ["0.0.0.0:2380".parse().unwrap()]);
    assert!(cfg.is_explicitly_set("pre-vote"));
    assert!(!cfg.is_explicitly_set("snapshot-count"));
}

#[test]
fn environment_variables_apply() {
    let cfg = parse_env(
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
    assert_eq!(cfg.client_listen_addrs().unwrap(), ["127.0.0.1:12379".parse().unwrap()]);
    assert_eq!(cfg.initial_cluster, "envname=http://localhost:2380");
    assert_eq!(cfg.discovery_token, None, "empty variables are ignored");
    assert!(has_notice(&cfg, NoticeLevel::Info, "recognized and used environment variable ETCD_NAME=envname"));
    assert!(has_notice(&cfg, NoticeLevel::Info, "ETCD_DISCOVERY_PASSWORD=<redacted>"));
    assert!(!cfg.notices.iter().any(|n| n.message.contains("hunter2")));
}

#[test]
fn flags_beat_environment() {
    let cfg = load_env(&["--name", "fromflag"], &[("ETCD_NAME", "fromenv"), ("ETCD_SNAPSHOT_COUNT", "7")]).unwrap();
    assert_eq!(cfg.name, "fromflag");
    assert_eq!(cfg.snapshot_count, 7);
    assert!(has_notice(&cfg, NoticeLevel::Warn, "ETCD_NAME is shadowed"));
}

#[test]
fn special_and_unknown_environment_variables() {
    let cfg = load_env(&[], &[("ETCD_VERSION", "true")]).unwrap();
    assert!(has_notice(&cfg, NoticeLevel::Warn, "ETCD_VERSION"));
    let unknown = unrecognized_env_vars(
        ["ETCD_NAME", "ETCD_FOO", "PATH", "ETCD_CONFIG_FILE", "ETCD_EMULATED_ETCD_VERSION", "ETCD_VERSION"]
            .map(String::from),
    );
    assert_eq!(unknown, ["ETCD_FOO"]);
    assert_eq!(env_var_name("initial-cluster-token"), "ETCD_INITIAL_CLUSTER_TOKEN");
}

#[test]
fn invalid_environment_value_names_the_variable() {
    let err = load_env(&[], &[("ETCD_HEARTBEAT_INTERVAL", "abc")]).unwrap_err();
    assert_eq!(err.to_string(), "invalid value \"abc\" for ETCD_HEARTBEAT_INTERVAL: expected a non-negative integer");
}

#[test]
fn unknown_flag_is_an_error() {
    let err = load(&["--foo"]).unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownFlag(f) if f == "foo"));
    assert_eq!(err.to_string(), "flag provided but not defined: -foo");
    assert_eq!(err.exit_code(), 2);
    assert!(matches!(load(&["--foo=bar"]), Err(ConfigError::UnknownFlag(f)) if f == "foo"));
    // File-only keys are not flags.
    assert!(matches!(load(&["--client-transport-security.allowed-cn=x"]), Err(ConfigError::UnknownFlag(_))));
}

#[test]
fn command_line_syntax_follows_go_flag() {
    assert!(matches!(load(&["--name"]), Err(ConfigError::MissingValue(f)) if f == "name"));
    assert!(matches!(load(&["---name=x"]), Err(ConfigError::BadFlagSyntax(_))));
    assert!(matches!(load(&["--=x"]), Err(ConfigError::BadFlagSyntax(_))));
    // Booleans take their value only after '='.
    let err = load(&["--pre-vote", "false"]).unwrap_err();
    assert_eq!(err.to_string(), "\"false\" is not a valid flag");
    assert!(matches!(load(&["serve"]), Err(ConfigError::UnexpectedArgument(a)) if a == "serve"));
    assert!(matches!(load(&["--", "x"]), Err(ConfigError::UnexpectedArgument(a)) if a == "x"));
    assert_eq!(load(&["--name", "a", "--"]).unwrap().name, "a");
    // A value may start with '-' and the last occurrence wins.
    assert_eq!(load(&["--name", "-x-", "--name=b"]).unwrap().name, "b");
    // etcd still accepts (and ignores) its etcd 2 flags.
    let cfg = load(&["--v", "--peer-heartbeat-interval=5"]).unwrap();
    assert!(has_notice(&cfg, NoticeLevel::Warn, "no longer supported - ignoring: --v"));
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
    assert_eq!(err.to_string(), "invalid value \"abc\" for --heartbeat-interval: expected a non-negative integer");
    assert!(matches!(load(&["--max-concurrent-streams=4294967296"]), Err(ConfigError::InvalidValue { .. })));
    assert!(matches!(load(&["--snapshot-count=-1"]), Err(ConfigError::InvalidValue { .. })));

    let err = Config::from_yaml_str("heartbeat-interval: abc\n", "/etc/etcd/conf.yml").unwrap_err();
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
    assert!(err.to_string().contains("URL address does not have the form \"host:port\": http://10.0.0.1"));
    let err = load(&["--initial-advertise-peer-urls", "http://10.0.0.1:2380/x"]).unwrap_err();
    assert!(err.to_string().contains("URL must not contain a path"));
    let err = Config::from_yaml_str("listen-peer-urls: ftp://a:1\n", "c.yml").unwrap_err();
    assert!(matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "listen-peer-urls"));

    // Listen URLs must name an IP (or localhost).
    let err = load(&[
        "--listen-client-urls",
        "http://example.com:2379",
        "--advertise-client-urls",
        "http://example.com:2379",
    ])
    .unwrap_err();
    assert_eq!(err.to_string(), "expected IP in URL for binding (http://example.com:2379)");
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
    assert_eq!(u.bind_addr().unwrap().unwrap(), "[::1]:2379".parse().unwrap());
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
    assert_eq!(cfg.listen_client_urls, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
}

#[test]
fn bad_state_is_an_error() {
    let err = load(&["--initial-cluster-state", "maybe"]).unwrap_err();
    assert_eq!(err.to_string(), "invalid value \"maybe\" for --initial-cluster-state: must be \"new\" or \"existing\"");
    let err = Config::from_yaml_str("initial-cluster-state: maybe\n", "c.yml").unwrap_err();
    assert!(matches!(err, ConfigError::InvalidValue { ref key, .. } if key == "initial-cluster-state"));
}

#[test]
fn unknown_yaml_key_is_an_error() {
    let err = Config::from_yaml_str("name: a\nfoo: 1\n", "/etc/etcd/conf.yml").unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "foo"));
    assert_eq!(err.to_string(), "unknown key \"foo\" in /etc/etcd/conf.yml");
    let err = Config::from_yaml_str("client-transport-security:\n  bogus: 1\n", "c.yml").unwrap_err();
    assert_eq!(err.to_string(), "unknown key \"client-transport-security.bogus\" in c.yml");
    let file = TempFile::new("foo: 1\n");
    let err = load(&["--config-file", file.path()]).unwrap_err();
    assert_eq!(err.to_string(), format!("unknown key \"foo\" in {}", file.path()));
}

#[test]
fn config_file_errors() {
    let err = load(&["--config-file", "/nonexistent/capstan.yml"]).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert!(matches!(Config::from_yaml_str("name: [a\n", "c.yml"), Err(ConfigError::ParseFile { .. })));
    assert!(matches!(Config::from_yaml_str("- a\n", "c.yml"), Err(ConfigError::ParseFile { .. })));
    assert!(matches!(Config::from_yaml_str("name: [a, b]\n", "c.yml"), Err(ConfigError::InvalidValue { .. })));
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
    let cfg = parse_yaml(yaml, "c.yml").unwrap();
    assert!(unsupported(Config::from_yaml_str(yaml, "c.yml")).contains("not supported yet by Capstan"));
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
    let err =
        Config::from_yaml_str("cert-file: /a\nclient-transport-security:\n  cert-file: /b\n", "c.yml").unwrap_err();
    assert!(matches!(err, ConfigError::ConflictingKeys { .. }));
    assert!(Config::from_yaml_str("cert-file: /a\nclient-transport-security:\n  cert-file: /a\n", "c.yml").is_ok());
}
