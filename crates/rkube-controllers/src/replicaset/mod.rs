//! The ReplicaSet and ReplicationController controllers (upstream `pkg/controller/replicaset`;
//! the RC controller is the same code over the core/v1 kind with its map selector). Each keeps
//! `spec.replicas` active pods matching its selector: adopts matching orphans, releases pods
//! that stop matching, creates missing pods in slow-start batches and deletes extras in
//! upstream's ranking order, with expectations so a sync on a stale cache never acts twice;
//! and reports replicas, fullyLabeled, ready and available counts and the ReplicaFailure
//! condition in status.
//!
//! The informer and work queue used here and by the deployment controller live in
//! [`informer`]; expectations in [`expectations`]; the deletion order in [`ranking`].

pub(crate) mod expectations;
pub(crate) mod informer;
pub(crate) mod ranking;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use rkube_api::selectors::LabelSelector;
use rkube_client::events::{EventType, ObjectRef as EventRef, Recorder};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use self::expectations::Expectations;
use self::informer::{key_of, resolve, split_key, Change, WorkQueue};
use crate::common::{
    controller_ref, create_pod_from_template, get_controller_of, is_not_found, is_pod_active,
    is_pod_available, is_pod_ready, label_selector, selector_matches,
};
use crate::Context;

/// Most pods one sync creates or deletes (upstream's `BurstReplicas`).
pub(crate) const BURST_REPLICAS: usize = 500;
/// Concurrent syncs (upstream's `--concurrent-replicaset-syncs` default).
const WORKERS: usize = 5;

/// What the controller needs from a ReplicaSet or a ReplicationController.
pub(crate) trait ReplicaOwner:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    /// The event source, upstream's controller name.
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn selector(&self) -> Result<LabelSelector, String>;
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The status in ReplicaSet form (the RC's has the same fields).
    fn status_of(&self) -> ReplicaSetStatus;
    fn set_status(&mut self, status: ReplicaSetStatus);
}

impl ReplicaOwner for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn selector(&self) -> Result<LabelSelector, String> {
        label_selector(self.spec.as_ref().map(|s| &s.selector)).map_err(|e| e.to_string())
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_of(&self) -> ReplicaSetStatus {
        self.status.clone().unwrap_or_default()
    }
    fn set_status(&mut self, status: ReplicaSetStatus) {
        self.status = Some(status);
    }
}

impl ReplicaOwner for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
    }
    fn selector(&self) -> Result<LabelSelector, String> {
        // An RC's selector is a plain label set; the API defaults it from the template.
        let set: serde_json::Map<String, serde_json::Value> = self
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        Ok(LabelSelector::from_set(&set))
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_of(&self) -> ReplicaSetStatus {
        self.status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
    fn set_status(&mut self, status: ReplicaSetStatus) {
        let mut v = serde_json::to_value(&status).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("terminatingReplicas");
        }
        self.status = serde_json::from_value(v).ok();
    }
}

/// Runs the ReplicaSet controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    run_kind::<ReplicaSet>(ctx).await
}

/// Runs the ReplicationController controller until the process ends.
pub async fn run_replication_controllers(ctx: Arc<Context>) {
    run_kind::<ReplicationController>(ctx).await
}

struct Controller<K: ReplicaOwner> {
    client: kube::Client,
    recorder: Recorder,
    queue: Arc<WorkQueue>,
    expectations: Arc<Expectations>,
    owners: Store<K>,
    pods: Store<Pod>,
}

