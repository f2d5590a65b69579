//! `NodeUnschedulable`: a cordoned node (`spec.unschedulable`) only takes pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use serde_json::Value;

use super::taint_toleration::{tolerates, Taint};
use crate::framework::{CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, Status};

/// Upstream's reason.
pub const ERR_REASON: &str = "node(s) were unschedulable";
/// The taint key a pod must tolerate to land on a cordoned node.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// The `NodeUnschedulable` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
}

/// The extension points `NodeUnschedulable` implements.
pub fn plugin_set() -> PluginSet {
    PluginSet {
        filter: Some(Arc::new(NodeUnschedulable)),
        ..PluginSet::default()
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        if !node.unschedulable() {
            return Ok(());
        }
        let taint = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.to_string(),
            value: String::new(),
            effect: "NoSchedule".to_string(),
        };
        if tolerates(&state.pod().tolerations, &taint) {
            Ok(())
        } else {
            Err(Status::unresolvable(ERR_REASON))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::node;
    use serde_json::json;

    #[test]
    fn filter_table() {
        let tol = |t: Value| json!({"spec": {"tolerations": [t]}});
        let cases = [
            (json!({}), json!({}), true),
            (json!({}), json!({"unschedulable": false}), true),
            (json!({}), json!({"unschedulable": true}), false),
            (json!({}), json!({"unschedulable": "true"}), true),
            (
                tol(
                    json!({"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists",
                           "effect": "NoSchedule"}),
                ),
                json!({"unschedulable": true}),
                true,
            ),
            (
                tol(json!({"operator": "Exists"})),
                json!({"unschedulable": true}),
                true,
            ),
            (
                tol(
                    json!({"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists",
                           "effect": "NoExecute"}),
                ),
                json!({"unschedulable": true}),
                false,
            ),
        ];
        for (pod, spec, ok) in cases {
            let n = node("n", json!({}), spec.clone());
            let got = NodeUnschedulable.filter(&CycleState::new(&pod), &pod, &n);
            assert_eq!(got.is_ok(), ok, "{pod} {spec}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }
}
