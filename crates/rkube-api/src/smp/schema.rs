//! The patch metadata of every built-in kind, compiled once from the OpenAPI v3 documents of
//! [`crate::openapi`].
//!
//! Each component schema (`io.k8s.api.core.v1.PodSpec`, …) becomes a [`Def`]: its properties,
//! each with a [`Ty`] (a reference to another definition, a list, a map or a scalar) and the
//! `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key` written on the property.
//! Definitions carrying `x-kubernetes-group-version-kind` are the roots of the kinds.
//!
//! Definition names are global (the same name means the same schema in every document), so
//! the definitions of all documents share one table; a kind is looked up wherever its
//! definition is tagged (the autoscaling/v1 `Scale` lives in the apps/v1 document).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::openapi;

const REF_PREFIX: &str = "#/components/schemas/";

/// The type of a field, as far as patching needs it.
#[derive(Debug)]
pub(crate) enum Ty {
    /// A named definition. One without properties (`Time`, `Quantity`, `RawExtension`, the
    /// apiextensions `JSON`) is opaque: its content is not looked into.
    Struct(String),
    /// A list of the element type.
    List(Box<Ty>),
    /// A map (`additionalProperties`) with the value type.
    Map(Box<Ty>),
    /// A string, integer, number or boolean, with its Go kind name.
    Scalar(&'static str),
    /// Anything (no type information).
    Any,
}

/// One property of a definition.
#[derive(Debug)]
pub(crate) struct Field {
    pub ty: Ty,
    /// `x-kubernetes-patch-strategy` split on `,` (empty when absent).
    pub strategies: Vec<String>,
    /// `x-kubernetes-patch-merge-key` ("" when absent).
    pub merge_key: String,
}

/// One definition: its properties (empty for opaque definitions).
#[derive(Debug, Default)]
pub(crate) struct Def {
    pub fields: HashMap<String, Field>,
}

/// Every definition of every document, and the definition of each kind.
#[derive(Debug, Default)]
pub(crate) struct Types {
    defs: HashMap<String, Def>,
    /// (group, version, kind) → `Ty::Struct` of its definition.
    kinds: HashMap<(String, String, String), Ty>,
}

/// The table, built on first use from the definitions of every document.
pub(crate) fn types() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut types = Types::default();
        types.add_definitions(&openapi::Definitions::load());
        types
    })
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
                        self.kinds
                            .entry((g, v, k))
                            .or_insert_with(|| Ty::Struct(name.clone()));
                    }
                }
            }
            if !self.defs.contains_key(name) {
                self.add_definition(name, schema);
            }
        }
    }

    /// Compiles one definition (and, under synthetic names, the inline objects it contains).
    fn add_definition(&mut self, name: &str, schema: &Value) {
        let mut def = Def::default();
        // Insert a placeholder first so that inline objects cannot recurse forever.
        self.defs.insert(name.to_string(), Def::default());
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (prop, prop_schema) in props {
                let ty = self.compile(&format!("{name}.{prop}"), prop_schema);
                let strategies = prop_schema
                    .get("x-kubernetes-patch-strategy")
                    .and_then(Value::as_str)
                    .map(|s| s.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                let merge_key = prop_schema
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                def.fields.insert(
                    prop.clone(),
                    Field {
                        ty,
                        strategies,
                        merge_key,
                    },
                );
            }
        }
        self.defs.insert(name.to_string(), def);
    }

    /// The type a schema describes; `name` names it if it is an inline object.
    fn compile(&mut self, name: &str, schema: &Value) -> Ty {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return Ty::Struct(
                reference
                    .strip_prefix(REF_PREFIX)
                    .unwrap_or(reference)
                    .to_string(),
            );
        }
        // As upstream's OpenAPI lookup: the first `allOf` entry stands for the schema.
        if let Some(first) = schema.get("allOf").and_then(|a| a.get(0)) {
            return self.compile(name, first);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => match schema.get("items") {
                Some(items) => Ty::List(Box::new(self.compile(&format!("{name}[]"), items))),
                None => Ty::List(Box::new(Ty::Any)),
            },
            Some("object") => {
                if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                    Ty::Map(Box::new(self.compile(&format!("{name}{{}}"), values)))
                } else if schema.get("properties").is_some() {
                    let synthetic = format!("{name}#inline");
                    if !self.defs.contains_key(&synthetic) {
                        self.add_definition(&synthetic, schema);
                    }
                    Ty::Struct(synthetic)
                } else {
                    Ty::Any
                }
            }
            Some("string") => Ty::Scalar("string"),
            Some("boolean") => Ty::Scalar("bool"),
            Some("number") => Ty::Scalar("float64"),
            Some("integer") => match schema.get("format").and_then(Value::as_str) {
                Some("int32") => Ty::Scalar("int32"),
                _ => Ty::Scalar("int64"),
            },
            _ => Ty::Any,
        }
    }

    /// The type (a `Ty::Struct`) of a kind.
    pub(crate) fn kind(&self, group: &str, version: &str, kind: &str) -> Option<&Ty> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
    }

    pub(crate) fn def(&self, name: &str) -> Option<&Def> {
        self.defs.get(name)
    }
}

