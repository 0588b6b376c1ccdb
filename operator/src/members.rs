//! The membership planner: from observed state to the next single safe step.
//!
//! Pure and stateless on purpose. The operator keeps no memory of "what it
//! was doing": every reconcile observes the StatefulSet's `replicas`, the
//! member list, member health and which volume holds which member's data,
//! and [`plan`] derives the one step to take now. An operator killed between
//! any two steps therefore resumes where it stopped, e.g.
//! * killed after `MemberAdd`, before the StatefulSet grew: the member at
//!   ordinal `replicas` exists without a pod, so the step is to grow;
//! * killed after `MemberRemove`, before the StatefulSet shrank: the top
//!   ordinal has a pod but no member, so the step is to shrink.
//!
//! Safety rules, each enforced here:
//! * nothing happens without a quorum of healthy voters (a change could not
//!   commit, and guessing is how clusters get lost);
//! * one change at a time: a pending learner blocks everything else;
//! * a removal or promotion happens only if a quorum of healthy voters
//!   remains afterwards;
//! * the StatefulSet shrinks only when `spec.replicas` asks for it and the
//!   top member is already out of the cluster: an unhealthy or missing pod
//!   never shrinks anything;
//! * members are added as learners before their pod exists and promoted only
//!   once started and healthy;
//! * a member whose data was lost (its volume is not the one it ran on) is
//!   removed and re-added under the same name with a new ID, never left to
//!   rejoin with an empty log under its old ID;
//! * members that are not this cluster's pods (added by hand) are counted for
//!   quorum but never touched.

use std::collections::BTreeSet;
use std::fmt;

use crate::resources::quorum;

/// Whether a member still has the data it ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataState {
    /// The member's pod runs on the volume the member last ran on, or the
    /// member has not started yet (a fresh volume is exactly what it needs).
    Owned,
    /// The volume differs from the one the member ran on: its data is gone.
    Lost,
    /// No record yet (e.g. the operator was away while the member joined and
    /// it is unhealthy now): act as if owned, never as if lost.
    Unknown,
}

/// Derives [`DataState`] from the recorded and the current volume UID.
/// `recorded` is the UID noted while the member was seen healthy on it.
pub fn data_state(started: bool, recorded: Option<&str>, current: Option<&str>) -> DataState {
    match (started, recorded, current) {
        (false, _, _) => DataState::Owned,
        (true, Some(r), Some(c)) if r == c => DataState::Owned,
        (true, Some(_), Some(_)) => DataState::Lost,
        // No volume right now (pod or claim being recreated): wait and see.
        (true, Some(_), None) => DataState::Unknown,
        (true, None, _) => DataState::Unknown,
    }
}

/// One member as the cluster and its pod report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedMember {
    /// Member ID.
    pub id: u64,
    /// Ordinal of the pod this member is, from its peer URL; `None` for a
    /// member that is not one of this cluster's pods.
    pub ordinal: Option<u32>,
    /// A non-voting learner.
    pub learner: bool,
    /// Has run at least once (published its name and client URLs).
    pub started: bool,
    /// Answered Status and sees a leader.
    pub healthy: bool,
    /// Whether its data is still there.
    pub data: DataState,
}

/// Everything the planner looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// `spec.replicas`.
    pub desired: u32,
    /// The StatefulSet's `replicas`.
    pub statefulset: u32,
    /// The member list with health and data state.
    pub members: Vec<ObservedMember>,
    /// Ordinals without a member whose volume still holds the data of a
    /// member removed earlier; such a volume must be wiped before the
    /// ordinal can join again, or it would come back as a removed member.
    pub stale: BTreeSet<u32>,
}

/// Why a removal happens (for events and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveReason {
    /// `spec.replicas` went down: the top member leaves first.
    ScaleDown,
    /// A member without a pod that no pending scale-up will create (e.g. an
    /// add whose scale-up was cancelled).
    NoPod,
}

/// Why nothing can be done right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Fewer healthy voters than a quorum.
    NoQuorum {
        /// Healthy voters.
        healthy: u32,
        /// All voters.
        voters: u32,
    },
    /// A learner has not started or caught up yet.
    LearnerCatchingUp {
        /// Its ordinal.
        ordinal: u32,
    },
    /// The change is due, but would leave fewer healthy voters than a quorum.
    WouldLoseQuorum {
        /// Member ID concerned.
        id: u64,
    },
}

