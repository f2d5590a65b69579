//! Typed decoding checks: an incoming object is decoded into its `k8s-openapi` type to catch
//! fields of the wrong JSON type (a string where a map belongs, a number where a string
//! belongs), as upstream's typed decoding does. The object itself stays JSON; only the error
//! is used. Missing fields are not decoding errors upstream (validation reports them), so
//! they are ignored here.

use crate::openapi::kinds;
use serde_json::Value;

mod gotype;

pub use gotype::go_type_error;

/// Maps whose values are resource quantities, and scalar quantity fields. JSON numbers are
/// valid quantities upstream (`cpu: 1`), while the typed `Quantity` only decodes strings.
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "capacity",
    "allocatable",
    "hard",
    "used",
    "min",
    "max",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "overhead",
    "podFixed",
];
const QUANTITY_SCALARS: &[&str] = &["sizeLimit", "capacity"];

fn number_to_string(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// Prepare for typed decoding: drop nulls (Go decoding treats null as absent; serde rejects
/// null for non-optional fields) and turn numeric quantities into strings.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| {
                    let x = match x {
                        Value::Object(inner) if QUANTITY_MAPS.contains(&k.as_str()) => {
                            Value::Object(
                                inner
                                    .iter()
                                    .map(|(ik, iv)| (ik.clone(), number_to_string(iv)))
                                    .collect(),
                            )
                        }
                        Value::Number(_) if QUANTITY_SCALARS.contains(&k.as_str()) => {
                            number_to_string(x)
                        }
                        _ => normalize(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// Decode `obj` as the typed `group/version` `kind`. `Ok(())` for kinds without a typed
/// definition. The error text is upstream's (`json: cannot unmarshal …`, see
/// [`go_type_error`]) where the schema walk finds the problem, else serde's description of
/// the first wrongly typed field.
pub fn check_types(group: &str, version: &str, kind: &str, obj: &Value) -> Result<(), String> {
    if !kinds::known(group, version, kind) {
        return Ok(());
    }
    // Upstream's own wording first; serde's check catches whatever the schema walk misses.
    if let Some(e) = go_type_error(group, version, kind, obj) {
        return Err(e);
    }
    // apiVersion/kind were checked by the caller; decoding would insist on exact values.
    let mut o = normalize(obj);
    if let Some(m) = o.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    match kinds::decode(group, version, kind, &o).unwrap_or(Ok(())) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            if msg.starts_with("missing field") {
                Ok(())
            } else {
                Err(msg)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_found() {
        let cases = [
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": {"k": "v"}}),
                true,
            ),
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": {"k": 5}}),
                false,
            ),
            (
                "",
                "v1",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": null}),
                true,
            ),
            (
                "apps",
                "v1",
                "Deployment",
                json!({"spec": {"replicas": "three"}}),
                false,
            ),
            // Missing required fields are validation's business, not decoding's.
            (
                "apps",
                "v1",
                "Deployment",
                json!({"spec": {"replicas": 3}}),
                true,
            ),
            (
                "",
                "v1",
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": "80"}]}]}}),
                false,
            ),
            (
                "",
                "v1",
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}}}]}}),
                true,
            ),
            ("example.com", "v1", "Widget", json!({"spec": 5}), true),
        ];
        for (g, v, k, obj, ok) in cases {
            assert_eq!(check_types(g, v, k, &obj).is_ok(), ok, "{k} {obj}");
        }
    }

    #[test]
    fn go_type_errors_read_as_upstream() {
        let pod = |c: Value| json!({"spec": {"containers": [c]}});
        let cases: Vec<(&str, &str, Value, Option<&str>)> = vec![
            (
                "apps",
                "Deployment",
                json!({"spec": {"replicas": "three"}}),
                Some("string into Go struct field DeploymentSpec.spec.replicas of type int32"),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"replicas": 1.5}}),
                Some("number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"replicas": 3000000000u64}}),
                Some("number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32"),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}}}}),
                Some("string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"),
            ),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"name": "a"}, "data": {"k": 5}}),
                Some("number into Go struct field ConfigMap.data of type string"),
            ),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"labels": "oops"}}),
                Some("string into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "ports": [{"containerPort": "80"}]})),
                Some("string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32"),
            ),
            (
                "",
                "Pod",
                json!({"spec": {"containers": {"name": "c"}}}),
                Some("object into Go struct field PodSpec.spec.containers of type []v1.Container"),
            ),
            (
                "",
                "Pod",
                json!({"spec": "x"}),
                Some("string into Go struct field Pod.spec of type v1.PodSpec"),
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "args": "a"})),
                Some("string into Go struct field Container.spec.containers.args of type []string"),
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "stdin": "yes"})),
                Some("string into Go struct field Container.spec.containers.stdin of type bool"),
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}})),
                None,
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "livenessProbe": {"httpGet": {"port": 5}}})),
                None,
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "livenessProbe": {"httpGet": {"port": "http"}}})),
                None,
            ),
            (
                "",
                "Pod",
                pod(json!({"name": "c", "livenessProbe": {"httpGet": {"port": true}}})),
                Some("bool into Go struct field HTTPGetAction.spec.containers.livenessProbe.httpGet.port of type int32"),
            ),
            (
                "apps",
                "Deployment",
                json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 5, "maxUnavailable": "25%"}}}}),
                None,
            ),
            // The first mismatch in document order wins.
            (
                "apps",
                "Deployment",
                json!({"metadata": {"name": 5}, "spec": {"replicas": "x"}}),
                Some("number into Go struct field ObjectMeta.metadata.name of type string"),
            ),
            // Null is always fine; unknown fields are not type errors.
            (
                "apps",
                "Deployment",
                json!({"spec": {"replicas": null, "bogus": "x"}, "metadata": null}),
                None,
            ),
            (
                "",
                "Secret",
                json!({"data": {"k": 5}}),
                Some("number into Go struct field Secret.data of type []uint8"),
            ),
        ];
        for (g, k, obj, want) in cases {
            let want = want.map(|w| format!("json: cannot unmarshal {w}"));
            assert_eq!(go_type_error(g, "v1", k, &obj), want, "{k} {obj}");
            assert_eq!(check_types(g, "v1", k, &obj).err(), want, "{k} {obj}");
        }
        // The JSONSchemaProps unions (`items`, `additionalProperties`) and JSON values take
        // any kind.
        let crd = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object",
            "default": 5,
            "additionalProperties": false,
            "properties": {"a": {"type": "array", "items": [{"type": "string"}], "example": "x"}},
        }}}]}});
        assert_eq!(
            go_type_error(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                &crd
            ),
            None
        );
        // Kinds without a schema have nothing to say.
        assert_eq!(
            go_type_error("example.com", "v1", "Widget", &json!({"spec": 5})),
            None
        );
    }

    #[test]
    fn well_typed_objects_pass() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/protobuf/testdata");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let obj: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let api_version = obj["apiVersion"].as_str().unwrap_or_default();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let kind = obj["kind"].as_str().unwrap_or_default();
            assert_eq!(
                go_type_error(group, version, kind, &obj),
                None,
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen > 0);
    }
}
