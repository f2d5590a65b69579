//! Local ephemeral storage limits, as upstream's eviction manager enforces them per pod: a
//! container whose writable layer plus logs outgrow its `ephemeral-storage` limit, or an
//! emptyDir (on disk) grown past its `sizeLimit`, gets the pod evicted — its containers killed,
//! the pod Failed with reason `Evicted` and upstream's message, never restarted.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use rkube_api::quantity::Quantity;

use super::status::RuntimePod;
use super::Shared;

/// Bytes under `dir` (files only, not following symlinks, not crossing into other mounts'
/// worth of accounting: it is a plain walk).
pub fn dir_usage(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += dir_usage(&e.path());
        } else if m.is_file() {
            total += m.len();
        }
    }
    total
}

fn bytes(q: &str) -> Option<i128> {
    Quantity::parse(q).map(|q| q.nanos / 1_000_000_000)
}

/// Why the pod must be evicted, if it must.
pub async fn check(sh: &Shared, pod: &Pod, rt: &RuntimePod) -> Option<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let limited: Vec<(String, String)> = spec
        .containers
        .iter()
        .filter_map(|c| {
            let l = c
                .resources
                .as_ref()?
                .limits
                .as_ref()?
                .get("ephemeral-storage")?;
            Some((c.name.clone(), l.0.clone()))
        })
        .collect();
    let sized: Vec<(String, String)> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            let ed = v.empty_dir.as_ref()?;
            if ed.medium.as_deref() == Some("Memory") {
                return None;
            }
            Some((v.name.clone(), ed.size_limit.as_ref()?.0.clone()))
        })
        .collect();
    if limited.is_empty() && sized.is_empty() {
        return None;
    }
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    if !limited.is_empty() {
        let stats = sh.runtime.container_stats().await.ok()?;
        for (name, limit) in &limited {
            let Some(view) = rt.latest(name).filter(|v| v.state == "running") else {
                continue;
            };
            let layer = stats
                .iter()
                .find(|s| s.attributes.as_ref().is_some_and(|a| a.id == view.id))
                .and_then(|s| s.writable_layer.as_ref())
                .and_then(|w| w.used_bytes.as_ref())
                .map(|v| v.value)
                .unwrap_or(0);
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            let logs = dir_usage(
                &sh.cfg
                    .log_dir
                    .join(format!("{ns}_{pod_name}_{uid}"))
                    .join(name),
            );
            if bytes(limit).is_some_and(|l| (layer + logs) as i128 > l) {
                return Some(format!(
                    "Container {name} exceeded its local ephemeral storage limit \"{limit}\". "
                ));
            }
        }
    }
    for (name, limit) in &sized {
        let dir = super::volumes::pod_dir(&sh.cfg.pods_dir, uid)
            .join("volumes/kubernetes.io~empty-dir")
            .join(name);
        if bytes(limit).is_some_and(|l| dir_usage(&dir) as i128 > l) {
            return Some(format!(
                "Usage of EmptyDir volume \"{name}\" exceeds the limit \"{limit}\". "
            ));
        }
    }
    None
}
