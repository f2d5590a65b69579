//! delete and deletecollection: preconditions, finalizers, graceful pod deletion, namespace
//! termination.

use super::read::{list_all, Filter};
use super::strategy;
use super::{decode_stored, decorate, encode_for_store, for_client, Request};
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// The parts of metav1.DeleteOptions we honour.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_seconds: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_request(req: &Request) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions {
            dry_run: req.query.dry_run()?,
            grace_seconds: req.query.int("gracePeriodSeconds")?,
            ..Default::default()
        };
        if !req.body.is_empty() {
            let mime = req
                .content_type()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let body: Value = if rkube_api::protobuf::is_protobuf_media_type(&mime) {
                super::write::decode_protobuf(&req.body)?
            } else if mime == "application/json" || mime.is_empty() {
                serde_json::from_slice(&req.body).map_err(|e| {
                    ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}"))
                })?
            } else {
                return Err(ApiError::unsupported_media_type(&mime));
            };
            if let Some(g) = body.get("gracePeriodSeconds").and_then(|v| v.as_i64()) {
                o.grace_seconds = Some(g);
            }
            if let Some(d) = body.get("dryRun").and_then(|v| v.as_array()) {
                for x in d {
                    match x.as_str() {
                        Some("All") => o.dry_run = true,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "Invalid dry run value: {}; supported values: All",
                                other.unwrap_or("")
                            )))
                        }
                    }
                }
            }
            o.uid = body
                .pointer("/preconditions/uid")
                .and_then(|v| v.as_str())
                .map(String::from);
            o.resource_version = body
                .pointer("/preconditions/resourceVersion")
                .and_then(|v| v.as_str())
                .map(String::from);
            match body.get("propagationPolicy").and_then(|v| v.as_str()) {
                None | Some("Background") | Some("Foreground") | Some("Orphan") => {}
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                    )))
                }
            }
        }
        if o.grace_seconds.is_some_and(|g| g < 0) {
            o.grace_seconds = Some(0);
        }
        Ok(o)
    }
}

/// Delete one object. Returns the object (last state, or the terminating state) and whether it
/// is gone from the store.
pub async fn delete_one(
    req: &Request,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<(Value, bool)> {
    let info = req.info();
    let key = req.key(name);
    for _ in 0..32 {
        let kv = req
            .srv
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, name))?;
        let cur = for_client(info, &decode_stored(&key, &kv.value)?, kv.mod_revision);
        let meta = &cur["metadata"];
        if let Some(u) = &opts.uid {
            let have = meta["uid"].as_str().unwrap_or("");
            if u != have {
                return Err(ApiError::conflict(
                    info,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {u}, UID in object meta: {have}"
                    ),
                ));
            }
        }
        if let Some(r) = &opts.resource_version {
            let have = kv.mod_revision.to_string();
            if *r != have {
                return Err(ApiError::conflict(info, name, &format!("Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {have}")));
            }
        }
        let deleting = meta.get("deletionTimestamp").is_some_and(|v| !v.is_null());
        let has_finalizers = meta
            .get("finalizers")
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty());
        let mut new: Option<Value> = None;

        if info.plural == "namespaces" && info.group.is_empty() {
            if strategy::is_protected_namespace(name) {
                return Err(ApiError::forbidden(
                    info,
                    name,
                    "this namespace may not be deleted",
                ));
            }
            if deleting {
                return Ok((cur, false));
            }
            let mut n = cur.clone();
            n["metadata"]["deletionTimestamp"] = json!(super::now_rfc3339());
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            n["status"]["phase"] = json!("Terminating");
            new = Some(n);
        } else if info.plural == "pods"
            && info.group.is_empty()
            && strategy::pod_needs_graceful_delete(&cur)
        {
            let grace = opts
                .grace_seconds
                .unwrap_or_else(|| strategy::pod_grace_seconds(&cur));
            let current_grace = meta
                .get("deletionGracePeriodSeconds")
                .and_then(|v| v.as_i64());
            if grace > 0 || has_finalizers {
                if deleting && current_grace.is_some_and(|g| g <= grace) {
                    return Ok((cur, false));
                }
                let when = chrono::Utc::now() + chrono::Duration::seconds(grace);
                let mut n = cur.clone();
                n["metadata"]["deletionTimestamp"] =
                    json!(when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                n["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                new = Some(n);
            }
        } else if has_finalizers {
            if deleting {
                return Ok((cur, false));
            }
            let mut n = cur.clone();
            n["metadata"]["deletionTimestamp"] = json!(super::now_rfc3339());
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if strategy::tracks_generation(info) {
                let g = meta["generation"].as_i64().unwrap_or(0);
                n["metadata"]["generation"] = json!(g + 1);
            }
            new = Some(n);
        }

        if opts.dry_run {
            return Ok((new.unwrap_or(cur), false));
        }
        match new {
            Some(mut n) => match req
                .srv
                .store
                .update(&key, encode_for_store(info, &n)?, kv.mod_revision)
                .await
            {
                Ok(kv2) => {
                    decorate(info, &mut n, kv2.mod_revision);
                    return Ok((n, false));
                }
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(info, name))
                }
                Err(e) => return Err(e.into()),
            },
            None => match req.srv.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(kv2) => return Ok((for_client(info, &cur, kv2.mod_revision), true)),
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(info, name))
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    Err(ApiError::conflict(
        info,
        name,
        "too many concurrent updates, try again",
    ))
}

pub async fn delete(req: Request) -> ApiResult<Response> {
    let name = req.path.name.clone().unwrap_or_default();
    let opts = DeleteOptions::from_request(&req)?;
    let (obj, gone) = delete_one(&req, &name, &opts).await?;
    let code = if gone {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(super::read::respond_one_with(&req, obj, code))
}

pub async fn delete_collection(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let opts = DeleteOptions::from_request(&req)?;
    let filter = Filter::from_request(&req)?;
    let items = list_all(&req, &filter).await?;
    let mut out = Vec::new();
    for (_, obj) in items {
        let name = obj
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        match delete_one(&req, &name, &opts).await {
            Ok((o, _)) => out.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rev = req.srv.cache.revision();
    Ok(crate::response::json(
        StatusCode::OK,
        &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": {"resourceVersion": rev.to_string()}, "items": out}),
    ))
}
