//! A StatefulSet pod's identity and storage (upstream's `stateful_set_utils.go`): the name
//! `<set>-<ordinal>`, the `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index`
//! and `controller-revision-hash` labels, hostname/subdomain, the PersistentVolumeClaims
//! `<claim>-<set>-<ordinal>` from `volumeClaimTemplates` mounted as the template's volumes,
//! and the claims' ownerReferences under `persistentVolumeClaimRetentionPolicy`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use crate::common::controller_ref;
use crate::history::CONTROLLER_REVISION_HASH_LABEL;

/// The pod's name label.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The pod's ordinal label.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `<set>-<ordinal>`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// The ordinal of a pod named `<set>-<ordinal>`, if it is one of `set`'s names.
pub fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let n = pod.strip_prefix(set)?.strip_prefix('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0'))
    {
        return None;
    }
    n.parse().ok()
}

/// `spec.ordinals.start` (0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0)
}

/// `spec.replicas` (1 by default).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0)
}

/// The revision a pod was made from (its `controller-revision-hash` label).
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .map(String::as_str)
        .unwrap_or_default()
}

fn claim_templates(set: &StatefulSet) -> &[PersistentVolumeClaim] {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_deref())
        .unwrap_or_default()
}

/// The claims of the pod with `ordinal`, in template order as `(template name, claim)`: named
/// `<claim>-<set>-<ordinal>`, labelled with the template's labels plus the set's
/// `selector.matchLabels`.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let match_labels = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|t| {
            let template_name = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(match_labels.clone());
            let claim = PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(format!("{template_name}-{}-{ordinal}", set.name_any())),
                    namespace: set.namespace(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            };
            (template_name, claim)
        })
        .collect()
}

/// Upstream's `newStatefulSetPod` + `setPodRevision`: the pod with `ordinal` from `template`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, revision: &str, ordinal: i32) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let name = pod_name(&set.name_any(), ordinal);
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), revision.into());
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![controller_ref(set)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    update_identity(set, &mut pod, ordinal);
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name);
    spec.subdomain = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    update_storage(set, &mut pod, ordinal);
    pod
}

/// Sets the identity labels of the pod with `ordinal`.
fn update_identity(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let name = pod_name(&set.name_any(), ordinal);
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name);
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// The identity labels the pod lacks (empty when it has them all).
pub fn missing_identity(set: &StatefulSet, pod: &Pod, ordinal: i32) -> BTreeMap<String, String> {
    let want = [
        (
            POD_NAME_LABEL.to_string(),
            pod_name(&set.name_any(), ordinal),
        ),
        (POD_INDEX_LABEL.to_string(), ordinal.to_string()),
    ];
    let have = pod.metadata.labels.clone().unwrap_or_default();
    want.into_iter()
        .filter(|(k, v)| have.get(k) != Some(v))
        .collect()
}

/// Points the template's volumes named after claim templates at the pod's claims (adding
/// them when the template has no such volume).
fn update_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let claims = claims_for(set, ordinal);
    if claims.is_empty() {
        return;
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    let current = spec.volumes.take().unwrap_or_default();
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(name, claim)| Volume {
            name: name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.name_any(),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    volumes.extend(
        current
            .into_iter()
            .filter(|v| !claims.iter().any(|(n, _)| *n == v.name)),
    );
    spec.volumes = Some(volumes);
}

/// `(whenDeleted, whenScaled)`, each `Retain` or `Delete` (Retain by default).
fn retention(set: &StatefulSet) -> (bool, bool) {
    let p = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let delete = |v: Option<&String>| v.is_some_and(|v| v == "Delete");
    (
        delete(p.and_then(|p| p.when_deleted.as_ref())),
        delete(p.and_then(|p| p.when_scaled.as_ref())),
    )
}

fn plain_ref(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: None,
        block_owner_deletion: None,
    }
}

/// The ownerReferences a claim of `pod` should have under the retention policy (upstream's
/// `updateClaimOwnerRefForSetAndPod`): the set when `whenDeleted: Delete`, the pod when
/// `whenScaled: Delete` and the pod is being scaled away. Other owners are kept.
pub fn claim_owner_refs(
    set: &StatefulSet,
    claim: &PersistentVolumeClaim,
    pod: &Pod,
    scaled_down: bool,
) -> Vec<OwnerReference> {
    let (when_deleted, when_scaled) = retention(set);
    let set_uid = set.uid().unwrap_or_default();
    let pod_uid = pod.uid().unwrap_or_default();
    let mut refs: Vec<OwnerReference> = claim
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != set_uid && r.uid != pod_uid)
        .collect();
    if when_deleted {
        refs.push(plain_ref(
            "apps/v1",
            "StatefulSet",
            &set.name_any(),
            &set_uid,
        ));
    }
    if when_scaled && scaled_down && !pod_uid.is_empty() {
        refs.push(plain_ref("v1", "Pod", &pod.name_any(), &pod_uid));
    }
    refs
}

/// Whether two ownerReference lists name the same owners.
pub fn same_owners(a: &[OwnerReference], b: &[OwnerReference]) -> bool {
    let uids = |v: &[OwnerReference]| {
        let mut u: Vec<String> = v.iter().map(|r| r.uid.clone()).collect();
        u.sort();
        u
    };
    uids(a) == uids(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                    "containers": [{"name": "c", "volumeMounts": [{"name": "www", "mountPath": "/w"}]}],
                    "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cfg", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www", "labels": {"tier": "data"}},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-x"), None);
        assert_eq!(ordinal_of("web", "web-01"), None);
        assert_eq!(ordinal_of("web", "webby-1"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
    }

    #[test]
    fn pod_identity_and_storage() {
        let s = set();
        let t = s.spec.as_ref().unwrap().template.clone();
        let pod = new_pod(&s, &t, "web-abc", 2);
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(v["metadata"]["name"], "web-2");
        assert_eq!(
            v["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            "web-2"
        );
        assert_eq!(v["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "2");
        assert_eq!(
            v["metadata"]["labels"]["controller-revision-hash"],
            "web-abc"
        );
        assert_eq!(v["spec"]["hostname"], "web-2");
        assert_eq!(v["spec"]["subdomain"], "nginx");
        assert_eq!(
            v["spec"]["volumes"],
            json!([{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-2"}},
                   {"name": "cfg", "emptyDir": {}}])
        );
        assert!(missing_identity(&s, &pod, 2).is_empty());
        let claims = claims_for(&s, 2);
        assert_eq!(claims[0].1.name_any(), "www-web-2");
        let labels = claims[0].1.metadata.labels.clone().unwrap();
        assert_eq!(
            (labels["tier"].as_str(), labels["app"].as_str()),
            ("data", "web")
        );
    }

    #[test]
    fn retention_owner_refs() {
        let mut s = set();
        let claim = PersistentVolumeClaim::default();
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "web-2", "uid": "p2"}})).unwrap();
        assert!(claim_owner_refs(&s, &claim, &pod, true).is_empty());
        s.spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy =
            serde_json::from_value(json!({"whenDeleted": "Delete", "whenScaled": "Delete"}))
                .unwrap();
        let uids: Vec<String> = claim_owner_refs(&s, &claim, &pod, true)
            .into_iter()
            .map(|r| r.uid)
            .collect();
        assert_eq!(uids, ["u1", "p2"]);
        let uids: Vec<String> = claim_owner_refs(&s, &claim, &pod, false)
            .into_iter()
            .map(|r| r.uid)
            .collect();
        assert_eq!(uids, ["u1"]);
    }
}
