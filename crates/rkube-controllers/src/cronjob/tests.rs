//! Unit tests of the CronJob decisions with fixed times.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A CronJob created at `created` with `spec` merged over an hourly schedule.
fn cronjob(created: &str, spec: serde_json::Value) -> CronJob {
    let mut base = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": created},
        "spec": {"schedule": "0 * * * *", "concurrencyPolicy": "Allow",
                 "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    });
    if let (Some(b), Some(extra)) = (base["spec"].as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).unwrap()
}

fn with_status(mut cj: CronJob, last: Option<&str>, active: &[&str]) -> CronJob {
    let status = cj.status.get_or_insert_with(Default::default);
    status.last_schedule_time = last.map(|s| Time(t(s)));
    if !active.is_empty() {
        status.active = Some(
            active
                .iter()
                .map(|n| ObjectReference {
                    name: Some(n.to_string()),
                    namespace: Some("ns".into()),
                    uid: Some(format!("{n}-uid")),
                    ..Default::default()
                })
                .collect(),
        );
    }
    cj
}

fn hourly() -> Schedule {
    Schedule::parse("0 * * * *", &TimeZone::UTC).unwrap()
}

fn secs(d: Option<Duration>) -> Option<u64> {
    d.map(|d| d.as_secs())
}

#[test]
fn nothing_due_waits_until_next_time() {
    let cj = cronjob("2024-03-01T10:10:00Z", json!({}));
    let (d, many) = decide(&cj, t("2024-03-01T10:20:00Z"), &hourly());
    assert!(!many);
    // 40 minutes until 11:00, plus the 100 ms padding.
    assert_eq!(
        d,
        Decision::Wait(Some(Duration::from_millis(40 * 60 * 1000 + 100)))
    );
}

#[test]
fn due_time_starts_a_job_and_requeues_for_the_next() {
    let cj = cronjob("2024-03-01T10:10:00Z", json!({}));
    let (d, _) = decide(&cj, t("2024-03-01T11:00:05Z"), &hourly());
    let Decision::Start {
        scheduled,
        replace,
        requeue,
    } = d
    else {
        panic!("want Start, got {d:?}");
    };
    assert_eq!(scheduled, t("2024-03-01T11:00:00Z"));
    assert!(!replace);
    assert_eq!(secs(requeue), Some(59 * 60 + 55));
    assert_eq!(
        job_name(&cj, scheduled),
        format!("cj-{}", t("2024-03-01T11:00:00Z").as_second() / 60)
    );
}

#[test]
fn already_processed_time_waits() {
    let cj = with_status(
        cronjob("2024-03-01T10:10:00Z", json!({})),
        Some("2024-03-01T11:00:00Z"),
        &[],
    );
    let (d, _) = decide(&cj, t("2024-03-01T11:30:00Z"), &hourly());
    assert_eq!(
        secs(match d {
            Decision::Wait(r) => r,
            other => panic!("want Wait, got {other:?}"),
        }),
        Some(30 * 60)
    );
}

#[test]
fn missed_times_start_only_the_most_recent() {
    let cj = with_status(
        cronjob("2024-03-01T00:00:00Z", json!({})),
        Some("2024-03-01T01:00:00Z"),
        &[],
    );
    let (d, many) = decide(&cj, t("2024-03-01T05:30:00Z"), &hourly());
    assert!(!many);
    assert!(
        matches!(d, Decision::Start { scheduled, .. } if scheduled == t("2024-03-01T05:00:00Z"))
    );
}

#[test]
fn too_many_missed_times_are_flagged() {
    let cj = cronjob("2024-01-01T00:00:00Z", json!({}));
    let (d, many) = decide(&cj, t("2024-03-01T05:30:00Z"), &hourly());
    assert!(many);
    assert!(
        matches!(d, Decision::Start { scheduled, .. } if scheduled == t("2024-03-01T05:00:00Z"))
    );
    // A starting deadline bounds the look-back, so nothing is flagged.
    let cj = cronjob(
        "2024-01-01T00:00:00Z",
        json!({"startingDeadlineSeconds": 3600}),
    );
    let (_, many) = decide(&cj, t("2024-03-01T05:30:00Z"), &hourly());
    assert!(!many);
}

#[test]
fn starting_deadline_missed() {
    let cj = cronjob(
        "2024-03-01T10:10:00Z",
        json!({"startingDeadlineSeconds": 60}),
    );
    let (d, _) = decide(&cj, t("2024-03-01T11:05:00Z"), &hourly());
    // The 11:00 run is more than 60 s late and is not started.
    assert!(matches!(d, Decision::Wait(_)), "{d:?}");
    let cj = cronjob(
        "2024-03-01T10:10:00Z",
        json!({"startingDeadlineSeconds": 600}),
    );
    let (d, _) = decide(&cj, t("2024-03-01T11:05:00Z"), &hourly());
    assert!(matches!(d, Decision::Start { .. }), "{d:?}");
}

#[test]
fn concurrency_policies() {
    let now = t("2024-03-01T11:00:01Z");
    let active = |policy: &str| {
        with_status(
            cronjob("2024-03-01T09:30:00Z", json!({"concurrencyPolicy": policy})),
            Some("2024-03-01T10:00:00Z"),
            &["cj-old"],
        )
    };
    let (d, _) = decide(&active("Allow"), now, &hourly());
    assert!(matches!(d, Decision::Start { replace: false, .. }), "{d:?}");
    let (d, _) = decide(&active("Forbid"), now, &hourly());
    assert!(matches!(d, Decision::Forbidden { .. }), "{d:?}");
    let (d, _) = decide(&active("Replace"), now, &hourly());
    assert!(matches!(d, Decision::Start { replace: true, .. }), "{d:?}");
    // Without an active Job, Forbid and Replace start normally.
    let idle = with_status(
        cronjob(
            "2024-03-01T09:30:00Z",
            json!({"concurrencyPolicy": "Forbid"}),
        ),
        Some("2024-03-01T10:00:00Z"),
        &[],
    );
    let (d, _) = decide(&idle, now, &hourly());
    assert!(matches!(d, Decision::Start { replace: false, .. }), "{d:?}");
}

#[test]
fn time_zone_schedules() {
    let Ok(tz) = load_time_zone("Asia/Tokyo") else {
        eprintln!("no tz database: skipped");
        return;
    };
    let sched = Schedule::parse("0 9 * * *", &tz).unwrap();
    let cj = cronjob("2024-03-01T00:00:00Z", json!({"timeZone": "Asia/Tokyo"}));
    // 09:00 in Tokyo is 00:00 UTC.
    let (d, _) = decide(&cj, t("2024-03-02T00:00:30Z"), &sched);
    let Decision::Start { scheduled, .. } = d else {
        panic!("want Start, got {d:?}");
    };
    assert_eq!(scheduled, t("2024-03-02T00:00:00Z"));
    let job = job_from_template(&cj, scheduled, &tz);
    let ann = job.metadata.annotations.unwrap();
    assert_eq!(ann[SCHEDULED_TIMESTAMP], "2024-03-02T09:00:00+09:00");
    let utc = job_from_template(&cj, scheduled, &TimeZone::UTC);
    assert_eq!(
        utc.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP],
        "2024-03-02T00:00:00Z"
    );
}

