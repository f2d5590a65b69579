//! Component tests of the CronJob controller against an in-process API server, with a fake
//! clock that the tests move to the next scheduled time (no waiting for real minutes).

use crate::support;

use std::sync::{Arc, Mutex};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_controllers::cronjob::{self, Clock, CronJobConfig, SCHEDULED_TIMESTAMP};
use serde_json::{json, Value};
use support::{context, eventually, server};

const NS: &str = "default";

struct FakeClock(Mutex<Timestamp>);

impl FakeClock {
    fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

fn start(client: &kube::Client) -> Arc<FakeClock> {
    let clock = Arc::new(FakeClock(Mutex::new(Timestamp::now())));
    let config = CronJobConfig {
        clock: clock.clone(),
    };
    tokio::spawn(cronjob::run_with(context(client), config));
    clock
}

async fn create_cronjob(client: &kube::Client, name: &str, spec: Value) -> CronJob {
    let mut body = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {
            "metadata": {"labels": {"app": "cron"}},
            "spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}},
    });
    if let (Some(b), Some(extra)) = (body["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    let cj: CronJob = serde_json::from_value(body).unwrap();
    Api::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &cj)
        .await
        .unwrap()
}

/// The first full hour after the CronJob's creation, plus a few seconds.
fn first_run(cj: &CronJob) -> (Timestamp, Timestamp) {
    let created = cj.metadata.creation_timestamp.as_ref().unwrap().0;
    let hour = (created.as_second() / 3600 + 1) * 3600;
    let scheduled = Timestamp::from_second(hour).unwrap();
    (scheduled, scheduled + SignedDuration::from_secs(5))
}

async fn get_cronjob(client: &kube::Client, name: &str) -> CronJob {
    Api::<CronJob>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .unwrap()
}

async fn jobs(client: &kube::Client) -> Vec<Job> {
    Api::<Job>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

/// Re-triggers a sync (as any update to the CronJob does).
async fn touch(client: &kube::Client, name: &str, n: u32) {
    let patch = json!({"metadata": {"annotations": {"test/touch": n.to_string()}}});
    Api::<CronJob>::namespaced(client.clone(), NS)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn wait_event(client: &kube::Client, name: &str, reason: &str) -> String {
    eventually(10, &format!("event {reason}"), || async {
        Api::<Event>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.reason.as_deref() == Some(reason)
            })
            .and_then(|e| e.message)
    })
    .await
}

/// Marks a Job finished the way the Job controller would.
async fn finish_job(client: &kube::Client, name: &str, complete: bool, started: &str) {
    let now = "2030-01-01T00:00:00Z";
    let (interim, done) = if complete {
        ("SuccessCriteriaMet", "Complete")
    } else {
        ("FailureTarget", "Failed")
    };
    let mut status = json!({
        "startTime": started,
        "conditions": [
            {"type": interim, "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": done, "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
        ],
    });
    if complete {
        status["completionTime"] = json!(now);
        status["succeeded"] = json!(1);
    } else {
        status["failed"] = json!(1);
    }
    Api::<Job>::namespaced(client.clone(), NS)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn due_schedule_creates_job() {
    let (_srv, client) = server().await;
    let clock = start(&client);
    let cj = create_cronjob(&client, "hourly", json!({})).await;
    // Not due yet: nothing happens.
    touch(&client, "hourly", 0).await;
    let (scheduled, after) = first_run(&cj);
    clock.set(after);
    touch(&client, "hourly", 1).await;

    let want = format!("hourly-{}", scheduled.as_second() / 60);
    let job = eventually(10, "the scheduled job", || async {
        jobs(&client)
            .await
            .into_iter()
            .find(|j| j.name_any() == want)
    })
    .await;
    assert_eq!(jobs(&client).await.len(), 1);
    assert_eq!(job.labels()["app"], "cron");
    let stamp = &job.annotations()[SCHEDULED_TIMESTAMP];
    assert_eq!(stamp.parse::<Timestamp>().unwrap(), scheduled);
    let owner = &job.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CronJob", Some(true))
    );
    assert_eq!(owner.uid, cj.uid().unwrap());
    assert_eq!(
        wait_event(&client, "hourly", "SuccessfulCreate").await,
        format!("Created job {want}")
    );
    let status = eventually(10, "active job in status", || async {
        let s = get_cronjob(&client, "hourly").await.status?;
        (s.active.as_ref()?.len() == 1).then_some(s)
    })
    .await;
    assert_eq!(status.active.unwrap()[0].uid, job.uid());
    assert_eq!(status.last_schedule_time.unwrap().0, scheduled);

    // The Job finishes: it leaves the active list and sets lastSuccessfulTime.
    finish_job(&client, &want, true, "2030-01-01T00:00:00Z").await;
    let status = eventually(10, "job no longer active", || async {
        let s = get_cronjob(&client, "hourly").await.status?;
        (s.active.is_none() && s.last_successful_time.is_some()).then_some(s)
    })
    .await;
    assert_eq!(
        status.last_successful_time.unwrap().0,
        "2030-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(
        wait_event(&client, "hourly", "SawCompletedJob").await,
        format!("Saw completed job: {want}, status: Complete")
    );
    assert_eq!(jobs(&client).await.len(), 1, "one job per scheduled time");
}

#[tokio::test]
async fn forbid_and_replace_policies() {
    let (_srv, client) = server().await;
    let clock = start(&client);
    let forbid = create_cronjob(&client, "forbid", json!({"concurrencyPolicy": "Forbid"})).await;
    let replace = create_cronjob(&client, "replace", json!({"concurrencyPolicy": "Replace"})).await;
    let (scheduled, after) = first_run(&forbid);
    assert_eq!(
        first_run(&replace).0,
        scheduled,
        "created within the same hour"
    );
    clock.set(after);
    touch(&client, "forbid", 1).await;
    touch(&client, "replace", 1).await;
    eventually(10, "two jobs", || async {
        (jobs(&client).await.len() == 2).then_some(())
    })
    .await;
    eventually(10, "both active", || async {
        let a = get_cronjob(&client, "forbid").await.status?.active?;
        let b = get_cronjob(&client, "replace").await.status?.active?;
        (a.len() == 1 && b.len() == 1).then_some(())
    })
    .await;

    // An hour later both earlier Jobs still run.
    clock.set(after + SignedDuration::from_hours(1));
    touch(&client, "forbid", 2).await;
    touch(&client, "replace", 2).await;
    let next = format!("replace-{}", (scheduled.as_second() + 3600) / 60);
    let old = format!("replace-{}", scheduled.as_second() / 60);
    eventually(10, "the replacement job", || async {
        let names: Vec<String> = jobs(&client).await.iter().map(|j| j.name_any()).collect();
        (names.contains(&next) && !names.contains(&old)).then_some(())
    })
    .await;
    assert_eq!(
        wait_event(&client, "replace", "SuccessfulDelete").await,
        format!("Deleted job {old}")
    );
    let active = get_cronjob(&client, "replace")
        .await
        .status
        .unwrap()
        .active
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].name.as_deref(), Some(next.as_str()));

