//! The generic REST implementation: one code path for every kind, driven by the registry.
//!
//! - [`read`]: get and list (with selectors, paging, tables)
//! - [`watch`]: watch streams
//! - [`write`]: create, update (main resource and `status`), patch
//! - [`delete`]: delete (graceful, finalizers, preconditions) and deletecollection
//! - [`strategy`]: per-kind hooks (what create resets, which kinds track generation, …)
//! - [`admission`]: create-time admission that reads other objects (pod priority)
//! - [`logs`], [`streams`]: `pods/log`, and `pods/exec|attach|portforward` (upgrades)

pub mod admission;
pub mod apply;
pub mod delete;
pub mod fieldvalidation;
pub mod logs;
pub mod patch;
pub mod pod;
pub mod read;
pub mod review;
pub mod service;
pub mod spdy;
pub mod strategy;
pub mod streams;
pub mod typecheck;
pub mod view;
pub mod watch;
pub mod write;

use crate::error::{ApiError, ApiResult};
use crate::request::{Query, ResourcePath};
use crate::Server;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};
use std::sync::Arc;

/// Everything one resource request carries.
pub struct Request {
    pub srv: Arc<Server>,
    /// The authenticated user (None for the server's own housekeeping).
    pub user: Option<crate::auth::User>,
    pub path: ResourcePath,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn info(&self) -> &'static ResourceInfo {
        self.path.info
    }

    pub fn namespace(&self) -> Option<&str> {
        if self.path.info.namespaced {
            self.path.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn key(&self, name: &str) -> String {
        self.path.info.key(self.namespace(), name)
    }

    /// Storage prefix of the collection this request names.
    pub fn collection_prefix(&self) -> String {
        match self.namespace() {
            Some(ns) => self.path.info.namespace_prefix(ns),
            None => self.path.info.key_prefix(),
        }
    }

    pub fn accept(&self) -> Option<&str> {
        self.headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
    }
}

pub async fn dispatch(req: Request, method: &Method) -> ApiResult<Response> {
    let info = req.info();
    if info.namespaced && req.path.namespace.is_none() && req.path.name.is_some() {
        return Err(ApiError::not_found_path());
    }
    let verb_ok = |v: &str| -> ApiResult<()> {
        if info.has_verb(v) {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(format!(
                "{} is not supported on resources of kind \"{}\"",
                v,
                info.qualified()
            )))
        }
    };
    match (&req.path.subresource, &req.path.name) {
        (Some(sub), Some(_)) => {
            let Some(s) = info.subresource(sub) else {
                return Err(ApiError::not_found_path());
            };
            match (s.name, method.as_str()) {
                ("status", "GET") => read::get(req).await,
                ("ephemeralcontainers", "GET") if info.plural == "pods" => read::get(req).await,
                ("ephemeralcontainers", "PUT") if info.plural == "pods" => {
                    write::update(req, write::Target::EphemeralContainers).await
                }
                ("ephemeralcontainers", "PATCH") if info.plural == "pods" => {
                    write::patch(req, write::Target::EphemeralContainers).await
                }
                ("binding", "POST") if info.plural == "pods" => pod::bind(req).await,
                ("eviction", "POST") if info.plural == "pods" => pod::evict(req).await,
                ("log", "GET") if info.plural == "pods" => logs::log(req).await,
                ("status", "PUT") => write::update(req, write::Target::Status).await,
                ("status", "PATCH") => write::patch(req, write::Target::Status).await,
                ("scale", "GET") => write::get_scale(req).await,
                ("scale", "PUT") => write::update_scale(req).await,
                ("scale", "PATCH") => write::patch_scale(req).await,
                ("finalize", "PUT") if info.plural == "namespaces" => {
                    write::update(req, write::Target::Finalize).await
                }
                _ => Err(ApiError::method_not_allowed(format!(
                    "the server does not allow this method on the requested resource ({}/{})",
                    info.plural, s.name
                ))),
            }
        }
        (Some(_), None) => Err(ApiError::not_found_path()),
        (None, Some(_)) => match method.as_str() {
            "GET" if req.query.flag("watch") => {
                verb_ok("watch")?;
                watch::watch(req).await
            }
            "GET" => {
                verb_ok("get")?;
                read::get(req).await
            }
            "PUT" => {
                verb_ok("update")?;
                write::update(req, write::Target::Main).await
            }
            "PATCH" if apply::is_apply(req.content_type()) => {
                verb_ok("patch")?;
                apply::apply(req).await
            }
            "PATCH" => {
                verb_ok("patch")?;
                write::patch(req, write::Target::Main).await
            }
            "DELETE" => {
                verb_ok("delete")?;
                delete::delete(req).await
            }
            m => Err(ApiError::method_not_allowed(format!(
                "{m} is not supported on a single resource"
            ))),
        },
        (None, None) => match method.as_str() {
            "GET" if req.query.flag("watch") => {
                verb_ok("watch")?;
                watch::watch(req).await
            }
            "GET" => {
                verb_ok("list")?;
                read::list(req).await
            }
            "POST" if review::is_review(info.group, info.plural) => review::create(req).await,
            "POST" if info.group.is_empty() && info.plural == "bindings" => pod::bind(req).await,
            "POST" => {
                verb_ok("create")?;
                write::create(req).await
            }
            "DELETE" => {
                verb_ok("deletecollection")?;
                delete::delete_collection(req).await
            }
            m => Err(ApiError::method_not_allowed(format!(
                "{m} is not supported on a collection"
            ))),
        },
    }
}

/// Set the identity fields that are never stored: apiVersion/kind of the endpoint and the
/// resourceVersion from the store revision.
pub fn for_client(info: &ResourceInfo, v: &Value, rev: i64) -> Value {
    let mut out = rkube_api::convert::from_storage(info, v.clone());
    decorate(info, &mut out, rev);
    out
}

pub fn decorate(info: &ResourceInfo, v: &mut Value, rev: i64) {
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(info.api_version()));
        o.insert("kind".into(), json!(info.kind));
        let meta = o.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("resourceVersion".into(), json!(rev.to_string()));
        }
    }
}

/// The object as stored: in the storage version, without resourceVersion (the revision is the
/// source of truth).
pub fn encode_for_store(info: &ResourceInfo, v: &Value) -> ApiResult<Vec<u8>> {
    let mut v = rkube_api::convert::to_storage(info, v.clone());
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.remove("resourceVersion");
        m.remove("selfLink");
    }
    serde_json::to_vec(&v).map_err(|e| ApiError::internal(format!("encode object: {e}")))
}

pub fn decode_stored(key: &str, bytes: &[u8]) -> ApiResult<Value> {
    crate::cache::decode(bytes, key)
        .ok_or_else(|| ApiError::internal(format!("stored object {key} is corrupt")))
}

/// Parse a resourceVersion string.
pub fn parse_rv(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
