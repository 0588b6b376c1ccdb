//! `GODEBUG=http2debug=2`: Go's HTTP/2 server, and so etcd, then logs every
//! header field it decodes. Capstan logs the one field tools read from that
//! output, each request's `:authority`, in Go's words and log format; etcd's
//! own e2e tests check with it that clients send the right authority (over
//! TCP and unix sockets). Nothing is logged unless the variable asks for it.

use std::sync::OnceLock;

use axum::extract::Request;

/// Whether `GODEBUG` (comma-separated `name=value`) asks for verbose HTTP/2 logs.
fn verbose_http2(godebug: &str) -> bool {
    godebug.split(',').any(|setting| setting.trim() == "http2debug=2")
}

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("GODEBUG").is_ok_and(|v| verbose_http2(&v)))
}

/// Request middleware: logs the request's `:authority` when enabled.
pub async fn log_authority(request: Request) -> Request {
    if enabled()
        && request.version() == axum::http::Version::HTTP_2
        && let Some(authority) = request.uri().authority()
    {
        let now = crate::telemetry::clock::go_log(std::time::SystemTime::now());
        eprintln!("{now} http2: decoded hpack field header field \":authority\" = {:?}", authority.as_str());
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verbose_http2_debugging_enables_it() {
        assert!(verbose_http2("http2debug=2"));
        assert!(verbose_http2("madvdontneed=1, http2debug=2"));
        assert!(!verbose_http2("http2debug=1"));
        assert!(!verbose_http2(""));
    }
}
