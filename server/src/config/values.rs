//! Value parsers: the building blocks of the flag table's setters.

use super::*;

// ---------------------------------------------------------------------------
// Value parsers (the setters' building blocks)
// ---------------------------------------------------------------------------

pub(super) fn p_string(v: &str) -> Result<String, String> {
    Ok(v.to_string())
}

pub(super) fn p_opt_string(v: &str) -> Result<Option<String>, String> {
    Ok((!v.is_empty()).then(|| v.to_string()))
}

pub(super) fn p_path(v: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(v))
}

pub(super) fn p_opt_path(v: &str) -> Result<Option<PathBuf>, String> {
    Ok((!v.is_empty()).then(|| PathBuf::from(v)))
}

pub(super) fn p_bool(v: &str) -> Result<bool, String> {
    parse_go_bool(v)
}

pub(super) fn p_u64(v: &str) -> Result<u64, String> {
    parse_go_uint(v, 64)
}

pub(super) fn p_u32(v: &str) -> Result<u32, String> {
    parse_go_uint(v, 32).map(|n| n as u32)
}

pub(super) fn p_i64(v: &str) -> Result<i64, String> {
    parse_go_int(v)
}

pub(super) fn p_duration(v: &str) -> Result<Duration, String> {
    parse_go_duration(v)
}

/// A URL list (`types.NewURLs`): each URL checked, duplicates dropped, sorted.
pub(super) fn p_urls(v: &str) -> Result<Vec<String>, String> {
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
pub(super) fn p_unique_strings(v: &str) -> Result<Vec<String>, String> {
    let set: BTreeSet<String> = v.split(',').map(str::to_string).collect();
    Ok(set.into_iter().collect())
}

/// Plain comma-separated list; empty items dropped.
pub(super) fn p_list(v: &str) -> Result<Vec<String>, String> {
    Ok(v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
}

/// `--cors`: `*`, or URLs checked like member URLs (as etcd does).
pub(super) fn p_cors(v: &str) -> Result<Vec<String>, String> {
    if v == "*" {
        return Ok(vec!["*".to_string()]);
    }
    p_urls(v)
}

pub(super) fn p_host_whitelist(v: &str) -> Result<Vec<String>, String> {
    let set: BTreeSet<String> = v.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    Ok(set.into_iter().collect())
}

pub(super) fn p_cluster_state(v: &str) -> Result<ClusterState, String> {
    match v {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        _ => Err("must be \"new\" or \"existing\"".to_string()),
    }
}

pub(super) fn p_compaction_mode(v: &str) -> Result<CompactionMode, String> {
    match v {
        "periodic" => Ok(CompactionMode::Periodic),
        "revision" => Ok(CompactionMode::Revision),
        "" => Err("undefined auto-compaction-mode".to_string()),
        other => Err(format!("unknown auto-compaction-mode {other:?}")),
    }
}

pub(super) fn p_v2_deprecation(v: &str) -> Result<V2Deprecation, String> {
    match v {
        "write-only" => Ok(V2Deprecation::WriteOnly),
        "write-only-skip-check" => Ok(V2Deprecation::WriteOnlySkipCheck),
        "write-only-drop-data" => Ok(V2Deprecation::WriteOnlyDropData),
        "gone" => Ok(V2Deprecation::Gone),
        _ => Err("must be one of: write-only, write-only-skip-check, write-only-drop-data, gone".to_string()),
    }
}

pub(super) fn p_discovery_fallback(v: &str) -> Result<DiscoveryFallback, String> {
    match v {
        "exit" => Ok(DiscoveryFallback::Exit),
        "proxy" => Ok(DiscoveryFallback::Proxy),
        _ => Err("must be \"exit\"".to_string()),
    }
}

pub(super) fn p_logger(v: &str) -> Result<Logger, String> {
    match v {
        "zap" => Ok(Logger::Zap),
        "capnslog" => Err("--logger=capnslog is removed in v3.5".to_string()),
        other => Err(format!("unknown logger option {other:?}")),
    }
}

pub(super) fn p_log_level(v: &str) -> Result<LogLevel, String> {
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

pub(super) fn p_log_format(v: &str) -> Result<LogFormat, String> {
    match v {
        "json" | "" => Ok(LogFormat::Json),
        "console" => Ok(LogFormat::Console),
        other => Err(format!("unknown log format: {other}, supported values json, console")),
    }
}

pub(super) fn p_tls_version(v: &str) -> Result<Option<TlsVersion>, String> {
    match v {
        "" => Ok(None),
        "TLS1.2" => Ok(Some(TlsVersion::Tls12)),
        "TLS1.3" => Ok(Some(TlsVersion::Tls13)),
        other => Err(format!("unexpected TLS version {other:?} (must be one of: TLS1.2, TLS1.3)")),
    }
}

pub(super) fn tls_version_str(v: Option<TlsVersion>) -> &'static str {
    match v {
        None => "",
        Some(TlsVersion::Tls12) => "TLS1.2",
        Some(TlsVersion::Tls13) => "TLS1.3",
    }
}

/// `--metrics`: etcd treats any value other than `extensive` as basic; so do we, with a warning.
pub(super) fn set_metrics(c: &mut Config, v: &str) -> Result<(), String> {
    c.metrics = match v {
        "extensive" => MetricsLevel::Extensive,
        "basic" => MetricsLevel::Basic,
        other => {
            c.warn(format!("unknown --metrics value {other:?}; using \"basic\""));
            MetricsLevel::Basic
        }
    };
    Ok(())
}

/// `--feature-gates`: `Gate=bool,...`, merged across repeated flags like etcd's feature gate.
pub(super) fn set_feature_gates(c: &mut Config, v: &str) -> Result<(), String> {
    let mut parsed = Vec::new();
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => return Err(format!("missing bool value for {}", part.trim())),
        };
        let enabled = parse_go_bool(value).map_err(|e| format!("invalid value of {key}={value}, err: {e}"))?;
        if !FEATURE_GATES.iter().any(|(n, _, _, _)| *n == key) {
            return Err(format!("unrecognized feature gate: {key}"));
        }
        parsed.push((key.to_string(), enabled));
    }
    c.feature_gates.extend(parsed);
    Ok(())
}
