//! Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`): unknown and duplicate
//! fields in request bodies, found and worded as a v1.33 kube-apiserver does.
//!
//! # Upstream behaviour
//!
//! - The directive comes from the `fieldValidation` query parameter of create, update and
//!   patch. Absent or empty means **Warn** (the default since v1.27); see [`FieldValidation`].
//! - **Ignore**: nothing is checked.
//! - **Warn**: the request goes on; each problem becomes one `Warning` response header,
//!   `299 - "<text>"` ([`warnings`], [`warning_headers`]). kubectl prints
//!   `Warning: unknown field "spec.foo"`.
//! - **Strict**: the request fails with all problems in one message, `strict decoding error:
//!   <problem>, <problem>, …` ([`strict_decoding_error`]):
//!   - create and update: 400 BadRequest, message [`cannot_handle`]:
//!     `Deployment in version "v1" cannot be handled as a Deployment: strict decoding error:
//!     unknown field "spec.foo"`;
//!   - JSON, merge and strategic merge patches: 422 Invalid with one cause on field `patch`
//!     (value: the patched object), detail the strict decoding error;
//!   - server-side apply: 400 BadRequest `error strict decoding YAML: <`[`apply_patch_error`]`>`
//!     (duplicates only; unknown apply fields are the field manager's business).
//!
//! A problem reads `unknown field "spec.template.spec.containers[0].bogus"` or
//! `duplicate field "metadata.name"` (paths join keys with `.` and list indices as `[i]`;
//! the path is Go-quoted, [`go_quote`]). YAML bodies add go-yaml's own duplicate report,
//! `yaml: unmarshal errors:\n  line 5: key "name" already set in map\n  line 12: …`, which
//! Warn splits into one warning per line.
//!
//! # Order
//!
//! Upstream reports problems as its decoders meet them, so the order depends on the body:
//! - JSON create/update ([`json_body_errors`]): document order, unknown and duplicate
//!   fields interleaved;
//! - YAML create/update ([`yaml_body_errors`]): the YAML duplicate report first, then unknown
//!   fields with object keys in byte order (the body went through a Go map);
//! - merge and JSON patches: duplicates of the patch body in document order, then unknown
//!   fields of the patched object with keys in byte order;
//! - strategic merge patches: duplicates of the patch body, then unknown fields sorted.
//!
//! Each problem appears once, and a decoder keeps at most 100.
//!
//! # Scope
//!
//! Schemas are those of [`crate::openapi`] (every built-in kind and the subresource kinds);
//! [`supports`] tells whether a kind has one. A kind without one is decoded as upstream
//! decodes a custom resource without a schema: duplicates are reported, unknown fields are
//! not. Values upstream decodes with their own unmarshalers are not looked into
//! (IntOrString, Quantity, RawExtension, FieldsV1, apiextensions JSON), and map values are
//! checked against their element schema whatever their keys (labels take any key).

mod json;
mod schema;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::HashSet;

use serde_json::Value;

use schema::{Problem, Tree, Walker, MAX_ERRORS, UNTYPED};

/// The `fieldValidation` directive of a create, update or patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown and duplicate fields are dropped silently.
    Ignore,
    /// Each problem is a `Warning` header; the request succeeds.
    Warn,
    /// Any problem fails the request.
    Strict,
}

impl FieldValidation {
    /// The directive of the query parameter's value: absent or empty is [`Warn`](Self::Warn).
    /// An unsupported value is an error whose text is the `fieldValidation` field error
    /// upstream returns (422 Invalid on `CreateOptions.meta.k8s.io`, `UpdateOptions…` or
    /// `PatchOptions…` with name `""`):
    /// `fieldValidation: Unsupported value: "foo": supported values: "", "Ignore", "Strict", "Warn"`.
    pub fn from_query(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or_default() {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(format!(
                "fieldValidation: Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                go_quote(other)
            )),
        }
    }

    /// Whether problems are looked for at all.
    pub fn checks(self) -> bool {
        self != Self::Ignore
    }
}

/// Whether the schema of `group/version, kind` is known (unknown fields can be found).
pub fn supports(group: &str, version: &str, kind: &str) -> bool {
    schema::shapes().kind(group, version, kind).is_some()
}

/// Paths of the fields of `obj` that the kind's schema does not know, in the object's key
/// order (document order for a body parsed by `serde_json`), as upstream writes them:
/// `"spec.foo"`, `"spec.template.spec.containers[0].bogus"`, `"metadata.labelz"`. Nothing is
/// reported inside an unknown field. Empty for a kind without a schema.
pub fn unknown_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    unknown_in(group, version, kind, obj, false, usize::MAX)
}

/// [`unknown_fields`] with object keys visited in byte order, the order upstream reports
/// them in after the object went through a Go map (YAML bodies, merge and JSON patches).
pub fn unknown_fields_sorted(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    unknown_in(group, version, kind, obj, true, usize::MAX)
}

