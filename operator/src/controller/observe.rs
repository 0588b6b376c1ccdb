//! Reading the world: the StatefulSet, the member volumes, the member list
//! and each member's health. Then [`assess`], a pure function, turns that into
//! the planner's input and the status' member list.

use std::collections::BTreeMap;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::ListParams;

use super::{Context, Error};
use crate::crd::{EtcdCluster, MemberStatus};
use crate::etcd::{EtcdClient, MemberHealth, MemberList};
use crate::members::{DataState, Observed, ObservedMember, data_state};
use crate::resources::Names;

/// Annotation on a member's volume object (claim, or pod with `emptyDir`)
/// naming the member whose data it holds. A volume with this annotation but
/// no such member holds a removed member's data and must not be re-added as is.
pub const MEMBER_ANNOTATION: &str = "capstan.dev/member-id";

/// The object bounding an ordinal's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Its UID.
    pub uid: String,
    /// Its name (claim or pod).
    pub name: String,
    /// The `capstan.dev/member-id` annotation, if any.
    pub marker: Option<String>,
}

/// Everything read in one reconcile.
#[derive(Clone, Debug, Default)]
pub struct World {
    /// The StatefulSet, if it exists.
    pub statefulset: Option<StatefulSet>,
    /// The member list, if any member answered.
    pub list: Option<MemberList>,
    /// Status of each member that answered, by member ID.
    pub health: BTreeMap<u64, MemberHealth>,
    /// Volume of each ordinal that has one.
    pub volumes: BTreeMap<u32, VolumeInfo>,
}

impl World {
    /// The StatefulSet's replicas (0 when absent).
    pub fn sts_replicas(&self) -> u32 {
        self.statefulset.as_ref().and_then(|s| s.spec.replicas).unwrap_or(0).max(0) as u32
    }
}

fn ordinal_of_name(names: &Names, prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix(&format!("{}-", names.cluster))?;
    let n: u32 = rest.parse().ok()?;
    (n.to_string() == rest).then_some(n)
}

/// Endpoints to ask for the member list: every pod that may exist, plus the
/// client URLs members advertise.
pub fn endpoints(names: &Names, ordinals: u32, list: Option<&MemberList>) -> Vec<String> {
    let mut urls: Vec<String> = (0..ordinals).map(|i| names.client_url(i)).collect();
    for m in list.iter().flat_map(|l| &l.members) {
        for u in &m.client_ur_ls {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
    }
    urls
}

/// Reads the world for one cluster, talking to its members with `etcd`.
pub async fn read(ctx: &Context, etcd: &EtcdClient, ec: &EtcdCluster, names: &Names) -> Result<World, Error> {
    let client = ctx.client.clone();
    let ns = names.namespace.as_str();
    let statefulset =
        Api::<StatefulSet>::namespaced(client.clone(), ns).get_opt(&names.statefulset()).await.map_err(Error::Kube)?;
    let mut world = World { statefulset, ..World::default() };

    let selector = ListParams::default().labels(&names.selector_string());
    if ec.spec.storage.empty_dir {
        for pod in Api::<Pod>::namespaced(client.clone(), ns).list(&selector).await.map_err(Error::Kube)? {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if let (Some(i), Some(uid)) = (ordinal_of_name(names, "", &name), pod.metadata.uid.clone()) {
                let marker = pod.metadata.annotations.as_ref().and_then(|a| a.get(MEMBER_ANNOTATION).cloned());
                world.volumes.insert(i, VolumeInfo { uid, name, marker });
            }
        }
    } else {
        let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns);
        for pvc in claims.list(&selector).await.map_err(Error::Kube)? {
            if pvc.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = pvc.metadata.name.clone().unwrap_or_default();
            if let (Some(i), Some(uid)) = (ordinal_of_name(names, "data-", &name), pvc.metadata.uid.clone()) {
                let marker = pvc.metadata.annotations.as_ref().and_then(|a| a.get(MEMBER_ANNOTATION).cloned());
                world.volumes.insert(i, VolumeInfo { uid, name, marker });
            }
        }
    }

    let ordinals = world.sts_replicas().max(ec.spec.replicas.max(1) as u32);
    let urls = endpoints(names, ordinals, None);
    world.list = etcd.member_list(&urls).await.ok();
    if let Some(list) = &world.list {
        let probes = list.members.iter().filter_map(|m| {
            let url = m.client_ur_ls.first().cloned().or_else(|| {
                m.peer_ur_ls.iter().find_map(|u| names.ordinal_of_peer_url(u)).map(|i| names.client_url(i))
            })?;
            let etcd = etcd.clone();
            let id = m.id;
            Some(async move { (id, etcd.status(&url).await) })
        });
        for (id, result) in join_all(probes).await {
            if let Ok(h) = result {
                world.health.insert(id, h);
            }
        }
    }
    Ok(world)
}

/// What [`assess`] derives.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Planner input (`None` while no member list is known).
    pub observed: Option<Observed>,
    /// Members for the status, with volume records carried forward.
    pub members: Vec<MemberStatus>,
    /// Volumes to mark with their member's ID: `(ordinal, member id hex)`.
    pub marks: Vec<(u32, String)>,
}

