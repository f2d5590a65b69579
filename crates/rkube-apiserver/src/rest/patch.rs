//! Patch formats: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//! Strategic merge patch is `rkube_api::smp`; server-side apply arrives with its own issue.

use crate::error::{ApiError, ApiResult};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other:?})"),
            )),
        }
    }
}

/// Apply a patch to `doc`, an object of `info`'s kind (or, for `scale`, an autoscaling/v1
/// Scale: pass the kind being patched).
pub fn apply_patch(
    t: PatchType,
    kind: (&str, &str, &str),
    doc: &Value,
    patch: &Value,
) -> ApiResult<Value> {
    match t {
        PatchType::Strategic => {
            let (g, v, k) = kind;
            if !rkube_api::smp::supports(g, v, k) {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            rkube_api::smp::apply(g, v, k, doc, patch).map_err(|e| {
                let reason: &'static str = e.reason();
                ApiError::new(e.code(), reason, e.message())
            })
        }
        PatchType::Merge => {
            let mut out = doc.clone();
            merge(&mut out, patch);
            Ok(out)
        }
        PatchType::Json => json_patch(doc, patch),
    }
}

/// RFC 7386: objects merge recursively, null deletes, everything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(422, "Invalid", msg)
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> ApiResult<Vec<String>> {
    if path.is_empty() {
        return Ok(vec![]);
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(bad(format!("invalid JSON pointer {path:?}")));
    };
    Ok(rest.split('/').map(unescape).collect())
}

fn parent<'a>(doc: &'a mut Value, toks: &[String], path: &str) -> ApiResult<&'a mut Value> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(move |i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| bad(format!("doc is missing path: \"{path}\"")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, v: Value) -> ApiResult<()> {
    let toks = split_pointer(path)?;
    let Some((last, head)) = toks.split_last() else {
        *doc = v;
        return Ok(());
    };
    match parent(doc, head, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), v);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| bad(format!("invalid array index in {path:?}")))?;
                if i > a.len() {
                    return Err(bad(format!("array index out of bounds in {path:?}")));
                }
                a.insert(i, v);
            }
        }
        _ => return Err(bad(format!("doc is missing path: \"{path}\""))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> ApiResult<Value> {
    let toks = split_pointer(path)?;
    let Some((last, head)) = toks.split_last() else {
        return Err(bad("cannot remove the whole document"));
    };
    let missing = || {
        bad(format!(
            "Unable to remove nonexistent key: {last}: missing value"
        ))
    };
    match parent(doc, head, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

fn json_patch(doc: &Value, patch: &Value) -> ApiResult<Value> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    let mut out = doc.clone();
    for op in ops {
        let name = op.get("op").and_then(|v| v.as_str()).unwrap_or("");
        let path = op
            .get("path")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("json patch operation is missing \"path\""))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| bad(format!("json patch {name} operation is missing \"value\"")))
        };
        let from = || {
            op.get("from")
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad(format!("json patch {name} operation is missing \"from\"")))
        };
        match name {
            "add" => add(&mut out, path, value()?)?,
            "remove" => {
                remove(&mut out, path)?;
            }
            "replace" => {
                remove(&mut out, path).map_err(|_| bad(format!("replace operation does not apply: doc is missing key: {path}: missing value")))?;
                add(&mut out, path, value()?)?;
            }
            "move" => {
                let v = remove(&mut out, from()?)?;
                add(&mut out, path, v)?;
            }
            "copy" => {
                let v = out
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| bad("copy from a missing path"))?;
                add(&mut out, path, v)?;
            }
            "test" => {
                if out.pointer(path) != Some(&value()?) {
                    return Err(bad(format!("testing value {path} failed: test failed")));
                }
            }
            other => return Err(bad(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_cases() {
        let cases = [
            (
                json!({"a": 1, "b": {"c": 2}}),
                json!({"b": {"c": null, "d": 3}}),
                json!({"a": 1, "b": {"d": 3}}),
            ),
            (json!({"a": [1, 2]}), json!({"a": [3]}), json!({"a": [3]})),
            (json!({"a": 1}), json!({"a": null}), json!({})),
        ];
        for (doc, p, want) in cases {
            assert_eq!(
                apply_patch(PatchType::Merge, ("", "v1", "ConfigMap"), &doc, &p).unwrap(),
                want
            );
        }
    }

    #[test]
    fn json_patch_cases() {
        let doc = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": 1}});
        let cases = [
            (
                json!([{"op": "remove", "path": "/metadata/finalizers/0"}]),
                Some(json!({"metadata": {"finalizers": ["b"]}, "spec": {"x": 1}})),
            ),
            (
                json!([{"op": "replace", "path": "/spec/x", "value": 2}]),
                Some(json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": 2}})),
            ),
            (
                json!([{"op": "add", "path": "/spec/y", "value": 3}]),
                Some(json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": 1, "y": 3}})),
            ),
            (
                json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "c"}]),
                Some(json!({"metadata": {"finalizers": ["a", "b", "c"]}, "spec": {"x": 1}})),
            ),
            (json!([{"op": "test", "path": "/spec/x", "value": 9}]), None),
            (json!([{"op": "remove", "path": "/nope"}]), None),
            (json!([{"op": "bogus", "path": "/spec"}]), None),
        ];
        for (p, want) in cases {
            let got = apply_patch(PatchType::Json, ("", "v1", "ConfigMap"), &doc, &p).ok();
            assert_eq!(got, want, "patch {p}");
        }
    }
}
