//! Loading: command line, environment and config file, then etcd's post-processing.

use super::*;

/// Where a value came from, for error messages and notices.
pub(super) enum Source<'a> {
    Flag,
    Env(&'a str),
    File { path: &'a str, key: &'a str },
}

/// The command line, split into flags.
pub(super) struct CommandLine {
    /// Flag settings in command-line order.
    pub(super) sets: Vec<(&'static Flag, String)>,
    /// Value of `--version`, if given.
    pub(super) version: bool,
}

impl Config {
    /// Loads the configuration of this process: `std::env::args()`, the
    /// process environment (warning about unknown `ETCD_*` variables, as etcd
    /// does) and the config file if one is named. The result is validated.
    ///
    /// `--help`/`--version` come back as [`LoadOutcome::Exit`] with the text
    /// to print on stdout before exiting 0.
    pub fn load() -> Result<LoadOutcome, ConfigError> {
        let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut cfg = match Config::from_args_env(args, |key| std::env::var(key).ok()) {
            Ok(cfg) => cfg,
            Err(ConfigError::Help(text) | ConfigError::Version(text)) => {
                return Ok(LoadOutcome::Exit(text.trim_end().to_string()));
            }
            Err(e) => return Err(e),
        };
        if cfg.config_file.is_none() {
            let names = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned());
            for name in unrecognized_env_vars(names) {
                cfg.warn(format!("unrecognized environment variable {name}"));
            }
        }
        Ok(LoadOutcome::Run(Box::new(cfg)))
    }

