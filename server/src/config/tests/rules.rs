//! Values, validation, help, compatibility rules.

use super::*;

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
    let cfg = parse_yaml(yaml, "c.yml").unwrap();
    assert_eq!(cfg.grpc_keepalive_min_time, Duration::from_secs(10));
    assert_eq!(cfg.grpc_keepalive_timeout, Duration::from_secs(30));
    assert_eq!(cfg.snapshot_catchup_entries, 100);
    assert_eq!(cfg.auto_compaction().unwrap(), AutoCompaction::Periodic(Duration::from_secs(300)));
    assert_eq!(cfg.name, "123");
    assert_eq!(cfg.initial_cluster, "123=http://localhost:2380");
    assert_eq!(cfg.log_outputs, ["stdout"]);
    assert!(parse_yaml("grpc-keepalive-min-time: 1.5\n", "c.yml").is_err());
}

#[test]
fn help_lists_every_flag_by_group() {
    for flags in [&["--help"][..], &["-h"], &["-help"], &["--name", "x", "--help"]] {
        let err = parse(flags).unwrap_err();
        assert!(err.is_informational());
        assert_eq!(err.exit_code(), 0);
        let ConfigError::Help(text) = err else { panic!("expected help") };
        for heading in ["Member:", "Clustering:", "Security:", "Auth:", "Logging:", "Capstan:"] {
            assert!(text.contains(heading), "missing {heading}");
        }
        assert!(text.contains("  --name 'default'\n    Human-readable name for this member."));
        assert!(text.contains("--data-dir '${name}.etcd'"));
        assert!(text.contains("--initial-cluster 'default=http://localhost:2380'"));
        assert!(text.contains("--emulated-etcd-version '3.6.6'"));
        assert!(text.contains("TxnModeWriteWithSharedBuffer=true|false (BETA - default=true)"));
        for flag in FLAGS.iter().filter(|f| f.group != Group::Hidden) {
            assert!(text.contains(&format!("  --{} '", flag.name)), "--{} missing from help", flag.name);
            assert!(!flag.help.is_empty(), "--{} has no help", flag.name);
        }
    }
}

#[test]
fn version_prints_emulated_version() {
    let err = parse(&["--version"]).unwrap_err();
    assert_eq!(err.exit_code(), 0);
    let ConfigError::Version(text) = err else { panic!("expected version") };
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "etcd Version: 3.6.6", "etcd's first line, which tools parse");
    assert!(lines[1].starts_with("Git SHA: "));
    assert!(lines[2].starts_with("Go Version: "));
    assert!(lines[3].starts_with(&format!("Go OS/Arch: {}/", std::env::consts::OS)));
    assert_eq!(lines[4], format!("capstan Version: {}", env!("CARGO_PKG_VERSION")));
    assert!(lines[5].starts_with("Rust Version: "));

    let err = parse(&["--emulated-etcd-version=3.5.21", "--version"]).unwrap_err();
    assert!(err.to_string().contains("etcd Version: 3.5.21"));
    let err = parse_env(&["-version"], &[("ETCD_EMULATED_ETCD_VERSION", "3.4.0")]).unwrap_err();
    assert!(err.to_string().contains("etcd Version: 3.4.0"));
    // --version=false runs normally.
    assert!(parse(&["--version=false"]).is_ok());
    assert!(matches!(parse(&["--emulated-etcd-version", "three"]), Err(ConfigError::InvalidValue { .. })));
}

