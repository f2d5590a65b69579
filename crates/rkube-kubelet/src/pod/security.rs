//! A container's security context and resources, as CRI wants them: the pod- and
//! container-level `securityContext` merged (the container wins), capabilities, no_new_privs
//! (`allowPrivilegeEscalation: false`), seccomp, supplemental groups with fsGroup; cpu shares
//! and quota, the memory limit and the OOM score by QoS class, as upstream computes them; and
//! the `runAsNonRoot` check against the image's user.

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use rkube_api::quantity::Quantity;

/// The CRI security context of container `c`.
pub fn security_context(
    spec: &PodSpec,
    c: &Container,
    namespace_options: Option<cri::NamespaceOption>,
) -> cri::LinuxContainerSecurityContext {
    let sc = c.security_context.clone().unwrap_or_default();
    let psc = spec.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let caps = sc.capabilities.clone().unwrap_or_default();
    let mut groups: Vec<i64> = psc.supplemental_groups.clone().unwrap_or_default();
    if let Some(g) = psc.fs_group {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let seccomp = sc
        .seccomp_profile
        .clone()
        .or(psc.seccomp_profile.clone())
        .map(|p| match p.type_.as_str() {
            "RuntimeDefault" => cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::RuntimeDefault as i32,
                localhost_ref: String::new(),
            },
            "Localhost" => cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Localhost as i32,
                localhost_ref: p.localhost_profile.unwrap_or_default(),
            },
            _ => cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Unconfined as i32,
                localhost_ref: String::new(),
            },
        });
    cri::LinuxContainerSecurityContext {
        capabilities: Some(cri::Capability {
            add_capabilities: caps.add.unwrap_or_default(),
            drop_capabilities: caps.drop.unwrap_or_default(),
            ..Default::default()
        }),
        privileged,
        namespace_options,
        run_as_user: sc
            .run_as_user
            .or(psc.run_as_user)
            .map(|value| cri::Int64Value { value }),
        run_as_group: sc
            .run_as_group
            .or(psc.run_as_group)
            .map(|value| cri::Int64Value { value }),
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        supplemental_groups: groups,
        // Upstream: only an explicit `allowPrivilegeEscalation: false` sets no_new_privs.
        no_new_privs: !privileged && sc.allow_privilege_escalation == Some(false),
        seccomp,
        ..Default::default()
    }
}

/// `runAsNonRoot`: the error message (CreateContainerConfigError) when the container would
/// run as root. `image_uid`/`image_user` are what the image says.
pub fn check_non_root(
    pod: &Pod,
    c: &Container,
    image_uid: Option<i64>,
    image_user: &str,
) -> Result<(), String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let psc = spec.security_context.unwrap_or_default();
    if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
        return Ok(());
    }
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let who = format!(
        "(pod: \"{name}_{}({uid})\", container: {})",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        c.name
    );
    match sc.run_as_user.or(psc.run_as_user) {
        Some(0) => Err(format!("container's runAsUser breaks non-root policy {who}")),
        Some(_) => Ok(()),
        None => match image_uid {
            Some(0) => Err(format!("container has runAsNonRoot and image will run as root {who}")),
            Some(_) => Ok(()),
            None if !image_user.is_empty() => Err(format!(
                "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root {who}"
            )),
            None => Err(format!("container has runAsNonRoot and image will run as root {who}")),
        },
    }
}

/// The node's memory in bytes (for the Burstable OOM score).
fn node_memory() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<i64>().ok())
                })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(1 << 34)
}

fn quantity(c: &Container, which: &str, res: &str) -> Option<Quantity> {
    let r = c.resources.as_ref()?;
    let m = if which == "limits" {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    }?;
    Quantity::parse(&m.get(res)?.0)
}

