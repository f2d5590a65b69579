//! Field errors with the wording of upstream `k8s.io/apimachinery/pkg/util/validation/field`.
//!
//! A [`FieldError`] is one cause of a 422 Invalid response. Its [`FieldError::message`] is the
//! text upstream puts in `details.causes[].message` (`Required value`,
//! `Invalid value: "Bad_Name": a lowercase RFC 1123 label …`, `Unsupported value: "x":
//! supported values: "a", "b"`), and its `Display` is `<field>: <message>`, the form upstream
//! joins into the Status message.
//!
//! Upstream prints the offending value with Go's `fmt`: strings quoted (`%q`), numbers and
//! booleans bare, `fmt.Stringer`s (quantities, int-or-strings) through `String()`, and other
//! values with `%#v` (`map[string]string{"app":"x"}`, `[]string{"a", "b"}`). The JSON value is
//! rendered by those rules; values whose Go type cannot be guessed from JSON (structs,
//! `Stringer`s) carry their rendering in [`FieldError::shown`].

use std::fmt;

use serde_json::{Map, Value};

/// The kind of a field error (upstream `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// A referenced value does not exist (`Not found: "x"`).
    NotFound,
    /// A required value is missing (`Required value`).
    Required,
    /// A value that must be unique is repeated (`Duplicate value: "c"`).
    Duplicate,
    /// A malformed or out-of-range value (`Invalid value: 70000: must be between …`).
    Invalid,
    /// A value outside an enumeration (`Unsupported value: "x": supported values: …`).
    NotSupported,
    /// A value not allowed in this context (`Forbidden: field is immutable …`).
    Forbidden,
    /// A value that is too long (`Too long: must have at most N bytes`).
    TooLong,
    /// A list with too many items (`Too many: 21: must have at most 20 items`).
    TooMany,
    /// An internal failure (`Internal error: …`).
    Internal,
}

impl ErrorType {
    /// The `reason` of a Status cause (`FieldValueRequired`, `FieldValueInvalid`, …).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
        }
    }

    /// The words that start the message (`Required value`, `Invalid value`, …).
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
        }
    }
}

/// One validation failure of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: ErrorType,
    /// The field path, as upstream prints it (`spec.template.spec.containers[0].name`,
    /// `metadata.labels`, `data[key]`); empty for the whole object.
    pub field: String,
    /// The offending value; `None` when upstream omits it from the message.
    pub value: Option<Value>,
    /// The explanation after the value (may be empty).
    pub detail: String,
    /// How upstream prints the value when the JSON rendering cannot match it (Go structs such
    /// as `v1.LabelSelector{…}`, or `Stringer`s printed bare); overrides `value` in messages.
    pub shown: Option<String>,
}

