//! Typed decoding checks: an incoming object is decoded into its `k8s-openapi` type to catch
//! fields of the wrong JSON type (a string where a map belongs, a number where a string
//! belongs), as upstream's typed decoding does. The object itself stays JSON; only the error
//! is used. Missing fields are not decoding errors upstream (validation reports them), so
//! they are ignored here.

use k8s_openapi::Resource;
use serde_json::Value;

type Check = fn(&Value) -> Result<(), serde_json::Error>;

fn check<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
    T::deserialize(v).map(|_| ())
}

macro_rules! kinds {
    ($($t:ty),* $(,)?) => {
        &[$((<$t as Resource>::GROUP, <$t as Resource>::VERSION, <$t as Resource>::KIND, check::<$t> as Check)),*]
    };
}

static KINDS: &[(&str, &str, &str, Check)] = {
    use k8s_openapi::api::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apireg;
    kinds![
        core::v1::Binding,
        core::v1::ComponentStatus,
        core::v1::ConfigMap,
        core::v1::Endpoints,
        core::v1::Event,
        core::v1::LimitRange,
        core::v1::Namespace,
        core::v1::Node,
        core::v1::PersistentVolume,
        core::v1::PersistentVolumeClaim,
        core::v1::Pod,
        core::v1::PodTemplate,
        core::v1::ReplicationController,
        core::v1::ResourceQuota,
        core::v1::Secret,
        core::v1::Service,
        core::v1::ServiceAccount,
        apps::v1::ControllerRevision,
        apps::v1::DaemonSet,
        apps::v1::Deployment,
        apps::v1::ReplicaSet,
        apps::v1::StatefulSet,
        batch::v1::CronJob,
        batch::v1::Job,
        autoscaling::v1::HorizontalPodAutoscaler,
        autoscaling::v2::HorizontalPodAutoscaler,
        policy::v1::PodDisruptionBudget,
        policy::v1::Eviction,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        networking::v1::Ingress,
        networking::v1::IngressClass,
        networking::v1::NetworkPolicy,
        networking::v1::IPAddress,
        networking::v1::ServiceCIDR,
        coordination::v1::Lease,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        storage::v1::CSIDriver,
        storage::v1::CSINode,
        storage::v1::CSIStorageCapacity,
        storage::v1::StorageClass,
        storage::v1::VolumeAttachment,
        scheduling::v1::PriorityClass,
        node::v1::RuntimeClass,
        certificates::v1::CertificateSigningRequest,
        admissionregistration::v1::MutatingWebhookConfiguration,
        admissionregistration::v1::ValidatingWebhookConfiguration,
        admissionregistration::v1::ValidatingAdmissionPolicy,
        admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        flowcontrol::v1::FlowSchema,
        flowcontrol::v1::PriorityLevelConfiguration,
        authentication::v1::TokenReview,
        authentication::v1::SelfSubjectReview,
        authorization::v1::LocalSubjectAccessReview,
        authorization::v1::SelfSubjectAccessReview,
        authorization::v1::SelfSubjectRulesReview,
        authorization::v1::SubjectAccessReview,
        apiext::CustomResourceDefinition,
        apireg::APIService,
    ]
};

/// Maps whose values are resource quantities, and scalar quantity fields. JSON numbers are
/// valid quantities upstream (`cpu: 1`), while the typed `Quantity` only decodes strings.
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "min",
    "max",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "overhead",
    "podFixed",
];
const QUANTITY_SCALARS: &[&str] = &["sizeLimit", "capacity"];

fn number_to_string(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// Prepare for typed decoding: drop nulls (Go decoding treats null as absent; serde rejects
/// null for non-optional fields) and turn numeric quantities into strings.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| {
                    let x = match x {
                        Value::Object(inner) if QUANTITY_MAPS.contains(&k.as_str()) => {
                            Value::Object(
                                inner
                                    .iter()
                                    .map(|(ik, iv)| (ik.clone(), number_to_string(iv)))
                                    .collect(),
                            )
                        }
                        Value::Number(_) if QUANTITY_SCALARS.contains(&k.as_str()) => {
                            number_to_string(x)
                        }
                        _ => normalize(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Decode `obj` as the typed `group/version` `kind`. `Ok(())` for kinds without a typed
/// definition. The error text is serde's description of the first wrongly typed field.
pub fn check_types(group: &str, version: &str, kind: &str, obj: &Value) -> Result<(), String> {
    let Some((_, _, _, f)) = KINDS
        .iter()
        .find(|(g, v, k, _)| *g == group && *v == version && *k == kind)
    else {
        return Ok(());
    };
    // apiVersion/kind were checked by the caller; decoding would insist on exact values.
    let mut o = normalize(obj);
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    match f(&o) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            if msg.starts_with("missing field") {
                Ok(())
            } else {
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_found() {
        let cases = [
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
                true,
            ),
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": {"k": 5}}),
                false,
            ),
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": null}),
                true,
            ),
            (
                "apps",
                "v1",
                "Deployment",
                json!({"spec": {"replicas": "three"}}),
                false,
            ),
            // Missing required fields are validation's business, not decoding's.
            (
                "apps",
                "v1",
                "Deployment",
                json!({"spec": {"replicas": 3}}),
                true,
            ),
            (
                "",
                "v1",
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": "80"}]}]}}),
                false,
            ),
            (
                "",
                "v1",
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}}}]}}),
                true,
            ),
            ("example.com", "v1", "Widget", json!({"spec": 5}), true),
        ];
        for (g, v, k, obj, ok) in cases {
            assert_eq!(check_types(g, v, k, &obj).is_ok(), ok, "{k} {obj}");
        }
    }
}
