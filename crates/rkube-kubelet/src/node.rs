//! The real node: registration with capacity read from the machine (`/proc`, statvfs), its
//! addresses and nodeInfo, the Lease heartbeat in `kube-node-lease`, and the node status
//! (Ready and the pressure conditions) posted when it changes and at least every minute.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::error::Result;
use crate::runtime::ContainerRuntime;

/// The version this kubelet reports.
pub const KUBELET_VERSION: &str = "v1.33.0-rkube";

/// How the node presents itself.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Node name (defaults to the host name).
    pub name: String,
    /// Address reported as InternalIP (detected from the default route when `None`).
    pub node_ip: Option<String>,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Adds `node-role.kubernetes.io/control-plane` (the node runs the server).
    pub control_plane: bool,
    /// Directory whose filesystem is reported as ephemeral-storage.
    pub data_dir: PathBuf,
    /// Lease renewal period (upstream: 10 s).
    pub heartbeat: Duration,
    /// `--kube-reserved` and `--system-reserved`, summed: resource → quantity.
    pub reserved: BTreeMap<String, String>,
    /// The port of this node's kubelet server, published in `daemonEndpoints`.
    pub kubelet_port: Option<u16>,
}

/// Allocatable as upstream computes it: capacity minus the reservations and the default hard
/// eviction thresholds (memory.available 100Mi, nodefs.available 10%).
pub fn allocatable(
    cap: &BTreeMap<String, String>,
    reserved: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    use rkube_api::quantity::Quantity;
    let q = |m: &BTreeMap<String, String>, k: &str| {
        m.get(k)
            .and_then(|v| Quantity::parse(v))
            .map(|q| q.nanos)
            .unwrap_or(0)
    };
    let mut out = cap.clone();
    let gi = 1_000_000_000i128;
    let cpu = (q(cap, "cpu") - q(reserved, "cpu")).max(0);
    out.insert(
        "cpu".into(),
        if cpu % gi == 0 {
            (cpu / gi).to_string()
        } else {
            format!("{}m", cpu / 1_000_000)
        },
    );
    let mem = (q(cap, "memory") - q(reserved, "memory") - (100 << 20) * gi).max(0);
    out.insert("memory".into(), format!("{}Ki", mem / gi / 1024));
    let disk = q(cap, "ephemeral-storage");
    let disk = (disk - disk / 10 - q(reserved, "ephemeral-storage")).max(0);
    out.insert("ephemeral-storage".into(), (disk / gi).to_string());
    out
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The machine's host name (lower-cased, as node names must be).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
        .to_lowercase()
}

/// The IPv4 address of the interface holding the default route (or any non-loopback one).
pub fn detect_node_ip() -> Option<String> {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let default_if = routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    });
    let addrs: Vec<(String, std::net::Ipv4Addr)> = nix::ifaddrs::getifaddrs()
        .ok()?
        .filter_map(|a| {
            let ip = a.address?.as_sockaddr_in()?.ip();
            (!ip.is_loopback()).then_some((a.interface_name, ip))
        })
        .collect();
    addrs
        .iter()
        .find(|(i, _)| Some(i) == default_if.as_ref())
        .or_else(|| addrs.first())
        .map(|(_, ip)| ip.to_string())
}

fn meminfo_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn disk_bytes(dir: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(s.blocks() as u64 * s.fragment_size() as u64)
}

/// Capacity from the machine: cpu, memory, ephemeral-storage and pods=110.
pub fn capacity(data_dir: &Path) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    c.insert("cpu".into(), cpus().to_string());
    c.insert("memory".into(), format!("{}Ki", meminfo_kib().unwrap_or(0)));
    c.insert(
        "ephemeral-storage".into(),
        format!("{}Ki", disk_bytes(data_dir).unwrap_or(0) / 1024),
    );
    c.insert("pods".into(), "110".into());
    c.insert("hugepages-2Mi".into(), "0".into());
    c
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// The labels the node registers with.
pub fn labels(cfg: &NodeConfig) -> BTreeMap<String, String> {
    let mut l = cfg.labels.clone();
    l.insert("kubernetes.io/hostname".into(), cfg.name.clone());
    l.insert("kubernetes.io/os".into(), "linux".into());
    l.insert("kubernetes.io/arch".into(), arch().into());
    l.insert("beta.kubernetes.io/os".into(), "linux".into());
    l.insert("beta.kubernetes.io/arch".into(), arch().into());
    if cfg.control_plane {
        l.insert(
            "node-role.kubernetes.io/control-plane".into(),
            "true".into(),
        );
    }
    l
}

/// What the runtime said about its health at the last check.
#[derive(Debug, Clone, Default)]
pub struct RuntimeHealth {
    /// `containerd://1.6.20`.
    pub version: String,
    /// Why the node is not ready (`None` when it is).
    pub not_ready: Option<String>,
}

