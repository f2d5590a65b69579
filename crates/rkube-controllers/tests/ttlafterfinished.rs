//! Component tests of the TTL-after-finished controller: finished Jobs with
//! `ttlSecondsAfterFinished` are deleted once the TTL has passed, with their pods.

use crate::support;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::{context, eventually, server};

const NS: &str = "default";

async fn job(client: &kube::Client, name: &str, ttl: Option<i32>) -> Job {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]
            }}
        }
    });
    if let Some(t) = ttl {
        v["spec"]["ttlSecondsAfterFinished"] = json!(t);
    }
    let j: Job = serde_json::from_value(v).unwrap();
    Api::<Job>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &j)
        .await
        .unwrap()
}

/// Acts as the Job controller: marks the Job Complete now.
async fn complete(client: &kube::Client, name: &str) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {
        "startTime": now,
        "completionTime": now,
        "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}
        ]
    }});
    Api::<Job>::namespaced(client.clone(), NS)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

#[tokio::test]
async fn finished_job_is_deleted_after_its_ttl_with_its_pods() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::ttlafterfinished::run(context(&client)));
    tokio::spawn(rkube_controllers::garbagecollector::run(context(&client)));
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    let j = job(&client, "done", Some(2)).await;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "done-pod", "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "Job", "name": "done",
            "uid": j.uid().unwrap(), "controller": true, "blockOwnerDeletion": true
        }]},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let keep = job(&client, "no-ttl", None).await;
    complete(&client, "no-ttl").await;
    complete(&client, "done").await;
    let finished = std::time::Instant::now();
    eventually(10, "finished job deleted", || async {
        jobs.get_opt("done").await.unwrap().is_none().then_some(())
    })
    .await;
    // Not before its TTL (the finish time is truncated to the second, hence one second less).
    assert!(finished.elapsed() >= std::time::Duration::from_secs(1));
    eventually(
        10,
        "the job's pod deleted (background propagation)",
        || async {
            pods.get_opt("done-pod")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    let still = jobs.get("no-ttl").await.unwrap();
    assert_eq!(still.uid(), keep.uid());
}

#[tokio::test]
async fn unfinished_job_stays_until_it_finishes() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::ttlafterfinished::run(context(&client)));
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    job(&client, "running", Some(0)).await;
    job(&client, "marker", Some(0)).await;
    complete(&client, "marker").await;
    // Once the later marker Job is gone, the controller has seen "running" too.
    eventually(10, "marker job deleted", || async {
        jobs.get_opt("marker")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(jobs.get_opt("running").await.unwrap().is_some());
    complete(&client, "running").await;
    eventually(10, "job deleted once finished", || async {
        jobs.get_opt("running")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
}
