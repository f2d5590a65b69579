//! The StatefulSet controller (upstream's `pkg/controller/statefulset`): pods `<set>-<ordinal>`
//! with stable identity and storage ([`pods`]), created, replaced, scaled and rolled by
//! [`control`], the pod template history kept as ControllerRevisions ([`crate::history`];
//! `status.currentRevision`/`updateRevision` name them and pods carry the name in their
//! `controller-revision-hash` label), and `status` as `kubectl rollout status sts` reads it.
//!
//! A reconcile runs when the set, one of its pods or revisions changes. Pods and claims are
//! listed from the API server on each sync (its lists are consistent), so no expectations
//! bookkeeping is needed.

mod control;
mod pods;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::ResourceExt;
use rkube_client::events::{ObjectRef, Recorder};
use serde_json::json;

use crate::common::{controller_ref, is_controlled_by, is_pod_ready};
use crate::history;
use crate::Context;

pub use pods::{POD_INDEX_LABEL, POD_NAME_LABEL};

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("pvc {0} is being deleted")]
    ClaimDeleting(String),
}

struct State {
    client: kube::Client,
    recorder: Recorder,
}

/// The set's current revision (what its older pods run) and update revision (its template).
pub struct Revisions {
    pub current: ControllerRevision,
    pub update: ControllerRevision,
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let state = Arc::new(State {
        client: client.clone(),
        recorder: ctx.recorder("statefulset-controller"),
    });
    Controller::new(
        Api::<StatefulSet>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
    .owns(
        Api::<ControllerRevision>::all(client),
        watcher::Config::default(),
    )
    .run(reconcile, error_policy, state)
    .for_each(|_| async {})
    .await;
}

fn error_policy(set: Arc<StatefulSet>, err: &Error, _state: Arc<State>) -> Action {
    tracing::warn!(
        statefulset = %format!("{}/{}", set.namespace().unwrap_or_default(), set.name_any()),
        "failed to sync statefulset: {err:#}"
    );
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(set: Arc<StatefulSet>, state: Arc<State>) -> Result<Action, Error> {
    sync_statefulset(&set, &state).await
}

/// The set as an event's involved object.
fn object_ref(set: &StatefulSet) -> ObjectRef {
    ObjectRef {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        namespace: set.namespace().unwrap_or_default(),
        name: set.name_any(),
        uid: set.uid().unwrap_or_default(),
        resource_version: set.resource_version().unwrap_or_default(),
    }
}

/// Upstream's `syncStatefulSet` + `UpdateStatefulSet`.
async fn sync_statefulset(set: &StatefulSet, state: &State) -> Result<Action, Error> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(spec) = set.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let Some(selector) = history::selector_string(&spec.selector).filter(|s| !s.is_empty()) else {
        return Ok(Action::await_change());
    };
    let ns = set.namespace().unwrap_or_default();
    let uid = set.uid().unwrap_or_default();
    let name = set.name_any();
    let pods: Vec<Pod> = Api::<Pod>::namespaced(state.client.clone(), &ns)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter(|p| {
            is_controlled_by(&p.metadata, &uid) && pods::ordinal_of(&name, &p.name_any()).is_some()
        })
        .collect();
    let claims: Vec<PersistentVolumeClaim> = if spec
        .volume_claim_templates
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        Api::<PersistentVolumeClaim>::namespaced(state.client.clone(), &ns)
            .list(&ListParams::default())
            .await?
            .items
    } else {
        Vec::new()
    };

    let mut revisions = history::list_owned(&state.client, &ns, &selector, &uid).await?;
    let mut collision_count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let revs = statefulset_revisions(set, state, &mut revisions, &mut collision_count).await?;

    let outcome = control::update_statefulset(set, state, &revs, pods, &claims).await?;
    let status = compute_status(set, &revs, &outcome, collision_count);
    let requeue = update_status(set, state, status).await?;

    // Keep every revision a pod runs, plus the current and update ones.
    let live: std::collections::HashSet<String> = outcome
        .replicas
        .iter()
        .chain(outcome.condemned.iter())
        .filter(|r| r.created)
        .map(|r| pods::pod_revision(&r.pod).to_string())
        .chain([revs.current.name_any(), revs.update.name_any()])
        .collect();
    history::sort_by_revision(&mut revisions);
    history::truncate(
        &state.client,
        &revisions,
        |r| live.contains(&r.name_any()),
        spec.revision_history_limit,
    )
    .await?;
    Ok(requeue)
}

