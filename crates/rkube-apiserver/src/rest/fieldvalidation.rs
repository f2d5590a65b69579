//! `fieldValidation=Strict|Warn|Ignore` on create, update and patch: unknown and duplicate
//! fields fail the request (Strict), become `Warning` headers (Warn, the default) or pass
//! (Ignore). In every mode unknown fields are dropped before the object is stored, as
//! upstream's typed decoding drops them for built-in kinds.

use super::patch::PatchType;
use super::Request;
use crate::error::{ApiError, ApiResult, Cause};
use axum::http::HeaderValue;
use axum::response::Response;
use rkube_api::fieldcheck::{self, FieldValidation};
use rkube_api::ResourceInfo;
use serde_json::Value;

pub fn directive(req: &Request, options_kind: &str) -> ApiResult<FieldValidation> {
    FieldValidation::from_query(req.query.get("fieldValidation")).map_err(|m| {
        let (reason, field) = ("FieldValueNotSupported", "fieldValidation");
        let msg = m
            .strip_prefix("fieldValidation: ")
            .unwrap_or(&m)
            .to_string();
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{options_kind}.meta.k8s.io \"\" is invalid: {m}"),
            details: Some(serde_json::json!({
                "name": "", "group": "meta.k8s.io", "kind": options_kind,
                "causes": [{"reason": reason, "message": msg, "field": field}],
            })),
        }
    })
}

/// Problems of a create or update body (`obj` is the decoded body).
pub fn body_problems(req: &Request, obj: &Value) -> Vec<String> {
    let info = req.info();
    let mime = req
        .content_type()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    match mime.as_str() {
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            fieldcheck::yaml_body_errors(info.group, info.version, info.kind, &req.body, obj)
        }
        m if rkube_api::protobuf::is_protobuf_media_type(m) => Vec::new(),
        _ => fieldcheck::json_body_errors(info.group, info.version, info.kind, &req.body),
    }
}

/// Problems of a patch (`patched` is the result).
pub fn patch_problems(
    info: &ResourceInfo,
    t: PatchType,
    raw: &[u8],
    patched: &Value,
) -> Vec<String> {
    let (g, v, k) = (info.group, info.version, info.kind);
    match t {
        PatchType::Merge => fieldcheck::merge_patch_errors(g, v, k, raw, patched),
        PatchType::Strategic => fieldcheck::strategic_patch_errors(g, v, k, raw, patched),
        PatchType::Json => fieldcheck::json_patch_errors(g, v, k, raw, patched),
    }
}

/// Decide on a create/update body's problems: an error under Strict, warnings under Warn.
pub fn judge_body(
    info: &ResourceInfo,
    fv: FieldValidation,
    problems: Vec<String>,
) -> ApiResult<Vec<String>> {
    match fv {
        _ if problems.is_empty() => Ok(Vec::new()),
        FieldValidation::Strict => Err(ApiError::bad_request(fieldcheck::cannot_handle(
            info.kind,
            info.version,
            &fieldcheck::strict_decoding_error(&problems),
        ))),
        FieldValidation::Warn => Ok(fieldcheck::warnings(&problems)),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// Decide on a patch's problems: Strict is a 422 on the field `patch`.
pub fn judge_patch(
    info: &ResourceInfo,
    name: &str,
    fv: FieldValidation,
    problems: Vec<String>,
    patched: &Value,
) -> ApiResult<Vec<String>> {
    match fv {
        _ if problems.is_empty() => Ok(Vec::new()),
        FieldValidation::Strict => {
            let value = fieldcheck::go_quote(&patched.to_string());
            Err(ApiError::invalid(
                info,
                name,
                vec![Cause {
                    reason: "FieldValueInvalid",
                    field: "patch".into(),
                    message: format!(
                        "Invalid value: {value}: {}",
                        fieldcheck::strict_decoding_error(&problems)
                    ),
                }],
            ))
        }
        FieldValidation::Warn => Ok(fieldcheck::warnings(&problems)),
        FieldValidation::Ignore => Ok(Vec::new()),
    }
}

/// Remove the fields the kind's schema does not know, and the empty metadata lists and maps
/// that upstream's typed round trip omits (`finalizers: []` after a patch removed the last).
pub fn prune_unknown(info: &ResourceInfo, obj: &mut Value) {
    for path in fieldcheck::unknown_fields(info.group, info.version, info.kind, obj) {
        remove_path(obj, &path);
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["finalizers", "ownerReferences", "labels", "annotations"] {
            let empty = match meta.get(key) {
                Some(Value::Array(a)) => a.is_empty(),
                Some(Value::Object(m)) => m.is_empty(),
                Some(Value::Null) => true,
                _ => false,
            };
            if empty {
                meta.remove(key);
            }
        }
    }
}

/// Remove `a.b[2].c` from `obj`; paths that do not resolve are left alone.
fn remove_path(obj: &mut Value, path: &str) {
    let mut segs: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        let (key, idx) = match part.find('[') {
            Some(i) => (
                &part[..i],
                part[i + 1..].trim_end_matches(']').parse::<usize>().ok(),
            ),
            None => (part, None),
        };
        segs.push((key.to_string(), idx));
    }
    let Some(((last, last_idx), head)) = segs.split_last() else {
        return;
    };
    if last_idx.is_some() {
        return;
    }
    let mut cur = obj;
    for (key, idx) in head {
        let Some(next) = cur.get_mut(key.as_str()) else {
            return;
        };
        cur = match idx {
            Some(i) => match next.get_mut(*i) {
                Some(x) => x,
                None => return,
            },
            None => next,
        };
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last.as_str());
    }
}

/// Add `Warning: 299 - "<text>"` headers.
pub fn add_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for h in fieldcheck::warning_headers(warnings) {
        if let Ok(v) = HeaderValue::from_str(&h) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remove_paths() {
        let mut v =
            json!({"spec": {"foo": 1, "containers": [{"name": "c", "bogus": true}]}, "a": 1});
        remove_path(&mut v, "spec.foo");
        remove_path(&mut v, "spec.containers[0].bogus");
        remove_path(&mut v, "spec.containers[5].bogus");
        remove_path(&mut v, "nope.x");
        assert_eq!(v, json!({"spec": {"containers": [{"name": "c"}]}, "a": 1}));
    }
}
