//! The DaemonSet controller (upstream's `pkg/controller/daemon`): keeps one pod on every
//! eligible node ([`nodes`]), records each template as a ControllerRevision
//! ([`crate::history`]), replaces pods of older revisions with the RollingUpdate strategy
//! ([`update`]) and reports `status` (what `kubectl rollout status ds` reads).
//!
//! Reconciles run for a DaemonSet whenever it, one of its pods or revisions changes, and for
//! every DaemonSet when a node appears, disappears or changes its labels, taints or
//! schedulability. Pods and nodes are listed from the API server on each sync (its lists
//! are consistent), so no expectations bookkeeping is needed.

mod nodes;
mod update;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::ResourceExt;
use rkube_client::events::{EventType, ObjectRef, Recorder};
use serde_json::json;

use crate::common::{
    controller_ref, create_pod_from_template, is_controlled_by, is_not_found, is_pod_available,
    is_pod_ready,
};
use crate::history::{self, CONTROLLER_REVISION_HASH_LABEL};
use crate::Context;

pub use nodes::{node_should_run, Placement, TEMPLATE_GENERATION_LABEL};

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
}

struct State {
    client: kube::Client,
    recorder: Recorder,
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let state = Arc::new(State {
        client: client.clone(),
        recorder: ctx.recorder("daemonset-controller"),
    });
    let controller = Controller::new(
        Api::<DaemonSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
    .owns(
        Api::<ControllerRevision>::all(client.clone()),
        watcher::Config::default(),
    );
    let node_changes = node_changes(Api::<Node>::all(client));
    controller
        .reconcile_all_on(node_changes)
        .run(reconcile, error_policy, state)
        .for_each(|_| async {})
        .await;
}

/// One item per node event that can change where daemon pods belong.
fn node_changes(api: Api<Node>) -> impl futures::Stream<Item = ()> + Send {
    let mut seen: HashMap<String, String> = HashMap::new();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |ev| {
            let fire = match ev {
                Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => {
                    let print = serde_json::to_string(&(
                        &n.metadata.labels,
                        n.spec.as_ref().map(|s| (&s.taints, s.unschedulable)),
                    ))
                    .unwrap_or_default();
                    seen.insert(n.name_any(), print.clone()).as_deref() != Some(print.as_str())
                }
                Ok(watcher::Event::Delete(n)) => {
                    seen.remove(&n.name_any());
                    true
                }
                Ok(watcher::Event::InitDone) => true,
                Ok(watcher::Event::Init) | Err(_) => false,
            };
            futures::future::ready(fire.then_some(()))
        })
}

fn error_policy(ds: Arc<DaemonSet>, err: &Error, _state: Arc<State>) -> Action {
    tracing::warn!(
        daemonset = %format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any()),
        "failed to sync daemonset: {err:#}"
    );
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(ds: Arc<DaemonSet>, state: Arc<State>) -> Result<Action, Error> {
    sync_daemonset(&ds, &state).await
}

/// The DaemonSet as an event's involved object.
fn object_ref(ds: &DaemonSet) -> ObjectRef {
    ObjectRef {
        api_version: "apps/v1".into(),
        kind: "DaemonSet".into(),
        namespace: ds.namespace().unwrap_or_default(),
        name: ds.name_any(),
        uid: ds.uid().unwrap_or_default(),
        resource_version: ds.resource_version().unwrap_or_default(),
    }
}

/// The pods of one DaemonSet by the node they are meant for.
type NodePods = BTreeMap<String, Vec<Pod>>;

/// Upstream's `syncDaemonSet`.
async fn sync_daemonset(ds: &DaemonSet, state: &State) -> Result<Action, Error> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let selector = history::selector_string(&spec.selector).unwrap_or_default();
    if selector.is_empty() {
        state.recorder.record(
            &object_ref(ds),
            EventType::Warning,
            "SelectingAll",
            "This daemon set is selecting all pods. A non-empty selector is required.",
        );
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let uid = ds.uid().unwrap_or_default();
    let nodes = Api::<Node>::all(state.client.clone())
        .list(&ListParams::default())
        .await?
        .items;

    let mut collision_count = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let (cur, old) = construct_history(ds, state, &selector, &mut collision_count).await?;
    let hash = cur
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
        .cloned()
        .unwrap_or_default();

    let node_pods = node_to_daemon_pods(state, &ns, &selector, &uid).await?;
    let changed = manage(ds, state, &nodes, &node_pods, &hash).await;
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let node_pods = if changed {
        node_to_daemon_pods(state, &ns, &selector, &uid).await?
    } else {
        if rolling && update::rolling_update(ds, state, &nodes, &node_pods, &hash).await {
            node_to_daemon_pods(state, &ns, &selector, &uid).await?
        } else {
            node_pods
        }
    };
    cleanup_history(state, spec.revision_history_limit, &old, &node_pods).await?;
    update_status(ds, state, &nodes, &node_pods, &hash, collision_count).await
}