async fn run_kind<K: ReplicaOwner>(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let expectations = Arc::new(Expectations::default());
    let owners = {
        let (queue, expectations) = (queue.clone(), expectations.clone());
        informer::spawn(
            Api::<K>::all(ctx.client.clone()),
            move |change| match change {
                Change::Added(o) | Change::Updated { new: o, .. } => queue.add(&key_of(&*o)),
                Change::Deleted(o) => {
                    let key = key_of(&*o);
                    expectations.delete(&key);
                    queue.add(&key);
                }
            },
        )
    };
    let pods = {
        let (queue, expectations, owners) = (queue.clone(), expectations.clone(), owners.clone());
        informer::spawn(Api::<Pod>::all(ctx.client.clone()), move |change| {
            on_pod_change(change, &owners, &queue, &expectations)
        })
    };
    if owners.wait_until_ready().await.is_err() || pods.wait_until_ready().await.is_err() {
        tracing::error!(kind = %K::kind(&()), "failed to start: informer ended");
        return;
    }
    let ctrl = Arc::new(Controller {
        client: ctx.client.clone(),
        recorder: ctx.recorder(K::COMPONENT),
        queue,
        expectations,
        owners,
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
                            if let Some(after) = after {
                                ctrl.queue.add_after(&key, after);
                            }
                        }
                        // A conflict only means the cache was behind: retry quietly.
                        Err(e) if crate::common::is_conflict(&e) => {
                            tracing::debug!(key, "failed to sync: {e:#}");
                            ctrl.queue.add_rate_limited(&key);
                        }
                        Err(e) => {
                            tracing::warn!(kind = %K::kind(&()), key, "failed to sync: {e:#}");
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

/// The owner of kind `K` that a pod's controller reference names, if cached.
fn owner_of_pod<K: ReplicaOwner>(pod: &Pod, owners: &Store<K>) -> Option<Arc<K>> {
    let r = get_controller_of(&pod.metadata)?;
    if r.kind != K::kind(&()) {
        return None;
    }
    resolve(owners, pod.metadata.namespace.as_deref()?, &r.name, &r.uid)
}

/// Owners in the pod's namespace whose selector matches it (for orphans).
fn owners_selecting<K: ReplicaOwner>(pod: &Pod, owners: &Store<K>) -> Vec<Arc<K>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    owners.state_filter(|o| {
        o.meta().namespace.as_deref() == Some(ns)
            && o.selector()
                .is_ok_and(|s| !s.is_empty() && selector_matches(&s, pod.metadata.labels.as_ref()))
    })
}

fn on_pod_deleted<K: ReplicaOwner>(
    pod: &Pod,
    owners: &Store<K>,
    queue: &WorkQueue,
    exp: &Expectations,
) {
    if let Some(o) = owner_of_pod(pod, owners) {
        let key = key_of(&*o);
        exp.deletion_observed(&key, &key_of(pod));
        queue.add(&key);
    }
}

fn on_pod_change<K: ReplicaOwner>(
    change: Change<Pod>,
    owners: &Store<K>,
    queue: &Arc<WorkQueue>,
    exp: &Expectations,
) {
    match change {
        Change::Added(pod) => {
            if pod.metadata.deletion_timestamp.is_some() {
                on_pod_deleted(&pod, owners, queue, exp);
            } else if get_controller_of(&pod.metadata).is_some() {
                if let Some(o) = owner_of_pod(&pod, owners) {
                    let key = key_of(&*o);
                    exp.creation_observed(&key);
                    queue.add(&key);
                }
            } else {
                for o in owners_selecting(&pod, owners) {
                    queue.add(&key_of(&*o));
                }
            }
        }
        Change::Updated { old, new } => {
            if old.metadata.resource_version == new.metadata.resource_version {
                return;
            }
            let labels_changed = old.metadata.labels != new.metadata.labels;
            if new.metadata.deletion_timestamp.is_some() {
                on_pod_deleted(&new, owners, queue, exp);
                if labels_changed {
                    on_pod_deleted(&old, owners, queue, exp);
                }
                return;
            }
            let (old_ref, new_ref) = (
                get_controller_of(&old.metadata),
                get_controller_of(&new.metadata),
            );
            let ref_changed = old_ref != new_ref;
            if ref_changed {
                if let Some(o) = owner_of_pod(&old, owners) {
                    queue.add(&key_of(&*o));
                }
            }
            if new_ref.is_some() {
                if let Some(o) = owner_of_pod(&new, owners) {
                    let key = key_of(&*o);
                    queue.add(&key);
                    let min_ready = o.min_ready_seconds();
                    if min_ready > 0 && !is_pod_ready(&old) && is_pod_ready(&new) {
                        queue.add_after(&key, Duration::from_secs(min_ready as u64 + 1));
                    }
                }
                return;
            }
            if labels_changed || ref_changed {
                for o in owners_selecting(&new, owners) {
                    queue.add(&key_of(&*o));
                }
            }
        }
        Change::Deleted(pod) => on_pod_deleted(&pod, owners, queue, exp),
    }
}

/// The message of an API error as upstream prints it (the Status message).
pub(crate) fn error_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        e => e.to_string(),
    }
}

/// The `involvedObject` of an event about `obj`.
pub(crate) fn event_ref<K: Resource<DynamicType = ()>>(obj: &K) -> EventRef {
    let m = obj.meta();
    EventRef {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        resource_version: m.resource_version.clone().unwrap_or_default(),
    }
}

