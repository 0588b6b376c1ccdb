//! Accessors the server uses: derived durations, addresses, TLS and auth settings.

use super::*;

impl Config {
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
        self.wal_dir.clone().unwrap_or_else(|| self.member_dir().join("wal"))
    }

    /// `<data-dir>/member/snap`.
    pub fn snap_dir(&self) -> PathBuf {
        self.member_dir().join("snap")
    }

    /// The parsed auto-compaction policy, read as etcd does: in periodic mode
    /// a plain non-negative integer is hours, otherwise a Go duration
    /// (`30m`, `1h30m`); in revision mode an integer revision count. Zero disables.
    pub fn auto_compaction(&self) -> Result<AutoCompaction, ConfigError> {
        let raw = if self.auto_compaction_retention.is_empty() { "0" } else { &self.auto_compaction_retention };
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: "--auto-compaction-retention".to_string(),
            value: raw.to_string(),
            origin: String::new(),
            reason,
        };
        let hours_or_count = if raw.bytes().all(|b| b.is_ascii_digit()) { raw.parse::<u64>().ok() } else { None };
        match (self.auto_compaction_mode, hours_or_count) {
            (_, Some(0)) => Ok(AutoCompaction::Disabled),
            (CompactionMode::Revision, Some(n)) => Ok(AutoCompaction::Revision(n)),
            (CompactionMode::Revision, None) => {
                Err(invalid("revision mode needs a number of revisions to keep".to_string()))
            }
            (CompactionMode::Periodic, Some(h)) => h
                .checked_mul(3600)
                .map(|s| AutoCompaction::Periodic(Duration::from_secs(s)))
                .ok_or_else(|| invalid("value out of range".to_string())),
            (CompactionMode::Periodic, None) => {
                let d =
                    parse_go_duration(raw).map_err(|e| invalid(format!("error parsing CompactionRetention: {e}")))?;
                Ok(if d.is_zero() { AutoCompaction::Disabled } else { AutoCompaction::Periodic(d) })
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
        let Some((_, default, stage, _)) = FEATURE_GATES.iter().find(|(n, _, _, _)| *n == gate) else {
            return false;
        };
        let all = if *stage == "ALPHA" { "AllAlpha" } else { "AllBeta" };
        self.feature_gates.get(all).copied().unwrap_or(*default)
    }

    /// Every known feature gate with its stage and whether it is on
    /// (etcd_server_feature_enabled), in name order.
    pub fn feature_gate_states(&self) -> Vec<(&'static str, &'static str, bool)> {
        FEATURE_GATES.iter().map(|(name, _, stage, _)| (*name, *stage, self.feature_enabled(name))).collect()
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

    /// Socket files to listen on for the `unix://` and `unixs://` URLs of
    /// `--listen-client-urls` (etcd's path: the URL's authority and path).
    pub fn client_listen_unix_paths(&self) -> Result<Vec<String>, ConfigError> {
        Ok(self
            .listen_client_urls_parsed()?
            .iter()
            .filter(|u| matches!(u.scheme, UrlScheme::Unix | UrlScheme::Unixs))
            .filter_map(|u| u.unix_socket_path().map(str::to_string))
            .collect())
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

    /// `--listen-metrics-urls` parsed.
    pub fn listen_metrics_urls_parsed(&self) -> Result<Vec<ParsedUrl>, ConfigError> {
        parse_url_list("listen-metrics-urls", &self.listen_metrics_urls)
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
            skip_client_san_verify: self.peer_skip_client_san_verification
                || self.experimental_peer_skip_client_san_verification,
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
            if pair.len() != 2 || options.insert(pair[0].to_string(), pair[1].to_string()).is_some() {
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
        let value: Value = serde_yaml::from_str(&self.log_rotation_config_json)
            .map_err(|e| ConfigError::Invalid(format!("improperly formatted log rotation config: {e}")))?;
        let Value::Mapping(map) = value else {
            return Err(ConfigError::Invalid("invalid log rotation config: expected a JSON object".to_string()));
        };
        let mut rot =
            LogRotation { max_size_mb: 0, max_age_days: 0, max_backups: 0, local_time: false, compress: false };
        for (k, v) in &map {
            let key = k.as_str().unwrap_or("");
            let bad = || ConfigError::Invalid(format!("invalid log rotation config: bad value for {key:?}"));
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
}
