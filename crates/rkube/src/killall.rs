//! `rkube killall`: leaves a node as it was before `rkube server`/`rkube agent` ran there (as
//! k3s's `k3s-killall.sh`), once the server or agent has stopped. Pods keep running when a
//! server stops (so a restart picks them up again); this stops them for good: every pod
//! sandbox through the node's own containerd (so the CNI plugins release the pod IPs and their
//! masquerade rules), then whatever processes are left under the data dir, the service proxy's
//! nftables table, the pod bridge, the host-gw routes into the cluster CIDR and the mounts
//! under the data dir. The data (store, certificates, images) stays.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use rkube_kubelet::containerd::{Containerd, ContainerdConfig};
use rkube_kubelet::runtime::{ContainerRuntime, CriRuntime};

#[derive(clap::Args, Debug)]
pub struct KillallArgs {
    /// The data dir of the stopped server or agent
    #[arg(long, default_value = "/var/lib/rkube")]
    data_dir: PathBuf,
    /// The pod bridge to delete
    #[arg(long, default_value = "rkube0")]
    cni_bridge: String,
    /// Routes into this range (the host-gw routes to other nodes' podCIDRs) are deleted
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
}

pub fn run(args: KillallArgs) -> Result<()> {
    // Holding the data dir's lock also proves no server or agent runs on it.
    let _dd = crate::datadir::DataDir::open(&args.data_dir)
        .context("rkube killall needs the server or agent stopped first (Ctrl-C or SIGTERM it)")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    let agent_dir = args.data_dir.join("agent");
    if agent_dir.join("containerd").is_dir() {
        rt.block_on(stop_pods(&agent_dir))?;
    } else {
        tracing::info!(dir = %agent_dir.display(), "no node agent state: no pods to stop");
    }
    let killed = kill_processes_under(&args.data_dir);
    if killed > 0 {
        tracing::info!(count = killed, "killed leftover processes");
    }
    rkube_proxy::cleanup().context("remove the service proxy's nftables table")?;
    tracing::info!("removed the service proxy's nftables table");
    if Path::new("/sys/class/net").join(&args.cni_bridge).exists() {
        ip(&["link", "delete", &args.cni_bridge])?;
        tracing::info!(bridge = %args.cni_bridge, "deleted the pod bridge");
    }
    for route in cluster_routes(&args.cluster_cidr)? {
        ip(&["route", "del", &route])?;
        tracing::info!(%route, "deleted pod network route");
    }
    let unmounted = unmount_under(&args.data_dir);
    if unmounted > 0 {
        tracing::info!(count = unmounted, "unmounted");
    }
    println!(
        "rkube killall: done; the data in {} is kept",
        args.data_dir.display()
    );
    Ok(())
}

/// Stops and removes every pod sandbox with the node's containerd (started for the purpose).
async fn stop_pods(agent_dir: &Path) -> Result<()> {
    let cfg = ContainerdConfig::new(agent_dir)?;
    tracing::info!("starting the node's containerd to stop its pods");
    let ctrd = Containerd::start(cfg).await?;
    let runtime = CriRuntime::new(&ctrd.endpoint())?;
    let sandboxes = runtime.list_pod_sandboxes().await?;
    for sb in &sandboxes {
        let name = sb
            .metadata
            .as_ref()
            .map(|m| format!("{}/{}", m.namespace, m.name))
            .unwrap_or_default();
        if let Err(e) = runtime.stop_pod_sandbox(&sb.id).await {
            tracing::warn!(pod = %name, "failed to stop pod sandbox: {e:#}");
            continue;
        }
        if let Err(e) = runtime.remove_pod_sandbox(&sb.id).await {
            tracing::warn!(pod = %name, "failed to remove pod sandbox: {e:#}");
            continue;
        }
        tracing::info!(pod = %name, "stopped and removed pod");
    }
    tracing::info!(count = sandboxes.len(), "pods stopped; stopping containerd");
    ctrd.shutdown().await;
    Ok(())
}

/// Kills (SIGKILL) the data dir's containerd and shims (their command lines name `dir`) and
/// every process below them (pause and container processes); returns how many.
fn kill_processes_under(dir: &Path) -> usize {
    let dir = dir.display().to_string();
    let me = std::process::id();
    let mut procs: Vec<(u32, u32, String)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let ppid = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(String::from))
            })
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        procs.push((pid, ppid, cmdline));
    }
    let mut doomed: std::collections::BTreeSet<u32> = procs
        .iter()
        .filter(|(pid, _, c)| *pid != me && c.contains(&dir) && c.contains("containerd"))
        .map(|(pid, _, _)| *pid)
        .collect();
    loop {
        let before = doomed.len();
        for (pid, ppid, _) in &procs {
            if doomed.contains(ppid) {
                doomed.insert(*pid);
            }
        }
        if doomed.len() == before {
            break;
        }
    }
    doomed.remove(&me);
    for pid in &doomed {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    doomed.len()
}

/// The routes (`ip route` destinations) inside `cidr` that go via a gateway: the host-gw
/// routes rkube adds to other nodes' podCIDRs.
fn cluster_routes(cidr: &str) -> Result<Vec<String>> {
    let range: rkube_proxy::Ipv4Cidr = cidr
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid --cluster-cidr {cidr:?}: {e}"))?;
    let out = Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
        .context("run ip (Debian package iproute2)")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" via "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|dst| {
            dst.split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .is_some_and(|a| range.contains(a))
        })
        .map(String::from)
        .collect())
}

/// Unmounts (lazily, deepest first) everything mounted under `dir`; returns how many.
fn unmount_under(dir: &Path) -> usize {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|m| std::cmp::Reverse(m.len()));
    targets
        .iter()
        .filter(|m| {
            Command::new("umount")
                .args(["-l", m])
                .status()
                .is_ok_and(|s| s.success())
        })
        .count()
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("run ip (Debian package iproute2)")?;
    if !out.status.success() {
        anyhow::bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
