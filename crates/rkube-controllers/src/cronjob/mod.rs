//! The CronJob controller (upstream `pkg/controller/cronjob`, "v2"): creates a Job
//! `<cronjob>-<scheduled minutes since the epoch>` when a scheduled time is due (within
//! `startingDeadlineSeconds`), applies `concurrencyPolicy` (Allow/Forbid/Replace) and `suspend`,
//! keeps `.status.active`, `lastScheduleTime` and `lastSuccessfulTime`, deletes finished Jobs
//! beyond the history limits, and requeues itself for the next scheduled time instead of
//! polling. Schedules are evaluated in `spec.timeZone` (IANA) or the controller's local zone.
//!
//! The decision "what should happen at `now`" is the pure [`decide`], and history cleanup
//! the pure [`jobs_to_clean_up`], both unit-tested with fixed times; time comes from a
//! [`Clock`] so component tests can move it.

mod schedule;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use rkube_client::events::{EventType, ObjectRef, Recorder};

pub use self::schedule::{load_time_zone, local_time_zone, Schedule};
use crate::common::{controller_ref, get_controller_of, is_not_found};
use crate::job::finished_condition_type;
pub use crate::job::{Clock, RealClock};
use crate::Context;

/// Annotation with the scheduled time of a Job a CronJob created (RFC 3339, in its zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// Requeue padding past the scheduled time, absorbing small clock skews as upstream does.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed times than this are reported as a warning.
const TOO_MANY_MISSED: i64 = 100;

/// How the CronJob controller runs.
#[derive(Clone)]
pub struct CronJobConfig {
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl Default for CronJobConfig {
    fn default() -> Self {
        CronJobConfig {
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
    /// An active Job could not be deleted for `Replace`.
    #[error("could not replace job {0}")]
    Replace(String),
}

/// Runs the controller with the real clock until the process ends.
pub async fn run(ctx: Arc<Context>) {
    run_with(ctx, CronJobConfig::default()).await
}

/// Runs the controller with `config` until the process ends.
pub async fn run_with(ctx: Arc<Context>, config: CronJobConfig) {
    let client = ctx.client.clone();
    let state = Arc::new(State {
        client: client.clone(),
        recorder: ctx.recorder("cronjob-controller"),
        config,
    });
    Controller::new(
        Api::<CronJob>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Job>::all(client), watcher::Config::default())
    .run(reconcile, error_policy, state)
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!("cronjob controller: {e}");
        }
    })
    .await;
}

fn error_policy(cj: Arc<CronJob>, e: &Error, _: Arc<State>) -> Action {
    let conflict = matches!(e, Error::Api(kube::Error::Api(s)) if s.code == 409);
    if conflict {
        tracing::debug!(cronjob = %cj.name_any(), "cronjob changed meanwhile, retrying: {e}");
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(cronjob = %cj.name_any(), "failed to sync cronjob: {e:#}");
    Action::requeue(Duration::from_secs(5))
}

struct State {
    client: kube::Client,
    recorder: Recorder,
    config: CronJobConfig,
}

/// How many scheduled times were missed since the last one handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// None.
    None,
    /// Up to 100.
    Few,
    /// More than 100.
    Many,
}

fn ts(t: &Time) -> Timestamp {
    t.0
}

fn secs(d: i64) -> SignedDuration {
    SignedDuration::from_secs(d)
}