/// Joins the member list, health, volumes and the previous status' volume
/// records into the planner's input and the new member statuses. Pure.
pub fn assess(names: &Names, desired: u32, world: &World, previous: &[MemberStatus]) -> Assessment {
    let Some(list) = &world.list else {
        return Assessment { observed: None, members: previous.to_vec(), marks: vec![] };
    };
    let leader = world.health.values().find(|h| h.healthy()).map(|h| h.leader);
    let mut observed = Observed { desired, statefulset: world.sts_replicas(), ..Observed::default() };
    let mut members = Vec::new();
    let mut marks = Vec::new();
    for m in &list.members {
        let ordinal = m.peer_ur_ls.iter().find_map(|u| names.ordinal_of_peer_url(u));
        let id_hex = format!("{:x}", m.id);
        let health = world.health.get(&m.id);
        let healthy = health.is_some_and(|h| h.healthy());
        let started = !m.client_ur_ls.is_empty();
        let name =
            if m.name.is_empty() { ordinal.map(|i| names.member(i)).unwrap_or_default() } else { m.name.clone() };
        let recorded = previous.iter().find(|p| p.id == id_hex).and_then(|p| p.volume_uid.clone());
        let volume = ordinal.and_then(|i| world.volumes.get(&i));
        let mut data = data_state(started, recorded.as_deref(), volume.map(|v| v.uid.as_str()));
        // A member seen healthy on a volume owns it: record (and mark) it, unless
        // a different volume is on record (then its data was lost).
        let mut volume_uid = recorded.clone();
        if let (Some(i), Some(v)) = (ordinal, volume)
            && healthy
            && started
            && data != DataState::Lost
        {
            volume_uid = Some(v.uid.clone());
            data = DataState::Owned;
            if v.marker.as_deref() != Some(id_hex.as_str()) {
                marks.push((i, id_hex.clone()));
            }
        }
        observed.members.push(ObservedMember { id: m.id, ordinal, learner: m.is_learner, started, healthy, data });
        members.push(MemberStatus {
            name,
            id: id_hex,
            learner: m.is_learner,
            leader: leader == Some(m.id),
            healthy,
            version: health.map(|h| h.version.clone()).filter(|v| !v.is_empty()),
            volume_uid,
        });
    }
    // Volumes of ordinals with no member that still carry a member's mark.
    for (i, v) in &world.volumes {
        let has_member = observed.members.iter().any(|m| m.ordinal == Some(*i));
        if !has_member && v.marker.is_some() {
            observed.stale.insert(*i);
        }
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Assessment { observed: Some(observed), members, marks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::testing::names;
    use capstan_proto::etcdserverpb::Member;
    use std::collections::BTreeSet;

    fn member(i: u32, id: u64, started: bool) -> Member {
        let n = names();
        Member {
            id,
            name: if started { n.member(i) } else { String::new() },
            peer_ur_ls: vec![n.peer_url(i)],
            client_ur_ls: if started { vec![n.client_url(i)] } else { vec![] },
            is_learner: false,
        }
    }

    fn healthy(id: u64) -> MemberHealth {
        MemberHealth { member_id: id, leader: 1, version: "3.6.6".into(), errors: vec![], is_learner: false }
    }

    fn vol(uid: &str, marker: Option<&str>) -> VolumeInfo {
        VolumeInfo { uid: uid.into(), name: format!("v-{uid}"), marker: marker.map(str::to_string) }
    }

    fn world(members: Vec<Member>, volumes: Vec<(u32, VolumeInfo)>) -> World {
        let health = members.iter().filter(|m| !m.client_ur_ls.is_empty()).map(|m| (m.id, healthy(m.id))).collect();
        World {
            statefulset: None,
            list: Some(MemberList { cluster_id: 7, members }),
            health,
            volumes: volumes.into_iter().collect(),
        }
    }

    #[test]
    fn healthy_members_get_their_volume_recorded_and_marked() {
        let w = world(vec![member(0, 1, true), member(1, 2, false)], vec![(0, vol("a", None)), (1, vol("b", None))]);
        let a = assess(&names(), 2, &w, &[]);
        assert_eq!(a.members[0].volume_uid.as_deref(), Some("a"));
        assert!(a.members[0].leader);
        assert_eq!(a.members[1].name, "demo-1");
        assert_eq!(a.members[1].volume_uid, None);
        assert_eq!(a.marks, [(0, "1".to_string())]);
        let o = a.observed.unwrap();
        assert!(!o.members[1].started);
        assert_eq!(o.members[0].data, DataState::Owned);
    }

    #[test]
    fn a_new_volume_under_a_started_member_means_lost_data() {
        let previous = vec![MemberStatus {
            name: "demo-0".into(),
            id: "1".into(),
            volume_uid: Some("old".into()),
            ..MemberStatus::default()
        }];
        let w = world(vec![member(0, 1, true)], vec![(0, vol("new", None))]);
        let a = assess(&names(), 1, &w, &previous);
        assert_eq!(a.observed.unwrap().members[0].data, DataState::Lost);
        // The record is kept (not overwritten by the new volume) and nothing is marked.
        assert_eq!(a.members[0].volume_uid.as_deref(), Some("old"));
        assert!(a.marks.is_empty());
    }

    #[test]
    fn marked_volume_without_member_is_stale() {
        let w = world(vec![member(0, 1, true)], vec![(0, vol("a", Some("1"))), (1, vol("b", Some("2")))]);
        let a = assess(&names(), 2, &w, &[]);
        assert_eq!(a.observed.unwrap().stale, BTreeSet::from([1]));
        assert!(a.marks.is_empty());
    }

    #[test]
    fn unknown_list_keeps_previous_members() {
        let previous = vec![MemberStatus { name: "demo-0".into(), ..MemberStatus::default() }];
        let a = assess(&names(), 1, &World::default(), &previous);
        assert_eq!(a.observed, None);
        assert_eq!(a.members, previous);
    }

    #[test]
    fn volume_names_map_to_ordinals() {
        let n = names();
        assert_eq!(ordinal_of_name(&n, "data-", "data-demo-3"), Some(3));
        assert_eq!(ordinal_of_name(&n, "", "demo-0"), Some(0));
        assert_eq!(ordinal_of_name(&n, "data-", "data-demo-x"), None);
        assert_eq!(ordinal_of_name(&n, "", "demo-peers"), None);
    }
}
