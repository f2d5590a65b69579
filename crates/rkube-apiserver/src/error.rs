//! API errors and their `metav1.Status` form.
//!
//! Every failure that reaches a client goes through [`ApiError`], which carries the upstream
//! reason, HTTP code and message text, so kubectl prints `Error from server (<Reason>): …`
//! exactly as it does against upstream.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rkube_api::ResourceInfo;
use serde_json::{json, Value};

/// One field cause of an Invalid error.
#[derive(Debug, Clone)]
pub struct Cause {
    /// e.g. "FieldValueInvalid", "FieldValueRequired".
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

/// "Deployment.apps", or "Pod" for the core group, as upstream names kinds in messages.
pub fn qualified_kind(r: &ResourceInfo) -> String {
    if r.group.is_empty() {
        r.kind.to_string()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

/// Causes of validation errors.
pub fn causes(errs: &[rkube_api::validation::FieldError]) -> Vec<Cause> {
    errs.iter()
        .map(|e| Cause {
            reason: e.reason(),
            field: e.field.clone(),
            message: e.message(),
        })
        .collect()
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, r: &ResourceInfo, name: &str) -> Self {
        let mut d = json!({"name": name, "kind": r.plural});
        if !r.group.is_empty() {
            d["group"] = json!(r.group);
        }
        self.details = Some(d);
        self
    }

    pub fn not_found(r: &ResourceInfo, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", r.qualified(), name),
        )
        .with_details(r, name)
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("namespaces \"{ns}\" not found"),
            details: Some(json!({"name": ns, "kind": "namespaces"})),
        }
    }

    pub fn already_exists(r: &ResourceInfo, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", r.qualified(), name),
        )
        .with_details(r, name)
    }

    pub fn conflict(r: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                r.qualified(),
                name,
                why
            ),
        )
        .with_details(r, name)
    }

    pub fn modified(r: &ResourceInfo, name: &str) -> Self {
        Self::conflict(
            r,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn forbidden(r: &ResourceInfo, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {}", r.qualified(), name, why),
        )
        .with_details(r, name)
    }

    /// 422 Invalid, as `The <Kind> "<name>" is invalid: <field>: <message>, …`.
    pub fn invalid(r: &ResourceInfo, name: &str, causes: Vec<Cause>) -> Self {
        let text: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if text.len() == 1 {
            text[0].clone()
        } else {
            format!("[{}]", text.join(", "))
        };
        let mut details = json!({
            "name": name,
            "kind": r.kind,
            "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
        });
        if !r.group.is_empty() {
            details["group"] = json!(r.group);
        }
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{}\" is invalid: {}", qualified_kind(r), name, joined),
            details: Some(details),
        }
    }

    /// 422 on request options, e.g. `PatchOptions.meta.k8s.io "" is invalid: fieldManager: …`.
    pub fn invalid_options(kind: &str, causes: Vec<Cause>) -> Self {
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if text.len() == 1 {
            text[0].clone()
        } else {
            format!("[{}]", text.join(", "))
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{kind}.meta.k8s.io \"\" is invalid: {joined}"),
            details: Some(json!({
                "name": "", "group": "meta.k8s.io", "kind": kind,
                "causes": causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect::<Vec<_>>(),
            })),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/json-patch+json (got {content_type:?})"))
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn too_old(requested: i64, oldest: i64) -> Self {
        Self::gone(format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(504, "Timeout", message)
    }

    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )
    }

    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl From<rkube_store::Error> for ApiError {
    fn from(e: rkube_store::Error) -> Self {
        match e {
            rkube_store::Error::Compacted {
                requested,
                compacted,
            } => ApiError::too_old(requested, compacted),
            rkube_store::Error::FutureRevision { requested, .. } => ApiError::timeout(format!(
                "Too large resource version: {requested}, current: unknown"
            )),
            other => {
                tracing::error!("storage failed: {other}");
                ApiError::internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        crate::response::json(code, &self.to_status())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
