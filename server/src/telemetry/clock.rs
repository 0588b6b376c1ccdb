//! Wall-clock times as text, for the log formats that must look like Go's
//! (`ts` of etcd's JSON lines, Go's `log` timestamps), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC time broken down: (year, month, day, hour, minute, second, microsecond).
pub fn utc_parts(t: SystemTime) -> (i64, i64, i64, i64, i64, i64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
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
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60, since.subsec_micros())
}

/// `2026-12-03T12:36:17.498185Z`.
pub fn rfc3339_micros(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, us) = utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
}

/// Go's `log` timestamp: `2026/12/03 12:36:17`.
pub fn go_log(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = utc_parts(t);
    format!("{y:04}/{mo:02}/{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn known_instants() {
        let t = UNIX_EPOCH + Duration::from_micros(1_796_301_377_498_185);
        assert_eq!(rfc3339_micros(t), "2026-12-03T12:36:17.498185Z");
        assert_eq!(go_log(t), "2026/12/03 12:36:17");
        assert_eq!(rfc3339_micros(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // A leap day.
        assert_eq!(go_log(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000/02/29 00:00:00");
    }
}
