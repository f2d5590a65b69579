//! Helpers over objects as `serde_json::Value`: reading and setting common metadata, dotted
//! path lookup, timestamps in the Kubernetes wire format, and ages printed as kubectl prints
//! them (upstream `duration.HumanDuration`).
//!
//! Nothing here panics on malformed input: missing or mistyped fields read as absent.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

/// `metadata` of an object, if it is a JSON object.
pub fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

/// `metadata` of an object for writing, created (or replaced, if it is not an object) when
/// needed. `None` when `obj` itself is not a JSON object.
pub fn meta_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let entry = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj)?.get(key)?.as_str()
}

/// `metadata.name`.
pub fn name(obj: &Value) -> Option<&str> {
    meta_str(obj, "name")
}

/// `metadata.namespace`.
pub fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace")
}

/// `metadata.generateName`.
pub fn generate_name(obj: &Value) -> Option<&str> {
    meta_str(obj, "generateName")
}

/// `metadata.uid`.
pub fn uid(obj: &Value) -> Option<&str> {
    meta_str(obj, "uid")
}

/// `metadata.resourceVersion` (a string on the wire).
pub fn resource_version(obj: &Value) -> Option<&str> {
    meta_str(obj, "resourceVersion")
}

/// Sets `metadata.resourceVersion` to the decimal text of `rv`, creating `metadata` if needed.
/// Does nothing when `obj` is not a JSON object.
pub fn set_resource_version(obj: &mut Value, rv: i64) {
    if let Some(meta) = meta_mut(obj) {
        meta.insert("resourceVersion".to_string(), Value::String(rv.to_string()));
    }
}

/// `metadata.generation`.
pub fn generation(obj: &Value) -> Option<i64> {
    meta(obj)?.get("generation")?.as_i64()
}

/// `kind`.
pub fn kind(obj: &Value) -> Option<&str> {
    obj.get("kind")?.as_str()
}

/// `apiVersion`.
pub fn api_version(obj: &Value) -> Option<&str> {
    obj.get("apiVersion")?.as_str()
}

