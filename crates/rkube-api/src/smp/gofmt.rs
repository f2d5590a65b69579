//! Go's `fmt` rendering of decoded JSON values (`map[string]interface{}`, `[]interface{}`,
//! `string`, `int64`, `float64`, `bool`, `nil`), so that error messages read as upstream's.
//!
//! Maps print as `map[k1:v1 k2:v2]` with sorted keys, lists as `[a b]`, strings unquoted,
//! `nil` as `<nil>`. Under `%s` a non-string scalar prints as `%!s(int64=1)`.

use serde_json::{Map, Value};

/// Go's type name of a decoded JSON value (`reflect.TypeOf(v).String()`; a nil type under
/// `%s` prints as `%!s(<nil>)`).
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `fmt.Sprintf("%v", value)`.
#[cfg(test)]
pub(crate) fn v(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, false);
    out
}

/// `fmt.Sprintf("%v", map)`.
pub(crate) fn v_map(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_map(&mut out, map, false);
    out
}

/// `fmt.Sprintf("%v", list)`.
pub(crate) fn v_list(list: &[Value]) -> String {
    let mut out = String::new();
    write_list(&mut out, list, false);
    out
}

/// `fmt.Sprintf("%s", value)`.
pub(crate) fn s(value: &Value) -> String {
    let mut out = String::new();
    write(&mut out, value, true);
    out
}

fn write(out: &mut String, value: &Value, verb_s: bool) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(list) => write_list(out, list, verb_s),
        Value::Object(map) => write_map(out, map, verb_s),
        scalar if verb_s => {
            if scalar.is_null() {
                out.push_str("%!s(<nil>)");
            } else {
                out.push_str("%!s(");
                out.push_str(type_name(scalar));
                out.push('=');
                write(out, scalar, false);
                out.push(')');
            }
        }
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(f)) => out.push_str(&float(f)),
            (None, None) => out.push_str(&n.to_string()),
        },
    }
}

fn write_list(out: &mut String, list: &[Value], verb_s: bool) {
    out.push('[');
    for (i, item) in list.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write(out, item, verb_s);
    }
    out.push(']');
}

fn write_map(out: &mut String, map: &Map<String, Value>, verb_s: bool) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("map[");
    for (i, (k, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        write(out, item, verb_s);
    }
    out.push(']');
}

/// A float64 under `%v`: the shortest representation, in exponent form (`1e+06`) when the
/// decimal exponent is below -4 or at least 6.
fn float(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_rendering() {
        assert_eq!(
            v(&json!({"name": "x", "$patch": "bogus", "n": 1, "l": [1, "a", null, true]})),
            "map[$patch:bogus l:[1 a <nil> true] n:1 name:x]"
        );
        assert_eq!(s(&json!(1)), "%!s(int64=1)");
        assert_eq!(s(&json!(null)), "%!s(<nil>)");
        assert_eq!(s(&json!({"a": false})), "map[a:%!s(bool=false)]");
        assert_eq!(v(&json!(1.5)), "1.5");
        assert_eq!(v(&json!(1000000.0)), "1e+06");
        assert_eq!(v(&json!(123456.0)), "123456");
        assert_eq!(v(&json!(0.00001)), "1e-05");
        assert_eq!(type_name(&json!([])), "[]interface {}");
    }
}
