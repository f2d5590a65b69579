//! Jobs and CronJobs end to end with fake nodes and the real kubectl: a parallel Job that
//! `kubectl wait --for=condition=complete` sees finish, a Job failing past its backoffLimit, a
//! CronJob firing on `*/1 * * * *`, and `kubectl create job --from=cronjob/…`.

use std::time::Duration;

use rkube_e2e::*;
use serde_json::{json, Value};

fn pod_template(run_for: &str, exit_code: i32, restart: &str) -> Value {
    json!({
        "metadata": {"annotations": {
            "fake.rkube.io/run-for": run_for,
            "fake.rkube.io/exit-code": exit_code.to_string(),
        }},
        "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]},
    })
}

fn job(name: &str, spec: Value) -> String {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec})
        .to_string()
}

#[test]
fn parallel_job_completes() {
    let s = Server::with_fake_nodes(2, &[]);
    s.create(&job(
        "work",
        json!({"completions": 3, "parallelism": 2, "template": pod_template("2s", 0, "Never")}),
    ));
    // Two pods start first (parallelism 2).
    wait_until(WAIT, "two pods running", || {
        let pods = s.get_json(&["pods", "-l", "batch.kubernetes.io/job-name=work"]);
        pods["items"].as_array().map_or(0, Vec::len) == 2
    });
    s.must(&[
        "wait",
        "--for=condition=complete",
        "job/work",
        "--timeout=60s",
    ]);
    let j = s.get_json(&["job", "work"]);
    assert_eq!(j["status"]["succeeded"], 3, "{j}");
    assert!(j["status"]["completionTime"].is_string(), "{j}");
    let pods = s.get_json(&["pods", "-l", "batch.kubernetes.io/job-name=work"]);
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for p in items {
        assert_eq!(p["status"]["phase"], "Succeeded", "{p}");
        let finalizers = p["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(finalizers.is_empty(), "tracking finalizer left on {p}");
    }
    s.wait_event("job/work", "Completed", "Job completed");
    s.wait_event("job/work", "SuccessfulCreate", "Created pod: work-");
    let out = s.must(&["get", "jobs"]);
    assert_eq!(cell(&out, "work", "STATUS"), "Complete", "{out}");
    assert_eq!(cell(&out, "work", "COMPLETIONS"), "3/3", "{out}");
}

#[test]
fn job_fails_past_backoff_limit() {
    let s = Server::with_fake_nodes(1, &[]);
    s.create(&job(
        "doomed",
        json!({"backoffLimit": 1, "template": pod_template("1s", 3, "Never")}),
    ));
    // One retry after the 10 s failure back-off, then the Job fails.
    s.must(&[
        "wait",
        "--for=condition=failed",
        "job/doomed",
        "--timeout=90s",
    ]);
    let j = s.get_json(&["job", "doomed"]);
    assert_eq!(j["status"]["failed"], 2, "{j}");
    let reason = s.must(&[
        "get",
        "job",
        "doomed",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
    ]);
    assert_eq!(reason, "BackoffLimitExceeded");
    s.wait_event(
        "job/doomed",
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    );
}

#[test]
fn cronjob_schedules_and_manual_run() {
    let s = Server::with_fake_nodes(1, &[]);
    let cj = json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {
            "template": pod_template("1s", 0, "OnFailure")}}},
    });
    s.create(&cj.to_string());

    // kubectl creates the Job itself, owned by the CronJob; the Job controller runs it.
    s.must(&["create", "job", "manual", "--from=cronjob/tick"]);
    s.must(&[
        "wait",
        "--for=condition=complete",
        "job/manual",
        "--timeout=60s",
    ]);
    let manual = s.get_json(&["job", "manual"]);
    assert_eq!(manual["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );

    // The schedule fires within a minute (plus slack).
    let mut name = String::new();
    wait_until(Duration::from_secs(75), "a scheduled job", || {
        let jobs = s.get_json(&["jobs"]);
        name = item_names(&jobs)
            .into_iter()
            .find(|n| {
                n.strip_prefix("tick-")
                    .is_some_and(|m| m.bytes().all(|b| b.is_ascii_digit()))
            })
            .unwrap_or_default();
        !name.is_empty()
    });
    let scheduled = s.get_json(&["job", &name]);
    assert!(
        scheduled["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
            .is_string(),
        "{scheduled}"
    );
    s.wait_event(
        "cronjob/tick",
        "SuccessfulCreate",
        &format!("Created job {name}"),
    );
    s.must(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{name}"),
        "--timeout=60s",
    ]);
    wait_until(WAIT, "lastSuccessfulTime", || {
        let c = s.get_json(&["cronjob", "tick"]);
        c["status"]["lastSuccessfulTime"].is_string() && c["status"]["lastScheduleTime"].is_string()
    });
    s.wait_event(
        "cronjob/tick",
        "SawCompletedJob",
        &format!("Saw completed job: {name}"),
    );
}
