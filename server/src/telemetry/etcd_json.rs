//! Log lines in etcd's JSON format (zap's production encoder, as etcd
//! configures it), so log pipelines written for etcd keep working:
//!
//! `{"level":"info","ts":"2026-12-03T12:36:17.498185Z","caller":"service/publish.rs:41","msg":"...","key":value,...}`
//!
//! `level` is zap's lower-case name (tracing's TRACE is logged as `debug`,
//! zap has nothing finer), `ts` RFC 3339 UTC with microseconds, `caller` the
//! source file below the crate's `src/` and the line, `msg` the message, then
//! the event's fields, each a top-level key as zap writes them.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The [`FormatEvent`] writing etcd's JSON lines.
pub struct EtcdJson;

impl<S, N> FormatEvent<S, N> for EtcdJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut ts = String::new();
        SystemTime.format_time(&mut Writer::new(&mut ts))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let caller = format!("{}:{}", short_file(meta.file().unwrap_or(meta.target())), meta.line().unwrap_or(0));
        let mut line = String::with_capacity(128 + fields.rest.len());
        write!(
            line,
            "{{\"level\":\"{}\",\"ts\":{},\"caller\":{},\"msg\":{}",
            zap_level(*meta.level()),
            json_str(&ts),
            json_str(&caller),
            json_str(fields.message.as_deref().unwrap_or(""))
        )?;
        line.push_str(&fields.rest);
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// zap's name of a level.
fn zap_level(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// `server/src/service/publish.rs` → `service/publish.rs`, as zap's short
/// caller keeps the last directory and the file.
fn short_file(file: &str) -> &str {
    file.rsplit_once("src/").map_or(file, |(_, rest)| rest)
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The message, and the other fields as `,"key":value` text.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: String,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        let _ = write!(self.rest, ",{}:{value}", json_str(field.name()));
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.push(field, json_str(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.push(field, json_str(&text));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.to_string());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(
            field,
            serde_json::Number::from_f64(value).map_or_else(|| json_str(&value.to_string()), |n| n.to_string()),
        );
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, json_str(&value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_have_etcds_keys_in_etcds_order() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::TRACE)
            .event_format(EtcdJson)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(member = %"8e9e05c52164694d", took_ms = 12u64, ok = true, "slow \"apply\"");
            tracing::trace!("fine");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("{\"level\":\"warn\",\"ts\":\""), "{}", lines[0]);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["msg"], "slow \"apply\"");
        assert_eq!(v["member"], "8e9e05c52164694d");
        assert_eq!(v["took_ms"], 12);
        assert_eq!(v["ok"], true);
        assert!(v["caller"].as_str().unwrap().starts_with("telemetry/etcd_json.rs:"), "{}", v["caller"]);
        let ts = v["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == "2026-12-03T12:36:17.498185Z".len(), "{ts}");
        let keys: Vec<&str> = lines[0].split("\":").map(|s| s.rsplit('"').next().unwrap()).collect();
        assert_eq!(&keys[..4], ["level", "ts", "caller", "msg"]);
        assert!(lines[1].starts_with("{\"level\":\"debug\""), "trace is zap's debug: {}", lines[1]);
    }
}
