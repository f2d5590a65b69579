//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the applied
//! configuration is merged with field ownership (`rkube_api::ssa`); an absent object is
//! created; fields owned by another manager with a different value are a 409 unless `force`.

use super::fieldvalidation as fv;
use super::read::respond_one_with;
use super::write::{check_type_pub, guaranteed_update, merge_update, store_new, Target};
use super::Request;
use crate::error::{ApiError, ApiResult, Cause};
use axum::http::StatusCode;
use axum::response::Response;
use rkube_api::fieldcheck::FieldValidation;
use serde_json::{json, Value};

pub const MEDIA_TYPE: &str = "application/apply-patch+yaml";

pub fn is_apply(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim() == MEDIA_TYPE
}

fn conflict(e: rkube_api::ssa::ApplyError) -> ApiError {
    let status = e.status();
    let reason: &'static str = e.reason();
    ApiError {
        code: e.code(),
        reason,
        message: e.message(),
        details: status.get("details").cloned(),
    }
}

pub async fn apply(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let name = req.path.name.clone().unwrap_or_default();
    let dry_run = req.query.dry_run()?;
    let force = req.query.flag("force");
    let fvd = fv::directive(&req, "PatchOptions")?;
    let Some(manager) = req.query.nonempty("fieldManager").map(String::from) else {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            vec![Cause {
                reason: "FieldValueRequired",
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            }],
        ));
    };
    let mut warnings = Vec::new();
    if let Some(e) = rkube_api::fieldcheck::apply_patch_error(&req.body) {
        match fvd {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "error strict decoding YAML: {e}"
                )))
            }
            FieldValidation::Warn => warnings = rkube_api::fieldcheck::warnings(&[e]),
            FieldValidation::Ignore => {}
        }
    }
    let applied: Value = serde_yaml::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    check_type_pub(info, &applied)?;
    super::typecheck::check(info, &applied)?;
    if let Some(n) = applied.pointer("/metadata/name").and_then(|v| v.as_str()) {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    let now = super::now_rfc3339();
    let (g, v, k) = (info.group, info.version, info.kind);
    for _ in 0..8 {
        let exists = req.srv.store.get(&req.key(&name)).await?.is_some();
        if !exists {
            let mut obj = rkube_api::ssa::apply(g, v, k, None, &applied, &manager, force, &now)
                .map_err(conflict)?;
            fv::prune_unknown(info, &mut obj);
            obj["apiVersion"] = json!(info.api_version());
            obj["kind"] = json!(info.kind);
            obj["metadata"]["name"] = json!(name);
            if let (true, Some(ns)) = (info.namespaced, req.namespace()) {
                obj["metadata"]["namespace"] = json!(ns);
            }
            match store_new(&req, obj, dry_run).await {
                Ok(created) => {
                    return Ok(fv::add_warnings(
                        respond_one_with(&req, created, StatusCode::CREATED),
                        &warnings,
                    ))
                }
                Err(e) if e.reason == "AlreadyExists" => continue,
                Err(e) => return Err(e),
            }
        }
        let res = guaranteed_update(&req, &name, dry_run, |cur, _rev| {
            let mut new =
                rkube_api::ssa::apply(g, v, k, Some(cur), &applied, &manager, force, &now)
                    .map_err(conflict)?;
            fv::prune_unknown(info, &mut new);
            merge_update(info, Target::Main, cur, &new)
        })
        .await;
        match res {
            Ok(out) => {
                return Ok(fv::add_warnings(
                    respond_one_with(&req, out, StatusCode::OK),
                    &warnings,
                ))
            }
            Err(e) if e.code == 404 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(
        info,
        &name,
        "the object kept changing, try again",
    ))
}
