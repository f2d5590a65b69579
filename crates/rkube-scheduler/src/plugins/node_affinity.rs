//! `NodeAffinity`: Filter requires the pod's `nodeSelector` labels and its
//! `requiredDuringSchedulingIgnoredDuringExecution` node selector terms (terms ORed,
//! expressions within a term ANDed; operators `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`,
//! `Lt`; `matchFields` on `metadata.name`). Score sums the weights of matching
//! `preferredDuringSchedulingIgnoredDuringExecution` terms, normalised to the best node.

use std::sync::Arc;

use serde_json::Value;

use super::helper::{labels_at, Labels};
use super::{array, string};
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, PreScorePlugin, PreScoreResult,
    ScorePlugin, Snapshot, Status, MAX_NODE_SCORE,
};

/// Upstream's reason.
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

const AFFINITY: &str = "/spec/affinity/nodeAffinity";

/// The `NodeAffinity` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
}

/// The extension points `NodeAffinity` implements.
pub fn plugin_set() -> PluginSet {
    let p = Arc::new(NodeAffinity);
    PluginSet {
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

/// One `matchExpressions`/`matchFields` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    operator: String,
    values: Vec<String>,
}

impl Requirement {
    fn parse(r: &Value) -> Requirement {
        Requirement {
            key: string(r, "/key").to_string(),
            operator: string(r, "/operator").to_string(),
            values: array(r, "/values")
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
        }
    }

    /// Does the requirement hold for a value that may be absent?
    fn matches(&self, value: Option<&str>) -> bool {
        let has = |v: &str| self.values.iter().any(|x| x == v);
        let int = |s: &str| s.parse::<i64>().ok();
        match self.operator.as_str() {
            "In" => value.is_some_and(has),
            "NotIn" => value.is_none_or(|v| !has(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            op @ ("Gt" | "Lt") => {
                let [bound] = self.values.as_slice() else {
                    return false;
                };
                match (value.and_then(int), int(bound)) {
                    (Some(v), Some(b)) if op == "Gt" => v > b,
                    (Some(v), Some(b)) => v < b,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

/// A parsed `NodeSelectorTerm`: expressions on labels and fields, ANDed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSelectorTerm {
    exprs: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl NodeSelectorTerm {
    /// Parses a term.
    pub fn parse(term: &Value) -> NodeSelectorTerm {
        NodeSelectorTerm {
            exprs: array(term, "/matchExpressions")
                .iter()
                .map(Requirement::parse)
                .collect(),
            fields: array(term, "/matchFields")
                .iter()
                .map(Requirement::parse)
                .collect(),
        }
    }

    /// Does the term match the node? An empty term matches nothing, as upstream.
    pub fn matches(&self, labels: &Labels, name: &str) -> bool {
        if self.exprs.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.exprs
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| {
                r.key == "metadata.name"
                    && matches!(r.operator.as_str(), "In" | "NotIn")
                    && r.matches(Some(name))
            })
    }
}

/// A pod's `nodeSelector` and required node affinity, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequiredNodeAffinity {
    /// `spec.nodeSelector`; `None` when malformed (matches nothing).
    node_selector: Option<Labels>,
    /// Required terms, ORed; `None` when the pod has none.
    terms: Option<Vec<NodeSelectorTerm>>,
}

impl RequiredNodeAffinity {
    /// Parses the pod's `nodeSelector` and required node affinity.
    pub fn parse(pod: &Value) -> RequiredNodeAffinity {
        let node_selector = match pod.pointer("/spec/nodeSelector") {
            None | Some(Value::Null) => Some(Labels::new()),
            Some(v @ Value::Object(m)) if m.values().all(Value::is_string) => {
                Some(labels_at(v, ""))
            }
            Some(_) => None,
        };
        let required = pod.pointer(&format!(
            "{AFFINITY}/requiredDuringSchedulingIgnoredDuringExecution"
        ));
        let terms = match required {
            None | Some(Value::Null) => None,
            Some(sel) => Some(
                array(sel, "/nodeSelectorTerms")
                    .iter()
                    .map(NodeSelectorTerm::parse)
                    .collect(),
            ),
        };
        RequiredNodeAffinity {
            node_selector,
            terms,
        }
    }

    /// Does the node satisfy the `nodeSelector` and the required node affinity?
    pub fn matches(&self, node: &NodeInfo) -> bool {
        let labels = node.labels();
        let selector_ok = self
            .node_selector
            .as_ref()
            .is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let affinity_ok = self
            .terms
            .as_ref()
            .is_none_or(|terms| terms.iter().any(|t| t.matches(labels, node.name())));
        selector_ok && affinity_ok
    }
}

/// A `PreferredSchedulingTerm`: a weight and a term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredSchedulingTerm {
    weight: i64,
    term: NodeSelectorTerm,
}

impl PreferredSchedulingTerm {
    /// The pod's preferred node affinity terms; malformed weights drop the term.
    pub fn parse_all(pod: &Value) -> Vec<PreferredSchedulingTerm> {
        array(
            pod,
            &format!("{AFFINITY}/preferredDuringSchedulingIgnoredDuringExecution"),
        )
        .iter()
        .filter_map(|p| {
            Some(PreferredSchedulingTerm {
                weight: p.get("weight").and_then(Value::as_i64)?,
                term: NodeSelectorTerm::parse(p.get("preference")?),
            })
        })
        .collect()
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        if state.pod().required_node_affinity.matches(node) {
            Ok(())
        } else {
            Err(Status::unresolvable(ERR_REASON))
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    /// Skips Score for pods without preferred terms.
    fn pre_score(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        _feasible: &[&NodeInfo],
        _snapshot: &Snapshot<'_>,
    ) -> Result<PreScoreResult, Status> {
        Ok(if state.pod().preferred_node_affinity.is_empty() {
            PreScoreResult::Skip
        } else {
            PreScoreResult::Run
        })
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        state
            .pod()
            .preferred_node_affinity
            .iter()
            .filter(|p| p.term.matches(node.labels(), node.name()))
            .map(|p| p.weight)
            .fold(0i64, i64::saturating_add)
    }

    /// Scales to the best node: `100 * score / max`.
    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        let max = scores.iter().copied().max().unwrap_or(0);
        if max > 0 {
            for s in scores.iter_mut() {
                *s = MAX_NODE_SCORE.saturating_mul(*s) / max;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::node;
    use serde_json::json;

    fn required(terms: Value) -> Value {
        json!({"spec": {"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}})
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> Value {
        json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    }

    #[test]
    fn filter_table() {
        let labels = json!({"zone": "a", "disk": "ssd", "cores": "8"});
        let cases = [
            (json!({}), true),
            (json!({"spec": {"nodeSelector": {"zone": "a"}}}), true),
            (
                json!({"spec": {"nodeSelector": {"zone": "a", "disk": "hdd"}}}),
                false,
            ),
            (json!({"spec": {"nodeSelector": {"gpu": "true"}}}), false),
            (json!({"spec": {"nodeSelector": "zone=a"}}), false),
            (required(json!([expr("zone", "In", &["a", "b"])])), true),
            (required(json!([expr("zone", "In", &["b"])])), false),
            (required(json!([expr("zone", "NotIn", &["b"])])), true),
            (required(json!([expr("gpu", "NotIn", &["x"])])), true),
            (required(json!([expr("zone", "NotIn", &["a"])])), false),
            (required(json!([expr("disk", "Exists", &[])])), true),
            (required(json!([expr("gpu", "Exists", &[])])), false),
            (required(json!([expr("gpu", "DoesNotExist", &[])])), true),
            (required(json!([expr("disk", "DoesNotExist", &[])])), false),
            (required(json!([expr("cores", "Gt", &["4"])])), true),
            (required(json!([expr("cores", "Gt", &["8"])])), false),
            (required(json!([expr("cores", "Lt", &["16"])])), true),
            (required(json!([expr("cores", "Lt", &["x"])])), false),
            (required(json!([expr("zone", "Gt", &["1"])])), false),
            (required(json!([expr("cores", "Gt", &["1", "2"])])), false),
            (required(json!([expr("zone", "Bogus", &["a"])])), false),
            // terms are ORed
            (
                required(json!([
                    expr("zone", "In", &["b"]),
                    expr("disk", "In", &["ssd"])
                ])),
                true,
            ),
            // expressions within a term are ANDed
            (
                required(json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "disk", "operator": "In", "values": ["hdd"]}]}])),
                false,
            ),
            // an empty term, or no terms, matches nothing
            (required(json!([{}])), false),
            (required(json!([])), false),
            (
                required(json!([{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])),
                true,
            ),
            (
                required(json!([{"matchFields": [
                {"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]}])),
                false,
            ),
            (
                required(json!([{"matchFields": [
                {"key": "metadata.uid", "operator": "In", "values": ["n1"]}]}])),
                false,
            ),
            // nodeSelector and affinity must both hold
            (
                json!({"spec": {"nodeSelector": {"zone": "b"}, "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [expr("zone", "In", &["a"])]}}}}}),
                false,
            ),
        ];
        for (pod, ok) in cases {
            let n = node("n1", labels.clone(), json!({}));
            let got = NodeAffinity.filter(&CycleState::new(&pod), &pod, &n);
            assert_eq!(got.is_ok(), ok, "{pod}");
            if let Err(s) = got {
                assert_eq!(s.reasons, [ERR_REASON]);
            }
        }
    }

    #[test]
    fn score_table() {
        let nodes = [
            node("a", json!({"zone": "a", "disk": "ssd"}), json!({})),
            node("b", json!({"zone": "b", "disk": "ssd"}), json!({})),
            node("c", json!({"zone": "c"}), json!({})),
        ];
        let preferred = |prefs: Value| {
            json!({"spec": {"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": prefs}}}})
        };
        let cases = [
            (json!({}), [0, 0, 0]),
            (
                preferred(json!([{"weight": 10, "preference": expr("zone", "In", &["a"])}])),
                [100, 0, 0],
            ),
            (
                preferred(json!([
                {"weight": 30, "preference": expr("zone", "In", &["a"])},
                {"weight": 10, "preference": expr("disk", "In", &["ssd"])}])),
                [100, 25, 0],
            ),
            (
                preferred(json!([{"weight": 5, "preference": {}}, {"weight": "x"}])),
                [0, 0, 0],
            ),
        ];
        for (pod, want) in cases {
            let state = CycleState::new(&pod);
            let mut scores: Vec<i64> = nodes
                .iter()
                .map(|n| NodeAffinity.score(&state, &pod, n))
                .collect();
            NodeAffinity.normalize(&state, &[], &mut scores);
            assert_eq!(scores, want, "{pod}");
        }
    }
}
