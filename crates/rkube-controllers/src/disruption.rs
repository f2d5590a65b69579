//! The disruption controller (upstream's `pkg/controller/disruption`): keeps every
//! PodDisruptionBudget's status true, so that the eviction API (`kubectl drain`) can tell how
//! many of its pods may go. For each budget it counts the selected pods that are Ready and not
//! terminating (`currentHealthy`), works out `expectedPods` and `desiredHealthy` from
//! `minAvailable`/`maxUnavailable` (percentages and `maxUnavailable` scale with the replicas of
//! the pods' controllers), and sets `disruptionsAllowed`, the `DisruptionAllowed` condition and
//! `observedGeneration`. Pods the eviction API recorded in `disruptedPods` count as gone until
//! they are deleted or two minutes pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::Store;

use crate::common::{get_controller_of, is_pod_ready, label_selector, selector_matches};
use crate::endpoints::util;
use crate::replicaset::informer::{self, key_of, split_key, Change, WorkQueue};
use crate::Context;

/// How long a pod the eviction API reported stays counted as disrupted (upstream's
/// `DeletionTimeout`).
const DELETION_TIMEOUT_SECS: i64 = 120;
/// Budgets are recomputed this often anyway (controller scales and expired disruptions).
const RESYNC: Duration = Duration::from_secs(30);

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let budgets = {
        let queue = queue.clone();
        informer::spawn(
            Api::<PodDisruptionBudget>::all(ctx.client.clone()),
            move |change| match change {
                Change::Added(b) => queue.add(&key_of(&*b)),
                Change::Updated { old, new } => {
                    if old.metadata.generation != new.metadata.generation
                        || old.status != new.status
                    {
                        queue.add(&key_of(&*new));
                    }
                }
                Change::Deleted(_) => {}
            },
        )
    };
    let pods = {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        informer::spawn(Api::<Pod>::all(ctx.client.clone()), move |change| {
            let changed: Vec<Arc<Pod>> = match change {
                Change::Added(p) | Change::Deleted(p) => vec![p],
                Change::Updated { old, new } => {
                    if view(&old) == view(&new) {
                        return;
                    }
                    vec![old, new]
                }
            };
            for b in budgets.state() {
                if changed.iter().any(|p| selects(&b, p)) {
                    queue.add(&key_of(&*b));
                }
            }
        })
    };
    if budgets.wait_until_ready().await.is_err() || pods.wait_until_ready().await.is_err() {
        tracing::error!("disruption controller failed to start: informer ended");
        return;
    }
    {
        let (queue, budgets) = (queue.clone(), budgets.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RESYNC).await;
                for b in budgets.state() {
                    queue.add(&key_of(&*b));
                }
            }
        });
    }
    let client = ctx.client.clone();
    util::run_workers("disruption controller", queue, 2, move |key| {
        let (client, budgets, pods) = (client.clone(), budgets.clone(), pods.clone());
        async move { sync(&client, &budgets, &pods, &key).await }
    })
    .await;
}

/// What about a pod matters to a budget.
fn view(p: &Pod) -> (Option<&BTreeMap<String, String>>, bool, bool, &str) {
    (
        p.metadata.labels.as_ref(),
        is_pod_ready(p),
        p.metadata.deletion_timestamp.is_some(),
        p.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or(""),
    )
}

/// Whether budget `b` covers pod `p` (same namespace, selector matches).
fn selects(b: &PodDisruptionBudget, p: &Pod) -> bool {
    if b.metadata.namespace != p.metadata.namespace {
        return false;
    }
    let Ok(sel) = label_selector(b.spec.as_ref().and_then(|s| s.selector.as_ref())) else {
        return false;
    };
    selector_matches(&sel, p.metadata.labels.as_ref())
}

/// `value` of an int-or-percent against `total`, rounding up as upstream does here.
fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            Ok(((pct * i64::from(total)) as f64 / 100.0).ceil() as i32)
        }
    }
}

/// The replicas of the controllers of `pods` (each counted once), as upstream's
/// `getExpectedScale`: ReplicaSets owned by a Deployment count with the Deployment's.
async fn expected_scale(client: &kube::Client, ns: &str, pods: &[Arc<Pod>]) -> Result<i32, String> {
    let mut seen: HashMap<String, i32> = HashMap::new();
    for p in pods {
        let Some(owner) = get_controller_of(&p.metadata) else {
            return Err(format!(
                "found no controllers for pod \"{}\"",
                p.metadata.name.as_deref().unwrap_or_default()
            ));
        };
        if seen.contains_key(&owner.uid) {
            continue;
        }
        let scale = controller_scale(client, ns, &owner.kind, &owner.name)
            .await
            .map_err(|e| format!("{e}"))?;
        let Some(scale) = scale else {
            return Err(format!(
                "found no controllers for pod \"{}\"",
                p.metadata.name.as_deref().unwrap_or_default()
            ));
        };
        seen.insert(owner.uid.clone(), scale);
    }
    Ok(seen.values().sum())
}