/// Upstream `mostRecentScheduleTime`: the time counted from (last schedule or creation, or
/// the starting deadline when asked), the most recent scheduled time at or before `now`,
/// and how many were missed. Errors when two activations are under a second apart.
pub fn most_recent_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    sched: &Schedule,
    include_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let mut earliest = cj
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cj.metadata.creation_timestamp.as_ref())
        .map(ts)
        .unwrap_or(now);
    let deadline = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds);
    if let (true, Some(sds)) = (include_deadline, deadline) {
        let from = now - secs(sds);
        if from > earliest {
            earliest = from;
        }
    }
    let Some(t1) = sched.next(earliest) else {
        return Ok((earliest, None, Missed::None));
    };
    if now < t1 {
        return Ok((earliest, None, Missed::None));
    }
    let Some(t2) = sched.next(t1) else {
        return Ok((earliest, Some(t1), Missed::None));
    };
    if now < t2 {
        return Ok((earliest, Some(t1), Missed::None));
    }
    let between = t2.duration_since(t1).as_secs_f64().round() as i64;
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    // Estimate how many activations fit between t1 and now, then walk only the last few.
    let missed = now.duration_since(t1).as_secs() / between + 1;
    let start = t1
        .checked_add(secs((missed - 2).saturating_mul(between)))
        .unwrap_or(t1);
    let mut most_recent = None;
    let mut t = sched.next(start);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = sched.next(at);
    }
    let kind = if missed > TOO_MANY_MISSED {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok((earliest, most_recent, kind))
}

/// Upstream `nextScheduleTimeDuration`: how long until the next activation (plus a little
/// padding), `None` when the schedule never fires again.
pub fn next_schedule_duration(cj: &CronJob, now: Timestamp, sched: &Schedule) -> Option<Duration> {
    let base = match most_recent_schedule_time(cj, now, sched, false) {
        Err(_) => now,
        Ok((_, Some(t), _)) => t,
        Ok((earliest, None, Missed::None)) => earliest,
        Ok((_, None, _)) => now,
    };
    let next = sched.next(base)?;
    let wait = Duration::try_from(next.duration_since(now)).unwrap_or(Duration::ZERO);
    Some(wait + NEXT_SCHEDULE_DELTA)
}

/// What the controller should do for a CronJob at `now`, given its (reconciled) status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing due; sync again after the duration (never, if `None`).
    Wait(Option<Duration>),
    /// The schedule is logically invalid (the message is for an event).
    Invalid(String),
    /// `scheduled` passed more than `startingDeadlineSeconds` ago.
    Missed {
        scheduled: Timestamp,
        requeue: Option<Duration>,
    },
    /// A Job is still active and `concurrencyPolicy` is Forbid.
    Forbidden { requeue: Option<Duration> },
    /// Create the Job for `scheduled`, after deleting the active ones if `replace`.
    Start {
        scheduled: Timestamp,
        replace: bool,
        requeue: Option<Duration>,
    },
}

/// The Job name for a scheduled time: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cj: &CronJob, scheduled: Timestamp) -> String {
    format!("{}-{}", cj.name_any(), scheduled.as_second().div_euclid(60))
}

/// Upstream's decision part of `syncCronJob` (after the active list is reconciled and unless
/// suspended): which scheduled time, if any, should get a Job now. The flag says more than
/// 100 start times were missed.
pub fn decide(cj: &CronJob, now: Timestamp, sched: &Schedule) -> (Decision, bool) {
    let spec = cj.spec.clone().unwrap_or_default();
    let status = cj.status.clone().unwrap_or_default();
    let active = status.active.unwrap_or_default();
    let next = next_schedule_duration(cj, now, sched);
    let (scheduled, too_many) = match most_recent_schedule_time(cj, now, sched, true) {
        Err(e) => return (Decision::Invalid(e), false),
        Ok((_, None, _)) => return (Decision::Wait(next), false),
        Ok((_, Some(t), missed)) => (t, missed == Missed::Many),
    };
    let decision = if spec
        .starting_deadline_seconds
        .is_some_and(|sds| scheduled + secs(sds) < now)
    {
        Decision::Missed {
            scheduled,
            requeue: next,
        }
    } else if active.iter().any(|r| {
        r.name.as_deref() == Some(job_name(cj, scheduled).as_str())
            && r.namespace == cj.metadata.namespace
    }) || status.last_schedule_time.as_ref().map(ts) == Some(scheduled)
    {
        Decision::Wait(next)
    } else if spec.concurrency_policy.as_deref() == Some("Forbid") && !active.is_empty() {
        Decision::Forbidden { requeue: next }
    } else {
        let mut after = cj.clone();
        after
            .status
            .get_or_insert_with(Default::default)
            .last_schedule_time = Some(Time(scheduled));
        Decision::Start {
            scheduled,
            replace: spec.concurrency_policy.as_deref() == Some("Replace") && !active.is_empty(),
            requeue: next_schedule_duration(&after, now, sched),
        }
    };
    (decision, too_many)
}

