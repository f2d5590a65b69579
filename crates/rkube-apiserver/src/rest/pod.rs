//! Pod subresources that act rather than store: `binding` (assign a pod to a node, as the
//! scheduler does; also the legacy `bindings` collection) and `eviction` (delete a pod unless a
//! PodDisruptionBudget forbids it, as `kubectl drain` does).

use super::delete::{delete_one, DeleteOptions};
use super::write::{decode_body, guaranteed_update, Outcome};
use super::{now_rfc3339, Request};
use crate::error::{ApiError, ApiResult};
use crate::request::ResourcePath;
use axum::http::StatusCode;
use axum::response::Response;
use rkube_api::registry;
use rkube_api::selectors::LabelSelector;
use serde_json::{json, Value};

fn success(code: u16) -> Response {
    crate::response::json(
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}),
    )
}

/// A request on the pods resource of `req`'s namespace (for the legacy `bindings` path).
fn pods_request(req: Request, name: String) -> ApiResult<Request> {
    let info = registry::lookup("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods are not registered"))?;
    Ok(Request {
        path: ResourcePath {
            info,
            namespace: req.path.namespace.clone(),
            name: Some(name),
            subresource: Some("binding".into()),
        },
        ..req
    })
}

/// `POST …/pods/{name}/binding` and `POST …/bindings`.
pub async fn bind(req: Request) -> ApiResult<Response> {
    let binding = decode_body(&req)?;
    if binding
        .get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k != "Binding")
    {
        return Err(ApiError::bad_request("the body must be a Binding"));
    }
    let name = binding
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let req = match req.path.name.clone() {
        Some(n) => {
            if !name.is_empty() && name != n {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({n})"
                )));
            }
            req
        }
        None => pods_request(req, name.clone())?,
    };
    let pod_name = req.path.name.clone().unwrap_or_default();
    let node = binding
        .pointer("/target/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            req.info(),
            &pod_name,
            vec![crate::error::Cause {
                reason: "FieldValueRequired",
                field: "target.name".into(),
                message: "Required value".into(),
            }],
        ));
    }
    let dry_run = req.query.dry_run()?;
    let annotations = binding
        .pointer("/metadata/annotations")
        .and_then(|a| a.as_object())
        .cloned();
    let info = req.info();
    guaranteed_update(&req, &pod_name, dry_run, |cur, _| {
        if cur.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::conflict(info, &pod_name, "pod is being deleted, cannot be assigned to a host"));
        }
        if let Some(n) = cur.pointer("/spec/nodeName").and_then(|v| v.as_str()).filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict(info, &pod_name, &format!("pod {pod_name} is already assigned to node \"{n}\"")));
        }
        let mut new = cur.clone();
        new["spec"]["nodeName"] = json!(node);
        if let Some(a) = &annotations {
            for (k, v) in a {
                new["metadata"]["annotations"][k] = v.clone();
            }
        }
        let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now_rfc3339()});
        let conds = new["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let mut conds: Vec<Value> = conds.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
        conds.push(cond);
        new["status"]["conditions"] = json!(conds);
        Ok(Outcome::Write(new))
    })
    .await?;
    Ok(success(201))
}

/// Whether eviction may skip the disruption budgets: the pod is not running (yet, or any
/// more) or already terminating.
fn ignores_budgets(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    matches!(phase, "Pending" | "Succeeded" | "Failed" | "")
        || pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
}

fn pod_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(|c| c.as_array())
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Upstream's 429 for a budget that forbids the eviction, with its cause.
fn budget_refusal(cause: String) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        details: Some(json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]})),
    }
}

