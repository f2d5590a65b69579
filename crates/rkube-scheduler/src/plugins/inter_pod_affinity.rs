//! `InterPodAffinity`: required and preferred pod affinity and anti-affinity.
//!
//! PreFilter counts, per topology pair (`topologyKey`, node label value), the existing pods
//! that match all of the pod's required affinity terms, those matching any of its required
//! anti-affinity terms, and the existing pods whose own required anti-affinity terms match the
//! incoming pod (symmetry). Filter then only looks the node's pairs up. Terms select pods by
//! label selector within `namespaces` and/or namespaces whose labels match
//! `namespaceSelector` (the pod's own namespace when neither is set); the incoming pod's
//! namespace selectors are resolved against the snapshot's [`Namespaces`] once per pod.
//!
//! Score sums, per topology pair, the weights of the pod's preferred terms matched by existing
//! pods (anti-affinity negative), existing pods' preferred terms matched by the pod, and
//! existing pods' required affinity terms matched by the pod (`hardPodAffinityWeight`), then
//! normalises to `0..=100` between the lowest and highest node.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::helper::{AffinityTerm, Labels, WeightedAffinityTerm};
use crate::framework::{
    CycleState, FilterPlugin, Namespaces, NodeInfo, Plugin, PluginSet, PodInfo, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, PreScoreResult, ScorePlugin, Snapshot, Status, MAX_NODE_SCORE,
};

/// Upstream's reason when the pod's required affinity is not met.
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream's reason when the pod's required anti-affinity is not met.
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream's reason when an existing pod's anti-affinity rejects the pod.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

const PRE_FILTER_KEY: &str = "PreFilterInterPodAffinity";
const PRE_SCORE_KEY: &str = "PreScoreInterPodAffinity";

