//! Support status: refused flags stop start-up, ignored ones warn, defaults
//! are always fine; the seed guide's conf.yml starts; README's table is current.

use super::*;

fn warned(cfg: &Config, needle: &str) -> bool {
    has_notice(cfg, NoticeLevel::Warn, needle)
}

#[test]
fn a_refused_flag_set_away_from_its_default_stops_start_up() {
    assert_eq!(
        unsupported(load(&["--wal-dir", "/wal"])),
        "--wal-dir is not supported yet by Capstan (the Raft log lives in the data dir's RocksDB; a separate WAL directory is not implemented)"
    );
    for args in [
        &["--force-new-cluster"][..],
        &["--host-whitelist", "example.com"],
        &["--cors", "http://a.example:80"],
        &["--listen-client-http-urls", "http://127.0.0.1:2382"],
        &["--max-concurrent-streams", "100"],
        &["--experimental-initial-corrupt-check"],
        &["--corrupt-check-time", "1m"],
        &["--experimental-enable-lease-checkpoint"],
        &["--discovery-srv", "example.com"],
        &["--discovery-proxy", "http://proxy:80"],
    ] {
        let message = unsupported(load(args));
        assert!(message.starts_with(&format!("{} is not supported yet by Capstan", args[0])), "{message}");
    }
    // Whatever the source of the value.
    assert!(unsupported(load_env(&[], &[("ETCD_WAL_DIR", "/wal")])).starts_with("--wal-dir "));
    let file = TempFile::new("force-new-cluster: true\n");
    assert!(unsupported(load(&["--config-file", file.path()])).starts_with("--force-new-cluster "));
    // A refused feature gate, directly or through AllAlpha.
    assert!(unsupported(load(&["--feature-gates=InitialCorruptCheck=true"])).contains("InitialCorruptCheck=true"));
    assert!(unsupported(load(&["--feature-gates=AllAlpha=true"])).starts_with("--feature-gates "));
}

#[test]
fn a_flag_at_its_default_value_is_never_an_error_nor_a_warning() {
    let cfg = load(&[
        "--wal-dir=",
        "--force-new-cluster=false",
        "--auth-token=simple",
        "--cors=*",
        "--host-whitelist=*",
        "--max-concurrent-streams=4294967295",
        "--discovery-insecure-transport=true",
        "--discovery-dial-timeout=2000ms",
        "--max-wals=5",
        "--raft-read-timeout=5s",
        "--corrupt-check-time=0",
        "--feature-gates=TxnModeWriteWithSharedBuffer=true,InitialCorruptCheck=false",
        "--log-outputs=default",
        "--name=m1",
        "--initial-cluster=m1=http://localhost:2380",
    ])
    .unwrap();
    assert!(!cfg.notices.iter().any(|n| n.message.contains("Capstan")), "{:?}", cfg.notices);
}

#[test]
fn an_ignored_flag_away_from_its_default_warns() {
    let cfg = load(&["--max-wals=10", "--backend-batch-interval=10ms", "--enable-pprof"]).unwrap();
    assert!(warned(&cfg, "--max-wals is ignored by Capstan: file retention"));
    assert!(warned(&cfg, "--backend-batch-interval is ignored by Capstan"));
    assert!(warned(&cfg, "--enable-pprof is ignored by Capstan"));
    let cfg = load(&["--feature-gates=StopGRPCServiceOnDefrag=true"]).unwrap();
    assert!(warned(&cfg, "--feature-gates StopGRPCServiceOnDefrag=true is ignored by Capstan"));
}

#[test]
fn tls_urls_are_served_and_unix_peer_urls_refused() {
    let https = load(&[
        "--listen-client-urls",
        "https://127.0.0.1:2379",
        "--advertise-client-urls",
        "https://127.0.0.1:2379",
        "--cert-file=/c.pem",
        "--key-file=/k.pem",
    ]);
    assert!(https.is_ok(), "{https:?}");
    // unix:// and unixs:// client URLs are served; unix:// peer URLs are not.
    let unix =
        load(&["--listen-client-urls", "unix://localhost:2379", "--advertise-client-urls", "unix://localhost:2379"]);
    assert_eq!(unix.unwrap().client_listen_unix_paths().unwrap(), ["localhost:2379"]);
    let unixs =
        load(&["--listen-client-urls", "unixs://localhost:2379", "--advertise-client-urls", "http://127.0.0.1:2379"]);
    assert_eq!(unixs.unwrap().client_listen_unix_paths().unwrap(), ["localhost:2379"]);
    let unix_peer =
        load(&["--listen-peer-urls=unix://localhost:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380"]);
    assert!(unsupported(unix_peer).contains("unix sockets are only supported for client URLs"));
    let peer =
        load(&["--listen-peer-urls=https://127.0.0.1:2380", "--initial-advertise-peer-urls=https://127.0.0.1:2380"]);
    assert!(peer.is_ok(), "{peer:?}");
}

