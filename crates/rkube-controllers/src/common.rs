//! What several controllers share: controller ownerReferences, pod phase/readiness/
//! availability predicates (upstream's `podutil`), and creating pods from a template with a
//! controller reference (upstream's `PodControl`).

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

/// A controller ownerReference (`controller: true`, `blockOwnerDeletion: true`) to `owner`.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The controller ownerReference of an object, if any.
pub fn get_controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    get_controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// `status.phase`, empty when unset.
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Not terminal (Succeeded/Failed) and not being deleted: upstream's `IsPodActive`.
pub fn is_pod_active(pod: &Pod) -> bool {
    !matches!(pod_phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's Ready condition is True.
pub fn is_pod_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When the Ready condition last became True, if it is True (the transition time may be
/// missing, which counts as "since forever").
fn ready_since(pod: &Pod) -> Option<Option<chrono::DateTime<chrono::Utc>>> {
    let conds = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conds.iter().find(|c| c.type_ == "Ready")?;
    if c.status != "True" {
        return None;
    }
    Some(c.last_transition_time.as_ref().and_then(|t| {
        chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
    }))
}

/// Ready for at least `min_ready_seconds` at `now`: upstream's `IsPodAvailable`.
pub fn is_pod_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => true,
        Some(Some(t)) => t + chrono::Duration::seconds(min_ready_seconds as i64) <= now,
    }
}

/// Creates a pod in `namespace` from `template`, named `<generate_name>xxxxx` by the server,
/// with the template's labels and annotations and a controller reference to `owner`.
pub async fn create_pod_from_template(
    client: &kube::Client,
    namespace: &str,
    template: &PodTemplateSpec,
    owner: OwnerReference,
    generate_name: &str,
) -> Result<Pod, kube::Error> {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    Api::<Pod>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &pod)
        .await
}

/// Whether an API error is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether an API error is a 409.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// A typed `metav1.LabelSelector` as a matcher, as upstream's `LabelSelectorAsSelector`:
/// `None` selects nothing, an empty selector selects everything.
pub fn label_selector(
    selector: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> Result<rkube_api::selectors::LabelSelector, rkube_api::selectors::SelectorError> {
    let value = match selector {
        None => serde_json::Value::Null,
        Some(s) => serde_json::to_value(s).unwrap_or(serde_json::Value::Null),
    };
    rkube_api::selectors::LabelSelector::from_label_selector_json(&value)
}

/// Whether an object's labels (absent counts as empty) satisfy `selector`.
pub fn selector_matches(
    selector: &rkube_api::selectors::LabelSelector,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    selector.matches(&map)
}
