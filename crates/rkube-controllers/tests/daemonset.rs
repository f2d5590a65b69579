//! Component tests of the DaemonSet controller: an in-process API server, nodes created by
//! hand, and the test playing the kubelet.

use crate::support;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::json;
use support::*;

const NS: &str = "default";

fn daemonset(name: &str, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": {"role": "worker"},
                         "containers": [{"name": "c", "image": image}]}
            }
        }
    })
}

async fn pods(client: &kube::Client, app: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), NS)
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn target(p: &Pod) -> String {
    let v = serde_json::to_value(p).unwrap();
    v.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

async fn nodes_of(client: &kube::Client, app: &str) -> Vec<String> {
    let mut n: Vec<String> = pods(client, app).await.iter().map(target).collect();
    n.sort();
    n
}

async fn status(client: &kube::Client, name: &str) -> serde_json::Value {
    let ds = Api::<DaemonSet>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(ds.status).unwrap()
}

async fn revisions(client: &kube::Client) -> Vec<(String, i64)> {
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
}

#[tokio::test]
async fn one_pod_per_eligible_node_and_new_nodes_get_pods() {
    let (_srv, client) = server().await;
    create_node(
        &client,
        json!({"metadata": {"name": "n1", "labels": {"role": "worker"}}}),
    )
    .await;
    create_node(
        &client,
        json!({"metadata": {"name": "n2", "labels": {"role": "worker"}},
               "spec": {"taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]}}),
    )
    .await;
    create_node(
        &client,
        json!({"metadata": {"name": "n3", "labels": {"role": "infra"}}}),
    )
    .await;
    tokio::spawn(rkube_controllers::daemonset::run(context(&client)));
    create::<DaemonSet>(&client, NS, daemonset("agent", "agent:1")).await;

    eventually(10, "a pod on n1 only", || async {
        (nodes_of(&client, "agent").await == ["n1"]).then_some(())
    })
    .await;
    let pod = pods(&client, "agent").await.remove(0);
    assert!(pod.name_any().starts_with("agent-"));
    let labels = pod.labels();
    assert_eq!(labels["pod-template-generation"], "1");
    let hash = labels["controller-revision-hash"].clone();
    let spec = pod.spec.as_ref().unwrap();
    assert!(
        spec.node_name.is_none(),
        "pods are pinned by affinity, not nodeName"
    );
    let tolerations = serde_json::to_value(&spec.tolerations).unwrap();
    assert!(tolerations
        .as_array()
        .unwrap()
        .contains(&json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"})));

    // The revision: `<ds>-<hash>`, revision 1, data replacing the whole template.
    let revs = Api::<ControllerRevision>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].name_any(), format!("agent-{hash}"));
    assert_eq!(revs[0].revision, 1);
    assert_eq!(revs[0].labels()["controller-revision-hash"], hash);
    assert_eq!(revs[0].labels()["app"], "agent");
    let data = &revs[0].data.as_ref().unwrap().0;
    assert_eq!(data["spec"]["template"]["$patch"], "replace");
    assert_eq!(
        data["spec"]["template"]["spec"]["containers"][0]["image"],
        "agent:1"
    );

    eventually(10, "status before ready", || async {
        let s = status(&client, "agent").await;
        (s["desiredNumberScheduled"] == 1
            && s["currentNumberScheduled"] == 1
            && s["numberReady"] == 0
            && s["numberUnavailable"] == 1
            && s["updatedNumberScheduled"] == 1
            && s["observedGeneration"] == 1)
            .then_some(())
    })
    .await;
    mark_running_ready(&client, NS, &pod.name_any()).await;
    eventually(10, "status after ready", || async {
        let s = status(&client, "agent").await;
        (s["numberReady"] == 1 && s["numberAvailable"] == 1 && s["numberUnavailable"] == 0)
            .then_some(())
    })
    .await;

    // A new eligible node gets its pod; a node that stops matching loses it.
    create_node(
        &client,
        json!({"metadata": {"name": "n4", "labels": {"role": "worker"}}}),
    )
    .await;
    eventually(10, "a pod on n4", || async {
        (nodes_of(&client, "agent").await == ["n1", "n4"]).then_some(())
    })
    .await;
    Api::<Node>::all(client.clone())
        .patch(
            "n4",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"role": "infra"}}})),
        )
        .await
        .unwrap();
    eventually(10, "n4's pod deleted", || async {
        (nodes_of(&client, "agent").await == ["n1"]).then_some(())
    })
    .await;
    // A NoExecute taint evicts too; a removed node's unscheduled pod goes with it.
    Api::<Node>::all(client.clone())
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"taints": [{"key": "gone", "effect": "NoExecute"}]}})),
        )
        .await
        .unwrap();
    eventually(10, "n1's pod evicted", || async {
        nodes_of(&client, "agent").await.is_empty().then_some(())
    })
    .await;
    create_node(
        &client,
        json!({"metadata": {"name": "n5", "labels": {"role": "worker"}}}),
    )
    .await;
    eventually(10, "a pod on n5", || async {
        (nodes_of(&client, "agent").await == ["n5"]).then_some(())
    })
    .await;
    Api::<Node>::all(client.clone())
        .delete("n5", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "n5's pod deleted", || async {
        nodes_of(&client, "agent").await.is_empty().then_some(())
    })
    .await;

    let events = Api::<Event>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let created = format!("Created pod: {}", pod.name_any());
    assert!(events
        .iter()
        .any(|e| e.reason.as_deref() == Some("SuccessfulCreate")
            && e.message.as_deref() == Some(created.as_str())
            && e.source.as_ref().and_then(|s| s.component.as_deref())
                == Some("daemonset-controller")));
    assert!(events
        .iter()
        .any(|e| e.reason.as_deref() == Some("SuccessfulDelete")));
}

