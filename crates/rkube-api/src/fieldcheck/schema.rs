//! Field shapes compiled from the OpenAPI v3 definitions of [`crate::openapi`], and the walker
//! that reports unknown and duplicate fields against them.
//!
//! A shape only says which keys an object may hold and how to descend; types of scalar values
//! are [`crate::typed`]'s business. The walker follows upstream's strict JSON decoder
//! (`sigs.k8s.io/json` with unknown and duplicate fields disallowed, case-sensitive):
//! - a struct reports a key it has no field for as unknown, and does not look inside its
//!   value; a known field seen twice is a duplicate;
//! - a map (`additionalProperties`) accepts every key, reports a key seen twice, and checks
//!   each value against the element shape;
//! - an untyped value (`interface{}`) accepts every key and reports duplicates at any depth;
//! - an opaque value (types with their own unmarshaler: IntOrString, Quantity, RawExtension,
//!   FieldsV1, apiextensions JSON and the `JSONSchemaPropsOr…` unions) is not looked into;
//! - each problem is reported once per path, in the order it is met, at most [`MAX_ERRORS`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use crate::openapi;

/// Upstream's decoder stops accumulating strict errors at 100.
pub(super) const MAX_ERRORS: usize = 100;

/// How deep a raw body is walked; deeper parts are not checked (serde_json refuses bodies
/// nested deeper than 128 levels anyway).
pub(super) const MAX_DEPTH: usize = 512;

/// What a value at some place of an object may be.
#[derive(Debug)]
pub(super) enum Shape {
    /// Not looked into.
    Opaque,
    /// Anything; duplicate keys reported at any depth.
    Untyped,
    /// An object with these fields.
    Struct(HashMap<String, usize>),
    /// An object with any keys, each value of the element shape.
    Map(usize),
    /// A list, each item of the element shape.
    List(usize),
}

/// Index of the shared [`Shape::Opaque`].
pub(super) const OPAQUE: usize = 0;
/// Index of the shared [`Shape::Untyped`].
pub(super) const UNTYPED: usize = 1;

/// Every compiled shape, and the shape of each group-version-kind.
pub(super) struct Shapes {
    pub(super) shapes: Vec<Shape>,
    kinds: HashMap<(String, String, String), usize>,
}

impl Shapes {
    /// The shape of `group/version, kind`, if its schema is known.
    pub(super) fn kind(&self, group: &str, version: &str, kind: &str) -> Option<usize> {
        self.kinds
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .copied()
    }
}

/// The shapes of every kind of every served group-version, compiled on first use.
pub(super) fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(build)
}

/// The shape of a JSON patch (a list of operations with `op`, `path`, `from`, `value`), as
/// upstream decodes it to find unknown and duplicate fields in the operations.
pub(super) fn json_patch_shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let op: HashMap<String, usize> = [
            ("op", OPAQUE),
            ("path", OPAQUE),
            ("from", OPAQUE),
            ("value", UNTYPED),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        vec![
            Shape::Opaque,
            Shape::Untyped,
            Shape::Struct(op),
            Shape::List(2),
        ]
    })
}

/// Index of the whole patch in [`json_patch_shapes`] (which also holds [`OPAQUE`] and
/// [`UNTYPED`], so it serves for walks without a schema).
pub(super) const JSON_PATCH: usize = 3;

fn build() -> Shapes {
    let defs = openapi::Definitions::load();
    let mut compiler = Compiler {
        defs: &defs,
        memo: HashMap::new(),
        shapes: vec![Shape::Opaque, Shape::Untyped],
    };
    let mut kinds = HashMap::new();
    for (name, def) in defs.iter() {
        let gvks = def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for gvk in gvks {
            let field = |f: &str| gvk.get(f).and_then(Value::as_str).unwrap_or_default();
            let key = (
                field("group").to_string(),
                field("version").to_string(),
                field("kind").to_string(),
            );
            kinds
                .entry(key)
                .or_insert_with(|| compiler.definition(&name));
        }
    }
    let mut shapes = compiler.shapes;
    shapes.shrink_to_fit();
    Shapes { shapes, kinds }
}

/// Go structs without fields: their schema (`{"type": "object"}`) looks like that of the
/// opaque types (RawExtension, FieldsV1, JSON, Patch), but every key in them is unknown.
const EMPTY_STRUCTS: &[&str] =
    &["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceSubresourceStatus"];

struct Compiler<'d> {
    defs: &'d openapi::Definitions,
    memo: HashMap<String, usize>,
    shapes: Vec<Shape>,
}

impl Compiler<'_> {
    fn push(&mut self, shape: Shape) -> usize {
        self.shapes.push(shape);
        self.shapes.len() - 1
    }

    /// The shape of a named definition (compiled once; recursive definitions refer to
    /// themselves by index).
    fn definition(&mut self, name: &str) -> usize {
        if let Some(&index) = self.memo.get(name) {
            return index;
        }
        let index = self.push(Shape::Opaque);
        self.memo.insert(name.to_string(), index);
        if EMPTY_STRUCTS.contains(&name) {
            self.shapes[index] = Shape::Struct(HashMap::new());
            return index;
        }
        if let Some(def) = self.defs.get(name) {
            let shape = match reference(&def) {
                // A definition that only names another one: share its shape.
                Some(target) => {
                    let target = self.definition(target);
                    self.memo.insert(name.to_string(), target);
                    return target;
                }
                None => self.shape(&def),
            };
            self.shapes[index] = shape;
        }
        index
    }

    /// The shape of a schema appearing inline (a property, items, additionalProperties).
    fn node(&mut self, schema: &Value) -> usize {
        if let Some(name) = reference(schema) {
            return self.definition(name);
        }
        let shape = self.shape(schema);
        match shape {
            Shape::Opaque => OPAQUE,
            shape => self.push(shape),
        }
    }

    fn shape(&mut self, schema: &Value) -> Shape {
        let Some(map) = schema.as_object() else {
            return Shape::Opaque;
        };
        if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || map.contains_key("oneOf")
            || map.contains_key("anyOf")
        {
            return Shape::Opaque;
        }
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            let fields = props
                .iter()
                .map(|(k, v)| (k.clone(), self.node(v)))
                .collect();
            return Shape::Struct(fields);
        }
        if map.get("type").and_then(Value::as_str) == Some("array") {
            let items = map.get("items").map_or(OPAQUE, |i| self.node(i));
            return Shape::List(items);
        }
        match map.get("additionalProperties") {
            Some(ap @ Value::Object(_)) => Shape::Map(self.node(ap)),
            Some(Value::Bool(true)) => Shape::Map(OPAQUE),
            _ => Shape::Opaque,
        }
    }
}

