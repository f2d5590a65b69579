//! The TTL-after-finished controller (upstream's `pkg/controller/ttlafterfinished`): a Job
//! with `spec.ttlSecondsAfterFinished` is deleted, with its pods (Background propagation),
//! that many seconds after it finished (the `lastTransitionTime` of its `Complete` or `Failed`
//! condition). A Job that is not yet due is requeued for exactly the time left.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;

use crate::common::{is_conflict, is_not_found};
use crate::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("find the time when the Job {0} finished")]
    NoFinishTime(String),
    #[error("{verb} job {name}: {source}")]
    Api {
        verb: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let jobs: Api<Job> = Api::all(ctx.client.clone());
    Controller::new(jobs, watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

fn error_policy(_job: Arc<Job>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!("ttl-after-finished controller failed to {e:#}");
    Action::requeue(Duration::from_secs(5))
}

/// Whether the Job finished: its `Complete` or `Failed` condition is True.
fn is_finished(job: &Job) -> bool {
    finish_condition(job).is_some()
}

fn finish_condition(job: &Job) -> Option<&k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

/// Whether the controller looks after this Job at all (upstream's `needsCleanup`).
fn needs_cleanup(job: &Job) -> bool {
    job.spec
        .as_ref()
        .and_then(|s| s.ttl_seconds_after_finished)
        .is_some()
        && is_finished(job)
}

/// How long until the Job is due for deletion at `now` (zero when it is due), or None when
/// it does not need cleaning up.
fn time_left(job: &Job, now: DateTime<Utc>) -> Result<Option<Duration>, Error> {
    if !needs_cleanup(job) || job.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let ttl = job
        .spec
        .as_ref()
        .and_then(|s| s.ttl_seconds_after_finished)
        .unwrap_or(0);
    let finished = finish_condition(job)
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| {
            DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
        })
        .ok_or_else(|| Error::NoFinishTime(key(job)))?;
    let expire_at = finished + chrono::Duration::seconds(i64::from(ttl));
    Ok(Some((expire_at - now).to_std().unwrap_or(Duration::ZERO)))
}

fn key(job: &Job) -> String {
    format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any())
}

async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, Error> {
    match time_left(&job, Utc::now())? {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
        Some(_) => {}
    }
    // The cached Job may be stale (its TTL changed, or it was restarted): decide on a fresh
    // copy, as upstream does.
    let ns = job.namespace().unwrap_or_default();
    let name = job.name_any();
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let api_err = |verb, source| Error::Api {
        verb,
        name: key(&job),
        source,
    };
    let Some(fresh) = api.get_opt(&name).await.map_err(|e| api_err("get", e))? else {
        return Ok(Action::await_change());
    };
    match time_left(&fresh, Utc::now())? {
        None => return Ok(Action::await_change()),
        Some(left) if !left.is_zero() => return Ok(Action::requeue(left)),
        Some(_) => {}
    }
    tracing::info!("cleaning up job {} after its ttl", key(&fresh));
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        preconditions: Some(Preconditions {
            uid: fresh.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &dp).await {
        Ok(_) => Ok(Action::await_change()),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(Action::await_change()),
        Err(e) => Err(api_err("delete", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(ttl: Option<i32>, cond: Option<(&str, &str, Option<&str>)>) -> Job {
        let mut v = json!({"metadata": {"name": "j", "namespace": "ns"}, "spec": {"template": {}}});
        if let Some(t) = ttl {
            v["spec"]["ttlSecondsAfterFinished"] = json!(t);
        }
        if let Some((ty, status, at)) = cond {
            let mut c = json!({"type": ty, "status": status});
            if let Some(at) = at {
                c["lastTransitionTime"] = json!(at);
            }
            v["status"] = json!({"conditions": [c]});
        }
        serde_json::from_value(v).expect("job")
    }

    #[test]
    fn time_left_follows_finish_time_and_ttl() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T00:01:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = Some("2024-01-01T00:00:00Z");
        let cases = [
            (job(None, Some(("Complete", "True", at))), None),
            (job(Some(100), None), None),
            (job(Some(100), Some(("Complete", "False", at))), None),
            (job(Some(100), Some(("Suspended", "True", at))), None),
            (job(Some(100), Some(("Complete", "True", at))), Some(40)),
            (job(Some(60), Some(("Failed", "True", at))), Some(0)),
            (job(Some(0), Some(("Complete", "True", at))), Some(0)),
        ];
        for (i, (j, want)) in cases.iter().enumerate() {
            let got = time_left(j, now).expect("finish time");
            assert_eq!(got, want.map(Duration::from_secs), "case {i}");
        }
        let no_time = job(Some(1), Some(("Complete", "True", None)));
        assert!(matches!(
            time_left(&no_time, now),
            Err(Error::NoFinishTime(_))
        ));
    }
}