#[test]
fn tls_settings_on_http_urls_warn_like_etcd() {
    let cfg =
        load(&["--cert-file=/c.pem", "--key-file=/k.pem", "--client-cert-auth", "--peer-client-cert-auth"]).unwrap();
    assert!(warned(
        &cfg,
        "scheme is http or unix while key and cert files are present; ignoring key and cert files (client-url: http://localhost:2379)"
    ));
    assert!(warned(
        &cfg,
        "scheme is http or unix while --client-cert-auth is enabled; ignoring client cert auth for this URL"
    ));
    assert!(warned(
        &cfg,
        "scheme is HTTP while --peer-client-cert-auth is enabled; ignoring client cert auth for this URL (peer-url: http://localhost:2380)"
    ));
    assert!(!warned(&cfg, "scheme is HTTP while key and cert files are present"), "no peer cert/key given");
    assert!(!warned(&cfg, "is ignored by Capstan"), "{:?}", cfg.notices);
}

#[test]
fn log_outputs_are_the_standard_streams() {
    assert_eq!(load(&["--log-outputs=stdout"]).unwrap().log_outputs, ["stdout"]);
    assert_eq!(load(&["--log-outputs=stderr,stdout"]).unwrap().log_outputs, ["stderr", "stdout"]);
    assert!(
        unsupported(load(&["--log-outputs=/var/log/capstan.log"])).starts_with("--log-outputs /var/log/capstan.log ")
    );
    assert!(unsupported(load(&["--log-outputs=systemd/journal"])).starts_with("--log-outputs systemd/journal "));
}

#[test]
fn the_seed_guides_flat_tls_keys_are_read_with_warnings() {
    let cfg = Config::from_yaml_str(SEED_CONF, "conf.yml").unwrap();
    assert!(cfg.client_cert_auth && cfg.peer_client_cert_auth);
    assert!(warned(
        &cfg,
        "config file keys cert-file, key-file, trusted-ca-file, client-cert-auth, peer-cert-file, peer-key-file, peer-trusted-ca-file, peer-client-cert-auth in conf.yml are read as the flags of the same name; etcd ignores them at the top level"
    ));
    assert!(warned(
        &cfg,
        "scheme is http or unix while key and cert files are present; ignoring key and cert files (client-url: http://192.168.1.10:2379)"
    ));
    assert!(warned(
        &cfg,
        "scheme is HTTP while key and cert files are present; ignoring key and cert files (peer-url: http://192.168.1.10:2380)"
    ));
    // The nested form is etcd's own: no warning about the keys.
    let nested = "name: etcd0\nclient-transport-security:\n  cert-file: /c.pem\n  key-file: /k.pem\ninitial-cluster: etcd0=http://localhost:2380\n";
    let cfg = Config::from_yaml_str(nested, "conf.yml").unwrap();
    assert!(!warned(&cfg, "read as the flags of the same name"));
    assert!(warned(&cfg, "ignoring key and cert files (client-url: http://localhost:2379)"));
}

#[test]
fn help_shows_the_status_of_each_flag() {
    let help = help_text();
    assert!(help.contains("  --wal-dir '' [not supported yet]\n"), "{help}");
    assert!(help.contains("  --max-wals '5' [ignored]\n"));
    assert!(help.contains("  --listen-peer-urls 'http://localhost:2380' [partly supported]\n"));
    assert!(help.contains("  --listen-client-urls 'http://localhost:2379'\n"));
    assert!(help.contains("  --cert-file ''\n"));
    assert!(help.contains("  --name 'default'\n"));
    assert!(help.contains("InitialCorruptCheck=true|false (ALPHA - default=false) [not supported yet]"));
    assert!(matches!(load(&["--help-flag-status"]), Err(ConfigError::Help(t)) if t == flag_status_table()));
}

#[test]
fn readme_table_matches_the_flag_table() {
    let readme = include_str!("../../../../README.md");
    let table = flag_status_table();
    assert!(
        readme.contains(&table),
        "README.md's flag-status table is out of date: replace it with the output of `capstan --help-flag-status`:\n{table}"
    );
    let (honoured, partial, ignored, refused) = flag_status_counts();
    assert_eq!(honoured + partial + ignored + refused, FLAGS.len());
}