/// The definition a schema stands for: `{"$ref": …}`, or `{"allOf": [{"$ref": …}], …}` as
/// upstream wraps a reference that has a description.
fn reference(schema: &Value) -> Option<&str> {
    let target = match schema.get("allOf").and_then(Value::as_array) {
        Some(all) if all.len() == 1 && schema.get("properties").is_none() => &all[0],
        _ => schema,
    };
    target
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

/// A JSON document as the decoder sees it: objects keep every key, duplicates included, in
/// document order.
#[derive(Debug)]
pub(super) enum Tree<'a> {
    Object(Vec<(Cow<'a, str>, Tree<'a>)>),
    Array(Vec<Tree<'a>>),
    Scalar,
}

impl<'a> Tree<'a> {
    pub(super) fn from_value(value: &'a Value) -> Self {
        Self::from_value_at(value, 0)
    }

    fn from_value_at(value: &'a Value, depth: usize) -> Self {
        if depth >= MAX_DEPTH {
            return Tree::Scalar;
        }
        match value {
            Value::Object(map) => Tree::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Self::from_value_at(v, depth + 1)))
                    .collect(),
            ),
            Value::Array(items) => Tree::Array(
                items
                    .iter()
                    .map(|v| Self::from_value_at(v, depth + 1))
                    .collect(),
            ),
            _ => Tree::Scalar,
        }
    }
}

/// One strict decoding problem.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Problem {
    Unknown(String),
    Duplicate(String),
}

/// Walks trees against shapes, collecting problems.
pub(super) struct Walker<'s> {
    shapes: &'s [Shape],
    /// Visit object keys in byte order (as after a round trip through a Go map) rather than
    /// in document order.
    sorted: bool,
    limit: usize,
    seen: HashSet<Problem>,
    pub(super) problems: Vec<Problem>,
}

impl<'s> Walker<'s> {
    pub(super) fn new(shapes: &'s [Shape], sorted: bool, limit: usize) -> Self {
        Walker {
            shapes,
            sorted,
            limit,
            seen: HashSet::new(),
            problems: Vec::new(),
        }
    }

    fn report(&mut self, problem: Problem) {
        if self.problems.len() < self.limit && self.seen.insert(problem.clone()) {
            self.problems.push(problem);
        }
    }

    /// Walks `tree` against shape `index`; `path` is where `tree` sits ("" at the top).
    pub(super) fn walk(&mut self, index: usize, tree: &Tree<'_>, path: &mut String) {
        let shapes = self.shapes;
        let Some(shape) = shapes.get(index) else {
            return;
        };
        match (shape, tree) {
            (Shape::Struct(fields), Tree::Object(entries)) => {
                let mut seen: HashSet<&str> = HashSet::new();
                for (key, value) in self.ordered(entries) {
                    let len = path.len();
                    push_key(path, key);
                    match fields.get(key) {
                        Some(&child) => {
                            if !seen.insert(key) {
                                self.report(Problem::Duplicate(path.clone()));
                            }
                            self.walk(child, value, path);
                        }
                        None => self.report(Problem::Unknown(path.clone())),
                    }
                    path.truncate(len);
                }
            }
            (Shape::Map(child), Tree::Object(entries)) => {
                self.walk_entries(entries, Some(*child), path)
            }
            (Shape::Untyped, Tree::Object(entries)) => self.walk_entries(entries, None, path),
            (Shape::List(child), Tree::Array(items)) => self.walk_items(items, *child, path),
            (Shape::Untyped, Tree::Array(items)) => self.walk_items(items, UNTYPED, path),
            _ => {}
        }
    }

    /// Map or untyped object: every key allowed, duplicates reported.
    fn walk_entries(
        &mut self,
        entries: &[(Cow<'_, str>, Tree<'_>)],
        child: Option<usize>,
        path: &mut String,
    ) {
        let mut seen: HashSet<&str> = HashSet::new();
        for (key, value) in self.ordered(entries) {
            let len = path.len();
            push_key(path, key);
            if !seen.insert(key) {
                self.report(Problem::Duplicate(path.clone()));
            }
            self.walk(child.unwrap_or(UNTYPED), value, path);
            path.truncate(len);
        }
    }

    fn walk_items(&mut self, items: &[Tree<'_>], child: usize, path: &mut String) {
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push('[');
            path.push_str(&i.to_string());
            path.push(']');
            self.walk(child, item, path);
            path.truncate(len);
        }
    }

    fn ordered<'t, 'k>(
        &self,
        entries: &'t [(Cow<'k, str>, Tree<'k>)],
    ) -> Vec<(&'t str, &'t Tree<'k>)> {
        let mut out: Vec<(&str, &Tree<'k>)> =
            entries.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        if self.sorted {
            out.sort_by(|a, b| a.0.cmp(b.0));
        }
        out
    }
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}
