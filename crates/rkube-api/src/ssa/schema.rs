//! The structural schema server-side apply walks objects with, compiled once from the OpenAPI
//! v3 documents of [`crate::openapi`], as upstream's `schemaconv` builds a structured-merge-diff
//! schema from the kube-apiserver's OpenAPI models.
//!
//! - An object schema is a map. Its `properties` are declared fields; `additionalProperties`
//!   gives the type of other keys (a `map[string]T`); an object with neither, or with
//!   `x-kubernetes-preserve-unknown-fields`, takes any key (deduced). `x-kubernetes-map-type:
//!   atomic` (on the definition or on the property referring to it) makes it one leaf.
//! - An array is a list: `x-kubernetes-list-type` `atomic` (the default), `set`, or `map` keyed
//!   by `x-kubernetes-list-map-keys`. Without a list type, `x-kubernetes-patch-strategy: merge`
//!   makes it associative, keyed by `x-kubernetes-patch-merge-key` (a set without one).
//! - Strings, numbers, booleans, `int-or-string`, `Quantity`, `RawExtension` and anything given
//!   as a `oneOf` are scalars (leaves).
//! - A schema without a type is deduced from the value: a map of deduced values, an atomic list,
//!   or a scalar. Kinds without a definition (custom resources) have the standard `metadata`
//!   and deduced content.
//!
//! Key fields missing from a list element take their schema `default`; the upstream Go types
//! default the `protocol` key of container and service ports to `TCP`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::Value;

use crate::openapi;

const REF_PREFIX: &str = "#/components/schemas/";

/// Definitions upstream hard-codes as untyped scalars.
const SCALAR_DEFS: &[&str] = &[
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
];

/// `+default` markers on list-map key fields of the upstream Go types (the OpenAPI documents
/// here carry no `default`): (definition, field, default).
const KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

/// A reference to a type.
#[derive(Debug)]
pub(crate) enum Ty {
    /// A named definition; `atomic` overrides its map type (`x-kubernetes-map-type` written on
    /// the referring property).
    Named { name: String, atomic: Option<bool> },
    /// A type written inline.
    Inline(Box<Atom>),
    /// No type information: deduced from the value.
    Deduced,
}

/// What a type is.
#[derive(Debug)]
pub(crate) enum Atom {
    Map(MapType),
    List(ListType),
    Scalar,
    Deduced,
}

/// A struct (declared fields) or a map (element type), or both.
#[derive(Debug, Default)]
pub(crate) struct MapType {
    pub fields: BTreeMap<String, Ty>,
    /// The type of keys that are not declared fields; `None` when there may be none.
    pub elem: Option<Ty>,
    pub atomic: bool,
    /// Schema defaults of fields (used for list-map keys only).
    pub defaults: BTreeMap<String, Value>,
}

/// A list and how its elements relate.
#[derive(Debug)]
pub(crate) struct ListType {
    pub elem: Ty,
    pub rel: ListRel,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ListRel {
    Atomic,
    /// Associative list of scalars.
    Set,
    /// Associative list of maps identified by these key fields.
    Map(Vec<String>),
}

pub(crate) static DEDUCED: Ty = Ty::Deduced;
static DEDUCED_ATOM: Atom = Atom::Deduced;
pub(crate) static DEDUCED_MAP: MapType = MapType {
    fields: BTreeMap::new(),
    elem: Some(Ty::Deduced),
    atomic: false,
    defaults: BTreeMap::new(),
};
pub(crate) static DEDUCED_LIST: ListType = ListType {
    elem: Ty::Deduced,
    rel: ListRel::Atomic,
};

pub(crate) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Every definition of every document, and the definition of each kind.
#[derive(Debug)]
pub(crate) struct Types {
    defs: HashMap<String, Atom>,
    kinds: HashMap<(String, String, String), Ty>,
    /// The type of kinds without a definition: standard `metadata`, anything else deduced.
    custom: Ty,
}

impl Default for Types {
    fn default() -> Types {
        let mut root = MapType {
            elem: Some(Ty::Deduced),
            ..MapType::default()
        };
        root.fields.insert(
            "metadata".to_string(),
            Ty::Named {
                name: OBJECT_META.to_string(),
                atomic: None,
            },
        );
        Types {
            defs: HashMap::new(),
            kinds: HashMap::new(),
            custom: Ty::Inline(Box::new(Atom::Map(root))),
        }
    }
}

/// The table, built on first use.
pub(crate) fn types() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut types = Types::default();
        types.add_definitions(&openapi::Definitions::load());
        types
    })
}

fn ext_str<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    schema.get(key).and_then(Value::as_str)
}

/// The `x-kubernetes-map-type` of a schema: `Some(true)` atomic, `Some(false)` granular.
fn map_type(schema: &Value) -> Option<bool> {
    match ext_str(schema, "x-kubernetes-map-type") {
        Some("atomic") => Some(true),
        Some("granular") => Some(false),
        _ => None,
    }
}

