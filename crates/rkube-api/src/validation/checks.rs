//! Reusable checks with upstream's messages: label maps, annotations, qualified names, port
//! numbers and names, environment variable names, config keys, label selectors, int-or-percent
//! values, IP addresses and paths (upstream `apimachinery/pkg/util/validation`,
//! `apis/meta/v1/validation` and helpers of `pkg/apis/core/validation`).
//!
//! Every function takes the JSON it checks and the field path, and returns the causes; values
//! of the wrong JSON type are skipped (the typed decoding check reports those).

use serde_json::{Map, Value};

use super::field::{child, go_quote, go_string_map, go_string_slice, index, FieldError};
use crate::names;

/// `must be greater than or equal to 0` (upstream `IsNegativeErrorMsg`).
pub const NEGATIVE_MSG: &str = "must be greater than or equal to 0";
/// `field is immutable` (upstream `FieldImmutableErrorMsg`).
pub const IMMUTABLE_MSG: &str = "field is immutable";
/// Upstream's limit on the total size of annotations.
pub const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;

const CONFIG_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_ERR: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const RELAXED_ENV_ERR: &str =
    "a valid environment variable name must consist only of printable ASCII characters other than '='";
const PERCENT_FMT: &str = "[0-9]+%";
const PERCENT_ERR: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";
const HTTP_HEADER_FMT: &str = "[-A-Za-z0-9]+";
const HTTP_HEADER_ERR: &str = "a valid HTTP header must consist of alphanumeric characters or '-'";

/// `must be between lo and hi, inclusive` (upstream `InclusiveRangeError`).
pub fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// The string at `key` of a JSON object, `""` when absent or not a string.
pub fn str_of<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The object at `key`, if it is one.
pub fn obj_of<'a>(obj: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// The list at `key`, empty when absent or not a list.
pub fn list_of<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// True when `key` holds something other than null.
pub fn is_set(obj: &Value, key: &str) -> bool {
    obj.get(key).is_some_and(|v| !v.is_null())
}

/// The integer at `key`, if any.
pub fn int_of(obj: &Value, key: &str) -> Option<i64> {
    obj.get(key).and_then(Value::as_i64)
}

/// The keys of a map in sorted order (Go iterates maps randomly; sorting keeps messages stable).
pub fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys
}

/// `field.Invalid(path, value, msg)` for each message.
pub fn invalid_each(path: &str, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter()
        .map(|m| FieldError::invalid(path, value, &m))
        .collect()
}

/// Upstream `ValidateNonnegativeField`.
pub fn nonnegative(value: i64, path: &str) -> Vec<FieldError> {
    if value < 0 {
        vec![FieldError::invalid(path, value, NEGATIVE_MSG)]
    } else {
        Vec::new()
    }
}

/// Nonnegative check of an optional integer field of `obj`.
pub fn nonnegative_field(obj: &Value, key: &str, path: &str) -> Vec<FieldError> {
    int_of(obj, key)
        .map(|v| nonnegative(v, &child(path, key)))
        .unwrap_or_default()
}

/// Upstream `ValidateDNS1123Label`.
pub fn dns1123_label(value: &str, path: &str) -> Vec<FieldError> {
    invalid_each(path, value, names::is_dns1123_label(value))
}

/// Upstream `ValidateDNS1123Subdomain`.
pub fn dns1123_subdomain(value: &str, path: &str) -> Vec<FieldError> {
    invalid_each(path, value, names::is_dns1123_subdomain(value))
}

/// Upstream `ValidateQualifiedName`.
pub fn qualified_name(value: &str, path: &str) -> Vec<FieldError> {
    invalid_each(path, value, names::is_qualified_name(value))
}

/// Upstream `ValidateLabels`: every key a qualified name, every value a label value; the
/// errors name the map, not the key.
pub fn labels(map: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(Value::Object(map)) = map else {
        return errs;
    };
    for k in sorted_keys(map) {
        errs.extend(qualified_name(k, path));
        if let Some(v) = map[k.as_str()].as_str() {
            errs.extend(invalid_each(path, v, names::is_valid_label_value(v)));
        }
    }
    errs
}

/// Upstream `ValidateAnnotations`: keys are qualified names (case-insensitive) and the total
/// size is at most 256 KiB.
pub fn annotations(map: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(Value::Object(map)) = map else {
        return errs;
    };
    let mut total = 0usize;
    for k in sorted_keys(map) {
        for msg in names::is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), &msg));
        }
        total += k.len() + map[k.as_str()].as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE));
    }
    errs
}

/// Upstream `IsValidPortNum`.
pub fn port_num_errors(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range(1, 65535)]
    }
}

