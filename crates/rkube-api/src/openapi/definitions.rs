//! The definitions of every OpenAPI v3 document, without their descriptions, embedded as one
//! JSON text (`definitions.json`): the input of the schema compilers of `fieldcheck`, `smp`,
//! `ssa` and `typed`.
//!
//! Why a generated file: producing the definitions at run time means running `k8s-openapi`'s
//! schemars impls, megabytes of machine code (every schema is code building JSON, docs
//! included) that then stay resident, plus a temporary heap of megabytes for the documents. The
//! compilers need neither the docs nor the documents' paths, so they read this text (a few
//! hundred kilobytes) instead, one definition at a time through [`Definitions`], and keep only
//! what they compile: no temporary heap peak to leave the allocator fragmented. The documents served
//! under `/openapi` still come from the schemars impls, when asked for.
//!
//! The file holds `components.schemas` of every group-version merged into one object (names
//! are global: a name means the same schema in every document), each definition on its own
//! line, object keys sorted, `description` dropped from every schema, and
//! `x-kubernetes-group-version-kind` the union over the documents (`DeleteOptions` and
//! `WatchEvent` are tagged with every group-version). A unit test checks it equals what
//! [`generate`] builds from the schemars impls; after a `k8s-openapi` or `upstream_ext.tsv`
//! change, regenerate it with
//! `RKUBE_UPDATE_DEFINITIONS=1 cargo test -p rkube-api --lib openapi::tests::definitions`.

use serde_json::Value;

/// The generated definitions (see the module docs).
const DEFINITIONS: &str = include_str!("definitions.json");

/// The definitions of `definitions.json`, each parsed only when asked for: a caller holds one
/// definition (or a chain of them while it follows references) at a time, never all.
pub(crate) struct Definitions {
    /// (name, schema text), sorted by name (the file is).
    lines: Vec<(&'static str, &'static str)>,
}

impl Definitions {
    /// The index of the embedded file (a few kilobytes; the schemas stay text).
    pub(crate) fn load() -> Definitions {
        let lines = DEFINITIONS.lines().filter_map(split_line).collect();
        Definitions { lines }
    }

    /// The schema of definition `name`, parsed for this call.
    pub(crate) fn get(&self, name: &str) -> Option<Value> {
        let at = self.lines.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
        serde_json::from_str(self.lines[at].1).ok()
    }

    /// Every definition in name order, each parsed as the iteration reaches it.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (String, Value)> + '_ {
        self.lines.iter().filter_map(|(name, text)| {
            let schema = serde_json::from_str(text).ok()?;
            Some(((*name).to_string(), schema))
        })
    }
}

/// `"<name>":<schema>` with an optional trailing `,` (a line of the file between the braces).
/// Definition names hold no characters JSON escapes.
fn split_line(line: &'static str) -> Option<(&'static str, &'static str)> {
    let line = line.strip_suffix(',').unwrap_or(line);
    let (name, schema) = line.strip_prefix('"')?.split_once("\":")?;
    Some((name, schema))
}

/// The text of `definitions.json`, built from the schemars impls as the documents are.
#[cfg(test)]
pub(super) fn generate() -> String {
    let mut merged = serde_json::Map::new();
    super::for_each_components(|schemas| {
        for (name, def) in schemas {
            match merged.get_mut(name) {
                None => {
                    let mut def = def.clone();
                    strip_descriptions(&mut def);
                    merged.insert(name.clone(), def);
                }
                Some(seen) => merge_gvks(seen, def),
            }
        }
    });
    let mut names: Vec<&String> = merged.keys().collect();
    names.sort();
    let mut out = String::from("{\n");
    for (i, name) in names.iter().enumerate() {
        let mut def = merged[name.as_str()].clone();
        super::sort_keys(&mut def);
        let key = Value::String((*name).clone());
        out.push_str(&format!("{key}:{def}"));
        out.push_str(if i + 1 < names.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n");
    out
}

/// Adds the `x-kubernetes-group-version-kind` entries of `other` that `seen` lacks.
#[cfg(test)]
fn merge_gvks(seen: &mut Value, other: &Value) {
    let key = "x-kubernetes-group-version-kind";
    let Some(Value::Array(more)) = other.get(key) else {
        return;
    };
    let Some(seen) = seen.as_object_mut() else {
        return;
    };
    let list = seen.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        for gvk in more {
            if !list.contains(gvk) {
                list.push(gvk.clone());
            }
        }
    }
}

/// Drops the `description` keyword of a schema and of all its subschemas (not properties
/// named `description`).
#[cfg(test)]
fn strip_descriptions(schema: &mut Value) {
    if let Some(map) = schema.as_object_mut() {
        map.remove("description");
    }
    super::schemas::for_each_subschema(schema, &mut strip_descriptions);
}