/// The CRI resources of container `c` in a pod of QoS class `qos`.
pub fn resources(c: &Container, qos: &str) -> cri::LinuxContainerResources {
    const PERIOD: i64 = 100_000;
    let milli = |q: Quantity| (q.nanos / 1_000_000) as i64;
    let bytes = |q: Quantity| (q.nanos / 1_000_000_000) as i64;
    let cpu_req = quantity(c, "requests", "cpu").or_else(|| quantity(c, "limits", "cpu"));
    let cpu_lim = quantity(c, "limits", "cpu");
    let mem_req = quantity(c, "requests", "memory").or_else(|| quantity(c, "limits", "memory"));
    let mem_lim = quantity(c, "limits", "memory");
    // Shares: 1024 per CPU requested, at least 2 (what upstream gives BestEffort too).
    let shares = cpu_req
        .map(|q| (milli(q) * 1024 / 1000).max(2))
        .unwrap_or(2);
    let quota = cpu_lim
        .map(|q| (milli(q) * PERIOD / 1000).max(1000))
        .unwrap_or(0);
    let oom = match qos {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => {
            let req = mem_req.map(bytes).unwrap_or(0);
            (1000 - 1000 * req / node_memory()).clamp(2, 999)
        }
    };
    cri::LinuxContainerResources {
        cpu_period: if quota > 0 { PERIOD } else { 0 },
        cpu_quota: quota,
        cpu_shares: shares,
        memory_limit_in_bytes: mem_lim.map(bytes).unwrap_or(0),
        oom_score_adj: oom,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resources_like_upstream() {
        let c = container(serde_json::json!({"name": "c",
            "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}));
        let r = resources(&c, "Burstable");
        assert_eq!(r.cpu_shares, 256);
        assert_eq!(r.cpu_quota, 50_000);
        assert_eq!(r.cpu_period, 100_000);
        assert_eq!(r.memory_limit_in_bytes, 128 << 20);
        assert!((2..=999).contains(&r.oom_score_adj));
        let none = resources(&container(serde_json::json!({"name": "c"})), "BestEffort");
        assert_eq!(
            (
                none.cpu_shares,
                none.cpu_quota,
                none.memory_limit_in_bytes,
                none.oom_score_adj
            ),
            (2, 0, 0, 1000)
        );
        let g = container(
            serde_json::json!({"name": "c", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}),
        );
        let r = resources(&g, "Guaranteed");
        assert_eq!(
            (r.cpu_shares, r.cpu_quota, r.oom_score_adj),
            (1024, 100_000, -997)
        );
    }

    #[test]
    fn security_context_merges_pod_and_container() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [3000],
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "c", "securityContext": {"runAsUser": 1001, "allowPrivilegeEscalation": false,
                        "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}
        }))
        .unwrap();
        let spec = pod.spec.clone().unwrap();
        let sc = security_context(&spec, &spec.containers[0], None);
        assert_eq!(sc.run_as_user.unwrap().value, 1001);
        assert!(sc.no_new_privs && sc.readonly_rootfs && !sc.privileged);
        assert_eq!(sc.supplemental_groups, vec![3000, 2000]);
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop_capabilities,
            vec!["ALL"]
        );
        assert_eq!(
            sc.capabilities.unwrap().add_capabilities,
            vec!["NET_BIND_SERVICE"]
        );
        assert_eq!(
            sc.seccomp.unwrap().profile_type,
            cri::security_profile::ProfileType::RuntimeDefault as i32
        );
    }

    #[test]
    fn run_as_non_root_checks_the_image_user() {
        let pod = |sc: serde_json::Value| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
                "spec": {"containers": [{"name": "c", "securityContext": sc}]}
            }))
            .unwrap()
        };
        let p = pod(serde_json::json!({"runAsNonRoot": true}));
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(
            check_non_root(&p, c, Some(0), "").unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"p_ns(u)\", container: c)"
        );
        assert!(check_non_root(&p, c, Some(1000), "").is_ok());
        assert!(check_non_root(&p, c, None, "nobody")
            .unwrap_err()
            .contains("non-numeric user (nobody)"));
        let p = pod(serde_json::json!({"runAsNonRoot": true, "runAsUser": 1000}));
        assert!(check_non_root(&p, &p.spec.as_ref().unwrap().containers[0], Some(0), "").is_ok());
        let p = pod(serde_json::json!({}));
        assert!(check_non_root(&p, &p.spec.as_ref().unwrap().containers[0], Some(0), "").is_ok());
    }
}