/// Asks the runtime for its version and conditions.
pub async fn runtime_health(rt: &dyn ContainerRuntime) -> RuntimeHealth {
    let version = match rt.version().await {
        Ok((name, v)) => format!("{name}://{v}"),
        Err(e) => {
            return RuntimeHealth {
                version: String::new(),
                not_ready: Some(format!("container runtime is down: {e}")),
            }
        }
    };
    let not_ready = match rt.status().await {
        Ok(conds) => conds.into_iter().find(|(_, ok, _)| !ok).map(|(ty, _, msg)| {
            if ty == "NetworkReady" {
                format!("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:{msg}")
            } else {
                format!("container runtime not ready: {ty}=false: {msg}")
            }
        }),
        Err(e) => Some(format!("container runtime status check may not have completed yet: {e}")),
    };
    RuntimeHealth { version, not_ready }
}

/// The node status (capacity, conditions, addresses, nodeInfo, images).
pub fn node_status(
    cfg: &NodeConfig,
    ip: &str,
    health: &RuntimeHealth,
    since: &BTreeMap<String, (String, String)>,
    images: &[Value],
) -> Value {
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Keep lastTransitionTime while the status stays the same.
    let cond = |ty: &str, ok: bool, reason: &str, msg: &str| {
        let status = if ok { "True" } else { "False" };
        let trans = since
            .get(ty)
            .filter(|(s, _)| s == status)
            .map(|(_, at)| at.clone())
            .unwrap_or_else(|| t.clone());
        json!({"type": ty, "status": status, "reason": reason, "message": msg,
               "lastHeartbeatTime": t, "lastTransitionTime": trans})
    };
    let ready = match &health.not_ready {
        None => cond(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
        ),
        Some(msg) => cond("Ready", false, "KubeletNotReady", msg),
    };
    let cap = capacity(&cfg.data_dir);
    json!({
        "capacity": cap,
        "allocatable": allocatable(&cap, &cfg.reserved),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.kubelet_port.unwrap_or(0)}},
        "conditions": [
            cond("MemoryPressure", false, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ready,
        ],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": read_trim("/etc/machine-id"),
            "systemUUID": read_trim("/sys/class/dmi/id/product_uuid"),
            "bootID": read_trim("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().to_string()).unwrap_or_default(),
            "osImage": os_image(),
            "containerRuntimeVersion": health.version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": arch(),
        },
        "images": images,
    })
}

/// Creates the Node (or updates its labels when it exists).
pub async fn register(client: &kube::Client, cfg: &NodeConfig) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let obj = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": cfg.name, "labels": labels(cfg),
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {},
    });
    let node: Node = serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let meta = json!({"metadata": {"labels": obj["metadata"]["labels"]}});
            nodes
                .patch(&cfg.name, &PatchParams::default(), &Patch::Merge(&meta))
                .await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Renews (or creates) the node's Lease.
pub async fn renew_lease(
    client: &kube::Client,
    node: &str,
    uid: &str,
    duration: i64,
) -> Result<()> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let patch =
        json!({"spec": {"renewTime": t, "holderIdentity": node, "leaseDurationSeconds": duration}});
    match leases
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let mut lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": duration, "renewTime": t},
            });
            if !uid.is_empty() {
                lease["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node",
                    "name": node, "uid": uid}]);
            }
            let lease: Lease = serde_json::from_value(lease).map_err(kube::Error::SerdeError)?;
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn image_list(images: Vec<k8s_cri::v1::Image>) -> Vec<Value> {
    let mut out: Vec<Value> = images
        .into_iter()
        .map(|i| {
            let mut names = i.repo_digests.clone();
            names.extend(i.repo_tags.iter().cloned());
            if names.is_empty() {
                names.push(i.id.clone());
            }
            json!({"names": names, "sizeBytes": i.size})
        })
        .collect();
    out.sort_by_key(|v| std::cmp::Reverse(v["sizeBytes"].as_u64().unwrap_or(0)));
    out.truncate(50);
    out
}

