//! The node agent of `rkube server` (unless `--disable-agent`): the kubelet on containerd, the
//! nftables service proxy and the cluster DNS, wired together. DNS listens on the node IP; the
//! selectorless `kube-system/kube-dns` Service (the service CIDR's 10th address) points at it
//! through an EndpointSlice and Endpoints, so pods reach it through the proxy like any Service.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// What runs, and how to stop it.
pub struct NodeAgent {
    kubelet: rkube_kubelet::agent::Agent,
    proxy: rkube_proxy::Handle,
    /// Only on the server's node; other nodes reach it through the kube-dns Service.
    dns: Option<rkube_dns::Dns>,
}

/// Options the agent takes from `rkube server`.
pub struct Options<'a> {
    pub data_dir: &'a Path,
    pub node_name: String,
    pub node_ip: Ipv4Addr,
    pub cluster_cidr: &'a str,
    pub service_cidr: &'a str,
    pub container_runtime_endpoint: Option<String>,
    pub static_pod_path: std::path::PathBuf,
    pub registry_config: Option<std::path::PathBuf>,
    /// The server's own node: runs the cluster DNS and carries the control-plane role.
    pub server: bool,
    /// kube-reserved + system-reserved.
    pub reserved: std::collections::BTreeMap<String, String>,
    /// The kubelet server's port, when this node runs one.
    pub kubelet_port: Option<u16>,
}

/// Parses `cpu=250m,memory=500Mi` (for `--kube-reserved` and `--system-reserved`).
pub fn parse_reserved(s: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for pair in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not RESOURCE=QUANTITY"))?;
        if !matches!(k, "cpu" | "memory" | "ephemeral-storage" | "pid") {
            return Err(format!(
                "unsupported resource {k:?} (cpu, memory, ephemeral-storage, pid)"
            ));
        }
        if rkube_api::quantity::Quantity::parse(v).is_none() {
            return Err(format!("invalid quantity {v:?} for {k}"));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The sum of reservations, per resource.
pub fn sum_reserved(
    parts: &[Option<std::collections::BTreeMap<String, String>>],
) -> std::collections::BTreeMap<String, String> {
    let mut nanos: std::collections::BTreeMap<String, i128> = Default::default();
    for m in parts.iter().flatten() {
        for (k, v) in m {
            if let Some(q) = rkube_api::quantity::Quantity::parse(v) {
                *nanos.entry(k.clone()).or_default() += q.nanos;
            }
        }
    }
    nanos
        .into_iter()
        .map(|(k, n)| (k, format!("{}n", n)))
        .collect()
}

/// The `n`th address of an IPv4 CIDR (`10.43.0.0/16`, 10 → 10.43.0.10).
pub fn nth_address(cidr: &str, n: u32) -> Result<Ipv4Addr> {
    let (addr, _) = cidr
        .split_once('/')
        .with_context(|| format!("{cidr} is not a CIDR"))?;
    let base: Ipv4Addr = addr
        .parse()
        .with_context(|| format!("{cidr} is not an IPv4 CIDR"))?;
    Ok(Ipv4Addr::from(u32::from(base) + n))
}

/// Creates or refreshes `kube-system/kube-dns` and its endpoints at `dns_ip` → `node_ip:53`.
async fn publish_dns_service(
    client: &kube::Client,
    dns_ip: Ipv4Addr,
    node_ip: Ipv4Addr,
) -> Result<()> {
    let pp = PatchParams::apply("rkube-server").force();
    let ports = json!([
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
    ]);
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": dns_ip.to_string(), "ports": ports},
    });
    Api::<Service>::namespaced(client.clone(), "kube-system")
        .patch("kube-dns", &pp, &Patch::Apply(&svc))
        .await
        .context("create the kube-dns service")?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube-dns-node", "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns",
                       "endpointslice.kubernetes.io/managed-by": "rkube-server"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [node_ip.to_string()],
                       "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
    });
    Api::<EndpointSlice>::namespaced(client.clone(), "kube-system")
        .patch("kube-dns-node", &pp, &Patch::Apply(&slice))
        .await
        .context("publish the kube-dns endpoint slice")?;
    let eps = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "subsets": [{"addresses": [{"ip": node_ip.to_string()}],
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}],
    });
    Api::<Endpoints>::namespaced(client.clone(), "kube-system")
        .patch("kube-dns", &pp, &Patch::Apply(&eps))
        .await
        .context("publish the kube-dns endpoints")?;
    Ok(())
}

/// Starts DNS, the proxy and the kubelet (in that order: pods need the first two).
pub async fn start(
    client: kube::Client,
    dns_client: kube::Client,
    o: Options<'_>,
) -> Result<NodeAgent> {
    let dns_ip = nth_address(o.service_cidr, 10)?;
    let dns = if o.server {
        let dns = rkube_dns::spawn(
            dns_client.clone(),
            rkube_dns::Config {
                listen: vec![SocketAddr::new(IpAddr::V4(o.node_ip), 53)],
                ..Default::default()
            },
        )
        .with_context(|| format!("start cluster dns on {}:53", o.node_ip))?;
        publish_dns_service(&dns_client, dns_ip, o.node_ip).await?;
        Some(dns)
    } else {
        None
    };

    let mut pc = rkube_proxy::Config::new(o.node_name.clone());
    pc.node_ips = vec![o.node_ip];
    pc.cluster_cidr = Some(o.cluster_cidr.parse().context("parse --cluster-cidr")?);
    pc.service_cidr = Some(o.service_cidr.parse().context("parse --service-cidr")?);
    let proxy = rkube_proxy::spawn(client.clone(), pc).context("start the service proxy")?;

    let mut kc = rkube_kubelet::agent::AgentConfig::new(o.data_dir, o.node_name);
    kc.node_ip = Some(o.node_ip.to_string());
    kc.control_plane = o.server;
    kc.container_runtime_endpoint = o.container_runtime_endpoint;
    kc.static_pod_path = Some(o.static_pod_path);
    kc.registry_config = o.registry_config;
    kc.reserved = o.reserved;
    kc.kubelet_port = o.kubelet_port;
    kc.cluster_dns = vec![dns_ip.to_string()];
    let kubelet = rkube_kubelet::agent::start(client, kc)
        .await
        .context("start the kubelet")?;
    Ok(NodeAgent {
        kubelet,
        proxy,
        dns,
    })
}

