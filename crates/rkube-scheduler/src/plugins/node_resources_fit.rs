//! `NodeResourcesFit`: Filter checks the pod's cpu, memory and pod-count needs against the
//! node's allocatable minus what its pods already request; Score applies the configured
//! scoring strategy (`LeastAllocated` by default, `MostAllocated` or
//! `RequestedToCapacityRatio`) over weighted resources (cpu and memory, weight 1 each, by
//! default), counting upstream's defaults for containers without requests.

use std::sync::Arc;

use serde_json::Value;

use crate::framework::{
    CycleState, FilterPlugin, NodeInfo, Plugin, PluginSet, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::resources::Resources;

/// The highest score of a `RequestedToCapacityRatio` shape point (scaled to 100).
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;

/// The scoring strategy's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyType {
    /// Emptier nodes score higher (spreading).
    LeastAllocated,
    /// Fuller nodes score higher (bin packing).
    MostAllocated,
    /// A piecewise-linear function of utilisation.
    RequestedToCapacityRatio,
}

/// `scoringStrategy` of `NodeResourcesFitArgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoringStrategy {
    /// The strategy.
    pub kind: StrategyType,
    /// Resources scored and their weights.
    pub resources: Vec<(String, i64)>,
    /// `requestedToCapacityRatio.shape`: (utilization 0..=100, score 0..=10), ascending.
    pub shape: Vec<(i64, i64)>,
}

impl Default for ScoringStrategy {
    fn default() -> ScoringStrategy {
        ScoringStrategy {
            kind: StrategyType::LeastAllocated,
            resources: default_resources(),
            shape: Vec::new(),
        }
    }
}

/// cpu and memory, weight 1 each.
pub fn default_resources() -> Vec<(String, i64)> {
    vec![("cpu".to_string(), 1), ("memory".to_string(), 1)]
}

/// Parses a `resources` list (`[{name, weight}]`) of plugin args; `path` names the field in
/// errors.
pub fn parse_resources(v: Option<&Value>, path: &str) -> Result<Vec<(String, i64)>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(default_resources());
    };
    let list = v
        .as_array()
        .ok_or_else(|| format!("{path}: must be a list"))?;
    let mut out = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let name = r
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("{path}[{i}].name: required"))?;
        let weight = r.get("weight").and_then(Value::as_i64).unwrap_or(1);
        if !(1..=100).contains(&weight) {
            return Err(format!(
                "{path}[{i}].weight: Invalid value: {weight}: resource weight of {name} \
                 should be in the range [1, 100]"
            ));
        }
        out.push((name.to_string(), weight));
    }
    Ok(out)
}

impl ScoringStrategy {
    /// Parses `NodeResourcesFitArgs.scoringStrategy`; `path` names the field in errors.
    pub fn parse(v: Option<&Value>, path: &str) -> Result<ScoringStrategy, String> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(ScoringStrategy::default());
        };
        let kind = match v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("LeastAllocated")
        {
            "LeastAllocated" => StrategyType::LeastAllocated,
            "MostAllocated" => StrategyType::MostAllocated,
            "RequestedToCapacityRatio" => StrategyType::RequestedToCapacityRatio,
            other => {
                return Err(format!(
                    "{path}.type: Unsupported value: \"{other}\": supported values: \
                     \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
                ))
            }
        };
        let resources = parse_resources(v.get("resources"), &format!("{path}.resources"))?;
        let mut shape = Vec::new();
        if kind == StrategyType::RequestedToCapacityRatio {
            let sp = format!("{path}.requestedToCapacityRatio.shape");
            let points = v
                .pointer("/requestedToCapacityRatio/shape")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    format!("{sp}: Required value: at least one point must be specified")
                })?;
            for (i, p) in points.iter().enumerate() {
                let u = p.get("utilization").and_then(Value::as_i64).unwrap_or(0);
                let sc = p.get("score").and_then(Value::as_i64).unwrap_or(0);
                if !(0..=100).contains(&u) {
                    return Err(format!(
                        "{sp}[{i}].utilization: Invalid value: {u}: not in valid range [0, 100]"
                    ));
                }
                if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&sc) {
                    return Err(format!(
                        "{sp}[{i}].score: Invalid value: {sc}: not in valid range [0, 10]"
                    ));
                }
                if shape.last().is_some_and(|&(prev, _)| prev >= u) {
                    return Err(format!("{sp}[{i}].utilization: Invalid value: {u}: utilization values must be sorted in increasing order"));
                }
                shape.push((u, sc));
            }
        }
        Ok(ScoringStrategy {
            kind,
            resources,
            shape,
        })
    }
}

