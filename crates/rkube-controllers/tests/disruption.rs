//! Component tests of the disruption controller: budget status from pod readiness and the
//! controllers' scale, and the eviction API spending it.

use crate::support;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams};
use rkube_controllers::{disruption, replicaset};
use serde_json::json;
use support::{auto_kubelet, context, create, eventually, server};

const NS: &str = "default";

fn rs(name: &str, replicas: i32) -> serde_json::Value {
    json!({"metadata": {"name": name}, "spec": {"replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

async fn status_of(client: &kube::Client, name: &str) -> serde_json::Value {
    let b = Api::<PodDisruptionBudget>::namespaced(client.clone(), NS)
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(b.status).unwrap()
}

#[tokio::test]
async fn budgets_follow_ready_pods_and_evictions_spend_them() {
    let (_srv, client) = server().await;
    let ctx = context(&client);
    tokio::spawn(replicaset::run(ctx.clone()));
    tokio::spawn(disruption::run(ctx));
    let _kubelet = auto_kubelet(&client, NS);
    let _: ReplicaSet = create(&client, NS, rs("web", 3)).await;
    let _: PodDisruptionBudget = create(
        &client,
        NS,
        json!({"metadata": {"name": "min2"}, "spec": {"minAvailable": 2,
            "selector": {"matchLabels": {"app": "web"}}}}),
    )
    .await;
    let _: PodDisruptionBudget = create(
        &client,
        NS,
        json!({"metadata": {"name": "pct"}, "spec": {"maxUnavailable": "50%",
            "selector": {"matchLabels": {"app": "other"}}}}),
    )
    .await;
    let s = eventually(20, "min2 counts 3 healthy pods", || async {
        let s = status_of(&client, "min2").await;
        (s["currentHealthy"] == 3).then_some(s)
    })
    .await;
    assert_eq!(s["observedGeneration"], 1, "{s}");
    assert_eq!(s["desiredHealthy"], 2, "{s}");
    assert_eq!(s["expectedPods"], 3, "{s}");
    assert_eq!(s["disruptionsAllowed"], 1, "{s}");
    assert_eq!(s["conditions"][0]["type"], "DisruptionAllowed", "{s}");
    assert_eq!(s["conditions"][0]["status"], "True", "{s}");
    assert_eq!(s["conditions"][0]["reason"], "SufficientPods", "{s}");

    // One eviction spends the one disruption; the next is refused until a replacement is
    // Ready again.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    pods.evict(&names[0], &EvictParams::default())
        .await
        .expect("the first eviction is allowed");
    let err = pods
        .evict(&names[1], &EvictParams::default())
        .await
        .expect_err("the second eviction would break the budget");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 429),
        "{err:?}"
    );
    eventually(20, "a replacement makes room again", || async {
        let s = status_of(&client, "min2").await;
        (s["currentHealthy"] == 3 && s["disruptionsAllowed"] == 1).then_some(())
    })
    .await;
    pods.evict(&names[1], &EvictParams::default())
        .await
        .expect("allowed again");

    // maxUnavailable as a percentage scales with the controller: 50% of 4 is 2.
    let _: ReplicaSet = create(&client, NS, rs("other", 4)).await;
    let s = eventually(20, "pct counts 4 healthy pods", || async {
        let s = status_of(&client, "pct").await;
        (s["currentHealthy"] == 4).then_some(s)
    })
    .await;
    assert_eq!(s["expectedPods"], 4, "{s}");
    assert_eq!(s["desiredHealthy"], 2, "{s}");
    assert_eq!(s["disruptionsAllowed"], 2, "{s}");
}
