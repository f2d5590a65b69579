//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) to JSON.
//!
//! kubectl ≥ 1.32 and every typed client-go call send create, update and delete bodies as
//! protobuf: the magic `k8s\0`, then a `runtime.Unknown` envelope holding the `apiVersion`, the
//! `kind` and the object's own protobuf bytes (`raw`). [`decode_body`] turns such a body into
//! the object's JSON form — the same `serde_json::Value` Go's `encoding/json` would have
//! produced from the decoded Go struct — so the rest of the API server only ever sees JSON.
//!
//! This module owns:
//! - the descriptor table (`descriptors.rs`, generated; shapes in `schema.rs`): for every
//!   message of the Kubernetes API protos, its fields (tag, JSON name, wire type, repeated/map,
//!   `omitempty`, `inline`), and the (group, version, kind) → message map;
//! - one generic, table-driven decoder, with the special JSON forms of `Time`, `MicroTime`,
//!   `Duration`, `IntOrString`, `Quantity`, `RawExtension`, `FieldsV1`, the apiextensions
//!   `JSON`/`JSONSchemaPropsOr*` types and the `[]string` wrappers (`Verbs`, `ExtraValue`).
//!
//! How Go's JSON form is reproduced:
//! - gogo-protobuf writes every non-pointer field, even when zero, and pointer fields only when
//!   set. So a field present on the wire is emitted even when zero (`replicas: 0`,
//!   `gracePeriodSeconds: 0`) — except non-pointer scalars tagged `omitempty`, whose zero value
//!   Go's JSON drops (`namespace: ""`, `generation: 0`); absent fields are omitted;
//! - embedded `json:",inline"` structs (Volume's `VolumeSource`, the key selectors'
//!   `LocalObjectReference`) are merged into their parent;
//! - keys come out in Go struct order; `bytes` are base64; maps are objects; an empty `Time` is
//!   `null` (`creationTimestamp: null`, as in kubectl's JSON bodies);
//! - unknown fields are skipped; packed and unpacked repeated scalars are both accepted.
//!
//! Known differences from Go: an absent repeated or map field without `omitempty` is omitted
//! where Go would print `null`; `Quantity` strings pass through as sent (Go re-canonicalizes
//! them, e.g. `1000m` → `1`), so quantity validation stays the server's job.
//!
//! Input comes from the network: malformed data is an error, never a panic, and nesting is
//! bounded.
//!
//! Regenerating the table (after a Kubernetes version bump): `scripts/gen-protobuf.sh [TAG]`,
//! which clones kubernetes/{api,apimachinery,apiextensions-apiserver,kube-aggregator} at TAG
//! (default `v0.33.13`) to a temporary directory and runs
//! `cargo run -p xtask -- gen-protobuf <dir>`.

#[rustfmt::skip]
mod descriptors;
mod schema;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use schema::{FieldDesc, MessageDesc, Special, Ty, IN, MAP, OE, R};

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4 bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// Deepest JSON nesting (objects and arrays) a decoded body may have. Below serde_json's
/// recursion limit of 128, so what we produce can be parsed back.
pub const MAX_DEPTH: usize = 100;

/// Kinds of `meta.k8s.io/v1` that clients send under any group-version (upstream
/// `metav1.AddToGroupVersion` registers them in every group), e.g. `apps/v1` `DeleteOptions`.
const META_IN_EVERY_GROUP: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "UpdateOptions",
    "WatchEvent",
    "Status",
    "APIVersions",
    "APIGroupList",
    "APIGroup",
    "APIResourceList",
];

/// A decoded protobuf request body.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBody {
    /// The envelope's `apiVersion`, e.g. `"apps/v1"`.
    pub api_version: String,
    /// The envelope's `kind`, e.g. `"Deployment"`.
    pub kind: String,
    /// The object in its JSON form, with `kind` and `apiVersion` set (first, as Go writes
    /// them).
    pub object: Value,
}

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("protobuf body does not start with the kubernetes magic number")]
    MissingMagic,
    /// The envelope has no `apiVersion` or `kind`.
    #[error("protobuf body has no apiVersion and kind")]
    MissingTypeMeta,
    /// No protobuf message is known for this kind (a 415: the client may resend as JSON).
    #[error("no protobuf schema for kind {kind:?} in {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
    /// The envelope names a content encoding (compression) we do not support.
    #[error("unsupported protobuf content encoding {0:?}")]
    UnsupportedEncoding(String),
    /// The bytes are not valid protobuf for the message (or hold a value JSON cannot carry).
    #[error("malformed protobuf body at {path}: {reason}")]
    Malformed { path: String, reason: String },
    /// The object nests deeper than [`MAX_DEPTH`].
    #[error("protobuf body nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