#[test]
fn invalid_schedule_never_repeating() {
    let sched = Schedule::parse("0 0 30 2 *", &TimeZone::UTC).unwrap();
    let cj = cronjob("2024-03-01T00:00:00Z", json!({}));
    assert_eq!(
        decide(&cj, t("2024-03-02T00:00:00Z"), &sched).0,
        Decision::Wait(None)
    );
}

fn finished_job(name: &str, kind: &str, start: Option<&str>) -> Job {
    Job {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: None,
        status: Some(JobStatus {
            start_time: start.map(|s| Time(t(s))),
            conditions: (!kind.is_empty()).then(|| {
                vec![JobCondition {
                    type_: kind.into(),
                    status: "True".into(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
    }
}

#[test]
fn history_limits() {
    let cj = cronjob(
        "2024-03-01T00:00:00Z",
        json!({"successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 0}),
    );
    let jobs = vec![
        finished_job("c-3", "Complete", Some("2024-03-01T03:00:00Z")),
        finished_job("c-1", "Complete", Some("2024-03-01T01:00:00Z")),
        finished_job("c-none", "Complete", None),
        finished_job("c-2", "Complete", Some("2024-03-01T02:00:00Z")),
        finished_job("f-1", "Failed", Some("2024-03-01T01:30:00Z")),
        finished_job("running", "", Some("2024-03-01T00:30:00Z")),
    ];
    let names: Vec<String> = jobs_to_clean_up(&cj, &jobs)
        .iter()
        .map(|j| j.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["c-1", "c-2", "f-1"]);
    let unlimited = cronjob("2024-03-01T00:00:00Z", json!({}));
    assert!(jobs_to_clean_up(&unlimited, &jobs).is_empty());
}