impl FieldError {
    fn new(kind: ErrorType, field: impl Into<String>, value: Option<Value>, detail: &str) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.to_string(),
            shown: None,
        }
    }

    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    /// `field.Invalid` with a JSON value rendered by Go's rules.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: &str) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value.into()), detail)
    }

    /// `field.Invalid` whose value upstream prints as `shown` (a Go struct or `Stringer`).
    pub fn invalid_shown(field: impl Into<String>, shown: String, detail: &str) -> Self {
        let mut e = Self::new(ErrorType::Invalid, field, None, detail);
        e.shown = Some(shown);
        e
    }

    /// `field.Invalid` with `field.OmitValueType{}`: no value in the message.
    pub fn invalid_omit(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Invalid, field, None, detail)
    }

    /// `field.NotSupported`: `supported values: "a", "b"` (in the order given).
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, Some(value.into()), &detail)
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(value.into()), "")
    }

    /// `field.NotFound`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::NotFound, field, Some(value.into()), "")
    }

    /// `field.TooLong`: `must have at most N bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            None,
            &format!("must have at most {max} bytes"),
        )
    }

    /// `field.TooMany`: `Too many: N: must have at most M items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            Some(Value::from(actual)),
            &format!("must have at most {max} items"),
        )
    }

    /// `field.InternalError`.
    pub fn internal(field: impl Into<String>, detail: &str) -> Self {
        Self::new(ErrorType::Internal, field, None, detail)
    }

    /// The Status cause reason (`FieldValueInvalid`, …).
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The cause message, as upstream `ErrorBody()` prints it.
    pub fn message(&self) -> String {
        let mut s = String::from(self.kind.text());
        let with_value = !matches!(
            self.kind,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal
        );
        if with_value {
            if let Some(shown) = &self.shown {
                s.push_str(": ");
                s.push_str(shown);
            } else if let Some(v) = &self.value {
                s.push_str(": ");
                s.push_str(&go_value(v));
            }
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    /// `<field>: <message>`, upstream's `Error()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// Removes causes whose text repeats an earlier one, as upstream's `ToAggregate` does for the
/// Status message.
pub fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut seen = std::collections::HashSet::new();
    errs.into_iter()
        .filter(|e| seen.insert(e.to_string()))
        .collect()
}

/// `<parent>.<name>` (or `<name>` at the root), upstream `Path.Child`.
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// `<parent>[i]`, upstream `Path.Index`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// `<parent>[key]`, upstream `Path.Key`.
pub fn key(parent: &str, k: &str) -> String {
    format!("{parent}[{k}]")
}

pub use crate::fieldcheck::go_quote;

/// A JSON value printed as upstream prints the Go value it decodes to: strings quoted, numbers
/// and booleans bare, string maps as `map[string]string{"k":"v"}` (keys sorted), string and
/// integer lists as `[]string{"a", "b"}` / `[]int32{1, 2}`; anything else as compact JSON.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Object(map) if map.values().all(Value::is_string) => go_string_map(Some(map)),
        Value::Array(items) if items.iter().all(Value::is_string) && !items.is_empty() => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
        Value::Array(items) if items.iter().all(Value::is_i64) && !items.is_empty() => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[]int32{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// `%#v` of a `map[string]string`: `map[string]string(nil)` when absent.
pub fn go_string_map(map: Option<&Map<String, Value>>) -> String {
    let Some(map) = map else {
        return "map[string]string(nil)".to_string();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let v = match &map[k.as_str()] {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            };
            format!("{}:{}", go_quote(k), v)
        })
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// `%#v` of a `[]string`: `[]string(nil)` when absent or empty-and-absent.
pub fn go_string_slice(items: Option<&Vec<Value>>) -> String {
    match items {
        None => "[]string(nil)".to_string(),
        Some(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => go_quote(s),
                    other => go_quote(&other.to_string()),
                })
                .collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_follow_upstream_error_body() {
        let cases: Vec<(FieldError, &str)> = vec![
            (FieldError::required("spec.containers", ""), "spec.containers: Required value"),
            (
                FieldError::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
            ),
            (
                FieldError::invalid("spec.ports[0].port", 70000, "must be between 1 and 65535, inclusive"),
                "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ),
            (
                FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (
                FieldError::duplicate("spec.containers[1].name", "c"),
                "spec.containers[1].name: Duplicate value: \"c\"",
            ),
            (
                FieldError::not_found("spec.containers[0].volumeMounts[0].name", "x"),
                "spec.containers[0].volumeMounts[0].name: Not found: \"x\"",
            ),
            (
                FieldError::forbidden("data", "field is immutable when `immutable` is set"),
                "data: Forbidden: field is immutable when `immutable` is set",
            ),
            (FieldError::too_long("", 1048576), ": Too long: must have at most 1048576 bytes"),
            (
                FieldError::invalid("spec.template.metadata.labels", json!({"b": "2", "a": "1"}), "x"),
                "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: x",
            ),
            (
                FieldError::invalid("x", json!(["a", "b"]), "y"),
                "x: Invalid value: []string{\"a\", \"b\"}: y",
            ),
            (FieldError::invalid_omit("x", "y"), "x: Invalid value: y"),
            (FieldError::too_many("r", 21, 20), "r: Too many: 21: must have at most 20 items"),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
        assert_eq!(FieldError::required("a", "").reason(), "FieldValueRequired");
        assert_eq!(
            FieldError::not_found("a", "b").reason(),
            "FieldValueNotFound"
        );
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{1}é"), "\"\\x01é\"");
        assert_eq!(go_string_map(None), "map[string]string(nil)");
    }

    #[test]
    fn dedup_keeps_first() {
        let errs = vec![
            FieldError::required("a", ""),
            FieldError::required("a", ""),
            FieldError::required("b", ""),
        ];
        assert_eq!(dedup(errs).len(), 2);
    }
}
