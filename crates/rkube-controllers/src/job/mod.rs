//! The Job controller (upstream `pkg/controller/job`): runs a Job's pods until `completions`
//! succeed (NonIndexed, or Indexed with one success per index) with at most `parallelism` at
//! once, replaces failed pods after an exponential back-off, fails the Job past `backoffLimit`
//! or `activeDeadlineSeconds`, deletes the pods of suspended Jobs, and keeps `.status`
//! (counters, `completedIndexes`, `Complete`/`Failed` with their interim
//! `SuccessCriteriaMet`/`FailureTarget`, `Suspended`). Finished pods are counted with the
//! `batch.kubernetes.io/job-tracking` finalizer as upstream does: a pod keeps the finalizer
//! until its UID is recorded in `.status.uncountedTerminatedPods`, then loses it and moves
//! into the counters, so counts survive pod deletion. A second loop removes that finalizer
//! from pods whose Job is gone or finished.
//!
//! Each reconcile reads the Job and lists its pods from the API server (not a cache), so it
//! needs no creation/deletion expectations.

mod backoff;
pub mod indexed;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::ResourceExt;
use rkube_client::events::{EventType, ObjectRef, Recorder};
use serde_json::json;

pub use self::backoff::BackoffRecord;
use self::indexed::Intervals;
use crate::common::{
    controller_ref, create_pod_from_template, get_controller_of, is_not_found, is_pod_active,
    is_pod_ready, pod_phase,
};
use crate::Context;

/// The finalizer that keeps a finished pod around until the controller has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The `spec.managedBy` value of Jobs this controller manages.
const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// Cap on `.status.uncountedTerminatedPods` and on finalizer removals per sync.
const MAX_UNCOUNTED: usize = 500;
/// Cap on pod creations or deletions per sync.
const MAX_CREATE_DELETE: usize = 500;

/// The time source (the real clock in production; tests inject a fake one).
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// How the Job controller runs.
#[derive(Clone)]
pub struct JobConfig {
    /// First delay before replacing a failed pod (upstream 10s), doubled per further failure.
    pub pod_failure_backoff: Duration,
    /// Cap on that delay (upstream 10 minutes).
    pub max_pod_failure_backoff: Duration,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            pod_failure_backoff: Duration::from_secs(10),
            max_pod_failure_backoff: Duration::from_secs(600),
            clock: Arc::new(RealClock),
        }
    }
}

/// Why a sync failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{0}")]
    Api(#[from] kube::Error),
}

/// Runs the controller with upstream's settings until the process ends.
pub async fn run(ctx: Arc<Context>) {
    run_with(ctx, JobConfig::default()).await
}

/// Runs the controller with `config` until the process ends.
pub async fn run_with(ctx: Arc<Context>, config: JobConfig) {
    let client = ctx.client.clone();
    let state = Arc::new(State {
        client: client.clone(),
        recorder: ctx.recorder("job-controller"),
        config,
        backoff: Mutex::default(),
    });
    let controller = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default());
    let orphans = Arc::new(OrphanState {
        client: client.clone(),
        jobs: controller.store(),
    });
    let main = controller
        .run(reconcile, error_policy, state)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("job controller: {e}");
            }
        });
    let orphan_loop = Controller::new(Api::<Pod>::all(client), watcher::Config::default())
        .run(reconcile_orphan_pod, orphan_error_policy, orphans)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("job orphan pod loop: {e}");
            }
        });
    futures::join!(main, orphan_loop);
}