/// The pod's budget, if one selects it (more than one is an error, as upstream).
async fn budget_of(req: &Request, pod: &Value) -> ApiResult<Option<String>> {
    let ns = req.namespace().unwrap_or("");
    let pdb_info = registry::lookup("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not registered"))?;
    req.srv.cache.sync().await?;
    let empty = serde_json::Map::new();
    let labels = pod
        .pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .unwrap_or(&empty);
    let budgets = req
        .srv
        .cache
        .list(&pdb_info.namespace_prefix(ns), None, 0, &|_| true);
    let mut found = Vec::new();
    for (_, b) in budgets.items {
        let sel = b
            .value
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or(Value::Null);
        let Ok(sel) = LabelSelector::from_label_selector_json(&sel) else {
            continue;
        };
        if sel.matches(labels) {
            if let Some(n) = b.value.pointer("/metadata/name").and_then(|v| v.as_str()) {
                found.push(n.to_string());
            }
        }
    }
    if found.len() > 1 {
        return Err(ApiError::internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    Ok(found.pop())
}

/// Checks the budget `name` allows evicting `pod` and, unless `dry_run`, takes one disruption
/// from it and records the pod as disrupted (the disruption controller confirms or forgets it),
/// atomically against concurrent evictions.
async fn check_and_decrement(
    req: &Request,
    name: &str,
    pod: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    let ns = req.namespace().unwrap_or("");
    let pdb_info = registry::lookup("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("poddisruptionbudgets are not registered"))?;
    let key = pdb_info.key(Some(ns), name);
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    for _ in 0..32 {
        let Some(kv) = req.srv.store.get(&key).await? else {
            return Ok(());
        };
        let mut pdb = super::decode_stored(&key, &kv.value)?;
        let int = |p: &str| pdb.pointer(p).and_then(|v| v.as_i64()).unwrap_or(0);
        let (generation, observed) = (
            int("/metadata/generation"),
            int("/status/observedGeneration"),
        );
        if observed < generation {
            return Err(budget_refusal(format!(
                "The disruption budget {name} is still being processed by the server."
            )));
        }
        let allowed = int("/status/disruptionsAllowed");
        let (desired, healthy) = (int("/status/desiredHealthy"), int("/status/currentHealthy"));
        // An unready pod may go while the budget is met (upstream's IfHealthyBudget), or always.
        if !pod_ready(pod) {
            let policy = pdb
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(|v| v.as_str())
                .unwrap_or("IfHealthyBudget");
            if policy == "AlwaysAllow" || healthy >= desired {
                return Ok(());
            }
        }
        if allowed < 0 {
            return Err(ApiError::forbidden(
                pdb_info,
                name,
                "pdb disruptions allowed is negative",
            ));
        }
        if allowed == 0 {
            return Err(budget_refusal(format!(
                "The disruption budget {name} needs {desired} healthy pods and has {healthy} currently"
            )));
        }
        if dry_run {
            return Ok(());
        }
        pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
        if !pdb["status"]["disruptedPods"].is_object() {
            pdb["status"]["disruptedPods"] = json!({});
        }
        pdb["status"]["disruptedPods"][pod_name] = json!(now_rfc3339());
        match req
            .srv
            .store
            .update(
                &key,
                super::encode_for_store(pdb_info, &pdb)?,
                kv.mod_revision,
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(rkube_store::Error::Conflict { .. }) => continue,
            Err(rkube_store::Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        pdb_info,
        name,
        "too many concurrent updates, try again",
    ))
}

/// `POST …/pods/{name}/eviction`.
pub async fn evict(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let name = req.path.name.clone().unwrap_or_default();
    let eviction = decode_body(&req)?;
    let key = req.key(&name);
    let kv = req
        .srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let pod = super::decode_stored(&key, &kv.value)?;
    let dry_run = req.query.dry_run()?
        || eviction
            .pointer("/deleteOptions/dryRun")
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty());
    if !ignores_budgets(&pod) {
        if let Some(budget) = budget_of(&req, &pod).await? {
            check_and_decrement(&req, &budget, &pod, dry_run).await?;
        }
    }
    let mut opts = DeleteOptions {
        dry_run,
        ..Default::default()
    };
    if let Some(g) = eviction
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(|v| v.as_i64())
    {
        opts.grace_seconds = Some(g.max(0));
    }
    delete_one(&req, &name, &opts).await?;
    Ok(success(201))
}