#[test]
fn initial_cluster_default_derivation() {
    let cfg = parse(&["--name", "infra1"]).unwrap();
    assert_eq!(cfg.initial_cluster, "infra1=http://localhost:2380");
    assert_eq!(cfg.data_dir, PathBuf::from("infra1.etcd"));

    let cfg = parse(&[
        "--name",
        "infra1",
        "--initial-advertise-peer-urls",
        "http://10.0.0.2:2380,http://10.0.0.1:2380",
        "--listen-peer-urls",
        "http://0.0.0.0:2380",
    ])
    .unwrap();
    assert_eq!(cfg.initial_cluster, "infra1=http://10.0.0.1:2380,infra1=http://10.0.0.2:2380");
    assert_eq!(
        cfg.initial_cluster_members().unwrap(),
        vec![("infra1".to_string(), vec!["http://10.0.0.1:2380".to_string(), "http://10.0.0.2:2380".to_string()])]
    );

    // With the default name but other peer URLs.
    let cfg = parse(&["--initial-advertise-peer-urls", "http://10.0.0.9:2380"]).unwrap();
    assert_eq!(cfg.initial_cluster, "default=http://10.0.0.9:2380");

    // etcd rewrites an explicit but untouched default for a renamed member.
    let cfg = parse(&["--name", "x", "--initial-cluster", DEFAULT_INITIAL_CLUSTER]).unwrap();
    assert_eq!(cfg.initial_cluster, "x=http://localhost:2380");

    // An explicit value is kept.
    let cfg = parse(&["--name", "a", "--initial-cluster", "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380"]).unwrap();
    assert_eq!(cfg.initial_cluster, "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380");

    // Discovery replaces the static initial cluster.
    let cfg = parse(&["--discovery-srv", "example.com"]).unwrap();
    assert_eq!(cfg.initial_cluster, "");
    let err =
        parse(&["--discovery-srv", "example.com", "--initial-cluster", "default=http://localhost:2380"]).unwrap_err();
    assert!(matches!(err, ConfigError::ConflictBootstrapFlags));

    // The same derivation from a config file.
    let cfg = parse_yaml("name: y\n", "c.yml").unwrap();
    assert_eq!(cfg.initial_cluster, "y=http://localhost:2380");
}

#[test]
fn validation_mirrors_etcd() {
    let err = parse(&["--heartbeat-interval", "300"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]"
    );
    let err = parse(&["--election-timeout", "60000"]).unwrap_err();
    assert_eq!(err.to_string(), "--election-timeout[60000ms] is too long, and should be set less than 50000ms");
    assert!(parse(&["--heartbeat-interval", "0"]).unwrap_err().to_string().contains("--heartbeat-interval must be >0"));

    let err = parse(&["--name", "x", "--initial-cluster", "a=http://127.0.0.1:2380"]).unwrap_err();
    assert!(matches!(&err, ConfigError::LocalMemberMissing { name } if name == "x"));
    assert_eq!(err.to_string(), "couldn't find local name \"x\" in the initial cluster configuration");
    // Joining an existing cluster is checked at bootstrap, not here.
    assert!(
        parse(&["--name", "x", "--initial-cluster", "a=http://127.0.0.1:2380", "--initial-cluster-state=existing"])
            .is_ok()
    );

    let err = parse(&["--initial-cluster", "default=http://127.0.0.1:2380,b=http://127.0.0.1:2380"]).unwrap_err();
    assert!(err.to_string().contains("has duplicate url"));
    // An emptied initial cluster cannot bootstrap this member.
    let err = parse(&["--initial-cluster", ""]).unwrap_err();
    assert!(matches!(err, ConfigError::LocalMemberMissing { .. }));
    let err = parse_yaml("initial-cluster: ''\n", "c.yml").unwrap_err();
    assert!(matches!(err, ConfigError::LocalMemberMissing { .. }));
    // CORS origins: '*' or URLs; an empty file value keeps the default.
    assert_eq!(parse_yaml("cors: ''\n", "c.yml").unwrap().cors, ["*"]);
    assert_eq!(
        parse(&["--cors", "http://a.example:80,http://b.example:80"]).unwrap().cors,
        ["http://a.example:80", "http://b.example:80"]
    );

    let err = parse(&["--listen-client-urls", "http://127.0.0.1:2379"]).unwrap_err();
    assert!(matches!(err, ConfigError::UnsetAdvertiseClientUrls));
    let err = parse_env(&[], &[("ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379")]).unwrap_err();
    assert!(matches!(err, ConfigError::UnsetAdvertiseClientUrls));
    // A config file keeps the default advertise URL, as etcd does.
    let cfg = parse_yaml("listen-client-urls: http://127.0.0.1:2379\n", "c.yml").unwrap();
    assert_eq!(cfg.advertise_client_urls, [DEFAULT_CLIENT_URL]);

    let err = parse(&["--discovery-token", "t"]).unwrap_err();
    assert_eq!(err.to_string(), "both --discovery-token and --discovery-endpoints must be set");
    assert!(parse(&["--discovery-token", "t", "--discovery-endpoints", "http://127.0.0.1:2379"]).is_ok());
    let err = parse(&["--discovery-fallback", "proxy"]).unwrap_err();
    assert!(err.to_string().contains("--discovery-fallback can't be configured as \"proxy\""));
    assert!(parse(&["--max-txn-ops", "0"]).is_err());
    assert!(parse(&["--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"]).is_err());
    assert!(parse(&["--tls-min-version", "TLS1.3", "--cipher-suites", "X"]).is_err());
    assert!(parse(&["--tls-min-version", "SSL3"]).is_err());
    assert!(parse(&["--log-outputs", "default,stderr"]).is_err());
    assert!(parse(&["--enable-log-rotation"]).is_err());
    let cfg = parse(&["--enable-log-rotation", "--log-outputs", "/var/log/capstan.log"]).unwrap();
    assert_eq!(cfg.log_rotation().unwrap().max_size_mb, 100);
    assert!(parse(&["--logger", "capnslog"]).unwrap_err().to_string().contains("--logger=capnslog is removed in v3.5"));
    assert!(parse(&["--auth-token", "bogus"]).is_err());
    assert_eq!(
        parse(&["--auth-token", "jwt,sign-method=RS256,ttl=10m"]).unwrap().auth_token_spec().unwrap(),
        AuthTokenSpec::Jwt(BTreeMap::from([
            ("sign-method".to_string(), "RS256".to_string()),
            ("ttl".to_string(), "10m".to_string()),
        ]))
    );
    assert!(parse(&["--enable-distributed-tracing", "--distributed-tracing-sampling-rate", "2000000"]).is_err());
}