/// Upstream `IsValidPortName` (IANA_SVC_NAME).
pub fn port_name_errors(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(names::max_len_error(15));
    }
    if port.is_empty()
        || !port
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !port.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// Upstream `ValidatePortNumOrName` of an int-or-string port.
pub fn port_num_or_name(port: Option<&Value>, path: &str) -> Vec<FieldError> {
    match port {
        Some(Value::Number(n)) => {
            let v = n.as_i64().unwrap_or(0);
            port_num_errors(v)
                .into_iter()
                .map(|m| FieldError::invalid(path, v, &m))
                .collect()
        }
        Some(Value::String(s)) => invalid_each(path, s, port_name_errors(s)),
        // An absent int-or-string is the integer zero.
        _ => vec![FieldError::invalid(path, 0, &inclusive_range(1, 65535))],
    }
}

fn chdir_prefix_errors(value: &str) -> Vec<String> {
    if value == "." {
        vec!["must not be '.'".into()]
    } else if value == ".." {
        vec!["must not be '..'".into()]
    } else if value.starts_with("..") {
        vec!["must not start with '..'".into()]
    } else {
        Vec::new()
    }
}

/// Upstream `IsConfigMapKey`.
pub fn config_key_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > names::DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(names::max_len_error(names::DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !ok {
        errs.push(names::regex_error(
            CONFIG_KEY_ERR,
            CONFIG_KEY_FMT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errs.extend(chdir_prefix_errors(value));
    errs
}

/// Upstream `IsRelaxedEnvVarName` (the `RelaxedEnvironmentVariableValidation` rule, on by
/// default since 1.32): printable ASCII other than `=`.
pub fn env_var_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push(format!(
            "environment variable name {}",
            names::empty_error()
        ));
    }
    if value
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=')
    {
        errs.push(RELAXED_ENV_ERR.to_string());
    }
    errs
}

/// Upstream `IsHTTPHeaderName`.
pub fn http_header_errors(value: &str) -> Vec<String> {
    let ok = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Vec::new()
    } else {
        vec![names::regex_error(
            HTTP_HEADER_ERR,
            HTTP_HEADER_FMT,
            &["X-Header-Name"],
        )]
    }
}

/// Upstream `IsValidPercent`.
pub fn percent_errors(value: &str) -> Vec<String> {
    let ok = value.len() > 1
        && value.ends_with('%')
        && value[..value.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Vec::new()
    } else {
        vec![names::regex_error(PERCENT_ERR, PERCENT_FMT, &["1%", "93%"])]
    }
}

/// How upstream prints an `intstr.IntOrString` (through its `String()`): bare.
pub fn int_or_string_shown(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// The value of an int-or-percent (upstream `getIntOrPercentValue`): the percentage for a
/// valid percent string, the integer otherwise (0 for other strings).
pub fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) if percent_errors(s).is_empty() => {
            s[..s.len() - 1].parse().unwrap_or(0)
        }
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Upstream `ValidatePositiveIntOrPercent`.
pub fn positive_int_or_percent(v: Option<&Value>, path: &str) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => percent_errors(s)
            .into_iter()
            .map(|m| FieldError::invalid_shown(path, s.clone(), &m))
            .collect(),
        Some(Value::Number(n)) => nonnegative(n.as_i64().unwrap_or(0), path),
        _ => Vec::new(),
    }
}

/// Upstream `IsNotMoreThan100Percent`.
pub fn not_more_than_100_percent(v: Option<&Value>, path: &str) -> Vec<FieldError> {
    if let Some(Value::String(s)) = v {
        if percent_errors(s).is_empty() && int_or_percent_value(v) > 100 {
            return vec![FieldError::invalid_shown(
                path,
                s.clone(),
                "must not be greater than 100%",
            )];
        }
    }
    Vec::new()
}

/// Upstream `IsValidIP` as a field error list.
pub fn valid_ip(value: &str, path: &str) -> Vec<FieldError> {
    if value.parse::<std::net::IpAddr>().is_ok() {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            value,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        )]
    }
}

/// Upstream `validatePathNoBacksteps`.
pub fn no_backsteps(target: &str, path: &str) -> Vec<FieldError> {
    if target.replace('\\', "/").split('/').any(|p| p == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// Upstream `validateLocalDescendingPath`.
pub fn local_descending_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(no_backsteps(target, path));
    errs
}

/// Upstream `ValidateLocalNonReservedPath`.
pub fn local_non_reserved_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
    errs
}

/// Upstream `ValidateLabelSelector` (strict: values must be valid label values).
pub fn label_selector(sel: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return errs;
    };
    errs.extend(labels(sel.get("matchLabels"), &child(path, "matchLabels")));
    for (i, expr) in list_of(sel, "matchExpressions").iter().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let values = list_of(expr, "values");
        match str_of(expr, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        errs.extend(qualified_name(str_of(expr, "key"), &child(&p, "key")));
        for (j, v) in values.iter().enumerate() {
            if let Some(v) = v.as_str() {
                let vp = index(&child(&p, "values"), j);
                errs.extend(invalid_each(&vp, v, names::is_valid_label_value(v)));
            }
        }
    }
    errs
}