impl ProtobufError {
    /// Whether the body may be fine but we lack a schema for it (415 Unsupported Media Type)
    /// rather than being bad input (400 Bad Request).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            ProtobufError::UnknownKind { .. } | ProtobufError::UnsupportedEncoding(_)
        )
    }
}

/// Whether a `Content-Type` header value names the Kubernetes protobuf media type (parameters
/// and case ignored).
pub fn is_protobuf_media_type(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Decodes a `k8s\0` + `runtime.Unknown` body into the object's JSON form.
pub fn decode_body(bytes: &[u8]) -> Result<DecodedBody, ProtobufError> {
    decode_body_at(bytes, 0)
}

/// The full protobuf message name for a kind, e.g. `("apps/v1", "Deployment")` →
/// `"k8s.io.api.apps.v1.Deployment"`; `None` when the kind has no protobuf schema.
pub fn message_for_kind(api_version: &str, kind: &str) -> Option<&'static str> {
    resolve_kind(api_version, kind)
        .and_then(schema::message)
        .map(|m| m.name)
}

/// Decodes the protobuf bytes of one message (no magic, no envelope), named by its full name
/// (e.g. `"k8s.io.api.core.v1.PodSpec"`), into its JSON form.
pub fn decode_message(message: &str, bytes: &[u8]) -> Result<Value, ProtobufError> {
    let index = schema::message_index(message).ok_or_else(|| ProtobufError::UnknownKind {
        api_version: String::new(),
        kind: message.to_string(),
    })?;
    decode(bytes, index, 0).map_err(|e| e.into_error(message))
}

fn resolve_kind(api_version: &str, kind: &str) -> Option<u16> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    if version.is_empty() || kind.is_empty() {
        return None;
    }
    schema::kind_message(group, version, kind).or_else(|| {
        META_IN_EVERY_GROUP
            .contains(&kind)
            .then(|| schema::kind_message("meta.k8s.io", "v1", kind))
            .flatten()
    })
}

fn decode_body_at(bytes: &[u8], depth: usize) -> Result<DecodedBody, ProtobufError> {
    let rest = bytes
        .strip_prefix(&MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Envelope::parse(rest).map_err(|e| e.into_error("Unknown"))?;
    let (api_version, kind) = (envelope.api_version, envelope.kind);
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(
            envelope.content_encoding,
        ));
    }
    let index = resolve_kind(&api_version, &kind).ok_or_else(|| ProtobufError::UnknownKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let decoded = decode(envelope.raw, index, depth).map_err(|e| e.into_error(&kind))?;
    let Value::Object(fields) = decoded else {
        return Err(ProtobufError::Malformed {
            path: kind,
            reason: "not an object".into(),
        });
    };
    let mut object = Map::with_capacity(fields.len() + 2);
    object.insert("kind".into(), Value::String(kind.clone()));
    object.insert("apiVersion".into(), Value::String(api_version.clone()));
    object.extend(fields);
    Ok(DecodedBody {
        api_version,
        kind,
        object: Value::Object(object),
    })
}

