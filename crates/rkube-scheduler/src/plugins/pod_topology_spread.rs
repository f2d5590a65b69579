//! `PodTopologySpread`: spreads pods matching a label selector evenly across topology domains
//! (values of a node label).
//!
//! Constraints come from `spec.topologySpreadConstraints`; a pod without any gets the
//! plugin's default constraints (upstream's System defaulting: hostname maxSkew 3 and zone
//! maxSkew 5, ScheduleAnyway) when it has a ReplicaSet, ReplicationController or StatefulSet
//! controller, selecting pods with its own labels (upstream derives the selector from the
//! owning Services and controllers, which this pure crate does not see).
//!
//! PreFilter counts matching pods per domain over the nodes that pass the constraint's
//! `nodeAffinityPolicy` (Honor by default) and `nodeTaintsPolicy` (Ignore by default) and carry
//! every constraint's key; Filter rejects a node when placing the pod there would make
//! `count + self - min > maxSkew` for a `DoNotSchedule` constraint (min is 0 while fewer than
//! `minDomains` domains exist). Score (`ScheduleAnyway` constraints) prefers nodes whose domains
//! hold fewer matching pods, weighting each constraint by `ln(domains + 2)`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::helper::LabelSelector;
use super::taint_toleration::first_untolerated;
use super::{array, string};
use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, PodInfo, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, PreScoreResult, ScorePlugin, Snapshot, Status, MAX_NODE_SCORE,
};

/// Upstream's reason when a node would exceed a constraint's skew.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Upstream's reason when a node lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// `kubernetes.io/hostname`, counted per node when scoring.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// `topology.kubernetes.io/zone`.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

const PRE_FILTER_KEY: &str = "PreFilterPodTopologySpread";
const PRE_SCORE_KEY: &str = "PreScorePodTopologySpread";

/// Owner kinds whose pods get the default constraints.
const DEFAULTED_OWNERS: [&str; 3] = ["ReplicaSet", "ReplicationController", "StatefulSet"];

/// The `PodTopologySpread` plugin and its args.
#[derive(Debug, Clone)]
pub struct PodTopologySpread {
    /// Constraints for pods without their own (`topologyKey`, `maxSkew`,
    /// `whenUnsatisfiable` are used).
    pub default_constraints: Vec<Value>,
    /// `defaultingType: System` (the default): nodes lacking a default constraint's key are
    /// still scored.
    pub system_defaulted: bool,
}

/// Upstream's System default constraints.
pub fn system_default_constraints() -> Vec<Value> {
    vec![
        serde_json::json!({"topologyKey": LABEL_HOSTNAME, "maxSkew": 3,
                           "whenUnsatisfiable": "ScheduleAnyway"}),
        serde_json::json!({"topologyKey": LABEL_ZONE, "maxSkew": 5,
                           "whenUnsatisfiable": "ScheduleAnyway"}),
    ]
}

impl Default for PodTopologySpread {
    fn default() -> PodTopologySpread {
        PodTopologySpread {
            default_constraints: system_default_constraints(),
            system_defaulted: true,
        }
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
}

/// The extension points `PodTopologySpread` implements.
pub fn plugin_set(args: PodTopologySpread) -> PluginSet {
    let p = Arc::new(args);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

/// A parsed constraint.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    hard: bool,
    selector: LabelSelector,
    min_domains: usize,
    honor_node_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn parse(c: &Value, pod: &PodInfo, selector: Option<LabelSelector>) -> Constraint {
        let mut selector = selector.unwrap_or_else(|| LabelSelector::parse(c.get("labelSelector")));
        for key in array(c, "/matchLabelKeys").iter().filter_map(Value::as_str) {
            if let Some(v) = pod.labels.get(key) {
                selector.require(key, v);
            }
        }
        Constraint {
            max_skew: c.get("maxSkew").and_then(Value::as_i64).unwrap_or(1).max(1),
            topology_key: string(c, "/topologyKey").to_string(),
            hard: string(c, "/whenUnsatisfiable") != "ScheduleAnyway",
            selector,
            min_domains: c
                .get("minDomains")
                .and_then(Value::as_u64)
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(1),
            honor_node_affinity: string(c, "/nodeAffinityPolicy") != "Ignore",
            honor_taints: string(c, "/nodeTaintsPolicy") == "Honor",
        }
    }

    /// Does the node count for this constraint (nodeAffinityPolicy, nodeTaintsPolicy)?
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        (!self.honor_node_affinity || pod.required_node_affinity.matches(node))
            && (!self.honor_taints || first_untolerated(&pod.tolerations, node).is_none())
    }

