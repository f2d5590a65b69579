//! `DefaultPreemption`, the PostFilter plugin: when no node fits a pod, find a node where
//! evicting lower-priority pods (`spec.priority`) makes it fit, as upstream's preemption
//! evaluator does.
//!
//! Only nodes whose Filter status is `Unschedulable` are tried (`UnschedulableAndUnresolvable`
//! ones are "not helpful"). On each, every lower-priority pod is removed; if the pod then fits,
//! they are re-added one by one, highest priority first and PodDisruptionBudget-violating ones
//! before the others, keeping each that still lets the pod fit: the rest are the victims. The
//! candidate is picked by, in order: fewest PDB violations, lowest highest-victim priority,
//! smallest priority sum, fewest victims, latest start time of the highest-priority victims,
//! then node order. Pods with `preemptionPolicy: Never` never preempt.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::fit_error::{
    preemption_message, FitError, NO_PREEMPTION_VICTIMS, PREEMPTION_NOT_HELPFUL,
};
use crate::framework::{
    Code, CycleState, Framework, NodeInfo, Plugin, PluginSet, PodInfo, PostFilterPlugin,
    PostFilterResult, Snapshot, Status,
};
use crate::plugins::helper::{labels_at, LabelSelector};
use crate::plugins::string;

/// At least this share of nodes (percent) is dry-run before stopping at enough candidates.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
/// At least this many nodes are dry-run before stopping at enough candidates.
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// A node where preemption lets the pod fit, with the pods to evict.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidate {
    /// The node to nominate (`status.nominatedNodeName`).
    pub node: String,
    /// Pods to evict, highest priority first.
    pub victims: Vec<Value>,
    /// How many victims violate a PodDisruptionBudget.
    pub num_pdb_violations: usize,
}

/// The `DefaultPreemption` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPreemption;

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        "DefaultPreemption"
    }
}

/// The extension points `DefaultPreemption` implements.
pub fn plugin_set() -> PluginSet {
    PluginSet {
        post_filter: Some(Arc::new(DefaultPreemption)),
        ..PluginSet::default()
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        fw: &Framework,
        pod: &Value,
        snapshot: &Snapshot<'_>,
        statuses: &[(String, Status)],
    ) -> PostFilterResult {
        preempt(fw, pod, snapshot, statuses)
    }
}

/// Runs preemption for `pod` after `err` (see [`preempt`]).
pub fn preempt_after(
    fw: &Framework,
    pod: &Value,
    snapshot: &Snapshot<'_>,
    err: &FitError,
) -> PostFilterResult {
    preempt(fw, pod, snapshot, &err.node_to_status)
}

/// A parsed PodDisruptionBudget.
struct Pdb {
    namespace: String,
    selector: LabelSelector,
    allowed: i64,
    disrupted: Vec<String>,
}

impl Pdb {
    fn parse(v: &Value) -> Pdb {
        let sel = v.pointer("/spec/selector");
        Pdb {
            namespace: string(v, "/metadata/namespace").to_string(),
            // a nil or empty selector matches nothing for PDBs
            selector: match sel {
                Some(s) if s.as_object().is_some_and(|o| !o.is_empty()) => {
                    LabelSelector::parse(Some(s))
                }
                _ => LabelSelector::nothing(),
            },
            allowed: v
                .pointer("/status/disruptionsAllowed")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            disrupted: labels_at(v, "/status/disruptedPods").into_keys().collect(),
        }
    }
}

/// A pod on the node being evaluated.
#[derive(Clone)]
struct Victim {
    pod: Value,
    info: Arc<PodInfo>,
}

/// Higher priority first, then the earlier started.
fn more_important(a: &PodInfo, b: &PodInfo) -> Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_or_min(a.start_time).cmp(&start_or_min(b.start_time)))
}

