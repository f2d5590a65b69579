//! The real node agent, wired together: the supervised containerd (or an existing CRI
//! endpoint), the built-in busybox and pause images and the images folder, node registration
//! and heartbeats, the CNI config for the node's podCIDR, and the pod workers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use tokio::sync::Mutex;

use crate::containerd::{Containerd, ContainerdConfig};
use crate::error::{Error, Result};
use crate::runtime::{ContainerRuntime, CriRuntime};
use crate::{cni, images, node, pod};

/// How the node agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The data dir; the agent keeps everything under `<data_dir>/agent/`.
    pub data_dir: PathBuf,
    /// Node name (usually the host name).
    pub node_name: String,
    /// InternalIP to report (detected from the default route when `None`).
    pub node_ip: Option<String>,
    /// Label the node `node-role.kubernetes.io/control-plane` (agents inside `rkube server`).
    pub control_plane: bool,
    /// Extra node labels.
    pub node_labels: BTreeMap<String, String>,
    /// `unix:///…` of an existing CRI runtime; `None` starts and supervises containerd.
    pub container_runtime_endpoint: Option<String>,
    /// The CNI conf dir of an existing runtime (default `/etc/cni/net.d`); ignored for the
    /// supervised containerd, whose conf dir is `<data_dir>/agent/etc/cni/net.d`.
    pub cni_conf_dir: Option<PathBuf>,
    /// The pod network bridge (at most 15 characters).
    pub cni_bridge: String,
    /// Cluster DNS servers for ClusterFirst pods (empty: the host's resolv.conf).
    pub cluster_dns: Vec<String>,
    /// Cluster domain.
    pub cluster_domain: String,
    /// Write the busybox and pause image tarballs into the images folder when missing.
    pub builtin_images: bool,
    /// Lease renewal period (10 s upstream).
    pub heartbeat: Duration,
    /// Static pod manifests (`None`: no static pods).
    pub static_pod_path: Option<PathBuf>,
    /// k3s-style `registries.yaml` (mirrors, endpoints, TLS, auth) for the supervised
    /// containerd.
    pub registry_config: Option<PathBuf>,
    /// `--kube-reserved` plus `--system-reserved` (resource → quantity), taken off allocatable.
    pub reserved: BTreeMap<String, String>,
    /// The port of the node's kubelet server (published in the Node's daemonEndpoints).
    pub kubelet_port: Option<u16>,
}

impl AgentConfig {
    /// Defaults for `node_name` on `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, node_name: impl Into<String>) -> AgentConfig {
        AgentConfig {
            data_dir: data_dir.into(),
            node_name: node_name.into(),
            node_ip: None,
            control_plane: false,
            node_labels: BTreeMap::new(),
            container_runtime_endpoint: None,
            cni_conf_dir: None,
            cni_bridge: "rkube0".into(),
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            builtin_images: true,
            heartbeat: Duration::from_secs(10),
            static_pod_path: None,
            registry_config: None,
            reserved: BTreeMap::new(),
            kubelet_port: None,
        }
    }

    /// `<data_dir>/agent`.
    pub fn agent_dir(&self) -> PathBuf {
        self.data_dir.join("agent")
    }

    /// `<data_dir>/agent/images`: tarballs imported at start and when new ones appear.
    pub fn images_dir(&self) -> PathBuf {
        self.agent_dir().join("images")
    }
}

/// A running node agent. Dropping it stops its tasks and the supervised containerd.
pub struct Agent {
    containerd: Option<Containerd>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    runtime: Arc<CriRuntime>,
    endpoint: String,
}

impl Agent {
    /// The CRI endpoint in use (`unix:///…`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The CRI client.
    pub fn runtime(&self) -> Arc<dyn ContainerRuntime> {
        self.runtime.clone()
    }

