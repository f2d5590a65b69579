//! Which nodes a DaemonSet's pod belongs on, and the pod it gets there (upstream's
//! `NodeShouldRunDaemonPod`, `AddOrUpdateDaemonPodTolerations`, `CreatePodTemplate` and
//! `ReplaceDaemonSetPodNodeNameNodeAffinity`): `nodeSelector`, required node affinity and
//! NoSchedule/NoExecute taints against the template's tolerations plus the default daemon
//! tolerations; pods are pinned with a `metadata.name` matchFields term, not `nodeName`.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, PodTemplateSpec, Taint, Toleration,
};

use crate::history::CONTROLLER_REVISION_HASH_LABEL;

/// Pod label with the DaemonSet generation the pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// Where a daemon pod may be: should one be created (`should_run`), and may an existing one
/// stay (`should_continue_running`, true when only NoSchedule taints are untolerated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub should_run: bool,
    pub should_continue_running: bool,
}

/// Upstream's `NodeShouldRunDaemonPod` for the pod spec `spec` (already carrying the default
/// daemon tolerations).
pub fn node_should_run(node: &Node, spec: &PodSpec) -> Placement {
    let no = Placement {
        should_run: false,
        should_continue_running: false,
    };
    let node_name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != node_name)
    {
        return no;
    }
    if !selector_matches(node, spec) || !required_affinity_matches(node, spec) {
        return no;
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default();
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        taints
            .iter()
            .any(|t| effects.contains(&t.effect.as_str()) && !tolerated(tolerations, t))
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return Placement {
            should_run: false,
            should_continue_running: !untolerated(&["NoExecute"]),
        };
    }
    Placement {
        should_run: true,
        should_continue_running: true,
    }
}

fn selector_matches(node: &Node, spec: &PodSpec) -> bool {
    let labels = node.metadata.labels.as_ref();
    spec.node_selector.as_ref().is_none_or(|sel| {
        sel.iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    })
}

fn required_affinity_matches(node: &Node, spec: &PodSpec) -> bool {
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(sel) => sel
            .node_selector_terms
            .iter()
            .any(|t| term_matches(node, t)),
    }
}

/// Terms are ORed, requirements within a term ANDed; an empty term matches nothing.
fn term_matches(node: &Node, term: &NodeSelectorTerm) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, node.metadata.name.as_deref())
        })
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let contains = |v: &str| values.iter().any(|x| x == v);
    let int = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(contains),
        "NotIn" => value.is_none_or(|v| !contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => match (values, value.and_then(int)) {
            ([bound], Some(v)) => match int(bound) {
                Some(b) if op == "Gt" => v > b,
                Some(b) => v < b,
                None => false,
            },
            _ => false,
        },
        _ => false,
    }
}

/// Upstream's toleration matching: effects must match unless the toleration's is empty; an
/// empty key with `Exists` matches every key; `Equal` (the default) compares values.
fn toleration_matches(tol: &Toleration, taint: &Taint) -> bool {
    let effect = tol.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = tol.key.as_deref().unwrap_or_default();
    let op = tol.operator.as_deref().unwrap_or_default();
    if key != taint.key && !(key.is_empty() && op == "Exists") {
        return false;
    }
    match op {
        "Exists" => true,
        "" | "Equal" => {
            tol.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| toleration_matches(t, taint))
}

/// Adds upstream's default daemon tolerations (not-ready/unreachable NoExecute without a
/// time limit; disk/memory/pid pressure and unschedulable NoSchedule; network-unavailable for
/// host-network pods), replacing tolerations of the same key and effect.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let tol = Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some(effect.into()),
            ..Default::default()
        };
        let same =
            |t: &Toleration| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect);
        match tolerations.iter_mut().find(|t| same(t)) {
            Some(existing) => *existing = tol,
            None => tolerations.push(tol),
        }
    }
}

/// The DaemonSet's template with the default tolerations (what eligibility is judged on).
pub fn eligibility_spec(ds: &DaemonSet) -> PodSpec {
    let mut spec = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    add_daemon_tolerations(&mut spec);
    spec
}

