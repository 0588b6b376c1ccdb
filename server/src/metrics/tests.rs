//! Tests of the registry as a whole: the golden list of families and a
//! fresh member's exposition, the table's invariants, and the behaviour of
//! the labelled and derived series.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::encode::format_value;
use super::grpc::GRPC_CODE_OK;
use super::labelled::HEALTH_CHECKS;
use super::table::Kind;
use super::*;

// ----- golden ------------------------------------------------------------

const GOLDEN: &str = include_str!("golden.txt");

/// What a fresh single-member server reports (as captured from one), with a
/// fixed member id.
fn fresh_snapshot() -> ServerSnapshot {
    ServerSnapshot {
        member_id: 0x8e9e05c52164694d,
        has_leader: true,
        is_leader: true,
        is_learner: false,
        server_version: "3.6.6".into(),
        quota_backend_bytes: 2 << 30,
        db_total_size_bytes: 8192,
        db_in_use_bytes: 8192,
        keys_total: 0,
        current_revision: 1,
        compact_revision: 0,
        applied_index: 2,
        committed_index: Some(2),
        alarms: Vec::new(),
        members: vec![0x8e9e05c52164694d],
        feature_gates: vec![("AllAlpha", "ALPHA", false), ("FastLeaseKeepAlive", "BETA", true)],
        open_read_transactions: 0,
    }
}

/// The golden text: one line per family (name, type, label names, bucket
/// bounds), then the exposition of a fresh registry with fixed server and
/// process values.
fn golden_text() -> String {
    let mut out = String::from("# Every metric family: name, type, labels, buckets (metrics/table.rs)\n");
    for f in FAMILIES {
        out.push_str(&format!("{} {}", f.name, f.kind.as_str()));
        if !f.labels.is_empty() {
            out.push_str(&format!(" labels={}", f.labels.join(",")));
        }
        if let Some(b) = f.buckets {
            let bounds: Vec<String> = b.bounds().iter().map(|v| format_value(*v)).collect();
            out.push_str(&format!(" buckets={}", bounds.join(",")));
        }
        out.push('\n');
    }
    out.push_str("# The exposition of a fresh member (fixed snapshot and process stats)\n");
    let process = process::Stats {
        cpu_seconds: Some(0.25),
        open_fds: Some(30),
        max_fds: Some(1024),
        resident_bytes: Some(50 << 20),
        virtual_bytes: Some(1 << 30),
        virtual_max_bytes: Some(u64::MAX as f64),
        start_time_seconds: 1.7e9,
    };
    let fresh = Metrics::new().render_with(Some(&fresh_snapshot()), &process);
    out.push_str(&fresh);
    // Series that appear only once something happened: their label values
    // (etcd's check names, code names, hex ids) are part of the contract too.
    out.push_str("# Lines added by one event of each labelled kind\n");
    let m = Metrics::new();
    for (kind, name) in HEALTH_CHECKS {
        m.record_health_check(kind, name, name != "non_learner");
    }
    m.client_request(false, Some("3.6"));
    m.client_request(true, None);
    m.peer_sent(0xabc, 10);
    m.peer_receive_failed(0xdef);
    m.observe_request("Put", true, Duration::from_millis(3));
    m.observe_apply("Put", true, Duration::from_micros(250));
    let campaign = GrpcMethod::from_path("/v3electionpb.Election/Campaign").unwrap();
    m.grpc_started(campaign);
    m.grpc_handled(campaign, 14);
    let snapshot = ServerSnapshot { alarms: vec![(0x8e9e05c52164694d, 1), (0x1, 2)], ..fresh_snapshot() };
    let busy = m.render_with(Some(&snapshot), &process);
    let before: std::collections::HashSet<&str> = fresh.lines().collect();
    for line in busy.lines().filter(|l| !before.contains(l)) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Fails when a family is added, renamed, retyped or relabelled, or the
/// exposition of a fresh member changes, without `golden.txt` being updated
/// (`CAPSTAN_UPDATE_GOLDEN=1 cargo test -p capstan --lib metrics::` rewrites it;
/// review the diff: it is what etcd dashboards see).
#[test]
fn golden_families_and_fresh_exposition() {
    let text = golden_text();
    if std::env::var_os("CAPSTAN_UPDATE_GOLDEN").is_some() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics/golden.txt"), &text).unwrap();
        return;
    }
    if text != GOLDEN {
        let first = text.lines().zip(GOLDEN.lines()).position(|(a, b)| a != b);
        let line = first.unwrap_or(text.lines().count().min(GOLDEN.lines().count()));
        panic!(
            "metrics differ from metrics/golden.txt at line {}:\n  now:    {:?}\n  golden: {:?}\n\
             (set CAPSTAN_UPDATE_GOLDEN=1 to rewrite it, then review the diff)",
            line + 1,
            text.lines().nth(line),
            GOLDEN.lines().nth(line)
        );
    }
}

