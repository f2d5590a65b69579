//! The whole-cluster OpenAPI v2 (Swagger 2.0) document in the protobuf form a kube-apiserver
//! serves at `GET /openapi/v2` for
//! `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`: the gnostic
//! `openapi.v2.Document` message (github.com/google/gnostic-models, `openapiv2/OpenAPIv2.proto`),
//! which kubectl decodes as its fallback when `/openapi/v3` is missing.
//!
//! Built from the v3 documents ([`super::v3_document`]) of every group-version: first converted
//! to a Swagger 2.0 JSON document (as upstream's spec is JSON before the apiserver converts it to
//! gnostic), then encoded with the small protobuf writer below.
//! - `definitions` = the merged `components.schemas`, `$ref`s rewritten to `#/definitions/`,
//!   `allOf: [{$ref}]` wrappers back to plain `$ref`s, `oneOf` shapes (IntOrString, Quantity)
//!   to `type: string` as upstream's v2 has them, `nullable` dropped.
//! - `paths`: operations with their query and path parameters, a `body` parameter for a request
//!   body, `consumes`/`produces`, responses with schemas and the `x-kubernetes-*` extensions.
//! - Vendor extensions are gnostic `NamedAny`s whose `Any.yaml` holds the value as YAML text,
//!   as gnostic's compiler writes them (kubectl parses that text).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use super::{v3_document, v3_paths, INFO_VERSION};

/// The encoded `openapi.v2.Document`, built on first use and kept; `None` if there are no
/// v3 documents to build it from.
pub fn v2_protobuf() -> Option<Arc<Vec<u8>>> {
    static CACHE: OnceLock<Option<Arc<Vec<u8>>>> = OnceLock::new();
    CACHE
        .get_or_init(|| v2_document().map(|doc| Arc::new(encode_document(&doc))))
        .clone()
}

// ---------------------------------------------------------------------------------------------
// v3 → Swagger 2.0 JSON

const V3_PREFIX: &str = "#/components/schemas/";
const V2_PREFIX: &str = "#/definitions/";

/// The merged Swagger 2.0 document, as JSON.
fn v2_document() -> Option<Value> {
    let mut definitions: BTreeMap<String, Value> = BTreeMap::new();
    let mut paths: BTreeMap<String, Value> = BTreeMap::new();
    for gv in v3_paths() {
        let Some(doc) = v3_document(&gv) else {
            continue;
        };
        if let Some(schemas) = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                definitions
                    .entry(name.clone())
                    .or_insert_with(|| convert_schema(schema));
            }
        }
        if let Some(items) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in items {
                paths
                    .entry(path.clone())
                    .or_insert_with(|| convert_path_item(item));
            }
        }
    }
    if definitions.is_empty() {
        return None;
    }
    Some(json!({
        "definitions": definitions,
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": paths,
        "swagger": "2.0",
    }))
}

fn convert_ref(reference: &str) -> String {
    match reference.strip_prefix(V3_PREFIX) {
        Some(name) => format!("{V2_PREFIX}{name}"),
        None => reference.to_string(),
    }
}

