//! `components.schemas` of a group-version document.
//!
//! The definitions come from `k8s-openapi`'s schemars impls (upstream names and field docs),
//! generated with OpenAPI 3.0 settings (references as `#/components/schemas/<name>`, and a
//! reference with a description as `{"allOf": [{"$ref": …}], "description": …}` as upstream
//! writes it). On top of that, as a v1.33 kube-apiserver serves them:
//! - `x-kubernetes-group-version-kind` on every top-level kind and list;
//! - the `<Kind>List` definitions (k8s-openapi has no schema for its generic list);
//! - `x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy`, `x-kubernetes-list-type`,
//!   `x-kubernetes-list-map-keys`, `x-kubernetes-map-type` and `enum`, from
//!   `upstream_ext.tsv` (facts read from the upstream Go types' struct tags and markers);
//! - `IntOrString` and `Quantity` in upstream's v3 shape (`oneOf` of their two JSON types);
//! - `metadata` not required (k8s-openapi requires it; upstream does not).

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::kinds::{self, KindSchema};
use crate::registry::ResourceInfo;

const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// The table of upstream extensions: (definition, property or ".", schema keywords).
const UPSTREAM_EXT: &str = include_str!("upstream_ext.tsv");

/// A `$ref` to a definition of the same document.
pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The definitions of one document, and which kinds they describe.
pub(super) struct Components {
    schemas: Map<String, Value>,
    /// (group, version, kind, definition name) of the kinds and lists present.
    kinds: Vec<(String, String, String, String)>,
}

impl Components {
    pub(super) fn has(&self, name: &str) -> bool {
        self.schemas.contains_key(name)
    }

    /// The definition describing `group/version, kind`, if present.
    pub(super) fn name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|(g, v, k, _)| g == group && v == version && k == kind)
            .map(|(_, _, _, name)| name.as_str())
    }

    /// The `<Kind>List` definition of `group/version, kind`, if present.
    pub(super) fn list_name_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.name_of(group, version, &format!("{kind}List"))
    }

    pub(super) fn into_schemas(self) -> Map<String, Value> {
        self.schemas
    }

    #[cfg(test)]
    pub(super) fn schemas(&self) -> &Map<String, Value> {
        &self.schemas
    }
}

/// Builds the definitions for the resources of `group/version` (their kinds, lists,
/// subresource kinds, the meta types operations use, and everything those reference).
pub(super) fn build(group: &str, version: &str, resources: &[&ResourceInfo]) -> Components {
    let mut generator = SchemaSettings::openapi3().into_generator();
    kinds::register_meta(&mut generator);
    let mut list_of: Vec<(&str, &str, &str, String)> = Vec::new();
    for r in resources {
        if let Some(name) = kinds::register(&mut generator, r.group, r.version, r.kind) {
            if r.has_verb("list") {
                list_of.push((r.group, r.version, r.kind, name));
            }
        }
        for s in r.subresources {
            kinds::register(&mut generator, s.group, s.version, s.kind);
        }
    }
    let mut schemas = generator.take_definitions(true);

    let mut kinds_present: Vec<(String, String, String, String)> = Vec::new();
    for KindSchema {
        group,
        version,
        kind,
        name,
    } in kinds::all()
    {
        if let Some(Value::Object(def)) = schemas.get_mut(&name) {
            push_gvk(def, group, version, kind);
            kinds_present.push((group.into(), version.into(), kind.into(), name));
        }
    }
    for (g, v, kind, name) in list_of {
        let list_name = format!("{name}List");
        let list = list_schema(&schemas, g, v, kind, &name);
        schemas.insert(list_name.clone(), list);
        kinds_present.push((g.into(), v.into(), format!("{kind}List"), list_name));
    }
    // DeleteOptions and WatchEvent are kinds of every group-version.
    for name in [kinds::DELETE_OPTIONS, kinds::WATCH_EVENT] {
        let kind = name.rsplit('.').next().unwrap_or_default();
        if let Some(Value::Object(def)) = schemas.get_mut(name) {
            push_gvk(def, "", "v1", kind);
            if !(group.is_empty() && version == "v1") {
                push_gvk(def, group, version, kind);
            }
        }
    }
    upstream_shapes(&mut schemas);
    for def in schemas.values_mut() {
        unrequire_metadata(def);
    }
    apply_extensions(&mut schemas);
    for def in schemas.values_mut() {
        wrap_ref_siblings(def);
    }
    Components {
        schemas,
        kinds: kinds_present,
    }
}

fn push_gvk(def: &mut Map<String, Value>, group: &str, version: &str, kind: &str) {
    let entry = json!({"group": group, "kind": kind, "version": version});
    let list = def
        .entry("x-kubernetes-group-version-kind")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        if !list.contains(&entry) {
            list.push(entry);
        }
    }
}