    /// Loads from explicit arguments and an environment lookup, so tests need
    /// not touch the process environment.
    ///
    /// `args` includes the program name first, like `std::env::args()`.
    /// `env` returns a variable's value (empty values count as unset, as in etcd).
    /// Returns [`ConfigError::Help`]/[`ConfigError::Version`] for `--help`/`--version`.
    /// The returned configuration has passed [`Config::validate`].
    pub fn from_args_env<I, E>(args: I, env: E) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = String>,
        E: Fn(&str) -> Option<String>,
    {
        let cfg = Config::from_sources(args, env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`Config::from_args_env`] without the final [`Config::validate`]
    /// (unit tests check parsing of flags that validation would refuse).
    pub(super) fn from_sources<I, E>(args: I, env: E) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = String>,
        E: Fn(&str) -> Option<String>,
    {
        let args: Vec<String> = args.into_iter().skip(1).collect();
        let env = |key: &str| env(key).filter(|v| !v.is_empty());
        let cmdline = parse_command_line(&args)?;
        // Like Go's flag package, every command-line value is checked while
        // parsing, before --version or --config-file are looked at.
        let mut from_flags = Config::table_defaults();
        for (flag, value) in &cmdline.sets {
            from_flags.apply(flag, value, Source::Flag)?;
        }

        if cmdline.version {
            let emulated = if from_flags.is_explicitly_set("emulated-etcd-version") {
                from_flags.emulated_etcd_version.clone()
            } else {
                env(&env_var_name("emulated-etcd-version")).unwrap_or_else(|| DEFAULT_EMULATED_ETCD_VERSION.to_string())
            };
            return Err(ConfigError::Version(version_text(&emulated)));
        }

        // The config file is decided first: if there is one, the other flags
        // and the environment are not used at all.
        let file =
            from_flags.config_file.as_ref().map(|p| p.to_string_lossy().into_owned()).or_else(|| env(CONFIG_FILE_ENV));

        let mut cfg = match file {
            Some(_) => Config::table_defaults(),
            None => from_flags,
        };
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
                cfg.apply_yaml(&text, &path)?;
                cfg.config_file = Some(PathBuf::from(&path));
                cfg.info(format!(
                    "loaded server configuration from {path}, other configuration command line flags and environment variables will be ignored if provided"
                ));
                let ignored_flags: Vec<String> = cmdline
                    .sets
                    .iter()
                    .filter(|(f, _)| f.name != "config-file")
                    .map(|(f, _)| format!("--{}", f.name))
                    .collect();
                if !ignored_flags.is_empty() {
                    cfg.warn(format!(
                        "ignoring command-line flags because a config file is used: {}",
                        ignored_flags.join(", ")
                    ));
                }
                let ignored_env: Vec<String> = FLAGS
                    .iter()
                    .filter(|f| f.scope == Scope::All)
                    .map(|f| env_var_name(f.name))
                    .filter(|k| env(k).is_some())
                    .collect();
                if !ignored_env.is_empty() {
                    cfg.warn(format!(
                        "ignoring environment variables because a config file is used: {}",
                        ignored_env.join(", ")
                    ));
                }
                cfg.finish(true)?;
            }
            None => {
                if let Some(v) = env("ETCD_VERSION") {
                    cfg.warn(format!(
                        "cannot set special environment variable ETCD_VERSION (value {v:?}); ignoring it"
                    ));
                }
                let mut names: Vec<&'static Flag> = FLAGS.iter().filter(|f| f.scope == Scope::All).collect();
                names.sort_by_key(|f| f.name);
                for flag in names {
                    let key = env_var_name(flag.name);
                    let Some(value) = env(&key) else { continue };
                    if cmdline.sets.iter().any(|(f, _)| f.name == flag.name) {
                        cfg.warn(format!(
                            "environment variable {key} is shadowed by the command-line flag --{} (etcd refuses to start in this case; unset one of them)",
                            flag.name
                        ));
                        continue;
                    }
                    cfg.apply(flag, &value, Source::Env(&key))?;
                    let shown = if flag.name.contains("password") { "<redacted>" } else { value.as_str() };
                    cfg.info(format!("recognized and used environment variable {key}={shown}"));
                }
                cfg.finish(false)?;
            }
        }
        Ok(cfg)
    }

    /// Loads a configuration from YAML text in etcd's config-file format
    /// (`origin` names the file in messages). The result is validated.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg = Config::from_yaml_source(text, origin)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`Config::from_yaml_str`] without the final [`Config::validate`].
    pub(super) fn from_yaml_source(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg = Config::table_defaults();
        cfg.apply_yaml(text, origin)?;
        cfg.config_file = Some(PathBuf::from(origin));
        cfg.finish(true)?;
        Ok(cfg)
    }

    /// Whether a flag was given explicitly (command line, environment or file).
    pub fn is_explicitly_set(&self, flag: &str) -> bool {
        self.explicit.contains_key(flag)
    }

    /// Emits the collected [`Config::notices`] through `tracing`; call once the
    /// subscriber is installed.
    pub fn log_notices(&self) {
        for n in &self.notices {
            match n.level {
                NoticeLevel::Info => tracing::info!(target: "capstan::config", "{}", n.message),
                NoticeLevel::Warn => tracing::warn!(target: "capstan::config", "{}", n.message),
            }
        }
    }

    /// All flags at their table defaults, nothing derived yet.
    pub(super) fn table_defaults() -> Config {
        let mut cfg = Config::blank();
        // An empty default is the blank value already (and etcd refuses an
        // explicit empty URL list, so it must not go through the setter).
        for flag in FLAGS.iter().filter(|f| f.ty != Ty::Ignored && !f.default.is_empty()) {
            if let Err(e) = (flag.set)(&mut cfg, flag.default) {
                unreachable!("default {:?} of --{} does not parse: {e}", flag.default, flag.name);
            }
        }
        cfg
    }

    pub(super) fn info(&mut self, message: String) {
        self.notices.push(Notice { level: NoticeLevel::Info, message });
    }

    pub(super) fn warn(&mut self, message: String) {
        self.notices.push(Notice { level: NoticeLevel::Warn, message });
    }

    /// Stores one value through its flag's setter.
    pub(super) fn apply(&mut self, flag: &Flag, value: &str, source: Source<'_>) -> Result<(), ConfigError> {
        if flag.ty == Ty::Ignored {
            self.warn(format!("flag is no longer supported - ignoring: --{}", flag.name));
            return Ok(());
        }
        (flag.set)(self, value).map_err(|reason| {
            let (key, origin) = match source {
                Source::Flag => (format!("--{}", flag.name), String::new()),
                Source::Env(k) => (k.to_string(), String::new()),
                Source::File { path, key } => (key.to_string(), format!(" in {path}")),
            };
            ConfigError::InvalidValue { key, value: value.to_string(), origin, reason }
        })?;
        self.explicit.insert(flag.name.to_string(), value.to_string());
        Ok(())
    }

    /// etcd's post-processing after the sources are read: defaults derived
    /// from other values, deprecated-flag migration and feature gates.
    pub(super) fn finish(&mut self, from_file: bool) -> Result<(), ConfigError> {
        if !from_file {
            for (flag, value) in
                [("raft-read-timeout", self.raft_read_timeout), ("raft-write-timeout", self.raft_write_timeout)]
            {
                if value < MIN_RAFT_CONN_TIMEOUT {
                    self.info(format!("{flag} increased to minimum value: 5s"));
                }
            }
            // etcd drops the default advertise URL when only the listen URL is
            // given, so that validation asks for an explicit one.
            if self.is_explicitly_set("listen-client-urls") && !self.is_explicitly_set("advertise-client-urls") {
                self.advertise_client_urls.clear();
            }
            if self.discovery_fallback == DiscoveryFallback::Proxy {
                return Err(ConfigError::Invalid(
                    "v2 proxy is deprecated, and --discovery-fallback can't be configured as \"proxy\"".to_string(),
                ));
            }
        }
        self.raft_read_timeout = self.raft_read_timeout.max(MIN_RAFT_CONN_TIMEOUT);
        self.raft_write_timeout = self.raft_write_timeout.max(MIN_RAFT_CONN_TIMEOUT);

        for (old, _, copy) in EXPERIMENTAL_MIGRATIONS {
            if self.is_explicitly_set(old) {
                copy(self);
            }
        }
        for (old, gate) in EXPERIMENTAL_GATE_FLAGS {
            if !self.is_explicitly_set(old) {
                continue;
            }
            let value = self.experimental_gate_flag(old);
            if self.feature_gates.contains_key(*gate) {
                let current = self.feature_enabled(gate);
                return Err(ConfigError::Invalid(format!(
                    "cannot specify both flags: --{old}={value} and --feature-gates={gate}={current} at the same time, please just use --feature-gates={gate}={current}"
                )));
            }
            self.feature_gates.insert(gate.to_string(), value);
        }

        if self.v2_deprecation != V2Deprecation::WriteOnlySkipCheck {
            self.v2_deprecation = V2Deprecation::WriteOnly;
        }

        let new = self.warning_unary_request_duration;
        let old = self.experimental_warning_unary_request_duration;
        if !new.is_zero() && !old.is_zero() {
            return Err(ConfigError::Invalid(
                "both --experimental-warning-unary-request-duration and --warning-unary-request-duration flags are set. Use only --warning-unary-request-duration".to_string(),
            ));
        }
        if new.is_zero() {
            if old.is_zero() {
                self.warning_unary_request_duration = DEFAULT_WARNING_UNARY_REQUEST_DURATION;
            } else {
                self.warning_unary_request_duration = old;
                self.warn("--experimental-warning-unary-request-duration is deprecated, and will be decommissioned in v3.7. Use --warning-unary-request-duration instead.".to_string());
            }
        }

        if self.data_dir.as_os_str().is_empty() {
            self.warn(format!("'data-dir' was empty; using default {}.etcd", self.name));
        }
        self.derive_defaults();

        if self.self_signed_cert_validity == 0 {
            self.self_signed_cert_validity = 1;
        }
        if self.auto_compaction_retention.is_empty() {
            self.auto_compaction_retention = "0".to_string();
        }
        if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&self.bcrypt_cost) {
            self.warn(format!(
                "use default bcrypt cost instead of the invalid given cost {} (must be {BCRYPT_MIN_COST} to {BCRYPT_MAX_COST})",
                self.bcrypt_cost
            ));
            self.bcrypt_cost = BCRYPT_DEFAULT_COST;
        }
        if self.quota_backend_bytes > 0 && self.quota_backend_bytes as u64 > MAX_RECOMMENDED_QUOTA_BACKEND_BYTES {
            self.warn(format!(
                "quota-backend-bytes {} exceeds the recommended maximum of {MAX_RECOMMENDED_QUOTA_BACKEND_BYTES} bytes",
                self.quota_backend_bytes
            ));
        }
        for (flag, message) in DEPRECATED_FLAGS {
            if self.is_explicitly_set(flag) {
                self.warn(message.to_string());
            }
        }
        if self.name == DEFAULT_NAME {
            self.warn("it isn't recommended to use default name, please set a value for --name. Note that etcd might run into issue when multiple members have the same default name".to_string());
        }
        self.support_notices();
        Ok(())
    }

    /// Defaults that depend on other values: the data dir (`<name>.etcd`) and
    /// the initial cluster (`<name>=<advertised peer URL>,...`).
    pub(super) fn derive_defaults(&mut self) {
        if self.data_dir.as_os_str().is_empty() {
            self.data_dir = PathBuf::from(format!("{}.etcd", self.name));
        }
        let discovery =
            self.discovery.is_some() || self.discovery_srv.is_some() || !self.discovery_endpoints.is_empty();
        if !self.is_explicitly_set("initial-cluster") {
            if discovery {
                self.initial_cluster.clear();
            } else {
                self.initial_cluster = self.initial_cluster_from_name();
            }
        } else if self.initial_cluster == DEFAULT_INITIAL_CLUSTER && self.name != DEFAULT_NAME {
            // etcd rewrites the untouched default for a renamed member.
            self.initial_cluster = self.initial_cluster_from_name();
        }
    }

    pub(super) fn initial_cluster_from_name(&self) -> String {
        let name = if self.name.is_empty() { DEFAULT_NAME } else { &self.name };
        self.initial_advertise_peer_urls.iter().map(|u| format!("{name}={u}")).collect::<Vec<_>>().join(",")
    }

    pub(super) fn experimental_gate_flag(&self, flag: &str) -> bool {
        match flag {
            "experimental-stop-grpc-service-on-defrag" => self.experimental_stop_grpc_service_on_defrag,
            "experimental-initial-corrupt-check" => self.experimental_initial_corrupt_check,
            "experimental-compact-hash-check-enabled" => self.experimental_compact_hash_check_enabled,
            "experimental-txn-mode-write-with-shared-buffer" => self.experimental_txn_mode_write_with_shared_buffer,
            "experimental-enable-lease-checkpoint" => self.experimental_enable_lease_checkpoint,
            "experimental-enable-lease-checkpoint-persist" => self.experimental_enable_lease_checkpoint_persist,
            _ => false,
        }
    }
}