/// Upstream's `getStatefulSetRevisions`: the update revision is the snapshot of the current
/// template (an equal older snapshot is re-used with a bumped revision number), the current
/// revision the one `status.currentRevision` names (else the update revision). `revisions`
/// is updated to hold the new or renumbered revision.
async fn statefulset_revisions(
    set: &StatefulSet,
    state: &State,
    revisions: &mut Vec<ControllerRevision>,
    collision_count: &mut i32,
) -> Result<Revisions, Error> {
    let spec = set.spec.clone().unwrap_or_default();
    let data = history::template_patch(&spec.template);
    let next = history::next_revision(revisions);
    let equal: Vec<String> = history::find_equal(revisions, &data)
        .iter()
        .map(|r| r.name_any())
        .collect();
    let newest = revisions.last().map(|r| r.name_any());
    let update = match equal.last() {
        Some(n) if Some(n) == newest.as_ref() => revisions.last().cloned(),
        Some(n) => {
            let idx = revisions.iter().position(|r| r.name_any() == *n);
            match idx {
                Some(i) => {
                    let bumped =
                        history::update_revision_number(&state.client, &revisions[i], next).await?;
                    revisions[i] = bumped.clone();
                    Some(bumped)
                }
                None => None,
            }
        }
        None => None,
    };
    let update = match update {
        Some(u) => u,
        None => {
            let rev = history::new_revision(
                controller_ref(set),
                &set.namespace().unwrap_or_default(),
                spec.template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.as_ref()),
                set.metadata.annotations.as_ref(),
                data,
                next,
                Some(*collision_count),
            );
            let created = history::create_revision(&state.client, &rev, collision_count).await?;
            if !revisions.iter().any(|r| r.name_any() == created.name_any()) {
                revisions.push(created.clone());
            }
            created
        }
    };
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
    let current = current_name
        .and_then(|n| revisions.iter().find(|r| r.name_any() == n).cloned())
        .unwrap_or_else(|| update.clone());
    Ok(Revisions { current, update })
}

/// The status counts of the pass (upstream's `computeReplicaStatus`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Counts {
    replicas: i32,
    ready: i32,
    available: i32,
    current: i32,
    updated: i32,
}

fn compute_status(
    set: &StatefulSet,
    revs: &Revisions,
    outcome: &control::Outcome,
    collision_count: i32,
) -> serde_json::Value {
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = chrono::Utc::now();
    let (current_name, update_name) = (revs.current.name_any(), revs.update.name_any());
    let mut c = Counts::default();
    for r in outcome
        .replicas
        .iter()
        .chain(outcome.condemned.iter())
        .filter(|r| r.created)
    {
        let pod = &r.pod;
        c.replicas += 1;
        if crate::common::pod_phase(pod) == "Running" && is_pod_ready(pod) {
            c.ready += 1;
            if crate::common::is_pod_available(pod, min_ready, now) {
                c.available += 1;
            }
        }
        if pod.metadata.deletion_timestamp.is_none() {
            let rev = pods::pod_revision(pod);
            if rev == current_name {
                c.current += 1;
            }
            if rev == update_name {
                c.updated += 1;
            }
        }
    }
    c.current -= outcome.rolled;
    let mut current_revision = current_name;
    // Upstream's completeRollingUpdate: once every pod runs the update revision and is ready,
    // it becomes the current one.
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    if rolling && c.updated == c.replicas && c.ready == c.replicas {
        current_revision = update_name.clone();
        c.current = c.updated;
    }
    json!({
        "observedGeneration": set.metadata.generation.unwrap_or(0),
        "replicas": c.replicas,
        "readyReplicas": c.ready,
        "availableReplicas": c.available,
        "currentReplicas": c.current,
        "updatedReplicas": c.updated,
        "currentRevision": current_revision,
        "updateRevision": update_name,
        "collisionCount": collision_count,
    })
}

/// Writes the status when it changed; requeues while ready pods wait out `minReadySeconds`.
async fn update_status(
    set: &StatefulSet,
    state: &State,
    status: serde_json::Value,
) -> Result<Action, Error> {
    let old = serde_json::to_value(&set.status).unwrap_or_default();
    let unchanged = status
        .as_object()
        .is_some_and(|m| m.iter().all(|(k, v)| old.get(k).unwrap_or(&json!(0)) == v));
    if !unchanged {
        Api::<StatefulSet>::namespaced(state.client.clone(), &set.namespace().unwrap_or_default())
            .patch_status(
                &set.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await?;
    }
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    if min_ready > 0 && status["readyReplicas"] != status["availableReplicas"] {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}