/// Finished Jobs beyond `successfulJobsHistoryLimit`/`failedJobsHistoryLimit`, oldest first
/// (by start time, Jobs without one last, then by name).
pub fn jobs_to_clean_up<'a>(cj: &CronJob, jobs: &'a [Job]) -> Vec<&'a Job> {
    let spec = cj.spec.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else {
            continue;
        };
        let mut finished: Vec<&Job> = jobs
            .iter()
            .filter(|j| finished_condition_type(j) == Some(kind))
            .collect();
        let excess = finished.len().saturating_sub(limit.max(0) as usize);
        if excess == 0 {
            continue;
        }
        finished.sort_by(|a, b| {
            let start = |j: &Job| {
                j.status
                    .as_ref()
                    .and_then(|s| s.start_time.as_ref())
                    .map(ts)
            };
            match (start(a), start(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then_with(|| a.name_any().cmp(&b.name_any()))
        });
        out.extend(finished.into_iter().take(excess));
    }
    out
}

/// The Job a CronJob creates for `scheduled`: the template's labels, annotations and spec,
/// the scheduled-timestamp annotation (in `tz`) and a controller reference.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339_in(scheduled, tz));
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj, scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: Some(template.spec.unwrap_or_default()),
        status: None,
    }
}

/// Go's `time.RFC3339` rendering (`Z` for a zero offset).
fn rfc3339_in(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn job_object_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn cronjob_ref(cj: &CronJob) -> ObjectRef {
    ObjectRef {
        api_version: "batch/v1".into(),
        kind: "CronJob".into(),
        namespace: cj.namespace().unwrap_or_default(),
        name: cj.name_any(),
        uid: cj.uid().unwrap_or_default(),
        resource_version: cj.resource_version().unwrap_or_default(),
    }
}

fn remove_active(cj: &mut CronJob, uid: &str) {
    let status = cj.status.get_or_insert_with(Default::default);
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| r.uid.as_deref() != Some(uid));
        if active.is_empty() {
            status.active = None;
        }
    }
}

fn in_active(cj: &CronJob, uid: &str) -> bool {
    cj.status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(uid)))
}