/// The patch strategies and merge key of one field (empty when the field has none or is
/// unknown).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PatchMeta<'a> {
    pub strategies: &'a [String],
    pub merge_key: &'a str,
}

/// Where the merge stands in the type tree: a type, or nothing known (unknown kinds, unknown
/// fields, opaque values). Without type information maps merge and lists are replaced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema<'a> {
    types: &'a Types,
    ty: Option<&'a Ty>,
}

impl<'a> Schema<'a> {
    pub(crate) fn new(types: &'a Types, ty: Option<&'a Ty>) -> Self {
        Schema { types, ty }
    }

    pub(crate) fn ty(&self) -> Option<&'a Ty> {
        self.ty
    }

    /// The same table, at another type.
    pub(crate) fn with(&self, ty: Option<&'a Ty>) -> Self {
        Schema {
            types: self.types,
            ty,
        }
    }

    /// The properties of the struct this schema is, if it is a (non-opaque) struct.
    pub(crate) fn fields(&self) -> Option<&'a HashMap<String, Field>> {
        match self.ty {
            Some(Ty::Struct(name)) => self
                .types
                .def(name)
                .map(|d| &d.fields)
                .filter(|f| !f.is_empty()),
            _ => None,
        }
    }

    /// The schema and patch metadata of the value under `key` of this object.
    ///
    /// Upstream fails where the Go type has no such field or is not a struct (a map of
    /// objects, a `RawExtension`); here such values are merged without metadata.
    pub(crate) fn lookup_struct(&self, key: &str) -> (Schema<'a>, PatchMeta<'a>) {
        match self.ty {
            Some(Ty::Struct(_)) => match self.fields().and_then(|f| f.get(key)) {
                Some(field) => (
                    self.with(Some(&field.ty)),
                    PatchMeta {
                        strategies: &field.strategies,
                        merge_key: &field.merge_key,
                    },
                ),
                None => (self.with(None), PatchMeta::default()),
            },
            Some(Ty::Map(values)) => (self.with(Some(values)), PatchMeta::default()),
            _ => (self.with(None), PatchMeta::default()),
        }
    }

    /// The schema of the elements of the list under `key`, and the list's patch metadata.
    pub(crate) fn lookup_slice(&self, key: &str) -> (Schema<'a>, PatchMeta<'a>) {
        let (field, meta) = self.lookup_struct(key);
        match field.ty {
            Some(Ty::List(elem)) => (self.with(Some(elem)), meta),
            _ => (self.with(None), meta),
        }
    }

    /// The Go kind name of this (element) type, for upstream's error messages.
    pub(crate) fn name(&self) -> &'static str {
        match self.ty {
            Some(Ty::Struct(_)) | None => "struct",
            Some(Ty::List(_)) => "slice",
            Some(Ty::Map(_)) => "map",
            Some(Ty::Scalar(kind)) => kind,
            Some(Ty::Any) => "interface",
        }
    }
}