/// Paths of the duplicate keys of a JSON body, at any depth, in document order, as upstream
/// reports them when it decodes a body without a schema (a patch, a custom resource):
/// `{"spec": {"a": 1, "a": 2}}` gives `["spec.a"]`. Empty when `raw` is not JSON.
pub fn duplicate_fields_json(raw: &[u8]) -> Vec<String> {
    untyped_duplicates(raw)
        .into_iter()
        .filter_map(|p| match p {
            Problem::Duplicate(path) => Some(path),
            Problem::Unknown(_) => None,
        })
        .collect()
}

/// Duplicate keys of a YAML (or JSON) body as go-yaml reports them, in its order:
/// `line 12: key "paused" already set in map` (the line is that of the duplicate's value).
/// Join them with [`yaml_errors`].
pub fn duplicate_fields_yaml(raw: &[u8]) -> Vec<String> {
    yaml::duplicates(raw)
}

/// Every problem of a JSON create or update body, as upstream's strict decoder lists them:
/// unknown and duplicate fields interleaved in document order. A duplicate of an unknown
/// field counts only as unknown. Without a schema, only duplicates.
pub fn json_body_errors(group: &str, version: &str, kind: &str, raw: &[u8]) -> Vec<String> {
    let Some(tree) = json::parse(raw) else {
        return Vec::new();
    };
    let shapes = schema::shapes();
    let root = shapes.kind(group, version, kind).unwrap_or(UNTYPED);
    let mut walker = Walker::new(&shapes.shapes, false, MAX_ERRORS);
    walker.walk(root, &tree, &mut String::new());
    walker.problems.iter().map(problem_text).collect()
}

/// Every problem of a YAML create or update body (`raw`, decoded as `obj`): go-yaml's
/// duplicate report (one error, see [`yaml_errors`]) if any, then the unknown fields of
/// `obj` with keys in byte order.
pub fn yaml_body_errors(
    group: &str,
    version: &str,
    kind: &str,
    raw: &[u8],
    obj: &Value,
) -> Vec<String> {
    let mut out = Vec::new();
    let duplicates = yaml::duplicates(raw);
    if !duplicates.is_empty() {
        out.push(yaml_errors(&duplicates));
    }
    out.extend(
        unknown_in(group, version, kind, obj, true, MAX_ERRORS)
            .iter()
            .map(|p| unknown_field(p)),
    );
    out
}

/// Every problem of a JSON merge patch (`patch`, giving `patched`): duplicates of the patch
/// body, then the unknown fields of the patched object with keys in byte order.
pub fn merge_patch_errors(
    group: &str,
    version: &str,
    kind: &str,
    patch: &[u8],
    patched: &Value,
) -> Vec<String> {
    let mut out: Vec<String> = untyped_duplicates(patch).iter().map(problem_text).collect();
    out.extend(
        unknown_in(group, version, kind, patched, true, MAX_ERRORS)
            .iter()
            .map(|p| unknown_field(p)),
    );
    out
}

/// Every problem of a strategic merge patch (`patch`, giving `patched`): duplicates of the
/// patch body, then the unknown fields of the patched object, sorted. (Upstream's converter
/// writes these paths unquoted: `unknown field "<path>"`.)
pub fn strategic_patch_errors(
    group: &str,
    version: &str,
    kind: &str,
    patch: &[u8],
    patched: &Value,
) -> Vec<String> {
    let mut out: Vec<String> = untyped_duplicates(patch).iter().map(problem_text).collect();
    let mut unknown: Vec<String> = unknown_in(group, version, kind, patched, false, usize::MAX)
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    unknown.sort();
    out.extend(unknown);
    out
}

/// Every problem of a JSON patch (`patch`, giving `patched`): unknown and duplicate fields
/// of the operations (`json patch unknown field "[0].foo"`, `json patch duplicate field
/// "[1].path"`; duplicates inside a `value` count too), then the unknown fields of the
/// patched object with keys in byte order.
pub fn json_patch_errors(
    group: &str,
    version: &str,
    kind: &str,
    patch: &[u8],
    patched: &Value,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(tree) = json::parse(patch) {
        let mut walker = Walker::new(schema::json_patch_shapes(), false, MAX_ERRORS);
        walker.walk(schema::JSON_PATCH, &tree, &mut String::new());
        out.extend(
            walker
                .problems
                .iter()
                .map(|p| format!("json patch {}", problem_text(p))),
        );
    }
    out.extend(
        unknown_in(group, version, kind, patched, true, MAX_ERRORS)
            .iter()
            .map(|p| unknown_field(p)),
    );
    out
}

/// The strict error of a server-side apply body (YAML or JSON; only duplicates count):
/// `error converting YAML to JSON: yaml: unmarshal errors:\n  line 10: key "paused" already
/// set in map`, or `None`. Upstream (v1.32, v1.33) fails Strict with 400 BadRequest
/// `error strict decoding YAML: <this>`; Warn gives [`warnings`] of it.
pub fn apply_patch_error(raw: &[u8]) -> Option<String> {
    let duplicates = yaml::duplicates(raw);
    (!duplicates.is_empty()).then(|| {
        format!(
            "error converting YAML to JSON: {}",
            yaml_errors(&duplicates)
        )
    })
}

