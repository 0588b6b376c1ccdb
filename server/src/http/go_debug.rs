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
        let now = go_log_time();
        eprintln!("{now} http2: decoded hpack field header field \":authority\" = {:?}", authority.as_str());
    }
    request
}

/// Go's `log` timestamp, `2006/01/02 15:04:05` (UTC).
fn go_log_time() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
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

    #[test]
    fn timestamps_are_gos_log_format() {
        let now = go_log_time();
        assert_eq!(now.len(), "2006/01/02 15:04:05".len(), "{now}");
        assert_eq!(&now[4..5], "/");
        assert!(now.starts_with("20"), "{now}");
    }
}