/// `runtime.Unknown`: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2, contentEncoding = 3,
/// contentType = 4.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut r = Reader::new(bytes);
        while let Some((tag, wire)) = r.key()? {
            match (tag, wire) {
                (1, WIRE_LEN) => {
                    let mut tm = Reader::new(r.len_delimited()?);
                    while let Some((tag, wire)) = tm.key()? {
                        match (tag, wire) {
                            (1, WIRE_LEN) => env.api_version = utf8(tm.len_delimited()?)?.into(),
                            (2, WIRE_LEN) => env.kind = utf8(tm.len_delimited()?)?.into(),
                            _ => tm.skip(wire)?,
                        }
                    }
                }
                (2, WIRE_LEN) => env.raw = r.len_delimited()?,
                (3, WIRE_LEN) => env.content_encoding = utf8(r.len_delimited()?)?.into(),
                // contentType: upstream leaves it empty for protobuf-in-protobuf.
                (4, WIRE_LEN) => r.skip(wire)?,
                (1..=4, _) => {
                    return Err(DecodeError::new(format!(
                        "field {tag} has wire type {wire}"
                    )))
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(env)
    }
}

// ---------------------------------------------------------------------------------------------
// wire format

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// A decoding failure, with the JSON path collected while unwinding.
#[derive(Debug)]
struct DecodeError {
    reason: String,
    /// Innermost first.
    path: Vec<String>,
    too_deep: bool,
}

impl DecodeError {
    fn new(reason: impl Into<String>) -> Self {
        DecodeError {
            reason: reason.into(),
            path: Vec::new(),
            too_deep: false,
        }
    }

    fn at(mut self, segment: &str) -> Self {
        self.path.push(segment.to_string());
        self
    }

    fn into_error(self, root: &str) -> ProtobufError {
        if self.too_deep {
            return ProtobufError::TooDeep;
        }
        let mut path = root.to_string();
        for segment in self.path.iter().rev() {
            path.push('.');
            path.push_str(segment);
        }
        ProtobufError::Malformed {
            path,
            reason: self.reason,
        }
    }
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| DecodeError::new("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| DecodeError::new("truncated data"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::new("length too large"))?;
        self.take(len)
    }

    fn fixed32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// The next field's (number, wire type), or `None` at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|&t| t != 0)
            .ok_or_else(|| DecodeError::new(format!("invalid field number {}", key >> 3)))?;
        Ok(Some((tag, (key & 7) as u8)))
    }

    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            _ => Err(DecodeError::new(format!("unsupported wire type {wire}"))),
        }
    }
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::new("string is not valid UTF-8"))
}

fn wire_type_of(ty: Ty) -> u8 {
    match ty {
        Ty::Str | Ty::Bytes | Ty::M(_) => WIRE_LEN,
        Ty::Bool | Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64 => WIRE_VARINT,
        Ty::F64 => WIRE_FIXED64,
        Ty::F32 => WIRE_FIXED32,
    }
}

/// Reads one scalar of a non-message type whose wire type has been checked.
fn scalar(r: &mut Reader<'_>, ty: Ty) -> Result<Value> {
    Ok(match ty {
        Ty::Str => Value::String(utf8(r.len_delimited()?)?.to_string()),
        Ty::Bytes => Value::String(base64(r.len_delimited()?)),
        Ty::Bool => Value::Bool(r.varint()? != 0),
        // Go truncates an out-of-range varint to the field's width; so do we.
        Ty::I32 => Value::from(r.varint()? as i32),
        Ty::I64 => Value::from(r.varint()? as i64),
        Ty::U32 => Value::from(r.varint()? as u32),
        Ty::U64 => Value::from(r.varint()?),
        Ty::F64 => float(f64::from_bits(r.fixed64()?))?,
        Ty::F32 => float(f64::from(f32::from_bits(r.fixed32()?)))?,
        Ty::M(_) => return Err(DecodeError::new("internal: message read as scalar")),
    })
}

fn float(v: f64) -> Result<Value> {
    Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| DecodeError::new("NaN or infinite number"))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// messages

/// What has been read for one field of a message.
enum Slot<'a> {
    Empty,
    Scalar(Value),
    List(Vec<Value>),
    Map(Map<String, Value>),
    /// A singular message field; repeated occurrences merge (protobuf semantics), which for
    /// the wire format means decoding their concatenation.
    Message(Vec<&'a [u8]>),
}