/// Lists this DaemonSet's pods and groups them by target node; pods with no target node
/// and pods both terminal and being deleted are left out, as upstream.
async fn node_to_daemon_pods(
    state: &State,
    ns: &str,
    selector: &str,
    uid: &str,
) -> Result<NodePods, Error> {
    let pods = Api::<Pod>::namespaced(state.client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await?
        .items;
    let mut out = NodePods::new();
    for pod in pods {
        if !is_controlled_by(&pod.metadata, uid) {
            continue;
        }
        let terminal = matches!(crate::common::pod_phase(&pod), "Succeeded" | "Failed");
        if terminal && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(node) = nodes::target_node(&pod) {
            out.entry(node).or_default().push(pod);
        }
    }
    Ok(out)
}

/// Upstream's `constructHistory`: finds (or snapshots) the revision of the current template,
/// merges duplicates, makes it the newest revision, and returns it with the older ones.
async fn construct_history(
    ds: &DaemonSet,
    state: &State,
    selector: &str,
    collision_count: &mut i32,
) -> Result<(ControllerRevision, Vec<ControllerRevision>), Error> {
    let ns = ds.namespace().unwrap_or_default();
    let uid = ds.uid().unwrap_or_default();
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let data = history::template_patch(&template);
    let revs = history::list_owned(&state.client, &ns, selector, &uid).await?;
    let (mut current, old): (Vec<ControllerRevision>, Vec<ControllerRevision>) =
        revs.into_iter().partition(|r| history::data_of(r) == &data);
    let next = history::next_revision(&old);
    let cur = match current.pop() {
        None => {
            let rev = history::new_revision(
                controller_ref(ds),
                &ns,
                template.metadata.as_ref().and_then(|m| m.labels.as_ref()),
                ds.metadata.annotations.as_ref(),
                data,
                next,
                Some(*collision_count),
            );
            history::create_revision(&state.client, &rev, collision_count).await?
        }
        Some(keep) => {
            // `current` is sorted by revision: `keep` is the newest duplicate.
            for dup in &current {
                history::delete_revision(&state.client, dup).await?;
            }
            if keep.revision < next {
                history::update_revision_number(&state.client, &keep, next).await?
            } else {
                keep
            }
        }
    };
    Ok((cur, old))
}

/// Upstream's `manage` + `syncNodes`: creates the missing daemon pods and deletes the ones
/// that must go. Returns whether it changed anything.
async fn manage(
    ds: &DaemonSet,
    state: &State,
    nodes: &[Node],
    node_pods: &NodePods,
    hash: &str,
) -> bool {
    let spec = nodes::eligibility_spec(ds);
    let surge = update::allows_surge(ds);
    let mut create_on: Vec<String> = Vec::new();
    let mut delete: Vec<&Pod> = Vec::new();
    for node in nodes {
        let name = node.name_any();
        let pods: &[Pod] = node_pods.get(&name).map(Vec::as_slice).unwrap_or_default();
        let placement = nodes::node_should_run(node, &spec);
        pods_should_be_on_node(
            ds,
            state,
            &name,
            pods,
            placement,
            surge,
            hash,
            &mut create_on,
            &mut delete,
        );
    }
    // Pods meant for nodes that no longer exist and never got scheduled.
    for (name, pods) in node_pods {
        if nodes
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(name))
        {
            continue;
        }
        delete.extend(pods.iter().filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or_default()
                .is_empty()
                && p.metadata.deletion_timestamp.is_none()
        }));
    }
    let changed = !create_on.is_empty() || !delete.is_empty();
    sync_nodes(ds, state, &delete, &create_on, hash).await;
    changed
}

/// Upstream's `podsShouldBeOnNode` for one node.
#[allow(clippy::too_many_arguments)]
fn pods_should_be_on_node<'a>(
    ds: &DaemonSet,
    state: &State,
    node: &str,
    pods: &'a [Pod],
    placement: Placement,
    surge: bool,
    hash: &str,
    create_on: &mut Vec<String>,
    delete: &mut Vec<&'a Pod>,
) {
    if placement.should_run && pods.is_empty() {
        create_on.push(node.to_string());
        return;
    }
    if !placement.should_continue_running {
        delete.extend(
            pods.iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none()),
        );
        return;
    }
    let mut running: Vec<&Pod> = Vec::new();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match crate::common::pod_phase(pod) {
            "Failed" => {
                state.recorder.record(
                    &object_ref(ds),
                    EventType::Warning,
                    "FailedDaemonPod",
                    &format!(
                        "Found failed daemon pod {}/{} on node {node}, will try to kill it",
                        pod.namespace().unwrap_or_default(),
                        pod.name_any()
                    ),
                );
                delete.push(pod);
            }
            "Succeeded" => delete.push(pod),
            _ => running.push(pod),
        }
    }
    if running.len() <= 1 {
        return;
    }
    running.sort_by(|a, b| pod_order(a, b));
    if !surge {
        delete.extend(running.into_iter().skip(1));
        return;
    }
    // With surge an old and a new pod may overlap while the new one is not ready yet.
    let mut oldest_new: Option<&Pod> = None;
    let mut oldest_old: Option<&Pod> = None;
    for pod in running {
        let slot = if pod_hash(pod) == Some(hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            delete.push(pod);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old) {
        if !is_pod_ready(old) || is_pod_ready(new) {
            delete.push(old);
        }
    }
}

