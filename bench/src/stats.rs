//! Latency and error accounting, and the report (human text and one JSON line).
//!
//! Each worker owns a [`Recorder`] (no shared lock on the hot path); the runner merges
//! them when the workers are done. Latencies are recorded in microseconds in an HDR
//! histogram (3 significant digits, 1 µs .. 1 h; larger values saturate).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

const MAX_MICROS: u64 = 3_600_000_000;

/// Per-worker measurements: a latency histogram of successful requests and error
/// counts by gRPC code name.
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid"),
            errors: BTreeMap::new(),
        }
    }

    /// Records one successful request that took `latency`.
    pub fn ok(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        self.hist.saturating_record(us);
    }

    /// Records one failed request under `kind` (a gRPC code name such as
    /// "Unavailable", or a bench-side kind such as "Missing").
    pub fn error(&mut self, kind: &str) {
        self.error_n(kind, 1);
    }

    /// Records `n` failures of the same kind.
    pub fn error_n(&mut self, kind: &str, n: u64) {
        if n > 0 {
            *self.errors.entry(kind.to_string()).or_default() += n;
        }
    }

    /// Records a gRPC failure by its code.
    pub fn status(&mut self, status: &tonic::Status) {
        self.error(&code_name(status.code()));
    }

    /// Adds another recorder's measurements to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.hist.add(&other.hist).expect("histograms with the same bounds merge");
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    /// Number of successful requests recorded.
    pub fn ok_count(&self) -> u64 {
        self.hist.len()
    }

    /// Number of failed requests recorded.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Builds the report of a run that took `elapsed`.
    pub fn report(&self, workload: &str, elapsed: Duration) -> Report {
        let ms = |us: u64| us as f64 / 1000.0;
        let ok = self.ok_count();
        let errors = self.error_count();
        let secs = elapsed.as_secs_f64();
        let latency_ms = if ok == 0 {
            Latency::default()
        } else {
            Latency {
                min: ms(self.hist.min()),
                mean: self.hist.mean() / 1000.0,
                p50: ms(self.hist.value_at_quantile(0.50)),
                p90: ms(self.hist.value_at_quantile(0.90)),
                p99: ms(self.hist.value_at_quantile(0.99)),
                p999: ms(self.hist.value_at_quantile(0.999)),
                max: ms(self.hist.max()),
            }
        };
        Report {
            workload: workload.to_string(),
            label: String::new(),
            requests: ok + errors,
            ok,
            error_count: errors,
            errors: self.errors.clone(),
            elapsed_s: round3(secs),
            throughput_rps: if secs > 0.0 { round3(ok as f64 / secs) } else { 0.0 },
            latency_ms: latency_ms.rounded(),
            config: serde_json::Map::new(),
            extra: serde_json::Map::new(),
        }
    }
}

/// The name of a gRPC code as tonic spells it in `Debug` ("Unavailable", ...).
pub fn code_name(code: tonic::Code) -> String {
    format!("{code:?}")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Latency percentiles in milliseconds (0 when nothing succeeded).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    fn rounded(self) -> Self {
        Self {
            min: round3(self.min),
            mean: round3(self.mean),
            p50: round3(self.p50),
            p90: round3(self.p90),
            p99: round3(self.p99),
            p999: round3(self.p999),
            max: round3(self.max),
        }
    }
}