#[test]
fn table_invariants() {
    let mut names = std::collections::HashSet::new();
    for f in FAMILIES {
        assert!(names.insert(f.name), "{} declared twice", f.name);
        assert!(
            f.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !f.name.starts_with(|c: char| c.is_ascii_digit()),
            "{}: not a Prometheus name",
            f.name
        );
        // Go's client prints labels sorted; `le` is the histograms' own.
        assert!(f.labels.windows(2).all(|w| w[0] < w[1]), "{}: labels not sorted", f.name);
        assert!(!f.labels.contains(&"le"), "{}", f.name);
        assert_eq!(f.buckets.is_some(), f.kind == Kind::Histogram, "{}: buckets iff histogram", f.name);
    }
}

// ----- behaviour ---------------------------------------------------------

#[test]
fn leader_changes_count_new_leaders_only() {
    let m = Metrics::new();
    m.observe_leader(None);
    assert_eq!(m.leader_changes.get(), 0);
    m.observe_leader(Some(7));
    m.observe_leader(Some(7));
    assert_eq!(m.leader_changes.get(), 1);
    m.observe_leader(None);
    m.observe_leader(Some(7));
    assert_eq!(m.leader_changes.get(), 2);
    m.observe_leader(Some(9));
    assert_eq!(m.leader_changes.get(), 3);
}

#[test]
fn mvcc_txn_counting_follows_etcd() {
    let m = Metrics::new();
    m.record_mvcc_txn(0, 1, 0, 10);
    assert_eq!((m.put_total.get(), m.txn_total.get()), (1, 0));
    m.record_mvcc_txn(1, 2, 1, 5);
    assert_eq!((m.range_total.get(), m.put_total.get(), m.delete_total.get(), m.txn_total.get()), (1, 3, 1, 1));
    assert_eq!(m.total_put_size_bytes.get(), 15);
}

#[test]
fn pending_proposal_guard() {
    let m = Metrics::new();
    {
        let _a = m.proposal_pending();
        let _b = m.proposal_pending();
        assert_eq!(m.proposals_pending.get(), 2);
    }
    assert_eq!(m.proposals_pending.get(), 0);
}

fn sample_value(text: &str, line_prefix: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(line_prefix)).map(|v| v.trim().to_string())
}

