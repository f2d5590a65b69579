//! `NodeResourcesBalancedAllocation`: Score favours nodes whose resource use would be balanced
//! across resources after placing the pod: `100 * (1 - std)`, where `std` is the standard
//! deviation of the requested/allocatable fractions (each capped at 1) of the configured
//! resources (cpu and memory by default). As upstream, it uses the actual requests (no
//! defaults for containers without requests) and skips pods that request nothing.

use std::sync::Arc;

use serde_json::Value;

use super::node_resources_fit::requested_and_allocatable;
use crate::framework::{
    CycleState, NodeInfo, Plugin, PluginSet, PreScorePlugin, PreScoreResult, ScorePlugin, Snapshot,
    Status, MAX_NODE_SCORE,
};

/// The `NodeResourcesBalancedAllocation` plugin.
#[derive(Debug, Clone)]
pub struct BalancedAllocation {
    /// Resource names balanced (weights are accepted but, as upstream, unused).
    pub resources: Vec<(String, i64)>,
}

impl Default for BalancedAllocation {
    fn default() -> BalancedAllocation {
        BalancedAllocation {
            resources: super::node_resources_fit::default_resources(),
        }
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }
}

/// The extension points `NodeResourcesBalancedAllocation` implements.
pub fn plugin_set(resources: Vec<(String, i64)>) -> PluginSet {
    let p = Arc::new(BalancedAllocation { resources });
    PluginSet {
        pre_score: Some(p.clone()),
        score: Some(p),
        ..PluginSet::default()
    }
}

impl PreScorePlugin for BalancedAllocation {
    /// Skips best-effort pods: they change no fraction.
    fn pre_score(
        &self,
        state: &mut CycleState,
        _pod: &Value,
        _feasible: &[&NodeInfo],
        _snapshot: &Snapshot<'_>,
    ) -> Result<PreScoreResult, Status> {
        let r = state.pod().requests;
        Ok(if r.milli_cpu == 0 && r.memory == 0 {
            PreScoreResult::Skip
        } else {
            PreScoreResult::Run
        })
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, _pod: &Value, node: &NodeInfo) -> i64 {
        let fractions: Vec<f64> = self
            .resources
            .iter()
            .filter_map(|(name, _)| {
                requested_and_allocatable(
                    name,
                    node.requested,
                    state.pod().requests,
                    node.allocatable,
                )
            })
            .filter(|&(_, cap)| cap > 0)
            .map(|(req, cap)| (req as f64 / cap as f64).min(1.0))
            .collect();
        let std = match fractions.as_slice() {
            [] | [_] => 0.0,
            [a, b] => ((a - b) / 2.0).abs(),
            many => {
                let mean = many.iter().sum::<f64>() / many.len() as f64;
                let var = many.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / many.len() as f64;
                var.sqrt()
            }
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(cpu: &str, mem: &str) -> Value {
        json!({"spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": mem}}}]}})
    }

    fn node(cpu: &str, mem: &str, existing: Vec<Value>) -> NodeInfo {
        NodeInfo::new(
            json!({"metadata": {"name": "n"},
                   "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "110"}}}),
            existing,
        )
    }

    #[test]
    fn score_table() {
        let cases = [
            // cpu 1/4 = 0.25, memory 1/4 = 0.25: perfectly balanced
            (pod("1", "1Gi"), node("4", "4Gi", vec![]), 100),
            // cpu 0.5, memory 0.25: std 0.125
            (pod("2", "1Gi"), node("4", "4Gi", vec![]), 87),
            // existing requests count: cpu (1+1)/4, memory (3+1)/4 -> std 0.25
            (pod("1", "1Gi"), node("4", "4Gi", vec![pod("1", "3Gi")]), 75),
            // fractions are capped at 1: cpu 8/4 -> 1, memory 0 -> std 0.5
            (pod("8", "0"), node("4", "4Gi", vec![]), 50),
            // a resource the node lacks is left out
            (pod("1", "1Gi"), node("4", "0", vec![]), 100),
        ];
        for (p, n, want) in cases {
            let state = CycleState::new(&p);
            assert_eq!(
                BalancedAllocation::default().score(&state, &p, &n),
                want,
                "{p}"
            );
        }
    }

    #[test]
    fn skips_best_effort_pods() {
        let nodes = [node("4", "4Gi", vec![])];
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let cases = [
            (json!({"spec": {"containers": [{}]}}), PreScoreResult::Skip),
            (pod("100m", "0"), PreScoreResult::Run),
        ];
        for (p, want) in cases {
            let mut state = CycleState::new(&p);
            let got = BalancedAllocation::default()
                .pre_score(&mut state, &p, &feasible, &Snapshot::new(&nodes))
                .unwrap();
            assert_eq!(got, want, "{p}");
        }
    }
}