/// The `<Kind>List` definition, as upstream's lists look.
fn list_schema(
    schemas: &Map<String, Value>,
    group: &str,
    version: &str,
    kind: &str,
    item: &str,
) -> Value {
    // The apiVersion and kind docs are the same on every kind; take them from the item.
    let doc = |field: &str| {
        schemas
            .get(item)
            .and_then(|d| d.pointer(&format!("/properties/{field}/description")))
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()))
    };
    json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "properties": {
            "apiVersion": {"description": doc("apiVersion"), "type": "string"},
            "items": {
                "description": format!("items is the list of {kind} objects."),
                "items": schema_ref(item),
                "type": "array",
            },
            "kind": {"description": doc("kind"), "type": "string"},
            "metadata": {
                "allOf": [schema_ref(kinds::LIST_META)],
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": group, "kind": format!("{kind}List"), "version": version}],
    })
}

/// k8s-openapi makes `metadata` required on every kind; upstream's definitions do not.
fn unrequire_metadata(def: &mut Value) {
    let Some(def) = def.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(required)) = def.get_mut("required") {
        required.retain(|f| f != "metadata");
        if required.is_empty() {
            def.remove("required");
        }
    }
}

/// IntOrString and Quantity as upstream's v3 documents have them.
fn upstream_shapes(schemas: &mut Map<String, Value>) {
    if let Some(Value::Object(def)) = schemas.get_mut(INT_OR_STRING) {
        def.remove("x-kubernetes-int-or-string");
        def.insert("format".into(), json!("int-or-string"));
        def.insert(
            "oneOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if let Some(Value::Object(def)) = schemas.get_mut(QUANTITY) {
        def.remove("x-kubernetes-int-or-string");
        def.insert(
            "oneOf".into(),
            json!([{"type": "string"}, {"type": "number"}]),
        );
    }
}

/// One line of `upstream_ext.tsv`.
pub(super) struct ExtEntry {
    pub definition: String,
    /// A property name, or "." for the definition itself.
    pub property: String,
    pub keywords: Map<String, Value>,
}

/// The parsed table (lines that do not parse are skipped; a unit test checks there are none).
pub(super) fn ext_table() -> &'static [ExtEntry] {
    static TABLE: OnceLock<Vec<ExtEntry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        UPSTREAM_EXT
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let mut parts = line.splitn(3, '\t');
                let definition = parts.next()?.to_string();
                let property = parts.next()?.to_string();
                let keywords = match serde_json::from_str(parts.next()?) {
                    Ok(Value::Object(m)) => m,
                    _ => return None,
                };
                Some(ExtEntry {
                    definition,
                    property,
                    keywords,
                })
            })
            .collect()
    })
}

fn apply_extensions(schemas: &mut Map<String, Value>) {
    for entry in ext_table() {
        let Some(Value::Object(def)) = schemas.get_mut(&entry.definition) else {
            continue;
        };
        if entry.property == "." {
            for (k, v) in &entry.keywords {
                def.insert(k.clone(), v.clone());
            }
            continue;
        }
        let Some(Value::Object(prop)) = def
            .get_mut("properties")
            .and_then(|p| p.get_mut(&entry.property))
        else {
            continue;
        };
        for (k, v) in &entry.keywords {
            if k == "enum" {
                // Enums go on the string itself, or on the items of a list of strings.
                let target = if prop.get("type") == Some(&json!("array")) {
                    prop.get_mut("items").and_then(Value::as_object_mut)
                } else {
                    Some(&mut *prop)
                };
                if let Some(target) = target.filter(|t| t.get("type") == Some(&json!("string"))) {
                    target.insert(k.clone(), v.clone());
                }
            } else {
                prop.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `{"$ref": X, "k": …}` becomes `{"allOf": [{"$ref": X}], "k": …}` in every schema (OpenAPI
/// 3.0 ignores siblings of `$ref`; upstream wraps such references the same way).
fn wrap_ref_siblings(schema: &mut Value) {
    for_each_subschema(schema, &mut wrap_ref_siblings);
    if let Some(map) = schema.as_object_mut() {
        if map.len() > 1 {
            if let Some(reference) = map.remove("$ref") {
                map.insert("allOf".into(), json!([{ "$ref": reference }]));
            }
        }
    }
}

/// Calls `f` on the direct subschemas of `schema` (property schemas, not the `properties` map
/// itself: a property may be named `$ref`, as JSONSchemaProps' is).
pub(super) fn for_each_subschema(schema: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        match key.as_str() {
            "properties" => value
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
                .for_each(&mut *f),
            "items" | "additionalProperties" | "not" => f(value),
            "allOf" | "anyOf" | "oneOf" => {
                value.as_array_mut().into_iter().flatten().for_each(&mut *f)
            }
            _ => {}
        }
    }
}