/// Scheduled pods first, then oldest first, then by name (upstream's
/// `podByCreationTimestampAndPhase`).
fn pod_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let scheduled = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn pod_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map(String::as_str)
}

/// Upstream's `IsPodUpdated`: the pod carries the current hash or template generation.
fn is_pod_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let gen_label = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(TEMPLATE_GENERATION_LABEL));
    let gen_matches = generation.is_some_and(|g| gen_label == Some(&g.to_string()));
    (!hash.is_empty() && pod_hash(pod) == Some(hash)) || gen_matches
}

/// Upstream's `syncNodes`: deletes `delete`, creates one pod on each of `create_on`, with
/// SuccessfulCreate/SuccessfulDelete (or FailedCreate/FailedDelete) events.
async fn sync_nodes(
    ds: &DaemonSet,
    state: &State,
    delete: &[&Pod],
    create_on: &[String],
    hash: &str,
) {
    let ns = ds.namespace().unwrap_or_default();
    let oref = object_ref(ds);
    let creates = create_on.iter().map(|node| {
        let template = nodes::pod_template_for_node(ds, hash, node);
        let generate_name = format!("{}-", ds.name_any());
        let oref = oref.clone();
        let ns = ns.clone();
        async move {
            match create_pod_from_template(&state.client, &ns, &template, controller_ref(ds), &generate_name).await {
                Ok(pod) => state.recorder.record(
                    &oref,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created pod: {}", pod.name_any()),
                ),
                Err(e) => {
                    tracing::warn!(daemonset = %oref.name, node, "failed to create daemon pod: {e:#}");
                    state.recorder.record(&oref, EventType::Warning, "FailedCreate", &format!("Error creating: {e}"));
                }
            }
        }
    });
    futures::future::join_all(creates).await;
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), &ns);
    let deletes = delete.iter().map(|pod| {
        let pods = pods.clone();
        let oref = oref.clone();
        async move {
            let name = pod.name_any();
            match pods.delete(&name, &DeleteParams::default()).await {
                Ok(_) => state.recorder.record(
                    &oref,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {name}"),
                ),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(daemonset = %oref.name, pod = %name, "failed to delete daemon pod: {e:#}");
                    state.recorder.record(&oref, EventType::Warning, "FailedDelete", &format!("Error deleting: {e}"));
                }
            }
        }
    });
    futures::future::join_all(deletes).await;
}

/// Upstream's `cleanupHistory`: drops the oldest revisions no pod runs beyond
/// `revisionHistoryLimit`.
async fn cleanup_history(
    state: &State,
    limit: Option<i32>,
    old: &[ControllerRevision],
    node_pods: &NodePods,
) -> Result<(), Error> {
    let live: std::collections::HashSet<&str> =
        node_pods.values().flatten().filter_map(pod_hash).collect();
    history::truncate(
        &state.client,
        old,
        |r| {
            r.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL))
                .is_some_and(|h| live.contains(h.as_str()))
        },
        limit,
    )
    .await?;
    Ok(())
}

/// Upstream's `updateDaemonSetStatus`; requeues while ready pods wait out `minReadySeconds`.
async fn update_status(
    ds: &DaemonSet,
    state: &State,
    nodes: &[Node],
    node_pods: &NodePods,
    hash: &str,
    collision_count: i32,
) -> Result<Action, Error> {
    let spec = nodes::eligibility_spec(ds);
    let min_ready = ds
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = chrono::Utc::now();
    let (mut desired, mut current, mut misscheduled) = (0i32, 0i32, 0i32);
    let (mut ready, mut available, mut updated) = (0i32, 0i32, 0i32);
    for node in nodes {
        let placement = nodes::node_should_run(node, &spec);
        let mut pods: Vec<&Pod> = node_pods
            .get(&node.name_any())
            .into_iter()
            .flatten()
            .collect();
        if !placement.should_run {
            if !pods.is_empty() {
                misscheduled += 1;
            }
            continue;
        }
        desired += 1;
        pods.sort_by(|a, b| pod_order(a, b));
        let Some(pod) = pods.first() else {
            continue;
        };
        current += 1;
        if is_pod_ready(pod) {
            ready += 1;
            if is_pod_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if is_pod_updated(pod, hash, ds.metadata.generation) {
            updated += 1;
        }
    }
    let status = json!({
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
        "observedGeneration": ds.metadata.generation.unwrap_or(0),
        "collisionCount": collision_count,
    });
    let old = serde_json::to_value(&ds.status).unwrap_or_default();
    let unchanged = status
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| old.get(k).unwrap_or(&json!(0)) == v));
    if !unchanged {
        Api::<DaemonSet>::namespaced(state.client.clone(), &ds.namespace().unwrap_or_default())
            .patch_status(
                &ds.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await?;
    }
    if min_ready > 0 && ready != available {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}
