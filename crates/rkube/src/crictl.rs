//! `rkube crictl`: node-level debugging against the node's CRI socket, with crictl-like
//! output (ps, pods, images, inspect, logs, exec, stats, info). IDs may be given as any
//! unique prefix, as crictl accepts them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_cri::v1 as cri;
use rkube_kubelet::runtime::{ContainerRuntime, CriRuntime};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct CrictlArgs {
    /// The data dir of the server or agent whose containerd to use
    #[arg(long, default_value = "/var/lib/rkube", global = true)]
    data_dir: PathBuf,
    /// Use this CRI endpoint (unix:///path.sock) instead of the data dir's containerd
    #[arg(long, short = 'r', global = true)]
    runtime_endpoint: Option<String>,
    #[command(subcommand)]
    cmd: CrictlCmd,
}

#[derive(clap::Subcommand, Debug)]
enum CrictlCmd {
    /// List containers (running ones unless -a)
    Ps {
        /// Show all containers, exited ones too
        #[arg(short, long)]
        all: bool,
        /// Only print container IDs
        #[arg(short, long)]
        quiet: bool,
        /// Only containers with this name (a substring)
        #[arg(long)]
        name: Option<String>,
    },
    /// List pod sandboxes
    Pods {
        /// Only print pod IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// List images
    Images {
        /// Only print image IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Show a container's status as JSON
    Inspect {
        /// Container ID (or a unique prefix)
        id: String,
    },
    /// Show a pod sandbox's status as JSON
    Inspectp {
        /// Pod ID (or a unique prefix)
        id: String,
    },
    /// Print a container's log
    Logs {
        /// Container ID (or a unique prefix)
        id: String,
        /// Only the last N lines
        #[arg(long)]
        tail: Option<usize>,
        /// Show timestamps
        #[arg(short, long)]
        timestamps: bool,
    },
    /// Run a command in a running container (no TTY) and exit with its code
    Exec {
        /// Container ID (or a unique prefix)
        id: String,
        /// Give up after this many seconds
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// The command and its arguments
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Show CPU and memory use of containers
    Stats,
    /// Show the runtime's version and conditions
    Info,
}

fn ago(ns: i64) -> String {
    let then = chrono::DateTime::from_timestamp_nanos(ns);
    let secs = (chrono::Utc::now() - then).num_seconds().max(0);
    let (n, unit) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86399 => (secs / 3600, "hour"),
        _ => (secs / 86400, "day"),
    };
    match (n, unit) {
        (0 | 1, "second") => "Less than a second ago".to_string(),
        (1, u) => format!("About a{} {u} ago", if u == "hour" { "n" } else { "" }),
        (n, u) => format!("{n} {u}s ago"),
    }
}

fn short(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..id.len().min(13)]
}

fn container_state(s: i32) -> &'static str {
    match cri::ContainerState::try_from(s) {
        Ok(cri::ContainerState::ContainerCreated) => "Created",
        Ok(cri::ContainerState::ContainerRunning) => "Running",
        Ok(cri::ContainerState::ContainerExited) => "Exited",
        _ => "Unknown",
    }
}

/// The one ID among `ids` that `prefix` names.
fn resolve<'a>(ids: impl Iterator<Item = &'a str>, prefix: &str, what: &str) -> Result<String> {
    let hits: Vec<&str> = ids.filter(|id| id.starts_with(prefix)).collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!("{what} \"{prefix}\" not found"),
        _ => bail!("{what} ID \"{prefix}\" is ambiguous"),
    }
}