    /// Does `p` count towards this constraint for a pod in `namespace`?
    fn counts(&self, p: &PodInfo, namespace: &str) -> bool {
        !p.terminating && p.namespace == namespace && self.selector.matches(&p.labels)
    }

    fn count_on(&self, node: &NodeInfo, namespace: &str) -> i64 {
        node.label_groups()
            .iter()
            .filter(|g| self.counts(&g.pod, namespace))
            .map(|g| g.count as i64)
            .sum()
    }
}

impl PodTopologySpread {
    /// The pod's constraints with `hard` (DoNotSchedule) or soft (ScheduleAnyway) action.
    fn constraints(&self, pod: &PodInfo, hard: bool) -> Vec<Constraint> {
        if !pod.spread_constraints.is_empty() {
            return pod
                .spread_constraints
                .iter()
                .map(|c| Constraint::parse(c, pod, None))
                .filter(|c| c.hard == hard)
                .collect();
        }
        let owned = pod
            .owner_kinds
            .iter()
            .any(|k| DEFAULTED_OWNERS.contains(&k.as_str()));
        if !owned || pod.labels.is_empty() {
            return Vec::new();
        }
        let selector = LabelSelector::from_labels(&pod.labels);
        self.default_constraints
            .iter()
            .map(|c| Constraint::parse(c, pod, Some(selector.clone())))
            .filter(|c| c.hard == hard)
            .collect()
    }
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.topology_key))
}

/// Matching pods per topology key and value.
type PairCounts = HashMap<String, HashMap<String, i64>>;

#[derive(Debug, Clone, Default)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    counts: PairCounts,
    /// Per key: the smallest count over its domains, and the number of domains.
    critical: HashMap<String, (i64, usize)>,
}

impl PreFilterState {
    fn recompute_critical(&mut self) {
        self.critical = self
            .counts
            .iter()
            .map(|(k, values)| {
                let min = values.values().copied().min().unwrap_or(0);
                (k.clone(), (min, values.len()))
            })
            .collect();
    }