fn start_or_min(t: Option<DateTime<Utc>>) -> DateTime<Utc> {
    t.unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Splits pods (kept in order) into those whose eviction would violate a PDB and the rest.
fn split_by_pdb_violation(pods: Vec<Victim>, pdbs: &[Pdb]) -> (Vec<Victim>, Vec<Victim>) {
    let mut allowed: Vec<i64> = pdbs.iter().map(|p| p.allowed).collect();
    let (mut violating, mut ok) = (Vec::new(), Vec::new());
    for v in pods {
        let mut violated = false;
        if !v.info.labels.is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.namespace != v.info.namespace
                    || !pdb.selector.matches(&v.info.labels)
                    || pdb.disrupted.contains(&v.info.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(v);
        } else {
            ok.push(v);
        }
    }
    (violating, ok)
}

/// Victims on one node, or the status saying why preemption there cannot help.
fn select_victims_on_node(
    fw: &Framework,
    state: &CycleState,
    pod: &Value,
    node: &NodeInfo,
    pdbs: &[Pdb],
) -> Result<(Vec<Victim>, usize), Status> {
    let mut state = state.clone();
    let priority = state.pod().priority;
    let mut ni = node.clone();
    let potential: Vec<Victim> = node
        .pods
        .iter()
        .zip(node.pod_infos())
        .filter(|(_, info)| info.priority < priority)
        .map(|(p, info)| Victim {
            pod: p.clone(),
            info: info.clone(),
        })
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_PREEMPTION_VICTIMS));
    }
    for v in &potential {
        ni.remove_pod(&v.info.namespace, &v.info.name);
        fw.run_remove_pod(&mut state, &v.info, &ni);
    }
    fw.run_filters(&state, pod, &ni)?;
    let mut potential = potential;
    potential.sort_by(|a, b| more_important(&a.info, &b.info));
    let (violating, non_violating) = split_by_pdb_violation(potential, pdbs);
    let mut victims = Vec::new();
    let mut num_violating = 0;
    let mut reprieve = |v: Victim, state: &mut CycleState, ni: &mut NodeInfo| -> bool {
        ni.add_pod_info(v.pod.clone(), v.info.clone());
        fw.run_add_pod(state, &v.info, ni);
        if fw.run_filters(state, pod, ni).is_ok() {
            return false;
        }
        ni.remove_pod(&v.info.namespace, &v.info.name);
        fw.run_remove_pod(state, &v.info, ni);
        victims.push(v);
        true
    };
    for v in violating {
        if reprieve(v, &mut state, &mut ni) {
            num_violating += 1;
        }
    }
    for v in non_violating {
        reprieve(v, &mut state, &mut ni);
    }
    victims.sort_by(|a, b| more_important(&a.info, &b.info));
    Ok((victims, num_violating))
}

/// Why the pod may not preempt at all, in upstream's words.
fn not_eligible(
    pod: &PodInfo,
    pod_json: &Value,
    snapshot: &Snapshot<'_>,
    statuses: &HashMap<&str, &Status>,
) -> Option<String> {
    if pod.preemption_never {
        return Some("not eligible due to preemptionPolicy=Never.".to_string());
    }
    let nominated = string(pod_json, "/status/nominatedNodeName");
    if nominated.is_empty()
        || statuses
            .get(nominated)
            .is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable)
    {
        return None;
    }
    let node = snapshot.nodes.iter().find(|n| n.name() == nominated)?;
    node.pod_infos()
        .iter()
        .any(|p| p.terminating && p.priority < pod.priority)
        .then(|| "not eligible due to a terminating pod on the nominated node.".to_string())
}