/// Registers the node, then renews the Lease every `heartbeat` and posts the node status when
/// it changes (and at least every minute). Runs until the task is dropped.
pub async fn run(client: kube::Client, cfg: NodeConfig, runtime: Arc<dyn ContainerRuntime>) {
    let mut delay = Duration::from_millis(200);
    while let Err(e) = register(&client, &cfg).await {
        tracing::error!(node = %cfg.name, "failed to register node: {e:#}");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    tracing::info!(node = %cfg.name, "registered node");
    let nodes: Api<Node> = Api::all(client.clone());
    let ip = cfg
        .node_ip
        .clone()
        .or_else(detect_node_ip)
        .unwrap_or_else(|| "127.0.0.1".into());
    let duration = (cfg.heartbeat.as_secs() as i64 * 4).max(1);
    let mut last_posted: Option<(String, Instant)> = None;
    let mut since: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut tick = tokio::time::interval(cfg.heartbeat.min(Duration::from_secs(10)));
    // Status checks run more often than the heartbeat early on, so Ready shows up quickly.
    let mut fast = tokio::time::interval(Duration::from_secs(1));
    let started = Instant::now();
    let mut next_lease = Instant::now();
    loop {
        if started.elapsed() < Duration::from_secs(60) {
            fast.tick().await;
        } else {
            tick.tick().await;
        }
        let uid = match nodes.get_opt(&cfg.name).await {
            Ok(Some(n)) => n.metadata.uid.unwrap_or_default(),
            Ok(None) => {
                // Deleted under us: register again, as the kubelet does.
                if let Err(e) = register(&client, &cfg).await {
                    tracing::error!(node = %cfg.name, "failed to register node: {e:#}");
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(node = %cfg.name, "failed to get node: {e:#}");
                continue;
            }
        };
        if Instant::now() >= next_lease {
            match renew_lease(&client, &cfg.name, &uid, duration).await {
                Ok(()) => next_lease = Instant::now() + cfg.heartbeat,
                Err(e) => tracing::warn!(node = %cfg.name, "failed to renew lease: {e:#}"),
            }
        }
        let health = runtime_health(runtime.as_ref()).await;
        let images = runtime
            .list_images()
            .await
            .map(image_list)
            .unwrap_or_default();
        let status = node_status(&cfg, &ip, &health, &since, &images);
        let mut fingerprint = status.clone();
        if let Some(conds) = fingerprint["conditions"].as_array_mut() {
            for c in conds {
                c["lastHeartbeatTime"] = Value::Null;
            }
        }
        let fingerprint = fingerprint.to_string();
        let stale = last_posted
            .as_ref()
            .is_none_or(|(f, at)| *f != fingerprint || at.elapsed() >= Duration::from_secs(60));
        if !stale {
            continue;
        }
        match nodes
            .patch_status(
                &cfg.name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await
        {
            Ok(_) => {
                for c in status["conditions"].as_array().into_iter().flatten() {
                    let ty = c["type"].as_str().unwrap_or_default().to_string();
                    let st = c["status"].as_str().unwrap_or_default().to_string();
                    let at = c["lastTransitionTime"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    since.insert(ty, (st, at));
                }
                last_posted = Some((fingerprint, Instant::now()));
            }
            Err(e) => tracing::warn!(node = %cfg.name, "failed to update node status: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_subtracts_reservations_and_eviction_thresholds() {
        let cap = BTreeMap::from([
            ("cpu".to_string(), "4".to_string()),
            ("memory".to_string(), "8388608Ki".to_string()),
            ("ephemeral-storage".to_string(), "1000000Ki".to_string()),
            ("pods".to_string(), "110".to_string()),
        ]);
        let none = allocatable(&cap, &BTreeMap::new());
        assert_eq!(none["cpu"], "4");
        assert_eq!(none["memory"], "8286208Ki");
        assert_eq!(none["ephemeral-storage"], "921600000");
        assert_eq!(none["pods"], "110");
        let reserved = BTreeMap::from([
            ("cpu".to_string(), "500m".to_string()),
            ("memory".to_string(), "1Gi".to_string()),
        ]);
        let r = allocatable(&cap, &reserved);
        assert_eq!(r["cpu"], "3500m");
        assert_eq!(r["memory"], "7237632Ki");
    }

    #[test]
    fn capacity_and_labels() {
        let cap = capacity(Path::new("/"));
        assert_eq!(cap["pods"], "110");
        assert!(cap["cpu"].parse::<u32>().unwrap() >= 1);
        assert!(cap["memory"].ends_with("Ki"));
        let cfg = NodeConfig {
            name: "n1".into(),
            node_ip: None,
            labels: BTreeMap::new(),
            control_plane: true,
            data_dir: "/".into(),
            heartbeat: Duration::from_secs(10),
            reserved: BTreeMap::new(),
            kubelet_port: None,
        };
        let l = labels(&cfg);
        assert_eq!(l["kubernetes.io/hostname"], "n1");
        assert!(l.contains_key("node-role.kubernetes.io/control-plane"));
        let st = node_status(
            &cfg,
            "10.0.0.1",
            &RuntimeHealth::default(),
            &BTreeMap::new(),
            &[],
        );
        assert_eq!(st["conditions"][3]["type"], "Ready");
        assert_eq!(st["conditions"][3]["status"], "True");
        let h = RuntimeHealth {
            version: "containerd://1".into(),
            not_ready: Some("x".into()),
        };
        let st = node_status(&cfg, "10.0.0.1", &h, &BTreeMap::new(), &[]);
        assert_eq!(st["conditions"][3]["reason"], "KubeletNotReady");
    }
}