/// The `NodeResourcesFit` plugin with its scoring strategy.
#[derive(Debug, Clone, Default)]
pub struct NodeResourcesFit {
    /// How Score rates a node.
    pub strategy: ScoringStrategy,
}

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
}

/// The extension points `NodeResourcesFit` implements.
pub fn plugin_set(strategy: ScoringStrategy) -> PluginSet {
    let p = Arc::new(NodeResourcesFit { strategy });
    PluginSet {
        filter: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

/// Upstream's reasons for a pod with requests `req` on `node`, in the order it reports them.
pub fn insufficient_resources(req: Resources, node: &NodeInfo) -> Vec<&'static str> {
    let (alloc, used) = (node.allocatable, node.requested);
    let mut reasons = Vec::new();
    if used.pods.saturating_add(1) > alloc.pods {
        reasons.push("Too many pods");
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu.saturating_sub(used.milli_cpu) {
        reasons.push("Insufficient cpu");
    }
    if req.memory > 0 && req.memory > alloc.memory.saturating_sub(used.memory) {
        reasons.push("Insufficient memory");
    }
    reasons
}

impl FilterPlugin for NodeResourcesFit {
    fn filter(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let reasons = insufficient_resources(state.pod().requests, node);
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Status::unschedulable(reasons))
        }
    }
}

/// (requested after placing the pod, allocatable) of a resource; `None` for resources this
/// crate does not track (they count as not allocatable).
pub fn requested_and_allocatable(
    name: &str,
    used: Resources,
    pod: Resources,
    alloc: Resources,
) -> Option<(i64, i64)> {
    match name {
        "cpu" => Some((
            used.milli_cpu.saturating_add(pod.milli_cpu),
            alloc.milli_cpu,
        )),
        "memory" => Some((used.memory.saturating_add(pod.memory), alloc.memory)),
        _ => None,
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested).saturating_mul(MAX_NODE_SCORE) / capacity
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 {
        return 0;
    }
    requested.min(capacity).saturating_mul(MAX_NODE_SCORE) / capacity
}

/// The shape as a piecewise-linear function of utilisation (0..=100), scores scaled to 100.
fn broken_linear(shape: &[(i64, i64)], utilization: i64) -> i64 {
    let scale = MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE;
    let Some(&(first_u, first_s)) = shape.first() else {
        return 0;
    };
    if utilization <= first_u {
        return first_s * scale;
    }
    for w in shape.windows(2) {
        let ((u0, s0), (u1, s1)) = (w[0], w[1]);
        if utilization <= u1 {
            let (s0, s1) = (s0 * scale, s1 * scale);
            return s0 + (s1 - s0) * (utilization - u0) / (u1 - u0);
        }
    }
    shape.last().map(|&(_, s)| s * scale).unwrap_or(0)
}

impl ScoringStrategy {
    /// The node's score with `pod` (non-zero requests) added to `used` (non-zero requested).
    pub fn score(&self, pod: Resources, used: Resources, alloc: Resources) -> i64 {
        let (mut total, mut weights) = (0i64, 0i64);
        for (name, weight) in &self.resources {
            let Some((req, cap)) = requested_and_allocatable(name, used, pod, alloc) else {
                continue;
            };
            if cap == 0 {
                continue;
            }
            let s = match self.kind {
                StrategyType::LeastAllocated => least_requested(req, cap),
                StrategyType::MostAllocated => most_requested(req, cap),
                StrategyType::RequestedToCapacityRatio => {
                    let util = if req > cap {
                        100
                    } else {
                        req.saturating_mul(100) / cap
                    };
                    let s = broken_linear(&self.shape, util);
                    if s <= 0 {
                        continue;
                    }
                    s
                }
            };
            total = total.saturating_add(s.saturating_mul(*weight));
            weights += weight;
        }
        if weights == 0 {
            return 0;
        }
        match self.kind {
            StrategyType::RequestedToCapacityRatio => {
                (total as f64 / weights as f64).round() as i64
            }
            _ => total / weights,
        }
    }
}