/// How many nodes to dry-run before stopping at enough candidates.
fn num_candidates(num_nodes: usize) -> usize {
    (num_nodes * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(num_nodes)
}

/// Preemption for `pod`, given the Filter statuses of the failed cycle (node name → status)
/// and the snapshot's nodes and PDBs: a candidate, or the message explaining why there is
/// none (`preemption: 0/3 nodes are available: …`, without trailing period).
pub fn preempt(
    fw: &Framework,
    pod: &Value,
    snapshot: &Snapshot<'_>,
    statuses: &[(String, Status)],
) -> PostFilterResult {
    let mut state = CycleState::new(pod);
    let by_name: HashMap<&str, &Status> = statuses.iter().map(|(n, s)| (n.as_str(), s)).collect();
    if let Some(msg) = not_eligible(state.pod(), pod, snapshot, &by_name) {
        return PostFilterResult {
            candidate: None,
            message: Some(format!("preemption: {}", msg.trim_end_matches('.'))),
        };
    }
    let all = snapshot.nodes;
    let mut node_statuses: Vec<(String, Status)> = Vec::new();
    let mut potential = Vec::new();
    for n in all {
        match by_name.get(n.name()) {
            Some(s) if s.code == Code::UnschedulableAndUnresolvable => node_statuses.push((
                n.name().to_string(),
                Status::unresolvable(PREEMPTION_NOT_HELPFUL),
            )),
            _ => potential.push(n),
        }
    }
    let no_candidate = |node_statuses: &[(String, Status)]| PostFilterResult {
        candidate: None,
        message: Some(preemption_message(all.len(), node_statuses)),
    };
    if potential.is_empty() {
        return no_candidate(&node_statuses);
    }
    if let Err(s) = fw.run_pre_filter(&mut state, pod, snapshot) {
        for n in &potential {
            node_statuses.push((n.name().to_string(), s.clone()));
        }
        return no_candidate(&node_statuses);
    }
    let pdbs: Vec<Pdb> = snapshot.pdbs.iter().map(Pdb::parse).collect();
    let wanted = num_candidates(potential.len());
    let mut candidates: Vec<(String, Vec<Victim>, usize)> = Vec::new();
    let mut non_violating = 0;
    for n in potential {
        match select_victims_on_node(fw, &state, pod, n, &pdbs) {
            Ok((victims, violations)) => {
                if violations == 0 {
                    non_violating += 1;
                }
                candidates.push((n.name().to_string(), victims, violations));
                if non_violating > 0 && candidates.len() >= wanted {
                    break;
                }
            }
            Err(s) => node_statuses.push((n.name().to_string(), s)),
        }
    }
    let Some(best) = pick_one(&candidates) else {
        return no_candidate(&node_statuses);
    };
    let (node, victims, violations) = &candidates[best];
    PostFilterResult {
        candidate: Some(Candidate {
            node: node.clone(),
            victims: victims.iter().map(|v| v.pod.clone()).collect(),
            num_pdb_violations: *violations,
        }),
        message: None,
    }
}

/// Upstream's `pickOneNodeForPreemption` over (node, victims sorted by importance,
/// PDB violations).
fn pick_one(candidates: &[(String, Vec<Victim>, usize)]) -> Option<usize> {
    if let Some(i) = candidates.iter().position(|(_, v, _)| v.is_empty()) {
        return Some(i);
    }
    let highest = |v: &[Victim]| v.first().map(|v| v.info.priority).unwrap_or(i32::MIN);
    let sum = |v: &[Victim]| -> i64 {
        v.iter()
            .map(|v| i64::from(v.info.priority) + i64::from(i32::MAX) + 1)
            .sum()
    };
    let earliest_of_highest = |v: &[Victim]| {
        let top = highest(v);
        v.iter()
            .filter(|v| v.info.priority == top)
            .map(|v| start_or_min(v.info.start_time))
            .min()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    (0..candidates.len()).min_by(|&a, &b| {
        let (_, va, pa) = &candidates[a];
        let (_, vb, pb) = &candidates[b];
        pa.cmp(pb)
            .then_with(|| highest(va).cmp(&highest(vb)))
            .then_with(|| sum(va).cmp(&sum(vb)))
            .then_with(|| va.len().cmp(&vb.len()))
            // the latest start time wins
            .then_with(|| earliest_of_highest(vb).cmp(&earliest_of_highest(va)))
            .then_with(|| a.cmp(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::schedule_one;
    use serde_json::json;

    fn pod(name: &str, prio: i64, cpu: &str, extra: Value) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "default",
                                        "labels": {"app": name}},
                           "spec": {"priority": prio, "containers": [
                               {"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
                           "status": {"startTime": "2024-01-01T00:00:00Z"}});
        if let (Some(dst), Value::Object(extra)) = (p.as_object_mut(), extra) {
            for (k, v) in extra {
                match (dst.get_mut(&k), v) {
                    (Some(Value::Object(d)), Value::Object(v)) => d.extend(v),
                    (_, v) => {
                        dst.insert(k, v);
                    }
                }
            }
        }
        p
    }

    fn node(name: &str, cpu: &str, pods: Vec<Value>) -> NodeInfo {
        NodeInfo::new(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                   "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}),
            pods,
        )
    }

    fn run(
        p: &Value,
        nodes: &[NodeInfo],
        pdbs: &[Value],
    ) -> (Option<(String, Vec<String>)>, String) {
        let fw = Framework::default();
        let mut err = schedule_one(&fw, p, nodes).expect_err("pod must not fit");
        let snap = Snapshot::new(nodes).with_pdbs(pdbs);
        let c = fw.run_post_filter(p, &snap, &mut err);
        let c = c.map(|c| {
            let names = c
                .victims
                .iter()
                .map(|v| string(v, "/metadata/name").to_string())
                .collect();
            (c.node, names)
        });
        (c, err.to_string())
    }

    fn pdb(app: &str, allowed: i64) -> Value {
        json!({"metadata": {"name": format!("pdb-{app}"), "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": app}}},
               "status": {"disruptionsAllowed": allowed}})
    }

    #[test]
    fn preemption_table() {
        let high = pod("high", 100, "2", json!({}));
        type Case = (
            &'static str,
            Value,
            Vec<NodeInfo>,
            Vec<Value>,
            Option<(&'static str, Vec<&'static str>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "one low-priority pod is evicted",
                high.clone(),
                vec![node("n1", "2", vec![pod("low", 0, "2", json!({}))])],
                vec![],
                Some(("n1", vec!["low"])),
            ),
            (
                "minimal victims: the pod that still fits is reprieved",
                high.clone(),
                vec![node(
                    "n1",
                    "3",
                    vec![pod("a", 10, "1", json!({})), pod("b", 5, "2", json!({}))],
                )],
                vec![],
                // removing both frees 3; re-adding a (higher priority) keeps 2 free
                Some(("n1", vec!["b"])),
            ),
            (
                "higher or equal priority pods are never victims",
                high.clone(),
                vec![node("n1", "2", vec![pod("peer", 100, "2", json!({}))])],
                vec![],
                None,
            ),
            (
                "lowest highest-victim priority wins",
                high.clone(),
                vec![
                    node("n1", "2", vec![pod("mid", 50, "2", json!({}))]),
                    node("n2", "2", vec![pod("low", 1, "2", json!({}))]),
                ],
                vec![],
                Some(("n2", vec!["low"])),
            ),
            (
                "fewest PDB violations wins over priority",
                high.clone(),
                vec![
                    node("n1", "2", vec![pod("guarded", 1, "2", json!({}))]),
                    node("n2", "2", vec![pod("free", 50, "2", json!({}))]),
                ],
                vec![pdb("guarded", 0)],
                Some(("n2", vec!["free"])),
            ),
            (
                "a PDB with disruptions allowed is no violation",
                high.clone(),
                vec![
                    node("n1", "2", vec![pod("guarded", 1, "2", json!({}))]),
                    node("n2", "2", vec![pod("free", 50, "2", json!({}))]),
                ],
                vec![pdb("guarded", 1)],
                Some(("n1", vec!["guarded"])),
            ),
            (
                "smallest priority sum",
                high.clone(),
                vec![
                    node(
                        "n1",
                        "2",
                        vec![pod("a", 10, "1", json!({})), pod("b", 10, "1", json!({}))],
                    ),
                    node(
                        "n2",
                        "2",
                        vec![pod("c", 10, "1", json!({})), pod("d", 1, "1", json!({}))],
                    ),
                ],
                vec![],
                Some(("n2", vec!["c", "d"])),
            ),
            (
                "fewest victims",
                high.clone(),
                vec![
                    node(
                        "n1",
                        "2",
                        vec![pod("a", 10, "1", json!({})), pod("b", -20, "1", json!({}))],
                    ),
                    node("n2", "2", vec![pod("c", 10, "2", json!({}))]),
                ],
                vec![],
                // sums: n1 = 10 + -20 + 2*(2^31), n2 = 10 + 2^31: n2 is smaller
                Some(("n2", vec!["c"])),
            ),
            (
                "latest start time of the highest-priority victims",
                high.clone(),
                vec![
                    node("n1", "2", vec![pod("old", 10, "2", json!({}))]),
                    node(
                        "n2",
                        "2",
                        vec![pod(
                            "new",
                            10,
                            "2",
                            json!({"status": {"startTime": "2024-06-01T00:00:00Z"}}),
                        )],
                    ),
                ],
                vec![],
                Some(("n2", vec!["new"])),
            ),
            (
                "preemptionPolicy Never",
                pod(
                    "never",
                    100,
                    "2",
                    json!({"spec": {"preemptionPolicy": "Never"}}),
                ),
                vec![node("n1", "2", vec![pod("low", 0, "2", json!({}))])],
                vec![],
                None,
            ),
            (
                "unresolvable nodes are not tried",
                pod(
                    "picky",
                    100,
                    "2",
                    json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
                ),
                vec![node("n1", "2", vec![pod("low", 0, "2", json!({}))])],
                vec![],
                None,
            ),
            (
                "still no fit after evicting everything evictable",
                pod("huge", 100, "3", json!({})),
                vec![node("n1", "2", vec![pod("low", 0, "1", json!({}))])],
                vec![],
                None,
            ),
        ];
        for (name, p, nodes, pdbs, want) in cases {
            let (got, _) = run(&p, &nodes, &pdbs);
            let want =
                want.map(|(n, v)| (n.to_string(), v.iter().map(|s| s.to_string()).collect()));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn messages() {
        let cases = [
            (
                pod("high", 100, "2", json!({})),
                vec![
                    node("n1", "1", vec![]),
                    node("n2", "1", vec![]),
                    node("n3", "1", vec![]),
                ],
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are \
                 available: 3 No preemption victims found for incoming pod.",
            ),
            (
                pod(
                    "picky",
                    100,
                    "1",
                    json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
                ),
                vec![node("n1", "2", vec![]), node("n2", "2", vec![])],
                "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
                 preemption: 0/2 nodes are available: 2 Preemption is not helpful for \
                 scheduling.",
            ),
            (
                pod("huge", 100, "3", json!({})),
                vec![node("n1", "2", vec![pod("low", 0, "1", json!({}))])],
                "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are \
                 available: 1 Insufficient cpu.",
            ),
            (
                pod(
                    "never",
                    100,
                    "2",
                    json!({"spec": {"preemptionPolicy": "Never"}}),
                ),
                vec![node("n1", "1", vec![])],
                "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to \
                 preemptionPolicy=Never.",
            ),
        ];
        for (p, nodes, want) in cases {
            let (c, msg) = run(&p, &nodes, &[]);
            assert!(c.is_none());
            assert_eq!(msg, want);
        }
        // a found candidate leaves no preemption message
        let nodes = [node("n1", "2", vec![pod("low", 0, "2", json!({}))])];
        let (c, msg) = run(&pod("high", 100, "2", json!({})), &nodes, &[]);
        assert!(c.is_some());
        assert_eq!(msg, "0/1 nodes are available: 1 Insufficient cpu.");
    }

    #[test]
    fn anti_affinity_victim_is_found_through_prefilter_extensions() {
        // the incoming pod refuses to share a host with app=low; evicting that pod helps
        let p = pod(
            "high",
            100,
            "100m",
            json!({"spec": {"affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "low"}},
                     "topologyKey": "kubernetes.io/hostname"}]}}}}),
        );
        let nodes = [node(
            "n1",
            "4",
            vec![
                pod("low", 0, "100m", json!({})),
                pod("other", 0, "100m", json!({})),
            ],
        )];
        let (c, _) = run(&p, &nodes, &[]);
        assert_eq!(c, Some(("n1".to_string(), vec!["low".to_string()])));
    }
}
