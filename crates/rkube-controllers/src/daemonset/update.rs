//! The DaemonSet RollingUpdate strategy (upstream's `rollingUpdate`): without surge, delete
//! old pods while at most `maxUnavailable` daemon pods are unavailable (the manage pass then
//! creates their replacements); with `maxSurge`, start new pods next to old ones on at most
//! `maxSurge` nodes at a time and delete each old pod once its replacement is available.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{is_pod_updated, nodes, sync_nodes, NodePods, State};
use crate::common::is_pod_available;

/// Upstream's `GetScaledValueFromIntOrPercent` rounding up; bad values count as 0.
fn scaled(v: Option<&IntOrString>, total: i32) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| (p * i64::from(total) + 99).div_euclid(100))
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0),
    }
}

fn rolling(ds: &DaemonSet) -> Option<&k8s_openapi::api::apps::v1::RollingUpdateDaemonSet> {
    ds.spec
        .as_ref()?
        .update_strategy
        .as_ref()?
        .rolling_update
        .as_ref()
}

/// Whether the strategy lets an old and a new pod run on one node at once.
pub fn allows_surge(ds: &DaemonSet) -> bool {
    scaled(rolling(ds).and_then(|r| r.max_surge.as_ref()), 1) != 0
}

/// `(maxSurge, maxUnavailable)` for `desired` nodes; both zero means one unavailable.
fn limits(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let r = rolling(ds);
    let surge = scaled(r.and_then(|r| r.max_surge.as_ref()), desired).max(0);
    let default_unavailable = IntOrString::Int(1);
    let unavailable = r
        .map(|r| r.max_unavailable.as_ref())
        .unwrap_or(Some(&default_unavailable));
    let mut unavailable = scaled(unavailable, desired).max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// The one new and one old pod on a node; `None` when there are more (manage fixes that).
fn updated_pods_on_node<'a>(
    pods: &'a [Pod],
    hash: &str,
    generation: Option<i64>,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let slot = if is_pod_updated(pod, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod);
    }
    Some((new, old))
}

/// Runs one step of the rolling update; returns whether it deleted or created anything.
pub async fn rolling_update(
    ds: &DaemonSet,
    state: &State,
    all_nodes: &[Node],
    node_pods: &NodePods,
    hash: &str,
) -> bool {
    let spec = nodes::eligibility_spec(ds);
    let eligible: Vec<String> = all_nodes
        .iter()
        .filter(|n| nodes::node_should_run(n, &spec).should_run)
        .map(|n| n.name_any())
        .collect();
    let desired = i32::try_from(eligible.len()).unwrap_or(i32::MAX);
    let (max_surge, max_unavailable) = limits(ds, desired);
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = chrono::Utc::now();
    let generation = ds.metadata.generation;
    let empty: Vec<Pod> = Vec::new();
    let mut per_node: Vec<(&str, &[Pod])> = node_pods
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_slice()))
        .collect();
    for n in &eligible {
        if !node_pods.contains_key(n) {
            per_node.push((n.as_str(), empty.as_slice()));
        }
    }
    per_node.sort_by(|a, b| a.0.cmp(b.0));
    let available = |p: &Pod| is_pod_available(p, min_ready, now);

    let (delete, create): (Vec<&Pod>, Vec<String>) = if max_surge == 0 {
        let mut unavailable = 0;
        let mut must_replace: Vec<&Pod> = Vec::new();
        let mut candidates: Vec<&Pod> = Vec::new();
        for (_, pods) in &per_node {
            match updated_pods_on_node(pods, hash, generation) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !available(old) {
                        must_replace.push(old);
                    } else if unavailable < max_unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable - unavailable).unwrap_or(0);
        must_replace.extend(candidates.into_iter().take(room));
        (must_replace, Vec::new())
    } else {
        let mut surging = 0;
        let mut must_surge: Vec<String> = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        let mut delete: Vec<&Pod> = Vec::new();
        for (node, pods) in &per_node {
            match updated_pods_on_node(pods, hash, generation) {
                None => surging += 1,
                Some((_, None)) => {}
                Some((None, Some(old))) => {
                    if !eligible.iter().any(|n| n == node) {
                        continue;
                    }
                    if !available(old) {
                        must_surge.push(node.to_string());
                    } else if surging < max_surge {
                        candidates.push(node.to_string());
                    }
                }
                Some((Some(new), Some(old))) => {
                    if available(new) {
                        delete.push(old);
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        let room = usize::try_from(max_surge - surging).unwrap_or(0);
        must_surge.extend(candidates.into_iter().take(room));
        (delete, must_surge)
    };
    if delete.is_empty() && create.is_empty() {
        return false;
    }
    sync_nodes(ds, state, &delete, &create, hash).await;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_values() {
        assert_eq!(scaled(Some(&IntOrString::String("25%".into())), 3), 1);
        assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 5), 3);
        assert_eq!(scaled(Some(&IntOrString::Int(2)), 5), 2);
        assert_eq!(scaled(Some(&IntOrString::String("x".into())), 5), 0);
        assert_eq!(scaled(None, 5), 0);
    }

    #[test]
    fn both_zero_means_one_unavailable() {
        let ds: DaemonSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}
        }))
        .unwrap();
        assert_eq!(limits(&ds, 3), (0, 1));
        assert!(!allows_surge(&ds));
    }
}
