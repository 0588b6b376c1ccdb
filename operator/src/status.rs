//! Status conditions from observed health: a pure function, so the exact
//! reason strings users and alerts key on are pinned by tests.
//!
//! * `Available`: the cluster has a leader and a quorum of healthy voters.
//! * `Progressing`: a membership change or bootstrap is under way.
//! * `Degraded`: a member is unhealthy, the cluster is unreachable, or a
//!   change is blocked by quorum.
//!
//! `lastTransitionTime` moves only when a condition's status flips, so an
//! unchanged cluster yields an identical status and the operator can skip the
//! write.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::MemberStatus;
use crate::members::{Step, WaitReason};
use crate::resources::quorum;

/// What the conditions are computed from.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// The member list could be read.
    pub reachable: bool,
    /// No cluster has formed yet (no cluster ID ever seen).
    pub bootstrapping: bool,
    /// Members with their health.
    pub members: &'a [MemberStatus],
    /// `spec.replicas`.
    pub desired: u32,
    /// The planner's step for this round (`None` when paused or unreachable).
    pub step: Option<&'a Step>,
    /// `spec.paused`.
    pub paused: bool,
}

/// A condition before timestamps are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// Condition type.
    pub type_: &'static str,
    /// Whether it holds.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human-readable detail.
    pub message: String,
}

fn draft(type_: &'static str, status: bool, reason: &'static str, message: String) -> Draft {
    Draft { type_, status, reason, message }
}

/// The three conditions, in a fixed order.
pub fn drafts(o: &Observation<'_>) -> Vec<Draft> {
    let voters: Vec<&MemberStatus> = o.members.iter().filter(|m| !m.learner).collect();
    let healthy_voters = voters.iter().filter(|m| m.healthy).count() as u32;
    let has_leader = o.members.iter().any(|m| m.leader);
    let unhealthy: Vec<&str> = o
        .members
        .iter()
        .filter(|m| !m.healthy)
        .map(|m| if m.name.is_empty() { m.id.as_str() } else { m.name.as_str() })
        .collect();

    let available = if !o.reachable {
        if o.bootstrapping {
            draft("Available", false, "Bootstrapping", "waiting for the founding members to form the cluster".into())
        } else {
            draft("Available", false, "Unreachable", "no member answered MemberList".into())
        }
    } else if healthy_voters >= quorum(voters.len() as u32) && has_leader && !voters.is_empty() {
        draft(
            "Available",
            true,
            "QuorumHealthy",
            format!("{healthy_voters} of {} voters healthy with a leader", voters.len()),
        )
    } else {
        draft(
            "Available",
            false,
            "NoQuorum",
            format!(
                "{healthy_voters} of {} voters healthy{}",
                voters.len(),
                if has_leader { "" } else { ", no leader" }
            ),
        )
    };

    let progressing = match (o.paused, o.step) {
        (true, _) => draft("Progressing", false, "Paused", "spec.paused is set: only observing".into()),
        (false, None) if o.bootstrapping => {
            draft("Progressing", true, "Bootstrapping", "founding members are starting".into())
        }
        (false, None) => draft("Progressing", false, "Unknown", "membership could not be observed".into()),
        (false, Some(Step::Done)) => {
            draft("Progressing", false, "Reconciled", format!("{} members as requested", o.desired))
        }
        (false, Some(step)) => {
            let reason = match step {
                Step::AddLearner { .. } | Step::GrowStatefulSet { .. } | Step::Promote { .. } => "ScalingUp",
                Step::RemoveMember { .. } | Step::ShrinkStatefulSet { .. } => "ScalingDown",
                Step::ReplaceLostMember { .. } | Step::WipeStaleVolume { .. } => "ReplacingMember",
                Step::Wait(WaitReason::LearnerCatchingUp { .. }) => "LearnerCatchingUp",
                Step::Wait(_) => "Blocked",
                Step::Done => unreachable!("handled above"),
            };
            draft("Progressing", reason != "Blocked", reason, step.to_string())
        }
    };

    let degraded = if !o.reachable && !o.bootstrapping {
        draft("Degraded", true, "Unreachable", "no member answered MemberList".into())
    } else if let Some(Step::Wait(w @ (WaitReason::NoQuorum { .. } | WaitReason::WouldLoseQuorum { .. }))) = o.step {
        draft("Degraded", true, "QuorumAtRisk", Step::Wait(w.clone()).to_string())
    } else if !unhealthy.is_empty() && o.reachable {
        draft("Degraded", true, "MembersUnhealthy", format!("unhealthy: {}", unhealthy.join(", ")))
    } else {
        draft("Degraded", false, "AllMembersHealthy", "every member answers and sees a leader".into())
    };

    vec![available, progressing, degraded]
}