fn error_policy(job: Arc<Job>, e: &Error, _: Arc<State>) -> Action {
    let conflict = matches!(e, Error::Api(kube::Error::Api(s)) if s.code == 409);
    if conflict {
        tracing::debug!(job = %job.name_any(), "job status changed meanwhile, retrying: {e}");
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(job = %job.name_any(), "failed to sync job: {e:#}");
    Action::requeue(Duration::from_secs(1))
}

struct State {
    client: kube::Client,
    recorder: Recorder,
    config: JobConfig,
    /// Back-off records by `namespace/name`.
    backoff: Mutex<HashMap<String, BackoffRecord>>,
}

/// Whether the Job has a `Complete` or `Failed` condition that is True.
pub fn is_job_finished(job: &Job) -> bool {
    finished_condition_type(job).is_some()
}

/// `Complete` or `Failed` when the Job has finished.
pub fn finished_condition_type(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

fn find_condition<'a>(status: Option<&'a JobStatus>, type_: &str) -> Option<&'a JobCondition> {
    status?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

fn new_condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: (!reason.is_empty()).then(|| reason.into()),
        message: (!message.is_empty()).then(|| message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets the condition of `type_` to `status` (adding it unless `status` is False); returns
/// whether anything changed.
fn ensure_condition(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = conds.iter_mut().find(|c| c.type_ == type_) {
        let same = c.status == status
            && c.reason.as_deref().unwrap_or("") == reason
            && c.message.as_deref().unwrap_or("") == message;
        if same {
            return false;
        }
        *c = new_condition(type_, reason, message, now);
        c.status = status.into();
        return true;
    }
    if status == "False" {
        return false;
    }
    let mut c = new_condition(type_, reason, message, now);
    c.status = status.into();
    conds.push(c);
    true
}

fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

fn uid_of(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

fn is_indexed(spec: &JobSpec) -> bool {
    spec.completion_mode.as_deref() == Some("Indexed")
}

/// Replacement pods are created only once the old ones are Failed (not while terminating).
fn only_replace_failed(spec: &JobSpec) -> bool {
    spec.pod_replacement_policy.as_deref() == Some("Failed") || spec.pod_failure_policy.is_some()
}

/// Upstream `isPodFailed`: Failed, or (unless only failed pods are replaced) being deleted
/// before it succeeded.
fn is_pod_failed(pod: &Pod, spec: &JobSpec) -> bool {
    if pod_phase(pod) == "Failed" {
        return true;
    }
    if only_replace_failed(spec) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && pod_phase(pod) != "Succeeded"
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(pod_phase(pod), "Succeeded" | "Failed")
}

/// The label selector as a query string (`k=v,k in (a,b),!k`).
fn selector_string(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else {
        return String::new();
    };
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in sel.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// Sort key ranking active pods from "delete first": unscheduled before scheduled, Pending
/// before Unknown before Running, not ready before ready, newer before older.
fn removal_rank(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    fn key(p: &Pod) -> (bool, u8, bool) {
        let scheduled = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let phase = match pod_phase(p) {
            "Pending" => 0,
            "Unknown" => 1,
            "Running" => 2,
            _ => 0,
        };
        (scheduled, phase, is_pod_ready(p))
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    key(a)
        .cmp(&key(b))
        .then_with(|| created(b).cmp(&created(a)))
}

fn job_ref(job: &Job) -> ObjectRef {
    ObjectRef {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: job.namespace().unwrap_or_default(),
        name: job.name_any(),
        uid: job.uid().unwrap_or_default(),
        resource_version: job.resource_version().unwrap_or_default(),
    }
}

/// Moves the UIDs of uncounted pods that no longer hold the finalizer into the counters;
/// returns whether the status changed.
fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let unc = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default);
    let mut changed = false;
    let mut moved = |list: &mut Option<Vec<String>>| -> i32 {
        let before = list.as_ref().map_or(0, Vec::len);
        let kept: Vec<String> = list
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|u| with_finalizer.contains(u))
            .collect();
        let n = (before - kept.len()) as i32;
        if n > 0 {
            changed = true;
        }
        *list = (!kept.is_empty()).then_some(kept);
        n
    };
    let s = moved(&mut unc.succeeded);
    let f = moved(&mut unc.failed);
    if s > 0 {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + s);
    }
    if f > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + f);
    }
    changed
}

/// Zero counters are omitted, as upstream's `omitempty` does.
fn nz(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

async fn reconcile(obj: Arc<Job>, st: Arc<State>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("{ns}/{name}");
    let api: Api<Job> = Api::namespaced(st.client.clone(), &ns);
    let Some(job) = api.get_opt(&name).await? else {
        st.forget(&key);
        return Ok(Action::await_change());
    };
    let spec = job.spec.clone().unwrap_or_default();
    if spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
        return Ok(Action::await_change());
    }
    if is_job_finished(&job) {
        st.forget(&key);
        return Ok(Action::await_change());
    }
    if let Some(mode) = spec.completion_mode.as_deref() {
        if mode != "NonIndexed" && mode != "Indexed" {
            st.recorder.record(
                &job_ref(&job),
                EventType::Warning,
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            );
            return Ok(Action::await_change());
        }
    }
    let pods = st.pods_for_job(&job).await?;
    st.sync_job(&key, job, pods).await
}

