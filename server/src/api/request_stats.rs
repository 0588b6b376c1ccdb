//! etcd's "request stats" log line for unary KV requests (v3rpc's
//! `logUnaryRequestStats`): a warning when a request took longer than
//! `--warning-unary-request-duration` (300 ms by default), and a debug line
//! for every request when debug logging is on. The fields are etcd's.

use std::time::{Duration, Instant, SystemTime};

use crate::service::Server;

/// One request being timed.
pub struct RequestStats {
    start: Instant,
    started_at: SystemTime,
    warn_after: Duration,
    remote: String,
    method: &'static str,
}

impl RequestStats {
    pub fn start<T>(server: &Server, request: &tonic::Request<T>, method: &'static str) -> Self {
        Self {
            start: Instant::now(),
            started_at: SystemTime::now(),
            warn_after: server.options().warning_unary_request_duration,
            remote: request.remote_addr().map_or_else(|| "No remote client info.".to_string(), |a| a.to_string()),
            method,
        }
    }

    /// Logs the request if it was slow (or at debug level); `request_count`
    /// and the counts are etcd's per request kind.
    pub fn finish<Q: prost::Message, P: prost::Message>(
        self,
        request_count: i64,
        request: &Q,
        content: String,
        response_count: i64,
        response: &P,
    ) {
        self.finish_sized(request_count, request.encoded_len(), content, response_count, response);
    }

    /// [`RequestStats::finish`] with the request's size already known.
    pub fn finish_sized<P: prost::Message>(
        self,
        request_count: i64,
        request_size: usize,
        content: String,
        response_count: i64,
        response: &P,
    ) {
        let took = self.start.elapsed();
        let slow = took > self.warn_after;
        if !slow && !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let start_time = crate::telemetry::clock::rfc3339_micros(self.started_at);
        macro_rules! stats {
            ($level:ident) => {
                tracing::$level!(
                    "start time" = %start_time,
                    "time spent" = ?took,
                    remote = %self.remote,
                    "response type" = self.method,
                    "request count" = request_count,
                    "request size" = request_size,
                    "response count" = response_count,
                    "response size" = response.encoded_len(),
                    "request content" = %content,
                    "request stats"
                )
            };
        }
        if slow {
            stats!(warn);
        } else {
            stats!(debug);
        }
    }
}

/// A request's fields in protobuf text format, as etcd logs request content:
/// only fields that differ from their default, `name:value` separated by
/// spaces (`key:"foo" range_end:"fop" limit:10`).
pub struct ProtoText(String);

impl ProtoText {
    pub fn new() -> Self {
        Self(String::new())
    }

    fn push(&mut self, field: &str, value: std::fmt::Arguments<'_>) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(field);
        self.0.push(':');
        self.0.push_str(&value.to_string());
    }

    pub fn bytes(mut self, field: &str, v: &[u8]) -> Self {
        if !v.is_empty() {
            self.push(field, format_args!("{:?}", String::from_utf8_lossy(v)));
        }
        self
    }

    pub fn int(mut self, field: &str, v: i64) -> Self {
        if v != 0 {
            self.push(field, format_args!("{v}"));
        }
        self
    }

    pub fn flag(mut self, field: &str, v: bool) -> Self {
        if v {
            self.push(field, format_args!("true"));
        }
        self
    }

    pub fn text(self) -> String {
        self.0
    }
}

impl Default for ProtoText {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_text_lists_only_set_fields() {
        let t = ProtoText::new().bytes("key", b"foo").bytes("range_end", b"").int("limit", 10).flag("keys_only", false);
        assert_eq!(t.text(), r#"key:"foo" limit:10"#);
        assert_eq!(ProtoText::new().int("lease", 0).text(), "");
    }
}
