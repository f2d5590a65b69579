//! Component tests of the Job controller against an in-process API server; the tests play
//! the kubelet by marking pods Running, Succeeded or Failed.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_controllers::job::{self, JobConfig, RealClock, TRACKING_FINALIZER};
use serde_json::{json, Value};
use support::{context, eventually, mark_finished, mark_running_ready, server};

const NS: &str = "default";

/// Starts the controller with a short failure back-off (`base`, capped at 4×).
fn start(client: &kube::Client, base: Duration) {
    let config = JobConfig {
        pod_failure_backoff: base,
        max_pod_failure_backoff: base * 4,
        clock: Arc::new(RealClock),
    };
    tokio::spawn(job::run_with(context(client), config));
}

async fn create_job(client: &kube::Client, name: &str, spec: Value) -> Job {
    let mut body = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}],
        }}},
    });
    if let (Some(b), Some(extra)) = (body["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    let job: Job = serde_json::from_value(body).unwrap();
    Api::<Job>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &job)
        .await
        .unwrap()
}

async fn get_job(client: &kube::Client, name: &str) -> Job {
    Api::<Job>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .unwrap()
}

/// The job's pods, oldest first.
async fn pods_of(client: &kube::Client, name: &str) -> Vec<Pod> {
    let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={name}"));
    let mut pods = Api::<Pod>::namespaced(client.clone(), NS)
        .list(&lp)
        .await
        .unwrap()
        .items;
    pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    pods
}

fn is_active(p: &Pod) -> bool {
    let phase = p
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    p.metadata.deletion_timestamp.is_none() && phase != "Succeeded" && phase != "Failed"
}

async fn active_pods(client: &kube::Client, name: &str) -> Vec<Pod> {
    pods_of(client, name)
        .await
        .into_iter()
        .filter(is_active)
        .collect()
}

/// Waits for exactly `n` active pods.
async fn wait_active(client: &kube::Client, name: &str, n: usize) -> Vec<Pod> {
    eventually(10, &format!("{n} active pods of {name}"), || async {
        let pods = active_pods(client, name).await;
        (pods.len() == n).then_some(pods)
    })
    .await
}

fn condition(job: &Job, type_: &str) -> Option<JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .cloned()
}

async fn wait_condition(client: &kube::Client, name: &str, type_: &str) -> Job {
    eventually(10, &format!("condition {type_} on {name}"), || async {
        let job = get_job(client, name).await;
        condition(&job, type_).map(|_| job)
    })
    .await
}

async fn events_of(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

async fn wait_event(client: &kube::Client, name: &str, reason: &str) -> String {
    eventually(10, &format!("event {reason} on {name}"), || async {
        events_of(client, name)
            .await
            .into_iter()
            .find(|(r, _)| r == reason)
            .map(|(_, m)| m)
    })
    .await
}

fn has_finalizer(p: &Pod) -> bool {
    p.finalizers().iter().any(|f| f == TRACKING_FINALIZER)
}

#[tokio::test]
async fn completions_and_parallelism() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    let job = create_job(&client, "work", json!({"completions": 3, "parallelism": 2})).await;

    let pods = wait_active(&client, "work", 2).await;
    for p in &pods {
        assert!(p.name_any().starts_with("work-"), "{}", p.name_any());
        assert!(has_finalizer(p), "pods carry the tracking finalizer");
        let owner = &p.owner_references()[0];
        assert_eq!(owner.kind, "Job");
        assert_eq!(owner.uid, job.uid().unwrap());
        assert_eq!(owner.controller, Some(true));
    }
    let msg = wait_event(&client, "work", "SuccessfulCreate").await;
    assert!(msg.starts_with("Created pod: work-"), "{msg}");
    let started = get_job(&client, "work").await;
    assert!(started.status.as_ref().unwrap().start_time.is_some());

    mark_running_ready(&client, NS, &pods[0].name_any()).await;
    eventually(10, "active 2 ready 1", || async {
        let s = get_job(&client, "work").await.status.unwrap_or_default();
        (s.active == Some(2) && s.ready == Some(1)).then_some(())
    })
    .await;

    // One success: a third pod replaces it, but never more than the remaining completions.
    mark_finished(&client, NS, &pods[0].name_any(), true).await;
    eventually(10, "succeeded 1 and the finalizer removed", || async {
        let s = get_job(&client, "work").await.status.unwrap_or_default();
        let p = Api::<Pod>::namespaced(client.clone(), NS)
            .get(&pods[0].name_any())
            .await
            .ok()?;
        (s.succeeded == Some(1) && !has_finalizer(&p)).then_some(())
    })
    .await;
    let pods = wait_active(&client, "work", 2).await;

    // Deleting a counted pod does not uncount it or create a replacement.
    let first = pods_of(&client, "work")
        .await
        .into_iter()
        .find(|p| !is_active(p))
        .unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&first.name_any(), &DeleteParams::default())
        .await
        .unwrap();

    for p in &pods {
        mark_finished(&client, NS, &p.name_any(), true).await;
    }
    let done = wait_condition(&client, "work", "Complete").await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active, None);
    assert_eq!(status.failed, None);
    assert!(status.completion_time.is_some());
    let complete = condition(&done, "Complete").unwrap();
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    assert_eq!(
        complete.message.as_deref(),
        Some("Reached expected number of succeeded pods")
    );
    assert!(condition(&done, "SuccessCriteriaMet").is_some());
    assert_eq!(
        wait_event(&client, "work", "Completed").await,
        "Job completed"
    );
    assert_eq!(pods_of(&client, "work").await.len(), 2, "no extra pods");
    for p in pods_of(&client, "work").await {
        assert!(!has_finalizer(&p), "finished pods lose the finalizer");
    }
}

