//! `NodeName`: a pod with `spec.nodeName` set only fits the node of that name.

use serde_json::Value;

use super::string;
use crate::framework::{FilterPlugin, NodeInfo, Plugin, Status};

/// Upstream's reason.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// The `NodeName` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let wanted = string(pod, "/spec/nodeName");
        if wanted.is_empty() || wanted == node.name() {
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
        let cases = [
            (json!({"spec": {}}), "a", true),
            (json!({"spec": {"nodeName": "a"}}), "a", true),
            (json!({"spec": {"nodeName": "b"}}), "a", false),
            (json!({"spec": {"nodeName": 3}}), "a", true),
            (json!(null), "a", true),
        ];
        for (pod, name, ok) in cases {
            let got = NodeName.filter(&pod, &node(name, json!({}), json!({})));
            assert_eq!(got.is_ok(), ok, "{pod}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }
}
