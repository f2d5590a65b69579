//! Scheduler plugins, one module each, named as upstream's (`NodeName` → [`node_name`]).
//! Each implements the extension points upstream's does, exposes a `plugin_set` constructor
//! for the registry in [`crate::config`], and carries its own data-driven tests; [`helper`]
//! holds the label-selector and affinity-term parsing they share.

pub mod helper;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_balanced_allocation;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;

use serde_json::Value;

/// The array at `pointer`, empty when missing or not an array.
pub(crate) fn array<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The string at `pointer`, empty when missing or not a string.
pub(crate) fn string<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod testutil {
    use serde_json::{json, Value};

    use crate::framework::NodeInfo;

    /// A node named `name` with `labels`, `spec`, and 4 cpu / 8Gi / 110 pods allocatable.
    pub fn node(name: &str, labels: Value, spec: Value) -> NodeInfo {
        NodeInfo::new(
            json!({"metadata": {"name": name, "labels": labels}, "spec": spec,
                   "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
            vec![],
        )
    }
}