fn list_rel(schema: &Value) -> ListRel {
    if let Some(list_type) = ext_str(schema, "x-kubernetes-list-type") {
        return match list_type {
            "set" => ListRel::Set,
            "map" => ListRel::Map(
                schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|keys| {
                        keys.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => ListRel::Atomic,
        };
    }
    match ext_str(schema, "x-kubernetes-patch-strategy") {
        Some("merge") | Some("merge,retainKeys") => {
            match ext_str(schema, "x-kubernetes-patch-merge-key") {
                Some(key) => ListRel::Map(vec![key.to_string()]),
                None => ListRel::Set,
            }
        }
        _ => ListRel::Atomic,
    }
}

impl Types {
    fn add_definitions(&mut self, defs: &openapi::Definitions) {
        for (name, schema) in defs.iter() {
            let (name, schema) = (&name, &schema);
            if let Some(gvks) = schema
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
            {
                for gvk in gvks {
                    let part = |k: &str| gvk.get(k).and_then(Value::as_str).map(str::to_string);
                    if let (Some(g), Some(v), Some(k)) =
                        (part("group"), part("version"), part("kind"))
                    {
                        self.kinds.entry((g, v, k)).or_insert_with(|| Ty::Named {
                            name: name.clone(),
                            atomic: None,
                        });
                    }
                }
            }
            if !self.defs.contains_key(name) {
                let atom = if SCALAR_DEFS.contains(&name.as_str()) {
                    Atom::Scalar
                } else {
                    let mut atom = parse_atom(schema, false);
                    if let Atom::Map(map) = &mut atom {
                        for (def, field, default) in KEY_DEFAULTS {
                            if def == name && map.fields.contains_key(*field) {
                                map.defaults
                                    .insert((*field).to_string(), Value::from(*default));
                            }
                        }
                    }
                    atom
                };
                self.defs.insert(name.clone(), atom);
            }
        }
    }

    /// The type of a kind (standard metadata and deduced content when unknown).
    pub(crate) fn kind(&self, group: &str, version: &str, kind: &str) -> &Ty {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .unwrap_or(&self.custom)
    }

    /// What a type reference stands for, with the map-type override of the reference.
    pub(crate) fn resolve<'a>(&'a self, ty: &'a Ty) -> (&'a Atom, Option<bool>) {
        match ty {
            Ty::Named { name, atomic } => (self.defs.get(name).unwrap_or(&DEDUCED_ATOM), *atomic),
            Ty::Inline(atom) => (atom, None),
            Ty::Deduced => (&DEDUCED_ATOM, None),
        }
    }

    /// The definition name of a type reference, if it is one.
    pub(crate) fn name_of(ty: &Ty) -> Option<&str> {
        match ty {
            Ty::Named { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// The type a property (or `items`, `additionalProperties`) schema refers to.
fn parse_ref(schema: &Value, preserve_unknown: bool) -> Ty {
    let reference = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|all| all.len() == 1)
            .and_then(|all| all[0].get("$ref"))
            .and_then(Value::as_str)
    });
    if let Some(reference) = reference {
        return Ty::Named {
            name: reference
                .strip_prefix(REF_PREFIX)
                .unwrap_or(reference)
                .to_string(),
            atomic: map_type(schema),
        };
    }
    Ty::Inline(Box::new(parse_atom(schema, preserve_unknown)))
}

fn parse_atom(schema: &Value, preserve_unknown: bool) -> Atom {
    let preserve_unknown = preserve_unknown
        || schema
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if ext_str(schema, "format") == Some("int-or-string")
        || schema.get("oneOf").is_some()
        || schema.get("anyOf").is_some()
    {
        return Atom::Scalar;
    }
    let ty = ext_str(schema, "type");
    match ty {
        Some("array") => Atom::List(ListType {
            elem: schema
                .get("items")
                .map(|items| parse_ref(items, preserve_unknown))
                .unwrap_or(Ty::Deduced),
            rel: list_rel(schema),
        }),
        Some("object") => Atom::Map(parse_map(schema, preserve_unknown)),
        None if schema.get("properties").is_some() => {
            Atom::Map(parse_map(schema, preserve_unknown))
        }
        Some("string") | Some("integer") | Some("number") | Some("boolean") => Atom::Scalar,
        _ => Atom::Deduced,
    }
}

fn parse_map(schema: &Value, preserve_unknown: bool) -> MapType {
    let mut map = MapType {
        atomic: map_type(schema) == Some(true),
        ..MapType::default()
    };
    let props = schema.get("properties").and_then(Value::as_object);
    if let Some(props) = props {
        for (name, prop) in props {
            map.fields
                .insert(name.clone(), parse_ref(prop, preserve_unknown));
            if let Some(default) = prop.get("default") {
                map.defaults.insert(name.clone(), default.clone());
            }
        }
    }
    map.elem = match schema.get("additionalProperties") {
        Some(Value::Bool(true)) => Some(Ty::Deduced),
        Some(Value::Bool(false)) => None,
        Some(values @ Value::Object(_)) => Some(parse_ref(values, preserve_unknown)),
        _ if preserve_unknown || props.is_none_or(|p| p.is_empty()) => Some(Ty::Deduced),
        _ => None,
    };
    map
}
