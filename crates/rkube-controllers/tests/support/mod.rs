//! Shared by the controller component tests: an in-process API server over the memory store,
//! a client, and a stand-in for the kubelet that marks pods Running and Ready by hand.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use rkube_apiserver::Server;
use rkube_controllers::Context;
use serde_json::json;

/// A fresh API server and a client for it.
pub async fn server() -> (Arc<Server>, kube::Client) {
    let srv = Server::start_in_memory().await.unwrap();
    let client = srv.component_client("test");
    (srv, client)
}

/// A controller context on `client` without leader election.
pub fn context(client: &kube::Client) -> Arc<Context> {
    Arc::new(Context {
        client: client.clone(),
        config: rkube_controllers::Config {
            client: client.clone(),
            identity: "test".into(),
            leader_elect: false,
            cluster_cidr: "10.42.0.0/16".into(),
            node_cidr_mask_size: 24,
        },
    })
}

/// Polls `f` every 50 ms until it returns `Some`, failing the test after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Acts as the kubelet: binds the pod to `node`'s name and marks it Running and Ready.
pub async fn mark_running_ready(client: &kube::Client, ns: &str, name: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {
        "phase": "Running",
        "podIP": "10.42.0.10",
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ]
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// Acts as the kubelet for a finished pod: phase Succeeded or Failed.
pub async fn mark_finished(client: &kube::Client, ns: &str, name: &str, succeeded: bool) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let phase = if succeeded { "Succeeded" } else { "Failed" };
    let status = json!({"status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "False"}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// Creates a Node object by hand (no kubelet runs in component tests).
pub async fn create_node(client: &kube::Client, node: serde_json::Value) {
    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let node = serde_json::from_value(node).unwrap();
    api.create(&kube::api::PostParams::default(), &node)
        .await
        .unwrap();
}

/// Creates a namespaced object of kind `K` from JSON.
pub async fn create<K>(client: &kube::Client, ns: &str, obj: serde_json::Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let obj: K = serde_json::from_value(obj).unwrap();
    api.create(&kube::api::PostParams::default(), &obj)
        .await
        .unwrap()
}

/// Plays the kubelet in the background: every pod in `ns` that is not yet Ready and not being
/// deleted is marked Running and Ready. Stops when the handle is dropped.
pub fn auto_kubelet(client: &kube::Client, ns: &str) -> AbortOnDrop {
    let client = client.clone();
    let ns = ns.to_string();
    AbortOnDrop(tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        loop {
            if let Ok(list) = api.list(&Default::default()).await {
                for p in list.items {
                    let ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    if !ready && p.metadata.deletion_timestamp.is_none() {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        let now =
                            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                        let status = json!({"status": {"phase": "Running", "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
                        let _ = api
                            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                            .await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }))
}

/// Aborts a background task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Acts as the scheduler: binds the pod to `node` (so deleting it is graceful and it stays
/// Terminating until the kubelet, which does not run here, would finish it).
pub async fn bind_pod(client: &kube::Client, ns: &str, name: &str, node: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                      "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let _: serde_json::Value = api
        .create_subresource("binding", name, &kube::api::PostParams::default(), &body)
        .await
        .unwrap();
}
