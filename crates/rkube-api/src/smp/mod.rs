//! Strategic merge patch (`application/strategic-merge-patch+json`), applied as upstream's
//! `strategicpatch.StrategicMergeMapPatch` applies it in the API server's PATCH handler.
//!
//! - [`apply`]: the patched object, for a kind given by group, version and kind.
//! - [`supports`]: whether a kind has patch metadata. Upstream rejects strategic merge patches
//!   of custom resources with 415 Unsupported Media Type; the server does the same for kinds
//!   where this is false. [`apply`] on such a kind merges maps and replaces lists.
//! - [`field_meta`]: the patch strategy and merge key of one field.
//! - [`SmpError`]: upstream's error text, and the status upstream answers with.
//!
//! # Where merge keys come from
//!
//! From the OpenAPI v3 documents of [`crate::openapi`]: the `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key` of each property (facts read from the upstream Go struct
//! tags, `openapi/upstream_ext.tsv`), the type of each property through `$ref` / `allOf` /
//! `items` / `additionalProperties`, and `x-kubernetes-group-version-kind` for the root of each
//! kind. The table is compiled once, on first use (`schema.rs`). Examples: containers, env,
//! imagePullSecrets by `name`; container ports by `containerPort`; Service ports by `port`;
//! volumeMounts by `mountPath`; ownerReferences by `uid`; volumes by `name` with
//! `merge,retainKeys`; finalizers merge as a set of strings; Deployment `strategy` is
//! `retainKeys`; tolerations, taints and every field without a strategy are replaced whole.
//!
//! # Semantics (upstream's)
//!
//! - Objects merge key by key; `null` deletes a key. A value whose key the original lacks, or
//!   whose JSON type differs, is taken as it is (nulls inside dropped, maps carrying `$patch`
//!   dropped).
//! - A list with strategy `merge` and a merge key merges by key: patch elements are merged into
//!   the original element with the same key or added; the others are kept.
//!   `{"$patch": "delete", "<key>": v}` removes the elements with that key;
//!   `{"$patch": "replace"}` as an element makes the other patch elements the whole list;
//!   `{"$patch": "merge"}` as an element is an error.
//! - A list of primitives with strategy `merge` is a union (duplicates removed);
//!   `$deleteFromPrimitiveList/<list>: [...]` removes values (from any list).
//! - Any other list is replaced by the patch list.
//! - In an object, `$patch: replace` makes the patch object (without the directive) the result,
//!   `$patch: delete` gives an empty object, and any other value (`merge` included) is an
//!   error. A field with strategy `replace` (PodDisruptionBudget `selector`) is replaced.
//! - `$retainKeys: [...]` clears the original's keys not listed; every non-null key of the
//!   patch object must be listed.
//! - Order of a merged list, without `$setElementOrder`: patch elements in patch order, with
//!   original-only elements interleaved where the original had them before a patch element
//!   that was also in the original. So an element the original did not have comes **before**
//!   the original's remaining ones (a new container, a new finalizer), as upstream does.
//!   `$setElementOrder/<list>: [...]` (elements reduced to their merge key, or the primitive
//!   values) orders the patch elements; its entries must include the patch elements in the
//!   same relative order.
//! - The result carries no directive keys (`$patch`, `$retainKeys`, `$setElementOrder/…`,
//!   `$deleteFromPrimitiveList/…`) in typed objects, as decoding into the Go type drops them
//!   upstream; opaque values (`RawExtension`, apiextensions `JSON`) are kept as they are.
//!
//! # Deliberate differences
//!
//! - Where upstream's Go-type lookup fails (a field missing from the Go type while present as
//!   an object or list in both original and patch, or nested objects inside a map of objects
//!   such as a CRD's `openAPIV3Schema.properties`), this merges without metadata instead of
//!   answering 500.
//! - Upstream then decodes the result into the Go type, which also drops empty lists/maps of
//!   `omitempty` fields (e.g. `env: []` after the last env var is deleted) and nulls; that is
//!   left to the caller. A patch body nested deeper than [`MAX_DEPTH`] is a 400.
//!
//! # Status codes (upstream's PATCH handler)
//!
//! `interpretStrategicMergePatchError` turns the malformed-directive errors into 400
//! BadRequest (`$deleteFromPrimitiveList`, `$retainKeys`, `$setElementOrder` format) and lists
//! of lists into 422 Invalid (with a generic message); every other error (an unknown `$patch`
//! value, a merge-list element without its merge key, `$setElementOrder` not matching the
//! patch list, …) reaches the client as a 500 with reason "" and the error text as message
//! (`kubectl` prints `Error from server: <text>`). [`SmpError::code`], [`SmpError::reason`]
//! and [`SmpError::message`] give these.

mod gofmt;
mod merge;
mod schema;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use schema::{types, Schema, Ty};

