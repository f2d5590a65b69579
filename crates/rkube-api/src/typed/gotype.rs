//! Go-style type errors: an object is walked against its kind's OpenAPI v3 schema and the
//! first value of the wrong JSON type is described as upstream's JSON decoder
//! (`sigs.k8s.io/json`, a fork of `encoding/json`) describes it:
//! `json: cannot unmarshal <what> into Go struct field <Struct>.<path> of type <Go type>`.
//!
//! - `<what>` is the JSON kind (`string`, `number`, `bool`, `array`, `object`); a number that
//!   does not fit an integer field carries its literal (`number 1.5`);
//! - `<Struct>` is the name of the innermost Go struct holding the field, `<path>` the JSON
//!   field names from the object root joined by dots (list indices and map keys left out);
//! - `<Go type>` is the type of the value being set (pointers dereferenced): `int32`,
//!   `[]v1.Container`, `map[string]string`, `v1.PodSpec`, ….
//!
//! As in the decoder, a mismatch is remembered and decoding goes on, so the first one in
//! document order is reported, except that an error raised by a type's own unmarshaler
//! (IntOrString, Time) stops decoding at once and wins. Null is accepted everywhere.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::openapi;

#[derive(Debug)]
enum Kind {
    /// Anything (untyped, preserved unknown fields, types with lenient unmarshalers).
    Any,
    Str,
    /// `[]byte`: a base64 string.
    Bytes,
    Bool,
    Int(u8),
    Float,
    /// A string, or an int32.
    IntOrString,
    /// A string or a number; other kinds are not type errors upstream (left to the fallback).
    Quantity,
    /// A Go struct: its name and fields.
    Struct(String, HashMap<String, usize>),
    List(usize),
    Map(usize),
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    /// The Go type as it appears in an enclosing type (`v1.Container` in `[]v1.Container`).
    go: String,
    /// The Go type a mismatch at this node reports (differs for types whose unmarshaler
    /// decodes into a primitive: Time reports `string`, IntOrString `int32`).
    err_go: String,
    /// Mismatches come from the type's own unmarshaler and stop decoding.
    fatal: bool,
}

struct Nodes {
    nodes: Vec<Node>,
    kinds: HashMap<(String, String, String), usize>,
}

const ANY: usize = 0;

fn nodes() -> &'static Nodes {
    static NODES: OnceLock<Nodes> = OnceLock::new();
    NODES.get_or_init(build)
}

fn build() -> Nodes {
    let defs = openapi::Definitions::load();
    let mut c = Compiler {
        defs: &defs,
        memo: HashMap::new(),
        nodes: vec![Node {
            kind: Kind::Any,
            go: "interface {}".into(),
            err_go: "interface {}".into(),
            fatal: false,
        }],
    };
    let mut kinds = HashMap::new();
    for (name, def) in defs.iter() {
        for gvk in def
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let f = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or_default();
            let key = (
                f("group").to_string(),
                f("version").to_string(),
                f("kind").to_string(),
            );
            kinds.entry(key).or_insert_with(|| c.definition(&name));
        }
    }
    let mut nodes = c.nodes;
    nodes.shrink_to_fit();
    Nodes { nodes, kinds }
}

/// The definition a schema names: `{"$ref"}` or `{"allOf": [{"$ref"}]}`.
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

/// `io.k8s.api.core.v1.Container` → (`v1`, `Container`).
fn go_name(def: &str) -> (&str, &str) {
    let mut parts = def.rsplit('.');
    let name = parts.next().unwrap_or(def);
    let pkg = parts.next().unwrap_or_default();
    (pkg, name)
}

struct Compiler<'d> {
    defs: &'d openapi::Definitions,
    memo: HashMap<String, usize>,
    nodes: Vec<Node>,
}

