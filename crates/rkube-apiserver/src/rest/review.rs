//! The "review" kinds: create-only objects that are answered, never stored
//! (authorization.k8s.io access reviews, authentication.k8s.io token and self reviews).
//! Until RBAC lands every authenticated user may do everything, and the answers say so.

use super::Request;
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// Whether `plural` in `group` is a review kind.
pub fn is_review(group: &str, plural: &str) -> bool {
    matches!(
        (group, plural),
        (
            "authorization.k8s.io",
            "selfsubjectaccessreviews"
                | "subjectaccessreviews"
                | "localsubjectaccessreviews"
                | "selfsubjectrulesreviews"
        ) | (
            "authentication.k8s.io",
            "tokenreviews" | "selfsubjectreviews"
        )
    )
}

fn user_info(name: &str, uid: &str, groups: &[String]) -> Value {
    let mut groups: Vec<String> = groups.to_vec();
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    let mut u = json!({"username": name, "groups": groups});
    if !uid.is_empty() {
        u["uid"] = json!(uid);
    }
    u
}

pub async fn create(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let mut obj = super::write::decode_body(&req)?;
    obj["apiVersion"] = json!(info.api_version());
    obj["kind"] = json!(info.kind);
    if !obj.get("metadata").is_some_and(|m| m.is_object()) {
        obj["metadata"] = json!({});
    }
    let allowed = "rkube allows every authenticated user (RBAC is not enforced yet)";
    obj["status"] = match info.plural {
        "selfsubjectrulesreviews" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "selfsubjectreviews" => {
            let u = req.user.as_ref();
            json!({"userInfo": user_info(u.map(|u| u.name.as_str()).unwrap_or(""), u.map(|u| u.uid.as_str()).unwrap_or(""), u.map(|u| u.groups.as_slice()).unwrap_or(&[]))})
        }
        "tokenreviews" => {
            let token = obj
                .pointer("/spec/token")
                .and_then(|t| t.as_str())
                .unwrap_or("");
            match req.srv.tokens.lookup(token) {
                Some(u) => {
                    json!({"authenticated": true, "user": user_info(&u.name, &u.uid, &u.groups)})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        _ => json!({"allowed": true, "reason": allowed}),
    };
    Ok(crate::response::json(StatusCode::CREATED, &obj))
}
