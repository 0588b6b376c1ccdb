//! Prometheus metrics of the operator, exposed on `/metrics`.
//!
//! Labels stay low-cardinality on purpose: outcome and step kind, never the
//! cluster's name or namespace (one series per cluster would grow without
//! bound with the number of clusters; per-cluster state is in each status).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Outcome label of a reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Kind label of a membership step.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    /// `add_learner`, `promote`, `remove`, ... (see `Step`).
    pub step: &'static str,
}

/// Purpose label of an issued certificate.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PurposeLabel {
    /// `server`, `peer` or `client`.
    pub purpose: &'static str,
}

/// Phase label of a CA rotation transition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// The phase entered: `Trusting`, `Reissuing`, `Dropping`, `Idle`.
    pub phase: &'static str,
}

/// All metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Reconciles by outcome.
    pub reconciles: Family<ResultLabel, Counter>,
    /// Reconcile durations in seconds.
    pub duration: Histogram,
    /// Membership steps executed, by kind.
    pub steps: Family<StepLabel, Counter>,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge,
    /// Leaf certificates issued (mode `auto`), by purpose.
    pub certificates: Family<PurposeLabel, Counter>,
    /// CA rotation phases entered (mode `auto`).
    pub ca_phases: Family<PhaseLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("capstan_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register("reconciles", "Reconciles by result", reconciles.clone());
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        registry.register("reconcile_duration_seconds", "Duration of reconciles", duration.clone());
        let steps = Family::<StepLabel, Counter>::default();
        registry.register("membership_steps", "Membership steps executed by kind", steps.clone());
        let leader = Gauge::default();
        registry.register("leader", "1 while this replica is the elected leader", leader.clone());
        let certificates = Family::<PurposeLabel, Counter>::default();
        registry.register("certificates_issued", "Leaf certificates issued by purpose", certificates.clone());
        let ca_phases = Family::<PhaseLabel, Counter>::default();
        registry.register("ca_rotation_phases", "CA rotation phases entered", ca_phases.clone());
        Metrics { registry, reconciles, duration, steps, leader, certificates, ca_phases }
    }
}

impl Metrics {
    /// Records one reconcile.
    pub fn reconciled(&self, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Records one executed membership step.
    pub fn step(&self, step: &'static str) {
        self.steps.get_or_create(&StepLabel { step }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counts_durations_and_steps() {
        let m = Metrics::default();
        m.reconciled(true, Duration::from_millis(20));
        m.reconciled(false, Duration::from_millis(20));
        m.step("add_learner");
        let text = m.render();
        assert!(text.contains("capstan_operator_reconciles_total{result=\"ok\"} 1"), "{text}");
        assert!(text.contains("capstan_operator_reconciles_total{result=\"error\"} 1"));
        assert!(text.contains("capstan_operator_reconcile_duration_seconds_count 2"));
        assert!(text.contains("capstan_operator_membership_steps_total{step=\"add_learner\"} 1"));
        m.certificates.get_or_create(&PurposeLabel { purpose: "peer" }).inc();
        m.ca_phases.get_or_create(&PhaseLabel { phase: "Trusting" }).inc();
        let text = m.render();
        assert!(text.contains("capstan_operator_certificates_issued_total{purpose=\"peer\"} 1"), "{text}");
        assert!(text.contains("capstan_operator_ca_rotation_phases_total{phase=\"Trusting\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