    assert_eq!(
        wait_event(&client, "forbid", "JobAlreadyActive").await,
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    );
    let forbid_jobs: Vec<String> = jobs(&client)
        .await
        .iter()
        .map(|j| j.name_any())
        .filter(|n| n.starts_with("forbid-"))
        .collect();
    assert_eq!(
        forbid_jobs,
        [format!("forbid-{}", scheduled.as_second() / 60)]
    );
}

#[tokio::test]
async fn history_limits_delete_oldest_finished_jobs() {
    let (_srv, client) = server().await;
    let cj = create_cronjob(
        &client,
        "tidy",
        json!({"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1, "suspend": true}),
    )
    .await;
    let owner = json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "tidy",
                        "uid": cj.uid().unwrap(), "controller": true}]);
    let specs = [
        ("ok-1", true, "2024-01-01T01:00:00Z"),
        ("ok-2", true, "2024-01-01T02:00:00Z"),
        ("ok-3", true, "2024-01-01T03:00:00Z"),
        ("bad-1", false, "2024-01-01T01:30:00Z"),
        ("bad-2", false, "2024-01-01T02:30:00Z"),
    ];
    for (name, ok, started) in specs {
        let job: Job = serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS, "ownerReferences": owner},
            "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
                     "containers": [{"name": "c", "image": "busybox"}]}}},
        }))
        .unwrap();
        Api::<Job>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &job)
            .await
            .unwrap();
        finish_job(&client, name, ok, started).await;
    }
    start(&client);
    eventually(10, "old jobs deleted", || async {
        let mut names: Vec<String> = jobs(&client).await.iter().map(|j| j.name_any()).collect();
        names.sort();
        (names == ["bad-2", "ok-3"]).then_some(())
    })
    .await;
    wait_event(&client, "tidy", "SuccessfulDelete").await;
}