/// Runs `count` calls of `f` in batches of 1, 2, 4, … (upstream's `slowStartBatch`), stopping
/// after the first batch with a failure; returns how many succeeded and the first error.
pub(crate) async fn slow_start_batch<F, Fut, E>(
    count: usize,
    initial: usize,
    f: F,
) -> (usize, Option<E>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let results = join_all((0..batch).map(|_| f())).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (successes, first_err);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
}

impl<K: ReplicaOwner> Controller<K> {
    fn api(&self, ns: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// One level-triggered pass over one owner (upstream's `syncReplicaSet`); returns when to
    /// look again without an event (a pod about to pass minReadySeconds).
    async fn sync(&self, key: &str) -> Result<Option<Duration>, kube::Error> {
        let (ns, name) = split_key(key);
        let Some(owner) = self.owners.get(&ObjectRef::new(name).within(ns)) else {
            self.expectations.delete(key);
            return Ok(None);
        };
        let needs_sync = self.expectations.satisfied(key);
        let selector = match owner.selector() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(key, "failed to convert the pod selector: {e}");
                return Ok(None);
            }
        };
        let active: Vec<Arc<Pod>> = self
            .pods
            .state_filter(|p| p.metadata.namespace.as_deref() == Some(ns) && is_pod_active(p));
        let claimed = self.claim_pods(&owner, &selector, active).await?;
        let mut manage_err = None;
        if needs_sync && owner.meta().deletion_timestamp.is_none() {
            if let Err(e) = self.manage_replicas(&owner, key, &claimed).await {
                manage_err = Some(e);
            }
        }
        let now = Timestamp::now();
        let status = calculate_status(&*owner, &claimed, manage_err.as_ref(), now);
        let updated = self.update_status(&owner, status).await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        // Look again when the next ready pod passes minReadySeconds, so availability is
        // reported without waiting for a pod event.
        let min_ready = updated.min_ready_seconds();
        let status = updated.status_of();
        if min_ready > 0
            && status.available_replicas.unwrap_or(0) < status.ready_replicas.unwrap_or(0)
        {
            let next = claimed
                .iter()
                .filter(|p| is_pod_ready(p) && !is_pod_available(p, min_ready, chrono::Utc::now()))
                .filter_map(|p| ready_since(p))
                .map(|t| t + Duration::from_secs(min_ready as u64))
                .min();
            let after = next
                .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
                .unwrap_or(Duration::from_secs(1));
            return Ok(Some(after + Duration::from_millis(100)));
        }
        Ok(None)
    }

    /// Upstream's `ClaimPods`: keeps pods we control that still match, releases those that no
    /// longer match and adopts matching orphans (unless the owner is being deleted).
    async fn claim_pods(
        &self,
        owner: &K,
        selector: &LabelSelector,
        pods: Vec<Arc<Pod>>,
    ) -> Result<Vec<Arc<Pod>>, kube::Error> {
        let uid = owner.uid().unwrap_or_default();
        let deleting = owner.meta().deletion_timestamp.is_some();
        let mut claimed = Vec::new();
        let mut can_adopt: Option<bool> = None;
        for pod in pods {
            let matches =
                !selector.is_empty() && selector_matches(selector, pod.metadata.labels.as_ref());
            match get_controller_of(&pod.metadata) {
                Some(r) if r.uid != uid => {}
                Some(_) => {
                    if matches {
                        claimed.push(pod);
                    } else if !deleting {
                        self.release(&pod, &uid).await?;
                    }
                }
                None => {
                    if deleting || !matches || pod.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    if can_adopt.is_none() {
                        can_adopt = Some(self.can_adopt(owner).await?);
                    }
                    if can_adopt != Some(true) {
                        continue;
                    }
                    match self.adopt(owner, &pod).await {
                        Ok(p) => claimed.push(Arc::new(p)),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Upstream's `RecheckDeletionTimestamp`: adopt only if a fresh read shows the same
    /// owner, not being deleted.
    async fn can_adopt(&self, owner: &K) -> Result<bool, kube::Error> {
        let ns = owner.namespace().unwrap_or_default();
        let fresh = match self.api(&ns).get(&owner.name_any()).await {
            Ok(o) => o,
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(fresh.uid() == owner.uid() && fresh.meta().deletion_timestamp.is_none())
    }

    async fn adopt(&self, owner: &K, pod: &Pod) -> Result<Pod, kube::Error> {
        let patch = json!({"metadata": {
            "ownerReferences": [controller_ref(owner)],
            "uid": pod.metadata.uid,
        }});
        pods_api(&self.client, pod)
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
    }

    async fn release(&self, pod: &Pod, owner_uid: &str) -> Result<(), kube::Error> {
        let patch = json!({"metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
            "uid": pod.metadata.uid,
        }});
        match pods_api(&self.client, pod)
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            Ok(_) => Ok(()),
            // Gone, or replaced by a pod with the same name: nothing left to release.
            Err(e)
                if is_not_found(&e)
                    || matches!(&e, kube::Error::Api(s) if s.code == 422 || s.code == 409) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Creates or deletes pods to reach `spec.replicas` (upstream's `manageReplicas`).
    async fn manage_replicas(
        &self,
        owner: &K,
        key: &str,
        pods: &[Arc<Pod>],
    ) -> Result<(), kube::Error> {
        let want = owner.replicas().max(0) as usize;
        let ns = owner.namespace().unwrap_or_default();
        let evref = event_ref(owner);
        if pods.len() < want {
            let diff = (want - pods.len()).min(BURST_REPLICAS);
            let Some(template) = owner.template() else {
                return Ok(());
            };
            self.expectations.expect_creations(key, diff);
            let owner_ref = controller_ref(owner);
            let generate_name = format!("{}-", owner.name_any());
            let (ok, err) = slow_start_batch(diff, 1, || async {
                match create_pod_from_template(
                    &self.client,
                    &ns,
                    template,
                    owner_ref.clone(),
                    &generate_name,
                )
                .await
                {
                    Ok(pod) => {
                        let msg = format!("Created pod: {}", pod.name_any());
                        self.recorder
                            .record(&evref, EventType::Normal, "SuccessfulCreate", &msg);
                        Ok(())
                    }
                    Err(e) => {
                        let msg = format!("Error creating: {}", error_message(&e));
                        self.recorder
                            .record(&evref, EventType::Warning, "FailedCreate", &msg);
                        // A terminating namespace refuses new pods; that is no failure.
                        if matches!(&e, kube::Error::Api(s) if s.code == 403
                            && s.message.contains("because it is being terminated"))
                        {
                            return Ok(());
                        }
                        Err(e)
                    }
                }
            })
            .await;
            // Creations that were never attempted or failed will never be observed.
            for _ in ok..diff {
                self.expectations.creation_observed(key);
            }
            if let Some(e) = err {
                return Err(e);
            }
        } else if pods.len() > want {
            let diff = (pods.len() - want).min(BURST_REPLICAS);
            let related = self.related_pods(owner);
            let victims = ranking::pods_to_delete(pods.to_vec(), &related, diff);
            let keys: HashSet<String> = victims.iter().map(|p| key_of(&**p)).collect();
            self.expectations.expect_deletions(key, keys);
            let results = join_all(victims.iter().map(|pod| async {
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                let name = pod.name_any();
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        let msg = format!("Deleted pod: {name}");
                        self.recorder
                            .record(&evref, EventType::Normal, "SuccessfulDelete", &msg);
                        Ok(())
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key, &key_of(&**pod));
                        if is_not_found(&e) {
                            return Ok(());
                        }
                        let msg = format!("Error deleting: {}", error_message(&e));
                        self.recorder
                            .record(&evref, EventType::Warning, "FailedDelete", &msg);
                        Err(e)
                    }
                }
            }))
            .await;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Active pods of this owner and of its siblings (owners with the same controller),
    /// which the deletion ranking uses to spot pods doubled up on a node.
    fn related_pods(&self, owner: &K) -> Vec<Arc<Pod>> {
        let ns = owner.namespace().unwrap_or_default();
        let mut uids: HashSet<String> = owner.uid().into_iter().collect();
        if let Some(parent) = get_controller_of(owner.meta()) {
            for o in self.owners.state() {
                if o.namespace().as_deref() == Some(ns.as_str())
                    && get_controller_of(o.meta()).is_some_and(|r| r.uid == parent.uid)
                {
                    uids.extend(o.uid());
                }
            }
        }
        self.pods.state_filter(|p| {
            p.metadata.namespace.as_deref() == Some(ns.as_str())
                && is_pod_active(p)
                && get_controller_of(&p.metadata).is_some_and(|r| uids.contains(&r.uid))
        })
    }

    /// Writes `status` unless it is what the owner already reports for its generation;
    /// retries once on a conflict with a fresh copy.
    async fn update_status(
        &self,
        owner: &K,
        mut status: ReplicaSetStatus,
    ) -> Result<K, kube::Error> {
        let generation = owner.meta().generation.unwrap_or(0);
        let current = owner.status_of();
        status.observed_generation = current.observed_generation;
        if same_status(&current, &status) && current.observed_generation == Some(generation) {
            return Ok(owner.clone());
        }
        status.observed_generation = Some(generation);
        let ns = owner.namespace().unwrap_or_default();
        let api = self.api(&ns);
        let mut obj = owner.clone();
        for attempt in 0..2 {
            obj.set_status(status.clone());
            match api
                .replace_status(&obj.name_any(), &PostParams::default(), &obj)
                .await
            {
                Ok(o) => return Ok(o),
                Err(e) if attempt == 0 && crate::common::is_conflict(&e) => {
                    obj = api.get(&owner.name_any()).await?;
                    if obj.meta().generation.unwrap_or(0) != generation {
                        // The spec changed: the next sync computes a fresh status.
                        return Ok(obj);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(obj)
    }
}

fn pods_api(client: &kube::Client, pod: &Pod) -> Api<Pod> {
    Api::namespaced(
        client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or("default"),
    )
}

/// When the pod's Ready condition last became True.
fn ready_since(p: &Pod) -> Option<Timestamp> {
    let conds = p.status.as_ref()?.conditions.as_ref()?;
    let c = conds
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    c.last_transition_time.as_ref().map(|t| t.0)
}

fn same_status(a: &ReplicaSetStatus, b: &ReplicaSetStatus) -> bool {
    a.replicas == b.replicas
        && a.fully_labeled_replicas.unwrap_or(0) == b.fully_labeled_replicas.unwrap_or(0)
        && a.ready_replicas.unwrap_or(0) == b.ready_replicas.unwrap_or(0)
        && a.available_replicas.unwrap_or(0) == b.available_replicas.unwrap_or(0)
        && a.conditions.as_deref().unwrap_or_default()
            == b.conditions.as_deref().unwrap_or_default()
}

/// The owner's status for `pods` (upstream's `calculateStatus`), with a ReplicaFailure
/// condition while creating or deleting fails.
fn calculate_status<K: ReplicaOwner>(
    owner: &K,
    pods: &[Arc<Pod>],
    manage_err: Option<&kube::Error>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = owner.status_of();
    let template_labels: BTreeMap<String, String> = owner
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let now_chrono = chrono::DateTime::from_timestamp(now.as_second(), 0).unwrap_or_default();
    let min_ready = owner.min_ready_seconds();
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in pods {
        let labels = p.metadata.labels.as_ref();
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            fully_labeled += 1;
        }
        if is_pod_ready(p) {
            ready += 1;
            if is_pod_available(p, min_ready, now_chrono) {
                available += 1;
            }
        }
    }
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_err {
        Some(e) if !has_failure => {
            let diff = pods.len() as i64 - owner.replicas() as i64;
            let reason = if diff < 0 {
                "FailedCreate"
            } else if diff > 0 {
                "FailedDelete"
            } else {
                ""
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(error_message(e)),
                last_transition_time: Some(Time(seconds(now))),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas = Some(fully_labeled);
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status
}

/// `t` truncated to whole seconds, as the API serialises times.
pub(crate) fn seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_errors_set_and_clear_replica_failure() {
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "q", "namespace": "ns"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}}}
        }))
        .unwrap();
        let err = kube::Error::Api(Box::new(kube::core::Status {
            code: 403,
            message: "pods \"q-x\" is forbidden: exceeded quota: q".into(),
            ..Default::default()
        }));
        let mut status = calculate_status(&rs, &[], Some(&err), Timestamp::now());
        let c = &status.conditions.as_ref().unwrap()[0];
        assert_eq!(c.type_, "ReplicaFailure");
        assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
        assert_eq!(
            c.message.as_deref(),
            Some("pods \"q-x\" is forbidden: exceeded quota: q")
        );
        let mut rs = rs;
        status.replicas = 0;
        rs.status = Some(status);
        let cleared = calculate_status(&rs, &[], None, Timestamp::now());
        assert!(cleared.conditions.is_none());
    }

    #[tokio::test]
    async fn slow_start_doubles_batches_and_stops_on_failure() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), ()>(())
        })
        .await;
        assert_eq!((ok, err), (10, None));
        // Batches 1, 2, 4: the third call fails, so the batch of 4 never starts.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 2 {
                Err("quota")
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!((ok, err), (2, Some("quota")));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
