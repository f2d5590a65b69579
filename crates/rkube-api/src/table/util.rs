//! Small helpers shared by the printers: tolerant JSON access, timestamps and human durations
//! (apimachinery `duration.HumanDuration`), label sets and label selectors, container lists.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// The value at `path`, or `None` when any step is missing or the value is `null`.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    if cur.is_null() {
        None
    } else {
        Some(cur)
    }
}

/// The string at `path`, or `None` when missing or not a string.
pub(super) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// The string at `path`, or `""`.
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    opt_str(v, path).unwrap_or("")
}

/// A JSON number as an integer (floats are truncated, as a Go int32/int64 field would hold).
pub(super) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| v.as_f64().map(|f| f as i64))
}

/// The integer at `path`, or `None`.
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(as_int)
}

/// The integer at `path`, or 0.
pub(super) fn int_at(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// The boolean at `path`, or `None`.
pub(super) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// The array at `path`, or an empty slice.
pub(super) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The number of entries of the map (or array) at `path`.
pub(super) fn len_at(v: &Value, path: &[&str]) -> usize {
    match get(v, path) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

/// `metadata.name` as a cell.
pub(super) fn name(obj: &Value) -> Value {
    Value::String(str_at(obj, &["metadata", "name"]).to_string())
}

/// `metadata.creationTimestamp` as an Age cell.
pub(super) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::String(since(time_at(obj, &["metadata", "creationTimestamp"]), now))
}

/// Whether the object has `metadata.deletionTimestamp` set.
pub(super) fn deleting(obj: &Value) -> bool {
    get(obj, &["metadata", "deletionTimestamp"]).is_some()
}

/// Parses an RFC 3339 timestamp (with or without fractional seconds).
pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which upstream treats as "unset".
pub(super) fn is_zero_time(t: &DateTime<Utc>) -> bool {
    t.timestamp() == -62_135_596_800 && t.timestamp_subsec_nanos() == 0
}

/// The timestamp at `path`; `None` when missing, unparsable or zero.
pub(super) fn time_at(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    opt_str(v, path)
        .and_then(parse_time)
        .filter(|t| !is_zero_time(t))
}

/// Upstream `translateTimestampSince`: the human duration since `t`, `<unknown>` when unset.
pub(super) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// apimachinery `duration.HumanDuration`: about two significant figures, e.g. `45s`, `119s`,
/// `2m`, `5m10s`, `3h`, `7h30m`, `2d5h`, `30d`, `3y120d`. Durations below -1s are `<invalid>`.
pub(super) fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// `labels.Set(m).String()`: `k=v` pairs sorted by key, joined by `,`.
pub(super) fn labels_string(map: Option<&Value>) -> String {
    let Some(Value::Object(m)) = map else {
        return String::new();
    };
    let mut pairs: Vec<(&String, String)> = m
        .iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| scalar_string(v)),
            )
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `labels.FormatLabels`: like [`labels_string`], but `<none>` when empty.
pub(super) fn format_labels(map: Option<&Value>) -> String {
    let s = labels_string(map);
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// A scalar JSON value as text (strings unquoted).
pub(super) fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Upstream `layoutContainerCells`: container names and images, each joined by `,`.
pub(super) fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (
        Value::String(names.join(",")),
        Value::String(images.join(",")),
    )
}

/// Upstream `listWithMoreString`: `a,b,c + 2 more...`, or `<unset>` when empty.
pub(super) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        return "<unset>".to_string();
    }
    ret
}

/// A string cell.
pub(super) fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// An integer cell.
pub(super) fn n(v: i64) -> Value {
    Value::from(v)
}

// ---------------------------------------------------------------------------------------------
// Label selectors (metav1.LabelSelectorAsSelector + labels.Selector.String)
// ---------------------------------------------------------------------------------------------

/// One requirement of a parsed selector.
struct Requirement {
    key: String,
    op: &'static str,
    values: Vec<String>,
}

impl Requirement {
    fn render(&self) -> String {
        let mut values = self.values.clone();
        values.sort();
        match self.op {
            "exists" => self.key.clone(),
            "!" => format!("!{}", self.key),
            "=" => format!("{}={}", self.key, values.join(",")),
            "in" => format!("{} in ({})", self.key, values.join(",")),
            _ => format!("{} notin ({})", self.key, values.join(",")),
        }
    }
}

/// The string form of a `LabelSelector` as upstream's `selector.String()`; `Ok("")` for a
/// missing (nothing) or empty (everything) selector, `Err` for an invalid one.
pub(super) fn selector_string(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else {
        return Ok(String::new());
    };
    let Value::Object(_) = sel else {
        return Err(());
    };
    let mut reqs: Vec<Requirement> = Vec::new();
    if let Some(Value::Object(ml)) = get(sel, &["matchLabels"]) {
        for (k, v) in ml {
            let v = v.as_str().ok_or(())?;
            validate_key(k)?;
            validate_value(v)?;
            reqs.push(Requirement {
                key: k.clone(),
                op: "=",
                values: vec![v.to_string()],
            });
        }
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]);
        let values: Vec<String> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or(()))
            .collect::<Result<_, _>>()?;
        let op = match str_at(expr, &["operator"]) {
            "In" => "in",
            "NotIn" => "notin",
            "Exists" => "exists",
            "DoesNotExist" => "!",
            _ => return Err(()),
        };
        validate_key(key)?;
        match op {
            "in" | "notin" if values.is_empty() => return Err(()),
            "exists" | "!" if !values.is_empty() => return Err(()),
            _ => {}
        }
        for v in &values {
            validate_value(v)?;
        }
        reqs.push(Requirement {
            key: key.to_string(),
            op,
            values,
        });
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reqs
        .iter()
        .map(Requirement::render)
        .collect::<Vec<_>>()
        .join(","))
}

/// A label name segment: at most 63 characters, alphanumeric at both ends, `-_.` inside.
fn valid_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain (the optional prefix of a label key).
fn valid_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn validate_key(k: &str) -> Result<(), ()> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => valid_subdomain(prefix) && valid_name_part(name),
        None => valid_name_part(k),
    };
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

fn validate_value(v: &str) -> Result<(), ()> {
    if v.is_empty() || valid_name_part(v) {
        Ok(())
    } else {
        Err(())
    }
}

/// The generated Go `String()` of a `metav1.LabelSelector` (printed by admission policy
/// bindings for a selector `paramRef`), e.g.
/// `&LabelSelector{MatchLabels:map[string]string{a: b,},MatchExpressions:[]LabelSelectorRequirement{},}`.
pub(super) fn go_label_selector_string(sel: &Value) -> String {
    let mut labels: Vec<(String, String)> = match get(sel, &["matchLabels"]) {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), scalar_string(v)))
            .collect(),
        _ => Vec::new(),
    };
    labels.sort();
    let mut ml = String::from("map[string]string{");
    for (k, v) in &labels {
        ml.push_str(&format!("{k}: {v},"));
    }
    ml.push('}');
    let mut me = String::from("[]LabelSelectorRequirement{");
    for e in arr_at(sel, &["matchExpressions"]) {
        let values: Vec<String> = arr_at(e, &["values"]).iter().map(scalar_string).collect();
        me.push_str(&format!(
            "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
            str_at(e, &["key"]),
            str_at(e, &["operator"]),
            values.join(" ")
        ));
    }
    me.push('}');
    format!("&LabelSelector{{MatchLabels:{ml},MatchExpressions:{me},}}")
}
