//! Type checks of incoming objects: a body whose fields have the wrong JSON types is a 400,
//! as upstream's typed decoding makes it, never a stored object that typed clients then fail
//! to read. ObjectMeta is checked here for every kind; the kind-specific fields are checked
//! against the typed definitions in `rkube_api::typed`.

use crate::error::ApiError;
use rkube_api::ResourceInfo;
use serde_json::Value;

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn mismatch(info: &ResourceInfo, got: &Value, field: &str, go_type: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {got} into Go struct field ObjectMeta.metadata.{field} of type {go_type}",
        kind = info.kind,
        v = info.version,
        got = json_kind(got),
    ))
}

/// Check the field types of an incoming object: ObjectMeta by hand, the rest through the
/// typed definitions.
pub fn check(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    check_metadata(info, obj)?;
    rkube_api::typed::check_types(info.group, info.version, info.kind, obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: {e}",
            kind = info.kind,
            v = info.version
        ))
    })
}

/// Check `metadata` field types (null is always allowed, as Go decoding allows it).
pub fn check_metadata(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let Some(meta) = obj.get("metadata") else {
        return Ok(());
    };
    if meta.is_null() {
        return Ok(());
    }
    let Some(meta) = meta.as_object() else {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: json: cannot unmarshal {got} into Go struct field {kind}.metadata of type v1.ObjectMeta",
            kind = info.kind,
            v = info.version,
            got = json_kind(meta),
        )));
    };
    for (k, v) in meta {
        if v.is_null() {
            continue;
        }
        let ok = match k.as_str() {
            "name" | "generateName" | "namespace" | "uid" | "resourceVersion"
            | "creationTimestamp" | "deletionTimestamp" | "selfLink" => v.is_string(),
            "generation" | "deletionGracePeriodSeconds" => v.is_i64(),
            "labels" | "annotations" => match v.as_object() {
                Some(m) => {
                    if let Some((_, bad)) = m.iter().find(|(_, x)| !x.is_string() && !x.is_null()) {
                        return Err(mismatch(info, bad, k, "string"));
                    }
                    true
                }
                None => false,
            },
            "finalizers" => match v.as_array() {
                Some(a) => {
                    if let Some(bad) = a.iter().find(|x| !x.is_string()) {
                        return Err(mismatch(info, bad, k, "string"));
                    }
                    true
                }
                None => false,
            },
            "ownerReferences" | "managedFields" => v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.is_object())),
            _ => true,
        };
        if !ok {
            let go_type = match k.as_str() {
                "labels" | "annotations" => "map[string]string",
                "finalizers" => "[]string",
                "ownerReferences" => "[]v1.OwnerReference",
                "managedFields" => "[]v1.ManagedFieldsEntry",
                "generation" | "deletionGracePeriodSeconds" => "int64",
                "creationTimestamp" | "deletionTimestamp" => "v1.Time",
                _ => "string",
            };
            return Err(mismatch(info, v, k, go_type));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_types() {
        let cm = rkube_api::registry::lookup("", "v1", "configmaps").unwrap();
        let ok = [
            json!({"metadata": {"name": "a", "labels": {"x": "y"}, "finalizers": ["f"], "generation": 2}}),
            json!({"metadata": null}),
            json!({}),
            json!({"metadata": {"labels": null, "annotations": {"a": null}}}),
        ];
        for o in ok {
            assert!(check_metadata(cm, &o).is_ok(), "{o}");
        }
        let bad = [
            (json!({"metadata": {"labels": "oops"}}), "cannot unmarshal string into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
            (json!({"metadata": {"labels": {"a": 5}}}), "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
            (json!({"metadata": {"name": 7}}), "cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string"),
            (json!({"metadata": {"finalizers": "x"}}), "of type []string"),
            (json!({"metadata": "x"}), "ConfigMap.metadata of type v1.ObjectMeta"),
        ];
        for (o, want) in bad {
            let e = check_metadata(cm, &o).unwrap_err();
            assert_eq!(e.code, 400);
            assert!(e.message.contains(want), "{o}: {}", e.message);
            assert!(
                e.message.starts_with(
                    "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: "
                ),
                "{}",
                e.message
            );
        }
    }
}