/// The desired replicas of controller `kind/name`; None for a kind without a scale.
async fn controller_scale(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> Result<Option<i32>, kube::Error> {
    Ok(match kind {
        "ReplicaSet" => {
            let Some(rs) = Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await?
            else {
                return Ok(None);
            };
            match get_controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                Some(d) => Api::<Deployment>::namespaced(client.clone(), ns)
                    .get_opt(&d.name)
                    .await?
                    .map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1)),
                None => Some(rs.spec.and_then(|s| s.replicas).unwrap_or(1)),
            }
        }
        "ReplicationController" => Api::<ReplicationController>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .map(|r| r.spec.and_then(|s| s.replicas).unwrap_or(1)),
        "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .map(|s| s.spec.and_then(|s| s.replicas).unwrap_or(1)),
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1)),
        _ => None,
    })
}

/// The status counts of a budget over its pods: (expected, desired healthy).
async fn expectations(
    client: &kube::Client,
    b: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
) -> Result<(i32, i32), String> {
    let ns = b.metadata.namespace.as_deref().unwrap_or("default");
    let spec = b.spec.clone().unwrap_or_default();
    if let Some(max) = &spec.max_unavailable {
        let expected = expected_scale(client, ns, pods).await?;
        let max = scaled(max, expected)?;
        return Ok((expected, (expected - max).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods.len() as i32, *n)),
        Some(pct) => {
            let expected = expected_scale(client, ns, pods).await?;
            Ok((expected, scaled(pct, expected)?))
        }
        None => Ok((pods.len() as i32, 0)),
    }
}

fn condition(
    old: Option<&PodDisruptionBudgetStatus>,
    generation: Option<i64>,
    allowed: bool,
    reason: &str,
    message: String,
) -> Condition {
    let status = if allowed { "True" } else { "False" };
    let since = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.type_ == "DisruptionAllowed" && c.status == status)
        })
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: "DisruptionAllowed".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: since,
        observed_generation: generation,
    }
}

async fn sync(
    client: &kube::Client,
    budgets: &Store<PodDisruptionBudget>,
    pods: &Store<Pod>,
    key: &str,
) -> Result<(), kube::Error> {
    let (ns, name) = split_key(key);
    let Some(b) = budgets.state().into_iter().find(|b| {
        b.metadata.namespace.as_deref() == Some(ns) && b.metadata.name.as_deref() == Some(name)
    }) else {
        return Ok(());
    };
    let mut selected: Vec<Arc<Pod>> = pods
        .state()
        .into_iter()
        .filter(|p| selects(&b, p))
        .collect();
    selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let old = b.status.as_ref();
    let now = Timestamp::now().as_second();
    // Evicted pods stay disrupted until they are deleted or the timeout passes.
    let mut disrupted: BTreeMap<String, Time> = BTreeMap::new();
    for (pod, at) in old
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default()
    {
        let live = selected.iter().any(|p| {
            p.metadata.name.as_deref() == Some(pod.as_str())
                && p.metadata.deletion_timestamp.is_none()
        });
        if live && now - at.0.as_second() < DELETION_TIMEOUT_SECS {
            disrupted.insert(pod, at);
        }
    }
    let healthy = selected
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && is_pod_ready(p)
                && !disrupted.contains_key(p.metadata.name.as_deref().unwrap_or_default())
        })
        .count() as i32;
    let generation = b.metadata.generation;
    let mut status = PodDisruptionBudgetStatus {
        observed_generation: generation,
        current_healthy: healthy,
        disrupted_pods: if disrupted.is_empty() {
            None
        } else {
            Some(disrupted)
        },
        ..Default::default()
    };
    match expectations(client, &b, &selected).await {
        Ok((expected, desired)) => {
            let allowed = if expected <= 0 {
                0
            } else {
                (healthy - desired).max(0)
            };
            status.expected_pods = expected;
            status.desired_healthy = desired;
            status.disruptions_allowed = allowed;
            status.conditions = Some(vec![if allowed > 0 {
                condition(old, generation, true, "SufficientPods", String::new())
            } else {
                condition(old, generation, false, "InsufficientPods", String::new())
            }]);
        }
        Err(msg) => {
            // As upstream: a budget it cannot compute allows nothing.
            status.conditions = Some(vec![condition(old, generation, false, "SyncFailed", msg)]);
        }
    }
    if old == Some(&status) {
        return Ok(());
    }
    let mut new = (*b).clone();
    new.status = Some(status);
    Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
        .replace_status(name, &PostParams::default(), &new)
        .await?;
    tracing::debug!(budget = key, "updated disruption budget status");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3), Ok(2));
        assert_eq!(scaled(&IntOrString::String("10%".into()), 10), Ok(1));
        assert_eq!(scaled(&IntOrString::Int(2), 10), Ok(2));
        assert!(scaled(&IntOrString::String("half".into()), 10).is_err());
    }
}