    fn update(&mut self, incoming: &PodInfo, p: &PodInfo, node: &NodeInfo, delta: i64) {
        if p.namespace != incoming.namespace || !has_all_keys(node, &self.constraints) {
            return;
        }
        for c in &self.constraints {
            if !c.selector.matches(&p.labels) || !c.includes(incoming, node) {
                continue;
            }
            if let Some(v) = node.labels().get(&c.topology_key) {
                *self
                    .counts
                    .entry(c.topology_key.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_insert(0) += delta;
            }
        }
        self.recompute_critical();
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<PreFilterResult, Status> {
        let pod = state.pod_arc();
        let constraints = self.constraints(&pod, true);
        if constraints.is_empty() {
            return Ok(PreFilterResult::Skip);
        }
        let mut s = PreFilterState {
            constraints,
            ..PreFilterState::default()
        };
        for node in snapshot.nodes {
            if !has_all_keys(node, &s.constraints) {
                continue;
            }
            for c in &s.constraints {
                if !c.includes(&pod, node) {
                    continue;
                }
                let Some(v) = node.labels().get(&c.topology_key) else {
                    continue;
                };
                let n = c.count_on(node, &pod.namespace);
                *s.counts
                    .entry(c.topology_key.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_insert(0) += n;
            }
        }
        s.recompute_critical();
        state.write(PRE_FILTER_KEY, s);
        Ok(PreFilterResult::AllNodes)
    }

    fn add_pod(&self, state: &mut CycleState, added: &PodInfo, node: &NodeInfo) {
        let pod = state.pod_arc();
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update(&pod, added, node, 1);
        }
    }

    fn remove_pod(&self, state: &mut CycleState, removed: &PodInfo, node: &NodeInfo) {
        let pod = state.pod_arc();
        if let Some(s) = state.read_mut::<PreFilterState>(PRE_FILTER_KEY) {
            s.update(&pod, removed, node, -1);
        }
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Err(Status::unresolvable(format!(
                "error reading {PRE_FILTER_KEY:?} from cycleState"
            )));
        };
        let pod = state.pod();
        for c in &s.constraints {
            let Some(value) = node.labels().get(&c.topology_key) else {
                return Err(Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH));
            };
            let (min, domains) = s.critical.get(&c.topology_key).copied().unwrap_or((0, 0));
            let min = if domains < c.min_domains { 0 } else { min };
            let self_match = i64::from(c.selector.matches(&pod.labels));
            let count = s
                .counts
                .get(&c.topology_key)
                .and_then(|m| m.get(value))
                .copied()
                .unwrap_or(0);
            if count + self_match - min > c.max_skew {
                return Err(Status::unschedulable([ERR_REASON_CONSTRAINTS_NOT_MATCH]));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
struct PreScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    counts: PairCounts,
    weights: Vec<f64>,
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        feasible: &[&NodeInfo],
        snapshot: &Snapshot<'_>,
    ) -> Result<PreScoreResult, Status> {
        if feasible.is_empty() || snapshot.nodes.is_empty() {
            return Ok(PreScoreResult::Skip);
        }
        let pod = state.pod_arc();
        let constraints = self.constraints(&pod, false);
        if constraints.is_empty() {
            return Ok(PreScoreResult::Skip);
        }
        let require_all = !pod.spread_constraints.is_empty() || !self.system_defaulted;
        let mut s = PreScoreState {
            constraints,
            ..PreScoreState::default()
        };
        let mut domains = vec![0usize; s.constraints.len()];
        for node in feasible {
            if require_all && !has_all_keys(node, &s.constraints) {
                s.ignored.insert(node.name().to_string());
                continue;
            }
            for (i, c) in s.constraints.iter().enumerate() {
                if c.topology_key == LABEL_HOSTNAME {
                    continue;
                }
                let Some(v) = node.labels().get(&c.topology_key) else {
                    continue;
                };
                let values = s.counts.entry(c.topology_key.clone()).or_default();
                if !values.contains_key(v) {
                    values.insert(v.clone(), 0);
                    domains[i] += 1;
                }
            }
        }
        s.weights = s
            .constraints
            .iter()
            .zip(&domains)
            .map(|(c, &d)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    feasible.len() - s.ignored.len()
                } else {
                    d
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        for node in snapshot.nodes {
            if require_all && !has_all_keys(node, &s.constraints) {
                continue;
            }
            for c in &s.constraints {
                if c.topology_key == LABEL_HOSTNAME || !c.includes(&pod, node) {
                    continue;
                }
                let Some(v) = node.labels().get(&c.topology_key) else {
                    continue;
                };
                // only domains of feasible nodes are counted
                if let Some(n) = s.counts.get_mut(&c.topology_key).and_then(|m| m.get_mut(v)) {
                    *n += c.count_on(node, &pod.namespace);
                }
            }
        }
        state.write(PRE_SCORE_KEY, s);
        Ok(PreScoreResult::Run)
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return 0;
        };
        if s.ignored.contains(node.name()) {
            return 0;
        }
        let ns = &state.pod().namespace;
        let mut score = 0.0;
        for (c, w) in s.constraints.iter().zip(&s.weights) {
            let Some(v) = node.labels().get(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                c.count_on(node, ns)
            } else {
                s.counts
                    .get(&c.topology_key)
                    .and_then(|m| m.get(v))
                    .copied()
                    .unwrap_or(0)
            };
            score += count as f64 * w + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }

    /// Fewer matching pods score higher: `100 * (max + min - score) / max`; ignored nodes 0.
    fn normalize(&self, state: &CycleState, nodes: &[&NodeInfo], scores: &mut [i64]) {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return;
        };
        let ignored = |i: usize| nodes.get(i).is_some_and(|n| s.ignored.contains(n.name()));
        let (mut min, mut max) = (i64::MAX, 0i64);
        for (i, &sc) in scores.iter().enumerate() {
            if !ignored(i) {
                min = min.min(sc);
                max = max.max(sc);
            }
        }
        for (i, sc) in scores.iter_mut().enumerate() {
            *sc = if ignored(i) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *sc) / max
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testutil::node;
    use serde_json::json;

    fn pod(name: &str, labels: Value, constraints: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "labels": labels},
               "spec": {"containers": [{"name": "c"}], "topologySpreadConstraints": constraints}})
    }