#[test]
fn render_contains_etcd_names() {
    let m = Metrics::new();
    m.put_total.add(3);
    m.observe_wal_fsync(Duration::from_millis(3));
    m.observe_lease_grant(60);
    let snap = ServerSnapshot {
        member_id: 0x8e9e05c52164694d,
        has_leader: true,
        is_leader: true,
        server_version: "3.6.0".into(),
        quota_backend_bytes: 2 << 30,
        db_total_size_bytes: 20480,
        db_in_use_bytes: 16384,
        keys_total: 5,
        current_revision: 9,
        compact_revision: 2,
        applied_index: 12,
        alarms: vec![(0x8e9e05c52164694d, 1)],
        ..Default::default()
    };
    let text = m.render(Some(&snap));
    for name in [
        "etcd_server_has_leader",
        "etcd_server_is_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total",
        "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending",
        "etcd_server_proposals_failed_total",
        "etcd_server_quota_backend_bytes",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_mvcc_db_total_size_in_use_in_bytes",
        "etcd_debugging_mvcc_keys_total",
        "etcd_mvcc_put_total",
        "etcd_mvcc_delete_total",
        "etcd_mvcc_range_total",
        "etcd_mvcc_txn_total",
        "etcd_debugging_mvcc_current_revision",
        "etcd_debugging_mvcc_compact_revision",
        "etcd_disk_wal_fsync_duration_seconds",
        "etcd_disk_backend_commit_duration_seconds",
        "etcd_debugging_lease_granted_total",
        "etcd_debugging_lease_revoked_total",
        "etcd_debugging_lease_renewed_total",
        "etcd_network_client_grpc_received_bytes_total",
        "etcd_network_client_grpc_sent_bytes_total",
        "grpc_server_started_total",
        "grpc_server_handled_total",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "missing {name}");
    }
    assert_eq!(sample_value(&text, "etcd_server_version{server_version=\"3.6.0\"}").as_deref(), Some("1"));
    assert_eq!(sample_value(&text, "etcd_cluster_version{cluster_version=\"3.6\"}").as_deref(), Some("1"));
    assert_eq!(sample_value(&text, "etcd_server_id{server_id=\"8e9e05c52164694d\"}").as_deref(), Some("1"));
    assert_eq!(sample_value(&text, "etcd_server_quota_backend_bytes").as_deref(), Some("2.147483648e+09"));
    assert_eq!(sample_value(&text, "etcd_mvcc_put_total").as_deref(), Some("3"));
    assert_eq!(sample_value(&text, "etcd_debugging_mvcc_current_revision").as_deref(), Some("9"));
    assert_eq!(sample_value(&text, "etcd_server_proposals_committed_total").as_deref(), Some("12"));
    assert_eq!(
        sample_value(&text, "etcd_debugging_server_alarms{alarm_type=\"NOSPACE\",server_id=\"8e9e05c52164694d\"}")
            .as_deref(),
        Some("1")
    );
    assert_eq!(sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"}").as_deref(), Some("0"));
    assert_eq!(sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.004\"}").as_deref(), Some("1"));
    assert_eq!(sample_value(&text, "etcd_disk_wal_fsync_duration_seconds_count").as_deref(), Some("1"));
    assert_eq!(sample_value(&text, "etcd_debugging_lease_ttl_total_bucket{le=\"64\"}").as_deref(), Some("1"));
    // Every family has exactly one HELP and one TYPE line, and samples of a
    // family are contiguous.
    let mut seen = std::collections::HashSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(seen.insert(name.clone()), "duplicate family {name}");
            current = name;
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                .unwrap_or(name);
            assert_eq!(base, current, "sample {line} outside its family");
        }
    }
}