/// Turns drafts into Conditions, keeping `lastTransitionTime` of any
/// condition whose status did not change.
pub fn conditions(old: &[Condition], drafts: Vec<Draft>, now: &Time, generation: Option<i64>) -> Vec<Condition> {
    drafts
        .into_iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_string();
            let since = old
                .iter()
                .find(|c| c.type_ == d.type_ && c.status == status)
                .map(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            Condition {
                type_: d.type_.to_string(),
                status,
                reason: d.reason.to_string(),
                message: d.message,
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn member(name: &str, healthy: bool, leader: bool) -> MemberStatus {
        MemberStatus { name: name.into(), id: format!("id-{name}"), healthy, leader, ..MemberStatus::default() }
    }

    fn obs<'a>(members: &'a [MemberStatus], step: Option<&'a Step>) -> Observation<'a> {
        Observation { reachable: true, bootstrapping: false, members, desired: 3, step, paused: false }
    }

    fn reasons(d: &[Draft]) -> Vec<(&str, bool, &str)> {
        d.iter().map(|d| (d.type_, d.status, d.reason)).collect()
    }

    #[test]
    fn healthy_cluster() {
        let m = [member("a", true, true), member("b", true, false), member("c", true, false)];
        let d = drafts(&obs(&m, Some(&Step::Done)));
        assert_eq!(
            reasons(&d),
            [
                ("Available", true, "QuorumHealthy"),
                ("Progressing", false, "Reconciled"),
                ("Degraded", false, "AllMembersHealthy")
            ]
        );
    }

    #[test]
    fn one_member_down_is_available_but_degraded() {
        let m = [member("a", true, true), member("b", false, false), member("c", true, false)];
        let d = drafts(&obs(&m, Some(&Step::Done)));
        assert_eq!(d[0].reason, "QuorumHealthy");
        assert_eq!((d[2].status, d[2].reason), (true, "MembersUnhealthy"));
        assert_eq!(d[2].message, "unhealthy: b");
    }

    #[test]
    fn quorum_loss() {
        let m = [member("a", true, false), member("b", false, false), member("c", false, false)];
        let step = Step::Wait(WaitReason::NoQuorum { healthy: 1, voters: 3 });
        let d = drafts(&obs(&m, Some(&step)));
        assert_eq!(
            reasons(&d),
            [("Available", false, "NoQuorum"), ("Progressing", false, "Blocked"), ("Degraded", true, "QuorumAtRisk")]
        );
    }

    #[test]
    fn scaling_and_paused_and_bootstrap() {
        let m = [member("a", true, true)];
        let step = Step::AddLearner { ordinal: 1 };
        assert_eq!(drafts(&obs(&m, Some(&step)))[1].reason, "ScalingUp");
        let step = Step::ShrinkStatefulSet { replicas: 1 };
        assert_eq!(drafts(&obs(&m, Some(&step)))[1].reason, "ScalingDown");
        let mut o = obs(&m, None);
        o.paused = true;
        assert_eq!(drafts(&o)[1].reason, "Paused");
        let o =
            Observation { reachable: false, bootstrapping: true, members: &[], desired: 3, step: None, paused: false };
        assert_eq!(
            reasons(&drafts(&o)),
            [
                ("Available", false, "Bootstrapping"),
                ("Progressing", true, "Bootstrapping"),
                ("Degraded", false, "AllMembersHealthy")
            ]
        );
        let o = Observation { bootstrapping: false, ..o };
        assert_eq!(drafts(&o)[2].reason, "Unreachable");
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let t0 = Time(Timestamp::from_second(1_000).unwrap());
        let t1 = Time(Timestamp::from_second(2_000).unwrap());
        let m = [member("a", true, true)];
        let first = conditions(&[], drafts(&obs(&m, Some(&Step::Done))), &t0, Some(1));
        let again = conditions(&first, drafts(&obs(&m, Some(&Step::Done))), &t1, Some(1));
        assert_eq!(first, again);
        let m = [member("a", false, false)];
        let changed = conditions(&first, drafts(&obs(&m, Some(&Step::Done))), &t1, Some(2));
        assert_eq!(changed[0].last_transition_time, t1);
        assert_eq!(changed[0].observed_generation, Some(2));
        assert_eq!(changed[1].last_transition_time, t0);
    }
}