    fn hard(key: &str, skew: i64) -> Value {
        json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}})
    }

    /// a, b in zone z1; c in z2; d has no zone label. `counts` pods labelled app=web per node.
    fn cluster(counts: [usize; 4]) -> Vec<NodeInfo> {
        let labels = [
            json!({"zone": "z1", LABEL_HOSTNAME: "a"}),
            json!({"zone": "z1", LABEL_HOSTNAME: "b"}),
            json!({"zone": "z2", LABEL_HOSTNAME: "c"}),
            json!({LABEL_HOSTNAME: "d"}),
        ];
        let names = ["a", "b", "c", "d"];
        let mut nodes = Vec::new();
        for (i, l) in labels.into_iter().enumerate() {
            let mut n = node(names[i], l, json!({}));
            for j in 0..counts[i] {
                n.add_pod(pod(
                    &format!("{}{j}", names[i]),
                    json!({"app": "web"}),
                    json!([]),
                ));
            }
            nodes.push(n);
        }
        nodes
    }

    fn filter_all(pl: &PodTopologySpread, p: &Value, nodes: &[NodeInfo]) -> Vec<&'static str> {
        let mut state = CycleState::new(p);
        let pre = pl.pre_filter(&mut state, p, &Snapshot::new(nodes)).unwrap();
        nodes
            .iter()
            .map(|n| {
                if pre == PreFilterResult::Skip {
                    return "ok";
                }
                match pl.filter(&state, p, n) {
                    Ok(()) => "ok",
                    Err(s) if s.code == Code::UnschedulableAndUnresolvable => {
                        assert_eq!(s.reasons, [ERR_REASON_NODE_LABEL_NOT_MATCH]);
                        "label"
                    }
                    Err(s) => {
                        assert_eq!(s.reasons, [ERR_REASON_CONSTRAINTS_NOT_MATCH]);
                        "skew"
                    }
                }
            })
            .collect()
    }

    #[test]
    fn filter_table() {
        let web = json!({"app": "web"});
        let cases: Vec<(&str, Value, [usize; 4], [&str; 4])> = vec![
            (
                "no constraints",
                pod("p", web.clone(), json!([])),
                [3, 0, 0, 0],
                ["ok"; 4],
            ),
            (
                "zone skew 1: z1 has 2, z2 has 0",
                pod("p", web.clone(), json!([hard("zone", 1)])),
                [1, 1, 0, 0],
                ["skew", "skew", "ok", "label"],
            ),
            (
                "zone skew 2 allows z1",
                pod("p", web.clone(), json!([hard("zone", 2)])),
                [1, 0, 0, 0],
                ["ok", "ok", "ok", "label"],
            ),
            (
                "a pod not matching its own selector adds nothing",
                pod("p", json!({"app": "db"}), json!([hard("zone", 1)])),
                [1, 0, 0, 0],
                ["ok", "ok", "ok", "label"],
            ),
            (
                "hostname skew 1",
                pod("p", web.clone(), json!([hard(LABEL_HOSTNAME, 1)])),
                [1, 1, 0, 1],
                ["skew", "skew", "ok", "skew"],
            ),
            (
                "minDomains above the domain count makes the minimum 0",
                pod(
                    "p",
                    web.clone(),
                    json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                            "minDomains": 3, "labelSelector": {"matchLabels": {"app": "web"}}}]),
                ),
                [1, 0, 1, 0],
                ["skew", "skew", "skew", "label"],
            ),
            (
                "ScheduleAnyway never filters",
                pod(
                    "p",
                    web.clone(),
                    json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app": "web"}}}]),
                ),
                [5, 0, 0, 0],
                ["ok"; 4],
            ),
            (
                "nodeAffinityPolicy Honor: nodes outside the pod's selector don't count",
                json!({"metadata": {"name": "p", "namespace": "default", "labels": web},
                       "spec": {"nodeSelector": {"zone": "z1"},
                                "topologySpreadConstraints": [hard("zone", 1)]}}),
                [1, 0, 0, 0],
                ["ok", "ok", "ok", "label"],
            ),
            (
                "nodeAffinityPolicy Ignore: they do",
                json!({"metadata": {"name": "p", "namespace": "default", "labels": web},
                       "spec": {"nodeSelector": {"zone": "z1"},
                                "topologySpreadConstraints": [{
                                    "maxSkew": 1, "topologyKey": "zone",
                                    "whenUnsatisfiable": "DoNotSchedule",
                                    "nodeAffinityPolicy": "Ignore",
                                    "labelSelector": {"matchLabels": {"app": "web"}}}]}}),
                [1, 0, 0, 0],
                ["skew", "skew", "ok", "label"],
            ),
            (
                "matchLabelKeys narrows the selector with the pod's label values",
                pod(
                    "p",
                    json!({"app": "web", "rev": "2"}),
                    json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                            "matchLabelKeys": ["rev"],
                            "labelSelector": {"matchLabels": {"app": "web"}}}]),
                ),
                [2, 0, 0, 0],
                ["ok", "ok", "ok", "label"],
            ),
        ];
        for (name, p, counts, want) in cases {
            let nodes = cluster(counts);
            assert_eq!(
                filter_all(&PodTopologySpread::default(), &p, &nodes),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn taints_policy_honor() {
        let p = pod(
            "p",
            json!({"app": "web"}),
            json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                    "nodeTaintsPolicy": "Honor", "labelSelector": {"matchLabels": {"app": "web"}}}]),
        );
        let mut nodes = cluster([1, 0, 0, 0]);
        // z2's only node is tainted: with Honor, z2 is no domain and z1 alone is the minimum
        nodes[2] = node(
            "c",
            json!({"zone": "z2"}),
            json!({"taints": [{"key": "k", "effect": "NoSchedule"}]}),
        );
        assert_eq!(
            filter_all(&PodTopologySpread::default(), &p, &nodes),
            ["ok", "ok", "ok", "label"]
        );
    }

    #[test]
    fn add_and_remove_pod_update_state() {
        let p = pod("p", json!({"app": "web"}), json!([hard("zone", 1)]));
        let nodes = cluster([1, 0, 0, 0]);
        let pl = PodTopologySpread::default();
        let mut state = CycleState::new(&p);
        pl.pre_filter(&mut state, &p, &Snapshot::new(&nodes))
            .unwrap();
        assert!(pl.filter(&state, &p, &nodes[1]).is_err());
        let victim = PodInfo::new(&pod("a0", json!({"app": "web"}), json!([])));
        pl.remove_pod(&mut state, &victim, &nodes[0]);
        assert!(pl.filter(&state, &p, &nodes[1]).is_ok());
        pl.add_pod(&mut state, &victim, &nodes[2]);
        assert!(pl.filter(&state, &p, &nodes[2]).is_err());
    }

    fn scores(pl: &PodTopologySpread, p: &Value, nodes: &[NodeInfo]) -> Vec<i64> {
        let mut state = CycleState::new(p);
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let r = pl
            .pre_score(&mut state, p, &feasible, &Snapshot::new(nodes))
            .unwrap();
        if r == PreScoreResult::Skip {
            return vec![-1; nodes.len()];
        }
        let mut s: Vec<i64> = nodes.iter().map(|n| pl.score(&state, p, n)).collect();
        pl.normalize(&state, &feasible, &mut s);
        s
    }

    #[test]
    fn score_table() {
        let web = json!({"app": "web"});
        let soft = |key: &str| {
            json!({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                   "labelSelector": {"matchLabels": {"app": "web"}}})
        };
        let owned = |labels: Value| {
            json!({"metadata": {"name": "p", "namespace": "default", "labels": labels,
                                "ownerReferences": [{"kind": "ReplicaSet", "name": "rs",
                                                     "controller": true}]},
                   "spec": {"containers": [{"name": "c"}]}})
        };
        let cases: Vec<(&str, Value, [usize; 4], Vec<i64>)> = vec![
            (
                "no constraints and no owner: skipped",
                pod("p", web.clone(), json!([])),
                [3, 0, 0, 0],
                vec![-1; 4],
            ),
            (
                // zone weights ln(2+2): z1 = 2 pods -> round(2*1.386) = 3, z2 = 0; d ignored
                "zone: the emptier zone wins, nodes without the key are ignored",
                pod("p", web.clone(), json!([soft("zone")])),
                [2, 0, 0, 0],
                vec![0, 0, 100, 0],
            ),
            (
                // hostname weight ln(4+2) = 1.79: a = 2 -> 4, b = 1 -> 2, c, d = 0
                "hostname counts per node",
                pod("p", web.clone(), json!([soft(LABEL_HOSTNAME)])),
                [2, 1, 0, 0],
                vec![0, 50, 100, 100],
            ),
            (
                "all domains equal",
                pod("p", web.clone(), json!([soft(LABEL_HOSTNAME)])),
                [0, 0, 0, 0],
                vec![100, 100, 100, 100],
            ),
            (
                // system defaults: hostname maxSkew 3 (weight ln 6), zone key absent here
                // (topology.kubernetes.io/zone), so only hostname; nodes are not ignored
                "system default constraints for a ReplicaSet's pod",
                owned(web.clone()),
                [2, 0, 0, 0],
                // a: round(2*1.79 + 2) = 6, others 2: 100*(6+2-s)/6
                vec![33, 100, 100, 100],
            ),
            (
                "a ReplicaSet's pod without labels gets no defaults",
                owned(json!({})),
                [2, 0, 0, 0],
                vec![-1; 4],
            ),
        ];
        for (name, p, counts, want) in cases {
            let nodes = cluster(counts);
            assert_eq!(
                scores(&PodTopologySpread::default(), &p, &nodes),
                want,
                "{name}"
            );
        }
    }
}