    /// Stops the agent's tasks, then containerd (containers keep running, as with k3s).
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(c) = self.containerd.take() {
            c.shutdown().await;
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Waits until the runtime answers `Version`.
async fn wait_for_runtime(rt: &dyn ContainerRuntime, limit: Duration) -> Result<(String, String)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match rt.version().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(Error::Runtime(format!(
                    "no answer from the CRI runtime: {e}"
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Starts the node agent: containerd (unless an endpoint is given), images, the node, the CNI
/// config and the pod workers. Returns once the runtime answers and the images folder is
/// imported; the rest runs in background tasks.
pub async fn start(client: kube::Client, cfg: AgentConfig) -> Result<Agent> {
    let agent_dir = cfg.agent_dir();
    for d in [agent_dir.clone(), cfg.images_dir()] {
        std::fs::create_dir_all(&d).map_err(|e| Error::io("create", &d, e))?;
    }
    if cfg.builtin_images {
        if let Err(e) = images::ensure_builtin_images(&cfg.images_dir()) {
            tracing::warn!("failed to prepare the built-in images: {e:#}");
        }
    }
    let (containerd, endpoint, cni_conf_dir) = match &cfg.container_runtime_endpoint {
        Some(ep) => (
            None,
            ep.clone(),
            cfg.cni_conf_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/etc/cni/net.d")),
        ),
        None => {
            let mut cc = ContainerdConfig::new(&agent_dir)?;
            let registries = match &cfg.registry_config {
                Some(p) => crate::registries::load(p)?,
                None => Default::default(),
            };
            cc.registry =
                crate::registries::render(&registries, &agent_dir.join("containerd/certs.d"))?;
            let c = Containerd::start(cc).await?;
            let ep = c.endpoint();
            let conf = c.config().cni_conf_dir.clone();
            (Some(c), ep, conf)
        }
    };
    let runtime = Arc::new(CriRuntime::new(&endpoint)?);
    let (runtime_name, runtime_version) =
        wait_for_runtime(runtime.as_ref(), Duration::from_secs(30)).await?;
    tracing::info!(endpoint = %endpoint, "container runtime {runtime_name} {runtime_version}");
    let mut seen = BTreeMap::new();
    if let Err(e) = images::import_dir(&endpoint, &cfg.images_dir(), &mut seen).await {
        tracing::error!("failed to import images: {e:#}");
    }
    let mut tasks = Vec::new();
    {
        let (endpoint, dir) = (endpoint.clone(), cfg.images_dir());
        tasks.push(tokio::spawn(async move {
            let mut seen = seen;
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                if let Err(e) = images::import_dir(&endpoint, &dir, &mut seen).await {
                    tracing::error!("failed to import images: {e:#}");
                }
            }
        }));
    }
    let node_ip = cfg
        .node_ip
        .clone()
        .or_else(node::detect_node_ip)
        .unwrap_or_else(|| "127.0.0.1".into());
    let node_cfg = node::NodeConfig {
        name: cfg.node_name.clone(),
        node_ip: Some(node_ip.clone()),
        labels: cfg.node_labels.clone(),
        control_plane: cfg.control_plane,
        data_dir: cfg.data_dir.clone(),
        heartbeat: cfg.heartbeat,
        reserved: cfg.reserved.clone(),
        kubelet_port: cfg.kubelet_port,
    };
    tasks.push(tokio::spawn(node::run(
        client.clone(),
        node_cfg,
        runtime.clone(),
    )));
    tasks.push(tokio::spawn(write_cni_config(
        client.clone(),
        cfg.node_name.clone(),
        cni::CniConfig {
            conf_dir: cni_conf_dir.clone(),
            bridge: cfg.cni_bridge.clone(),
            pod_cidr: String::new(),
            ipam_dir: agent_dir.join("cni/networks"),
        },
    )));
    let events = rkube_client::events::Recorder::new(client.clone(), "kubelet", &cfg.node_name);
    let client_for_static = client.clone();
    let objects = pod::objects::ObjectCache::new(client.clone());
    tasks.push(objects.spawn_sweeper(Duration::from_secs(180)));
    let shared = Arc::new(pod::Shared {
        client,
        objects,
        runtime: runtime.clone(),
        cfg: pod::PodConfig {
            node_name: cfg.node_name.clone(),
            node_ip,
            log_dir: agent_dir.join("logs/pods"),
            pods_dir: agent_dir.join("pods"),
            cluster_dns: cfg.cluster_dns.clone(),
            cluster_domain: cfg.cluster_domain.clone(),
            cni_conf_dir,
            resync: Duration::from_secs(10),
        },
        runtime_name,
        crash_backoff: Mutex::default(),
        pull_backoff: Mutex::default(),
        events,
    });
    tasks.push(tokio::spawn(pod::run(shared)));
    tasks.push(tokio::spawn(crate::routes::run(
        client_for_static.clone(),
        cfg.node_name.clone(),
    )));
    if let Some(dir) = cfg.static_pod_path.clone() {
        tasks.push(tokio::spawn(crate::static_pods::run(
            client_for_static,
            cfg.node_name.clone(),
            dir,
        )));
    }
    Ok(Agent {
        containerd,
        tasks,
        runtime,
        endpoint,
    })
}

/// Writes the CNI conflist once the node has a podCIDR (and again if it changes).
async fn write_cni_config(client: kube::Client, node: String, mut cni_cfg: cni::CniConfig) {
    let nodes: Api<Node> = Api::all(client);
    loop {
        match nodes.get_opt(&node).await {
            Ok(Some(n)) => {
                let cidr = n.spec.and_then(|s| s.pod_cidr).unwrap_or_default();
                if !cidr.is_empty()
                    && (cidr != cni_cfg.pod_cidr || !cni::is_configured(&cni_cfg.conf_dir))
                {
                    cni_cfg.pod_cidr = cidr;
                    match cni::write(&cni_cfg) {
                        Ok(p) => {
                            tracing::info!(podCIDR = %cni_cfg.pod_cidr, "wrote {}", p.display())
                        }
                        Err(e) => tracing::error!("failed to write the CNI config: {e:#}"),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("failed to get node {node}: {e:#}"),
        }
        let wait = if cni::is_configured(&cni_cfg.conf_dir) {
            10
        } else {
            1
        };
        tokio::time::sleep(Duration::from_millis(wait * 500)).await;
    }
}

/// Imports image tarballs into the runtime at `endpoint` (for `rkube image import FILE…`).
pub async fn import_images(endpoint: &str, files: &[PathBuf]) -> Result<()> {
    images::import(endpoint, files).await
}

/// Lists the images of the runtime at `endpoint` (for `rkube image ls`).
pub async fn list_images(endpoint: &str) -> Result<Vec<images::ImageInfo>> {
    let rt = CriRuntime::new(endpoint)?;
    images::list(&rt).await
}

/// The CRI endpoint of the supervised containerd for a data dir.
pub fn default_endpoint(data_dir: &Path) -> String {
    format!(
        "unix://{}",
        data_dir.join("agent/containerd/containerd.sock").display()
    )
}