/// The next step; exactly one API call (or none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `MemberAdd{isLearner: true}` with the peer URL of this ordinal.
    AddLearner {
        /// Ordinal (= pod) to add.
        ordinal: u32,
    },
    /// Set the StatefulSet's replicas (up by one: the new pod joins).
    GrowStatefulSet {
        /// New replicas.
        replicas: u32,
    },
    /// `MemberPromote` of a started, healthy learner.
    Promote {
        /// Member ID.
        id: u64,
        /// Its ordinal.
        ordinal: u32,
    },
    /// `MemberRemove`.
    RemoveMember {
        /// Member ID.
        id: u64,
        /// Its ordinal.
        ordinal: u32,
        /// Why.
        reason: RemoveReason,
    },
    /// Set the StatefulSet's replicas (down by one: the member is already out).
    ShrinkStatefulSet {
        /// New replicas.
        replicas: u32,
    },
    /// `MemberRemove` of a member whose data is gone, after marking the
    /// ordinal's volume with its ID (so the volume is wiped next); it is
    /// re-added under the same name by a later `AddLearner`.
    ReplaceLostMember {
        /// Old member ID.
        id: u64,
        /// Its ordinal.
        ordinal: u32,
    },
    /// Delete the volume (claim, and the pod using it) of an ordinal without a
    /// member, whose data belongs to a removed member.
    WipeStaleVolume {
        /// Ordinal.
        ordinal: u32,
    },
    /// Nothing safe to do yet.
    Wait(WaitReason),
    /// Membership matches the spec.
    Done,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::AddLearner { ordinal } => write!(f, "add member {ordinal} as a learner"),
            Step::GrowStatefulSet { replicas } => write!(f, "grow the StatefulSet to {replicas}"),
            Step::Promote { id, ordinal } => write!(f, "promote learner {ordinal} ({id:x})"),
            Step::RemoveMember { id, ordinal, reason } => write!(f, "remove member {ordinal} ({id:x}, {reason:?})"),
            Step::ShrinkStatefulSet { replicas } => write!(f, "shrink the StatefulSet to {replicas}"),
            Step::ReplaceLostMember { id, ordinal } => {
                write!(f, "remove member {ordinal} ({id:x}) whose data was lost, to re-add it")
            }
            Step::WipeStaleVolume { ordinal } => write!(f, "wipe the stale volume of ordinal {ordinal}"),
            Step::Wait(WaitReason::NoQuorum { healthy, voters }) => {
                write!(f, "wait: only {healthy} of {voters} voters healthy, no quorum")
            }
            Step::Wait(WaitReason::LearnerCatchingUp { ordinal }) => write!(f, "wait: learner {ordinal} catching up"),
            Step::Wait(WaitReason::WouldLoseQuorum { id }) => write!(f, "wait: changing {id:x} now would lose quorum"),
            Step::Done => write!(f, "membership matches the spec"),
        }
    }
}

struct Counts {
    voters: u32,
    healthy: u32,
}

fn counts(members: &[ObservedMember]) -> Counts {
    let voters: Vec<&ObservedMember> = members.iter().filter(|m| !m.learner).collect();
    Counts { voters: voters.len() as u32, healthy: voters.iter().filter(|m| m.healthy).count() as u32 }
}

/// Whether removing `m` leaves a quorum of healthy voters (and at least one voter).
fn can_remove(c: &Counts, m: &ObservedMember) -> bool {
    if m.learner {
        return true;
    }
    let voters = c.voters - 1;
    let healthy = c.healthy - u32::from(m.healthy);
    voters >= 1 && healthy >= quorum(voters)
}

fn remove_or_wait(c: &Counts, m: &ObservedMember, ordinal: u32, reason: RemoveReason) -> Step {
    if can_remove(c, m) {
        Step::RemoveMember { id: m.id, ordinal, reason }
    } else {
        Step::Wait(WaitReason::WouldLoseQuorum { id: m.id })
    }
}