async fn reconcile(obj: Arc<CronJob>, st: Arc<State>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<CronJob> = Api::namespaced(st.client.clone(), &ns);
    let Some(mut cj) = api.get_opt(&obj.name_any()).await? else {
        return Ok(Action::await_change());
    };
    let jobs: Vec<Job> = Api::<Job>::namespaced(st.client.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|j| {
            get_controller_of(&j.metadata)
                .is_some_and(|r| r.kind == "CronJob" && r.name == cj.name_any())
        })
        .collect();
    let now = st.config.clock.now();
    let cleaned = st.clean_up_finished_jobs(&mut cj, &jobs).await;
    let result = st.sync_cron_job(&mut cj, &jobs, now).await;
    let changed = cleaned || result.as_ref().map_or(true, |(_, c)| *c);
    if changed {
        api.replace_status(&cj.name_any(), &PostParams::default(), &cj)
            .await?;
    }
    let (requeue, _) = result?;
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

impl State {
    fn event(&self, cj: &CronJob, ty: EventType, reason: &str, message: &str) {
        self.recorder.record(&cronjob_ref(cj), ty, reason, message);
    }

    async fn delete_job(&self, cj: &mut CronJob, job: &Job) -> bool {
        let api: Api<Job> =
            Api::namespaced(self.client.clone(), &job.namespace().unwrap_or_default());
        match api
            .delete(&job.name_any(), &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                tracing::warn!(job = %job.name_any(), "failed to delete job of cronjob: {e:#}");
                self.event(
                    cj,
                    EventType::Warning,
                    "FailedDelete",
                    &format!("Deleted job: {e}"),
                );
                return false;
            }
        }
        remove_active(cj, job.uid().as_deref().unwrap_or_default());
        let msg = format!("Deleted job {}", job.name_any());
        self.event(cj, EventType::Normal, "SuccessfulDelete", &msg);
        true
    }

    /// Deletes finished Jobs beyond the history limits; returns whether the status changed.
    async fn clean_up_finished_jobs(&self, cj: &mut CronJob, jobs: &[Job]) -> bool {
        let mut changed = false;
        let victims: Vec<Job> = jobs_to_clean_up(cj, jobs).into_iter().cloned().collect();
        for job in &victims {
            changed |= self.delete_job(cj, job).await;
        }
        changed
    }

    /// Upstream `syncCronJob`: reconciles `.status.active` with the Jobs, then starts a Job if
    /// one is due. Returns when to sync again and whether the status changed.
    async fn sync_cron_job(
        &self,
        cj: &mut CronJob,
        jobs: &[Job],
        now: Timestamp,
    ) -> Result<(Option<Duration>, bool), Error> {
        let mut changed = false;
        for j in jobs {
            let uid = j.uid().unwrap_or_default();
            let found = in_active(cj, &uid);
            let finished = finished_condition_type(j);
            match (found, finished) {
                (false, None) => {
                    let msg = format!(
                        "Saw a job that the controller did not create or forgot: {}",
                        j.name_any()
                    );
                    self.event(cj, EventType::Warning, "UnexpectedJob", &msg);
                }
                (true, Some(kind)) => {
                    remove_active(cj, &uid);
                    let msg = format!("Saw completed job: {}, status: {kind}", j.name_any());
                    self.event(cj, EventType::Normal, "SawCompletedJob", &msg);
                    changed = true;
                }
                _ => {}
            }
            if finished == Some("Complete") {
                let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
                let status = cj.status.get_or_insert_with(Default::default);
                let newer = match (&status.last_successful_time, &done) {
                    (None, Some(_)) => true,
                    (Some(last), Some(d)) => d.0 > last.0,
                    _ => false,
                };
                if newer {
                    status.last_successful_time = done;
                    changed = true;
                }
            }
        }
        let active: Vec<ObjectReference> = cj
            .status
            .as_ref()
            .and_then(|s| s.active.clone())
            .unwrap_or_default();
        for r in active {
            let uid = r.uid.clone().unwrap_or_default();
            if jobs
                .iter()
                .any(|j| j.uid().as_deref() == Some(uid.as_str()))
            {
                continue;
            }
            let ns = r.namespace.clone().unwrap_or_default();
            let name = r.name.clone().unwrap_or_default();
            let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
            if api.get_opt(&name).await?.is_none() {
                let msg = format!("Active job went missing: {name}");
                self.event(cj, EventType::Normal, "MissingJob", &msg);
                remove_active(cj, &uid);
                changed = true;
            }
        }
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok((None, changed));
        }
        let spec = cj.spec.clone().unwrap_or_default();
        let zone = match spec.time_zone.as_deref() {
            Some(name) => match load_time_zone(name) {
                Ok(tz) => Some(tz),
                Err(e) => {
                    let msg = format!("invalid timeZone: {name:?}: {e}");
                    self.event(cj, EventType::Warning, "UnknownTimeZone", &msg);
                    return Ok((None, changed));
                }
            },
            None => None,
        };
        if spec.suspend == Some(true) {
            return Ok((None, changed));
        }
        if spec.schedule.contains("TZ") {
            let msg = format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                spec.schedule
            );
            self.event(cj, EventType::Warning, "UnsupportedSchedule", &msg);
        }
        let default_tz = zone.clone().unwrap_or_else(local_time_zone);
        let sched = match Schedule::parse(&spec.schedule, &default_tz) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("unparseable schedule: {:?} : {e}", spec.schedule);
                self.event(cj, EventType::Warning, "UnparseableSchedule", &msg);
                return Ok((None, changed));
            }
        };
        let (decision, too_many) = decide(cj, now, &sched);
        if too_many {
            self.event(
                cj,
                EventType::Warning,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            );
        }
        let (scheduled, replace, requeue) = match decision {
            Decision::Wait(requeue) => return Ok((requeue, changed)),
            Decision::Invalid(e) => {
                let msg = format!("invalid schedule: {} : {e}", spec.schedule);
                self.event(cj, EventType::Warning, "InvalidSchedule", &msg);
                return Ok((None, changed));
            }
            Decision::Missed { scheduled, requeue } => {
                let when = scheduled
                    .to_zoned(TimeZone::UTC)
                    .strftime("%a, %d %b %Y %H:%M:%S %z")
                    .to_string();
                let msg = format!("Missed scheduled time to start a job: {when}");
                self.event(cj, EventType::Warning, "MissSchedule", &msg);
                return Ok((requeue, changed));
            }
            Decision::Forbidden { requeue } => {
                self.event(
                    cj,
                    EventType::Normal,
                    "JobAlreadyActive",
                    "Not starting job because prior execution is running and concurrency policy is Forbid",
                );
                return Ok((requeue, changed));
            }
            Decision::Start {
                scheduled,
                replace,
                requeue,
            } => (scheduled, replace, requeue),
        };
        if replace {
            let active = cj
                .status
                .as_ref()
                .and_then(|s| s.active.clone())
                .unwrap_or_default();
            for r in active {
                let name = r.name.clone().unwrap_or_default();
                let ns = r.namespace.clone().unwrap_or_default();
                let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
                let job = match api.get(&name).await {
                    Ok(j) => j,
                    Err(e) => {
                        self.event(
                            cj,
                            EventType::Warning,
                            "FailedGet",
                            &format!("Get job: {e}"),
                        );
                        return Err(e.into());
                    }
                };
                if !self.delete_job(cj, &job).await {
                    return Err(Error::Replace(format!("{ns}/{name}")));
                }
                changed = true;
            }
        }
        let annotation_tz = zone.unwrap_or(TimeZone::UTC);
        let want = job_from_template(cj, scheduled, &annotation_tz);
        let ns = cj.namespace().unwrap_or_default();
        let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
        let job = match api.create(&PostParams::default(), &want).await {
            Ok(job) => {
                let msg = format!("Created job {}", job.name_any());
                self.event(cj, EventType::Normal, "SuccessfulCreate", &msg);
                job
            }
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => {
                // Created earlier but perhaps not recorded in the status.
                let job = api.get(&want.name_any()).await?;
                let ours = get_controller_of(&job.metadata)
                    .is_some_and(|r| Some(r.uid.as_str()) == cj.metadata.uid.as_deref());
                if !ours || in_active(cj, job.uid().as_deref().unwrap_or_default()) {
                    return Ok((None, changed));
                }
                job
            }
            Err(e) => {
                let terminating = matches!(&e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"));
                if !terminating {
                    let msg = format!("Error creating job: {e}");
                    self.event(cj, EventType::Warning, "FailedCreate", &msg);
                }
                return Err(e.into());
            }
        };
        let status = cj.status.get_or_insert_with(Default::default);
        status
            .active
            .get_or_insert_with(Vec::new)
            .push(job_object_ref(&job));
        status.last_schedule_time = Some(Time(scheduled));
        Ok((requeue, true))
    }
}

#[cfg(test)]
mod tests;
