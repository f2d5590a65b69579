//! Which pods a ReplicaSet deletes first when scaling down (upstream's `ActivePodsWithRanks`):
//! unassigned before assigned, Pending before Unknown before Running, not ready before ready,
//! lower `controller.kubernetes.io/pod-deletion-cost` first, pods doubled up on a node with
//! their siblings first, ready for less time first, more restarts first, newer first.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::common::{is_pod_ready, pod_phase};

/// Upstream's pod deletion cost annotation.
pub(crate) const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The first `n` of `pods` to delete. `related` are the active pods of this ReplicaSet and
/// of its siblings (same owner): a pod sharing its node with more of them goes first.
pub(crate) fn pods_to_delete(
    mut pods: Vec<Arc<Pod>>,
    related: &[Arc<Pod>],
    n: usize,
) -> Vec<Arc<Pod>> {
    if n < pods.len() {
        let mut on_node: HashMap<&str, usize> = HashMap::new();
        for p in related {
            if let Some(node) = node_name(p) {
                *on_node.entry(node).or_default() += 1;
            }
        }
        let rank = |p: &Pod| node_name(p).map_or(0, |n| on_node.get(n).copied().unwrap_or(0));
        let ranked: Vec<(usize, Arc<Pod>)> = pods.drain(..).map(|p| (rank(&p), p)).collect();
        let mut ranked = ranked;
        ranked.sort_by(|(ra, a), (rb, b)| compare(a, *ra, b, *rb));
        pods = ranked.into_iter().map(|(_, p)| p).collect();
    }
    pods.truncate(n);
    pods
}

fn node_name(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn phase_ordinal(p: &Pod) -> u8 {
    match pod_phase(p) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// The pod's deletion cost; missing or invalid counts as 0.
pub(crate) fn deletion_cost(p: &Pod) -> i32 {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn ready_time(p: &Pod) -> Option<Timestamp> {
    let conds = p.status.as_ref()?.conditions.as_ref()?;
    let c = conds
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    c.last_transition_time.as_ref().map(|t| t.0)
}

fn max_restarts(p: &Pod) -> i32 {
    let Some(s) = p.status.as_ref() else {
        return 0;
    };
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// Upstream's `afterOrZero`: a missing time sorts first, then the later time.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// `Less` when `a` should be deleted before `b`.
fn compare(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize) -> Ordering {
    let (na, nb) = (node_name(a), node_name(b));
    if na.is_none() != nb.is_none() {
        return if na.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(a).cmp(&phase_ordinal(b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ra, rb) = (is_pod_ready(a), is_pod_ready(b));
    if ra != rb {
        return if ra {
            Ordering::Greater
        } else {
            Ordering::Less
        };
    }
    let by_cost = deletion_cost(a).cmp(&deletion_cost(b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if rank_a != rank_b {
        return rank_b.cmp(&rank_a);
    }
    if ra && rb {
        let by_ready = after_or_zero(ready_time(a), ready_time(b));
        if by_ready != Ordering::Equal {
            return by_ready;
        }
    }
    let by_restarts = max_restarts(b).cmp(&max_restarts(a));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    after_or_zero(
        a.metadata.creation_timestamp.as_ref().map(|t| t.0),
        b.metadata.creation_timestamp.as_ref().map(|t| t.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, extra: serde_json::Value) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [], "nodeName": "n1"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:01:00Z"}]}
        });
        merge(&mut v, extra);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn first(pods: Vec<Arc<Pod>>) -> String {
        let related = pods.clone();
        pods_to_delete(pods, &related, 1)[0]
            .metadata
            .name
            .clone()
            .unwrap()
    }

    #[test]
    fn ranking_follows_upstream_order() {
        let cases: Vec<(&str, serde_json::Value)> = vec![
            ("unassigned", json!({"spec": {"nodeName": ""}})),
            ("pending", json!({"status": {"phase": "Pending"}})),
            ("unknown", json!({"status": {"phase": "Unknown"}})),
            (
                "not-ready",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            ),
            (
                "cheap",
                json!({"metadata": {"annotations": {POD_DELETION_COST: "-5"}}}),
            ),
            (
                "recently-ready",
                json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:05:00Z"}]}}),
            ),
            (
                "restarts",
                json!({"status": {"containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 3}]}}),
            ),
            (
                "newer",
                json!({"metadata": {"creationTimestamp": "2024-01-02T00:00:00Z"}}),
            ),
        ];
        // Each case loses against the ones after it and against a plain old ready pod.
        for (i, (name, extra)) in cases.iter().enumerate() {
            let mut pods = vec![pod("plain", json!({})), pod(name, extra.clone())];
            for (later, extra) in &cases[i + 1..] {
                pods.push(pod(later, extra.clone()));
            }
            assert_eq!(first(pods), *name, "case {name}");
        }
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let a = pod("alone", json!({"spec": {"nodeName": "n1"}}));
        let b = pod("doubled", json!({"spec": {"nodeName": "n2"}}));
        let sibling = pod("sibling", json!({"spec": {"nodeName": "n2"}}));
        let related = vec![a.clone(), b.clone(), sibling];
        let got = pods_to_delete(vec![a, b], &related, 1);
        assert_eq!(got[0].metadata.name.as_deref(), Some("doubled"));
    }

    #[test]
    fn deleting_all_keeps_every_pod() {
        let pods = vec![pod("a", json!({})), pod("b", json!({}))];
        assert_eq!(pods_to_delete(pods.clone(), &pods, 5).len(), 2);
    }
}