#[test]
fn grpc_preinitialized_and_lazy_methods() {
    let m = Metrics::new();
    let range = GrpcMethod::from_path("/etcdserverpb.KV/Range").unwrap();
    assert_eq!(range.kind(), GrpcType::Unary);
    assert_eq!(GrpcMethod::from_path("/etcdserverpb.Watch/Watch").unwrap().kind(), GrpcType::BidiStream);
    assert!(GrpcMethod::from_path("/nope.Svc/X").is_none());
    m.grpc_started(range);
    m.grpc_msg_received(range, 10);
    m.grpc_msg_sent(range, 20);
    m.grpc_handled(range, GRPC_CODE_OK);
    m.grpc_handled(range, 99); // out of range -> Unknown
    let text = m.render(None);
    let l = "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"";
    assert_eq!(sample_value(&text, &format!("grpc_server_started_total{{{l}}}")).as_deref(), Some("1"));
    assert_eq!(
        sample_value(&text, &format!("grpc_server_handled_total{{grpc_code=\"OK\",{l}}}")).as_deref(),
        Some("1")
    );
    assert_eq!(
        sample_value(&text, &format!("grpc_server_handled_total{{grpc_code=\"Unknown\",{l}}}")).as_deref(),
        Some("1")
    );
    // Pre-initialized: Put shows zero values for every code.
    assert_eq!(
        sample_value(
            &text,
            "grpc_server_handled_total{grpc_code=\"DataLoss\",grpc_method=\"Put\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"}"
        )
        .as_deref(),
        Some("0")
    );
    // Lazy: Election methods only once called.
    assert!(!text.contains("v3electionpb.Election"));
    let campaign = GrpcMethod::from_path("/v3electionpb.Election/Campaign").unwrap();
    m.grpc_started(campaign);
    m.grpc_handled(campaign, 14);
    let text = m.render(None);
    assert!(text.contains(
        "grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"Campaign\",grpc_service=\"v3electionpb.Election\",grpc_type=\"unary\"} 1"
    ));
    assert!(!text.contains("grpc_code=\"OK\",grpc_method=\"Campaign\""));
    assert_eq!(sample_value(&text, "etcd_network_client_grpc_received_bytes_total").as_deref(), Some("10"));
    assert_eq!(sample_value(&text, "etcd_network_client_grpc_sent_bytes_total").as_deref(), Some("20"));
}

#[test]
fn client_requests_bounded() {
    let m = Metrics::new();
    m.client_request(false, Some("3.6"));
    m.client_request(true, Some("3.6"));
    m.client_request(false, None);
    for i in 0..100 {
        m.client_request(false, Some(&format!("9.{i}")));
    }
    assert!(m.state.clients.read().len() <= labelled::MAX_CLIENT_VERSIONS);
    let text = m.render(None);
    assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"unary\"} 1\n"));
    assert!(text.contains("etcd_server_client_requests_total{client_api_version=\"3.6\",type=\"stream\"} 1\n"));
}

#[test]
fn health_check_metrics() {
    let m = Metrics::new();
    m.record_health_check("readyz", "linearizable_read", false);
    m.record_health_check("readyz", "linearizable_read", true);
    m.record_health_check("bogus", "x", true);
    let text = m.render(None);
    assert!(text.contains("etcd_server_healthcheck{name=\"linearizable_read\",type=\"readyz\"} 1\n"));
    assert!(
        text.contains(
            "etcd_server_healthchecks_total{name=\"linearizable_read\",status=\"error\",type=\"readyz\"} 1\n"
        )
    );
    assert!(!text.contains("name=\"serializable_read\""));
}

#[test]
fn peers_render_hex_ids() {
    let m = Metrics::new();
    m.peer_sent(0xabc, 100);
    m.peer_received(0xabc, 7);
    let text = m.render(None);
    assert!(text.contains("etcd_network_peer_sent_bytes_total{To=\"abc\"} 100\n"));
    assert!(text.contains("etcd_network_peer_received_bytes_total{From=\"abc\"} 7\n"));
}

#[cfg(target_os = "linux")]
#[test]
fn process_metrics_on_linux() {
    let text = Metrics::new().render(None);
    for name in ["process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_cpu_seconds_total"] {
        assert!(text.contains(&format!("# TYPE {name} ")), "missing {name}");
    }
    let start: f64 = sample_value(&text, "process_start_time_seconds").unwrap().parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(start > now - 86400.0 * 365.0 && start <= now + 1.0, "{start} vs {now}");
}

/// Each member owns its registry: what one counts, another does not see.
#[test]
fn registries_are_per_member() {
    let (a, b) = (Metrics::new(), Metrics::new());
    a.put_total.inc();
    a.record_health_check("livez", "serializable_read", true);
    a.peer_sent(1, 5);
    assert_eq!((a.put_total.get(), b.put_total.get()), (1, 0));
    let text = b.render(None);
    assert!(
        !text.contains("etcd_server_healthcheck") && !text.contains("etcd_network_peer_sent_bytes_total"),
        "{text}"
    );
}