/// What `manage_job` did.
struct Managed {
    active: i32,
    deleted: i32,
    deleted_ready: i32,
    requeue: Option<Duration>,
    err: Option<kube::Error>,
}

/// The counters a sync computed, handed to status tracking.
struct Observed {
    finished: Option<JobCondition>,
    needs_flush: bool,
    prev_indexes: Intervals,
    indexes: Intervals,
    terminating: i32,
    backoff: BackoffRecord,
}

fn min_requeue(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl State {
    fn forget(&self, key: &str) {
        if let Ok(mut m) = self.backoff.lock() {
            m.remove(key);
        }
    }

    fn backoff_record(&self, key: &str) -> BackoffRecord {
        self.backoff
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_default()
    }

    fn store_backoff(&self, key: &str, rec: BackoffRecord) {
        if let Ok(mut m) = self.backoff.lock() {
            m.insert(key.to_string(), rec);
        }
    }

    /// The Job's pods: those matching its selector that it controls, plus matching orphans,
    /// which it adopts (adding the tracking finalizer) unless it is being deleted.
    async fn pods_for_job(&self, job: &Job) -> Result<Vec<Pod>, kube::Error> {
        let ns = job.namespace().unwrap_or_default();
        let uid = job.uid().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let sel = selector_string(job.spec.as_ref().and_then(|s| s.selector.as_ref()));
        let list = api.list(&ListParams::default().labels(&sel)).await?;
        let mut out = Vec::new();
        for pod in list.items {
            match get_controller_of(&pod.metadata) {
                Some(r) if r.uid == uid => out.push(pod),
                Some(_) => {}
                None if job.metadata.deletion_timestamp.is_none()
                    && pod.metadata.deletion_timestamp.is_none() =>
                {
                    let patch = json!({"metadata": {
                        "uid": pod.uid(),
                        "ownerReferences": [controller_ref(job)],
                        "finalizers": [TRACKING_FINALIZER],
                    }});
                    match api
                        .patch(
                            &pod.name_any(),
                            &PatchParams::default(),
                            &Patch::Strategic(&patch),
                        )
                        .await
                    {
                        Ok(p) => out.push(p),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            tracing::warn!(pod = %pod.name_any(), "failed to adopt pod: {e:#}")
                        }
                    }
                }
                None => {}
            }
        }
        Ok(out)
    }

    async fn sync_job(&self, key: &str, mut job: Job, pods: Vec<Pod>) -> Result<Action, Error> {
        let now = self.config.clock.now();
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = is_indexed(&spec);
        let completions = spec.completions;
        let suspended = spec.suspend == Some(true);
        let status = job.status.get_or_insert_with(Default::default);
        let unc = status
            .uncounted_terminated_pods
            .get_or_insert_with(Default::default)
            .clone();
        let unc_succeeded: HashSet<String> = unc.succeeded.into_iter().flatten().collect();
        let unc_failed: HashSet<String> = unc.failed.into_iter().flatten().collect();

        let active_pods: Vec<&Pod> = pods.iter().filter(|p| is_pod_active(p)).collect();
        let mut active = active_pods.len() as i32;
        let mut ready = active_pods.iter().filter(|p| is_pod_ready(p)).count() as i32;
        let mut terminating = pods.iter().filter(|p| is_terminating(p)).count() as i32;

        // Finished pods not yet recorded anywhere in the status.
        let valid =
            |p: &Pod| !indexed || indexed::valid_index(p, completions.unwrap_or(0)).is_some();
        let fresh = |p: &&Pod| {
            has_tracking_finalizer(p)
                && !unc_succeeded.contains(uid_of(p))
                && !unc_failed.contains(uid_of(p))
                && valid(p)
        };
        let new_succeeded: Vec<&Pod> = pods
            .iter()
            .filter(fresh)
            .filter(|p| pod_phase(p) == "Succeeded")
            .collect();
        let new_failed: Vec<&Pod> = pods
            .iter()
            .filter(fresh)
            .filter(|p| is_pod_failed(p, &spec))
            .collect();
        let mut succeeded =
            status.succeeded.unwrap_or(0) + (new_succeeded.len() + unc_succeeded.len()) as i32;
        let failed = status.failed.unwrap_or(0) + (new_failed.len() + unc_failed.len()) as i32;

        if status.start_time.is_none() && !suspended {
            status.start_time = Some(Time(now));
        }
        let backoff = self
            .backoff_record(key)
            .observe(&new_succeeded, &new_failed, now);

        let mut requeue = None;
        let mut finished = find_condition(Some(&*status), "SuccessCriteriaMet").cloned();
        if finished.is_none() {
            if let Some(target) = find_condition(Some(&*status), "FailureTarget") {
                finished = Some(new_condition(
                    "Failed",
                    target.reason.as_deref().unwrap_or(""),
                    target.message.as_deref().unwrap_or(""),
                    now,
                ));
            }
        }
        if finished.is_none() {
            let start = status.start_time.as_ref().map(|t| t.0);
            let deadline = spec
                .active_deadline_seconds
                .filter(|_| !suspended)
                .zip(start)
                .map(|(ads, start)| {
                    let allowed = Duration::from_secs(ads.max(0) as u64);
                    let elapsed = Duration::try_from(now.duration_since(start)).unwrap_or_default();
                    allowed.saturating_sub(elapsed)
                });
            if failed > spec.backoff_limit.unwrap_or(6)
                || past_backoff_limit_on_failure(&spec, &pods)
            {
                finished = Some(new_condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    now,
                ));
            } else if deadline == Some(Duration::ZERO) {
                finished = Some(new_condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    now,
                ));
            } else if let Some(left) = deadline {
                requeue = Some(left);
            }
        }

        let (prev_indexes, indexes) = if indexed {
            let c = completions.unwrap_or(0);
            let prev = Intervals::parse(status.completed_indexes.as_deref().unwrap_or(""), c);
            let now_succeeded = pods
                .iter()
                .filter(|p| pod_phase(p) == "Succeeded" && has_tracking_finalizer(p))
                .filter_map(|p| indexed::valid_index(p, c));
            let cur = prev.with_indexes(now_succeeded);
            succeeded = cur.total();
            (prev, cur)
        } else {
            Default::default()
        };

        let mut suspend_changed = false;
        let mut pod_err = None;
        if finished.is_some() {
            let (deleted_ready, deleted, err) = self.delete_active_pods(&job, &active_pods).await;
            if deleted != active {
                finished = None;
            }
            active -= deleted;
            terminating += deleted;
            ready -= deleted_ready;
            pod_err = err;
        } else {
            let mut managed_now = false;
            if job.metadata.deletion_timestamp.is_none() {
                let m = self
                    .manage_job(
                        &job,
                        &active_pods,
                        succeeded,
                        &indexes,
                        terminating,
                        &backoff,
                        now,
                    )
                    .await;
                active = m.active;
                terminating += m.deleted;
                ready -= m.deleted_ready;
                requeue = min_requeue(requeue, m.requeue);
                pod_err = m.err;
                managed_now = true;
            }
            let complete = match completions {
                None => succeeded > 0 && active == 0,
                Some(c) => succeeded >= c && active == 0,
            };
            let jref = job_ref(&job);
            let status = job.status.get_or_insert_with(Default::default);
            let conds = status.conditions.get_or_insert_with(Vec::new);
            if complete {
                finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if managed_now && suspended {
                if ensure_condition(
                    conds,
                    "Suspended",
                    "True",
                    "JobSuspended",
                    "Job suspended",
                    now,
                ) {
                    suspend_changed = true;
                    self.recorder
                        .record(&jref, EventType::Normal, "Suspended", "Job suspended");
                }
            } else if managed_now
                && ensure_condition(
                    conds,
                    "Suspended",
                    "False",
                    "JobResumed",
                    "Job resumed",
                    now,
                )
            {
                suspend_changed = true;
                // The active deadline counts from the resumption.
                status.start_time = Some(Time(now));
                self.recorder
                    .record(&jref, EventType::Normal, "Resumed", "Job resumed");
            }
            if status.conditions.as_ref().is_some_and(Vec::is_empty) {
                status.conditions = None;
            }
        }

        let status = job.status.get_or_insert_with(Default::default);
        let needs_flush = suspend_changed
            || status.active.unwrap_or(0) != active
            || status.ready != Some(ready)
            || status.terminating != Some(terminating);
        status.active = nz(active);
        status.ready = Some(ready);
        status.terminating = Some(terminating);
        let observed = Observed {
            finished,
            needs_flush,
            prev_indexes,
            indexes,
            terminating,
            backoff,
        };
        self.track_status(key, job, &pods, observed, now).await?;
        if let Some(e) = pod_err {
            return Err(e.into());
        }
        Ok(requeue.map_or_else(Action::await_change, Action::requeue))
    }

    /// Creates or deletes pods towards the wanted number of active pods (none when
    /// suspended), respecting the failure back-off.
    #[allow(clippy::too_many_arguments)]
    async fn manage_job(
        &self,
        job: &Job,
        active_pods: &[&Pod],
        succeeded: i32,
        succeeded_indexes: &Intervals,
        terminating: i32,
        backoff: &BackoffRecord,
        now: Timestamp,
    ) -> Managed {
        let spec = job.spec.clone().unwrap_or_default();
        let active = active_pods.len() as i32;
        let mut out = Managed {
            active,
            deleted: 0,
            deleted_ready: 0,
            requeue: None,
            err: None,
        };
        if spec.suspend == Some(true) {
            let (ready, deleted, err) = self.delete_job_pods(job, active_pods).await;
            out.active -= deleted;
            out.deleted = deleted;
            out.deleted_ready = ready;
            out.err = err;
            return out;
        }
        let parallelism = spec.parallelism.unwrap_or(1);
        let want = match spec.completions {
            None if succeeded > 0 => active,
            None => parallelism,
            Some(c) => (c - succeeded).min(parallelism).max(0),
        };
        let rm_at_least = (active - want).max(0) as usize;
        let mut to_delete: Vec<&Pod> = if is_indexed(&spec) {
            let (mut rm, mut left) = indexed::duplicated_index_pods(
                active_pods,
                spec.completions.unwrap_or(0),
                removal_rank,
            );
            if rm.len() < rm_at_least {
                left.sort_by(|a, b| removal_rank(a, b));
                rm.extend(left.into_iter().take(rm_at_least - rm.len()));
            }
            rm
        } else {
            let mut left = active_pods.to_vec();
            left.sort_by(|a, b| removal_rank(a, b));
            left.truncate(rm_at_least);
            left
        };
        to_delete.truncate(MAX_CREATE_DELETE);
        if !to_delete.is_empty() {
            let (ready, deleted, err) = self.delete_job_pods(job, &to_delete).await;
            out.active -= deleted;
            out.deleted = deleted;
            out.deleted_ready = ready;
            out.err = err;
            return out;
        }
        let term = if only_replace_failed(&spec) {
            terminating
        } else {
            0
        };
        let diff = want - term - active;
        if diff <= 0 {
            return out;
        }
        let wait = backoff.remaining(
            now,
            self.config.pod_failure_backoff,
            self.config.max_pod_failure_backoff,
        );
        if !wait.is_zero() {
            out.requeue = Some(wait);
            return out;
        }
        let diff = (diff as usize).min(MAX_CREATE_DELETE);
        let indexes: Vec<Option<i32>> = if is_indexed(&spec) {
            let held: BTreeSet<i32> = active_pods
                .iter()
                .filter_map(|p| indexed::completion_index(p))
                .collect();
            indexed::first_pending_indexes(
                succeeded_indexes,
                &held,
                diff,
                spec.completions.unwrap_or(0),
            )
            .into_iter()
            .map(Some)
            .collect()
        } else {
            vec![None; diff]
        };
        let mut template = spec.template.clone();
        if is_indexed(&spec) {
            indexed::add_index_env(&mut template);
        }
        let meta = template.metadata.get_or_insert_with(Default::default);
        let finalizers = meta.finalizers.get_or_insert_with(Vec::new);
        if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
            finalizers.push(TRACKING_FINALIZER.into());
        }
        // Slow start: batches of 1, 2, 4, … so a systematic failure costs few requests.
        let mut pending = indexes.into_iter();
        let mut batch = 1;
        loop {
            let chunk: Vec<Option<i32>> = pending.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            let results = futures::future::join_all(
                chunk.iter().map(|ix| self.create_pod(job, &template, *ix)),
            )
            .await;
            let mut failed = false;
            for r in results {
                match r {
                    Ok(()) => out.active += 1,
                    Err(e) => {
                        failed = true;
                        out.err.get_or_insert(e);
                    }
                }
            }
            if failed {
                break;
            }
            batch *= 2;
        }
        out
    }

    async fn create_pod(
        &self,
        job: &Job,
        template: &k8s_openapi::api::core::v1::PodTemplateSpec,
        index: Option<i32>,
    ) -> Result<(), kube::Error> {
        let name = job.name_any();
        let ns = job.namespace().unwrap_or_default();
        let mut t = template.clone();
        let generate_name = match index {
            Some(ix) => {
                indexed::set_index(&mut t, &name, ix);
                indexed::pod_generate_name(&name, ix)
            }
            None => format!("{name}-"),
        };
        match create_pod_from_template(&self.client, &ns, &t, controller_ref(job), &generate_name)
            .await
        {
            Ok(pod) => {
                let msg = format!("Created pod: {}", pod.name_any());
                self.recorder
                    .record(&job_ref(job), EventType::Normal, "SuccessfulCreate", &msg);
                Ok(())
            }
            Err(e) => {
                let msg = format!("Error creating: {e}");
                self.recorder
                    .record(&job_ref(job), EventType::Warning, "FailedCreate", &msg);
                Err(e)
            }
        }
    }

    /// Deletes pods the Job no longer wants (scale-down, suspend): their finalizer goes
    /// first, so they are not counted as failures. Returns (ready deleted, deleted, error).
    async fn delete_job_pods(&self, job: &Job, pods: &[&Pod]) -> (i32, i32, Option<kube::Error>) {
        self.delete_pods(job, pods, true).await
    }

    /// Deletes the active pods of a finishing Job, keeping their finalizers so they are
    /// counted (as failed) once terminated.
    async fn delete_active_pods(
        &self,
        job: &Job,
        pods: &[&Pod],
    ) -> (i32, i32, Option<kube::Error>) {
        self.delete_pods(job, pods, false).await
    }

    async fn delete_pods(
        &self,
        job: &Job,
        pods: &[&Pod],
        remove_finalizer: bool,
    ) -> (i32, i32, Option<kube::Error>) {
        let one = |pod: &Pod| {
            let pod = pod.clone();
            async move {
                if remove_finalizer && has_tracking_finalizer(&pod) {
                    self.remove_finalizer(&pod).await?;
                }
                let api: Api<Pod> =
                    Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
                match api.delete(&pod.name_any(), &DeleteParams::default()).await {
                    Ok(_) => {
                        let msg = format!("Deleted pod: {}", pod.name_any());
                        self.recorder.record(
                            &job_ref(job),
                            EventType::Normal,
                            "SuccessfulDelete",
                            &msg,
                        );
                        Ok(is_pod_ready(&pod))
                    }
                    Err(e) if is_not_found(&e) => Ok(is_pod_ready(&pod)),
                    Err(e) => {
                        let msg = format!("Error deleting: {e}");
                        self.recorder.record(
                            &job_ref(job),
                            EventType::Warning,
                            "FailedDelete",
                            &msg,
                        );
                        Err(e)
                    }
                }
            }
        };
        let results = futures::future::join_all(pods.iter().map(|p| one(p))).await;
        let (mut ready, mut deleted, mut err) = (0, 0, None);
        for r in results {
            match r {
                Ok(was_ready) => {
                    deleted += 1;
                    ready += i32::from(was_ready);
                }
                Err(e) => {
                    err.get_or_insert(e);
                }
            }
        }
        (ready, deleted, err)
    }

    async fn remove_finalizer(&self, pod: &Pod) -> Result<(), kube::Error> {
        remove_tracking_finalizer(&self.client, pod).await
    }

    async fn update_status(&self, job: &Job) -> Result<Job, kube::Error> {
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
        api.replace_status(&job.name_any(), &PostParams::default(), job)
            .await
    }

    /// Upstream `trackJobStatusAndRemoveFinalizers`: records newly finished pods in
    /// `.status.uncountedTerminatedPods` (and the interim terminal condition), removes their
    /// finalizers, moves them into the counters, and adds `Complete`/`Failed` once nothing is
    /// uncounted or terminating.
    async fn track_status(
        &self,
        key: &str,
        mut job: Job,
        pods: &[Pod],
        obs: Observed,
        now: Timestamp,
    ) -> Result<(), Error> {
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = is_indexed(&spec);
        let completions = spec.completions.unwrap_or(0);
        let mut finished = obs.finished;
        let mut needs_flush = obs.needs_flush;
        let mut ordered: Vec<&Pod> = pods.iter().collect();
        if indexed {
            ordered.sort_by_key(|p| indexed::completion_index(p).unwrap_or(-1));
        }
        let mut with_finalizer: HashSet<String> = pods
            .iter()
            .filter(|p| has_tracking_finalizer(p))
            .map(|p| uid_of(p).to_string())
            .collect();
        let deleting = job.metadata.deletion_timestamp.is_some();
        let status = job.status.get_or_insert_with(Default::default);
        let unc = status.uncounted_terminated_pods.clone().unwrap_or_default();
        let unc_succeeded: HashSet<String> = unc.succeeded.into_iter().flatten().collect();
        let unc_failed: HashSet<String> = unc.failed.into_iter().flatten().collect();
        if clean_uncounted(status, &with_finalizer) {
            needs_flush = true;
        }
        let failing = finished
            .as_ref()
            .is_some_and(|c| c.type_ != "SuccessCriteriaMet");
        let mut to_remove: Vec<&Pod> = Vec::new();
        let mut new_indexes = Vec::new();
        let mut reached_max = false;
        for pod in ordered {
            if !has_tracking_finalizer(pod) {
                continue;
            }
            let failed = is_pod_failed(pod, &spec);
            let succeeded = pod_phase(pod) == "Succeeded";
            if !(deleting || finished.is_some() || succeeded || failed) {
                continue;
            }
            to_remove.push(pod);
            let uid = uid_of(pod).to_string();
            let unc = status
                .uncounted_terminated_pods
                .get_or_insert_with(Default::default);
            if succeeded && !unc_failed.contains(&uid) {
                if indexed {
                    if let Some(ix) = indexed::valid_index(pod, completions) {
                        if !obs.prev_indexes.has(ix) {
                            new_indexes.push(ix);
                            needs_flush = true;
                        }
                    }
                } else if !unc_succeeded.contains(&uid) {
                    unc.succeeded.get_or_insert_with(Vec::new).push(uid);
                    needs_flush = true;
                }
            } else if (failed || failing)
                && !unc_failed.contains(&uid)
                && (!indexed || indexed::valid_index(pod, completions).is_some())
            {
                unc.failed.get_or_insert_with(Vec::new).push(uid);
                needs_flush = true;
            }
            let uncounted = unc.succeeded.as_ref().map_or(0, Vec::len)
                + unc.failed.as_ref().map_or(0, Vec::len);
            if new_indexes.len() + uncounted >= MAX_UNCOUNTED {
                reached_max = true;
                break;
            }
        }
        if indexed {
            let all = obs.indexes.with_indexes(new_indexes);
            let text = all.to_string();
            if status.completed_indexes.as_deref().unwrap_or("") != text {
                needs_flush = true;
            }
            status.succeeded = nz(all.total());
            status.completed_indexes = (!text.is_empty()).then_some(text);
        }
        let conds = status.conditions.get_or_insert_with(Vec::new);
        if let Some(c) = finished.clone() {
            if c.type_ == "FailureTarget" {
                conds.push(c.clone());
                needs_flush = true;
                finished = Some(new_condition(
                    "Failed",
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or(""),
                    now,
                ));
            } else if c.type_ == "SuccessCriteriaMet" {
                if !conds.iter().any(|x| x.type_ == "SuccessCriteriaMet") {
                    conds.push(c.clone());
                    needs_flush = true;
                }
                finished = Some(new_condition(
                    "Complete",
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or(""),
                    now,
                ));
            }
        }
        if conds.is_empty() {
            status.conditions = None;
        }

        if needs_flush {
            job = self.update_status(&job).await?;
            self.store_backoff(key, obs.backoff.clone());
            needs_flush = false;
        }
        let results =
            futures::future::join_all(to_remove.iter().map(|p| self.remove_finalizer(p))).await;
        let mut rm_err = None;
        for (pod, r) in to_remove.iter().zip(results) {
            match r {
                Ok(()) => {
                    with_finalizer.remove(uid_of(pod));
                }
                Err(e) => {
                    rm_err.get_or_insert(e);
                }
            }
        }
        let status = job.status.get_or_insert_with(Default::default);
        if clean_uncounted(status, &with_finalizer) {
            needs_flush = true;
        }
        if let Some(e) = rm_err {
            if needs_flush {
                self.update_status(&job).await?;
            }
            return Err(e.into());
        }
        let done = !reached_max && enact_finished(&mut job, finished.as_ref(), obs.terminating);
        if needs_flush || done {
            let job = self.update_status(&job).await?;
            if done {
                if let Some(c) = &finished {
                    self.record_finished(&job, c);
                }
            }
        }
        Ok(())
    }

    fn record_finished(&self, job: &Job, cond: &JobCondition) {
        let r = job_ref(job);
        if cond.type_ == "Complete" {
            let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
            if job
                .spec
                .as_ref()
                .and_then(|s| s.completions)
                .is_some_and(|c| succeeded > c)
            {
                self.recorder.record(
                    &r,
                    EventType::Warning,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                );
            }
            self.recorder
                .record(&r, EventType::Normal, "Completed", "Job completed");
        } else {
            self.recorder.record(
                &r,
                EventType::Warning,
                cond.reason.as_deref().unwrap_or(""),
                cond.message.as_deref().unwrap_or(""),
            );
        }
    }
}