/// A v3 schema in v2 form.
fn convert_schema(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    // `allOf: [{$ref}]` (a reference with siblings, v3 style) → `$ref` with the siblings.
    let wrapped_ref = match obj.get("allOf").and_then(Value::as_array) {
        Some(list) if list.len() == 1 && !obj.contains_key("$ref") => {
            list[0].get("$ref").and_then(Value::as_str)
        }
        _ => None,
    };
    for (key, value) in obj {
        match key.as_str() {
            "$ref" => {
                let r = value.as_str().map(convert_ref).unwrap_or_default();
                out.insert(key.clone(), Value::String(r));
            }
            "allOf" if wrapped_ref.is_some() => {}
            "allOf" => {
                let all = list(Some(value)).iter().map(convert_schema).collect();
                out.insert(key.clone(), Value::Array(all));
            }
            "properties" => {
                let mut props = Map::new();
                for (name, prop) in value.as_object().into_iter().flatten() {
                    props.insert(name.clone(), convert_schema(prop));
                }
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" if value.is_object() => {
                out.insert(key.clone(), convert_schema(value));
            }
            // No v2 counterpart.
            "oneOf" | "anyOf" | "not" | "nullable" | "writeOnly" | "deprecated" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(r) = wrapped_ref {
        out.insert("$ref".into(), Value::String(convert_ref(r)));
    }
    // IntOrString and Quantity: v3 `oneOf` of two JSON types; v2 `type: string`.
    if !out.contains_key("type")
        && !out.contains_key("$ref")
        && (obj.contains_key("oneOf") || obj.contains_key("anyOf"))
    {
        out.insert("type".into(), json!("string"));
    }
    Value::Object(out)
}

fn convert_path_item(item: &Value) -> Value {
    let mut out = Map::new();
    for (key, value) in item.as_object().into_iter().flatten() {
        if METHODS.contains(&key.as_str()) {
            out.insert(key.clone(), convert_operation(value));
        } else if key == "parameters" {
            out.insert(key.clone(), convert_parameters(value));
        } else if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

fn convert_parameters(params: &Value) -> Value {
    Value::Array(list(Some(params)).iter().map(convert_parameter).collect())
}

/// A v3 non-body parameter (`schema` holds its type) in v2 form (the type inline).
fn convert_parameter(param: &Value) -> Value {
    let mut out = Map::new();
    for (key, value) in param.as_object().into_iter().flatten() {
        if key == "schema" {
            for (k, v) in value.as_object().into_iter().flatten() {
                if k != "nullable" {
                    out.insert(k.clone(), v.clone());
                }
            }
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// The media types of a v3 `content` object, and the schema of the first (JSON preferred).
fn content_of(content: Option<&Value>) -> (Vec<String>, Option<Value>) {
    let Some(map) = content.and_then(Value::as_object) else {
        return (Vec::new(), None);
    };
    let types: Vec<String> = map.keys().cloned().collect();
    let schema = map
        .get("application/json")
        .or_else(|| map.values().next())
        .and_then(|c| c.get("schema"))
        .map(convert_schema);
    (types, schema)
}

fn convert_operation(op: &Value) -> Value {
    let mut out = Map::new();
    let mut produces: Vec<String> = Vec::new();
    let mut parameters: Vec<Value> = Vec::new();
    if let Some(body) = op.get("requestBody") {
        let (types, schema) = content_of(body.get("content"));
        parameters.push(json!({
            "in": "body",
            "name": "body",
            "required": body.get("required") == Some(&Value::Bool(true)),
            "schema": schema.unwrap_or_else(|| json!({})),
        }));
        out.insert("consumes".into(), json!(types));
    }
    if let Some(list) = op.get("parameters") {
        if let Value::Array(list) = convert_parameters(list) {
            parameters.extend(list);
        }
    }
    let mut responses = Map::new();
    for (code, response) in op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let (types, schema) = content_of(response.get("content"));
        for t in types {
            if !produces.contains(&t) {
                produces.push(t);
            }
        }
        let mut r = Map::new();
        let description = response.get("description").cloned();
        r.insert("description".into(), description.unwrap_or(json!("")));
        if let Some(schema) = schema {
            r.insert("schema".into(), schema);
        }
        responses.insert(code.clone(), Value::Object(r));
    }
    for (key, value) in op.as_object().into_iter().flatten() {
        let kept = [
            "description",
            "summary",
            "operationId",
            "tags",
            "deprecated",
        ];
        if kept.contains(&key.as_str()) || key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    if !produces.is_empty() {
        out.insert("produces".into(), json!(produces));
    }
    out.insert("responses".into(), Value::Object(responses));
    out.insert("schemes".into(), json!(["https"]));
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Protobuf writer. Field numbers: gnostic-models `openapiv2/OpenAPIv2.proto`.

/// One message being written (proto3: default scalars are omitted; submessages always written).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    /// A length-delimited field (a string, or one element of a repeated string).
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    /// A singular string, omitted when empty.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// The fields of `table` found in `obj`.
    fn put(&mut self, obj: &Map<String, Value>, table: &[(u32, &str, Kind)]) {
        for &(field, key, kind) in table {
            let Some(v) = obj.get(key) else {
                continue;
            };
            let elems = list(Some(v));
            match kind {
                Kind::Str => self.string(field, v.as_str().unwrap_or_default()),
                Kind::Strs => {
                    for s in elems.iter().filter_map(Value::as_str) {
                        self.bytes(field, s.as_bytes());
                    }
                }
                Kind::Bool if v.as_bool() == Some(true) => {
                    self.key(field, 0);
                    self.varint(1);
                }
                Kind::Int => match v.as_i64() {
                    Some(n) if n != 0 => {
                        self.key(field, 0);
                        self.varint(n as u64);
                    }
                    _ => {}
                },
                Kind::Double => match v.as_f64() {
                    Some(x) if x != 0.0 => {
                        self.key(field, 1);
                        self.0.extend_from_slice(&x.to_le_bytes());
                    }
                    _ => {}
                },
                Kind::Any => self.message(field, any(v)),
                Kind::Anys => elems.iter().for_each(|x| self.message(field, any(x))),
                Kind::Bool => {}
            }
        }
    }

    /// The `x-*` keys of `obj` as repeated `NamedAny { name = 1, value = 2 }`.
    fn extensions(&mut self, field: u32, obj: &Map<String, Value>) {
        for (name, value) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, any(value));
            self.message(field, named);
        }
    }

    /// Repeated `Named* { name = 1, value = 2 }` entries, one per key of `map` (`x-*` skipped).
    fn named(&mut self, field: u32, map: Option<&Value>, value: fn(&Value) -> Msg) {
        for (name, v) in map.and_then(Value::as_object).into_iter().flatten() {
            if !name.starts_with("x-") {
                let mut named = Msg::default();
                named.string(1, name);
                named.message(2, value(v));
                self.message(field, named);
            }
        }
    }
}

/// How a JSON value is written.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Strs,
    Bool,
    Int,
    Double,
    Any,
    Anys,
}

use Kind::{Any as A, Anys as As, Bool as B, Double as D, Int as I, Str as S, Strs as Ss};

/// `Any { value = 1 (google.protobuf.Any, unused), yaml = 2 }`.
fn any(value: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &to_yaml(value));
    m
}

/// The elements of a JSON array (none for anything else).
fn list(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn obj(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// `Document { swagger = 1, info = 2: Info { title = 1, version = 2, description = 3 },
/// paths = 8: Paths { vendor_extension = 1, path = 2: NamedPathItem },
/// definitions = 9: Definitions { additional_properties = 1: NamedSchema },
/// vendor_extension = 16 }`.
fn encode_document(doc: &Value) -> Vec<u8> {
    let d = obj(doc);
    let mut m = Msg::default();
    m.put(&d, &[(1, "swagger", S)]);
    let mut info = Msg::default();
    info.put(
        &obj(&doc["info"]),
        &[(1, "title", S), (2, "version", S), (3, "description", S)],
    );
    m.message(2, info);
    let mut paths = Msg::default();
    paths.extensions(1, &obj(&doc["paths"]));
    paths.named(2, d.get("paths"), path_item);
    m.message(8, paths);
    let mut defs = Msg::default();
    defs.named(1, d.get("definitions"), schema);
    m.message(9, defs);
    m.extensions(16, &d);
    m.0
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// `PathItem { _ref = 1, get = 2, put = 3, post = 4, delete = 5, options = 6, head = 7,
/// patch = 8, parameters = 9, vendor_extension = 10 }`.
fn path_item(item: &Value) -> Msg {
    let item = obj(item);
    let mut m = Msg::default();
    m.put(&item, &[(1, "$ref", S)]);
    for (field, method) in (2u32..).zip(METHODS) {
        if let Some(op) = item.get(*method) {
            m.message(field, operation(op));
        }
    }
    for param in list(item.get("parameters")) {
        m.message(9, parameters_item(param));
    }
    m.extensions(10, &item);
    m
}

/// `Operation { tags = 1, summary = 2, description = 3, operation_id = 5, produces = 6,
/// consumes = 7, parameters = 8, responses = 9, schemes = 10, deprecated = 11,
/// vendor_extension = 13 }`; `Responses { response_code = 1: NamedResponseValue }`.
fn operation(op: &Value) -> Msg {
    let op = obj(op);
    let mut m = Msg::default();
    #[rustfmt::skip]
    m.put(&op, &[
        (1, "tags", Ss), (2, "summary", S), (3, "description", S), (5, "operationId", S),
        (6, "produces", Ss), (7, "consumes", Ss),
    ]);
    for param in list(op.get("parameters")) {
        m.message(8, parameters_item(param));
    }
    let mut responses = Msg::default();
    responses.named(1, op.get("responses"), response_value);
    m.message(9, responses);
    m.put(&op, &[(10, "schemes", Ss), (11, "deprecated", B)]);
    m.extensions(13, &op);
    m
}

/// `ResponseValue { response = 1: Response { description = 1,
/// schema = 2: SchemaItem { schema = 1 }, vendor_extension = 5 } }`.
fn response_value(response: &Value) -> Msg {
    let response = obj(response);
    let mut r = Msg::default();
    r.put(&response, &[(1, "description", S)]);
    if let Some(s) = response.get("schema") {
        let mut item = Msg::default();
        item.message(1, schema(s));
        r.message(2, item);
    }
    r.extensions(5, &response);
    let mut value = Msg::default();
    value.message(1, r);
    value
}

/// `ParametersItem { parameter = 1: Parameter { body_parameter = 1: BodyParameter,
/// non_body_parameter = 2: NonBodyParameter { query_parameter_sub_schema = 3,
/// path_parameter_sub_schema = 4 } } }`.
fn parameters_item(param: &Value) -> Msg {
    let p = obj(param);
    let mut parameter = Msg::default();
    if p.get("in").and_then(Value::as_str) == Some("body") {
        // BodyParameter { description = 1, name = 2, in = 3, required = 4, schema = 5,
        // vendor_extension = 6 }.
        let mut b = Msg::default();
        #[rustfmt::skip]
        b.put(&p, &[(1, "description", S), (2, "name", S), (3, "in", S), (4, "required", B)]);
        if let Some(s) = p.get("schema") {
            b.message(5, schema(s));
        }
        b.extensions(6, &p);
        parameter.message(1, b);
    } else {
        // QueryParameterSubSchema: required = 1, in = 2, description = 3, name = 4,
        // allow_empty_value = 5, then the primitive fields from type = 6, vendor_extension = 23.
        // PathParameterSubSchema: the same without allow_empty_value, type = 5 …,
        // vendor_extension = 22. (HeaderParameterSubSchema is numbered as the path one.)
        let query = p.get("in").and_then(Value::as_str) == Some("query");
        let mut sub = Msg::default();
        #[rustfmt::skip]
        sub.put(&p, &[(1, "required", B), (2, "in", S), (3, "description", S), (4, "name", S)]);
        if query {
            sub.put(&p, &[(5, "allowEmptyValue", B)]);
        }
        primitive_fields(&mut sub, if query { 6 } else { 5 }, &p);
        sub.extensions(if query { 23 } else { 22 }, &p);
        let mut non_body = Msg::default();
        non_body.message(if query { 3 } else { 4 }, sub);
        parameter.message(2, non_body);
    }
    let mut item = Msg::default();
    item.message(1, parameter);
    item
}

/// The run of fields shared by the parameter sub-schemas and `PrimitivesItems`, numbered from
/// `base` (`type`): type, format, items, collection_format, default, maximum,
/// exclusive_maximum, minimum, exclusive_minimum, max_length, min_length, pattern, max_items,
/// min_items, unique_items, enum, multiple_of.
fn primitive_fields(m: &mut Msg, base: u32, p: &Map<String, Value>) {
    #[rustfmt::skip]
    let table: [(u32, &str, Kind); 16] = [
        (0, "type", S), (1, "format", S), (3, "collectionFormat", S), (4, "default", A),
        (5, "maximum", D), (6, "exclusiveMaximum", B), (7, "minimum", D),
        (8, "exclusiveMinimum", B), (9, "maxLength", I), (10, "minLength", I),
        (11, "pattern", S), (12, "maxItems", I), (13, "minItems", I), (14, "uniqueItems", B),
        (15, "enum", As), (16, "multipleOf", D),
    ];
    m.put(
        p,
        &table.map(|(offset, key, kind)| (base + offset, key, kind)),
    );
    if let Some(items) = p.get("items") {
        // PrimitivesItems: type = 1 … multiple_of = 17, vendor_extension = 18.
        let items = obj(items);
        let mut sub = Msg::default();
        primitive_fields(&mut sub, 1, &items);
        sub.extensions(18, &items);
        m.message(base + 2, sub);
    }
}

/// `Schema { _ref = 1, format = 2, title = 3, description = 4, default = 5, multiple_of = 6,
/// maximum = 7, exclusive_maximum = 8, minimum = 9, exclusive_minimum = 10, max_length = 11,
/// min_length = 12, pattern = 13, max_items = 14, min_items = 15, unique_items = 16,
/// max_properties = 17, min_properties = 18, required = 19, enum = 20,
/// additional_properties = 21: AdditionalPropertiesItem { schema = 1, boolean = 2 },
/// type = 22: TypeItem { value = 1 }, items = 23: ItemsItem { schema = 1 }, all_of = 24,
/// properties = 25: Properties { additional_properties = 1: NamedSchema },
/// discriminator = 26, read_only = 27, example = 30, vendor_extension = 31 }`.
fn schema(value: &Value) -> Msg {
    let s = obj(value);
    let mut m = Msg::default();
    #[rustfmt::skip]
    m.put(&s, &[
        (1, "$ref", S), (2, "format", S), (3, "title", S), (4, "description", S),
        (5, "default", A), (6, "multipleOf", D), (7, "maximum", D), (8, "exclusiveMaximum", B),
        (9, "minimum", D), (10, "exclusiveMinimum", B), (11, "maxLength", I),
        (12, "minLength", I), (13, "pattern", S), (14, "maxItems", I), (15, "minItems", I),
        (16, "uniqueItems", B), (17, "maxProperties", I), (18, "minProperties", I),
        (19, "required", Ss), (20, "enum", As),
    ]);
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.message(21, a);
        }
        Some(v @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.message(1, schema(v));
            m.message(21, a);
        }
        _ => {}
    }
    let mut types = Msg::default();
    match s.get("type") {
        Some(Value::String(t)) => types.bytes(1, t.as_bytes()),
        Some(Value::Array(list)) => {
            for t in list
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
            {
                types.bytes(1, t.as_bytes());
            }
        }
        _ => {}
    }
    if !types.0.is_empty() {
        m.message(22, types);
    }
    let items: Vec<&Value> = match s.get("items") {
        Some(v @ Value::Object(_)) => vec![v],
        Some(Value::Array(list)) => list.iter().collect(),
        _ => Vec::new(),
    };
    if !items.is_empty() {
        let mut i = Msg::default();
        items.into_iter().for_each(|v| i.message(1, schema(v)));
        m.message(23, i);
    }
    for sub in list(s.get("allOf")) {
        m.message(24, schema(sub));
    }
    if s.contains_key("properties") {
        let mut p = Msg::default();
        p.named(1, s.get("properties"), schema);
        m.message(25, p);
    }
    #[rustfmt::skip]
    m.put(&s, &[(26, "discriminator", S), (27, "readOnly", B), (30, "example", A)]);
    m.extensions(31, &s);
    m
}

// ---------------------------------------------------------------------------------------------
// YAML text of a value (what gnostic keeps in `Any.yaml`), block style as yaml.Marshal writes.

fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    yaml_block(value, 0, &mut out);
    out
}

/// `value` as block-style lines at `indent`.
fn yaml_block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let entries: Vec<(String, &Value)> = match value {
        Value::Object(map) if !map.is_empty() => {
            let key = |k: &String| format!("{}:", yaml_string(k));
            map.iter().map(|(k, v)| (key(k), v)).collect()
        }
        Value::Array(list) if !list.is_empty() => list.iter().map(|v| ("-".into(), v)).collect(),
        _ => return out.push_str(&format!("{pad}{}\n", yaml_scalar(value))),
    };
    for (head, v) in entries {
        let nested = match v {
            Value::Object(m) => !m.is_empty(),
            Value::Array(l) => !l.is_empty(),
            _ => false,
        };
        if !nested {
            out.push_str(&format!("{pad}{head} {}\n", yaml_scalar(v)));
        } else if head == "-" {
            // `- ` then the collection's first line; the rest indented under it.
            let mut inner = String::new();
            yaml_block(v, indent + 2, &mut inner);
            out.push_str(&format!(
                "{pad}- {}",
                inner.get(indent + 2..).unwrap_or_default()
            ));
        } else {
            out.push_str(&format!("{pad}{head}\n"));
            yaml_block(v, indent + 2, out);
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => yaml_string(s),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => other.to_string(),
    }
}

/// A plain scalar when that reads back as the same string, else a double-quoted (JSON) one.
fn yaml_string(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ];
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *buf.get(*pos)?;
            *pos += 1;
            out |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(out);
            }
        }
        None
    }

    /// The fields of one message, in order: (number, varint value, length-delimited bytes).
    fn fields(buf: &[u8]) -> Option<Vec<(u64, u64, &[u8])>> {
        let (mut out, mut pos) = (Vec::new(), 0);
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos)?;
            match key & 7 {
                0 => out.push((key >> 3, read_varint(buf, &mut pos)?, &buf[..0])),
                1 => pos += 8,
                2 => {
                    let len = usize::try_from(read_varint(buf, &mut pos)?).ok()?;
                    out.push((key >> 3, 0, buf.get(pos..pos + len)?));
                    pos += len;
                }
                _ => return None,
            }
        }
        (pos == buf.len()).then_some(out)
    }

    /// Every length-delimited value of `field`.
    fn all(buf: &[u8], field: u64) -> Vec<&[u8]> {
        let fields = fields(buf).expect("message parses");
        fields
            .into_iter()
            .filter(|f| f.0 == field)
            .map(|f| f.2)
            .collect()
    }

    fn one(buf: &[u8], field: u64) -> &[u8] {
        all(buf, field).last().copied().unwrap_or_default()
    }

    fn text(buf: &[u8], field: u64) -> String {
        String::from_utf8(one(buf, field).to_vec()).expect("utf-8")
    }

    /// The value (field 2) of the `Named*` entry (name = 1) called `name` among `entries`.
    fn named<'a>(entries: Vec<&'a [u8]>, name: &str) -> Option<&'a [u8]> {
        entries
            .into_iter()
            .find(|e| text(e, 1) == name)
            .map(|e| one(e, 2))
    }

    /// The YAML text of vendor extension `name` among `entries` (NamedAny → Any.yaml = 2).
    fn extension(entries: Vec<&[u8]>, name: &str) -> Option<String> {
        named(entries, name).map(|any| text(any, 2))
    }

    fn document() -> Arc<Vec<u8>> {
        v2_protobuf().expect("a document")
    }

    #[test]
    fn document_header_and_cache() {
        let doc = document();
        assert!(Arc::ptr_eq(&doc, &document()), "built once");
        assert_eq!(text(&doc, 1), "2.0");
        let info = one(&doc, 2);
        assert_eq!(text(info, 1), "Kubernetes");
        assert_eq!(text(info, 2), INFO_VERSION);
    }

    #[test]
    fn deployment_definition() {
        let doc = document();
        let defs = all(one(&doc, 9), 1);
        let deployment = named(defs.clone(), "io.k8s.api.apps.v1.Deployment").expect("Deployment");
        let props = all(one(deployment, 25), 1);
        let spec = named(props.clone(), "spec").expect("spec");
        assert_eq!(
            text(spec, 1),
            "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
        );
        assert!(
            !text(spec, 4).is_empty(),
            "the description is kept beside the $ref"
        );
        let kind = named(props, "kind").expect("kind");
        assert_eq!(text(one(kind, 22), 1), "string");
        let gvk = extension(all(deployment, 31), "x-kubernetes-group-version-kind")
            .expect("GVK extension");
        assert_eq!(gvk, "- group: apps\n  kind: Deployment\n  version: v1\n");
        // Containers: an array of refs, with the merge-key extensions.
        let pod_spec = named(defs.clone(), "io.k8s.api.core.v1.PodSpec").expect("PodSpec");
        let containers = named(all(one(pod_spec, 25), 1), "containers").expect("containers");
        assert_eq!(text(one(containers, 22), 1), "array");
        assert_eq!(
            text(one(one(containers, 23), 1), 1),
            "#/definitions/io.k8s.api.core.v1.Container"
        );
        assert_eq!(
            extension(all(containers, 31), "x-kubernetes-patch-merge-key").as_deref(),
            Some("name\n")
        );
        // IntOrString in its v2 shape.
        let ios = named(defs, "io.k8s.apimachinery.pkg.util.intstr.IntOrString").expect("ios");
        assert_eq!(text(one(ios, 22), 1), "string");
        assert_eq!(text(ios, 2), "int-or-string");
    }

    #[test]
    fn patch_operation_declares_field_validation() {
        let doc = document();
        let paths = all(one(&doc, 8), 2);
        let item = named(
            paths,
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        )
        .expect("deployment path");
        let patch = one(item, 8);
        assert_eq!(text(patch, 5), "patchAppsV1NamespacedDeployment");
        let gvk = extension(all(patch, 13), "x-kubernetes-group-version-kind").expect("GVK");
        assert_eq!(gvk, "group: apps\nkind: Deployment\nversion: v1\n");
        assert_eq!(
            extension(all(patch, 13), "x-kubernetes-action").as_deref(),
            Some("patch\n")
        );
        assert!(all(patch, 7)
            .iter()
            .any(|c| *c == b"application/strategic-merge-patch+json"));
        let params = all(patch, 8);
        let query_names: Vec<String> = params
            .iter()
            .map(|p| one(one(one(p, 1), 2), 3))
            .filter(|q| !q.is_empty())
            .map(|q| text(q, 4))
            .collect();
        assert!(
            query_names.iter().any(|n| n == "fieldValidation"),
            "{query_names:?}"
        );
        let body = params
            .iter()
            .map(|p| one(one(p, 1), 1))
            .find(|b| !b.is_empty())
            .expect("a body parameter");
        assert_eq!(text(body, 2), "body");
        assert_eq!(text(body, 3), "body");
        let required = fields(body).expect("parses").into_iter().find(|f| f.0 == 4);
        assert_eq!(required.map(|f| f.1), Some(1));
        // Path parameters sit on the path item.
        let path_params: Vec<String> = all(item, 9)
            .iter()
            .map(|p| one(one(one(p, 1), 2), 4))
            .filter(|p| !p.is_empty())
            .map(|p| text(p, 4))
            .collect();
        assert!(path_params.contains(&"name".to_string()), "{path_params:?}");
        assert!(path_params.contains(&"namespace".to_string()));
        // GET's 200 response refers to the Deployment.
        let get = one(item, 2);
        let ok = named(all(one(get, 9), 1), "200").expect("200");
        let schema = one(one(one(ok, 1), 2), 1);
        assert_eq!(
            text(schema, 1),
            "#/definitions/io.k8s.api.apps.v1.Deployment"
        );
    }

    /// Every `$ref` of the JSON form resolves, and none is left in v3 form.
    #[test]
    fn refs_resolve() {
        fn walk(v: &Value, props: bool, refs: &mut Vec<String>) {
            match v {
                Value::Object(map) if props => map.values().for_each(|v| walk(v, false, refs)),
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        refs.push(r.clone());
                    }
                    assert!(!map.contains_key("oneOf") && !map.contains_key("nullable"));
                    // What kube-openapi's proto parser (kubectl) accepts.
                    match map.get("type").and_then(Value::as_str) {
                        Some("array") => assert!(map["items"].is_object(), "{map:?}"),
                        Some(t) => assert!(
                            ["object", "string", "integer", "number", "boolean"].contains(&t),
                            "{t}"
                        ),
                        None => assert!(!map.contains_key("type"), "{map:?}"),
                    }
                    for (k, v) in map {
                        walk(v, k == "properties" || k == "definitions", refs);
                    }
                }
                Value::Array(list) => list.iter().for_each(|v| walk(v, false, refs)),
                _ => {}
            }
        }
        let doc = v2_document().expect("document");
        let defs = doc["definitions"].as_object().expect("definitions");
        let mut refs = Vec::new();
        walk(&doc["definitions"], true, &mut refs);
        walk(&doc["paths"], false, &mut refs);
        assert!(refs.len() > 100);
        for r in refs {
            let name = r.strip_prefix(V2_PREFIX).expect("a #/definitions/ ref");
            assert!(defs.contains_key(name), "{r} unresolved");
        }
        // Every group-version's operations are there.
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/api/v1/namespaces/{namespace}/pods"));
        assert!(paths.contains_key("/apis/apps/v1/deployments"));
    }

    #[test]
    fn yaml_text() {
        assert_eq!(to_yaml(&json!("Always")), "Always\n");
        assert_eq!(to_yaml(&json!("")), "\"\"\n");
        assert_eq!(to_yaml(&json!("true")), "\"true\"\n");
        assert_eq!(to_yaml(&json!(["a", 1])), "- a\n- 1\n");
        assert_eq!(
            to_yaml(&json!([{"group": "", "kind": "Pod", "version": "v1"}])),
            "- group: \"\"\n  kind: Pod\n  version: v1\n"
        );
        assert_eq!(to_yaml(&json!({"a": {"b": [1]}})), "a:\n  b:\n    - 1\n");
        assert_eq!(to_yaml(&json!({"a b": {}})), "\"a b\": {}\n");
    }
}
