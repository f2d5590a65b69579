//! Component tests of the ReplicaSet and ReplicationController controllers against an
//! in-process API server (nothing runs pods: the tests mark them Running and Ready).

use crate::support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use support::{context, eventually, mark_running_ready, server};

const NS: &str = "default";

fn rs_json(name: &str, replicas: i32, min_ready: i32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, "tier": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    })
}

async fn create_rs(client: &kube::Client, name: &str, replicas: i32, min_ready: i32) -> ReplicaSet {
    let rs: ReplicaSet = serde_json::from_value(rs_json(name, replicas, min_ready)).unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &rs)
        .await
        .unwrap()
}

/// Active pods with `app=<app>`, owned by the object with `uid` when given.
async fn pods_of(client: &kube::Client, app: &str, uid: Option<&str>) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    let list = api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            uid.is_none_or(|uid| {
                rkube_controllers::common::get_controller_of(&p.metadata)
                    .is_some_and(|r| r.uid == uid)
            })
        })
        .collect()
}

async fn wait_pods(client: &kube::Client, app: &str, uid: &str, n: usize) -> Vec<Pod> {
    eventually(10, &format!("{n} pods of {app}"), || async {
        let pods = pods_of(client, app, Some(uid)).await;
        (pods.len() == n).then_some(pods)
    })
    .await
}

async fn events_for(client: &kube::Client, name: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason)
        })
        .collect()
}

async fn scale_rs(client: &kube::Client, name: &str, replicas: i32) {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn replicaset_keeps_replicas_and_replaces_a_deleted_pod() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "web", 3, 0).await;
    let uid = rs.uid().unwrap();
    let pods = wait_pods(&client, "web", &uid, 3).await;
    for p in &pods {
        assert!(p.name_any().starts_with("web-"), "{}", p.name_any());
        let r = rkube_controllers::common::get_controller_of(&p.metadata).unwrap();
        assert_eq!(
            (r.kind.as_str(), r.api_version.as_str()),
            ("ReplicaSet", "apps/v1")
        );
        assert_eq!(p.labels().get("tier").map(String::as_str), Some("web"));
    }
    // Events name each created pod.
    let created = eventually(5, "SuccessfulCreate events", || async {
        let evs = events_for(&client, "web", "SuccessfulCreate").await;
        (evs.len() == 3).then_some(evs)
    })
    .await;
    let mut messages: Vec<String> = created.iter().filter_map(|e| e.message.clone()).collect();
    messages.sort();
    let mut want: Vec<String> = pods
        .iter()
        .map(|p| format!("Created pod: {}", p.name_any()))
        .collect();
    want.sort();
    assert_eq!(messages, want);
    assert_eq!(
        created[0]
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("replicaset-controller")
    );

    let victim = pods[0].name_any();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "a replacement pod", || async {
        let pods = pods_of(&client, "web", Some(&uid)).await;
        (pods.len() == 3 && pods.iter().all(|p| p.name_any() != victim)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicaset_scales_down_deleting_unready_pods_first() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "six", 6, 0).await;
    let uid = rs.uid().unwrap();
    let pods = wait_pods(&client, "six", &uid, 6).await;
    let keep: Vec<String> = pods[..2].iter().map(|p| p.name_any()).collect();
    for name in &keep {
        mark_running_ready(&client, NS, name).await;
    }
    scale_rs(&client, "six", 2).await;
    let left = wait_pods(&client, "six", &uid, 2).await;
    let mut names: Vec<String> = left.iter().map(|p| p.name_any()).collect();
    names.sort();
    let mut keep = keep;
    keep.sort();
    assert_eq!(names, keep, "the ready pods survive a scale-down");
    eventually(5, "SuccessfulDelete events", || async {
        let evs = events_for(&client, "six", "SuccessfulDelete").await;
        (evs.len() == 4
            && evs.iter().all(|e| {
                e.message
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("Deleted pod: six-")
            }))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicaset_adopts_a_matching_orphan() {
    let (_srv, client) = server().await;
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "adopt", "tier": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "adopt", 2, 0).await;
    let uid = rs.uid().unwrap();
    let pods = wait_pods(&client, "adopt", &uid, 2).await;
    assert!(
        pods.iter().any(|p| p.name_any() == "orphan"),
        "the orphan is adopted"
    );
    let orphan = pods.iter().find(|p| p.name_any() == "orphan").unwrap();
    let r = rkube_controllers::common::get_controller_of(&orphan.metadata).unwrap();
    assert_eq!(r.block_owner_deletion, Some(true));
    // Only one pod was created.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pods_of(&client, "adopt", None).await.len(), 2);
}

#[tokio::test]
async fn replicaset_releases_a_relabelled_pod() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "rel", 2, 0).await;
    let uid = rs.uid().unwrap();
    let pods = wait_pods(&client, "rel", &uid, 2).await;
    let name = pods[0].name_any();
    let api: Api<Pod> = Api::namespaced(client.clone(), NS);
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    eventually(10, "the relabelled pod released", || async {
        let p = api.get(&name).await.ok()?;
        p.owner_references().is_empty().then_some(())
    })
    .await;
    let now = wait_pods(&client, "rel", &uid, 2).await;
    assert!(now.iter().all(|p| p.name_any() != name));
}

