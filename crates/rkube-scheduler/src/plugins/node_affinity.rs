//! `NodeAffinity`: Filter requires the pod's `nodeSelector` labels and its
//! `requiredDuringSchedulingIgnoredDuringExecution` node selector terms (terms ORed,
//! expressions within a term ANDed; operators `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`,
//! `Lt`; `matchFields` on `metadata.name`). Score sums the weights of matching
//! `preferredDuringSchedulingIgnoredDuringExecution` terms, normalised to the best node.

use serde_json::Value;

use super::{array, string};
use crate::framework::{FilterPlugin, NodeInfo, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};

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

/// Does one `matchExpressions` requirement hold for a value that may be absent?
fn requirement_matches(req: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = array(req, "/values")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let int = |s: &str| s.parse::<i64>().ok();
    match string(req, "/operator") {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let [bound] = values.as_slice() else {
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

/// Does a node selector term match? An empty term matches nothing, as upstream.
pub fn term_matches(term: &Value, node: &Value) -> bool {
    let exprs = array(term, "/matchExpressions");
    let fields = array(term, "/matchFields");
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.pointer("/metadata/labels");
    let exprs_ok = exprs.iter().all(|r| {
        let key = string(r, "/key");
        let value = labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        requirement_matches(r, value)
    });
    let fields_ok = fields.iter().all(|r| {
        string(r, "/key") == "metadata.name"
            && matches!(string(r, "/operator"), "In" | "NotIn")
            && requirement_matches(r, node.pointer("/metadata/name").and_then(Value::as_str))
    });
    exprs_ok && fields_ok
}

/// Does the node satisfy the pod's `nodeSelector` and required node affinity?
pub fn required_matches(pod: &Value, node: &Value) -> bool {
    let selector_ok = match pod.pointer("/spec/nodeSelector") {
        None | Some(Value::Null) => true,
        Some(Value::Object(sel)) => sel
            .iter()
            .all(|(k, v)| node.pointer("/metadata/labels").and_then(|l| l.get(k)) == Some(v)),
        Some(_) => false,
    };
    let required = pod.pointer(&format!(
        "{AFFINITY}/requiredDuringSchedulingIgnoredDuringExecution"
    ));
    let affinity_ok = match required {
        None | Some(Value::Null) => true,
        Some(sel) => array(sel, "/nodeSelectorTerms")
            .iter()
            .any(|t| term_matches(t, node)),
    };
    selector_ok && affinity_ok
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        if required_matches(pod, &node.node) {
            Ok(())
        } else {
            Err(Status::unresolvable(ERR_REASON))
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, pod: &Value, node: &NodeInfo) -> i64 {
        array(
            pod,
            &format!("{AFFINITY}/preferredDuringSchedulingIgnoredDuringExecution"),
        )
        .iter()
        .filter(|p| {
            p.pointer("/preference")
                .is_some_and(|t| term_matches(t, &node.node))
        })
        .map(|p| p.get("weight").and_then(Value::as_i64).unwrap_or(0))
        .fold(0i64, i64::saturating_add)
    }

    /// Scales to the best node: `100 * score / max`.
    fn normalize(&self, _pod: &Value, scores: &mut [i64]) {
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
            let got = NodeAffinity.filter(&pod, &node("n1", labels.clone(), json!({})));
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
            let mut scores: Vec<i64> = nodes.iter().map(|n| NodeAffinity.score(&pod, n)).collect();
            NodeAffinity.normalize(&pod, &mut scores);
            assert_eq!(scores, want, "{pod}");
        }
    }
}
