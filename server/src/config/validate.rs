//! Whole-configuration checks with etcd 3.6's rules and messages.

use super::*;

impl Config {
    /// Checks the configuration as a whole: etcd 3.6's rules and messages
    /// first (see [`Config::validate_etcd`]), then what Capstan does not
    /// support yet (a refused flag set away from its default, an `https://`
    /// URL, ...), so that a configuration etcd refuses fails as etcd fails.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_etcd()?;
        self.check_support()
    }

    /// etcd 3.6's checks (`embed.Config.Validate` plus the bootstrap checks
    /// that need no disk or network): URLs, timing, bootstrap method,
    /// logging, TLS versions, the initial cluster and whether this member is in it.
    pub(super) fn validate_etcd(&self) -> Result<(), ConfigError> {
        for (old, new, _) in EXPERIMENTAL_MIGRATIONS {
            if self.is_explicitly_set(old) && self.is_explicitly_set(new) {
                return Err(ConfigError::ConflictingFlags { old: old.to_string(), new: new.to_string() });
            }
        }
        self.validate_logging()?;

        for (flag, urls) in [
            ("listen-peer-urls", &self.listen_peer_urls),
            ("listen-client-urls", &self.listen_client_urls),
            ("listen-client-http-urls", &self.listen_client_http_urls),
            ("listen-metrics-urls", &self.listen_metrics_urls),
        ] {
            for parsed in parse_url_list(flag, urls)? {
                if let Some(Err(e)) = parsed.bind_addr() {
                    return Err(e);
                }
            }
        }
        for (flag, urls) in [
            ("initial-advertise-peer-urls", &self.initial_advertise_peer_urls),
            ("advertise-client-urls", &self.advertise_client_urls),
        ] {
            for parsed in parse_url_list(flag, urls)? {
                if parsed.host.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "--{flag} {:?} must be \"host:port\" (unexpected empty host ({}))",
                        urls.join(","),
                        parsed.raw
                    )));
                }
            }
        }

        let methods = [
            self.discovery.is_some(),
            !self.initial_cluster.is_empty(),
            self.discovery_srv.is_some(),
            !self.discovery_endpoints.is_empty(),
        ];
        if methods.iter().filter(|&&b| b).count() > 1 {
            return Err(ConfigError::ConflictBootstrapFlags);
        }
        let v3_discovery = !self.discovery_endpoints.is_empty()
            || self.discovery_token.is_some()
            || self.discovery_cert.is_some()
            || self.discovery_key.is_some()
            || self.discovery_cacert.is_some()
            || self.discovery_user.is_some()
            || self.discovery_password.is_some();
        if self.discovery_proxy.is_some() && v3_discovery {
            return Err(ConfigError::Invalid(
                "both v2 discovery settings (discovery, discovery-proxy) and v3 discovery settings (discovery-token, discovery-endpoints, discovery-cert, discovery-key, discovery-cacert, discovery-user, discovery-password) are set".to_string(),
            ));
        }
        let has_token = self.discovery_token.is_some();
        let has_endpoints = !self.discovery_endpoints.is_empty();
        if has_token != has_endpoints {
            return Err(ConfigError::Invalid(
                "both --discovery-token and --discovery-endpoints must be set".to_string(),
            ));
        }
        if self.discovery_endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err(ConfigError::Invalid("--discovery-endpoints must not contain empty endpoints".to_string()));
        }

        if self.heartbeat_interval_ms == 0 {
            return Err(ConfigError::Invalid(format!(
                "--heartbeat-interval must be >0 (set to {}ms)",
                self.heartbeat_interval_ms
            )));
        }
        if self.election_timeout_ms == 0 {
            return Err(ConfigError::Invalid(format!(
                "--election-timeout must be >0 (set to {}ms)",
                self.election_timeout_ms
            )));
        }
        if self.heartbeat_interval_ms.saturating_mul(5) > self.election_timeout_ms {
            return Err(ConfigError::ElectionTimeoutTooShort {
                election_ms: self.election_timeout_ms,
                heartbeat_ms: self.heartbeat_interval_ms,
            });
        }
        if self.election_timeout_ms > MAX_ELECTION_TIMEOUT_MS {
            return Err(ConfigError::ElectionTimeoutTooLong(self.election_timeout_ms));
        }

        if !self.listen_client_urls.is_empty() && self.advertise_client_urls.is_empty() {
            return Err(ConfigError::UnsetAdvertiseClientUrls);
        }

        self.auto_compaction()?;

        if self.enable_distributed_tracing {
            let rate = self.distributed_tracing_sampling_rate;
            if rate < 0 {
                return Err(ConfigError::Invalid(
                    "distributed tracing configurition is not valid: (tracing sampling rate must be positive)"
                        .to_string(),
                ));
            }
            if rate > MAX_TRACING_SAMPLING_RATE {
                return Err(ConfigError::Invalid(format!(
                    "distributed tracing configurition is not valid: (tracing sampling rate must be less than {MAX_TRACING_SAMPLING_RATE})"
                )));
            }
        }
        if self.feature_enabled("LeaseCheckpointPersist") && !self.feature_enabled("LeaseCheckpoint") {
            return Err(ConfigError::Invalid(
                "enabling feature gate LeaseCheckpointPersist requires enabling feature gate LeaseCheckpoint"
                    .to_string(),
            ));
        }
        for (flag, value) in [
            ("experimental-compact-hash-check-time", self.experimental_compact_hash_check_time),
            ("compact-hash-check-time", self.compact_hash_check_time),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid(format!(
                    "--{flag} must be >0 (set to {})",
                    go_duration_string(value)
                )));
            }
        }

        if let (Some(min), Some(max)) = (self.tls_min_version, self.tls_max_version)
            && min > max
        {
            return Err(ConfigError::Invalid(format!(
                "min version ({}) is greater than max version ({})",
                tls_version_str(Some(min)),
                tls_version_str(Some(max))
            )));
        }
        if self.tls_min_version == Some(TlsVersion::Tls13) && !self.cipher_suites.is_empty() {
            return Err(ConfigError::Invalid(
                "cipher suites cannot be configured when only TLS1.3 is enabled".to_string(),
            ));
        }

        // etcd's bootstrap checks (VerifyBootstrap) that need neither disk nor
        // network: every URL valid, this member listed, no URL used twice. A
        // member joining an existing cluster is checked when it joins.
        let members = parse_initial_cluster(&self.initial_cluster)?;
        let static_bootstrap =
            self.discovery.is_none() && self.discovery_srv.is_none() && self.discovery_endpoints.is_empty();
        if self.initial_cluster_state == ClusterState::New && static_bootstrap {
            if !members.iter().any(|(n, _)| *n == self.name) {
                return Err(ConfigError::LocalMemberMissing { name: self.name.clone() });
            }
            let mut seen = BTreeSet::new();
            let duplicate = members.iter().flat_map(|(_, urls)| urls).any(|u| !seen.insert(u.as_str()));
            if duplicate {
                let mut pairs: Vec<String> =
                    members.iter().flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}"))).collect();
                pairs.sort();
                return Err(ConfigError::Invalid(format!("initial cluster {} has duplicate url", pairs.join(","))));
            }
        }

        if self.max_txn_ops == 0 {
            return Err(ConfigError::Invalid("--max-txn-ops must be >0 (set to 0)".to_string()));
        }
        if self.max_request_bytes == 0 {
            return Err(ConfigError::Invalid("--max-request-bytes must be >0 (set to 0)".to_string()));
        }
        self.auth_token_spec()?;
        parse_semver(&self.emulated_etcd_version).map_err(|reason| ConfigError::InvalidValue {
            key: "--emulated-etcd-version".to_string(),
            value: self.emulated_etcd_version.clone(),
            origin: String::new(),
            reason,
        })?;
        Ok(())
    }

    pub(super) fn validate_logging(&self) -> Result<(), ConfigError> {
        let outputs = &self.log_outputs;
        if outputs.len() > 1 && outputs.iter().any(|o| o == "default") {
            return Err(ConfigError::Invalid("multi logoutput for \"default\" is not supported yet".to_string()));
        }
        if outputs.len() > 1 && outputs.iter().any(|o| o == "systemd/journal") {
            let quoted: Vec<String> = outputs.iter().map(|o| format!("{o:?}")).collect();
            return Err(ConfigError::Invalid(format!(
                "running with systemd/journal but other '--log-outputs' values ([{}]) are configured with 'default'; override 'default' value with something else",
                quoted.join(" ")
            )));
        }
        if self.enable_log_rotation {
            let files = outputs.iter().filter(|o| !matches!(o.as_str(), "default" | "stderr" | "stdout")).count();
            if (outputs.len() == 1 && files == 0) || files > 1 {
                return Err(ConfigError::Invalid(
                    "--log-outputs requires a single file path when --log-rotate-config-json is defined".to_string(),
                ));
            }
            self.log_rotation()?;
        }
        Ok(())
    }
}