#[test]
fn experimental_flags_migrate() {
    let cfg = parse(&["--experimental-compact-hash-check-time", "2m", "--experimental-memory-mlock"]).unwrap();
    assert_eq!(cfg.compact_hash_check_time, Duration::from_secs(120));
    assert!(cfg.memory_mlock);
    assert!(has_notice(&cfg, NoticeLevel::Warn, "--experimental-compact-hash-check-time is deprecated"));

    let err = parse(&["--experimental-compact-hash-check-time", "2m", "--compact-hash-check-time", "3m"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot set --experimental-compact-hash-check-time and --compact-hash-check-time at the same time, please use --compact-hash-check-time only"
    );

    let cfg = parse(&["--experimental-warning-unary-request-duration", "1s"]).unwrap();
    assert_eq!(cfg.warning_unary_request_duration, Duration::from_secs(1));
    assert!(
        parse(&["--experimental-warning-unary-request-duration", "1s", "--warning-unary-request-duration", "2s"])
            .is_err()
    );

    let cfg = parse(&["--experimental-initial-corrupt-check=true"]).unwrap();
    assert!(cfg.feature_enabled("InitialCorruptCheck"));
}

#[test]
fn feature_gates() {
    let cfg =
        parse(&["--feature-gates=LeaseCheckpoint=true", "--feature-gates", "LeaseCheckpointPersist=true"]).unwrap();
    assert!(cfg.feature_enabled("LeaseCheckpoint"));
    assert!(cfg.feature_enabled("LeaseCheckpointPersist"));

    let err = parse(&["--feature-gates", "LeaseCheckpointPersist=true"]).unwrap_err();
    assert!(err.to_string().contains("requires enabling feature gate LeaseCheckpoint"));

    let err = parse(&["--feature-gates", "Bogus=true"]).unwrap_err();
    assert!(err.to_string().contains("unrecognized feature gate: Bogus"));
    assert!(parse(&["--feature-gates", "CompactHashCheck"]).unwrap_err().to_string().contains("missing bool value"));

    let err =
        parse(&["--experimental-enable-lease-checkpoint", "--feature-gates", "LeaseCheckpoint=false"]).unwrap_err();
    assert!(err.to_string().starts_with("cannot specify both flags: --experimental-enable-lease-checkpoint=true"));

    let cfg = parse(&["--feature-gates", "AllAlpha=true,SetMemberLocalAddr=false"]).unwrap();
    assert!(cfg.feature_enabled("CompactHashCheck"));
    assert!(!cfg.feature_enabled("SetMemberLocalAddr"));
    assert!(cfg.feature_enabled("TxnModeWriteWithSharedBuffer"));
}

#[test]
fn auto_compaction_parsing() {
    let mut cfg = Config::default();
    let cases: &[(CompactionMode, &str, Option<AutoCompaction>)] = &[
        (CompactionMode::Periodic, "0", Some(AutoCompaction::Disabled)),
        (CompactionMode::Periodic, "1", Some(AutoCompaction::Periodic(Duration::from_secs(3600)))),
        (CompactionMode::Periodic, "72", Some(AutoCompaction::Periodic(Duration::from_secs(72 * 3600)))),
        (CompactionMode::Periodic, "5m", Some(AutoCompaction::Periodic(Duration::from_secs(300)))),
        (CompactionMode::Periodic, "1.5h", Some(AutoCompaction::Periodic(Duration::from_secs(5400)))),
        (CompactionMode::Periodic, "abc", None),
        (CompactionMode::Periodic, "-1", None),
        (CompactionMode::Revision, "1000", Some(AutoCompaction::Revision(1000))),
        (CompactionMode::Revision, "0", Some(AutoCompaction::Disabled)),
        (CompactionMode::Revision, "5m", None),
    ];
    for (mode, retention, want) in cases {
        cfg.auto_compaction_mode = *mode;
        cfg.auto_compaction_retention = retention.to_string();
        assert_eq!(cfg.auto_compaction().ok(), *want, "{mode:?} {retention}");
    }
    let err = parse(&["--auto-compaction-retention", "abc"]).unwrap_err();
    assert!(err.to_string().contains("--auto-compaction-retention"));
    assert!(
        parse(&["--auto-compaction-mode", "hourly"])
            .unwrap_err()
            .to_string()
            .contains("unknown auto-compaction-mode \"hourly\"")
    );
}

#[test]
fn go_scalar_parsing() {
    assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
    assert_eq!(parse_go_duration("2h45m"), Ok(Duration::from_secs(2 * 3600 + 45 * 60)));
    assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_go_duration(".5s"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_go_duration("10µs"), Ok(Duration::from_micros(10)));
    assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_go_duration("5"), Err("time: missing unit in duration \"5\"".to_string()));
    assert_eq!(parse_go_duration("5d"), Err("time: unknown unit \"d\" in duration \"5d\"".to_string()));
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
    assert_eq!(cfg.client_listen_addrs().unwrap(), ["127.0.0.1:2379".parse().unwrap()]);
    assert_eq!(cfg.peer_listen_addrs().unwrap(), ["127.0.0.1:2380".parse().unwrap()]);
    assert!(cfg.metrics_listen_addrs().unwrap().is_empty());
    assert!(cfg.is_new_cluster());
    assert_eq!(cfg.min_lease_ttl_seconds(), 2);
    assert_eq!(cfg.request_timeout(), Duration::from_secs(7));
    assert_eq!(cfg.member_dir(), PathBuf::from("default.etcd/member"));
    assert_eq!(cfg.snap_dir(), PathBuf::from("default.etcd/member/snap"));
    assert_eq!(cfg.auth_token_spec().unwrap(), AuthTokenSpec::Simple);
    assert!(cfg.client_tls().is_empty());

    let cfg = parse(&["--heartbeat-interval", "100", "--election-timeout", "500"]).unwrap();
    assert_eq!(cfg.min_lease_ttl_seconds(), 1);
    let cfg = parse(&["--heartbeat-interval", "1000", "--election-timeout", "10000"]).unwrap();
    assert_eq!(cfg.min_lease_ttl_seconds(), 15);

    let cfg = parse(&["--quota-backend-bytes", "-1"]).unwrap();
    assert_eq!(cfg.quota_backend_bytes_effective(), u64::MAX);
    let cfg = parse(&["--quota-backend-bytes", "1024"]).unwrap();
    assert_eq!(cfg.quota_backend_bytes_effective(), 1024);
    let cfg = parse(&["--wal-dir", "/wal"]).unwrap();
    assert_eq!(cfg.wal_dir_effective(), PathBuf::from("/wal"));
    let cfg = parse(&["--raft-read-timeout", "1s"]).unwrap();
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
        assert!(find_flag(old).is_some() && find_flag(new).is_some(), "{old} -> {new}");
    }
    for (flag, gate) in EXPERIMENTAL_GATE_FLAGS {
        assert!(find_flag(flag).is_some(), "{flag}");
        assert!(FEATURE_GATES.iter().any(|(g, _, _, _)| g == gate), "{gate}");
    }
}

/// etcd 3.7 refuses `--v2-deprecation=not-yet` (its v2 store is gone); the
/// other stages are accepted and replaced by the default, as in etcd 3.6+.
#[test]
fn v2_deprecation_not_yet_is_refused_as_in_etcd_3_7() {
    let err = parse(&["--v2-deprecation=not-yet"]).unwrap_err();
    assert!(err.to_string().contains("invalid value \"not-yet\" for --v2-deprecation"), "{err}");
    for stage in ["write-only", "write-only-drop-data", "gone"] {
        let cfg = parse(&["--v2-deprecation", stage]).unwrap();
        assert_eq!(cfg.v2_deprecation, V2Deprecation::WriteOnly, "{stage}");
    }
}