/// `unknown field "<path>"`.
pub fn unknown_field(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

/// `duplicate field "<path>"`.
pub fn duplicate_field(path: &str) -> String {
    format!("duplicate field {}", go_quote(path))
}

/// go-yaml's error for duplicate keys ([`duplicate_fields_yaml`]):
/// `yaml: unmarshal errors:\n  line 5: key "name" already set in map\n  line 12: …`.
pub fn yaml_errors(lines: &[String]) -> String {
    format!("yaml: unmarshal errors:\n  {}", lines.join("\n  "))
}

/// The Strict message of a list of problems: `strict decoding error: <a>, <b>`.
pub fn strict_decoding_error(errors: &[String]) -> String {
    format!("strict decoding error: {}", errors.join(", "))
}

/// The 400 message of a create or update body that fails decoding:
/// `Deployment in version "v1" cannot be handled as a Deployment: <detail>`.
pub fn cannot_handle(kind: &str, version: &str, detail: &str) -> String {
    format!(
        "{kind} in version {} cannot be handled as a {kind}: {detail}",
        go_quote(version)
    )
}

/// The warning texts of a list of problems under Warn: one per problem, the YAML duplicate
/// report split into one per line (`line 5: key "name" already set in map`).
pub fn warnings(errors: &[String]) -> Vec<String> {
    const SHORT: &str = "yaml: unmarshal errors:\n";
    const LONG: &str = "error converting YAML to JSON: yaml: unmarshal errors:\n";
    let mut out = Vec::new();
    for error in errors {
        match error
            .strip_prefix(SHORT)
            .or_else(|| error.strip_prefix(LONG))
        {
            Some(rest) => out.extend(rest.split('\n').map(|l| l.trim().to_string())),
            None => out.push(error.clone()),
        }
    }
    out
}

/// The `Warning` header values of a response carrying `texts`, as upstream's recorder writes
/// them: `299 - "<text>"` with `"` and `\` escaped; empty and repeated texts skipped, texts
/// with control characters dropped; past 4096 characters in total, every text is cut to 256
/// characters, and once that budget is spent too the rest are dropped.
pub fn warning_headers(texts: &[String]) -> Vec<String> {
    const TOTAL: usize = 4 * 1024;
    const ITEM: usize = 256;
    let mut headers: Vec<String> = Vec::new();
    let mut ordered: Vec<&str> = Vec::new();
    let mut recorded: HashSet<&str> = HashSet::new();
    let mut written = 0usize;
    let mut truncating = false;
    for text in texts {
        if text.is_empty() || (truncating && written >= TOTAL) || !recorded.insert(text) {
            continue;
        }
        ordered.push(text);
        let mut length = text.chars().count();
        let mut shown: &str = text;
        if truncating && length > ITEM {
            shown = cut(text, ITEM);
            length = ITEM;
        }
        if text.chars().any(char::is_control) {
            continue;
        }
        if written + length <= TOTAL || truncating {
            written += length;
            headers.push(warning_header(shown));
            continue;
        }
        truncating = true;
        written = 0;
        headers.clear();
        for earlier in &ordered {
            if earlier.chars().any(char::is_control) {
                continue;
            }
            let shown = cut(earlier, ITEM);
            written += shown.chars().count();
            headers.push(warning_header(shown));
        }
    }
    headers
}

/// One `Warning` header value: `299 - "<text>"`.
fn warning_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str("299 - \"");
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The first `n` characters of `s`.
fn cut(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// `s` quoted as Go's `strconv.Quote` does: `"` and `\` escaped, control and other
/// non-printable characters as `\n`, `\x1f`, `\u00a0`, ….
pub fn go_quote(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x80 && (c.is_ascii_control()) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_go_printable(c) => out.push(c),
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` beyond ASCII: not a control, separator
/// (other than the ASCII space) or common format character.
fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}'
        ))
}

fn problem_text(problem: &Problem) -> String {
    match problem {
        Problem::Unknown(path) => unknown_field(path),
        Problem::Duplicate(path) => duplicate_field(path),
    }
}

fn unknown_in(
    group: &str,
    version: &str,
    kind: &str,
    obj: &Value,
    sorted: bool,
    limit: usize,
) -> Vec<String> {
    let shapes = schema::shapes();
    let Some(root) = shapes.kind(group, version, kind) else {
        return Vec::new();
    };
    let mut walker = Walker::new(&shapes.shapes, sorted, limit);
    walker.walk(root, &Tree::from_value(obj), &mut String::new());
    walker
        .problems
        .into_iter()
        .filter_map(|p| match p {
            Problem::Unknown(path) => Some(path),
            Problem::Duplicate(_) => None,
        })
        .collect()
}

/// The duplicates of a JSON body decoded without a schema.
fn untyped_duplicates(raw: &[u8]) -> Vec<Problem> {
    let Some(tree) = json::parse(raw) else {
        return Vec::new();
    };
    let mut walker = Walker::new(schema::json_patch_shapes(), false, MAX_ERRORS);
    walker.walk(UNTYPED, &tree, &mut String::new());
    walker.problems
}
