//! What `kubectl exec`, `attach` and `port-forward` need from this node: the runtime's
//! streaming URL for a pod's running container (or its sandbox). The API server connects the
//! client to that URL (see `rkube_apiserver::rest::streams`).

use k8s_cri::v1 as cri;

use crate::pod::{CONTAINER_NAME_LABEL, POD_UID_LABEL};
use crate::runtime::ContainerRuntime;

/// The running container `name` of pod `uid`; the error is the message the client sees.
pub async fn running_container(
    rt: &dyn ContainerRuntime,
    uid: &str,
    name: &str,
) -> Result<String, String> {
    let containers = rt.list_containers().await.map_err(|e| e.to_string())?;
    containers
        .into_iter()
        .filter(|c| {
            c.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid)
                && c.labels.get(CONTAINER_NAME_LABEL).map(String::as_str) == Some(name)
                && c.state == cri::ContainerState::ContainerRunning as i32
        })
        .max_by_key(|c| c.created_at)
        .map(|c| c.id)
        .ok_or_else(|| format!("container not found (\"{name}\")"))
}

/// The ready sandbox of pod `uid`.
pub async fn ready_sandbox(rt: &dyn ContainerRuntime, uid: &str) -> Result<String, String> {
    let sandboxes = rt.list_pod_sandboxes().await.map_err(|e| e.to_string())?;
    sandboxes
        .into_iter()
        .filter(|s| {
            s.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid)
                && s.state == cri::PodSandboxState::SandboxReady as i32
        })
        .max_by_key(|s| s.created_at)
        .map(|s| s.id)
        .ok_or_else(|| "pod sandbox not found".to_string())
}

/// The streaming URL for an exec in container `name` of pod `uid`.
#[allow(clippy::too_many_arguments)]
pub async fn exec_url(
    rt: &dyn ContainerRuntime,
    uid: &str,
    name: &str,
    cmd: Vec<String>,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<String, String> {
    let id = running_container(rt, uid, name).await?;
    rt.exec(cri::ExecRequest {
        container_id: id,
        cmd,
        tty,
        stdin,
        stdout,
        // With a TTY, stderr is merged into stdout.
        stderr: stderr && !tty,
    })
    .await
    .map_err(|e| e.to_string())
}

/// The streaming URL for an attach to container `name` of pod `uid`.
pub async fn attach_url(
    rt: &dyn ContainerRuntime,
    uid: &str,
    name: &str,
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<String, String> {
    let id = running_container(rt, uid, name).await?;
    rt.attach(cri::AttachRequest {
        container_id: id,
        stdin,
        tty,
        stdout,
        stderr: stderr && !tty,
    })
    .await
    .map_err(|e| e.to_string())
}

/// The streaming URL for port forwarding into pod `uid`.
pub async fn port_forward_url(
    rt: &dyn ContainerRuntime,
    uid: &str,
    ports: Vec<i32>,
) -> Result<String, String> {
    let id = ready_sandbox(rt, uid).await?;
    rt.port_forward(&id, ports).await.map_err(|e| e.to_string())
}
