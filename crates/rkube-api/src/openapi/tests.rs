use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::schemas::{ext_table, for_each_subschema};
use super::*;

fn doc(path: &str) -> Value {
    v3_document(path).unwrap_or_else(|| panic!("no document for {path}"))
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.pointer(&format!("/components/schemas/{}", name.replace('/', "~1")))
        .unwrap_or_else(|| panic!("no schema {name}"))
}

#[test]
fn paths_list_every_served_group_version() {
    let paths = v3_paths();
    assert_eq!(paths.first().map(String::as_str), Some("api/v1"));
    for p in [
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/autoscaling/v2",
        "apis/autoscaling/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/apiextensions.k8s.io/v1",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }
    let index = v3_index();
    for p in &paths {
        let url = index["paths"][p]["serverRelativeURL"]
            .as_str()
            .unwrap_or_default();
        assert!(
            url.starts_with(&format!("/openapi/v3/{p}?hash=")),
            "{p}: {url}"
        );
        // The index's hash names the document built on request (documents are not kept).
        let (_, hash) = v3_document_bytes(p).unwrap_or_default();
        assert!(
            url.ends_with(&format!("?hash={hash}")),
            "{p}: {url} vs {hash}"
        );
    }
}

#[test]
fn deployment_schema_and_patch_operation() {
    let d = doc("apis/apps/v1");
    assert_eq!(d["openapi"], "3.0.0");
    let deployment = schema(&d, "io.k8s.api.apps.v1.Deployment");
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert!(
        deployment.get("required").is_none(),
        "{}",
        deployment["required"]
    );
    let revision = schema(&d, "io.k8s.api.apps.v1.ControllerRevision");
    assert_eq!(revision["required"], json!(["revision"]));
    let list = schema(&d, "io.k8s.api.apps.v1.DeploymentList");
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "DeploymentList"
    );

    let item = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let params = patch["parameters"].as_array().cloned().unwrap_or_default();
    for name in ["fieldValidation", "dryRun", "fieldManager", "force"] {
        assert!(
            params
                .iter()
                .any(|p| p["name"] == name && p["in"] == "query"),
            "PATCH lacks {name}"
        );
    }
    let fv = params
        .iter()
        .find(|p| p["name"] == "fieldValidation")
        .cloned()
        .unwrap_or_default();
    assert_eq!(fv["schema"], json!({"type": "string", "uniqueItems": true}));
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    for m in ["get", "put", "delete"] {
        assert_eq!(
            item[m]["x-kubernetes-group-version-kind"]["kind"], "Deployment",
            "{m}"
        );
    }
    let collection = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
    assert_eq!(collection["get"]["x-kubernetes-action"], "list");
    assert_eq!(collection["post"]["x-kubernetes-action"], "post");
    assert_eq!(
        collection["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
    let scale = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(
        scale["patch"]["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );
    let scale_schema = schema(&d, "io.k8s.api.autoscaling.v1.Scale");
    assert_eq!(
        scale_schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Scale"
    );
    // DeploymentSpec.strategy: retainKeys.
    let spec = schema(&d, "io.k8s.api.apps.v1.DeploymentSpec");
    assert_eq!(
        spec["properties"]["strategy"]["x-kubernetes-patch-strategy"],
        "retainKeys"
    );
    assert!(spec["properties"]["strategy"]["allOf"][0]["$ref"].is_string());
}

#[test]
fn every_patch_operation_declares_field_validation() {
    for p in v3_paths() {
        let d = doc(&p);
        for (path, item) in d["paths"].as_object().cloned().unwrap_or_default() {
            let Some(patch) = item.get("patch") else {
                continue;
            };
            if patch["x-kubernetes-action"] == "connect" {
                continue;
            }
            let params = patch["parameters"].as_array().cloned().unwrap_or_default();
            assert!(
                params.iter().any(|p| p["name"] == "fieldValidation"),
                "{path}"
            );
            assert!(
                patch["x-kubernetes-group-version-kind"]["kind"].is_string(),
                "{path}"
            );
        }
    }
}

#[test]
fn pod_spec_patch_extensions() {
    let d = doc("api/v1");
    let spec = schema(&d, "io.k8s.api.core.v1.PodSpec");
    let containers = &spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(
        containers["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    let volumes = &spec["properties"]["volumes"];
    assert_eq!(volumes["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    assert_eq!(
        spec["properties"]["restartPolicy"]["enum"],
        json!(["Always", "Never", "OnFailure"])
    );

    let container = schema(&d, "io.k8s.api.core.v1.Container");
    let env = &container["properties"]["env"];
    assert_eq!(
        (
            &env["x-kubernetes-patch-merge-key"],
            &env["x-kubernetes-patch-strategy"]
        ),
        (&json!("name"), &json!("merge"))
    );
    let ports = &container["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(
        container["properties"]["volumeMounts"]["x-kubernetes-patch-merge-key"],
        "mountPath"
    );
    let probe = &container["properties"]["livenessProbe"];
    assert!(
        probe["description"]
            .as_str()
            .is_some_and(|s| s.contains("Periodic probe")),
        "{probe}"
    );
    assert_eq!(
        probe["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Probe"
    );

    let meta = schema(&d, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    assert_eq!(
        meta["properties"]["finalizers"]["x-kubernetes-patch-strategy"],
        "merge"
    );
    assert_eq!(
        meta["properties"]["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );
    let selector = schema(&d, "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector");
    assert_eq!(selector["x-kubernetes-map-type"], "atomic");

    let pod = schema(&d, "io.k8s.api.core.v1.Pod");
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    let eviction = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"];
    assert_eq!(
        eviction["x-kubernetes-group-version-kind"]["group"],
        "policy"
    );
    let ns_patch = &d["paths"]["/api/v1/namespaces/{name}"]["patch"];
    assert_eq!(
        ns_patch["x-kubernetes-group-version-kind"]["kind"],
        "Namespace"
    );
}

/// What `kubectl explain <resource>.<path>` does: the GVK of an operation on the resource's
/// paths, the schema carrying that GVK, then properties through `allOf`/`items`/`$ref`.
fn explain<'a>(d: &'a Value, resource_path: &str, fields: &[&str]) -> &'a Value {
    let gvk = ["get", "post", "put", "patch", "delete"]
        .iter()
        .find_map(|m| d["paths"][resource_path][m].get("x-kubernetes-group-version-kind"))
        .unwrap_or_else(|| panic!("no GVK on {resource_path}"));
    let schemas = d["components"]["schemas"]
        .as_object()
        .unwrap_or_else(|| panic!("no schemas"));
    let mut at = schemas
        .values()
        .find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| l.contains(gvk))
        })
        .unwrap_or_else(|| panic!("no schema for {gvk}"));
    let resolve = |mut s: &'a Value| loop {
        if let Some(first) = s.get("allOf").and_then(|a| a.get(0)) {
            s = first;
        } else if let Some(items) = s.get("items") {
            s = items;
        } else if let Some(Value::String(r)) = s.get("$ref") {
            let name = r.trim_start_matches("#/components/schemas/");
            s = &schemas[name];
        } else {
            return s;
        }
    };
    for f in fields {
        at = &resolve(at)["properties"][f];
        assert!(!at.is_null(), "{resource_path}: no field {f}");
    }
    at
}

#[test]
fn explain_walks_to_container_liveness_probe() {
    let d = doc("api/v1");
    let probe = explain(
        &d,
        "/api/v1/namespaces/{namespace}/pods",
        &["spec", "containers", "livenessProbe"],
    );
    assert!(probe["description"].as_str().is_some_and(|s| !s.is_empty()));
    let d = doc("apis/apps/v1");
    let p = &[
        "spec",
        "template",
        "spec",
        "containers",
        "livenessProbe",
        "httpGet",
        "port",
    ];
    let port = explain(
        &d,
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        p,
    );
    assert_eq!(
        port["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    );
    let d = doc("apis/rbac.authorization.k8s.io/v1");
    let verbs = explain(
        &d,
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        &["rules", "verbs"],
    );
    assert_eq!(verbs["type"], "array");
}

#[test]
fn json_schema_props_keeps_its_ref_property() {
    let d = doc("apis/apiextensions.k8s.io/v1");
    let props = schema(
        &d,
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
    );
    assert_eq!(props["properties"]["$ref"]["type"], "string");
    assert_eq!(props["properties"]["allOf"]["type"], "array");
}

#[test]
fn int_or_string_and_quantity_have_upstream_shape() {
    let d = doc("api/v1");
    let ios = schema(&d, "io.k8s.apimachinery.pkg.util.intstr.IntOrString");
    assert_eq!(ios["format"], "int-or-string");
    assert_eq!(
        ios["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    let q = schema(&d, "io.k8s.apimachinery.pkg.api.resource.Quantity");
    assert_eq!(q["oneOf"], json!([{"type": "string"}, {"type": "number"}]));
    assert!(q.get("x-kubernetes-int-or-string").is_none());
}

#[test]
fn every_ref_resolves_and_no_ref_has_siblings() {
    for p in v3_paths() {
        let d = doc(&p);
        let mut found = BTreeSet::new();
        refs(&d, &mut found);
        assert!(!found.is_empty(), "{p}");
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{p}: {r}"));
            assert!(
                d["components"]["schemas"].get(name).is_some(),
                "{p}: unresolved {r}"
            );
        }
        for (name, def) in d["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            let mut def = def;
            no_ref_siblings(&mut def, &format!("{p}: {name}"));
        }
    }
}

#[test]
fn every_kind_with_operations_has_a_schema() {
    for p in v3_paths() {
        let d = doc(&p);
        let schemas = d["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let tagged: Vec<&Value> = schemas
            .values()
            .filter_map(|s| s.get("x-kubernetes-group-version-kind"))
            .collect();
        for r in registry::all()
            .iter()
            .filter(|r| gv_path(r.group, r.version) == p)
        {
            let gvk = json!({"group": r.group, "kind": r.kind, "version": r.version});
            let n = tagged
                .iter()
                .filter(|l| l.as_array().is_some_and(|l| l.contains(&gvk)))
                .count();
            assert_eq!(n, 1, "{p}: {gvk} is on {n} schemas");
        }
    }
}

#[test]
fn extension_table_parses_and_matches_schemas() {
    let raw_lines = include_str!("upstream_ext.tsv")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(ext_table().len(), raw_lines);
    // The table's core/v1 and meta/v1 entries land on existing properties of the api/v1 doc.
    let d = doc("api/v1");
    let schemas = &d["components"]["schemas"];
    for e in ext_table()
        .iter()
        .filter(|e| e.definition.starts_with("io.k8s.api.core.v1."))
    {
        let Some(def) = schemas.get(&e.definition) else {
            continue;
        };
        if e.property != "." {
            assert!(
                def["properties"].get(&e.property).is_some(),
                "{}.{}",
                e.definition,
                e.property
            );
        }
    }
}

#[test]
fn serialization_is_deterministic() {
    let d = doc("apis/apps/v1");
    let (bytes, hash) = v3_document_bytes("apis/apps/v1").unwrap_or_default();
    assert_eq!(serde_json::to_vec(&d).unwrap_or_default(), *bytes);
    assert_eq!(hash, hash_hex(&bytes));
    assert_eq!(hash.len(), 32);
    // Building again gives the same bytes.
    let resources: Vec<&ResourceInfo> = registry::all()
        .iter()
        .filter(|r| r.group == "apps" && r.version == "v1")
        .collect();
    let again = serde_json::to_vec(&build_document("apps", "v1", &resources)).unwrap_or_default();
    assert_eq!(hash_hex(&again), hash);
    assert!(v3_document_bytes("/openapi/v3/apis/apps/v1").is_some());
    assert!(v3_document_bytes(&format!("/openapi/v3/apis/apps/v1?hash={hash}")).is_some());
    assert!(v3_document_bytes("apis/nope/v1").is_none());
}

/// Every `$ref` target under `value`.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.insert(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
#[ignore]
fn dump_docs() {
    let t = std::time::Instant::now();
    let index = v3_index();
    eprintln!("built in {:?}", t.elapsed());
    let dir = std::env::var("OPENAPI_DUMP").unwrap_or_else(|_| "/tmp/openapi-dump".into());
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        format!("{dir}/index.json"),
        serde_json::to_vec_pretty(&index).unwrap_or_default(),
    );
    for p in v3_paths() {
        let (bytes, _) = v3_document_bytes(&p).unwrap_or_default();
        eprintln!(
            "{p}: {} bytes, {} schemas",
            bytes.len(),
            doc(&p)["components"]["schemas"]
                .as_object()
                .map_or(0, |m| m.len())
        );
        let _ = std::fs::write(format!("{dir}/{}.json", p.replace('/', "__")), &*bytes);
    }
}

fn no_ref_siblings(schema: &mut Value, at: &str) {
    if let Some(m) = schema.as_object() {
        assert!(
            !(m.contains_key("$ref") && m.len() > 1),
            "{at}: $ref with siblings {schema}"
        );
    }
    for_each_subschema(schema, &mut |s| no_ref_siblings(s, at));
}

/// `definitions.json` is what `definitions::generate` builds from the schemars impls
/// (`RKUBE_UPDATE_DEFINITIONS=1` rewrites it).
#[test]
fn definitions_file_is_up_to_date() {
    let fresh = definitions::generate();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/openapi/definitions.json");
    if std::env::var_os("RKUBE_UPDATE_DEFINITIONS").is_some() {
        std::fs::write(path, &fresh).unwrap_or_else(|e| panic!("failed to write {path}: {e}"));
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{path} is stale: run RKUBE_UPDATE_DEFINITIONS=1 cargo test -p rkube-api --lib \
         openapi::tests::definitions"
    );
}

/// Every definition of every document is in `definitions.json`, the same but for its
/// descriptions and its group-version-kind tags (the union over the documents there).
#[test]
fn definitions_match_the_documents() {
    let defs = Definitions::load();
    // Every line between the braces is one definition.
    let lines = include_str!("definitions.json").lines().count();
    assert_eq!(defs.iter().count(), lines - 2);
    for path in v3_paths() {
        let d = doc(&path);
        let schemas = d["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, schema) in schemas {
            let mut expected = schema;
            let mut stored = defs
                .get(&name)
                .unwrap_or_else(|| panic!("{path}: no {name}"));
            let gvk = "x-kubernetes-group-version-kind";
            for g in expected[gvk].as_array().into_iter().flatten() {
                assert!(
                    stored[gvk].as_array().is_some_and(|l| l.contains(g)),
                    "{name}: {g}"
                );
            }
            for v in [&mut expected, &mut stored] {
                if let Some(m) = v.as_object_mut() {
                    m.remove(gvk);
                }
                strip(v);
            }
            assert_eq!(stored, expected, "{path}: {name}");
        }
    }

    fn strip(schema: &mut Value) {
        if let Some(map) = schema.as_object_mut() {
            map.remove("description");
        }
        for_each_subschema(schema, &mut strip);
    }
}