#[tokio::test]
async fn indexed_completion() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    create_job(
        &client,
        "idx",
        json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"}),
    )
    .await;
    let pods = wait_active(&client, "idx", 3).await;
    let mut by_index = std::collections::BTreeMap::new();
    for p in &pods {
        let ix = p.annotations()["batch.kubernetes.io/job-completion-index"].clone();
        assert_eq!(p.labels()["batch.kubernetes.io/job-completion-index"], ix);
        assert!(
            p.name_any().starts_with(&format!("idx-{ix}-")),
            "{}",
            p.name_any()
        );
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("idx-{ix}").as_str()));
        let env = spec.containers[0].env.clone().unwrap_or_default();
        let var = env
            .iter()
            .find(|e| e.name == "JOB_COMPLETION_INDEX")
            .unwrap();
        let field = var.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(
            field.field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        by_index.insert(ix, p.name_any());
    }
    assert_eq!(
        by_index.keys().cloned().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );

    // Index 1 fails once: its replacement gets the same index.
    mark_finished(&client, NS, &by_index["1"], false).await;
    let replacement = eventually(10, "replacement for index 1", || async {
        active_pods(&client, "idx")
            .await
            .into_iter()
            .find(|p| p.annotations()["batch.kubernetes.io/job-completion-index"] == "1")
    })
    .await;
    assert_ne!(replacement.name_any(), by_index["1"]);

    mark_finished(&client, NS, &by_index["2"], true).await;
    eventually(10, "completedIndexes 2", || async {
        let s = get_job(&client, "idx").await.status.unwrap_or_default();
        (s.completed_indexes.as_deref() == Some("2")).then_some(())
    })
    .await;
    mark_finished(&client, NS, &by_index["0"], true).await;
    mark_finished(&client, NS, &replacement.name_any(), true).await;
    let done = wait_condition(&client, "idx", "Complete").await;
    let s = done.status.unwrap();
    assert_eq!(s.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(s.succeeded, Some(3));
    assert_eq!(s.failed, Some(1));
}

#[tokio::test]
async fn backoff_limit_exceeded() {
    let (_srv, client) = server().await;
    let base = Duration::from_millis(1500);
    start(&client, base);
    create_job(&client, "flaky", json!({"backoffLimit": 1})).await;
    let first = wait_active(&client, "flaky", 1).await.remove(0);
    mark_finished(&client, NS, &first.name_any(), false).await;

    // The replacement waits for the back-off.
    let failed_at = tokio::time::Instant::now();
    let second = eventually(10, "a replacement pod", || async {
        active_pods(&client, "flaky").await.into_iter().next()
    })
    .await;
    assert!(
        failed_at.elapsed() >= base - Duration::from_millis(300),
        "replacement came after {:?}",
        failed_at.elapsed()
    );
    assert_eq!(
        get_job(&client, "flaky").await.status.unwrap().failed,
        Some(1)
    );

    mark_finished(&client, NS, &second.name_any(), false).await;
    let failed = wait_condition(&client, "flaky", "Failed").await;
    let c = condition(&failed, "Failed").unwrap();
    assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        c.message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert!(condition(&failed, "FailureTarget").is_some());
    let s = failed.status.unwrap();
    assert_eq!(s.failed, Some(2));
    assert!(s.completion_time.is_none());
    assert_eq!(
        wait_event(&client, "flaky", "BackoffLimitExceeded").await,
        "Job has reached the specified backoff limit"
    );
    assert_eq!(
        pods_of(&client, "flaky").await.len(),
        2,
        "no pod after failing"
    );
}

