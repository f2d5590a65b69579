//! The shape of the generated descriptor table (`descriptors.rs`) and lookups over it.
//!
//! One [`MessageDesc`] per protobuf message of the Kubernetes API (all groups and versions of
//! `k8s.io/api`, plus `meta/v1`, `runtime`, `intstr`, `resource`, `apiextensions` and
//! `apiregistration`), and one [`KindDesc`] per Go type that embeds `TypeMeta` (the kinds a
//! request body can carry).

use super::descriptors::{KINDS, MESSAGES};

/// Wire type of a field: a protobuf scalar, or a message (index into the message table).
// The generator supports every scalar upstream might use; today's table has no unsigned or
// float fields.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Bytes,
    Bool,
    I32,
    I64,
    U32,
    U64,
    F64,
    F32,
    M(u16),
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// A JSON object of the fields.
    Plain,
    /// `meta/v1.Time`: RFC 3339 with seconds, `null` when empty.
    Time,
    /// `meta/v1.MicroTime`: RFC 3339 with microseconds, `null` when empty.
    MicroTime,
    /// `meta/v1.Duration`: a Go duration string (`"1h0m0s"`).
    Duration,
    /// `intstr.IntOrString`: a JSON number or string.
    IntOrString,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `runtime.RawExtension`: embedded JSON (or a nested `k8s\0` protobuf object).
    RawExtension,
    /// `meta/v1.FieldsV1`, apiextensions `JSON`: field 1 holds JSON text.
    RawJson,
    /// `type X []T` wrappers (`Verbs`, `ExtraValue`): field 1 `items`, a bare JSON array.
    Array,
    /// apiextensions `JSONSchemaPropsOrArray`: the array when non-empty, else the schema.
    SchemaOrArray,
    /// apiextensions `JSONSchemaPropsOrBool`: the schema when set, else the bool.
    SchemaOrBool,
    /// apiextensions `JSONSchemaPropsOrStringArray`: the array when non-empty, else the schema.
    SchemaOrStringArray,
}

/// A repeated field (JSON array).
pub(crate) const R: u8 = 1;
/// A `map<string, V>` field (JSON object); the field's `ty` is `V`.
pub(crate) const MAP: u8 = 2;
/// A non-pointer Go scalar tagged `omitempty`: Go's JSON drops the zero value, although the
/// protobuf form always carries it.
pub(crate) const OE: u8 = 4;
/// An embedded struct tagged `json:",inline"`: its fields merge into the parent object.
pub(crate) const IN: u8 = 8;

#[derive(Debug)]
pub(crate) struct FieldDesc {
    pub tag: u32,
    pub json: &'static str,
    pub ty: Ty,
    pub flags: u8,
}

impl FieldDesc {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

#[derive(Debug)]
pub(crate) struct MessageDesc {
    /// Full protobuf name, e.g. `k8s.io.api.core.v1.ConfigMap`.
    pub name: &'static str,
    pub special: Special,
    /// In Go struct order (the JSON key order).
    pub fields: &'static [FieldDesc],
}

#[derive(Debug)]
pub(crate) struct KindDesc {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub message: u16,
}

pub(crate) const fn f(tag: u32, json: &'static str, ty: Ty, flags: u8) -> FieldDesc {
    FieldDesc {
        tag,
        json,
        ty,
        flags,
    }
}

pub(crate) const fn m(
    name: &'static str,
    special: Special,
    fields: &'static [FieldDesc],
) -> MessageDesc {
    MessageDesc {
        name,
        special,
        fields,
    }
}

pub(crate) const fn k(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    message: u16,
) -> KindDesc {
    KindDesc {
        group,
        version,
        kind,
        message,
    }
}

/// The message at `index` (indices come from the table itself, so this only fails on a
/// corrupt table).
pub(crate) fn message(index: u16) -> Option<&'static MessageDesc> {
    MESSAGES.get(usize::from(index))
}

/// The index of a message by full name.
pub(crate) fn message_index(name: &str) -> Option<u16> {
    let i = MESSAGES.binary_search_by(|m| m.name.cmp(name)).ok()?;
    u16::try_from(i).ok()
}

/// The message of a kind in a group-version.
pub(crate) fn kind_message(group: &str, version: &str, kind: &str) -> Option<u16> {
    KINDS
        .binary_search_by(|k| (k.group, k.version, k.kind).cmp(&(group, version, kind)))
        .ok()
        .map(|i| KINDS[i].message)
}

#[cfg(test)]
pub(crate) fn all_messages() -> &'static [MessageDesc] {
    &MESSAGES
}

#[cfg(test)]
pub(crate) fn all_kinds() -> &'static [KindDesc] {
    &KINDS
}
