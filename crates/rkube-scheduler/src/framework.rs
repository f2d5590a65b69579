//! The scheduling framework: [`NodeInfo`] snapshots, the Filter and Score extension points as
//! traits, a [`Framework`] profile holding plugins with weights, and [`schedule_one`], which
//! filters every node, scores the feasible ones and picks the best.

use std::fmt;

use serde_json::Value;

use crate::fit_error::FitError;
use crate::plugins;
use crate::resources::Resources;

/// The highest score a plugin may give a node after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;

/// A node and the pods bound or assumed on it, with their summed requests.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The Node object.
    pub node: Value,
    /// Pods bound to (or assumed on) the node.
    pub pods: Vec<Value>,
    /// Sum of the pods' effective requests; `pods` is the pod count.
    pub requested: Resources,
    /// As `requested`, with upstream's defaults for containers without requests (for scoring).
    pub non_zero_requested: Resources,
    /// `status.allocatable` of the node.
    pub allocatable: Resources,
}

impl NodeInfo {
    /// Builds the snapshot, summing the pods' requests.
    pub fn new(node: Value, pods: Vec<Value>) -> NodeInfo {
        let mut info = NodeInfo {
            allocatable: Resources::allocatable(&node),
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
        };
        for p in pods {
            info.add_pod(p);
        }
        info
    }

    /// Adds a pod (bound or assumed) and its requests.
    pub fn add_pod(&mut self, pod: Value) {
        let add = |a: &mut Resources, b: Resources| {
            a.milli_cpu = a.milli_cpu.saturating_add(b.milli_cpu);
            a.memory = a.memory.saturating_add(b.memory);
            a.pods = a.pods.saturating_add(b.pods);
        };
        add(&mut self.requested, Resources::pod_requests(&pod));
        add(
            &mut self.non_zero_requested,
            Resources::pod_requests_non_zero(&pod),
        );
        self.pods.push(pod);
    }

    /// `metadata.name` of the node, empty when missing.
    pub fn name(&self) -> &str {
        self.node
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Why a Filter rejected a node, in upstream's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The pod may fit if other pods are preempted (resources, ports).
    Unschedulable,
    /// Preemption cannot help (taints, selectors, node name).
    UnschedulableAndUnresolvable,
}

/// A Filter failure: a code and one or more reasons, each counted separately in a [`FitError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether preemption could help.
    pub code: Code,
    /// Reasons shown to users, e.g. `Insufficient cpu`.
    pub reasons: Vec<String>,
}

impl Status {
    /// An `Unschedulable` status with the given reasons.
    pub fn unschedulable(reasons: impl IntoIterator<Item = impl Into<String>>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: reasons.into_iter().map(Into::into).collect(),
        }
    }

    /// An `UnschedulableAndUnresolvable` status with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reasons.join(", "))
    }
}

/// What every plugin has: its upstream name.
pub trait Plugin: Send + Sync {
    /// Upstream's plugin name, e.g. `TaintToleration`.
    fn name(&self) -> &'static str;
}

/// The Filter extension point: can the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// `Ok` when the node is feasible, otherwise why not.
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status>;
}

/// The Score (and NormalizeScore) extension points: how good is a feasible node?
pub trait ScorePlugin: Plugin {
    /// A raw score for one node.
    fn score(&self, pod: &Value, node: &NodeInfo) -> i64;

    /// Rescales the raw scores of all feasible nodes into `0..=MAX_NODE_SCORE`; by default the
    /// raw scores already are.
    fn normalize(&self, _pod: &Value, _scores: &mut [i64]) {}
}

/// A scheduling profile: Filter plugins in order, Score plugins with weights.
pub struct Framework {
    /// Filters, run in order; the first failure decides a node's status.
    pub filters: Vec<Box<dyn FilterPlugin>>,
    /// Scorers and their weights.
    pub scorers: Vec<(Box<dyn ScorePlugin>, i64)>,
}

impl Default for Framework {
    /// Upstream's default profile, restricted to the plugins this crate implements, in
    /// upstream's order and with its weights.
    fn default() -> Framework {
        use plugins::*;
        Framework {
            filters: vec![
                Box::new(node_unschedulable::NodeUnschedulable),
                Box::new(node_name::NodeName),
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_ports::NodePorts),
                Box::new(node_resources_fit::NodeResourcesFit),
            ],
            scorers: vec![
                (Box::new(taint_toleration::TaintToleration), 3),
                (Box::new(node_affinity::NodeAffinity), 2),
                (Box::new(node_resources_fit::NodeResourcesFit), 1),
            ],
        }
    }
}

impl Framework {
    /// Runs the filters on one node, stopping at the first failure.
    pub fn run_filters(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        self.filters.iter().try_for_each(|p| p.filter(pod, node))
    }

    /// Weighted, normalised total score of each node, in the order given.
    pub fn run_scores(&self, pod: &Value, nodes: &[&NodeInfo]) -> Vec<i64> {
        let mut totals = vec![0i64; nodes.len()];
        for (plugin, weight) in &self.scorers {
            let mut scores: Vec<i64> = nodes.iter().map(|n| plugin.score(pod, n)).collect();
            plugin.normalize(pod, &mut scores);
            for (t, s) in totals.iter_mut().zip(scores) {
                *t = t.saturating_add(s.clamp(0, MAX_NODE_SCORE).saturating_mul(*weight));
            }
        }
        totals
    }
}

/// Picks a node for `pod`: filter all nodes, score the feasible ones, return the name of the
/// highest total. Ties go to the smallest name (upstream picks at random; determinism is
/// more useful here). Fails with every node's filter status when none is feasible.
pub fn schedule_one(fw: &Framework, pod: &Value, nodes: &[NodeInfo]) -> Result<String, FitError> {
    let mut feasible = Vec::new();
    let mut statuses = Vec::new();
    for n in nodes {
        match fw.run_filters(pod, n) {
            Ok(()) => feasible.push(n),
            Err(s) => statuses.push((n.name().to_string(), s)),
        }
    }
    if feasible.is_empty() {
        return Err(FitError::new(nodes.len(), statuses));
    }
    let totals = fw.run_scores(pod, &feasible);
    let best = feasible
        .iter()
        .zip(totals)
        .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then_with(|| b.name().cmp(a.name())))
        .map(|(n, _)| n.name().to_string())
        .unwrap_or_default();
    Ok(best)
}
