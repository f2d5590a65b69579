//! Component tests of the pod garbage collector: pods on nodes that are gone, terminated
//! pods over the threshold.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use rkube_controllers::podgc::{self, Options};
use serde_json::json;
use support::{context, eventually, mark_finished, mark_running_ready, server};

const NS: &str = "default";

async fn pod(client: &kube::Client, name: &str, node: Option<&str>) {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    });
    if let Some(n) = node {
        v["spec"]["nodeName"] = json!(n);
    }
    let p: Pod = serde_json::from_value(v).unwrap();
    Api::<Pod>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

fn fast(threshold: usize) -> Options {
    Options {
        terminated_pod_threshold: threshold,
        check_period: Duration::from_millis(100),
        quarantine: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn pods_on_missing_nodes_are_deleted() {
    let (_srv, client) = server().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    nodes.create(&PostParams::default(), &n).await.unwrap();
    pod(&client, "on-n1", Some("n1")).await;
    pod(&client, "on-ghost", Some("ghost")).await;
    mark_running_ready(&client, NS, "on-ghost").await;
    // A pod terminating on the missing node waits for no kubelet either.
    pod(&client, "leaving-ghost", Some("ghost")).await;
    mark_running_ready(&client, NS, "leaving-ghost").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.delete("leaving-ghost", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pods.get_opt("leaving-ghost").await.unwrap().is_some());

    tokio::spawn(podgc::run_with(context(&client), fast(0)));
    eventually(10, "pods on the missing node deleted", || async {
        let a = pods.get_opt("on-ghost").await.unwrap().is_none();
        let b = pods.get_opt("leaving-ghost").await.unwrap().is_none();
        (a && b).then_some(())
    })
    .await;
    assert!(pods.get_opt("on-n1").await.unwrap().is_some());
}

#[tokio::test]
async fn terminated_pods_over_the_threshold_are_deleted_oldest_first() {
    let (_srv, client) = server().await;
    for name in ["t1", "t2", "t3"] {
        pod(&client, name, None).await;
        mark_finished(&client, NS, name, name != "t2").await;
    }
    pod(&client, "pending", None).await;
    tokio::spawn(podgc::run_with(context(&client), fast(1)));
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    eventually(10, "two terminated pods deleted", || async {
        let a = pods.get_opt("t1").await.unwrap().is_none();
        let b = pods.get_opt("t2").await.unwrap().is_none();
        (a && b).then_some(())
    })
    .await;
    assert!(pods.get_opt("t3").await.unwrap().is_some());
    assert!(pods.get_opt("pending").await.unwrap().is_some());
}
