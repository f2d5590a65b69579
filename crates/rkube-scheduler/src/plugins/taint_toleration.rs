//! `TaintToleration`: Filter rejects nodes with a `NoSchedule` or `NoExecute` taint the pod
//! does not tolerate; Score prefers nodes with fewer untolerated `PreferNoSchedule` taints.
//! [`tolerates`] holds upstream's toleration matching, shared with `NodeUnschedulable`.

use serde_json::Value;

use super::{array, string};
use crate::framework::{FilterPlugin, NodeInfo, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};

/// The `TaintToleration` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
}

/// Does `toleration` tolerate `taint`? Effects must match unless the toleration's is empty; keys
/// must match unless the toleration has an empty key with `Exists`; `Equal` (or no operator)
/// also compares values.
pub fn toleration_matches(toleration: &Value, taint: &Value) -> bool {
    let effect = string(toleration, "/effect");
    if !effect.is_empty() && effect != string(taint, "/effect") {
        return false;
    }
    let key = string(toleration, "/key");
    let op = string(toleration, "/operator");
    if key != string(taint, "/key") && !(key.is_empty() && op == "Exists") {
        return false;
    }
    match op {
        "Exists" => true,
        "" | "Equal" => string(toleration, "/value") == string(taint, "/value"),
        _ => false,
    }
}

/// Does any of the pod's tolerations tolerate `taint`?
pub fn tolerates(pod: &Value, taint: &Value) -> bool {
    array(pod, "/spec/tolerations")
        .iter()
        .any(|t| toleration_matches(t, taint))
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let untolerated = array(&node.node, "/spec/taints").iter().find(|t| {
            matches!(string(t, "/effect"), "NoSchedule" | "NoExecute") && !tolerates(pod, t)
        });
        match untolerated {
            None => Ok(()),
            Some(t) => Err(Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                string(t, "/key"),
                string(t, "/value")
            ))),
        }
    }
}

impl ScorePlugin for TaintToleration {
    /// The number of `PreferNoSchedule` taints not tolerated by a toleration whose effect is
    /// empty or `PreferNoSchedule`.
    fn score(&self, pod: &Value, node: &NodeInfo) -> i64 {
        let tolerations: Vec<&Value> = array(pod, "/spec/tolerations")
            .iter()
            .filter(|t| matches!(string(t, "/effect"), "" | "PreferNoSchedule"))
            .collect();
        let count = array(&node.node, "/spec/taints")
            .iter()
            .filter(|t| string(t, "/effect") == "PreferNoSchedule")
            .filter(|t| !tolerations.iter().any(|tol| toleration_matches(tol, t)))
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// Fewer untolerated taints score higher: `100 - 100 * count / max`.
    fn normalize(&self, _pod: &Value, scores: &mut [i64]) {
        normalize_reverse(scores);
    }
}

fn normalize_reverse(scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores.iter_mut() {
        *s = if max <= 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE - MAX_NODE_SCORE.saturating_mul(*s) / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::node;
    use serde_json::json;

    #[test]
    fn toleration_matches_table() {
        let taint = json!({"key": "k", "value": "v", "effect": "NoSchedule"});
        let cases = [
            (
                json!({"key": "k", "value": "v", "effect": "NoSchedule"}),
                true,
            ),
            (json!({"key": "k", "operator": "Equal", "value": "v"}), true),
            (
                json!({"key": "k", "operator": "Equal", "value": "w"}),
                false,
            ),
            (json!({"key": "k", "operator": "Exists"}), true),
            (
                json!({"key": "k", "operator": "Exists", "effect": "NoExecute"}),
                false,
            ),
            (json!({"operator": "Exists"}), true),
            (json!({"operator": "Exists", "effect": "NoSchedule"}), true),
            (json!({"value": "v"}), false),
            (json!({"key": "other", "operator": "Exists"}), false),
            (
                json!({"key": "k", "operator": "Bogus", "value": "v"}),
                false,
            ),
            (json!("garbage"), false),
        ];
        for (tol, want) in cases {
            assert_eq!(toleration_matches(&tol, &taint), want, "{tol}");
        }
    }

    #[test]
    fn filter_table() {
        let cp = json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"});
        let cases = [
            (json!({}), json!([]), None),
            (
                json!({}),
                json!([cp]),
                Some("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
            ),
            (
                json!({}),
                json!([{"key": "k", "value": "v", "effect": "NoExecute"}]),
                Some("node(s) had untolerated taint {k: v}"),
            ),
            // PreferNoSchedule never filters
            (
                json!({}),
                json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
                None,
            ),
            (
                json!({"spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                              "operator": "Exists", "effect": "NoSchedule"}]}}),
                json!([cp]),
                None,
            ),
            (
                json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
                json!([cp, {"key": "k", "value": "v", "effect": "NoExecute"}]),
                None,
            ),
            (json!({}), json!("not a list"), None),
        ];
        for (pod, taints, want) in cases {
            let n = node("n", json!({}), json!({"taints": taints}));
            let got = TaintToleration
                .filter(&pod, &n)
                .err()
                .map(|s| s.reasons.join(""));
            assert_eq!(got.as_deref(), want, "{pod} {taints}");
        }
    }

    #[test]
    fn score_table() {
        let prefer = |k: &str| json!({"key": k, "effect": "PreferNoSchedule"});
        let nodes = [
            node("a", json!({}), json!({"taints": []})),
            node("b", json!({}), json!({"taints": [prefer("x")]})),
            node(
                "c",
                json!({}),
                json!({"taints": [prefer("x"), prefer("y")]}),
            ),
        ];
        let cases = [
            (json!({}), [100, 50, 0]),
            (
                json!({"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}}),
                [100, 100, 0],
            ),
            (
                json!({"spec": {"tolerations": [{"operator": "Exists",
                                              "effect": "PreferNoSchedule"}]}}),
                [100, 100, 100],
            ),
            // a NoSchedule toleration does not count for PreferNoSchedule taints
            (
                json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}}),
                [100, 50, 0],
            ),
        ];
        for (pod, want) in cases {
            let mut scores: Vec<i64> = nodes
                .iter()
                .map(|n| TaintToleration.score(&pod, n))
                .collect();
            TaintToleration.normalize(&pod, &mut scores);
            assert_eq!(scores, want, "{pod}");
        }
    }
}