/// Adds the terminal condition (and `completionTime`) once no pod is uncounted or
/// terminating; returns whether it did.
fn enact_finished(job: &mut Job, finished: Option<&JobCondition>, terminating: i32) -> bool {
    let Some(cond) = finished else {
        return false;
    };
    let status = job.status.get_or_insert_with(Default::default);
    let uncounted = status.uncounted_terminated_pods.as_ref().map_or(0, |u| {
        u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len)
    });
    if uncounted > 0 || terminating > 0 {
        return false;
    }
    let now = cond
        .last_transition_time
        .as_ref()
        .map_or_else(Timestamp::now, |t| t.0);
    let conds = status.conditions.get_or_insert_with(Vec::new);
    ensure_condition(
        conds,
        &cond.type_,
        "True",
        cond.reason.as_deref().unwrap_or(""),
        cond.message.as_deref().unwrap_or(""),
        now,
    );
    if cond.type_ == "Complete" {
        status.completion_time = Some(Time(now));
    }
    true
}

/// With `restartPolicy: OnFailure`, whether the container restarts of running and pending
/// pods reached `backoffLimit`.
fn past_backoff_limit_on_failure(spec: &JobSpec, pods: &[Pod]) -> bool {
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if !on_failure {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(pod_phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    match spec.backoff_limit.unwrap_or(6) {
        0 => restarts > 0,
        limit => restarts >= limit,
    }
}

/// Removes the tracking finalizer from a pod (a pod already gone counts as done).
async fn remove_tracking_finalizer(client: &kube::Client, pod: &Pod) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

struct OrphanState {
    client: kube::Client,
    jobs: Store<Job>,
}

/// Removes the tracking finalizer from a pod whose controlling Job is gone, another object,
/// or finished (upstream's orphan pod queue).
async fn reconcile_orphan_pod(pod: Arc<Pod>, st: Arc<OrphanState>) -> Result<Action, Error> {
    if !has_tracking_finalizer(&pod) {
        return Ok(Action::await_change());
    }
    if let Some(r) = get_controller_of(&pod.metadata) {
        if r.kind == "Job" {
            let ns = pod.namespace().unwrap_or_default();
            let cached = st
                .jobs
                .get(&kube::runtime::reflector::ObjectRef::new(&r.name).within(&ns));
            let owned_live =
                |j: &Job| j.uid().as_deref() == Some(r.uid.as_str()) && !is_job_finished(j);
            if cached.as_deref().is_some_and(owned_live) {
                return Ok(Action::await_change());
            }
            // The cache may lag behind: ask the API server before letting the pod go.
            let api: Api<Job> = Api::namespaced(st.client.clone(), &ns);
            if api.get_opt(&r.name).await?.as_ref().is_some_and(owned_live) {
                return Ok(Action::await_change());
            }
        }
    }
    remove_tracking_finalizer(&st.client, &pod).await?;
    Ok(Action::await_change())
}

fn orphan_error_policy(pod: Arc<Pod>, e: &Error, _: Arc<OrphanState>) -> Action {
    tracing::warn!(pod = %pod.name_any(), "failed to remove job tracking finalizer: {e:#}");
    Action::requeue(Duration::from_secs(1))
}
