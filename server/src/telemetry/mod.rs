//! Structured logging (tracing), configured from etcd's `--log-level`,
//! `--log-format` and `--log-outputs` flags; `RUST_LOG` overrides the level.
//! The JSON format (etcd's default) is etcd's own ([`etcd_json`]).

pub mod clock;
mod etcd_json;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

use crate::config::{Config, LogFormat};

pub fn init(config: &Config) {
    let level = config.log_level.tracing_level().as_str().to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},openraft=warn,h2=warn,hyper=warn,tower=warn")));
    // etcd logs to stderr by default ("default"); the configuration refuses
    // outputs other than default, stderr and stdout.
    let outputs = &config.log_outputs;
    let stdout = outputs.iter().any(|o| o == "stdout");
    let stderr = !stdout || outputs.iter().any(|o| o == "stderr" || o == "default");
    let writer = match (stderr, stdout) {
        (true, true) => BoxMakeWriter::new(std::io::stderr.and(std::io::stdout)),
        (false, true) => BoxMakeWriter::new(std::io::stdout),
        _ => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match config.log_format {
        LogFormat::Json => builder.event_format(etcd_json::EtcdJson).try_init(),
        LogFormat::Console => builder.try_init(),
    };
}
