//! Component tests of the endpoints controller against an in-process API server: addresses
//! follow pod readiness and deletion, named target ports resolve per pod,
//! publishNotReadyAddresses, headless labels, selectorless Services left alone, and cleanup
//! when the Service goes.

use crate::support;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use support::{bind_pod, context, create, create_node, eventually, server};

const NS: &str = "default";

async fn start() -> (std::sync::Arc<rkube_apiserver::Server>, kube::Client) {
    let (srv, client) = server().await;
    tokio::spawn(rkube_controllers::endpoints::run(context(&client)));
    create_node(
        &client,
        json!({"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .await;
    (srv, client)
}

/// A pod with app=`app`, a container port named `http` (`port`), bound to n1.
async fn pod(client: &kube::Client, name: &str, app: &str, port: i32) {
    create::<Pod>(
        client,
        NS,
        json!({"metadata": {"name": name, "labels": {"app": app}},
               "spec": {"containers": [{"name": "c", "image": "x",
                   "ports": [{"name": "http", "containerPort": port}]}]}}),
    )
    .await;
    bind_pod(client, NS, name, "n1").await;
}

/// Plays the kubelet: Running with `ip`, Ready or not.
async fn set_status(client: &kube::Client, name: &str, ip: &str, ready: bool) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                        "lastTransitionTime": now}]}});
    Api::<Pod>::namespaced(client.clone(), NS)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

async fn service(client: &kube::Client, name: &str, spec: Value) -> Service {
    create::<Service>(
        client,
        NS,
        json!({"metadata": {"name": name, "labels": {"team": "a"}}, "spec": spec}),
    )
    .await
}

fn ips(ep: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = ep["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s[field].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(String::from))
        .collect();
    out.sort();
    out
}

/// Waits until the Endpoints named `name` satisfy `ok`.
async fn wait_endpoints(
    client: &kube::Client,
    name: &str,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let api: Api<Endpoints> = Api::namespaced(client.clone(), NS);
    eventually(10, what, || async {
        let ep = api.get_opt(name).await.ok().flatten()?;
        let v = serde_json::to_value(ep).ok()?;
        ok(&v).then_some(v)
    })
    .await
}

#[tokio::test]
async fn endpoints_follow_pod_readiness_and_deletion() {
    let (_srv, client) = start().await;
    service(
        &client,
        "web",
        json!({"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}),
    )
    .await;
    pod(&client, "a", "web", 8080).await;
    pod(&client, "b", "web", 8080).await;
    pod(&client, "c", "web", 8080).await;
    pod(&client, "other", "db", 8080).await;
    set_status(&client, "a", "10.42.0.1", true).await;
    set_status(&client, "b", "10.42.0.2", true).await;
    set_status(&client, "c", "10.42.0.3", false).await;
    set_status(&client, "other", "10.42.0.9", true).await;
    let ep = wait_endpoints(&client, "web", "a, b ready and c not ready", |e| {
        ips(e, "addresses") == ["10.42.0.1", "10.42.0.2"]
            && ips(e, "notReadyAddresses") == ["10.42.0.3"]
    })
    .await;
    let subset = &ep["subsets"][0];
    assert_eq!(
        subset["ports"],
        json!([{"name": "web", "port": 8080, "protocol": "TCP"}])
    );
    let a = &subset["addresses"][0];
    assert_eq!(a["nodeName"], json!("n1"));
    assert_eq!(a["targetRef"]["kind"], json!("Pod"));
    assert_eq!(a["targetRef"]["name"], json!("a"));
    assert_eq!(ep["metadata"]["labels"]["team"], json!("a"));
    let trigger = ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
        .as_str()
        .unwrap_or_default();
    assert!(trigger.ends_with('Z'), "trigger time: {ep}");

    // Readiness flips move addresses between the lists.
    set_status(&client, "c", "10.42.0.3", true).await;
    set_status(&client, "a", "10.42.0.1", false).await;
    wait_endpoints(&client, "web", "c ready, a not ready", |e| {
        ips(e, "addresses") == ["10.42.0.2", "10.42.0.3"]
            && ips(e, "notReadyAddresses") == ["10.42.0.1"]
    })
    .await;

    // A terminating pod (bound, so deletion waits for the kubelet) leaves the endpoints.
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("b", &DeleteParams::default())
        .await
        .unwrap();
    wait_endpoints(&client, "web", "terminating b gone", |e| {
        ips(e, "addresses") == ["10.42.0.3"]
    })
    .await;
}

#[tokio::test]
async fn named_ports_resolve_per_pod_and_unready_pods_can_be_published() {
    let (_srv, client) = start().await;
    service(
        &client,
        "mixed",
        json!({"selector": {"app": "mixed"}, "publishNotReadyAddresses": true,
               "ports": [{"port": 80, "targetPort": "http"}]}),
    )
    .await;
    pod(&client, "m1", "mixed", 8080).await;
    pod(&client, "m2", "mixed", 9090).await;
    set_status(&client, "m1", "10.42.0.11", false).await;
    set_status(&client, "m2", "10.42.0.12", false).await;
    let ep = wait_endpoints(&client, "mixed", "two subsets, all published", |e| {
        e["subsets"].as_array().is_some_and(|s| s.len() == 2)
            && ips(e, "addresses") == ["10.42.0.11", "10.42.0.12"]
    })
    .await;
    let mut ports: Vec<i64> = ep["subsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ports"][0]["port"].as_i64().unwrap())
        .collect();
    ports.sort();
    assert_eq!(ports, [8080, 9090]);
}

#[tokio::test]
async fn headless_selectorless_and_deleted_services() {
    let (_srv, client) = start().await;
    // Manual endpoints of a selectorless Service are not touched.
    service(&client, "manual", json!({"ports": [{"port": 80}]})).await;
    let manual: Endpoints = serde_json::from_value(json!({"metadata": {"name": "manual"},
        "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}))
    .unwrap();
    let api: Api<Endpoints> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &manual).await.unwrap();
    service(
        &client,
        "hl",
        json!({"selector": {"app": "hl"}, "clusterIP": "None"}),
    )
    .await;
    pod(&client, "h1", "hl", 8080).await;
    set_status(&client, "h1", "10.42.0.21", true).await;
    let ep = wait_endpoints(&client, "hl", "headless endpoints", |e| {
        ips(e, "addresses") == ["10.42.0.21"]
    })
    .await;
    assert_eq!(
        ep["metadata"]["labels"]["service.kubernetes.io/headless"],
        json!("")
    );
    assert!(ep["subsets"][0].get("ports").is_none(), "{ep}");
    let m = api.get("manual").await.unwrap();
    assert_eq!(
        serde_json::to_value(&m.subsets).unwrap()[0]["addresses"][0]["ip"],
        json!("192.0.2.1")
    );
    // Deleting the Service deletes its Endpoints.
    Api::<Service>::namespaced(client.clone(), NS)
        .delete("hl", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "endpoints of a deleted service gone", || async {
        api.get_opt("hl").await.ok()?.is_none().then_some(())
    })
    .await;
}