/// Decodes `bytes` as message `index`; `depth` is the JSON nesting of the result.
fn decode(bytes: &[u8], index: u16, depth: usize) -> Result<Value> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError {
            too_deep: true,
            ..DecodeError::new("too deep")
        });
    }
    let desc =
        schema::message(index).ok_or_else(|| DecodeError::new("internal: bad message index"))?;
    match desc.special {
        Special::Plain => decode_plain(bytes, desc, depth).map(Value::Object),
        Special::Time => {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            // Upstream drops the nanoseconds of a Time when decoding protobuf.
            let (seconds, _) = timestamp(bytes)?;
            Ok(Value::String(format_time(seconds, None)?))
        }
        Special::MicroTime => {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            let (seconds, nanos) = timestamp(bytes)?;
            let seconds = seconds
                .checked_add(i64::from(nanos).div_euclid(1_000_000_000))
                .ok_or_else(|| DecodeError::new("time out of range"))?;
            let nanos = i64::from(nanos).rem_euclid(1_000_000_000);
            Ok(Value::String(format_time(seconds, Some(nanos / 1000))?))
        }
        Special::Duration => {
            let mut nanos = 0i64;
            let mut r = Reader::new(bytes);
            while let Some((tag, wire)) = r.key()? {
                match (tag, wire) {
                    (1, WIRE_VARINT) => nanos = r.varint()? as i64,
                    (1, _) => return Err(DecodeError::new("duration has the wrong wire type")),
                    _ => r.skip(wire)?,
                }
            }
            Ok(Value::String(crate::duration::format_go_duration(nanos)))
        }
        Special::IntOrString => {
            let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
            let mut r = Reader::new(bytes);
            while let Some((tag, wire)) = r.key()? {
                match (tag, wire) {
                    (1, WIRE_VARINT) => kind = r.varint()? as i64,
                    (2, WIRE_VARINT) => int_val = r.varint()? as i32,
                    (3, WIRE_LEN) => str_val = utf8(r.len_delimited()?)?.to_string(),
                    (1..=3, _) => {
                        return Err(DecodeError::new(
                            "IntOrString field has the wrong wire type",
                        ))
                    }
                    _ => r.skip(wire)?,
                }
            }
            match kind {
                0 => Ok(Value::from(int_val)),
                1 => Ok(Value::String(str_val)),
                other => Err(DecodeError::new(format!("IntOrString has type {other}"))),
            }
        }
        Special::Quantity => {
            let mut s = None;
            let mut r = Reader::new(bytes);
            while let Some((tag, wire)) = r.key()? {
                match (tag, wire) {
                    (1, WIRE_LEN) => s = Some(utf8(r.len_delimited()?)?.to_string()),
                    (1, _) => return Err(DecodeError::new("quantity has the wrong wire type")),
                    _ => r.skip(wire)?,
                }
            }
            // An empty Quantity is Go's zero value, which prints as "0".
            Ok(Value::String(s.unwrap_or_else(|| "0".into())))
        }
        Special::RawExtension | Special::RawJson => {
            let raw = raw_field(bytes)?;
            if raw.is_empty() {
                Ok(Value::Null)
            } else if desc.special == Special::RawExtension && raw.starts_with(&MAGIC) {
                match decode_body_at(raw, depth) {
                    Ok(body) => Ok(body.object),
                    Err(ProtobufError::TooDeep) => Err(DecodeError {
                        too_deep: true,
                        ..DecodeError::new("too deep")
                    }),
                    Err(e) => Err(DecodeError::new(format!("embedded object: {e}"))),
                }
            } else {
                let value: Value = serde_json::from_slice(raw)
                    .map_err(|e| DecodeError::new(format!("embedded JSON: {e}")))?;
                if json_depth(&value) + depth > MAX_DEPTH {
                    return Err(DecodeError {
                        too_deep: true,
                        ..DecodeError::new("too deep")
                    });
                }
                Ok(value)
            }
        }
        Special::Array => {
            let mut fields = decode_plain(bytes, desc, depth)?;
            Ok(fields
                .remove("items")
                .unwrap_or_else(|| Value::Array(Vec::new())))
        }
        Special::SchemaOrArray => {
            let mut fields = decode_plain(bytes, desc, depth)?;
            match fields.remove("jSONSchemas") {
                Some(Value::Array(items)) if !items.is_empty() => Ok(Value::Array(items)),
                _ => Ok(fields.remove("schema").unwrap_or(Value::Null)),
            }
        }
        Special::SchemaOrBool => {
            let mut fields = decode_plain(bytes, desc, depth)?;
            match fields.remove("schema") {
                Some(schema) => Ok(schema),
                None => Ok(fields.remove("allows").unwrap_or(Value::Bool(false))),
            }
        }
        Special::SchemaOrStringArray => {
            let mut fields = decode_plain(bytes, desc, depth)?;
            match fields.remove("property") {
                Some(Value::Array(items)) if !items.is_empty() => Ok(Value::Array(items)),
                _ => Ok(fields.remove("schema").unwrap_or(Value::Null)),
            }
        }
    }
}

