//! The PodDisruptionBudget that keeps voluntary disruptions (node drains)
//! from taking a cluster below quorum.
//!
//! `maxUnavailable = replicas - quorum(replicas)`: with 3 members one may be
//! evicted, with 5 two. Because the budget counts unhealthy pods as already
//! unavailable, a cluster with a broken member admits no further eviction of a
//! healthy one. Unhealthy pods themselves may always be evicted
//! (`unhealthyPodEvictionPolicy: AlwaysAllow`): evicting a member that is not
//! serving costs no quorum, and refusing would let one broken member block a
//! drain forever. A single-member cluster has no quorum to protect (any
//! eviction is an outage anyway), so its budget allows one eviction instead of
//! blocking drains forever.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Names, quorum};

/// Evictions the budget allows for a cluster of `replicas` members.
pub fn max_unavailable(replicas: i32) -> i32 {
    let n = replicas.max(1) as u32;
    if n == 1 { 1 } else { (n - quorum(n)) as i32 }
}

/// The budget for a cluster of `replicas` members.
pub fn pod_disruption_budget(names: &Names, replicas: i32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: names.meta(names.statefulset()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(max_unavailable(replicas))),
            selector: Some(LabelSelector { match_labels: Some(names.selector_labels()), ..LabelSelector::default() }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".to_string()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::names;

    #[test]
    fn budget_keeps_quorum() {
        let got: Vec<i32> = (1..=9).map(max_unavailable).collect();
        assert_eq!(got, [1, 0, 1, 1, 2, 2, 3, 3, 4]);
        for n in 2..=9u32 {
            assert!(n - max_unavailable(n as i32) as u32 >= quorum(n));
        }
    }

    #[test]
    fn budget_selects_member_pods() {
        let pdb = pod_disruption_budget(&names(), 5);
        let spec = pdb.spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(2)));
        assert_eq!(spec.selector.unwrap().match_labels, Some(names().selector_labels()));
        assert_eq!(spec.unhealthy_pod_eviction_policy.as_deref(), Some("AlwaysAllow"));
    }
}
