//! Component tests of the StatefulSet controller: an in-process API server, the test playing
//! the kubelet (and, where graceful deletion matters, the scheduler).

use crate::support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;
use support::*;

const NS: &str = "default";

fn statefulset(replicas: i32, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
            }
        }
    });
    if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    v
}

async fn pod_names(client: &kube::Client) -> Vec<String> {
    let mut names: Vec<String> = Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    names.sort();
    names
}

async fn get_pod(client: &kube::Client, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(client.clone(), NS)
        .get_opt(name)
        .await
        .unwrap()
}

async fn status(client: &kube::Client) -> serde_json::Value {
    let s = Api::<StatefulSet>::namespaced(client.clone(), NS)
        .get("web")
        .await
        .unwrap();
    serde_json::to_value(s.status).unwrap()
}

async fn image_of(client: &kube::Client, name: &str) -> Option<String> {
    get_pod(client, name)
        .await
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .and_then(|p| p.spec?.containers[0].image.clone())
}

/// Asserts `name` does not appear for a while (the controller had every chance to create it).
async fn stays_absent(client: &kube::Client, name: &str) {
    for _ in 0..10 {
        assert!(
            get_pod(client, name).await.is_none(),
            "{name} was created too early"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn set_image(client: &kube::Client, image: &str) {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    Api::<StatefulSet>::namespaced(client.clone(), NS)
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn ordered_ready_creates_in_order_with_claims_and_scales_down_in_reverse() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::statefulset::run(context(&client)));
    let extra = json!({
        "volumeClaimTemplates": [{"metadata": {"name": "www"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Retain"},
    });
    create::<StatefulSet>(&client, NS, statefulset(3, extra)).await;

    let web0 = eventually(10, "web-0", || async { get_pod(&client, "web-0").await }).await;
    let labels = web0.labels();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    let spec = web0.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
    let vol = &spec.volumes.as_ref().unwrap()[0];
    assert_eq!(vol.name, "www");
    assert_eq!(
        vol.persistent_volume_claim.as_ref().unwrap().claim_name,
        "www-web-0"
    );
    let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .get("www-web-0")
        .await
        .unwrap();
    assert_eq!(pvc.labels()["app"], "web");
    stays_absent(&client, "web-1").await;

    mark_running_ready(&client, NS, "web-0").await;
    eventually(10, "web-1", || async { get_pod(&client, "web-1").await }).await;
    stays_absent(&client, "web-2").await;
    mark_running_ready(&client, NS, "web-1").await;
    eventually(10, "web-2", || async { get_pod(&client, "web-2").await }).await;
    mark_running_ready(&client, NS, "web-2").await;
    let st = eventually(10, "3 ready replicas", || async {
        let s = status(&client).await;
        (s["readyReplicas"] == 3 && s["replicas"] == 3 && s["availableReplicas"] == 3).then_some(s)
    })
    .await;
    assert_eq!(st["currentRevision"], st["updateRevision"]);
    assert_eq!(st["currentReplicas"], 3);
    assert_eq!(st["updatedReplicas"], 3);
    assert_eq!(st["observedGeneration"], 1);
    let rev = st["updateRevision"].as_str().unwrap().to_string();
    assert!(rev.starts_with("web-"));
    assert_eq!(
        get_pod(&client, "web-2").await.unwrap().labels()["controller-revision-hash"],
        rev
    );
    let events = Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let messages: Vec<&str> = events.iter().filter_map(|e| e.message.as_deref()).collect();
    assert!(
        messages.contains(&"create Pod web-0 in StatefulSet web successful"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"create Claim www-web-1 Pod web-1 in StatefulSet web success"),
        "{messages:?}"
    );

    // Scale down: web-2 first; web-1 only once web-2 is gone. Bound pods terminate
    // gracefully and stay Terminating here, which holds the ordered scale-down.
    for p in ["web-1", "web-2"] {
        bind_pod(&client, NS, p, "n1").await;
    }
    Api::<StatefulSet>::namespaced(client.clone(), NS)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    eventually(10, "web-2 terminating", || async {
        get_pod(&client, "web-2")
            .await?
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    let pvc2 = Api::<PersistentVolumeClaim>::namespaced(client.clone(), NS)
        .get("www-web-2")
        .await
        .unwrap();
    let owners: Vec<String> = pvc2
        .owner_references()
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert_eq!(
        owners,
        ["Pod"],
        "whenScaled: Delete hands the claim to the pod"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(get_pod(&client, "web-1")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_none());
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("web-2", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually(10, "web-1 terminating", || async {
        get_pod(&client, "web-1")
            .await?
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("web-1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually(10, "1 replica", || async {
        let s = status(&client).await;
        (pod_names(&client).await == ["web-0"] && s["replicas"] == 1).then_some(())
    })
    .await;
    let messages: Vec<String> = Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.message)
        .collect();
    assert!(messages
        .iter()
        .any(|m| m == "delete Pod web-2 in StatefulSet web successful"));
}

#[tokio::test]
async fn deleted_and_failed_pods_are_replaced() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::statefulset::run(context(&client)));
    let _kubelet = auto_kubelet(&client, NS);
    create::<StatefulSet>(&client, NS, statefulset(2, json!({}))).await;
    eventually(10, "2 ready", || async {
        (status(&client).await["readyReplicas"] == 2).then_some(())
    })
    .await;
    let uid0 = get_pod(&client, "web-0").await.unwrap().uid();
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("web-0", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "web-0 recreated", || async {
        let p = get_pod(&client, "web-0").await?;
        (p.uid() != uid0).then_some(())
    })
    .await;
    let uid1 = get_pod(&client, "web-1").await.unwrap().uid();
    drop(_kubelet);
    mark_finished(&client, NS, "web-1", false).await;
    eventually(10, "failed web-1 replaced", || async {
        let p = get_pod(&client, "web-1").await?;
        (p.uid() != uid1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn parallel_creates_all_at_once() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::statefulset::run(context(&client)));
    create::<StatefulSet>(
        &client,
        NS,
        statefulset(3, json!({"podManagementPolicy": "Parallel"})),
    )
    .await;
    eventually(10, "all three pods without any being ready", || async {
        (pod_names(&client).await == ["web-0", "web-1", "web-2"]).then_some(())
    })
    .await;
    Api::<StatefulSet>::namespaced(client.clone(), NS)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 0}})),
        )
        .await
        .unwrap();
    eventually(10, "all deleted at once", || async {
        pod_names(&client).await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn partition_rolling_update_and_rollback_reuses_revision() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::statefulset::run(context(&client)));
    let _kubelet = auto_kubelet(&client, NS);
    let extra =
        json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
    create::<StatefulSet>(&client, NS, statefulset(3, extra)).await;
    let first = eventually(10, "3 ready", || async {
        let s = status(&client).await;
        (s["readyReplicas"] == 3).then(|| s["updateRevision"].as_str().unwrap().to_string())
    })
    .await;

    set_image(&client, "nginx:2").await;
    let st = eventually(20, "ordinals >= 1 updated", || async {
        let s = status(&client).await;
        (image_of(&client, "web-1").await.as_deref() == Some("nginx:2")
            && image_of(&client, "web-2").await.as_deref() == Some("nginx:2")
            && s["updatedReplicas"] == 2
            && s["readyReplicas"] == 3)
            .then_some(s)
    })
    .await;
    assert_eq!(image_of(&client, "web-0").await.as_deref(), Some("nginx:1"));
    assert_eq!(st["currentRevision"], first.as_str());
    assert_eq!(st["currentReplicas"], 1);
    let second = st["updateRevision"].as_str().unwrap().to_string();
    assert_ne!(second, first);

    Api::<StatefulSet>::namespaced(client.clone(), NS)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}),
            ),
        )
        .await
        .unwrap();
    eventually(20, "rollout complete", || async {
        let s = status(&client).await;
        (image_of(&client, "web-0").await.as_deref() == Some("nginx:2")
            && s["currentRevision"] == second.as_str()
            && s["updatedReplicas"] == 3
            && s["readyReplicas"] == 3)
            .then_some(())
    })
    .await;

    let revisions = || async {
        let mut r: Vec<(String, i64)> = Api::<ControllerRevision>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|r| (r.name_any(), r.revision))
            .collect();
        r.sort_by_key(|r| r.1);
        r
    };
    assert_eq!(
        revisions().await,
        vec![(first.clone(), 1), (second.clone(), 2)]
    );
    // Rollback to the first template: its revision object is reused as revision 3.
    set_image(&client, "nginx:1").await;
    eventually(20, "rolled back", || async {
        let s = status(&client).await;
        let mut images = Vec::new();
        for p in ["web-0", "web-1", "web-2"] {
            images.push(image_of(&client, p).await);
        }
        (s["updateRevision"] == first.as_str()
            && s["currentRevision"] == first.as_str()
            && images.iter().all(|i| i.as_deref() == Some("nginx:1")))
        .then_some(())
    })
    .await;
    assert_eq!(revisions().await, vec![(second, 2), (first, 3)]);
}

#[tokio::test]
async fn on_delete_updates_only_recreated_pods() {
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::statefulset::run(context(&client)));
    let _kubelet = auto_kubelet(&client, NS);
    create::<StatefulSet>(
        &client,
        NS,
        statefulset(2, json!({"updateStrategy": {"type": "OnDelete"}})),
    )
    .await;
    eventually(10, "2 ready", || async {
        (status(&client).await["readyReplicas"] == 2).then_some(())
    })
    .await;
    set_image(&client, "nginx:2").await;
    eventually(10, "update observed", || async {
        let s = status(&client).await;
        (s["observedGeneration"] == 2 && s["updatedReplicas"] == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(image_of(&client, "web-1").await.as_deref(), Some("nginx:1"));
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("web-1", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "web-1 recreated from the new template", || async {
        (image_of(&client, "web-1").await.as_deref() == Some("nginx:2")).then_some(())
    })
    .await;
    assert_eq!(image_of(&client, "web-0").await.as_deref(), Some("nginx:1"));
}