pub fn run(args: CrictlArgs) -> Result<()> {
    let endpoint = args
        .runtime_endpoint
        .clone()
        .unwrap_or_else(|| rkube_kubelet::agent::default_endpoint(&args.data_dir));
    let code = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?
        .block_on(async {
            let rt = CriRuntime::new(&endpoint)?;
            cmd(&rt, args.cmd).await
        })
        .with_context(|| format!("runtime endpoint {endpoint}"))?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

async fn cmd(rt: &CriRuntime, cmd: CrictlCmd) -> Result<i32> {
    match cmd {
        CrictlCmd::Ps { all, quiet, name } => {
            let pods = rt.list_pod_sandboxes().await?;
            let pod_name = |id: &str| {
                pods.iter()
                    .find(|p| p.id == id)
                    .and_then(|p| p.metadata.as_ref())
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            };
            let mut list = rt.list_containers().await?;
            list.retain(|c| all || c.state == cri::ContainerState::ContainerRunning as i32);
            if let Some(n) = &name {
                list.retain(|c| {
                    c.metadata
                        .as_ref()
                        .is_some_and(|m| m.name.contains(n.as_str()))
                });
            }
            list.sort_by_key(|c| std::cmp::Reverse(c.created_at));
            if !quiet {
                println!(
                    "{:<20}{:<20}{:<25}{:<10}{:<20}{:<10}{:<20}POD",
                    "CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID"
                );
            }
            for c in list {
                if quiet {
                    println!("{}", c.id);
                    continue;
                }
                let meta = c.metadata.clone().unwrap_or_default();
                let image = c.image_ref.clone();
                println!(
                    "{:<20}{:<20}{:<25}{:<10}{:<20}{:<10}{:<20}{}",
                    short(&c.id),
                    short(&image),
                    ago(c.created_at),
                    container_state(c.state),
                    meta.name,
                    meta.attempt,
                    short(&c.pod_sandbox_id),
                    pod_name(&c.pod_sandbox_id)
                );
            }
        }
        CrictlCmd::Pods { quiet } => {
            let mut pods = rt.list_pod_sandboxes().await?;
            pods.sort_by_key(|p| std::cmp::Reverse(p.created_at));
            if !quiet {
                println!(
                    "{:<20}{:<25}{:<10}{:<40}{:<20}{:<10}RUNTIME",
                    "POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT"
                );
            }
            for p in pods {
                if quiet {
                    println!("{}", p.id);
                    continue;
                }
                let meta = p.metadata.clone().unwrap_or_default();
                let state = if p.state == cri::PodSandboxState::SandboxReady as i32 {
                    "Ready"
                } else {
                    "NotReady"
                };
                let handler = if p.runtime_handler.is_empty() {
                    "(default)"
                } else {
                    p.runtime_handler.as_str()
                };
                println!(
                    "{:<20}{:<25}{:<10}{:<40}{:<20}{:<10}{}",
                    short(&p.id),
                    ago(p.created_at),
                    state,
                    meta.name,
                    meta.namespace,
                    meta.attempt,
                    handler
                );
            }
        }
        CrictlCmd::Images { quiet } => {
            let images = rt.list_images().await?;
            if !quiet {
                println!("{:<50}{:<20}{:<20}SIZE", "IMAGE", "TAG", "IMAGE ID");
            }
            for i in images {
                if quiet {
                    println!("{}", i.id);
                    continue;
                }
                let size = format!("{:.3}MB", i.size as f64 / 1e6);
                let tags: Vec<String> = if i.repo_tags.is_empty() {
                    vec!["<none>:<none>".into()]
                } else {
                    i.repo_tags.clone()
                };
                for t in tags {
                    let (repo, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), "<none>"));
                    println!("{:<50}{:<20}{:<20}{}", repo, tag, short(&i.id), size);
                }
            }
        }
        CrictlCmd::Inspect { id } => {
            let list = rt.list_containers().await?;
            let id = resolve(list.iter().map(|c| c.id.as_str()), &id, "container")?;
            let s = rt.container_status(&id).await?;
            let meta = s.metadata.clone().unwrap_or_default();
            let status = json!({
                "id": s.id,
                "metadata": {"attempt": meta.attempt, "name": meta.name},
                "state": container_state(s.state).to_uppercase().replace("RUNNING", "CONTAINER_RUNNING")
                    .replace("EXITED", "CONTAINER_EXITED").replace("CREATED", "CONTAINER_CREATED"),
                "createdAt": rkube_kubelet::pod::status::rfc3339(s.created_at),
                "startedAt": rkube_kubelet::pod::status::rfc3339(s.started_at),
                "finishedAt": rkube_kubelet::pod::status::rfc3339(s.finished_at),
                "exitCode": s.exit_code,
                "image": {"image": s.image.map(|i| i.image).unwrap_or_default()},
                "imageRef": s.image_ref,
                "reason": s.reason,
                "message": s.message,
                "labels": s.labels,
                "annotations": s.annotations,
                "mounts": s.mounts.iter().map(|m| json!({
                    "containerPath": m.container_path, "hostPath": m.host_path, "readonly": m.readonly
                })).collect::<Vec<_>>(),
                "logPath": s.log_path,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"status": status}))?
            );
        }
        CrictlCmd::Inspectp { id } => {
            let list = rt.list_pod_sandboxes().await?;
            let id = resolve(list.iter().map(|p| p.id.as_str()), &id, "pod sandbox")?;
            let s = rt.pod_sandbox_status(&id).await?;
            let meta = s.metadata.clone().unwrap_or_default();
            let status = json!({
                "id": s.id,
                "metadata": {"attempt": meta.attempt, "name": meta.name, "namespace": meta.namespace, "uid": meta.uid},
                "state": if s.state == cri::PodSandboxState::SandboxReady as i32 { "SANDBOX_READY" } else { "SANDBOX_NOTREADY" },
                "createdAt": rkube_kubelet::pod::status::rfc3339(s.created_at),
                "network": {"ip": s.network.as_ref().map(|n| n.ip.clone()).unwrap_or_default()},
                "labels": s.labels,
                "annotations": s.annotations,
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"status": status}))?
            );
        }
        CrictlCmd::Logs {
            id,
            tail,
            timestamps,
        } => {
            let list = rt.list_containers().await?;
            let id = resolve(list.iter().map(|c| c.id.as_str()), &id, "container")?;
            let s = rt.container_status(&id).await?;
            if s.log_path.is_empty() {
                bail!("container {id} has no log file");
            }
            let raw = std::fs::read(&s.log_path).with_context(|| format!("read {}", s.log_path))?;
            let (text, _) =
                rkube_apiserver::rest::logs::decode_cri(&raw, timestamps, &mut Vec::new());
            let text = String::from_utf8_lossy(&text);
            let lines: Vec<&str> = text.lines().collect();
            let from = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
            for l in &lines[from..] {
                println!("{l}");
            }
        }
        CrictlCmd::Exec { id, timeout, cmd } => {
            let list = rt.list_containers().await?;
            let id = resolve(list.iter().map(|c| c.id.as_str()), &id, "container")?;
            let (out, err, code) = rt.exec_sync(&id, cmd, Duration::from_secs(timeout)).await?;
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
            std::io::stderr().write_all(&err)?;
            return Ok(code);
        }
        CrictlCmd::Stats => {
            let list = rt.list_containers().await?;
            let stats = rt.container_stats().await?;
            println!(
                "{:<20}{:<20}{:<10}{:<12}{:<12}INODES",
                "CONTAINER", "NAME", "CPU %", "MEM", "DISK"
            );
            // CPU % from two samples a second apart, as crictl does.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let later = rt.container_stats().await?;
            for s in &later {
                let attrs = s.attributes.clone().unwrap_or_default();
                let name = attrs.metadata.map(|m| m.name).unwrap_or_else(|| {
                    list.iter()
                        .find(|c| c.id == attrs.id)
                        .and_then(|c| c.metadata.as_ref().map(|m| m.name.clone()))
                        .unwrap_or_default()
                });
                let cpu = |st: &cri::ContainerStats| {
                    st.cpu.as_ref().map(|c| {
                        (
                            c.timestamp,
                            c.usage_core_nano_seconds
                                .as_ref()
                                .map(|u| u.value)
                                .unwrap_or(0),
                        )
                    })
                };
                let before = stats.iter().find(|b| {
                    b.attributes.as_ref().map(|a| a.id.as_str()) == Some(attrs.id.as_str())
                });
                let pct = match (before.and_then(cpu), cpu(s)) {
                    (Some((t0, u0)), Some((t1, u1))) if t1 > t0 => {
                        (u1.saturating_sub(u0)) as f64 / (t1 - t0) as f64 * 100.0
                    }
                    _ => 0.0,
                };
                let mem = s
                    .memory
                    .as_ref()
                    .and_then(|m| m.working_set_bytes.as_ref())
                    .map(|v| v.value)
                    .unwrap_or(0);
                let (disk, inodes) = s
                    .writable_layer
                    .as_ref()
                    .map(|w| {
                        (
                            w.used_bytes.as_ref().map(|v| v.value).unwrap_or(0),
                            w.inodes_used.as_ref().map(|v| v.value).unwrap_or(0),
                        )
                    })
                    .unwrap_or((0, 0));
                println!(
                    "{:<20}{:<20}{:<10.2}{:<12}{:<12}{}",
                    short(&attrs.id),
                    name,
                    pct,
                    bytes(mem),
                    bytes(disk),
                    inodes
                );
            }
        }
        CrictlCmd::Info => {
            let (name, version) = rt.version().await?;
            let conditions: Vec<_> = rt
                .status()
                .await?
                .into_iter()
                .map(
                    |(ty, ok, msg)| json!({"type": ty, "status": ok, "reason": "", "message": msg}),
                )
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "runtimeName": name,
                    "runtimeVersion": version,
                    "status": {"conditions": conditions},
                }))?
            );
        }
    }
    Ok(0)
}

fn bytes(b: u64) -> String {
    match b {
        0..=1023 => format!("{b}B"),
        1024..=1_048_575 => format!("{:.1}kB", b as f64 / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1}MB", b as f64 / 1_048_576.0),
        _ => format!("{:.1}GB", b as f64 / 1_073_741_824.0),
    }
}