#[tokio::test]
async fn active_deadline_exceeded() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    // 3 s: long enough for a loaded CI machine to see the two pods before the deadline
    // removes them.
    create_job(
        &client,
        "slow",
        json!({"activeDeadlineSeconds": 3, "parallelism": 2, "completions": 4}),
    )
    .await;
    let pods = wait_active(&client, "slow", 2).await;
    mark_running_ready(&client, NS, &pods[0].name_any()).await;
    let failed = wait_condition(&client, "slow", "Failed").await;
    let c = condition(&failed, "Failed").unwrap();
    assert_eq!(c.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        c.message.as_deref(),
        Some("Job was active longer than specified deadline")
    );
    let s = failed.status.unwrap();
    assert_eq!(s.active, None);
    assert_eq!(s.failed, Some(2), "the killed pods count as failed");
    assert_eq!(s.terminating, Some(0));
    assert!(
        pods_of(&client, "slow").await.is_empty(),
        "remaining pods are deleted"
    );
    assert_eq!(
        wait_event(&client, "slow", "DeadlineExceeded").await,
        "Job was active longer than specified deadline"
    );
}

#[tokio::test]
async fn suspend_and_resume() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    create_job(
        &client,
        "paused",
        json!({"suspend": true, "parallelism": 2, "completions": 2}),
    )
    .await;
    let job = wait_condition(&client, "paused", "Suspended").await;
    let c = condition(&job, "Suspended").unwrap();
    assert_eq!(c.reason.as_deref(), Some("JobSuspended"));
    assert!(job.status.unwrap().start_time.is_none());
    assert!(pods_of(&client, "paused").await.is_empty());

    let api = Api::<Job>::namespaced(client.clone(), NS);
    let resume = json!({"spec": {"suspend": false}});
    api.patch("paused", &PatchParams::default(), &Patch::Merge(&resume))
        .await
        .unwrap();
    let pods = wait_active(&client, "paused", 2).await;
    let job = eventually(10, "Suspended=False", || async {
        let job = get_job(&client, "paused").await;
        let c = job
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Suspended")?
            .clone();
        (c.status == "False").then_some((job, c))
    })
    .await;
    assert_eq!(job.1.reason.as_deref(), Some("JobResumed"));
    assert!(job.0.status.unwrap().start_time.is_some());
    assert_eq!(
        wait_event(&client, "paused", "Resumed").await,
        "Job resumed"
    );
    mark_running_ready(&client, NS, &pods[0].name_any()).await;

    let suspend = json!({"spec": {"suspend": true}});
    api.patch("paused", &PatchParams::default(), &Patch::Merge(&suspend))
        .await
        .unwrap();
    eventually(10, "pods deleted on suspend", || async {
        pods_of(&client, "paused").await.is_empty().then_some(())
    })
    .await;
    let job = wait_condition(&client, "paused", "Suspended").await;
    let s = job.status.unwrap();
    assert_eq!(
        s.failed, None,
        "pods deleted for suspension are not failures"
    );
    assert_eq!(s.active, None);
}

#[tokio::test]
async fn deleted_job_releases_pod_finalizers() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    create_job(&client, "gone", json!({})).await;
    let pod = wait_active(&client, "gone", 1).await.remove(0);
    assert!(has_finalizer(&pod));
    mark_running_ready(&client, NS, &pod.name_any()).await;
    Api::<Job>::namespaced(client.clone(), NS)
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "finalizer removed from the orphan", || async {
        let p = Api::<Pod>::namespaced(client.clone(), NS)
            .get(&pod.name_any())
            .await
            .ok()?;
        (!has_finalizer(&p)).then_some(())
    })
    .await;
}

/// `kubectl create job --from=cronjob/x` makes a Job owned by the CronJob (client-side);
/// the Job controller runs it like any other.
#[tokio::test]
async fn job_created_from_cronjob_runs() {
    let (_srv, client) = server().await;
    start(&client, Duration::from_millis(100));
    let cj: k8s_openapi::api::batch::v1::CronJob = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": NS},
        "spec": {"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}
    }))
    .unwrap();
    let cj = Api::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &cj)
        .await
        .unwrap();
    let template = cj.spec.as_ref().unwrap().job_template.spec.clone().unwrap();
    let manual: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": "manual-run", "namespace": NS,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly",
                                 "uid": cj.uid().unwrap(), "controller": true}],
        },
        "spec": template,
    }))
    .unwrap();
    Api::<Job>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &manual)
        .await
        .unwrap();
    let pod = wait_active(&client, "manual-run", 1).await.remove(0);
    mark_finished(&client, NS, &pod.name_any(), true).await;
    wait_condition(&client, "manual-run", "Complete").await;
}
