//! Conversion between versions that share storage. Objects are stored in one version (the
//! storage version, as upstream does) and converted on the way in and out:
//! - events: stored as core/v1 Event; `events.k8s.io/v1` reads and writes convert field names
//!   (`regarding` ⇄ `involvedObject`, `note` ⇄ `message`, `deprecated*` ⇄ the old fields, …);
//! - horizontalpodautoscalers: stored as autoscaling/v2; autoscaling/v1's
//!   `targetCPUUtilizationPercentage` maps to a CPU utilization metric.

use crate::ResourceInfo;
use serde_json::{json, Value};

/// (events.k8s.io/v1 name, core/v1 name)
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(obj: &mut Value, pairs: &[(&str, &str)], forward: bool) {
    let Some(o) = obj.as_object_mut() else { return };
    for (a, b) in pairs {
        let (from, to) = if forward { (a, b) } else { (b, a) };
        if let Some(v) = o.remove(*from) {
            o.insert(to.to_string(), v);
        }
    }
}

fn is_events_k8s_io(info: &ResourceInfo) -> bool {
    info.group == "events.k8s.io" && info.plural == "events"
}

fn is_hpa_v1(info: &ResourceInfo) -> bool {
    info.group == "autoscaling" && info.version == "v1" && info.plural == "horizontalpodautoscalers"
}

/// Convert an object written through `info`'s endpoint into the storage version.
pub fn to_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if is_events_k8s_io(info) {
        rename(&mut obj, EVENT_FIELDS, true);
        obj["apiVersion"] = json!("v1");
    } else if is_hpa_v1(info) {
        hpa_v1_to_v2(&mut obj);
        obj["apiVersion"] = json!("autoscaling/v2");
    }
    obj
}

/// Convert a stored object into `info`'s version (apiVersion and kind are set by the caller).
pub fn from_storage(info: &ResourceInfo, mut obj: Value) -> Value {
    if is_events_k8s_io(info) {
        rename(&mut obj, EVENT_FIELDS, false);
    } else if is_hpa_v1(info) {
        hpa_v2_to_v1(&mut obj);
    }
    obj
}

/// Whether reads through `info` need a conversion.
pub fn needs_conversion(info: &ResourceInfo) -> bool {
    is_events_k8s_io(info) || is_hpa_v1(info)
}

fn cpu_utilization(metric: &Value, target: bool) -> Option<Value> {
    if metric.get("type")?.as_str()? != "Resource" {
        return None;
    }
    let r = metric.get("resource")?;
    if r.get("name")?.as_str()? != "cpu" {
        return None;
    }
    if target {
        let t = r.get("target")?;
        (t.get("type")?.as_str()? == "Utilization")
            .then(|| t.get("averageUtilization").cloned())
            .flatten()
    } else {
        r.pointer("/current/averageUtilization").cloned()
    }
}

fn hpa_v1_to_v2(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(|s| s.as_object_mut()) {
        if let Some(t) = spec.remove("targetCPUUtilizationPercentage") {
            spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": t}}}]),
            );
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(|s| s.as_object_mut()) {
        if let Some(c) = status.remove("currentCPUUtilizationPercentage") {
            status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": c}}}]),
            );
        }
    }
}

fn hpa_v2_to_v1(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec").and_then(|s| s.as_object_mut()) {
        let target = spec
            .get("metrics")
            .and_then(|m| m.as_array())
            .and_then(|m| m.iter().find_map(|x| cpu_utilization(x, true)));
        spec.remove("metrics");
        spec.remove("behavior");
        if let Some(t) = target {
            spec.insert("targetCPUUtilizationPercentage".into(), t);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(|s| s.as_object_mut()) {
        let cur = status
            .get("currentMetrics")
            .and_then(|m| m.as_array())
            .and_then(|m| m.iter().find_map(|x| cpu_utilization(x, false)));
        status.remove("currentMetrics");
        status.remove("conditions");
        if let Some(c) = cur {
            status.insert("currentCPUUtilizationPercentage".into(), c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup;

    #[test]
    fn events_round_trip() {
        let ev = lookup("events.k8s.io", "v1", "events").unwrap();
        let new_style = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "reason": "Started", "reportingController": "kubelet", "deprecatedCount": 2});
        let stored = to_storage(ev, new_style.clone());
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "hi");
        assert_eq!(stored["reportingComponent"], "kubelet");
        assert_eq!(stored["count"], 2);
        assert!(stored.get("note").is_none());
        let mut back = from_storage(ev, stored);
        back["apiVersion"] = json!("events.k8s.io/v1");
        assert_eq!(back, new_style);
        let core = lookup("", "v1", "events").unwrap();
        assert!(!needs_conversion(core));
    }

    #[test]
    fn hpa_v1_v2() {
        let v1 = lookup("autoscaling", "v1", "horizontalpodautoscalers").unwrap();
        let obj = json!({"spec": {"maxReplicas": 5, "targetCPUUtilizationPercentage": 80}, "status": {"currentCPUUtilizationPercentage": 40, "currentReplicas": 1}});
        let stored = to_storage(v1, obj);
        assert_eq!(
            stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert_eq!(
            stored["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            40
        );
        let back = from_storage(v1, stored);
        assert_eq!(back["spec"]["targetCPUUtilizationPercentage"], 80);
        assert_eq!(back["status"]["currentCPUUtilizationPercentage"], 40);
        assert_eq!(back["status"]["currentReplicas"], 1);
        assert!(back["spec"].get("metrics").is_none());
    }
}