/// The default `hardPodAffinityWeight`.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The `InterPodAffinity` plugin.
#[derive(Debug, Clone)]
pub struct InterPodAffinity {
    /// Score weight of an existing pod's required affinity term the incoming pod matches.
    pub hard_pod_affinity_weight: i64,
    /// `ignorePreferredTermsOfExistingPods`.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinity {
    fn default() -> InterPodAffinity {
        InterPodAffinity {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }
}

/// The extension points `InterPodAffinity` implements.
pub fn plugin_set(args: InterPodAffinity) -> PluginSet {
    let p = Arc::new(args);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

type Pair = (String, String);

/// Counts per topology pair; entries that drop to zero are removed.
#[derive(Debug, Clone, Default)]
struct Counts(HashMap<Pair, i64>);

impl Counts {
    fn add(&mut self, key: &str, value: &str, n: i64) {
        let e = self
            .0
            .entry((key.to_string(), value.to_string()))
            .or_insert(0);
        *e += n;
        if *e == 0 {
            self.0.remove(&(key.to_string(), value.to_string()));
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        // avoid allocating for the common empty case
        if self.0.is_empty() {
            return 0;
        }
        self.0
            .get(&(key.to_string(), value.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// The incoming pod's terms with `namespaceSelector`s resolved to namespace names (an empty
/// selector, matching every namespace, is kept as is).
fn resolve(term: &AffinityTerm, namespaces: &Namespaces) -> AffinityTerm {
    let mut t = term.clone();
    if let Some(sel) = &term.namespace_selector {
        if sel.is_empty() && !sel.is_nothing() {
            return t;
        }
        for (name, labels) in namespaces.iter() {
            if sel.matches(labels) {
                t.namespaces.insert(name.clone());
            }
        }
        t.namespace_selector = None;
    }
    t
}

fn resolve_all(terms: &[AffinityTerm], namespaces: &Namespaces) -> Vec<AffinityTerm> {
    terms.iter().map(|t| resolve(t, namespaces)).collect()
}

#[derive(Debug, Clone, Default)]
struct PreFilterState {
    affinity_terms: Vec<AffinityTerm>,
    anti_affinity_terms: Vec<AffinityTerm>,
    /// Existing pods matching all affinity terms, per pair.
    affinity: Counts,
    /// Existing pods matching any anti-affinity term, per pair.
    anti_affinity: Counts,
    /// Existing pods whose anti-affinity terms match the incoming pod, per pair.
    existing_anti_affinity: Counts,
    /// The incoming pod's namespace labels.
    ns_labels: Option<Labels>,
    /// Does the incoming pod match all of its own affinity terms?
    self_match: bool,
}

impl PreFilterState {
    /// Adds (`n = 1`) or removes (`n = -1`) one existing pod's contribution on `node`.
    fn update(&mut self, incoming: &PodInfo, existing: &PodInfo, node: &NodeInfo, n: i64) {
        self.update_existing_terms(incoming, existing, node, n);
        self.update_incoming_terms(existing, node, n);
    }

    /// The existing pod's anti-affinity terms against the incoming pod.
    fn update_existing_terms(
        &mut self,
        incoming: &PodInfo,
        existing: &PodInfo,
        node: &NodeInfo,
        n: i64,
    ) {
        let labels = node.labels();
        for t in &existing.required_anti_affinity {
            if let Some(v) = labels.get(&t.topology_key) {
                if t.matches(
                    &incoming.namespace,
                    &incoming.labels,
                    self.ns_labels.as_ref(),
                ) {
                    self.existing_anti_affinity.add(&t.topology_key, v, n);
                }
            }
        }
    }

    /// The incoming pod's terms against `n` existing pods sharing `existing`'s namespace and
    /// labels.
    fn update_incoming_terms(&mut self, existing: &PodInfo, node: &NodeInfo, n: i64) {
        let labels = node.labels();
        let matches = |t: &AffinityTerm| t.matches(&existing.namespace, &existing.labels, None);
        if !self.affinity_terms.is_empty() && self.affinity_terms.iter().all(matches) {
            for t in &self.affinity_terms {
                if let Some(v) = labels.get(&t.topology_key) {
                    self.affinity.add(&t.topology_key, v, n);
                }
            }
        }
        for t in &self.anti_affinity_terms {
            if let Some(v) = labels.get(&t.topology_key) {
                if matches(t) {
                    self.anti_affinity.add(&t.topology_key, v, n);
                }
            }
        }
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<PreFilterResult, Status> {
        let pod = state.pod_arc();
        let any_existing = snapshot
            .nodes
            .iter()
            .any(NodeInfo::has_pods_with_required_anti_affinity);
        if pod.required_affinity.is_empty()
            && pod.required_anti_affinity.is_empty()
            && !any_existing
        {
            return Ok(PreFilterResult::Skip);
        }
        let mut s = PreFilterState {
            affinity_terms: resolve_all(&pod.required_affinity, snapshot.namespaces),
            anti_affinity_terms: resolve_all(&pod.required_anti_affinity, snapshot.namespaces),
            ns_labels: snapshot.namespaces.labels(&pod.namespace).cloned(),
            ..PreFilterState::default()
        };
        s.self_match = s
            .affinity_terms
            .iter()
            .all(|t| t.matches(&pod.namespace, &pod.labels, None));
        let own_terms = !s.affinity_terms.is_empty() || !s.anti_affinity_terms.is_empty();
        for node in snapshot.nodes {
            if node.has_pods_with_required_anti_affinity() {
                for existing in node.pod_infos() {
                    s.update_existing_terms(&pod, existing, node, 1);
                }
            }
            if own_terms {
                for g in node.label_groups() {
                    s.update_incoming_terms(&g.pod, node, g.count as i64);
                }
            }
        }
        if s.affinity_terms.is_empty()
            && s.anti_affinity_terms.is_empty()
            && s.existing_anti_affinity.0.is_empty()
        {
            return Ok(PreFilterResult::Skip);
        }
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

fn satisfies_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    let mut pods_exist = true;
    for t in &s.affinity_terms {
        match node.labels().get(&t.topology_key) {
            None => return false,
            Some(v) => {
                if s.affinity.get(&t.topology_key, v) <= 0 {
                    pods_exist = false;
                }
            }
        }
    }
    // the first pod of a group with affinity to itself may go anywhere with the topology
    pods_exist || (s.affinity.0.is_empty() && s.self_match)
}

fn satisfies_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    s.anti_affinity.0.is_empty()
        || !s.anti_affinity_terms.iter().any(|t| {
            node.labels()
                .get(&t.topology_key)
                .is_some_and(|v| s.anti_affinity.get(&t.topology_key, v) > 0)
        })
}

fn satisfies_existing_anti_affinity(s: &PreFilterState, node: &NodeInfo) -> bool {
    s.existing_anti_affinity.0.is_empty()
        || !node
            .labels()
            .iter()
            .any(|(k, v)| s.existing_anti_affinity.get(k, v) > 0)
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let Some(s) = state.read::<PreFilterState>(PRE_FILTER_KEY) else {
            return Err(Status::unresolvable(format!(
                "error reading {PRE_FILTER_KEY:?} from cycleState"
            )));
        };
        if !satisfies_affinity(s, node) {
            return Err(Status::unresolvable(ERR_REASON_AFFINITY));
        }
        if !satisfies_anti_affinity(s, node) {
            return Err(Status::unschedulable([ERR_REASON_ANTI_AFFINITY]));
        }
        if !satisfies_existing_anti_affinity(s, node) {
            return Err(Status::unschedulable([ERR_REASON_EXISTING_ANTI_AFFINITY]));
        }
        Ok(())
    }
}

/// Score per topology key and value.
#[derive(Debug, Clone, Default)]
struct PreScoreState {
    topology_score: HashMap<String, HashMap<String, i64>>,
}

impl PreScoreState {
    fn add(&mut self, term: &AffinityTerm, weight: i64, matched: bool, node: &NodeInfo) {
        if !matched {
            return;
        }
        if let Some(v) = node.labels().get(&term.topology_key) {
            *self
                .topology_score
                .entry(term.topology_key.clone())
                .or_default()
                .entry(v.clone())
                .or_insert(0) += weight;
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        feasible: &[&NodeInfo],
        snapshot: &Snapshot<'_>,
    ) -> Result<PreScoreResult, Status> {
        if feasible.is_empty() {
            return Ok(PreScoreResult::Skip);
        }
        let pod = state.pod_arc();
        let has_constraints =
            !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Ok(PreScoreResult::Skip);
        }
        if !has_constraints && !snapshot.nodes.iter().any(NodeInfo::has_pods_with_affinity) {
            return Ok(PreScoreResult::Skip);
        }
        let resolve_w = |ws: &[WeightedAffinityTerm]| -> Vec<WeightedAffinityTerm> {
            ws.iter()
                .map(|w| WeightedAffinityTerm {
                    weight: w.weight,
                    term: resolve(&w.term, snapshot.namespaces),
                })
                .collect()
        };
        let preferred = resolve_w(&pod.preferred_affinity);
        let preferred_anti = resolve_w(&pod.preferred_anti_affinity);
        let ns_labels = snapshot.namespaces.labels(&pod.namespace);
        let incoming_matches = |t: &AffinityTerm| t.matches(&pod.namespace, &pod.labels, ns_labels);
        let mut s = PreScoreState::default();
        for node in snapshot.nodes {
            if node.labels().is_empty() || (!has_constraints && !node.has_pods_with_affinity()) {
                continue;
            }
            for existing in node.pod_infos() {
                if !has_constraints && !existing.has_affinity() {
                    continue;
                }
                let existing_matches =
                    |t: &AffinityTerm| t.matches(&existing.namespace, &existing.labels, None);
                for w in &preferred {
                    s.add(&w.term, w.weight, existing_matches(&w.term), node);
                }
                for w in &preferred_anti {
                    s.add(&w.term, -w.weight, existing_matches(&w.term), node);
                }
                if self.ignore_preferred_terms_of_existing_pods {
                    continue;
                }
                if self.hard_pod_affinity_weight > 0 {
                    for t in &existing.required_affinity {
                        s.add(t, self.hard_pod_affinity_weight, incoming_matches(t), node);
                    }
                }
                for w in &existing.preferred_affinity {
                    s.add(&w.term, w.weight, incoming_matches(&w.term), node);
                }
                for w in &existing.preferred_anti_affinity {
                    s.add(&w.term, -w.weight, incoming_matches(&w.term), node);
                }
            }
        }
        if s.topology_score.is_empty() {
            return Ok(PreScoreResult::Skip);
        }
        state.write(PRE_SCORE_KEY, s);
        Ok(PreScoreResult::Run)
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        let Some(s) = state.read::<PreScoreState>(PRE_SCORE_KEY) else {
            return 0;
        };
        s.topology_score
            .iter()
            .filter_map(|(k, values)| node.labels().get(k).and_then(|v| values.get(v)))
            .sum()
    }

    /// Scales linearly so the lowest node scores 0 and the highest 100.
    fn normalize(&self, state: &CycleState, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        if state.read::<PreScoreState>(PRE_SCORE_KEY).is_none() {
            return;
        }
        let (min, max) = (
            scores.iter().copied().min().unwrap_or(0),
            scores.iter().copied().max().unwrap_or(0),
        );
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
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

    fn pod(name: &str, ns: &str, labels: Value, affinity: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
               "spec": {"containers": [{"name": "c"}], "affinity": affinity}})
    }

    fn term(sel: Value, key: &str) -> Value {
        json!({"labelSelector": {"matchLabels": sel}, "topologyKey": key})
    }

    fn required(kind: &str, terms: Value) -> Value {
        json!({kind: {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
    }

    /// Nodes a, b in zone 1, c in zone 2; `placed` lists (node index, pod).
    fn cluster(placed: Vec<(usize, Value)>) -> Vec<NodeInfo> {
        let mut nodes = vec![
            node("a", json!({"zone": "z1", "host": "a"}), json!({})),
            node("b", json!({"zone": "z1", "host": "b"}), json!({})),
            node("c", json!({"zone": "z2", "host": "c"}), json!({})),
        ];
        for (i, p) in placed {
            nodes[i].add_pod(p);
        }
        nodes
    }

    fn filter_all(p: &Value, nodes: &[NodeInfo], namespaces: &Namespaces) -> Vec<Option<String>> {
        let mut state = CycleState::new(p);
        let snap = Snapshot::new(nodes).with_namespaces(namespaces);
        let pre = InterPodAffinity::default()
            .pre_filter(&mut state, p, &snap)
            .unwrap();
        nodes
            .iter()
            .map(|n| {
                if pre == PreFilterResult::Skip {
                    return None;
                }
                InterPodAffinity::default()
                    .filter(&state, p, n)
                    .err()
                    .map(|s| {
                        let code = if s.code == Code::Unschedulable {
                            "U"
                        } else {
                            "UU"
                        };
                        format!("{code}: {}", s.reasons.join(","))
                    })
            })
            .collect()
    }

    #[test]
    fn filter_table() {
        let web = json!({"app": "web"});
        let db = json!({"app": "db"});
        let mut namespaces = Namespaces::default();
        namespaces.insert("prod", [("env".to_string(), "prod".to_string())].into());
        namespaces.insert("dev", [("env".to_string(), "dev".to_string())].into());
        let aff = |sel: Value, key: &str| required("podAffinity", json!([term(sel, key)]));
        let anti = |sel: Value, key: &str| required("podAntiAffinity", json!([term(sel, key)]));
        let ok = None;
        let no_aff = Some(format!("UU: {ERR_REASON_AFFINITY}"));
        let no_anti = Some(format!("U: {ERR_REASON_ANTI_AFFINITY}"));
        let no_existing = Some(format!("U: {ERR_REASON_EXISTING_ANTI_AFFINITY}"));
        type Case = (
            &'static str,
            Value,
            Vec<(usize, Value)>,
            Vec<Option<String>>,
        );
        let cases: Vec<Case> = vec![
            (
                "no affinity anywhere",
                pod("p", "default", web.clone(), json!({})),
                vec![(0, pod("x", "default", db.clone(), json!({})))],
                vec![ok.clone(), ok.clone(), ok.clone()],
            ),
            (
                "affinity to db in the same zone",
                pod("p", "default", web.clone(), aff(db.clone(), "zone")),
                vec![(0, pod("x", "default", db.clone(), json!({})))],
                vec![ok.clone(), ok.clone(), no_aff.clone()],
            ),
            (
                "affinity per host",
                pod("p", "default", web.clone(), aff(db.clone(), "host")),
                vec![(2, pod("x", "default", db.clone(), json!({})))],
                vec![no_aff.clone(), no_aff.clone(), ok.clone()],
            ),
            (
                "affinity: a pod in another namespace does not count",
                pod("p", "default", web.clone(), aff(db.clone(), "zone")),
                vec![(0, pod("x", "other", db.clone(), json!({})))],
                vec![no_aff.clone(), no_aff.clone(), no_aff.clone()],
            ),
            (
                "affinity by namespaceSelector",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    required(
                        "podAffinity",
                        json!([{"labelSelector": {"matchLabels": db}, "topologyKey": "zone",
                                "namespaceSelector": {"matchLabels": {"env": "prod"}}}]),
                    ),
                ),
                vec![
                    (0, pod("x", "dev", db.clone(), json!({}))),
                    (2, pod("y", "prod", db.clone(), json!({}))),
                ],
                vec![no_aff.clone(), no_aff.clone(), ok.clone()],
            ),
            (
                "affinity by namespaces list",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    required(
                        "podAffinity",
                        json!([{"labelSelector": {"matchLabels": db}, "topologyKey": "zone",
                                "namespaces": ["dev"]}]),
                    ),
                ),
                vec![(0, pod("x", "dev", db.clone(), json!({})))],
                vec![ok.clone(), ok.clone(), no_aff.clone()],
            ),
            (
                "the first pod of a self-affine group goes anywhere",
                pod("p", "default", web.clone(), aff(web.clone(), "zone")),
                vec![],
                vec![ok.clone(), ok.clone(), ok.clone()],
            ),
            (
                "self-affinity needs the topology key on the node",
                pod("p", "default", web.clone(), aff(web.clone(), "rack")),
                vec![],
                vec![no_aff.clone(), no_aff.clone(), no_aff.clone()],
            ),
            (
                "not self-affine: no matching pod means nowhere",
                pod("p", "default", web.clone(), aff(db.clone(), "zone")),
                vec![],
                vec![no_aff.clone(), no_aff.clone(), no_aff.clone()],
            ),
            (
                "anti-affinity to web per zone",
                pod("p", "default", web.clone(), anti(web.clone(), "zone")),
                vec![(1, pod("x", "default", web.clone(), json!({})))],
                vec![no_anti.clone(), no_anti.clone(), ok.clone()],
            ),
            (
                "anti-affinity per host",
                pod("p", "default", web.clone(), anti(web.clone(), "host")),
                vec![(1, pod("x", "default", web.clone(), json!({})))],
                vec![ok.clone(), no_anti.clone(), ok.clone()],
            ),
            (
                "existing pod's anti-affinity (symmetry)",
                pod("p", "default", web.clone(), json!({})),
                vec![(
                    2,
                    pod("x", "default", db.clone(), anti(web.clone(), "zone")),
                )],
                vec![ok.clone(), ok.clone(), no_existing.clone()],
            ),
            (
                "existing pod's anti-affinity in another namespace ignores us",
                pod("p", "default", web.clone(), json!({})),
                vec![(2, pod("x", "other", db.clone(), anti(web.clone(), "zone")))],
                vec![ok.clone(), ok.clone(), ok.clone()],
            ),
            (
                "existing pod's anti-affinity via namespaceSelector on our namespace",
                pod("p", "prod", web.clone(), json!({})),
                vec![(
                    0,
                    pod(
                        "x",
                        "other",
                        db.clone(),
                        required(
                            "podAntiAffinity",
                            json!([{"labelSelector": {"matchLabels": web}, "topologyKey": "host",
                                    "namespaceSelector": {"matchLabels": {"env": "prod"}}}]),
                        ),
                    ),
                )],
                vec![no_existing.clone(), ok.clone(), ok.clone()],
            ),
            (
                "affinity and anti-affinity together",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                            term(db.clone(), "zone")]},
                           "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                            term(web.clone(), "host")]}}),
                ),
                vec![
                    (0, pod("x", "default", db.clone(), json!({}))),
                    (0, pod("y", "default", web.clone(), json!({}))),
                ],
                vec![no_anti.clone(), ok.clone(), no_aff.clone()],
            ),
        ];
        for (name, p, placed, want) in cases {
            let nodes = cluster(placed);
            assert_eq!(filter_all(&p, &nodes, &namespaces), want, "{name}");
        }
    }

    #[test]
    fn add_and_remove_pod_update_state() {
        let web = json!({"app": "web"});
        let p = pod(
            "p",
            "default",
            web.clone(),
            required("podAntiAffinity", json!([term(web.clone(), "zone")])),
        );
        let nodes = cluster(vec![(0, pod("x", "default", web.clone(), json!({})))]);
        let mut state = CycleState::new(&p);
        let pl = InterPodAffinity::default();
        pl.pre_filter(&mut state, &p, &Snapshot::new(&nodes))
            .unwrap();
        assert!(pl.filter(&state, &p, &nodes[1]).is_err());
        let x = PodInfo::new(&pod("x", "default", web.clone(), json!({})));
        pl.remove_pod(&mut state, &x, &nodes[0]);
        assert!(pl.filter(&state, &p, &nodes[1]).is_ok());
        pl.add_pod(&mut state, &x, &nodes[2]);
        assert!(pl.filter(&state, &p, &nodes[2]).is_err());
        assert!(pl.filter(&state, &p, &nodes[0]).is_ok());
    }

    fn scores(p: &Value, nodes: &[NodeInfo], pl: &InterPodAffinity) -> Vec<i64> {
        let mut state = CycleState::new(p);
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let snap = Snapshot::new(nodes);
        if pl.pre_score(&mut state, p, &feasible, &snap).unwrap() == PreScoreResult::Skip {
            return vec![0; nodes.len()];
        }
        let mut s: Vec<i64> = nodes.iter().map(|n| pl.score(&state, p, n)).collect();
        pl.normalize(&state, &feasible, &mut s);
        s
    }

    #[test]
    fn score_table() {
        let web = json!({"app": "web"});
        let db = json!({"app": "db"});
        let preferred = |kind: &str, w: i64, sel: Value, key: &str| {
            json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": w, "podAffinityTerm": term(sel, key)}]}})
        };
        type Case = (&'static str, Value, Vec<(usize, Value)>, Vec<i64>);
        let cases: Vec<Case> = vec![
            (
                "nothing to score",
                pod("p", "default", web.clone(), json!({})),
                vec![(0, pod("x", "default", db.clone(), json!({})))],
                vec![0, 0, 0],
            ),
            (
                "preferred affinity to db's zone",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    preferred("podAffinity", 10, db.clone(), "zone"),
                ),
                vec![(2, pod("x", "default", db.clone(), json!({})))],
                vec![0, 0, 100],
            ),
            (
                "preferred anti-affinity away from db's zone",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    preferred("podAntiAffinity", 10, db.clone(), "zone"),
                ),
                vec![(2, pod("x", "default", db.clone(), json!({})))],
                vec![100, 100, 0],
            ),
            (
                "affinity 10 to zone z1 and anti-affinity 5 to host a",
                pod(
                    "p",
                    "default",
                    web.clone(),
                    json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 10, "podAffinityTerm": term(db.clone(), "zone")}]},
                           "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 5, "podAffinityTerm": term(db.clone(), "host")}]}}),
                ),
                vec![(0, pod("x", "default", db.clone(), json!({})))],
                // a: 10 - 5 = 5, b: 10, c: 0
                vec![50, 100, 0],
            ),
            (
                "existing pod's preferred affinity to us (symmetry)",
                pod("p", "default", web.clone(), json!({})),
                vec![(
                    2,
                    pod(
                        "x",
                        "default",
                        db.clone(),
                        preferred("podAffinity", 7, web.clone(), "zone"),
                    ),
                )],
                vec![0, 0, 100],
            ),
            (
                "existing pod's required affinity to us counts hardPodAffinityWeight",
                pod("p", "default", web.clone(), json!({})),
                vec![(
                    0,
                    pod(
                        "x",
                        "default",
                        db.clone(),
                        required("podAffinity", json!([term(web.clone(), "host")])),
                    ),
                )],
                vec![100, 0, 0],
            ),
        ];
        for (name, p, placed, want) in cases {
            let nodes = cluster(placed);
            assert_eq!(
                scores(&p, &nodes, &InterPodAffinity::default()),
                want,
                "{name}"
            );
        }
        // with ignorePreferredTermsOfExistingPods, existing pods' terms are not scored
        let nodes = cluster(vec![(
            2,
            pod(
                "x",
                "default",
                db.clone(),
                preferred("podAffinity", 7, web.clone(), "zone"),
            ),
        )]);
        let pl = InterPodAffinity {
            ignore_preferred_terms_of_existing_pods: true,
            ..InterPodAffinity::default()
        };
        assert_eq!(
            scores(&pod("p", "default", web, json!({})), &nodes, &pl),
            [0, 0, 0]
        );
    }
}
