//! `TaintToleration`: Filter rejects nodes with a `NoSchedule` or `NoExecute` taint the pod
//! does not tolerate; Score prefers nodes with fewer untolerated `PreferNoSchedule` taints.
//! [`tolerates`] holds upstream's toleration matching, shared with `NodeUnschedulable`.

use std::sync::Arc;

use serde_json::Value;

use super::string;
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, ScorePlugin, Status, MAX_NODE_SCORE,
};

/// The `TaintToleration` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaintToleration;

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
}

/// The extension points `TaintToleration` implements.
pub fn plugin_set() -> PluginSet {
    let p = Arc::new(TaintToleration);
    PluginSet {
        filter: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

/// A node taint, parsed once per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// `key`.
    pub key: String,
    /// `value`.
    pub value: String,
    /// `effect`: `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// Parses a `spec.taints` entry; missing fields are empty.
    pub fn parse(t: &Value) -> Taint {
        Taint {
            key: string(t, "/key").to_string(),
            value: string(t, "/value").to_string(),
            effect: string(t, "/effect").to_string(),
        }
    }

    /// `NoSchedule` or `NoExecute`: the taints Filter enforces.
    pub fn is_hard(&self) -> bool {
        matches!(self.effect.as_str(), "NoSchedule" | "NoExecute")
    }
}

/// A pod toleration, parsed once per pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// `key`; empty with `Exists` matches every key.
    pub key: String,
    /// `operator`: `Equal` (also when empty) or `Exists`.
    pub operator: String,
    /// `value`.
    pub value: String,
    /// `effect`; empty matches every effect.
    pub effect: String,
}

impl Toleration {
    /// Parses a `spec.tolerations` entry; missing fields are empty.
    pub fn parse(t: &Value) -> Toleration {
        Toleration {
            key: string(t, "/key").to_string(),
            operator: string(t, "/operator").to_string(),
            value: string(t, "/value").to_string(),
            effect: string(t, "/effect").to_string(),
        }
    }

    /// Does this toleration tolerate `taint`? Effects must match unless the toleration's is
    /// empty; keys must match unless the toleration has an empty key with `Exists`; `Equal`
    /// (or no operator) also compares values.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if self.key != taint.key && !(self.key.is_empty() && self.operator == "Exists") {
            return false;
        }
        match self.operator.as_str() {
            "Exists" => true,
            "" | "Equal" => self.value == taint.value,
            _ => false,
        }
    }
}

/// Does `toleration` tolerate `taint` (both as JSON)?
pub fn toleration_matches(toleration: &Value, taint: &Value) -> bool {
    Toleration::parse(toleration).tolerates(&Taint::parse(taint))
}

/// Does any of `tolerations` tolerate `taint`?
pub fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first `NoSchedule`/`NoExecute` taint of the node not tolerated.
pub fn first_untolerated<'a>(tolerations: &[Toleration], node: &'a NodeInfo) -> Option<&'a Taint> {
    node.taints()
        .iter()
        .find(|t| t.is_hard() && !tolerates(tolerations, t))
}

impl FilterPlugin for TaintToleration {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        match first_untolerated(&state.pod().tolerations, node) {
            None => Ok(()),
            Some(t) => Err(Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key, t.value
            ))),
        }
    }
}

impl ScorePlugin for TaintToleration {
    /// The number of `PreferNoSchedule` taints not tolerated by a toleration whose effect is
    /// empty or `PreferNoSchedule`.
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        let tolerations = &state.pod().tolerations;
        let count = node
            .taints()
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|t| {
                !tolerations.iter().any(|tol| {
                    matches!(tol.effect.as_str(), "" | "PreferNoSchedule") && tol.tolerates(t)
                })
            })
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    }

    /// Fewer untolerated taints score higher: `100 - 100 * count / max`.
    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
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
                .filter(&CycleState::new(&pod), &pod, &n)
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
            let state = CycleState::new(&pod);
            let mut scores: Vec<i64> = nodes
                .iter()
                .map(|n| TaintToleration.score(&state, &pod, n))
                .collect();
            TaintToleration.normalize(&state, &[], &mut scores);
            assert_eq!(scores, want, "{pod}");
        }
    }
}
