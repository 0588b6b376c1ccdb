//! Go `flag`-package command lines and Go scalar syntax (`strconv`, `time.ParseDuration`).

use super::*;

// ---------------------------------------------------------------------------
// Command line (Go `flag` package rules)
// ---------------------------------------------------------------------------

pub(super) fn parse_command_line(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut out = CommandLine { sets: Vec::new(), version: false };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.len() < 2 || !arg.starts_with('-') {
            return Err(ConfigError::UnexpectedArgument(arg.clone()));
        }
        let body = if let Some(rest) = arg.strip_prefix("--") {
            if rest.is_empty() {
                // "--" ends the flags; etcd takes no positional arguments.
                return match args.get(i) {
                    Some(extra) => Err(ConfigError::UnexpectedArgument(extra.clone())),
                    None => Ok(out),
                };
            }
            rest
        } else {
            &arg[1..]
        };
        if body.starts_with('-') || body.starts_with('=') {
            return Err(ConfigError::BadFlagSyntax(arg.clone()));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "version" {
            let v = inline.unwrap_or_else(|| "true".to_string());
            out.version = parse_go_bool(&v).map_err(|reason| ConfigError::InvalidValue {
                key: "--version".to_string(),
                value: v.clone(),
                origin: String::new(),
                reason,
            })?;
            continue;
        }
        let flag = match find_flag(name) {
            Some(f) if f.scope != Scope::FileOnly => f,
            _ if name == "help" || name == "h" => return Err(ConfigError::Help(help_text())),
            // Not an etcd flag: prints the README's flag-status table.
            _ if name == "help-flag-status" => return Err(ConfigError::Help(flag_status_table())),
            _ => return Err(ConfigError::UnknownFlag(name.to_string())),
        };
        let value = match (flag.ty, inline) {
            (_, Some(v)) => v,
            (Ty::Bool | Ty::Ignored, None) => "true".to_string(),
            (_, None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => return Err(ConfigError::MissingValue(name.to_string())),
            },
        };
        out.sets.push((flag, value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Go-compatible scalar parsing
// ---------------------------------------------------------------------------

/// Go's `strconv.ParseBool`.
pub(super) fn parse_go_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected a boolean (true or false)".to_string()),
    }
}

/// Go's `strconv.ParseUint(v, 0, bits)`: decimal, `0x`, `0o`, `0b` or leading-`0` octal.
pub(super) fn parse_go_uint(v: &str, bits: u32) -> Result<u64, String> {
    let not_number = || "expected a non-negative integer".to_string();
    let (digits, radix) = if let Some(r) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = v.strip_prefix("0o").or_else(|| v.strip_prefix("0O")) {
        (r, 8)
    } else if let Some(r) = v.strip_prefix("0b").or_else(|| v.strip_prefix("0B")) {
        (r, 2)
    } else if v.len() > 1 && v.starts_with('0') {
        (&v[1..], 8)
    } else {
        (v, 10)
    };
    // Go allows underscores between digits only when the base comes from a prefix.
    let cleaned: String = if radix != 10 { digits.replace('_', "") } else { digits.to_string() };
    // (after the prefix: "0x_ff" is fine, "0xff_" and "0x__f" are not).
    if cleaned.is_empty()
        || !cleaned.chars().all(|c| c.is_digit(radix))
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return Err(not_number());
    }
    let n = u64::from_str_radix(&cleaned, radix).map_err(|_| "value out of range".to_string())?;
    if bits < 64 && n >> bits != 0 {
        return Err("value out of range".to_string());
    }
    Ok(n)
}

/// Go's `strconv.ParseInt(v, 0, 64)`.
pub(super) fn parse_go_int(v: &str) -> Result<i64, String> {
    let (neg, rest) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let magnitude = parse_go_uint(rest, 64)
        .map_err(|e| if e == "value out of range" { e } else { "expected an integer".to_string() })?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            return Err("value out of range".to_string());
        }
        Ok((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).map_err(|_| "value out of range".to_string())
    }
}

/// Go's `time.ParseDuration` (`300ms`, `1.5h`, `2h45m`; a bare `0`).
/// Negative durations are refused: no etcd option means anything by them.
pub fn parse_go_duration(v: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {v:?}");
    let (neg, mut s) = match v.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_part = &s[..int_end];
        s = &s[int_end..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            frac_part = &rest[..end];
            s = &rest[end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = s.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(s.len());
        let unit = &s[..unit_end];
        s = &s[unit_end..];
        let unit_ns: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {v:?}")),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            other => return Err(format!("time: unknown unit {other:?} in duration {v:?}")),
        };
        let whole: u128 = if int_part.is_empty() { 0 } else { int_part.parse().map_err(|_| invalid())? };
        let mut value = whole.checked_mul(unit_ns).ok_or_else(invalid)?;
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for d in frac_part.bytes().take(30) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value += frac * unit_ns / scale;
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    if neg && total != 0 {
        return Err(format!("negative duration {v:?} is not allowed"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Go's `time.Duration.String()` (`0s`, `100ms`, `1m0s`, `2h0m0s`), for etcd's messages.
pub fn go_duration_string(d: Duration) -> String {
    pub(super) fn frac(v: u128, unit: u128, digits: usize) -> String {
        let (whole, rest) = (v / unit, v % unit);
        if rest == 0 {
            whole.to_string()
        } else {
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    }
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000, 6));
    }
    let hours = ns / 3_600_000_000_000;
    let minutes = ns % 3_600_000_000_000 / 60_000_000_000;
    let secs = ns % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", frac(secs, 1_000_000_000, 9)));
    out
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre`/`+build` suffix.
pub(super) fn parse_semver(v: &str) -> Result<(u64, u64, u64), String> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let bad = || "expected a version like 3.6.6".to_string();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    let n = |s: &str| s.parse::<u64>().map_err(|_| bad());
    Ok((n(parts[0])?, n(parts[1])?, n(parts[2])?))
}