impl Compiler<'_> {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn definition(&mut self, name: &str) -> usize {
        if let Some(&i) = self.memo.get(name) {
            return i;
        }
        let (pkg, short) = go_name(name);
        let go = format!("{pkg}.{short}");
        // Reserve the index first: definitions may be recursive.
        let index = self.push(Node {
            kind: Kind::Any,
            go: go.clone(),
            err_go: go.clone(),
            fatal: false,
        });
        self.memo.insert(name.to_string(), index);
        let Some(def) = self.defs.get(name) else {
            return index;
        };
        let def = &def;
        if let Some(target) = reference(def) {
            let target = self.definition(target);
            self.memo.insert(name.to_string(), target);
            return target;
        }
        let format = def.get("format").and_then(Value::as_str);
        if name.ends_with(".intstr.IntOrString") || format == Some("int-or-string") {
            self.nodes[index] = Node {
                kind: Kind::IntOrString,
                go,
                err_go: "int32".into(),
                fatal: true,
            };
            return index;
        }
        if name.ends_with(".resource.Quantity") {
            self.nodes[index].kind = Kind::Quantity;
            return index;
        }
        let mut node = self.node(def, name);
        if let Kind::Struct(..) | Kind::List(_) | Kind::Map(_) = node.kind {
            // A named Go type.
            node.go = go.clone();
            node.err_go = go;
        } else {
            // A named type decoding a primitive with its own unmarshaler (Time, MicroTime,
            // Duration): the error names the primitive.
            node.fatal = !matches!(node.kind, Kind::Any);
            node.go = go;
        }
        self.nodes[index] = node;
        index
    }

    /// The index of an inline schema (property, items, additionalProperties).
    fn inline(&mut self, schema: &Value, owner: &str) -> usize {
        if let Some(name) = reference(schema) {
            return self.definition(name);
        }
        let node = self.node(schema, owner);
        if let Kind::Any = node.kind {
            return ANY;
        }
        self.push(node)
    }

    /// Compile a schema; `owner` is the definition it appears in (for named map types).
    fn node(&mut self, schema: &Value, owner: &str) -> Node {
        let prim = |kind: Kind, go: &str| Node {
            kind,
            go: go.to_string(),
            err_go: go.to_string(),
            fatal: false,
        };
        let Some(map) = schema.as_object() else {
            return prim(Kind::Any, "interface {}");
        };
        if map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
            || map.contains_key("oneOf")
            || map.contains_key("anyOf")
        {
            return prim(Kind::Any, "interface {}");
        }
        let format = map
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            let (_, short) = go_name(owner);
            let fields = props
                .iter()
                .map(|(k, v)| (k.clone(), self.inline(v, owner)))
                .collect();
            return prim(Kind::Struct(short.to_string(), fields), "");
        }
        match map.get("type").and_then(Value::as_str) {
            Some("string") if format == "byte" => prim(Kind::Bytes, "[]uint8"),
            Some("string") => prim(Kind::Str, "string"),
            Some("boolean") => prim(Kind::Bool, "bool"),
            Some("integer") if format == "int32" => prim(Kind::Int(32), "int32"),
            Some("integer") => prim(Kind::Int(64), "int64"),
            Some("number") if format == "float" => prim(Kind::Float, "float32"),
            Some("number") => prim(Kind::Float, "float64"),
            Some("array") => {
                let item = map.get("items").map_or(ANY, |i| self.inline(i, owner));
                prim(Kind::List(item), &format!("[]{}", self.nodes[item].go))
            }
            _ => match map.get("additionalProperties") {
                Some(ap @ Value::Object(_)) => {
                    let value = self.inline(ap, owner);
                    let go = match self.nodes[value].kind {
                        Kind::Quantity if owner.starts_with("io.k8s.api.core.v1.") => {
                            "v1.ResourceList".to_string()
                        }
                        _ => format!("map[string]{}", self.nodes[value].go),
                    };
                    prim(Kind::Map(value), &go)
                }
                _ => prim(Kind::Any, "interface {}"),
            },
        }
    }
}

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

/// Whether `v` is a number the decoder can store in a signed integer of `bits` bits.
fn fits(v: &Value, bits: u8) -> bool {
    match v.as_i64() {
        Some(n) if bits == 32 => i32::try_from(n).is_ok(),
        Some(_) => true,
        None => false,
    }
}

struct Walk<'n> {
    nodes: &'n [Node],
    path: Vec<&'n str>,
    saved: Option<String>,
}

impl<'n> Walk<'n> {
    fn message(&self, what: String, strukt: &str, go: &str) -> String {
        if strukt.is_empty() && self.path.is_empty() {
            return format!("json: cannot unmarshal {what} into Go value of type {go}");
        }
        format!(
            "json: cannot unmarshal {what} into Go struct field {strukt}.{} of type {go}",
            self.path.join(".")
        )
    }

    /// Walks `v` against node `index`; `strukt` is the innermost enclosing struct's name.
    /// `Err` is a fatal error that ends the walk.
    fn walk(&mut self, index: usize, v: &'n Value, strukt: &str) -> Result<(), String> {
        let node = &self.nodes[index];
        let bad = match (&node.kind, v) {
            (_, Value::Null) | (Kind::Any, _) => None,
            (Kind::Str, Value::String(_)) | (Kind::Bytes, Value::String(_)) => None,
            (Kind::Bool, Value::Bool(_)) | (Kind::Float, Value::Number(_)) => None,
            (Kind::Int(bits), Value::Number(n)) => (!fits(v, *bits)).then(|| format!("number {n}")),
            (Kind::IntOrString, Value::String(_)) => None,
            (Kind::IntOrString, Value::Number(n)) => (!fits(v, 32)).then(|| format!("number {n}")),
            (Kind::Quantity, _) => None,
            (Kind::Struct(name, fields), Value::Object(m)) => {
                for (k, x) in m {
                    if let Some((key, &child)) = fields.get_key_value(k.as_str()) {
                        self.path.push(key.as_str());
                        let r = self.walk(child, x, name);
                        self.path.pop();
                        r?;
                    }
                }
                None
            }
            (Kind::List(item), Value::Array(items)) => {
                for x in items {
                    self.walk(*item, x, strukt)?;
                }
                None
            }
            (Kind::Map(value), Value::Object(m)) => {
                for x in m.values() {
                    self.walk(*value, x, strukt)?;
                }
                None
            }
            _ => Some(json_kind(v).to_string()),
        };
        if let Some(what) = bad {
            let msg = self.message(what, strukt, &node.err_go);
            if node.fatal {
                return Err(msg);
            }
            self.saved.get_or_insert(msg);
        }
        Ok(())
    }
}

/// The Go decoder's type error for `obj` as `group/version, kind`, if its schema is known and
/// some field has the wrong JSON type.
pub fn go_type_error(group: &str, version: &str, kind: &str, obj: &Value) -> Option<String> {
    let nodes = nodes();
    let index = *nodes
        .kinds
        .get(&(group.to_string(), version.to_string(), kind.to_string()))?;
    let mut walk = Walk {
        nodes: &nodes.nodes,
        path: Vec::new(),
        saved: None,
    };
    match walk.walk(index, obj, "") {
        Err(fatal) => Some(fatal),
        Ok(()) => walk.saved,
    }
}
