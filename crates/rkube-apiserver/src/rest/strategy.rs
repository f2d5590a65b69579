//! Per-kind behaviour of the generic REST path (upstream's "strategies"): what create resets,
//! which kinds track `metadata.generation`, and how graceful deletion applies.

use rkube_api::ResourceInfo;
use serde_json::{json, Value};

/// Kinds whose `metadata.generation` starts at 1 and is bumped on every spec change.
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    matches!(
        info.plural,
        "deployments"
            | "replicasets"
            | "statefulsets"
            | "daemonsets"
            | "replicationcontrollers"
            | "jobs"
            | "cronjobs"
            | "horizontalpodautoscalers"
            | "poddisruptionbudgets"
            | "networkpolicies"
            | "ingresses"
            | "customresourcedefinitions"
            | "validatingadmissionpolicies"
            | "validatingwebhookconfigurations"
            | "mutatingwebhookconfigurations"
            | "flowschemas"
            | "prioritylevelconfigurations"
            | "resourcequotas"
    )
}

/// Whether a new object's `status` is dropped on create (the status subresource owns it).
/// Nodes and a few others keep what the creator sends, as upstream.
fn resets_status_on_create(info: &ResourceInfo) -> bool {
    info.has_status
        && !matches!(
            info.plural,
            "nodes" | "persistentvolumes" | "certificatesigningrequests" | "apiservices" | "leases"
        )
}

/// Upstream's PrepareForCreate: fields the server owns on a new object.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value) {
    if resets_status_on_create(info) {
        if let Some(o) = obj.as_object_mut() {
            o.insert("status".into(), json!({}));
        }
    }
    match info.plural {
        "pods" if info.group.is_empty() => {
            let qos = qos_class(obj);
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        "namespaces" if info.group.is_empty() => {
            obj["status"] = json!({"phase": "Active"});
            let fins = obj.pointer("/spec/finalizers").cloned();
            if fins.is_none() {
                if !obj.get("spec").is_some_and(|s| s.is_object()) {
                    obj["spec"] = json!({});
                }
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
        }
        _ => {}
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn qos_class(pod: &Value) -> &'static str {
    let mut containers: Vec<&Value> = Vec::new();
    for list in ["containers", "initContainers"] {
        if let Some(a) = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(|v| v.as_array())
        {
            containers.extend(a.iter());
        }
    }
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(|v| v.as_object());
        let lim = c.pointer("/resources/limits").and_then(|v| v.as_object());
        for res in ["cpu", "memory"] {
            let r = req.and_then(|m| m.get(res));
            let l = lim.and_then(|m| m.get(res));
            if r.is_some() || l.is_some() {
                any = true;
            }
            match (r, l) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Whether anything but metadata and status differs.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("metadata");
            o.remove("status");
            o.remove("apiVersion");
            o.remove("kind");
        }
        v
    };
    strip(old) != strip(new)
}

/// Default grace period of a pod (spec.terminationGracePeriodSeconds, else 30).
pub fn pod_grace_seconds(pod: &Value) -> i64 {
    pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(30)
        .max(0)
}

/// Whether deleting this pod waits for a kubelet: it is bound to a node and not finished.
pub fn pod_needs_graceful_delete(pod: &Value) -> bool {
    let bound = pod
        .pointer("/spec/nodeName")
        .and_then(|v| v.as_str())
        .is_some_and(|s| !s.is_empty());
    let phase = pod
        .pointer("/status/phase")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    bound && phase != "Succeeded" && phase != "Failed"
}

/// Namespaces that can never be deleted.
pub fn is_protected_namespace(name: &str) -> bool {
    matches!(name, "default" | "kube-system" | "kube-public")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos() {
        let cases = [
            (
                json!({"spec": {"containers": [{"name": "a"}]}}),
                "BestEffort",
            ),
            (
                json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]}}),
                "Burstable",
            ),
            (
                json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]}}),
                "Guaranteed",
            ),
            (
                json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}),
                "Guaranteed",
            ),
        ];
        for (pod, want) in cases {
            assert_eq!(qos_class(&pod), want, "{pod}");
        }
    }

    #[test]
    fn spec_change_ignores_metadata_and_status() {
        let a = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"x": 1}});
        let b = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"replicas": 1}, "status": {"x": 2}});
        let c = json!({"metadata": {}, "spec": {"replicas": 2}});
        assert!(!spec_changed(&a, &b));
        assert!(spec_changed(&a, &c));
    }

    #[test]
    fn graceful_pods() {
        assert!(pod_needs_graceful_delete(
            &json!({"spec": {"nodeName": "n"}, "status": {"phase": "Running"}})
        ));
        assert!(!pod_needs_graceful_delete(
            &json!({"spec": {}, "status": {"phase": "Pending"}})
        ));
        assert!(!pod_needs_graceful_delete(
            &json!({"spec": {"nodeName": "n"}, "status": {"phase": "Succeeded"}})
        ));
    }
}