/// How upstream prints a `*metav1.LabelSelector` with `%#v`:
/// `v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
pub fn go_label_selector(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|v| v.is_object()) else {
        return "null".to_string();
    };
    let exprs = match sel.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let parts: Vec<String> = list
                .iter()
                .map(|e| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(str_of(e, "key")),
                        go_quote(str_of(e, "operator")),
                        go_string_slice(e.get("values").and_then(Value::as_array))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(obj_of(sel, "matchLabels")),
        exprs
    )
}

/// The result of upstream `LabelSelectorAsSelector` for matching template labels.
pub enum SelectorMatch {
    /// The selector did not convert (bad operator, key or value).
    Error,
    /// An empty selector (matches everything; upstream skips the template check).
    Empty,
    /// A null selector: matches nothing.
    Nothing,
    /// Whether the labels match.
    Matches(bool),
}

/// Converts a `metav1.LabelSelector` and matches it against a label map.
pub fn selector_matches(sel: Option<&Value>, labels: Option<&Map<String, Value>>) -> SelectorMatch {
    let sel = match sel {
        None | Some(Value::Null) => return SelectorMatch::Nothing,
        Some(s) => s,
    };
    match crate::selectors::LabelSelector::from_label_selector_json(sel) {
        Err(_) => SelectorMatch::Error,
        Ok(s) if s.is_empty() => SelectorMatch::Empty,
        Ok(s) => {
            let empty = Map::new();
            SelectorMatch::Matches(s.matches(labels.unwrap_or(&empty)))
        }
    }
}

/// Upstream `ValidateHasLabel`: `Required value: must be 'v'` when missing, `Invalid value:
/// map…: must be 'v'` when different.
pub fn has_label(
    meta: Option<&Value>,
    meta_path: &str,
    k: &str,
    expected: &str,
) -> Vec<FieldError> {
    let labels = meta.and_then(|m| obj_of(m, "labels"));
    let path = super::field::key(&child(meta_path, "labels"), k);
    match labels.and_then(|l| l.get(k)).and_then(Value::as_str) {
        None => vec![FieldError::required(path, &format!("must be '{expected}'"))],
        Some(v) if v != expected => vec![FieldError::invalid_shown(
            path,
            go_string_map(labels),
            &format!("must be '{expected}'"),
        )],
        Some(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn label_map_errors_name_the_map() {
        let got = strings(labels(
            Some(&json!({"app": "-x", "bad key": "ok"})),
            "metadata.labels",
        ));
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with(
            "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string"
        ));
        assert!(got[1]
            .starts_with("metadata.labels: Invalid value: \"bad key\": name part must consist of"));
    }

    #[test]
    fn port_names_and_numbers() {
        assert!(port_name_errors("http").is_empty());
        assert_eq!(
            port_name_errors("Http"),
            vec!["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"]
        );
        assert_eq!(
            port_name_errors("1234"),
            vec!["must contain at least one letter (a-z)"]
        );
        assert_eq!(
            port_name_errors("a--b-"),
            vec![
                "must not contain consecutive hyphens",
                "must not begin or end with a hyphen"
            ]
        );
        assert_eq!(
            port_num_errors(0),
            vec!["must be between 1 and 65535, inclusive"]
        );
    }

    #[test]
    fn config_keys_and_env_names() {
        assert!(config_key_errors("a.b_C-1").is_empty());
        assert_eq!(
            config_key_errors("a b"),
            vec!["a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
        );
        assert_eq!(config_key_errors(".."), vec!["must not be '..'"]);
        assert!(env_var_name_errors("1A.b-c").is_empty());
        assert_eq!(env_var_name_errors("A=B"), vec![RELAXED_ENV_ERR]);
    }

    #[test]
    fn label_selector_rendering_and_matching() {
        let sel = json!({"matchLabels": {"app": "x"}});
        assert_eq!(
            go_label_selector(Some(&sel)),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        let labels = json!({"app": "x", "tier": "web"});
        assert!(matches!(
            selector_matches(Some(&sel), labels.as_object()),
            SelectorMatch::Matches(true)
        ));
        assert!(matches!(
            selector_matches(None, None),
            SelectorMatch::Nothing
        ));
        assert!(matches!(
            selector_matches(Some(&json!({})), None),
            SelectorMatch::Empty
        ));
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]});
        assert_eq!(
            strings(label_selector(Some(&bad), "spec.selector")),
            vec!["spec.selector.matchExpressions[0].operator: Invalid value: \"Foo\": not a valid selector operator"]
        );
    }

    #[test]
    fn percents() {
        assert_eq!(int_or_percent_value(Some(&json!("25%"))), 25);
        assert_eq!(int_or_percent_value(Some(&json!(3))), 3);
        assert_eq!(
            strings(positive_int_or_percent(Some(&json!("abc")), "x")),
            vec!["x: Invalid value: abc: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"]
        );
    }
}