impl NodeAgent {
    /// The kubelet's container runtime.
    pub fn runtime(&self) -> std::sync::Arc<dyn rkube_kubelet::runtime::ContainerRuntime> {
        self.kubelet.runtime()
    }

    /// Stops the kubelet (and its containerd), removes the proxy's rules, stops DNS.
    pub async fn shutdown(self) {
        self.kubelet.shutdown().await;
        if let Err(e) = self.proxy.shutdown().await {
            tracing::error!("failed to remove the service proxy rules: {e:#}");
        }
        if let Some(dns) = self.dns {
            dns.abort();
        }
    }
}

/// The local node's CRI log files (`DATA/agent/logs/pods/<ns>_<pod>_<uid>/<container>/<attempt>.log`,
/// the layout the kubelet gives containerd), for the API server's `pods/log`.
pub struct LocalLogs {
    pub node: String,
    pub root: std::path::PathBuf,
}

impl rkube_apiserver::rest::logs::PodLogs for LocalLogs {
    fn node(&self) -> &str {
        &self.node
    }

    fn file(
        &self,
        namespace: &str,
        pod: &str,
        uid: &str,
        container: &str,
        previous: bool,
    ) -> Option<std::path::PathBuf> {
        let dir = self
            .root
            .join(format!("{namespace}_{pod}_{uid}"))
            .join(container);
        let mut attempts: Vec<u64> = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        attempts.sort_unstable();
        let pick = if previous {
            attempts.iter().rev().nth(1)
        } else {
            attempts.last()
        }?;
        Some(dir.join(format!("{pick}.log")))
    }
}

/// The local node's streaming endpoints (the runtime's exec/attach/port-forward URLs), for
/// the API server's `pods/exec|attach|portforward`.
pub struct LocalStreams {
    pub node: String,
    pub runtime: std::sync::Arc<dyn rkube_kubelet::runtime::ContainerRuntime>,
}

#[async_trait::async_trait]
impl rkube_apiserver::rest::streams::PodStreams for LocalStreams {
    fn node(&self) -> &str {
        &self.node
    }

    async fn url(
        &self,
        req: rkube_apiserver::rest::streams::StreamRequest,
    ) -> Result<String, String> {
        use rkube_apiserver::rest::streams::StreamKind;
        use rkube_kubelet::streams;
        let rt = self.runtime.as_ref();
        match req.kind {
            StreamKind::Exec { command } => {
                streams::exec_url(
                    rt,
                    &req.uid,
                    &req.container,
                    command,
                    req.tty,
                    req.stdin,
                    req.stdout,
                    req.stderr,
                )
                .await
            }
            StreamKind::Attach => {
                streams::attach_url(
                    rt,
                    &req.uid,
                    &req.container,
                    req.tty,
                    req.stdin,
                    req.stdout,
                    req.stderr,
                )
                .await
            }
            StreamKind::PortForward { ports } => {
                streams::port_forward_url(rt, &req.uid, ports).await
            }
        }
    }
}

/// The local kubelet's HTTP endpoints for the API server's `nodes/{node}/proxy/…`:
/// `/healthz` and `/stats/summary`.
pub struct LocalKubelet {
    pub node: String,
    pub runtime: std::sync::Arc<dyn rkube_kubelet::runtime::ContainerRuntime>,
    pub started: String,
    pub samples: rkube_kubelet::stats::Samples,
}

#[async_trait::async_trait]
impl rkube_apiserver::rest::streams::NodeProxy for LocalKubelet {
    fn node(&self) -> &str {
        &self.node
    }

    async fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        let text = |code: u16, body: &str| {
            (
                code,
                "text/plain; charset=utf-8".to_string(),
                body.as_bytes().to_vec(),
            )
        };
        match path.trim_matches('/') {
            "healthz" => text(200, "ok"),
            "stats/summary" => {
                match rkube_kubelet::stats::summary(
                    self.runtime.as_ref(),
                    &self.samples,
                    &self.node,
                    &self.started,
                )
                .await
                {
                    Ok(v) => (
                        200,
                        "application/json".into(),
                        serde_json::to_vec_pretty(&v).unwrap_or_default(),
                    ),
                    Err(e) => text(500, &format!("failed to get the stats summary: {e}")),
                }
            }
            _ => text(404, "404 page not found\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_parse_and_sum() {
        let k = parse_reserved("cpu=250m").unwrap();
        let s = parse_reserved("cpu=250m,memory=1Gi").unwrap();
        let sum = sum_reserved(&[Some(k), Some(s), None]);
        let alloc = rkube_kubelet::node::allocatable(
            &std::collections::BTreeMap::from([
                ("cpu".to_string(), "2".to_string()),
                ("memory".to_string(), "4Gi".to_string()),
            ]),
            &sum,
        );
        assert_eq!(alloc["cpu"], "1500m", "{sum:?}");
        assert_eq!(alloc["memory"], format!("{}Ki", (3 << 20) - 100 * 1024));
        assert!(parse_reserved("gpu=1")
            .unwrap_err()
            .contains("unsupported resource"));
        assert!(parse_reserved("cpu=lots")
            .unwrap_err()
            .contains("invalid quantity"));
    }
}