fn decode_plain(bytes: &[u8], desc: &MessageDesc, depth: usize) -> Result<Map<String, Value>> {
    let mut slots: Vec<Slot<'_>> = desc.fields.iter().map(|_| Slot::Empty).collect();
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        let Some(i) = desc.fields.iter().position(|f| f.tag == tag) else {
            r.skip(wire)?;
            continue;
        };
        let field = &desc.fields[i];
        read_field(&mut r, wire, field, &mut slots[i], depth).map_err(|e| e.at(field.json))?;
    }
    let mut out = Map::new();
    for (field, slot) in desc.fields.iter().zip(slots) {
        match slot {
            Slot::Empty => {}
            Slot::Scalar(v) => {
                if !(field.has(OE) && is_zero(&v)) {
                    out.insert(field.json.to_string(), v);
                }
            }
            Slot::List(items) => {
                out.insert(field.json.to_string(), Value::Array(items));
            }
            Slot::Map(entries) => {
                out.insert(field.json.to_string(), Value::Object(entries));
            }
            Slot::Message(pieces) => {
                let Ty::M(index) = field.ty else {
                    return Err(DecodeError::new("internal: message slot of a scalar"));
                };
                let bytes: Cow<'_, [u8]> = match pieces.as_slice() {
                    [one] => Cow::Borrowed(one),
                    many => Cow::Owned(many.concat()),
                };
                // An inline struct's fields land in this object: same depth.
                let value_depth = if field.has(IN) { depth } else { depth + 1 };
                let value = decode(&bytes, index, value_depth).map_err(|e| e.at(field.json))?;
                if field.has(IN) {
                    let Value::Object(inner) = value else {
                        return Err(
                            DecodeError::new("inline field is not an object").at(field.json)
                        );
                    };
                    for (k, v) in inner {
                        // Go's JSON lets the outer struct's own field win.
                        out.entry(k).or_insert(v);
                    }
                } else {
                    out.insert(field.json.to_string(), value);
                }
            }
        }
    }
    Ok(out)
}

fn read_field<'a>(
    r: &mut Reader<'a>,
    wire: u8,
    field: &FieldDesc,
    slot: &mut Slot<'a>,
    depth: usize,
) -> Result<()> {
    let expected = wire_type_of(field.ty);
    if field.has(MAP) {
        if wire != WIRE_LEN {
            return Err(DecodeError::new(format!("map entry has wire type {wire}")));
        }
        let (key, value) = map_entry(r.len_delimited()?, field.ty, depth + 1)?;
        if !matches!(slot, Slot::Map(_)) {
            *slot = Slot::Map(Map::new());
        }
        if let Slot::Map(entries) = slot {
            entries.insert(key, value);
        }
        return Ok(());
    }
    if field.has(R) {
        if !matches!(slot, Slot::List(_)) {
            *slot = Slot::List(Vec::new());
        }
        let Slot::List(items) = slot else {
            return Ok(());
        };
        if depth + 1 >= MAX_DEPTH {
            return Err(DecodeError {
                too_deep: true,
                ..DecodeError::new("too deep")
            });
        }
        match field.ty {
            Ty::M(index) if wire == WIRE_LEN => {
                let bytes = r.len_delimited()?;
                let at = items.len().to_string();
                items.push(decode(bytes, index, depth + 2).map_err(|e| e.at(&at))?);
            }
            // Packed repeated scalars.
            ty if wire == WIRE_LEN && expected != WIRE_LEN => {
                let mut packed = Reader::new(r.len_delimited()?);
                while packed.pos < packed.buf.len() {
                    items.push(scalar(&mut packed, ty)?);
                }
            }
            ty if wire == expected => items.push(scalar(r, ty)?),
            _ => {
                return Err(DecodeError::new(format!(
                    "wire type {wire}, want {expected}"
                )))
            }
        }
        return Ok(());
    }
    if wire != expected {
        return Err(DecodeError::new(format!(
            "wire type {wire}, want {expected}"
        )));
    }
    match field.ty {
        Ty::M(_) => {
            let bytes = r.len_delimited()?;
            match slot {
                Slot::Message(pieces) => pieces.push(bytes),
                _ => *slot = Slot::Message(vec![bytes]),
            }
        }
        ty => *slot = Slot::Scalar(scalar(r, ty)?),
    }
    Ok(())
}

