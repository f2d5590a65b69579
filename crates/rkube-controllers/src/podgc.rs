//! The pod garbage collector (upstream's `pkg/controller/podgc`): every check period it
//! force-deletes (grace period 0)
//! - terminated pods (Succeeded/Failed) beyond the terminated-pod threshold, evicted then
//!   oldest first;
//! - terminating pods on NotReady nodes tainted `node.kubernetes.io/out-of-service`;
//! - pods bound to nodes that do not exist, once the node has been missing for the quarantine
//!   time and a GET confirms it is gone (terminating or not);
//! - terminating pods that were never scheduled.
//!
//! A pod that is not yet terminal is first marked `Failed` (with a `DisruptionTarget`
//! condition for orphaned pods), as upstream does, since no kubelet will do it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use serde_json::json;
use tokio::time::Instant;

use crate::common::{is_not_found, pod_phase};
use crate::Context;

/// Upstream's `--terminated-pod-gc-threshold` default.
pub const DEFAULT_TERMINATED_POD_THRESHOLD: usize = 12500;
/// How often the collector runs (upstream's `gcCheckPeriod`).
pub const CHECK_PERIOD: Duration = Duration::from_secs(20);
/// How long a node must be missing before its pods count as orphaned (upstream's
/// `quarantineTime`).
pub const QUARANTINE: Duration = Duration::from_secs(40);
/// The taint that lets terminating pods on a NotReady node go.
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// Tunables (upstream's controller options; tests shorten the periods).
#[derive(Debug, Clone)]
pub struct Options {
    /// Terminated pods kept; 0 disables collecting them.
    pub terminated_pod_threshold: usize,
    pub check_period: Duration,
    pub quarantine: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            terminated_pod_threshold: DEFAULT_TERMINATED_POD_THRESHOLD,
            check_period: CHECK_PERIOD,
            quarantine: QUARANTINE,
        }
    }
}

/// Runs the controller with upstream's defaults until the process ends.
pub async fn run(ctx: Arc<Context>) {
    run_with(ctx, Options::default()).await
}

/// Drives a reflector store from a watch until the process ends.
async fn drive<K>(stream: impl Stream<Item = watcher::Result<watcher::Event<K>>>, what: &str) {
    let mut failures = 0u32;
    futures::pin_mut!(stream);
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("pod garbage collector failed to watch {what}: {e}");
                }
            }
        }
    }
}

