//! `rkube agent`: joins a node agent to a server. Before sending its token's secret, the agent
//! fetches the server's CA from `/cacerts` and checks it against the hash in the token; every
//! later request trusts only that CA. With `--fake-nodes N` it runs fake nodes; otherwise it
//! runs a real node: the kubelet on its own containerd, the service proxy and the host-gw
//! routes to the other nodes' pod networks (pods find the cluster DNS through the kube-dns
//! Service, served on the server's node).

use anyhow::{bail, Context, Result};
use std::time::Duration;

use crate::token::{sha256_hex, JoinToken};

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// URL of the server's API, e.g. https://10.0.0.1:6443
    #[arg(long, env = "RKUBE_URL")]
    server: String,
    /// Join token (the server's DATA_DIR/token)
    #[arg(long, env = "RKUBE_TOKEN")]
    token: String,
    #[command(flatten)]
    fake: crate::fakeopts::FakeNodeArgs,
    /// Where the agent keeps containerd, images, pod volumes and logs (real node)
    #[arg(long, default_value = "/var/lib/rkube-agent")]
    data_dir: std::path::PathBuf,
    /// Node name (default: the host name)
    #[arg(long)]
    node_name: Option<String>,
    /// The node's InternalIP (default: the address of the default route's interface)
    #[arg(long)]
    node_ip: Option<std::net::Ipv4Addr>,
    /// The cluster's pod network (as given to the server)
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// The cluster's service network (as given to the server; DNS at its .10)
    #[arg(long, default_value = "10.43.0.0/16")]
    service_cidr: String,
    /// Use this CRI runtime (unix:///path.sock) instead of starting containerd
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
    /// k3s-style registries.yaml for the node's containerd
    #[arg(long)]
    registry_config: Option<std::path::PathBuf>,
    /// Run the Pod manifests in this directory as static pods (default: DATA_DIR/manifests)
    #[arg(long)]
    static_pod_path: Option<std::path::PathBuf>,
    /// Port of the kubelet's HTTPS server (logs, exec, attach, port-forward, stats for the API
    /// server), on the node IP
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// Resources set aside for Kubernetes daemons (e.g. cpu=250m,memory=500Mi)
    #[arg(long, value_parser = crate::node_agent::parse_reserved)]
    kube_reserved: Option<std::collections::BTreeMap<String, String>>,
    /// Resources set aside for the operating system
    #[arg(long, value_parser = crate::node_agent::parse_reserved)]
    system_reserved: Option<std::collections::BTreeMap<String, String>>,
}

pub fn run(args: AgentArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    rt.block_on(serve(args))
}

/// The server's CA certificate (PEM), checked against the token's hash when it has one.
async fn fetch_ca(url: &http::Uri, token: &JoinToken) -> Result<String> {
    let mut cfg = kube::Config::new(url.clone());
    cfg.accept_invalid_certs = true;
    cfg.connect_timeout = Some(Duration::from_secs(10));
    let client = kube::Client::try_from(cfg).context("build bootstrap client")?;
    let req = http::Request::get("/cacerts")
        .body(Vec::new())
        .context("build /cacerts request")?;
    let pem = client
        .request_text(req)
        .await
        .with_context(|| format!("fetch {url}/cacerts"))?;
    if let Some(want) = &token.ca_hash {
        let got = sha256_hex(pem.as_bytes());
        if &got != want {
            bail!("server CA hash {got} does not match the token's {want}: refusing to send the token");
        }
    }
    Ok(pem)
}

/// A client trusting only `ca_pem` and sending the token's secret.
pub fn client_for(url: &http::Uri, ca_pem: &str, secret: &str) -> Result<kube::Client> {
    let ders = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parse server CA")?;
    if ders.is_empty() {
        bail!("server sent no CA certificate");
    }
    let mut cfg = kube::Config::new(url.clone());
    cfg.root_cert = Some(ders.into_iter().map(|d| d.to_vec()).collect());
    cfg.auth_info.token = Some(secrecy::SecretString::from(secret.to_string()));
    kube::Client::try_from(cfg).context("build api client")
}

