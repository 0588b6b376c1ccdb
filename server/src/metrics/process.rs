//! What Go's process collector exports (`process_*`, and etcd's `os_fd_*`),
//! read from /proc on Linux at scrape time; elsewhere only the start time.
//! These describe the process, so members sharing a process show the same.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct Stats {
    pub cpu_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub virtual_max_bytes: Option<f64>,
    pub start_time_seconds: f64,
}

/// Linux reports CPU times and start time in USER_HZ ticks, which is 100
/// on every mainstream architecture (Go's procfs assumes the same).
const USER_HZ: f64 = 100.0;

/// Reads the stats now; `fallback_start` is the start time where /proc is missing.
pub fn read(fallback_start: SystemTime) -> Stats {
    let mut s = Stats {
        start_time_seconds: fallback_start.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        ..Default::default()
    };
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name (which may contain spaces).
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // rest[0] is field 3 (state); field n is at index n - 3.
            let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
            if let (Some(utime), Some(stime)) = (field(14), field(15)) {
                s.cpu_seconds = Some((utime + stime) as f64 / USER_HZ);
            }
            if let (Some(start), Some(btime)) = (field(22), boot_time()) {
                s.start_time_seconds = btime as f64 + start as f64 / USER_HZ;
            }
            s.virtual_bytes = field(23);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        s.resident_bytes = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        s.open_fds = Some(dir.count() as u64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        let soft = |prefix: &str| -> Option<Option<u64>> {
            let line = limits.lines().find(|l| l.starts_with(prefix))?;
            let soft = line[prefix.len()..].split_whitespace().next()?;
            Some(if soft == "unlimited" { None } else { soft.parse().ok() })
        };
        s.max_fds = soft("Max open files").flatten();
        // Go reports "unlimited" as the largest uint64.
        s.virtual_max_bytes = soft("Max address space").map(|v| v.map_or(u64::MAX as f64, |n| n as f64));
    }
    s
}

fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}
