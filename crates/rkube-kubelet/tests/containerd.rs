//! The real kubelet against a real containerd (started by the agent's supervisor in a temp
//! dir) and an in-process API server: pods run busybox from the built-in offline image, get an
//! IP from the node's podCIDR, finish per restartPolicy, and are stopped and removed on
//! deletion. Needs root and Debian's containerd, runc, containernetworking-plugins and
//! busybox-static; skipped (with a message) otherwise.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use rkube_apiserver::Server;
use rkube_kubelet::agent::{self, AgentConfig};
use serde_json::json;

async fn server() -> (Arc<Server>, kube::Client) {
    let srv = Server::start_in_memory().await.unwrap();
    let client = srv.component_client("test");
    (srv, client)
}

async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn can_run() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    let tools = rkube_kubelet::containerd::check_binaries().is_ok()
        && rkube_kubelet::containerd::find_cni_bin_dir().is_ok()
        && rkube_kubelet::images::find_busybox().is_ok();
    if !(root && tools) {
        eprintln!(
            "skipped: needs root, containerd, runc, containernetworking-plugins and busybox-static"
        );
    }
    root && tools
}

/// An API server, a Node with a podCIDR, and the agent for it on a fresh containerd.
async fn setup(
    cidr: &str,
    bridge: &str,
) -> (Arc<Server>, kube::Client, agent::Agent, tempfile::TempDir) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "rkube_kubelet=info".into()),
        )
        .with_test_writer()
        .try_init();
    let (srv, client) = server().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "test-node"},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let dir = tempfile::Builder::new()
        .prefix("rk")
        .tempdir_in("/tmp")
        .unwrap();
    let mut cfg = AgentConfig::new(dir.path(), "test-node");
    cfg.cni_bridge = bridge.into();
    cfg.node_ip = Some("127.0.0.1".into());
    let agent = agent::start(client.clone(), cfg).await.unwrap();
    (srv, client, agent, dir)
}

fn busybox_pod(name: &str, script: &str, policy: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": "test-node",
            "restartPolicy": policy,
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script],
                "env": [{"name": "GREETING", "value": "hi"}]}],
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_gets_an_ip_and_is_removed_on_delete() {
    if !can_run() {
        return;
    }
    let (_srv, client, agent, dir) = setup("10.211.7.0/24", "rkt0").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods
        .create(
            &PostParams::default(),
            &busybox_pod("web", "echo $GREETING; sleep 3600", "Always"),
        )
        .await
        .unwrap();
    let uid = pod.metadata.uid.clone().unwrap();
    let ip = eventually(40, "pod Running and Ready with an IP", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("web").await.ok()?;
            let st = p.status?;
            let ready = st
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (st.phase.as_deref() == Some("Running") && ready)
                .then_some(())
                .and(st.pod_ip)
        }
    })
    .await;
    assert!(
        ip.starts_with("10.211.7."),
        "pod IP {ip} not in the podCIDR"
    );
    let p = pods.get("web").await.unwrap();
    let cs = &p
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert!(cs
        .container_id
        .as_deref()
        .unwrap()
        .starts_with("containerd://"));
    assert_eq!(cs.restart_count, 0);
    // The container's output goes to the CRI log file under the data dir.
    let log = dir
        .path()
        .join(format!("agent/logs/pods/default_web_{uid}/main/0.log"));
    eventually(10, "container log", || {
        let log = log.clone();
        async move {
            std::fs::read_to_string(&log)
                .ok()
                .filter(|t| t.contains("stdout F hi"))
        }
    })
    .await;
    // The node reports the runtime's version.
    let nodes: Api<Node> = Api::all(client.clone());
    eventually(10, "node Ready with containerd version", || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("test-node").await.ok()?;
            let st = n.status?;
            let v = st.node_info?.container_runtime_version;
            let ready = st
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            (v.starts_with("containerd://") && ready).then_some(())
        }
    })
    .await;

    pods.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(30, "pod deleted", || {
        let pods = pods.clone();
        async move { pods.get_opt("web").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let rt = agent.runtime();
    let sandboxes = rt.list_pod_sandboxes().await.unwrap();
    assert!(
        !sandboxes
            .iter()
            .any(|s| s.labels.get("io.kubernetes.pod.uid") == Some(&uid)),
        "the sandbox is removed"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_with_restart_never_fails_the_pod() {
    if !can_run() {
        return;
    }
    let (_srv, client, agent, _dir) = setup("10.211.8.0/24", "rkt1").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &busybox_pod("fail", "exit 1", "Never"),
    )
    .await
    .unwrap();
    let code = eventually(40, "pod Failed", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("fail").await.ok()?;
            let st = p.status?;
            if st.phase.as_deref() != Some("Failed") {
                return None;
            }
            let cs = st.container_statuses?.into_iter().next()?;
            let t = cs.state?.terminated?;
            Some((t.exit_code, t.reason.unwrap_or_default(), cs.restart_count))
        }
    })
    .await;
    assert_eq!(code, (1, "Error".to_string(), 0));
    // Deleting a finished pod removes it and its runtime objects.
    pods.delete("fail", &DeleteParams::default()).await.unwrap();
    eventually(30, "pod deleted", || {
        let pods = pods.clone();
        async move { pods.get_opt("fail").await.ok()?.is_none().then_some(()) }
    })
    .await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_container_restarts_then_backs_off() {
    if !can_run() {
        return;
    }
    let (_srv, client, agent, _dir) = setup("10.211.9.0/24", "rkt2").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &busybox_pod("crash", "exit 3", "Always"),
    )
    .await
    .unwrap();
    // The first restart is immediate; the next waits out the 10 s back-off.
    let (count, message) = eventually(30, "CrashLoopBackOff", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("crash").await.ok()?;
            let st = p.status?;
            let cs = st.container_statuses?.into_iter().next()?;
            let w = cs.state?.waiting?;
            let last = cs.last_state?.terminated?;
            (w.reason.as_deref() == Some("CrashLoopBackOff") && last.exit_code == 3)
                .then(|| (cs.restart_count, w.message.unwrap_or_default()))
        }
    })
    .await;
    assert_eq!(count, 1);
    assert!(
        message.starts_with("back-off 10s restarting failed container=main pod=crash_default("),
        "{message}"
    );
    let p = pods.get("crash").await.unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));
    pods.delete("crash", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "pod deleted", || {
        let pods = pods.clone();
        async move { pods.get_opt("crash").await.ok()?.is_none().then_some(()) }
    })
    .await;
    agent.shutdown().await;
}
