//! Component tests of the EndpointSlice controller and ServiceLB against an in-process API
//! server: slices follow pod readiness and termination with upstream's conditions, carry the
//! upstream labels, owner and endpoint fields, hold at most 100 endpoints, keep a placeholder
//! when empty, leave selectorless Services alone; LoadBalancer Services get node addresses.

use crate::support;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{json, Value};
use support::{bind_pod, context, create, create_node, eventually, server};

const NS: &str = "default";

async fn start() -> kube::Client {
    // The client keeps the server alive.
    let (_srv, client) = server().await;
    tokio::spawn(rkube_controllers::endpointslice::run(context(&client)));
    create_node(
        &client,
        json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1"}},
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .await;
    client
}

async fn pod(client: &kube::Client, name: &str, app: &str) {
    create::<Pod>(
        client,
        NS,
        json!({"metadata": {"name": name, "labels": {"app": app}},
               "spec": {"containers": [{"name": "c", "image": "x",
                   "ports": [{"name": "http", "containerPort": 8080}]}]}}),
    )
    .await;
    bind_pod(client, NS, name, "n1").await;
}

async fn set_status(client: &kube::Client, name: &str, ip: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    Api::<Pod>::namespaced(client.clone(), NS)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

async fn slices(client: &kube::Client, svc: &str) -> Vec<Value> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), NS);
    api.list(&ListParams::default().labels(&format!("kubernetes.io/service-name={svc}")))
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter_map(|s| serde_json::to_value(s).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Endpoints of all the Service's slices by pod name: (ready, serving, terminating).
fn conditions(slices: &[Value]) -> Vec<(String, bool, bool, bool)> {
    let mut out: Vec<_> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let c = &e["conditions"];
            (
                e["targetRef"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["ready"] == json!(true),
                c["serving"] == json!(true),
                c["terminating"] == json!(true),
            )
        })
        .collect();
    out.sort();
    out
}

fn cond(name: &str, ready: bool, serving: bool, terminating: bool) -> (String, bool, bool, bool) {
    (name.to_string(), ready, serving, terminating)
}

