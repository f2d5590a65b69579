//! Container lifecycle hooks: `postStart` right after the container starts (a failure kills
//! the container, which then restarts per restartPolicy) and `preStop` before it is stopped
//! on pod deletion, within the grace period. Handlers: exec (CRI ExecSync), httpGet and sleep.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};

use super::Shared;

/// Runs `handler` for container `id`; the error is upstream's event message.
pub async fn run(
    sh: &Shared,
    pod: &Pod,
    c: &Container,
    id: &str,
    handler: &LifecycleHandler,
    pod_ip: &str,
    timeout: Duration,
) -> Result<(), String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    if let Some(e) = &handler.exec {
        let cmd = e.command.clone().unwrap_or_default();
        let result = sh.runtime.exec_sync(id, cmd.clone(), timeout).await;
        return match result {
            Ok((_, _, 0)) => Ok(()),
            Ok((out, err, code)) => {
                let mut text = String::from_utf8_lossy(&out).into_owned();
                text.push_str(&String::from_utf8_lossy(&err));
                Err(format!(
                    "Exec lifecycle hook ({cmd:?}) for Container \"{}\" in Pod \"{name}_{ns}({uid})\" failed - error: command '{}' exited with {code}: {text}, message: {text:?}",
                    c.name,
                    cmd.join(" ")
                ))
            }
            Err(e) => Err(format!(
                "Exec lifecycle hook ({cmd:?}) for Container \"{}\" in Pod \"{name}_{ns}({uid})\" failed - error: {e}",
                c.name
            )),
        };
    }
    if let Some(h) = &handler.http_get {
        let probe = k8s_openapi::api::core::v1::Probe {
            http_get: Some(h.clone()),
            ..Default::default()
        };
        return super::probes::check_once(&probe, c, pod_ip, id, timeout)
            .await
            .map_err(|e| format!("HTTP lifecycle hook ({}) for Container \"{}\" in Pod \"{name}_{ns}({uid})\" failed - error: {e}", h.path.clone().unwrap_or_default(), c.name));
    }
    if let Some(s) = &handler.sleep {
        tokio::time::sleep(Duration::from_secs(s.seconds.max(0) as u64).min(timeout)).await;
        return Ok(());
    }
    Ok(())
}