/// The deepest nesting of objects and lists accepted in the original or the patch (as
/// `serde_json`'s own parser limit).
pub const MAX_DEPTH: usize = 128;

/// Why a strategic merge patch could not be applied. `Display` is upstream's error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// The patch is not a JSON object (the name is the JSON type it is).
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAnObject(&'static str),
    /// The original is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A `$deleteFromPrimitiveList` key not of the form `$deleteFromPrimitiveList/<list>`.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// `$retainKeys` not a list, or a patch key it does not list.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// A `$setElementOrder` key not of the form `$setElementOrder/<list>`.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// A list whose elements are lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// The original or the patch nests deeper than [`MAX_DEPTH`].
    #[error("the patch nests objects and lists deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Any other error (upstream returns these as plain errors: 500).
    #[error("{0}")]
    Failed(String),
}

impl SmpError {
    /// The HTTP status upstream answers with.
    pub fn code(&self) -> u16 {
        match self {
            SmpError::NotAnObject(_)
            | SmpError::BadJsonDoc
            | SmpError::BadPrimitiveList
            | SmpError::BadRetainKeys
            | SmpError::BadSetElementOrder
            | SmpError::TooDeep => 400,
            SmpError::ListOfLists => 422,
            SmpError::Failed(_) => 500,
        }
    }

    /// The `reason` of upstream's Status ("" for the 500s).
    pub fn reason(&self) -> &'static str {
        match self.code() {
            400 => "BadRequest",
            422 => "Invalid",
            _ => "",
        }
    }

    /// The `message` of upstream's Status.
    pub fn message(&self) -> String {
        match self {
            SmpError::ListOfLists => {
                "the server rejected our request due to an error in our request".to_string()
            }
            other => other.to_string(),
        }
    }
}

/// Applies a strategic merge patch to `original`, an object of `group/version, kind` (core
/// group `""`). A `null` patch changes nothing. See the module docs for the semantics.
pub fn apply(
    group: &str,
    version: &str,
    kind: &str,
    original: &Value,
    patch: &Value,
) -> Result<Value, SmpError> {
    let patch = match patch {
        Value::Object(map) => map.clone(),
        Value::Null => Map::new(),
        Value::Array(_) => return Err(SmpError::NotAnObject("array")),
        Value::String(_) => return Err(SmpError::NotAnObject("string")),
        Value::Number(_) => return Err(SmpError::NotAnObject("number")),
        Value::Bool(_) => return Err(SmpError::NotAnObject("bool")),
    };
    let Value::Object(original) = original else {
        return Err(SmpError::BadJsonDoc);
    };
    if too_deep(&patch) || too_deep(original) {
        return Err(SmpError::TooDeep);
    }
    let table = types();
    let root = Schema::new(table, table.kind(group, version, kind));
    let merged = merge::merge_map(original.clone(), patch, root)?;
    let mut out = Value::Object(merged);
    merge::strip_directives(&mut out, root);
    Ok(out)
}

/// Whether `group/version, kind` has patch metadata (a built-in kind with a schema).
pub fn supports(group: &str, version: &str, kind: &str) -> bool {
    types().kind(group, version, kind).is_some()
}

/// The patch metadata of one field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldMeta {
    /// `x-kubernetes-patch-strategy`: "", "merge", "replace", "retainKeys" or
    /// "merge,retainKeys".
    pub strategy: String,
    /// `x-kubernetes-patch-merge-key`, or "".
    pub merge_key: String,
}

/// The patch metadata of the field at `path` (property names; lists and maps are stepped
/// through, so `["spec", "template", "spec", "containers", "env"]` names the env of each
/// container), or `None` for an unknown kind or field.
pub fn field_meta(group: &str, version: &str, kind: &str, path: &[&str]) -> Option<FieldMeta> {
    let table = types();
    let mut schema = Schema::new(table, Some(table.kind(group, version, kind)?));
    let mut meta = None;
    for segment in path {
        // Step through lists and maps to the struct holding the field.
        while let Some(Ty::List(inner) | Ty::Map(inner)) = schema.ty() {
            schema = schema.with(Some(inner));
        }
        let field = schema.fields()?.get(*segment)?;
        meta = Some(FieldMeta {
            strategy: field.strategies.join(","),
            merge_key: field.merge_key.clone(),
        });
        schema = schema.with(Some(&field.ty));
    }
    meta
}

/// Whether an object nests objects/lists more than [`MAX_DEPTH`] levels deep (the object
/// itself being the first; checked without recursion).
fn too_deep(object: &Map<String, Value>) -> bool {
    let mut stack: Vec<(&Value, usize)> = object.values().map(|v| (v, 2)).collect();
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(map) => Box::new(map.values()),
            Value::Array(list) => Box::new(list.iter()),
            _ => continue,
        };
        if depth > MAX_DEPTH {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}