/// The next step towards `desired` members; see the module docs for the rules.
pub fn plan(o: &Observed) -> Step {
    let c = counts(&o.members);
    if c.healthy < quorum(c.voters) || c.voters == 0 {
        return Step::Wait(WaitReason::NoQuorum { healthy: c.healthy, voters: c.voters });
    }
    let (n, s) = (o.desired, o.statefulset);
    let ours = || o.members.iter().filter_map(|m| m.ordinal.map(|i| (i, m)));
    let member_at = |i: u32| ours().find(|(j, _)| *j == i).map(|(_, m)| m);

    // 1. Members without a pod, other than the one the next grow will create.
    if let Some((i, m)) = ours().filter(|(i, _)| *i >= s && !(*i == s && s < n)).max_by_key(|(i, _)| *i) {
        return remove_or_wait(&c, m, i, RemoveReason::NoPod);
    }
    // 2. An added member waiting for its pod (the operator stopped after MemberAdd).
    if s < n && member_at(s).is_some() {
        return Step::GrowStatefulSet { replicas: s + 1 };
    }
    // 3. A learner in flight: promote it, drop it if no longer wanted, or wait.
    if let Some((i, m)) = ours().filter(|(_, m)| m.learner).min_by_key(|(i, _)| *i) {
        if i >= n {
            return Step::RemoveMember { id: m.id, ordinal: i, reason: RemoveReason::ScaleDown };
        }
        if !(m.started && m.healthy) {
            return Step::Wait(WaitReason::LearnerCatchingUp { ordinal: i });
        }
        // As a voter it is healthy, so promoting cannot lower the healthy
        // share below a quorum unless the cluster is barely at quorum.
        if c.healthy + 1 < quorum(c.voters + 1) {
            return Step::Wait(WaitReason::WouldLoseQuorum { id: m.id });
        }
        return Step::Promote { id: m.id, ordinal: i };
    }
    // 4. A member whose data is gone: take it out so it can come back fresh.
    if let Some((i, m)) = ours().filter(|(i, m)| *i < n.min(s) && m.data == DataState::Lost).min_by_key(|(i, _)| *i) {
        return if can_remove(&c, m) {
            Step::ReplaceLostMember { id: m.id, ordinal: i }
        } else {
            Step::Wait(WaitReason::WouldLoseQuorum { id: m.id })
        };
    }
    // 5. Scale down: the top member leaves the cluster, then its pod goes.
    if s > n {
        let top = s - 1;
        return match member_at(top) {
            Some(m) => remove_or_wait(&c, m, top, RemoveReason::ScaleDown),
            None => Step::ShrinkStatefulSet { replicas: top },
        };
    }
    // 6. A pod without a member (its member was replaced): wipe stale data
    //    first, then add it back under its name.
    if let Some(i) = (0..s).find(|&i| member_at(i).is_none()) {
        if o.stale.contains(&i) {
            return Step::WipeStaleVolume { ordinal: i };
        }
        return Step::AddLearner { ordinal: i };
    }
    // 7. Scale up: add the next member before its pod exists.
    if s < n {
        return Step::AddLearner { ordinal: s };
    }
    Step::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(i: u32) -> ObservedMember {
        ObservedMember {
            id: 0x100 + u64::from(i),
            ordinal: Some(i),
            learner: false,
            started: true,
            healthy: true,
            data: DataState::Owned,
        }
    }

    fn learner(i: u32, started: bool, healthy: bool) -> ObservedMember {
        ObservedMember { learner: true, started, healthy, ..voter(i) }
    }

    fn down(mut m: ObservedMember) -> ObservedMember {
        m.healthy = false;
        m
    }

    fn obs(desired: u32, statefulset: u32, members: Vec<ObservedMember>) -> Observed {
        Observed { desired, statefulset, members, stale: BTreeSet::new() }
    }

    fn voters(n: u32) -> Vec<ObservedMember> {
        (0..n).map(voter).collect()
    }

    /// A toy cluster that applies steps the way the controller does, to
    /// check whole sequences (including restarts, which are free: the planner
    /// has no memory).
    #[derive(Clone, Debug)]
    struct Sim {
        o: Observed,
        next_id: u64,
    }

    impl Sim {
        fn new(desired: u32, n: u32) -> Sim {
            Sim { o: obs(desired, n, voters(n)), next_id: 0x900 }
        }

        /// Applies one step; pods started by a grow come up healthy at once.
        fn apply(&mut self, step: &Step) {
            let o = &mut self.o;
            match *step {
                Step::AddLearner { ordinal } => {
                    self.next_id += 1;
                    let has_pod = ordinal < o.statefulset;
                    o.members.push(ObservedMember {
                        id: self.next_id,
                        started: has_pod,
                        healthy: has_pod,
                        ..learner(ordinal, false, false)
                    });
                }
                Step::GrowStatefulSet { replicas } => {
                    o.statefulset = replicas;
                    for m in &mut o.members {
                        if m.ordinal.is_some_and(|i| i < replicas) {
                            m.started = true;
                            m.healthy = true;
                        }
                    }
                }
                Step::Promote { id, .. } => o.members.iter_mut().filter(|m| m.id == id).for_each(|m| m.learner = false),
                Step::RemoveMember { id, .. } => o.members.retain(|m| m.id != id),
                // The controller marks the volume with the lost member's ID
                // before removing it, so it turns stale.
                Step::ReplaceLostMember { id, ordinal } => {
                    o.members.retain(|m| m.id != id);
                    o.stale.insert(ordinal);
                }
                Step::ShrinkStatefulSet { replicas } => o.statefulset = replicas,
                Step::WipeStaleVolume { ordinal } => {
                    o.stale.remove(&ordinal);
                }
                Step::Wait(_) | Step::Done => {}
            }
        }

        /// Runs to `Done`, returning the steps taken.
        fn run(&mut self) -> Vec<Step> {
            let mut steps = Vec::new();
            for _ in 0..100 {
                let step = plan(&self.o);
                if step == Step::Done {
                    return steps;
                }
                assert!(!matches!(step, Step::Wait(_)), "stuck: {step} in {:?}", self.o);
                self.assert_safe(&step);
                self.apply(&step);
                steps.push(step);
            }
            panic!("no convergence: {steps:?}");
        }

        fn assert_safe(&self, step: &Step) {
            let mut after = self.clone();
            after.apply(step);
            let c = counts(&after.o.members);
            assert!(c.healthy >= quorum(c.voters) && c.voters > 0, "{step} loses quorum");
        }

        fn ordinals(&self) -> Vec<(u32, bool)> {
            let mut v: Vec<(u32, bool)> = self.o.members.iter().map(|m| (m.ordinal.unwrap(), m.learner)).collect();
            v.sort();
            v
        }
    }

    #[test]
    fn steady_state_is_done() {
        for n in 1..=9 {
            assert_eq!(plan(&obs(n, n, voters(n))), Step::Done);
        }
    }

    #[test]
    fn scale_up_adds_learner_then_grows_then_promotes() {
        let mut sim = Sim::new(5, 3);
        let steps = sim.run();
        let kinds: Vec<String> =
            steps.iter().map(|s| format!("{s}").split(' ').take(2).collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(kinds, ["add member", "grow the", "promote learner", "add member", "grow the", "promote learner"]);
        assert_eq!(steps[0], Step::AddLearner { ordinal: 3 });
        assert_eq!(steps[1], Step::GrowStatefulSet { replicas: 4 });
        assert_eq!(sim.o.statefulset, 5);
        assert_eq!(sim.ordinals(), (0..5).map(|i| (i, false)).collect::<Vec<_>>());
    }

    #[test]
    fn scale_down_removes_top_member_before_shrinking() {
        let mut sim = Sim::new(3, 5);
        let steps = sim.run();
        assert_eq!(
            steps,
            [
                Step::RemoveMember { id: 0x104, ordinal: 4, reason: RemoveReason::ScaleDown },
                Step::ShrinkStatefulSet { replicas: 4 },
                Step::RemoveMember { id: 0x103, ordinal: 3, reason: RemoveReason::ScaleDown },
                Step::ShrinkStatefulSet { replicas: 3 },
            ]
        );
        assert_eq!(sim.ordinals(), [(0, false), (1, false), (2, false)]);
    }

    #[test]
    fn killed_between_member_add_and_grow_resumes_with_grow() {
        // MemberAdd went through, the StatefulSet still has 3 pods.
        let mut members = voters(3);
        members.push(learner(3, false, false));
        assert_eq!(plan(&obs(5, 3, members.clone())), Step::GrowStatefulSet { replicas: 4 });
        // ...and if the user lowered replicas meanwhile, the orphan learner goes.
        assert_eq!(
            plan(&obs(3, 3, members)),
            Step::RemoveMember { id: 0x103, ordinal: 3, reason: RemoveReason::NoPod }
        );
    }

    #[test]
    fn killed_between_member_remove_and_shrink_resumes_with_shrink() {
        // Member 4 is out of the cluster, its pod still exists.
        let members = voters(4);
        assert_eq!(plan(&obs(3, 5, members)), Step::ShrinkStatefulSet { replicas: 4 });
    }

    #[test]
    fn restart_at_every_point_of_3_to_5_to_3_converges() {
        // Replaying from any intermediate state (what a restarted operator
        // observes) reaches the same end state.
        for target in [5, 3] {
            let mut sim = Sim::new(5, 3);
            sim.run();
            sim.o.desired = target;
            let mut states = vec![sim.clone()];
            while plan(&sim.o) != Step::Done {
                let s = plan(&sim.o);
                sim.apply(&s);
                states.push(sim.clone());
            }
            for mut st in states {
                st.run();
                assert_eq!(st.o.statefulset, target);
                assert_eq!(st.ordinals(), (0..target).map(|i| (i, false)).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn transient_pod_loss_never_shrinks_or_removes() {
        for n in [1, 3, 5] {
            for bad in 0..n {
                let mut members = voters(n);
                members[bad as usize] = down(voter(bad));
                let step = plan(&obs(n, n, members));
                assert!(matches!(step, Step::Done | Step::Wait(_)), "n={n} bad={bad}: {step}");
            }
        }
    }

    #[test]
    fn no_quorum_means_no_action() {
        let members = vec![voter(0), down(voter(1)), down(voter(2))];
        assert_eq!(plan(&obs(5, 3, members.clone())), Step::Wait(WaitReason::NoQuorum { healthy: 1, voters: 3 }));
        assert!(matches!(plan(&obs(1, 3, members)), Step::Wait(WaitReason::NoQuorum { .. })));
        assert!(matches!(plan(&obs(3, 3, vec![])), Step::Wait(WaitReason::NoQuorum { .. })));
    }

    #[test]
    fn scale_down_never_removes_a_healthy_member_below_quorum() {
        // 4 voters, two down: removing healthy 3 would leave 1 of 3 healthy.
        let members = vec![voter(0), down(voter(1)), down(voter(2)), voter(3)];
        // 2 of 4 healthy is below quorum already.
        assert!(matches!(plan(&obs(3, 4, members)), Step::Wait(WaitReason::NoQuorum { .. })));
        // 5 voters, 2 down (3 healthy = quorum): removing healthy 4 leaves 2 of 4.
        let members = vec![voter(0), down(voter(1)), down(voter(2)), voter(3), voter(4)];
        assert_eq!(plan(&obs(3, 5, members)), Step::Wait(WaitReason::WouldLoseQuorum { id: 0x104 }));
        // An unhealthy top member can always go: that only helps.
        let members = vec![voter(0), voter(1), down(voter(2))];
        assert_eq!(
            plan(&obs(2, 3, members)),
            Step::RemoveMember { id: 0x102, ordinal: 2, reason: RemoveReason::ScaleDown }
        );
    }

    #[test]
    fn broken_middle_member_does_not_block_scale_down_of_the_top() {
        let members = vec![voter(0), down(voter(1)), voter(2), voter(3), voter(4)];
        assert_eq!(
            plan(&obs(3, 5, members)),
            Step::RemoveMember { id: 0x104, ordinal: 4, reason: RemoveReason::ScaleDown }
        );
    }

    #[test]
    fn learner_is_promoted_only_when_started_and_healthy() {
        let mut members = voters(3);
        members.push(learner(3, false, false));
        assert_eq!(plan(&obs(5, 4, members.clone())), Step::Wait(WaitReason::LearnerCatchingUp { ordinal: 3 }));
        members[3] = learner(3, true, false);
        assert_eq!(plan(&obs(5, 4, members.clone())), Step::Wait(WaitReason::LearnerCatchingUp { ordinal: 3 }));
        members[3] = learner(3, true, true);
        assert_eq!(plan(&obs(5, 4, members.clone())), Step::Promote { id: 0x103, ordinal: 3 });
        // Scale-down requested while the learner catches up: it goes first.
        members[3] = learner(3, true, false);
        assert_eq!(
            plan(&obs(3, 4, members)),
            Step::RemoveMember { id: 0x103, ordinal: 3, reason: RemoveReason::ScaleDown }
        );
    }

    #[test]
    fn lost_member_is_removed_and_re_added_under_its_name() {
        let mut sim = Sim::new(3, 3);
        sim.o.members[1].data = DataState::Lost;
        sim.o.members[1].healthy = false;
        let steps = sim.run();
        assert_eq!(steps[0], Step::ReplaceLostMember { id: 0x101, ordinal: 1 });
        // The new volume may hold what the pod wrote while it ran under the old ID.
        assert_eq!(steps[1], Step::WipeStaleVolume { ordinal: 1 });
        assert_eq!(steps[2], Step::AddLearner { ordinal: 1 });
        assert!(matches!(steps[3], Step::Promote { ordinal: 1, .. }));
        assert_eq!(steps.len(), 4);
        assert_eq!(sim.ordinals(), [(0, false), (1, false), (2, false)]);
        assert_ne!(sim.o.members.iter().find(|m| m.ordinal == Some(1)).unwrap().id, 0x101);
    }

    #[test]
    fn lost_member_is_not_replaced_if_that_loses_quorum() {
        // 3 voters: 0 down, 1 lost (but answering): removing 1 leaves 1 of 2 healthy.
        let mut members = vec![down(voter(0)), voter(1), voter(2)];
        members[1].data = DataState::Lost;
        assert_eq!(plan(&obs(3, 3, members)), Step::Wait(WaitReason::WouldLoseQuorum { id: 0x101 }));
    }

    #[test]
    fn stale_volume_is_wiped_before_re_adding() {
        let mut o = obs(3, 3, vec![voter(0), voter(2)]);
        o.stale.insert(1);
        assert_eq!(plan(&o), Step::WipeStaleVolume { ordinal: 1 });
        o.stale.clear();
        assert_eq!(plan(&o), Step::AddLearner { ordinal: 1 });
    }

    #[test]
    fn scale_back_up_after_remove_but_before_shrink_does_not_reuse_stale_pod() {
        // Operator removed member 3 for a 4→3 scale-down, then the user asked for 4 again
        // before the shrink: the pod of 3 still holds the removed member's data.
        let mut o = obs(4, 4, voters(3));
        o.stale.insert(3);
        assert_eq!(plan(&o), Step::WipeStaleVolume { ordinal: 3 });
    }

    #[test]
    fn foreign_members_count_for_quorum_but_are_never_touched() {
        let mut members = voters(3);
        members.push(ObservedMember { ordinal: None, id: 0x777, ..voter(9) });
        assert_eq!(plan(&obs(3, 3, members.clone())), Step::Done);
        // 2 of ours down + the foreign one healthy: 2 of 4 healthy, no quorum.
        members[1] = down(voter(1));
        members[2] = down(voter(2));
        assert!(matches!(plan(&obs(3, 3, members)), Step::Wait(WaitReason::NoQuorum { .. })));
    }

    #[test]
    fn single_member_scales_to_three_and_back() {
        let mut sim = Sim::new(3, 1);
        sim.run();
        assert_eq!(sim.ordinals(), [(0, false), (1, false), (2, false)]);
        sim.o.desired = 1;
        sim.run();
        assert_eq!(sim.ordinals(), [(0, false)]);
        assert_eq!(sim.o.statefulset, 1);
    }

    #[test]
    fn every_step_from_any_size_to_any_size_keeps_quorum() {
        for from in 1..=9 {
            for to in 1..=9 {
                let mut sim = Sim::new(to, from);
                sim.run(); // run() asserts quorum after each step
                assert_eq!(sim.o.statefulset, to, "{from}->{to}");
                assert_eq!(sim.ordinals(), (0..to).map(|i| (i, false)).collect::<Vec<_>>(), "{from}->{to}");
            }
        }
    }

    #[test]
    fn data_state_from_volume_records() {
        assert_eq!(data_state(false, Some("a"), Some("b")), DataState::Owned);
        assert_eq!(data_state(true, Some("a"), Some("a")), DataState::Owned);
        assert_eq!(data_state(true, Some("a"), Some("b")), DataState::Lost);
        assert_eq!(data_state(true, Some("a"), None), DataState::Unknown);
        assert_eq!(data_state(true, None, Some("b")), DataState::Unknown);
    }
}
