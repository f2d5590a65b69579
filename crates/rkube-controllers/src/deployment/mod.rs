//! The deployment controller (upstream `pkg/controller/deployment`): rolls a Deployment's
//! pod template out through ReplicaSets named `<deployment>-<pod-template-hash>`, with the
//! RollingUpdate (maxSurge/maxUnavailable) and Recreate strategies, proportional scaling
//! mid-rollout, pausing, revision annotations (rollbacks reuse the matching old RS),
//! revisionHistoryLimit cleanup and the Available/Progressing/ReplicaFailure conditions.
//!
//! This module owns the watches, the work queue and [`DeploymentController::sync`];
//! [`sync`] the shared steps (finding, creating, scaling and cleaning up ReplicaSets, status),
//! [`rolling`] and [`recreate`] the strategies, [`progress`] the progress deadline and
//! [`util`] the pure helpers.

mod progress;
mod recreate;
mod rolling;
mod sync;
pub mod util;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use rkube_client::events::{EventType, Recorder};

use crate::common::{get_controller_of, label_selector, selector_matches};
use crate::replicaset::event_ref;
use crate::replicaset::informer::{self, key_of, resolve, split_key, Change, WorkQueue};
use crate::Context;

/// Concurrent syncs (upstream's `--concurrent-deployment-syncs` default).
const WORKERS: usize = 5;

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let deployments = {
        let queue = queue.clone();
        informer::spawn(Api::<Deployment>::all(ctx.client.clone()), move |change| {
            let (Change::Added(d) | Change::Updated { new: d, .. } | Change::Deleted(d)) = change;
            queue.add(&key_of(&*d));
        })
    };
    let rss = {
        let (queue, deployments) = (queue.clone(), deployments.clone());
        informer::spawn(Api::<ReplicaSet>::all(ctx.client.clone()), move |change| {
            on_rs_change(change, &deployments, &queue)
        })
    };
    let pods = {
        let (queue, deployments, rss) = (queue.clone(), deployments.clone(), rss.clone());
        informer::spawn(Api::<Pod>::all(ctx.client.clone()), move |change| {
            on_pod_change(change, &deployments, &rss, &queue)
        })
    };
    for ready in [
        deployments.wait_until_ready().await.is_ok(),
        rss.wait_until_ready().await.is_ok(),
        pods.wait_until_ready().await.is_ok(),
    ] {
        if !ready {
            tracing::error!("failed to start the deployment controller: informer ended");
            return;
        }
    }
    let ctrl = Arc::new(DeploymentController {
        client: ctx.client.clone(),
        recorder: ctx.recorder("deployment-controller"),
        queue,
        deployments,
        rss,
        pods,
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let ctrl = ctrl.clone();
            tokio::spawn(async move {
                loop {
                    let key = ctrl.queue.get().await;
                    match ctrl.sync(&key).await {
                        Ok(after) => {
                            ctrl.queue.forget(&key);
                            match after {
                                Some(d) if d.is_zero() => ctrl.queue.add_rate_limited(&key),
                                Some(d) => ctrl.queue.add_after(&key, d),
                                None => {}
                            }
                        }
                        // A conflict only means the cache was behind: retry quietly.
                        Err(e) if crate::common::is_conflict(&e) => {
                            tracing::debug!(key, "failed to sync: {e:#}");
                            ctrl.queue.add_rate_limited(&key);
                        }
                        Err(e) => {
                            tracing::warn!(key, "failed to sync deployment: {e:#}");
                            ctrl.queue.add_rate_limited(&key);
                        }
                    }
                    ctrl.queue.done(&key);
                }
            })
        })
        .collect();
    join_all(workers).await;
}

/// The deployment a ReplicaSet's controller reference names, if cached.
fn deployment_of(rs: &ReplicaSet, deployments: &Store<Deployment>) -> Option<Arc<Deployment>> {
    let r = get_controller_of(&rs.metadata)?;
    if r.kind != "Deployment" {
        return None;
    }
    resolve(
        deployments,
        rs.metadata.namespace.as_deref()?,
        &r.name,
        &r.uid,
    )
}

/// Deployments in the RS's namespace whose selector matches it (for orphans).
fn deployments_selecting(rs: &ReplicaSet, deployments: &Store<Deployment>) -> Vec<Arc<Deployment>> {
    let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
    deployments.state_filter(|d| {
        d.metadata.namespace.as_deref() == Some(ns)
            && label_selector(d.spec.as_ref().map(|s| &s.selector))
                .is_ok_and(|s| !s.is_empty() && selector_matches(&s, rs.metadata.labels.as_ref()))
    })
}