#[tokio::test]
async fn replicaset_status_counts_and_min_ready_seconds() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "st", 3, 2).await;
    let uid = rs.uid().unwrap();
    let pods = wait_pods(&client, "st", &uid, 3).await;
    for p in &pods[..2] {
        mark_running_ready(&client, NS, &p.name_any()).await;
    }
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let get_status = || async { api.get("st").await.unwrap().status.unwrap_or_default() };
    let s = eventually(5, "ready replicas", || async {
        let s = get_status().await;
        (s.ready_replicas == Some(2)).then_some(s)
    })
    .await;
    assert_eq!(s.replicas, 3);
    assert_eq!(s.fully_labeled_replicas, Some(3));
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(
        s.available_replicas,
        Some(0),
        "not available before minReadySeconds"
    );
    // With no further pod events, availability shows up once minReadySeconds pass.
    eventually(6, "available replicas after minReadySeconds", || async {
        (get_status().await.available_replicas == Some(2)).then_some(())
    })
    .await;
    scale_rs(&client, "st", 2).await;
    eventually(5, "observedGeneration 2", || async {
        let s = get_status().await;
        (s.observed_generation == Some(2) && s.replicas == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replicaset_does_not_double_create() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run(context(&client)));
    let rs = create_rs(&client, "once", 20, 0).await;
    let uid = rs.uid().unwrap();
    wait_pods(&client, "once", &uid, 20).await;
    // Status updates and pod events keep re-syncing the set; none of them may create more.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while tokio::time::Instant::now() < deadline {
        assert_eq!(pods_of(&client, "once", None).await.len(), 20);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evs = events_for(&client, "once", "SuccessfulCreate").await;
    assert_eq!(evs.len(), 20);
}

#[tokio::test]
async fn replication_controller_basics() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::replicaset::run_replication_controllers(
        context(&client),
    ));
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "rc", "namespace": NS},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "rc"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }
        }
    }))
    .unwrap();
    let api: Api<ReplicationController> = Api::namespaced(client.clone(), NS);
    let rc = api.create(&PostParams::default(), &rc).await.unwrap();
    let uid = rc.uid().unwrap();
    let pods = wait_pods(&client, "rc", &uid, 3).await;
    let r = rkube_controllers::common::get_controller_of(&pods[0].metadata).unwrap();
    assert_eq!(
        (r.kind.as_str(), r.api_version.as_str()),
        ("ReplicationController", "v1")
    );
    mark_running_ready(&client, NS, &pods[0].name_any()).await;
    let victim = pods[1].name_any();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "a replacement pod", || async {
        let pods = pods_of(&client, "rc", Some(&uid)).await;
        (pods.len() == 3 && pods.iter().all(|p| p.name_any() != victim)).then_some(())
    })
    .await;
    api.patch(
        "rc",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    let left = wait_pods(&client, "rc", &uid, 1).await;
    assert_eq!(
        left[0].name_any(),
        pods[0].name_any(),
        "the ready pod survives"
    );
    eventually(5, "rc status", || async {
        let s = api.get("rc").await.ok()?.status?;
        (s.replicas == 1
            && s.ready_replicas == Some(1)
            && s.available_replicas == Some(1)
            && s.observed_generation == Some(2))
        .then_some(())
    })
    .await;
    let evs = events_for(&client, "rc", "SuccessfulCreate").await;
    assert_eq!(
        evs[0].source.as_ref().and_then(|s| s.component.as_deref()),
        Some("replication-controller")
    );
}
