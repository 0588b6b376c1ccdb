//! The Prometheus text exposition format 0.0.4, written the way etcd's Go
//! client writes it.
//!
//! Why our own encoder rather than `prometheus-client`'s: that crate writes
//! OpenMetrics text (a trailing `# EOF`, a `_total` suffix appended to every
//! counter's samples, `.` appended to HELP texts, its own number format), so
//! `etcd_network_snapshot_receive_success` or `etcd_server_health_success`
//! would change name and the exposition would differ from etcd's. The format
//! is small: HELP and TYPE lines, one line per sample, labels in
//! declaration order, and Go's `%g` for numbers.

use std::fmt::Write as _;

use super::instruments::Histogram;

#[cfg(test)]
/// Formats a value as Go's `strconv.FormatFloat(v, 'g', -1, 64)` (what the
/// Prometheus Go client prints): the shortest digits that round-trip, in
/// exponent form (`1e+06`, `1.5e-07`) when the decimal exponent is below -4
/// or at least 6, plain decimal otherwise.
pub fn format_value(v: f64) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(out: &mut String, v: f64) {
    if v == 1.0 {
        out.push('1');
    } else if v == 0.0 {
        out.push('0');
    } else if v == -1.0 {
        out.push_str("-1");
    } else if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Shortest round-trip digits with their decimal exponent.
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').expect("`{:e}` always has an exponent");
        let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
        if !(-4..GO_SHORTEST_EPREC).contains(&exp) {
            out.push_str(mantissa);
            out.push('e');
            out.push(if exp < 0 { '-' } else { '+' });
            let _ = write!(out, "{:02}", exp.unsigned_abs());
        } else {
            // Rust's Display is the shortest round-trip digits without exponent.
            let _ = write!(out, "{v}");
        }
    }
}

/// Go's shortest `%g` uses exponent form from this decimal exponent up
/// (`strconv/ftoa.go`: "if shortest { eprec = 6 }").
const GO_SHORTEST_EPREC: i32 = 6;

fn escape_help(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes metric families in the text format. Each family's samples must be
/// written right after its header. Labels are given as the family's label
/// names and one value per name.
#[derive(Debug, Default)]
pub struct Encoder {
    out: String,
}

impl Encoder {
    pub fn new() -> Self {
        Self { out: String::with_capacity(64 * 1024) }
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, names: &[&str], values: &[&str], value: f64) {
        self.out.push_str(name);
        self.write_labels(names, values, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    fn write_labels(&mut self, names: &[&str], values: &[&str], le: Option<f64>) {
        debug_assert_eq!(names.len(), values.len(), "one value per label name");
        if names.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (k, v) in names.iter().zip(values) {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_label_value(&mut self.out, v);
            self.out.push('"');
        }
        if let Some(le) = le {
            if !first {
                self.out.push(',');
            }
            self.out.push_str("le=\"");
            write_value(&mut self.out, le);
            self.out.push('"');
        }
        self.out.push('}');
    }

    /// One histogram series (buckets, `+Inf`, `_sum`, `_count`) under a family
    /// header written before; `le` goes after the other labels, as Go writes it.
    pub fn histogram_series(&mut self, name: &str, names: &[&str], values: &[&str], h: &Histogram) {
        let (cumulative, total, sum) = h.snapshot();
        let bucket = format!("{name}_bucket");
        let buckets = h.bounds().iter().copied().zip(cumulative).chain([(f64::INFINITY, total)]);
        for (bound, count) in buckets {
            self.out.push_str(&bucket);
            self.write_labels(names, values, Some(bound));
            self.out.push(' ');
            write_value(&mut self.out, count as f64);
            self.out.push('\n');
        }
        self.sample(&format!("{name}_sum"), names, values, sum);
        self.sample(&format!("{name}_count"), names, values, total as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formatting() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(-1.0), "-1");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(0.001), "0.001");
        assert_eq!(format_value(0.0001), "0.0001");
        assert_eq!(format_value(0.00001), "1e-05");
        assert_eq!(format_value(8.192), "8.192");
        assert_eq!(format_value(42.0), "42");
        assert_eq!(format_value(123456.0), "123456");
        assert_eq!(format_value(1_000_000.0), "1e+06");
        assert_eq!(format_value(2_147_483_648.0), "2.147483648e+09");
        assert_eq!(format_value(1.5e-7), "1.5e-07");
        assert_eq!(format_value(u64::MAX as f64), "1.8446744073709552e+19");
        assert_eq!(format_value(1_234_567.0), "1.234567e+06");
        assert_eq!(format_value(100_000.0), "100000");
        assert_eq!(format_value(999_999.0), "999999");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(3.0000000000000004e-05), "3.0000000000000004e-05");
    }

    #[test]
    fn histogram_exposition_is_cumulative() {
        let h = Histogram::new(vec![0.1, 1.0, 10.0]);
        h.observe(0.05);
        h.observe(0.1); // bounds are inclusive
        h.observe(0.5);
        h.observe(20.0);
        let mut e = Encoder::new();
        e.family("x_seconds", "Some help.", "histogram");
        e.histogram_series("x_seconds", &[], &[], &h);
        let sum = format_value(0.05 + 0.1 + 0.5 + 20.0);
        assert_eq!(
            e.finish(),
            format!(
                "# HELP x_seconds Some help.\n\
                 # TYPE x_seconds histogram\n\
                 x_seconds_bucket{{le=\"0.1\"}} 2\n\
                 x_seconds_bucket{{le=\"1\"}} 3\n\
                 x_seconds_bucket{{le=\"10\"}} 3\n\
                 x_seconds_bucket{{le=\"+Inf\"}} 4\n\
                 x_seconds_sum {sum}\n\
                 x_seconds_count 4\n"
            )
        );
    }

    #[test]
    fn histogram_with_labels_puts_le_last() {
        let h = Histogram::new(vec![1.0]);
        h.observe(2.0);
        let mut e = Encoder::new();
        e.family("y", "h", "histogram");
        e.histogram_series("y", &["op"], &["put"], &h);
        let text = e.finish();
        assert!(text.contains("y_bucket{op=\"put\",le=\"1\"} 0\n"), "{text}");
        assert!(text.contains("y_bucket{op=\"put\",le=\"+Inf\"} 1\n"), "{text}");
        assert!(text.contains("y_sum{op=\"put\"} 2\n"), "{text}");
        assert!(text.contains("y_count{op=\"put\"} 1\n"), "{text}");
    }

    #[test]
    fn escaping() {
        let mut e = Encoder::new();
        e.family("z", "a \\ b\nc \"q\"", "gauge");
        e.sample("z", &["v"], &["x\\y\"z\nw"], 3.0);
        assert_eq!(e.finish(), "# HELP z a \\\\ b\\nc \"q\"\n# TYPE z gauge\nz{v=\"x\\\\y\\\"z\\nw\"} 3\n");
    }
}