/// The template of the daemon pod for `node`: default tolerations, the revision hash and
/// template generation labels, and required node affinity pinning it to the node.
pub fn pod_template_for_node(ds: &DaemonSet, hash: &str, node: &str) -> PodTemplateSpec {
    let mut t = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let labels = t
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default);
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.into());
    if let Some(g) = ds.metadata.generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    let spec = t.spec.get_or_insert_with(Default::default);
    add_daemon_tolerations(spec);
    pin_to_node(spec, node);
    t
}

/// Upstream's `ReplaceDaemonSetPodNodeNameNodeAffinity`: every required term gets exactly the
/// `metadata.name In [node]` field requirement (keeping its label expressions).
fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let field = NodeSelectorRequirement {
        key: "metadata.name".into(),
        operator: "In".into(),
        values: Some(vec![node.to_string()]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(|| NodeSelector {
            node_selector_terms: Vec::new(),
        });
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields = Some(vec![field.clone()]);
    }
}

/// The node a daemon pod is meant for: its `nodeName`, or else the single `metadata.name`
/// value of its required node affinity (upstream's `GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.as_deref()?.iter().find_map(|r| {
            match (r.key.as_str(), r.operator.as_str(), r.values.as_deref()) {
                ("metadata.name", "In", Some([v])) => Some(v.clone()),
                _ => None,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut s: PodSpec = serde_json::from_value(v).unwrap();
        add_daemon_tolerations(&mut s);
        s
    }

    #[test]
    fn placement_table() {
        let base = json!({"containers": [{"name": "c"}]});
        let cases = [
            (
                "plain node",
                json!({"metadata": {"name": "a"}}),
                base.clone(),
                (true, true),
            ),
            (
                "nodeSelector mismatch",
                json!({"metadata": {"name": "a", "labels": {"disk": "hdd"}}}),
                json!({"containers": [], "nodeSelector": {"disk": "ssd"}}),
                (false, false),
            ),
            (
                "nodeSelector match",
                json!({"metadata": {"name": "a", "labels": {"disk": "ssd"}}}),
                json!({"containers": [], "nodeSelector": {"disk": "ssd"}}),
                (true, true),
            ),
            (
                "untolerated NoSchedule keeps running pods",
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
                base.clone(),
                (false, true),
            ),
            (
                "untolerated NoExecute evicts",
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}}),
                base.clone(),
                (false, false),
            ),
            (
                "tolerated taint",
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}),
                json!({"containers": [], "tolerations": [{"key": "k", "value": "v"}]}),
                (true, true),
            ),
            (
                "unschedulable is tolerated by default",
                json!({"metadata": {"name": "a"}, "spec": {"unschedulable": true, "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}}),
                base.clone(),
                (true, true),
            ),
            (
                "network-unavailable only for host network",
                json!({"metadata": {"name": "a"}, "spec": {"taints": [{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]}}),
                json!({"containers": [], "hostNetwork": true}),
                (true, true),
            ),
            (
                "required affinity",
                json!({"metadata": {"name": "a", "labels": {"zone": "z1"}}}),
                json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]}}}}),
                (false, false),
            ),
            (
                "other nodeName",
                json!({"metadata": {"name": "a"}}),
                json!({"containers": [], "nodeName": "b"}),
                (false, false),
            ),
        ];
        for (what, n, s, (run, cont)) in cases {
            let p = node_should_run(&node(n), &spec(s));
            assert_eq!(
                (p.should_run, p.should_continue_running),
                (run, cont),
                "{what}"
            );
        }
    }

    #[test]
    fn template_pins_node_and_labels() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": 3},
            "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [{"name": "c"}], "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]}}}}}}
        }))
        .unwrap();
        let t = pod_template_for_node(&ds, "abc", "n1");
        let labels = t.metadata.as_ref().unwrap().labels.as_ref().unwrap();
        assert_eq!(labels["controller-revision-hash"], "abc");
        assert_eq!(labels["pod-template-generation"], "3");
        let pod = Pod {
            spec: t.spec.clone(),
            ..Default::default()
        };
        assert_eq!(target_node(&pod).as_deref(), Some("n1"));
        let v = serde_json::to_value(&t.spec).unwrap();
        let term = &v["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0];
        assert_eq!(term["matchExpressions"][0]["key"], "zone");
        assert_eq!(
            term["matchFields"],
            json!([{"key": "metadata.name", "operator": "In", "values": ["n1"]}])
        );
        assert_eq!(v["tolerations"].as_array().unwrap().len(), 6);
    }
}