/// Runs the controller with `opts` until the process ends.
pub async fn run_with(ctx: Arc<Context>, opts: Options) {
    let (pods, pod_writer) = reflector::store::<Pod>();
    let (nodes, node_writer) = reflector::store::<Node>();
    let pod_watch = reflector::reflector(
        pod_writer,
        watcher(
            Api::<Pod>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    let node_watch = reflector::reflector(
        node_writer,
        watcher(
            Api::<Node>::all(ctx.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    let watches = futures::future::join(drive(pod_watch, "pods"), drive(node_watch, "nodes"));
    let gc = async {
        if pods.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
            return;
        }
        let mut missing_since: HashMap<String, Instant> = HashMap::new();
        loop {
            gc(&ctx, &opts, &pods, &nodes, &mut missing_since).await;
            tokio::time::sleep(opts.check_period).await;
        }
    };
    futures::future::join(watches, gc).await;
}

/// One pass over every pod.
async fn gc(
    ctx: &Context,
    opts: &Options,
    pods: &Store<Pod>,
    nodes: &Store<Node>,
    missing_since: &mut HashMap<String, Instant>,
) {
    let pods = pods.state();
    let nodes: HashMap<String, Arc<Node>> = nodes
        .state()
        .into_iter()
        .map(|n| (n.name_any(), n))
        .collect();
    if opts.terminated_pod_threshold > 0 {
        for p in terminated_over_threshold(&pods, opts.terminated_pod_threshold) {
            mark_failed_and_delete(ctx, p, None).await;
        }
    }
    for p in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
    {
        if nodes
            .get(node_name(p))
            .is_some_and(|n| !is_node_ready(n) && has_taint(n, TAINT_OUT_OF_SERVICE))
        {
            mark_failed_and_delete(ctx, p, None).await;
        }
    }
    for p in orphaned(ctx, opts, &pods, &nodes, missing_since).await {
        let cond = PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("DeletionByPodGC".into()),
            message: Some("PodGC: node no longer exists".into()),
            ..Default::default()
        };
        mark_failed_and_delete(ctx, p, Some(cond)).await;
    }
    for p in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && node_name(p).is_empty())
    {
        mark_failed_and_delete(ctx, p, None).await;
    }
}

fn node_name(p: &Pod) -> &str {
    p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

fn is_terminated(p: &Pod) -> bool {
    matches!(pod_phase(p), "Succeeded" | "Failed")
}

fn is_evicted(p: &Pod) -> bool {
    pod_phase(p) == "Failed"
        && p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted")
}

fn is_node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

fn has_taint(n: &Node, key: &str) -> bool {
    n.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == key))
}

/// The terminated pods to delete so that at most `threshold` remain: evicted first, then
/// oldest, then by name.
fn terminated_over_threshold(pods: &[Arc<Pod>], threshold: usize) -> Vec<&Arc<Pod>> {
    let mut terminated: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).collect();
    if terminated.len() <= threshold {
        return Vec::new();
    }
    let excess = terminated.len() - threshold;
    terminated.sort_by(|a, b| {
        is_evicted(b)
            .cmp(&is_evicted(a))
            .then_with(|| {
                let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                ta.cmp(&tb)
            })
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    terminated.truncate(excess);
    terminated
}

/// Pods bound to nodes that have been missing for the quarantine time and that a GET
/// confirms are gone.
async fn orphaned<'a>(
    ctx: &Context,
    opts: &Options,
    pods: &'a [Arc<Pod>],
    nodes: &HashMap<String, Arc<Node>>,
    missing_since: &mut HashMap<String, Instant>,
) -> Vec<&'a Arc<Pod>> {
    let now = Instant::now();
    let missing: HashSet<&str> = pods
        .iter()
        .map(|p| node_name(p))
        .filter(|n| !n.is_empty() && !nodes.contains_key(*n))
        .collect();
    missing_since.retain(|n, _| missing.contains(n.as_str()));
    let api: Api<Node> = Api::all(ctx.client.clone());
    let mut gone = HashSet::new();
    for n in missing {
        let since = *missing_since.entry(n.to_string()).or_insert(now);
        if now.duration_since(since) < opts.quarantine {
            continue;
        }
        match api.get_opt(n).await {
            Ok(None) => {
                gone.insert(n);
            }
            Ok(Some(_)) => {
                missing_since.remove(n);
            }
            Err(e) => tracing::warn!("pod garbage collector failed to get node {n}: {e}"),
        }
    }
    pods.iter()
        .filter(|p| gone.contains(node_name(p)))
        .collect()
}

/// Marks a pod that is not terminal `Failed` (with `condition`), then deletes it at once.
async fn mark_failed_and_delete(ctx: &Context, pod: &Pod, condition: Option<PodCondition>) {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    tracing::info!("pod garbage collector force deletes pod {ns}/{name}");
    if !is_terminated(pod) {
        let mut conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if let Some(mut c) = condition {
            c.last_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
            match conditions.iter_mut().find(|x| x.type_ == c.type_) {
                Some(x) => *x = c,
                None => conditions.push(c),
            }
        }
        let patch = json!({"status": {"phase": "Failed", "conditions": conditions}});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return,
            Err(e) => {
                tracing::warn!("pod garbage collector failed to mark pod {ns}/{name} failed: {e}");
                return;
            }
        }
    }
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: pod.uid().map(|uid| kube::api::Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!("pod garbage collector failed to delete pod {ns}/{name}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, created: &str, reason: Option<&str>) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "status": {"phase": phase}
        });
        if let Some(r) = reason {
            v["status"]["reason"] = json!(r);
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    #[test]
    fn terminated_pods_over_threshold_go_evicted_then_oldest_first() {
        let pods = vec![
            pod("new", "Succeeded", "2024-01-01T00:00:03Z", None),
            pod("running", "Running", "2024-01-01T00:00:00Z", None),
            pod("old-b", "Failed", "2024-01-01T00:00:01Z", None),
            pod("old-a", "Succeeded", "2024-01-01T00:00:01Z", None),
            pod("evicted", "Failed", "2024-01-01T00:00:05Z", Some("Evicted")),
        ];
        let names = |t: usize| -> Vec<String> {
            terminated_over_threshold(&pods, t)
                .iter()
                .map(|p| p.name_any())
                .collect()
        };
        assert_eq!(names(1), ["evicted", "old-a", "old-b"]);
        assert_eq!(names(3), ["evicted"]);
        assert!(names(4).is_empty());
    }
}
