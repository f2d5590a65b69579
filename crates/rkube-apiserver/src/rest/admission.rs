//! Admission that needs other objects than the one written. For now upstream's `Priority`
//! plugin: a pod's `spec.priorityClassName` is resolved to `spec.priority` and
//! `spec.preemptionPolicy` from its PriorityClass (or the global default class), and the two
//! built-in classes `system-cluster-critical` and `system-node-critical` exist from the start.

use std::sync::Arc;

use rkube_api::registry::{self, ResourceInfo};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::rest::encode_for_store;
use crate::Server;

/// The built-in classes: name, value, description.
const SYSTEM_CLASSES: [(&str, i64, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// Creates the built-in PriorityClasses if missing.
pub async fn bootstrap(srv: &Arc<Server>) -> ApiResult<()> {
    let info = registry::lookup("scheduling.k8s.io", "v1", "priorityclasses")
        .ok_or_else(|| ApiError::internal("priorityclasses are not registered"))?;
    for (name, value, description) in SYSTEM_CLASSES {
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {
                "name": name,
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": crate::rest::now_rfc3339(),
            },
            "value": value,
            "globalDefault": false,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        let key = format!("/registry/priorityclasses/{name}");
        match srv.store.create(&key, encode_for_store(info, &obj)?).await {
            Ok(_) | Err(rkube_store::Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Admission on create, before validation.
pub async fn admit_create(
    srv: &Server,
    info: &ResourceInfo,
    name: &str,
    obj: &mut Value,
) -> ApiResult<()> {
    if info.group.is_empty() && info.kind == "Pod" {
        pod_priority(srv, info, name, obj).await?;
    }
    Ok(())
}

async fn pod_priority(
    srv: &Server,
    info: &ResourceInfo,
    name: &str,
    pod: &mut Value,
) -> ApiResult<()> {
    let class_name = pod["spec"]["priorityClassName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let class = if class_name.is_empty() {
        let defaults = srv
            .cache
            .list("/registry/priorityclasses/", None, 0, &|v: &Value| {
                v["globalDefault"] == true
            });
        // Upstream picks the lowest-valued default when several claim to be it.
        defaults
            .items
            .iter()
            .map(|(_, c)| (*c.value).clone())
            .min_by_key(|v| v["value"].as_i64().unwrap_or(0))
    } else {
        // A class created just before the pod must be seen: catch the cache up first.
        srv.cache.sync().await?;
        let key = format!("/registry/priorityclasses/{class_name}");
        let found = srv.cache.list(&key, None, 1, &|_| true);
        let class = found
            .items
            .into_iter()
            .find(|(k, _)| **k == *key)
            .map(|(_, c)| (*c.value).clone());
        if class.is_none() {
            return Err(ApiError::forbidden(
                info,
                name,
                &format!("no PriorityClass with name {class_name} was found"),
            ));
        }
        class
    };
    let (value, policy, resolved_name) = match &class {
        Some(c) => (
            c["value"].as_i64().unwrap_or(0),
            c["preemptionPolicy"]
                .as_str()
                .unwrap_or("PreemptLowerPriority")
                .to_string(),
            c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
        None => (0, "PreemptLowerPriority".to_string(), String::new()),
    };
    let spec = &mut pod["spec"];
    if let Some(given) = spec["priority"].as_i64() {
        if given != value {
            return Err(ApiError::forbidden(
                info,
                name,
                &format!(
                    "the integer value of priority ({given}) must not be provided in pod spec; \
                     priority admission controller computed {value} from the given PriorityClass name"
                ),
            ));
        }
    }
    spec["priority"] = json!(value);
    if !resolved_name.is_empty() && class_name.is_empty() {
        spec["priorityClassName"] = json!(resolved_name);
    }
    if spec["preemptionPolicy"].is_null() {
        spec["preemptionPolicy"] = json!(policy);
    }
    Ok(())
}