/// A map entry: key = 1 (string), value = 2. Missing parts take their zero value.
fn map_entry(bytes: &[u8], ty: Ty, depth: usize) -> Result<(String, Value)> {
    let mut key = String::new();
    let mut value: Option<Value> = None;
    let mut message: Vec<&[u8]> = Vec::new();
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match tag {
            1 if wire == WIRE_LEN => key = utf8(r.len_delimited()?)?.to_string(),
            2 if wire == wire_type_of(ty) => match ty {
                Ty::M(_) => message.push(r.len_delimited()?),
                ty => value = Some(scalar(&mut r, ty)?),
            },
            1 | 2 => {
                return Err(DecodeError::new(format!(
                    "map entry field {tag} has wire type {wire}"
                )))
            }
            _ => r.skip(wire)?,
        }
    }
    let value = match (ty, value) {
        (Ty::M(index), _) => {
            let bytes = message.concat();
            decode(&bytes, index, depth + 1).map_err(|e| e.at(&key))?
        }
        (_, Some(v)) => v,
        (Ty::Str | Ty::Bytes, None) => Value::String(String::new()),
        (Ty::Bool, None) => Value::Bool(false),
        (_, None) => Value::from(0),
    };
    Ok((key, value))
}

/// `Timestamp`-shaped messages: seconds = 1, nanos = 2.
fn timestamp(bytes: &[u8]) -> Result<(i64, i32)> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match (tag, wire) {
            (1, WIRE_VARINT) => seconds = r.varint()? as i64,
            (2, WIRE_VARINT) => nanos = r.varint()? as i32,
            (1 | 2, _) => return Err(DecodeError::new("time field has the wrong wire type")),
            _ => r.skip(wire)?,
        }
    }
    Ok((seconds, nanos))
}

/// Field 1 (bytes) of `RawExtension`, `FieldsV1` and apiextensions `JSON`.
fn raw_field(bytes: &[u8]) -> Result<&[u8]> {
    let mut raw: &[u8] = &[];
    let mut r = Reader::new(bytes);
    while let Some((tag, wire)) = r.key()? {
        match (tag, wire) {
            (1, WIRE_LEN) => raw = r.len_delimited()?,
            (1, _) => return Err(DecodeError::new("raw field has the wrong wire type")),
            _ => r.skip(wire)?,
        }
    }
    Ok(raw)
}

fn json_depth(v: &Value) -> usize {
    // Iterative, so hostile input cannot overflow the stack here either.
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    max
}

// ---------------------------------------------------------------------------------------------
// JSON forms of special values

/// RFC 3339 in UTC, as Go's `time.RFC3339` (`micros: None`) or `RFC3339Micro`.
fn format_time(seconds: i64, micros: Option<i64>) -> Result<String> {
    let t = chrono::DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| DecodeError::new(format!("time {seconds} out of range")))?;
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    // Go's RFC 3339 output needs a four-digit year.
    if !base.as_bytes().first().is_some_and(u8::is_ascii_digit) || base.find('-') != Some(4) {
        return Err(DecodeError::new(format!("time {seconds} out of range")));
    }
    Ok(match micros {
        None => format!("{base}Z"),
        Some(us) => format!("{base}.{us:06}Z"),
    })
}

/// Standard base64 with padding, as Go's JSON encodes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
