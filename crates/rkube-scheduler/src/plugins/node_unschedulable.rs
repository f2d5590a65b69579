//! `NodeUnschedulable`: a cordoned node (`spec.unschedulable`) only takes pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use serde_json::{json, Value};

use super::taint_toleration::tolerates;
use crate::framework::{FilterPlugin, NodeInfo, Plugin, Status};

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

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let cordoned = node.node.pointer("/spec/unschedulable") == Some(&Value::Bool(true));
        let taint = json!({"key": TAINT_NODE_UNSCHEDULABLE, "effect": "NoSchedule"});
        if !cordoned || tolerates(pod, &taint) {
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
            let got = NodeUnschedulable.filter(&pod, &node("n", json!({}), spec.clone()));
            assert_eq!(got.is_ok(), ok, "{pod} {spec}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }
}