async fn serve(args: AgentArgs) -> Result<()> {
    let url: http::Uri = args
        .server
        .parse()
        .with_context(|| format!("parse --server {}", args.server))?;
    let token = JoinToken::parse(&args.token).context("parse --token")?;
    let fake = args.fake.config(&crate::server::hostname())?;
    if token.ca_hash.is_none() {
        tracing::warn!("token has no CA hash: the server's CA is trusted without a check");
    }
    let ca = fetch_ca(&url, &token).await?;
    let client = client_for(&url, &ca, &token.secret)?;
    client
        .apiserver_version()
        .await
        .with_context(|| format!("reach {url}"))?;
    if let Some(fake) = fake {
        tracing::info!(server = %url, count = fake.count, "joined; starting fake nodes");
        rkube_kubelet::fake::spawn(client, fake);
        crate::server::wait_for_signal().await?;
        tracing::info!("shutting down");
        return Ok(());
    }
    let node_ip = match args.node_ip {
        Some(ip) => ip,
        None => rkube_kubelet::node::detect_node_ip()
            .and_then(|ip| ip.parse().ok())
            .context("cannot find this node's IP (no default route): pass --node-ip")?,
    };
    let node_name = args
        .node_name
        .clone()
        .unwrap_or_else(crate::server::hostname);
    let node_name_for_server = node_name.clone();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create {}", args.data_dir.display()))?;
    let reserved = crate::node_agent::sum_reserved(&[
        args.kube_reserved.clone(),
        args.system_reserved.clone(),
    ]);
    tracing::info!(server = %url, node = %node_name, ip = %node_ip, reserved = ?reserved, "joined; starting the node agent");
    let agent = crate::node_agent::start(
        client.clone(),
        client,
        crate::node_agent::Options {
            data_dir: &args.data_dir,
            node_name,
            node_ip,
            cluster_cidr: &args.cluster_cidr,
            service_cidr: &args.service_cidr,
            container_runtime_endpoint: args.container_runtime_endpoint.clone(),
            static_pod_path: args
                .static_pod_path
                .clone()
                .unwrap_or_else(|| args.data_dir.join("manifests")),
            registry_config: args.registry_config.clone(),
            reserved,
            server: false,
            kubelet_port: Some(args.kubelet_port),
        },
    )
    .await?;
    let kubelet_server = crate::kubelet_server::spawn(
        std::net::SocketAddr::new(std::net::IpAddr::V4(node_ip), args.kubelet_port),
        crate::kubelet_server::Kubelet {
            logs: std::sync::Arc::new(crate::node_agent::LocalLogs {
                node: node_name_for_server.clone(),
                root: args.data_dir.join("agent/logs/pods"),
            }),
            streams: std::sync::Arc::new(crate::node_agent::LocalStreams {
                node: node_name_for_server.clone(),
                runtime: agent.runtime(),
            }),
            stats: std::sync::Arc::new(crate::node_agent::LocalKubelet {
                node: node_name_for_server,
                runtime: agent.runtime(),
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                samples: Default::default(),
            }),
            token: token.secret.clone(),
        },
    )
    .await?;
    crate::server::wait_for_signal().await?;
    tracing::info!("shutting down");
    kubelet_server.abort();
    agent.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: AgentArgs,
    }

    #[test]
    fn reservation_flags_parse() {
        let c = Cli::try_parse_from([
            "rkube",
            "--server",
            "https://s:6443",
            "--token",
            "t",
            "--kube-reserved",
            "cpu=250m",
            "--system-reserved",
            "cpu=250m,memory=1Gi",
        ])
        .unwrap();
        assert_eq!(c.a.kube_reserved.unwrap()["cpu"], "250m");
        assert_eq!(c.a.system_reserved.unwrap()["memory"], "1Gi");
    }
}
