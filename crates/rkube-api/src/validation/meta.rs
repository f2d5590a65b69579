//! `metadata` validation: upstream `ValidateObjectMeta` (create) and `ValidateObjectMetaUpdate`
//! (update) from `apimachinery/pkg/api/validation`, plus the core group's extra check of
//! finalizer names.
//!
//! Names follow the per-kind rule of [`crate::names`]; namespaces must be DNS-1123 labels on
//! namespaced kinds and absent on cluster-scoped ones.

use serde_json::Value;

use super::checks::{annotations, int_of, labels, list_of, qualified_name, str_of, IMMUTABLE_MSG};
use super::field::{child, go_string_slice, index, FieldError};
use crate::names;
use crate::registry::ResourceInfo;

const META: &str = "metadata";

fn meta(obj: &Value) -> &Value {
    obj.get(META).unwrap_or(&Value::Null)
}

/// Create-time metadata validation. `info` is the registry entry of the kind (absent for
/// custom resources, whose names follow the DNS-1123 subdomain rule).
pub fn create(obj: &Value, info: Option<&ResourceInfo>) -> Vec<FieldError> {
    if info.is_some_and(|i| names::name_rule(i) == names::NameRule::None) {
        // Review objects (access reviews, token reviews) are never stored or named.
        return Vec::new();
    }
    let m = meta(obj);
    let mut errs = Vec::new();
    let generate = str_of(m, "generateName");
    if !generate.is_empty() {
        let msgs = match info {
            Some(info) => names::validate_generate_name(info, generate),
            None => names::check_name(names::NameRule::Dns1123Subdomain, generate, true),
        };
        for msg in msgs {
            errs.push(FieldError::invalid("metadata.generateName", generate, &msg));
        }
    }
    let name = str_of(m, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        let msgs = match info {
            Some(info) => names::validate_object_name_of(info, obj),
            None => names::check_name(names::NameRule::Dns1123Subdomain, name, false),
        };
        for msg in msgs {
            errs.push(FieldError::invalid("metadata.name", name, &msg));
        }
    }
    let namespaced = info.map(|i| i.namespaced);
    errs.extend(namespace(m, namespaced));
    if let Some(g) = int_of(m, "generation") {
        errs.extend(super::checks::nonnegative(g, "metadata.generation"));
    }
    errs.extend(common(m, info.is_some()));
    errs
}

/// Update-time metadata validation: name and namespace are immutable, finalizers cannot be
/// added while the object is being deleted, and labels, annotations, owner references and
/// finalizers must still be valid.
pub fn update(old: &Value, new: &Value, info: Option<&ResourceInfo>) -> Vec<FieldError> {
    let (om, nm) = (meta(old), meta(new));
    let mut errs = Vec::new();
    if om.get("deletionTimestamp").is_some_and(|v| !v.is_null()) {
        let old_f: Vec<&str> = list_of(om, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut extra: Vec<&str> = list_of(nm, "finalizers")
            .iter()
            .filter_map(Value::as_str)
            .filter(|f| !old_f.contains(f))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<Value> = extra.iter().map(|s| Value::from(*s)).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {}",
                    go_string_slice(Some(&list))
                ),
            ));
        }
    }
    for field in ["name", "namespace"] {
        let (o, n) = (str_of(om, field), str_of(nm, field));
        if o != n {
            errs.push(FieldError::invalid(child(META, field), n, IMMUTABLE_MSG));
        }
    }
    errs.extend(common(nm, info.is_some()));
    errs
}

fn namespace(m: &Value, namespaced: Option<bool>) -> Vec<FieldError> {
    let ns = str_of(m, "namespace");
    match namespaced {
        Some(true) => {
            if ns.is_empty() {
                vec![FieldError::required("metadata.namespace", "")]
            } else {
                names::is_dns1123_label(ns)
                    .into_iter()
                    .map(|msg| FieldError::invalid("metadata.namespace", ns, &msg))
                    .collect()
            }
        }
        Some(false) if !ns.is_empty() => vec![FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        )],
        _ => Vec::new(),
    }
}

/// Labels, annotations, owner references and finalizers (create and update).
fn common(m: &Value, builtin: bool) -> Vec<FieldError> {
    let mut errs = labels(m.get("labels"), "metadata.labels");
    errs.extend(annotations(m.get("annotations"), "metadata.annotations"));
    errs.extend(owner_references(m));
    errs.extend(finalizers(m, builtin));
    errs
}

