//! Shared by the controller component tests: an in-process API server over the memory store,
//! a client, and a stand-in for the kubelet that marks pods Running and Ready by hand.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use rkube_apiserver::auth::TokenAuth;
use rkube_apiserver::{Config, Server};
use rkube_controllers::Context;
use serde_json::json;

/// A fresh API server and a client for it.
pub async fn server() -> (Arc<Server>, kube::Client) {
    let srv = Server::start(Config {
        store: Arc::new(rkube_store::memory::MemoryStore::new()),
        tokens: TokenAuth::default(),
        watch_cache_window: 10_000,
        event_ttl: Duration::from_secs(3600),
        compact_interval: None,
        advertise_address: "127.0.0.1:6443".into(),
    })
    .await
    .unwrap();
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
