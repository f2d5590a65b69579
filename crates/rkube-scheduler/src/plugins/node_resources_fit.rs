//! `NodeResourcesFit`: Filter checks the pod's cpu, memory and pod-count needs against the
//! node's allocatable minus what its pods already request; Score uses the default
//! `LeastAllocated` strategy (emptier nodes score higher, cpu and memory weighted equally).

use serde_json::Value;

use crate::framework::{FilterPlugin, NodeInfo, Plugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::resources::Resources;

/// The `NodeResourcesFit` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeResourcesFit;

impl Plugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
}

/// Upstream's reasons, in the order it reports them.
pub fn insufficient_resources(pod: &Value, node: &NodeInfo) -> Vec<&'static str> {
    let req = Resources::pod_requests(pod);
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
    fn filter(&self, pod: &Value, node: &NodeInfo) -> Result<(), Status> {
        let reasons = insufficient_resources(pod, node);
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Status::unschedulable(reasons))
        }
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested).saturating_mul(MAX_NODE_SCORE) / capacity
}

impl ScorePlugin for NodeResourcesFit {
    /// `LeastAllocated`: the mean over cpu and memory of `100 * free / allocatable` after
    /// placing the pod, counting upstream's defaults for containers without requests.
    fn score(&self, pod: &Value, node: &NodeInfo) -> i64 {
        let req = Resources::pod_requests_non_zero(pod);
        let used = node.non_zero_requested;
        let cpu = least_requested(
            used.milli_cpu.saturating_add(req.milli_cpu),
            node.allocatable.milli_cpu,
        );
        let mem = least_requested(
            used.memory.saturating_add(req.memory),
            node.allocatable.memory,
        );
        (cpu + mem) / 2
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
            match NodeResourcesFit.filter(&p, &n) {
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
            assert_eq!(NodeResourcesFit.score(&p, &n), want, "{p}");
        }
    }
}