#[tokio::test]
async fn slices_follow_pod_readiness_and_termination() {
    let client = start().await;
    let svc = create::<Service>(
        &client,
        NS,
        json!({"metadata": {"name": "web", "labels": {"team": "a"}},
               "spec": {"selector": {"app": "web"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    )
    .await;
    // No pods yet: one placeholder.
    let placeholder = eventually(10, "placeholder slice", || async {
        let s = slices(&client, "web").await;
        (s.len() == 1 && s[0]["endpoints"].as_array().is_none_or(|e| e.is_empty())).then_some(s)
    })
    .await;
    assert!(placeholder[0].get("ports").is_none_or(Value::is_null));
    pod(&client, "a", "web").await;
    pod(&client, "b", "web").await;
    set_status(&client, "a", "10.42.0.1", true).await;
    set_status(&client, "b", "10.42.0.2", false).await;
    let got = eventually(10, "a ready, b not ready", || async {
        let s = slices(&client, "web").await;
        (conditions(&s) == [cond("a", true, true, false), cond("b", false, false, false)])
            .then_some(s)
    })
    .await;
    assert_eq!(got.len(), 1, "placeholder replaced: {got:?}");
    let s = &got[0];
    let name = s["metadata"]["name"].as_str().unwrap();
    assert!(
        name.starts_with("web-") && name.len() == "web-".len() + 5,
        "{name}"
    );
    assert_eq!(s["addressType"], json!("IPv4"));
    let labels = &s["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/service-name"], json!("web"));
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        json!("endpointslice-controller.k8s.io")
    );
    assert_eq!(labels["team"], json!("a"));
    let owner = &s["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], json!("Service"));
    assert_eq!(owner["uid"], json!(svc.metadata.uid.clone().unwrap()));
    assert_eq!(owner["controller"], json!(true));
    assert_eq!(
        s["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    let a = s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["targetRef"]["name"] == json!("a"))
        .unwrap();
    assert_eq!(a["addresses"], json!(["10.42.0.1"]));
    assert_eq!(a["nodeName"], json!("n1"));
    assert_eq!(a["zone"], json!("z1"));
    assert_eq!(a["targetRef"]["kind"], json!("Pod"));

    // A terminating pod stays, serving but not ready.
    set_status(&client, "b", "10.42.0.2", true).await;
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "a terminating", || async {
        let s = slices(&client, "web").await;
        (conditions(&s) == [cond("a", false, true, true), cond("b", true, true, false)])
            .then_some(())
    })
    .await;
    // Gone for good (the kubelet would do this): removed.
    Api::<Pod>::namespaced(client.clone(), NS)
        .delete("a", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually(10, "a removed", || async {
        let s = slices(&client, "web").await;
        (conditions(&s) == [cond("b", true, true, false)]).then_some(())
    })
    .await;
    // Deleting the Service removes its slices.
    Api::<Service>::namespaced(client.clone(), NS)
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "slices gone", || async {
        slices(&client, "web").await.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn many_endpoints_span_slices_of_at_most_100() {
    let client = start().await;
    create::<Service>(
        &client,
        NS,
        json!({"metadata": {"name": "big"},
               "spec": {"selector": {"app": "big"}, "ports": [{"port": 80}]}}),
    )
    .await;
    for i in 0..130 {
        let name = format!("p{i:03}");
        pod(&client, &name, "big").await;
        set_status(
            &client,
            &name,
            &format!("10.42.{}.{}", i / 200, i % 200 + 1),
            true,
        )
        .await;
    }
    let got = eventually(20, "130 endpoints", || async {
        let s = slices(&client, "big").await;
        (conditions(&s).len() == 130).then_some(s)
    })
    .await;
    let mut sizes: Vec<usize> = got
        .iter()
        .map(|s| s["endpoints"].as_array().map_or(0, Vec::len))
        .collect();
    sizes.sort();
    assert_eq!(sizes, [30, 100]);
}

#[tokio::test]
async fn services_without_selectors_are_left_alone_and_load_balancers_get_node_addresses() {
    let client = start().await;
    tokio::spawn(rkube_controllers::servicelb::run(context(&client)));
    create_node(
        &client,
        json!({"metadata": {"name": "n2"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "192.0.2.2"}],
            "conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .await;
    create_node(
        &client,
        json!({"metadata": {"name": "n3"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "192.0.2.3"}],
            "conditions": [{"type": "Ready", "status": "False"}]}}),
    )
    .await;
    create::<Service>(
        &client,
        NS,
        json!({"metadata": {"name": "manual"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    create::<Service>(
        &client,
        NS,
        json!({"metadata": {"name": "lb"},
               "spec": {"type": "LoadBalancer", "selector": {"app": "lb"}, "ports": [{"port": 80}]}}),
    )
    .await;
    let api: Api<Service> = Api::namespaced(client.clone(), NS);
    eventually(10, "load balancer ingress", || async {
        let s = serde_json::to_value(api.get("lb").await.ok()?).ok()?;
        (s["status"]["loadBalancer"]["ingress"] == json!([{"ip": "192.0.2.2", "ipMode": "VIP"}]))
            .then_some(())
    })
    .await;
    // The placeholder of `lb` shows the controller ran; `manual` got nothing.
    eventually(10, "placeholder of lb", || async {
        (slices(&client, "lb").await.len() == 1).then_some(())
    })
    .await;
    assert!(slices(&client, "manual").await.is_empty());
    // Back to ClusterIP: the API server clears the ingress.
    let patch = json!({"spec": {"type": "ClusterIP"}});
    let s = api
        .patch("lb", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let s = serde_json::to_value(s).unwrap();
    assert!(s["status"]["loadBalancer"].get("ingress").is_none(), "{s}");
}
