//! Structured logging (tracing), configured from etcd's `--log-level` and
//! `--logger`/`--log-outputs` flags; `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

use crate::config::Config;

pub fn init(config: &Config) {
    let level = config.log_level.tracing_level().as_str().to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},openraft=warn,h2=warn,hyper=warn,tower=warn")));
    // etcd logs JSON to stderr by default; so do we.
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