fn on_rs_change(change: Change<ReplicaSet>, deployments: &Store<Deployment>, queue: &WorkQueue) {
    let enqueue_owner = |rs: &ReplicaSet| {
        if let Some(d) = deployment_of(rs, deployments) {
            queue.add(&key_of(&*d));
        }
    };
    match change {
        Change::Added(rs) | Change::Deleted(rs) => {
            if get_controller_of(&rs.metadata).is_some() {
                enqueue_owner(&rs);
            } else {
                for d in deployments_selecting(&rs, deployments) {
                    queue.add(&key_of(&*d));
                }
            }
        }
        Change::Updated { old, new } => {
            if old.metadata.resource_version == new.metadata.resource_version {
                return;
            }
            let (old_ref, new_ref) = (
                get_controller_of(&old.metadata),
                get_controller_of(&new.metadata),
            );
            let ref_changed = old_ref != new_ref;
            if ref_changed {
                enqueue_owner(&old);
            }
            if new_ref.is_some() {
                enqueue_owner(&new);
                return;
            }
            if ref_changed || old.metadata.labels != new.metadata.labels {
                for d in deployments_selecting(&new, deployments) {
                    queue.add(&key_of(&*d));
                }
            }
        }
    }
}

/// Recreate waits for old pods to go away, so their deletion (or end) wakes the deployment.
fn on_pod_change(
    change: Change<Pod>,
    deployments: &Store<Deployment>,
    rss: &Store<ReplicaSet>,
    queue: &WorkQueue,
) {
    let pod = match change {
        Change::Deleted(p) => p,
        Change::Updated { old, new }
            if crate::common::pod_phase(&old) != crate::common::pod_phase(&new) =>
        {
            new
        }
        _ => return,
    };
    let Some(r) = get_controller_of(&pod.metadata) else {
        return;
    };
    if r.kind != "ReplicaSet" {
        return;
    }
    let Some(rs) = resolve(
        rss,
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        &r.name,
        &r.uid,
    ) else {
        return;
    };
    if let Some(d) = deployment_of(&rs, deployments) {
        if util::strategy_type(&d) == "Recreate" {
            queue.add(&key_of(&*d));
        }
    }
}

/// The deployment controller's state: the client, caches and queue.
pub(crate) struct DeploymentController {
    client: kube::Client,
    recorder: Recorder,
    queue: Arc<WorkQueue>,
    deployments: Store<Deployment>,
    rss: Store<ReplicaSet>,
    pods: Store<Pod>,
}

impl DeploymentController {
    fn event(&self, d: &Deployment, ty: EventType, reason: &str, message: &str) {
        self.recorder.record(&event_ref(d), ty, reason, message);
    }

    /// One level-triggered pass over a deployment (upstream's `syncDeployment`); returns when
    /// to look again without an event (a progress-deadline check).
    async fn sync(&self, key: &str) -> Result<Option<Duration>, kube::Error> {
        let (ns, name) = split_key(key);
        let Some(d) = self.deployments.get(&ObjectRef::new(name).within(ns)) else {
            return Ok(None);
        };
        let mut d = (*d).clone();
        let selector = d
            .spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default();
        let selects_all = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(|e| e.is_empty());
        if selects_all {
            self.event(
                &d,
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            let generation = d.metadata.generation.unwrap_or(0);
            let mut status = d.status.clone().unwrap_or_default();
            if status.observed_generation.unwrap_or(0) < generation {
                status.observed_generation = Some(generation);
                self.update_status(&mut d, status).await?;
            }
            return Ok(None);
        }
        let rs_list = self.get_replica_sets_for_deployment(&d).await?;
        if d.metadata.deletion_timestamp.is_some() {
            self.sync_status_only(&mut d, &rs_list).await?;
            return Ok(None);
        }
        self.check_paused_conditions(&mut d).await?;
        if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
            self.sync_scale(&mut d, &rs_list).await?;
            return Ok(None);
        }
        if self.is_scaling_event(&mut d, &rs_list).await? {
            self.sync_scale(&mut d, &rs_list).await?;
            return Ok(None);
        }
        if util::strategy_type(&d) == "Recreate" {
            let pod_map = self.pod_map(&d, &rs_list);
            self.rollout_recreate(&mut d, &rs_list, &pod_map).await
        } else {
            self.rollout_rolling(&mut d, &rs_list).await
        }
    }

    /// Pods of the deployment grouped by the uid of the RS (of `rs_list`) controlling them.
    fn pod_map(
        &self,
        d: &Deployment,
        rs_list: &[Arc<ReplicaSet>],
    ) -> HashMap<String, Vec<Arc<Pod>>> {
        let ns = d.metadata.namespace.as_deref().unwrap_or_default();
        let Ok(selector) = label_selector(d.spec.as_ref().map(|s| &s.selector)) else {
            return HashMap::new();
        };
        let mut map: HashMap<String, Vec<Arc<Pod>>> = rs_list
            .iter()
            .filter_map(|rs| rs.metadata.uid.clone())
            .map(|uid| (uid, Vec::new()))
            .collect();
        for pod in self.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns)
                && selector_matches(&selector, p.metadata.labels.as_ref())
        }) {
            if let Some(r) = get_controller_of(&pod.metadata) {
                if let Some(list) = map.get_mut(&r.uid) {
                    list.push(pod.clone());
                }
            }
        }
        map
    }
}