impl ScorePlugin for NodeResourcesFit {
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        self.strategy.score(
            state.pod().non_zero_requests,
            node.non_zero_requested,
            node.allocatable,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use serde_json::json;

    fn pod(cpu: &str, mem: &str) -> Value {
        json!({"spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": mem}}}]}})
    }

    fn node(cpu: &str, mem: &str, pods: &str, existing: Vec<Value>) -> NodeInfo {
        NodeInfo::new(
            json!({"metadata": {"name": "n"},
                   "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": pods}}}),
            existing,
        )
    }

    #[test]
    fn filter_table() {
        let cases: Vec<(Value, NodeInfo, Vec<&str>)> = vec![
            (pod("1", "1Gi"), node("2", "2Gi", "10", vec![]), vec![]),
            (pod("2", "2Gi"), node("2", "2Gi", "10", vec![]), vec![]),
            (
                pod("3", "1Gi"),
                node("2", "2Gi", "10", vec![]),
                vec!["Insufficient cpu"],
            ),
            (
                pod("1", "3Gi"),
                node("2", "2Gi", "10", vec![]),
                vec!["Insufficient memory"],
            ),
            (
                pod("1500m", "1Gi"),
                node("2", "2Gi", "10", vec![pod("1", "1Gi")]),
                vec!["Insufficient cpu"],
            ),
            (
                pod("1", "1Gi"),
                node("2", "2Gi", "1", vec![pod("1", "1Gi")]),
                vec!["Too many pods"],
            ),
            (
                pod("2", "2Gi"),
                node("2", "2Gi", "1", vec![pod("1", "1Gi")]),
                vec!["Too many pods", "Insufficient cpu", "Insufficient memory"],
            ),
            // a pod without requests only needs a pod slot
            (
                json!({"spec": {"containers": [{}]}}),
                node("0", "0", "1", vec![]),
                vec![],
            ),
            // init containers count as the maximum, not the sum
            (
                json!({"spec": {"initContainers": [
                {"resources": {"requests": {"cpu": "2"}}}, {"resources": {"requests": {"cpu": "2"}}}],
                "containers": [{"resources": {"requests": {"cpu": "1"}}}]}}),
                node("2", "2Gi", "10", vec![]),
                vec![],
            ),
            // a node without allocatable takes nothing
            (
                pod("1", "1Gi"),
                NodeInfo::new(json!({}), vec![]),
                vec!["Too many pods", "Insufficient cpu", "Insufficient memory"],
            ),
        ];
        for (p, n, want) in cases {
            match NodeResourcesFit::default().filter(&CycleState::new(&p), &p, &n) {
                Ok(()) => assert!(want.is_empty(), "{p}: want {want:?}"),
                Err(s) => {
                    assert_eq!(s.reasons, want, "{p}");
                    assert_eq!(s.code, Code::Unschedulable);
                }
            }
        }
    }

    #[test]
    fn score_table() {
        let cases = [
            (pod("1", "1Gi"), node("4", "4Gi", "10", vec![]), 75),
            (pod("2", "1Gi"), node("4", "4Gi", "10", vec![]), 62),
            (
                pod("1", "1Gi"),
                node("4", "4Gi", "10", vec![pod("2", "2Gi")]),
                25,
            ),
            (pod("8", "1Gi"), node("4", "4Gi", "10", vec![]), 37),
            // no requests: 100m and 200Mi assumed
            (
                json!({"spec": {"containers": [{}]}}),
                node("1", "1000Mi", "10", vec![]),
                85,
            ),
            (pod("1", "1Gi"), NodeInfo::new(json!({}), vec![]), 0),
        ];
        for (p, n, want) in cases {
            let fit = NodeResourcesFit::default();
            assert_eq!(fit.score(&CycleState::new(&p), &p, &n), want, "{p}");
        }
    }
}