fn meta_map(obj: &Value, key: &str) -> Map<String, Value> {
    meta(obj)
        .and_then(|m| m.get(key))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `metadata.labels`, empty when absent.
pub fn labels(obj: &Value) -> Map<String, Value> {
    meta_map(obj, "labels")
}

/// `metadata.annotations`, empty when absent.
pub fn annotations(obj: &Value) -> Map<String, Value> {
    meta_map(obj, "annotations")
}

/// `metadata.creationTimestamp`, parsed.
pub fn creation_timestamp(obj: &Value) -> Option<DateTime<Utc>> {
    parse_time(meta_str(obj, "creationTimestamp")?)
}

/// `metadata.deletionTimestamp`, parsed.
pub fn deletion_timestamp(obj: &Value) -> Option<DateTime<Utc>> {
    parse_time(meta_str(obj, "deletionTimestamp")?)
}

/// `metadata.finalizers` (non-string entries are skipped), empty when absent.
pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The value at a dotted path such as `"spec.template.metadata"`. A segment that is a number
/// indexes an array (`"status.podIPs.0.ip"`). An empty path is the object itself. Keys that
/// contain dots cannot be addressed this way; use `Value::pointer` for those.
pub fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(obj);
    }
    path.split('.').try_fold(obj, |cur, seg| match cur {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => items.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Parses an RFC 3339 timestamp (`metav1.Time` and `metav1.MicroTime` on the wire).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats a `metav1.Time`: RFC 3339 in UTC with whole seconds (`2006-01-02T15:04:05Z`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats a `metav1.MicroTime`: RFC 3339 in UTC with microseconds
/// (`2006-01-02T15:04:05.000000Z`).
pub fn format_micro_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A duration as kubectl prints ages (upstream `duration.HumanDuration`): about two or three
/// significant figures, e.g. `59s`, `5m10s`, `3h`, `2d5h`, `45d`, `3y120d`. Up to one second
/// in the future reads as `0s` (clock skew); further in the future is `<invalid>`.
pub fn human_duration(d: TimeDelta) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        let dy = days % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{years}y")
}

/// The age of something created at `created`, as seen at `now` (see [`human_duration`]).
pub fn format_age(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
    human_duration(now.signed_duration_since(created))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_duration_table() {
        let s = |n: i64| TimeDelta::seconds(n);
        let m = |n: i64| TimeDelta::minutes(n);
        let h = |n: i64| TimeDelta::hours(n);
        let d = |n: i64| TimeDelta::days(n);
        let cases: &[(TimeDelta, &str)] = &[
            (s(-3), "<invalid>"),
            (s(-2), "<invalid>"),
            (s(-1), "0s"),
            (TimeDelta::milliseconds(-1500), "0s"),
            (s(0), "0s"),
            (TimeDelta::milliseconds(999), "0s"),
            (s(1), "1s"),
            (s(59), "59s"),
            (s(119), "119s"),
            (s(120), "2m"),
            (s(121), "2m1s"),
            (s(310), "5m10s"),
            (m(9) + s(59), "9m59s"),
            (m(10), "10m"),
            (m(10) + s(30), "10m"),
            (m(179), "179m"),
            (m(180), "3h"),
            (h(3) + m(5), "3h5m"),
            (h(7) + m(59), "7h59m"),
            (h(8), "8h"),
            (h(8) + m(30), "8h"),
            (h(47), "47h"),
            (h(48), "2d"),
            (d(2) + h(5), "2d5h"),
            (d(7) + h(23), "7d23h"),
            (d(8), "8d"),
            (d(8) + h(5), "8d"),
            (d(45), "45d"),
            (d(729), "729d"),
            (d(730), "2y"),
            (d(3 * 365 + 120), "3y120d"),
            (d(7 * 365 + 364), "7y364d"),
            (d(8 * 365), "8y"),
            (d(10 * 365 + 100), "10y"),
        ];
        for (delta, want) in cases {
            assert_eq!(human_duration(*delta), *want, "{delta:?}");
        }
    }

    #[test]
    fn age_from_timestamps() {
        let created = parse_time("2024-01-01T00:00:00Z").expect("parse");
        let now = parse_time("2024-01-03T05:00:10Z").expect("parse");
        assert_eq!(format_age(created, now), "2d5h");
        assert_eq!(format_age(now, created), "<invalid>");
    }

    #[test]
    fn time_parsing_and_formatting() {
        let t = parse_time("2024-05-06T07:08:09Z").expect("utc");
        assert_eq!(format_time(t), "2024-05-06T07:08:09Z");
        let t = parse_time("2024-05-06T09:08:09+02:00").expect("offset");
        assert_eq!(format_time(t), "2024-05-06T07:08:09Z");
        let t = parse_time("2024-05-06T07:08:09.123456Z").expect("micro");
        assert_eq!(format_micro_time(t), "2024-05-06T07:08:09.123456Z");
        assert_eq!(format_time(t), "2024-05-06T07:08:09Z");
        for bad in ["", "yesterday", "2024-05-06", "2024-05-06 07:08:09"] {
            assert!(parse_time(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_accessors() {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "u-1",
                "resourceVersion": "42",
                "generation": 3,
                "labels": {"app": "web"},
                "annotations": {"a": "b"},
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "deletionTimestamp": "2024-01-02T00:00:00Z",
                "finalizers": ["x", 1, "y"]
            },
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}
        });
        assert_eq!(name(&obj), Some("web"));
        assert_eq!(namespace(&obj), Some("default"));
        assert_eq!(uid(&obj), Some("u-1"));
        assert_eq!(resource_version(&obj), Some("42"));
        assert_eq!(generation(&obj), Some(3));
        assert_eq!(kind(&obj), Some("Pod"));
        assert_eq!(api_version(&obj), Some("v1"));
        assert_eq!(labels(&obj).get("app"), Some(&json!("web")));
        assert_eq!(annotations(&obj).len(), 1);
        assert_eq!(
            creation_timestamp(&obj).map(format_time).as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert!(deletion_timestamp(&obj).is_some());
        assert_eq!(finalizers(&obj), ["x", "y"]);
        assert_eq!(
            get_path(&obj, "spec.containers.0.ports.0.containerPort"),
            Some(&json!(80))
        );
        assert_eq!(get_path(&obj, "spec.containers.1"), None);
        assert_eq!(get_path(&obj, "spec.containers.x"), None);
        assert_eq!(get_path(&obj, "metadata.name.x"), None);
        assert_eq!(get_path(&obj, ""), Some(&obj));
    }

    #[test]
    fn malformed_objects_read_as_absent() {
        for obj in [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({}),
            json!({"metadata": 5}),
            json!({"metadata": {"labels": [1], "finalizers": "x", "name": 3}}),
        ] {
            assert_eq!(name(&obj), None);
            assert_eq!(namespace(&obj), None);
            assert!(labels(&obj).is_empty());
            assert!(finalizers(&obj).is_empty());
            assert_eq!(creation_timestamp(&obj), None);
            assert_eq!(resource_version(&obj), None);
        }
    }

    #[test]
    fn set_resource_version_creates_metadata() {
        let mut obj = json!({"kind": "ConfigMap"});
        set_resource_version(&mut obj, 7);
        assert_eq!(resource_version(&obj), Some("7"));
        let mut obj = json!({"metadata": "bogus"});
        set_resource_version(&mut obj, 8);
        assert_eq!(resource_version(&obj), Some("8"));
        let mut obj = json!([1, 2]);
        set_resource_version(&mut obj, 9);
        assert_eq!(obj, json!([1, 2]));
    }
}
