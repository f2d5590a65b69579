//! `NodeName`: a pod with `spec.nodeName` set only fits the node of that name.

use std::sync::Arc;

use serde_json::Value;

use crate::framework::{CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, Status};

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

/// The extension points `NodeName` implements.
pub fn plugin_set() -> PluginSet {
    PluginSet {
        filter: Some(Arc::new(NodeName)),
        ..PluginSet::default()
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let wanted = &state.pod().node_name;
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
            let n = node(name, json!({}), json!({}));
            let got = NodeName.filter(&CycleState::new(&pod), &pod, &n);
            assert_eq!(got.is_ok(), ok, "{pod}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }
}