/// The result of one run. `requests = ok + error_count`; throughput counts successful
/// requests per second of the measured interval (for watch: delivered events).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    pub label: String,
    pub requests: u64,
    pub ok: u64,
    pub error_count: u64,
    /// Failures by gRPC code name (or "Missing" for watch events never delivered).
    pub errors: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    /// The options of the run (endpoints, conns, clients, workload flags).
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Workload-specific counters (e.g. watch: watchers, puts, expected events).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// The report as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report always serializes")
    }

    /// The report for humans, one item per line.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let l = &self.latency_ms;
        let _ = writeln!(
            s,
            "Summary ({}{}):",
            self.workload,
            if self.label.is_empty() { String::new() } else { format!(", {}", self.label) }
        );
        let _ = writeln!(s, "  Total:        {:.4} s", self.elapsed_s);
        let _ = writeln!(s, "  Requests:     {} ({} ok, {} errors)", self.requests, self.ok, self.error_count);
        let _ = writeln!(s, "  Requests/sec: {:.1}", self.throughput_rps);
        let _ = writeln!(s, "  Latency (ms): min {:.3}  mean {:.3}  max {:.3}", l.min, l.mean, l.max);
        let _ = writeln!(s, "    p50   {:.3}", l.p50);
        let _ = writeln!(s, "    p90   {:.3}", l.p90);
        let _ = writeln!(s, "    p99   {:.3}", l.p99);
        let _ = writeln!(s, "    p99.9 {:.3}", l.p999);
        if !self.errors.is_empty() {
            let _ = writeln!(s, "  Errors:");
            for (k, v) in &self.errors {
                let _ = writeln!(s, "    {k}: {v}");
            }
        }
        if !self.extra.is_empty() {
            let _ = writeln!(s, "  Details:");
            for (k, v) in &self.extra {
                let _ = writeln!(s, "    {k}: {v}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_run() {
        let mut r = Recorder::new();
        for ms in 1..=1000u64 {
            r.ok(Duration::from_millis(ms));
        }
        let rep = r.report("put", Duration::from_secs(2));
        assert_eq!(rep.ok, 1000);
        assert_eq!(rep.requests, 1000);
        assert_eq!(rep.throughput_rps, 500.0);
        // 3 significant digits: within 0.1 %.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(near(rep.latency_ms.p50, 500.0), "{:?}", rep.latency_ms);
        assert!(near(rep.latency_ms.p90, 900.0), "{:?}", rep.latency_ms);
        assert!(near(rep.latency_ms.p99, 990.0), "{:?}", rep.latency_ms);
        assert!(near(rep.latency_ms.p999, 999.0), "{:?}", rep.latency_ms);
        assert!(near(rep.latency_ms.min, 1.0) && near(rep.latency_ms.max, 1000.0));
    }

    #[test]
    fn errors_are_counted_by_code_and_not_in_latency() {
        let mut a = Recorder::new();
        a.ok(Duration::from_micros(100));
        a.status(&tonic::Status::unavailable("x"));
        a.status(&tonic::Status::unavailable("y"));
        let mut b = Recorder::new();
        b.status(&tonic::Status::deadline_exceeded("z"));
        b.error_n("Missing", 0);
        b.error_n("Missing", 3);
        a.merge(&b);
        let rep = a.report("range", Duration::from_secs(1));
        assert_eq!(rep.ok, 1);
        assert_eq!(rep.error_count, 6);
        assert_eq!(rep.requests, 7);
        assert_eq!(rep.errors.get("Unavailable"), Some(&2));
        assert_eq!(rep.errors.get("DeadlineExceeded"), Some(&1));
        assert_eq!(rep.errors.get("Missing"), Some(&3));
        assert_eq!(rep.throughput_rps, 1.0);
    }

    #[test]
    fn empty_run_and_json_shape() {
        let rep = Recorder::new().report("watch", Duration::ZERO);
        assert_eq!(rep.latency_ms, Latency::default());
        assert_eq!(rep.throughput_rps, 0.0);
        let v: serde_json::Value = serde_json::from_str(&rep.to_json_line()).unwrap();
        for k in ["workload", "requests", "ok", "error_count", "errors", "elapsed_s", "throughput_rps", "latency_ms"] {
            assert!(v.get(k).is_some(), "missing {k} in {v}");
        }
        for k in ["p50", "p90", "p99", "p999"] {
            assert!(v["latency_ms"].get(k).is_some());
        }
        assert!(!rep.to_json_line().contains('\n'));
    }

    #[test]
    fn huge_latencies_saturate() {
        let mut r = Recorder::new();
        r.ok(Duration::from_secs(10_000));
        r.ok(Duration::ZERO);
        assert_eq!(r.ok_count(), 2);
        let rep = r.report("put", Duration::from_secs(1));
        assert!(rep.latency_ms.max >= 3_599_000.0);
    }
}