fn owner_references(m: &Value) -> Vec<FieldError> {
    let path = "metadata.ownerReferences";
    let mut errs = Vec::new();
    let mut first_controller = String::new();
    for r in list_of(m, "ownerReferences") {
        let api_version = str_of(r, "apiVersion");
        let version = match api_version.split_once('/') {
            Some((_, v)) => v,
            None => api_version,
        };
        if version.is_empty() || api_version.matches('/').count() > 1 {
            errs.push(FieldError::invalid(
                child(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for (field, detail) in [
            ("kind", "must not be empty"),
            ("name", "must not be empty"),
            ("uid", "must not be empty"),
        ] {
            let v = str_of(r, field);
            if v.is_empty() {
                errs.push(FieldError::invalid(child(path, field), v, detail));
            }
        }
        if api_version == "v1" && str_of(r, "kind") == "Event" {
            errs.push(FieldError::invalid_shown(
                path,
                r.to_string(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", str_of(r, "kind"), str_of(r, "name"));
            if first_controller.is_empty() {
                first_controller = current;
            } else {
                errs.push(FieldError::invalid_shown(
                    path,
                    m.get("ownerReferences").map(Value::to_string).unwrap_or_default(),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {current}"
                    ),
                ));
            }
        }
    }
    errs
}

/// The finalizer names the core group accepts without a domain prefix.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

fn finalizers(m: &Value, builtin: bool) -> Vec<FieldError> {
    let path = "metadata.finalizers";
    let list = list_of(m, "finalizers");
    let mut errs = Vec::new();
    let mut orphan = false;
    let mut foreground = false;
    for f in list.iter().filter_map(Value::as_str) {
        errs.extend(qualified_name(f, path));
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if orphan && foreground {
        errs.push(FieldError::invalid(
            path,
            Value::Array(list.to_vec()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    if builtin {
        for (i, f) in list.iter().enumerate() {
            if let Some(f) = f.as_str() {
                errs.extend(kube_finalizer_name(f, &index(path, i)));
            }
        }
    }
    errs
}

/// Upstream `validateKubeFinalizerName`: an unprefixed finalizer must be a standard one.
pub fn kube_finalizer_name(value: &str, path: &str) -> Vec<FieldError> {
    if !value.contains('/') && !STANDARD_FINALIZERS.contains(&value) {
        vec![FieldError::invalid(
            path,
            value,
            "name is neither a standard finalizer name nor is it fully qualified",
        )]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup_kind;
    use serde_json::json;

    fn run(obj: Value) -> Vec<String> {
        let info = lookup_kind("", "v1", "ConfigMap");
        create(&obj, info).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn names_and_namespaces() {
        assert!(run(json!({"metadata": {"name": "ok", "namespace": "default"}})).is_empty());
        assert_eq!(
            run(json!({"metadata": {"namespace": "default"}})),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let errs = run(json!({"metadata": {"name": "Bad_Name", "namespace": "default"}}));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ));
        assert_eq!(
            run(json!({"metadata": {"name": "ok"}})),
            vec!["metadata.namespace: Required value"]
        );
        let ns = lookup_kind("", "v1", "Namespace");
        let errs: Vec<String> = create(&json!({"metadata": {"name": "a", "namespace": "b"}}), ns)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn finalizers_and_owner_refs() {
        let errs = run(json!({"metadata": {"name": "a", "namespace": "d",
            "finalizers": ["foo", "example.com/x"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "", "name": "x", "uid": "u"}]}}));
        assert_eq!(
            errs,
            vec![
                "metadata.ownerReferences.kind: Invalid value: \"\": must not be empty",
                "metadata.finalizers[0]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified",
            ]
        );
    }

    #[test]
    fn update_rules() {
        let old = json!({"metadata": {"name": "a", "namespace": "d", "deletionTimestamp": "x", "finalizers": ["a.io/x"]}});
        let new = json!({"metadata": {"name": "b", "namespace": "d", "finalizers": ["a.io/x", "b.io/y"]}});
        let errs: Vec<String> = update(&old, &new, lookup_kind("", "v1", "ConfigMap"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"b.io/y\"}",
                "metadata.name: Invalid value: \"b\": field is immutable",
            ]
        );
    }
}