#[tokio::test]
async fn rolling_update_replaces_pods_and_rollback_reuses_the_revision() {
    let (_srv, client) = server().await;
    for n in ["n1", "n2", "n3"] {
        create_node(
            &client,
            json!({"metadata": {"name": n, "labels": {"role": "worker"}}}),
        )
        .await;
    }
    tokio::spawn(rkube_controllers::daemonset::run(context(&client)));
    let _kubelet = auto_kubelet(&client, NS);
    create::<DaemonSet>(&client, NS, daemonset("agent", "agent:1")).await;
    eventually(10, "3 available pods", || async {
        (status(&client, "agent").await["numberAvailable"] == 3).then_some(())
    })
    .await;
    let r1 = revisions(&client).await;
    assert_eq!(r1.len(), 1);

    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), NS);
    let set_image = |image: &'static str| {
        let dss = dss.clone();
        async move {
            let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
            dss.patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
                .await
                .unwrap();
        }
    };
    set_image("agent:2").await;
    // maxUnavailable 1: never more than one of the three nodes without an available pod.
    let max_missing = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    eventually(20, "all pods updated", || {
        let client = client.clone();
        let max_missing = max_missing.clone();
        async move {
            let ps = pods(&client, "agent").await;
            let ready = ps
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            max_missing.fetch_max(
                3usize.saturating_sub(ready),
                std::sync::atomic::Ordering::SeqCst,
            );
            let images: Vec<String> = ps
                .iter()
                .map(|p| {
                    p.spec.as_ref().unwrap().containers[0]
                        .image
                        .clone()
                        .unwrap_or_default()
                })
                .collect();
            let s = status(&client, "agent").await;
            (images.len() == 3
                && images.iter().all(|i| i == "agent:2")
                && s["updatedNumberScheduled"] == 3
                && s["numberAvailable"] == 3
                && s["observedGeneration"] == 2)
                .then_some(())
        }
    })
    .await;
    let max_missing = max_missing.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        max_missing <= 1,
        "{max_missing} nodes were without a ready pod at once"
    );
    let r2 = revisions(&client).await;
    assert_eq!(r2.len(), 2);
    assert_eq!(r2[0], r1[0]);
    assert_eq!(r2[1].1, 2);
    let new_hash = pods(&client, "agent").await[0].labels()["controller-revision-hash"].clone();
    assert_eq!(r2[1].0, format!("agent-{new_hash}"));

    // Rolling back re-uses the first revision's object as revision 3.
    set_image("agent:1").await;
    eventually(20, "rolled back", || async {
        let revs = revisions(&client).await;
        let images: Vec<String> = pods(&client, "agent")
            .await
            .iter()
            .map(|p| {
                p.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap_or_default()
            })
            .collect();
        (revs == vec![(r2[1].0.clone(), 2), (r1[0].0.clone(), 3)]
            && images.len() == 3
            && images.iter().all(|i| i == "agent:1"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn surge_update_starts_new_pod_before_deleting_old() {
    let (_srv, client) = server().await;
    create_node(
        &client,
        json!({"metadata": {"name": "n1", "labels": {"role": "worker"}}}),
    )
    .await;
    tokio::spawn(rkube_controllers::daemonset::run(context(&client)));
    let mut ds = daemonset("agent", "agent:1");
    ds["spec"]["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    create::<DaemonSet>(&client, NS, ds).await;
    let first = eventually(10, "first pod", || async {
        pods(&client, "agent").await.pop()
    })
    .await;
    mark_running_ready(&client, NS, &first.name_any()).await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}});
    Api::<DaemonSet>::namespaced(client.clone(), NS)
        .patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let second = eventually(10, "a surge pod next to the old one", || async {
        let ps = pods(&client, "agent").await;
        (ps.len() == 2).then(|| ps.into_iter().find(|p| p.name_any() != first.name_any()))?
    })
    .await;
    assert_eq!(target(&second), "n1");
    mark_running_ready(&client, NS, &second.name_any()).await;
    eventually(
        10,
        "old pod deleted once the new one is available",
        || async {
            let ps = pods(&client, "agent").await;
            (ps.len() == 1 && ps[0].name_any() == second.name_any()).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn on_delete_strategy_waits_for_manual_deletes() {
    let (_srv, client) = server().await;
    create_node(
        &client,
        json!({"metadata": {"name": "n1", "labels": {"role": "worker"}}}),
    )
    .await;
    tokio::spawn(rkube_controllers::daemonset::run(context(&client)));
    let _kubelet = auto_kubelet(&client, NS);
    let mut ds = daemonset("agent", "agent:1");
    ds["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    create::<DaemonSet>(&client, NS, ds).await;
    let first = eventually(10, "first pod", || async {
        pods(&client, "agent").await.pop()
    })
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}});
    Api::<DaemonSet>::namespaced(client.clone(), NS)
        .patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    eventually(10, "status sees the old pod as not updated", || async {
        let s = status(&client, "agent").await;
        (s["observedGeneration"] == 2 && s["updatedNumberScheduled"] == 0).then_some(())
    })
    .await;
    assert_eq!(pods(&client, "agent").await[0].name_any(), first.name_any());
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete(&first.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "replacement with the new template", || async {
        let ps = pods(&client, "agent").await;
        (ps.len() == 1
            && ps[0].spec.as_ref().unwrap().containers[0].image.as_deref() == Some("agent:2"))
        .then_some(())
    })
    .await;
}
