//! `rkube server`: wires the data dir, PKI, store and API server together and runs until
//! SIGINT/SIGTERM.

use crate::datadir::{write_atomic, DataDir};
use crate::{kubeconfig, pki};
use anyhow::{Context, Result};
use rkube_apiserver::auth::TokenAuth;
use rkube_store::DynStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Directory for the store, certificates and kubeconfig
    #[arg(long, default_value = "/var/lib/rkube")]
    data_dir: PathBuf,
    /// Address the API server listens on
    #[arg(long, default_value = "0.0.0.0")]
    bind_address: String,
    /// Port of the HTTPS API
    #[arg(long, default_value_t = 6443)]
    https_listen_port: u16,
    /// Do not run the node agent (kubelet, proxy) on this machine
    #[arg(long)]
    disable_agent: bool,
    /// Store backend: empty for the embedded store, or etcd endpoints
    /// (http://host:2379[,http://host2:2379])
    #[arg(long, default_value = "")]
    datastore_endpoint: String,
    /// Static bearer tokens, one per line: token,user,uid,"group1,group2"
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Also write the admin kubeconfig to this path
    #[arg(long)]
    write_kubeconfig: Option<PathBuf>,
    /// Pod IP range; each node gets a podCIDR from it
    #[arg(long, default_value = "10.42.0.0/16")]
    cluster_cidr: String,
    /// Prefix length of each node's podCIDR
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// Service cluster IP range; the first address is the `kubernetes` Service's
    #[arg(long, default_value = rkube_apiserver::rest::service::DEFAULT_SERVICE_CIDR)]
    service_cidr: String,
    /// Port range for NodePort Services
    #[arg(long, default_value = rkube_apiserver::rest::service::DEFAULT_NODE_PORT_RANGE)]
    service_node_port_range: String,
    /// IP address other nodes and pods use to reach the API (default: this node's IP when
    /// listening on all addresses)
    #[arg(long)]
    advertise_address: Option<String>,
    /// Name of this node (default: the host name)
    #[arg(long)]
    node_name: Option<String>,
    /// Use this CRI runtime (unix:///path.sock) instead of starting containerd
    #[arg(long)]
    container_runtime_endpoint: Option<String>,
    /// Run the Pod manifests in this directory as static pods (default: DATA_DIR/manifests)
    #[arg(long)]
    static_pod_path: Option<std::path::PathBuf>,
    /// Resources set aside for Kubernetes daemons, taken off the node's allocatable
    /// (e.g. cpu=250m,memory=500Mi,ephemeral-storage=1Gi)
    #[arg(long, value_parser = crate::node_agent::parse_reserved)]
    kube_reserved: Option<std::collections::BTreeMap<String, String>>,
    /// Resources set aside for the operating system, taken off the node's allocatable
    #[arg(long, value_parser = crate::node_agent::parse_reserved)]
    system_reserved: Option<std::collections::BTreeMap<String, String>>,
    /// This node's InternalIP (default: the address of the default route's interface); with
    /// agents on other hosts it must be on the link they share (host-gw pod routes)
    #[arg(long)]
    node_ip: Option<std::net::Ipv4Addr>,
    /// k3s-style registries.yaml: registry mirrors and endpoints (http:// for plain-HTTP
    /// registries), TLS settings and credentials, for the node's containerd
    #[arg(long)]
    registry_config: Option<std::path::PathBuf>,
    /// Do not run the scheduler
    #[arg(long)]
    disable_scheduler: bool,
    /// Do not run the controller manager
    #[arg(long)]
    disable_controller_manager: bool,
    /// KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1, YAML or JSON): profiles,
    /// plugins, weights
    #[arg(long)]
    scheduler_config: Option<PathBuf>,
    #[command(flatten)]
    fake: crate::fakeopts::FakeNodeArgs,
}

pub fn run(args: ServerArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start tokio runtime")?;
    rt.block_on(serve(args))
}

async fn open_store(args: &ServerArgs, dir: &DataDir) -> Result<(DynStore, Option<Duration>)> {
    if args.datastore_endpoint.is_empty() {
        let path = dir.sub("db")?.join("state.redb");
        let store = rkube_store::embedded::EmbeddedStore::open(&path, Default::default())
            .with_context(|| format!("open embedded store {}", path.display()))?;
        return Ok((Arc::new(store), None));
    }
    let endpoints: Vec<String> = args
        .datastore_endpoint
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    tracing::info!("connecting to etcd at {}", endpoints.join(","));
    let store = rkube_store::etcd::EtcdStore::connect(&endpoints)
        .await
        .with_context(|| format!("connect to etcd at {}", args.datastore_endpoint))?;
    Ok((Arc::new(store), Some(Duration::from_secs(300))))
}

async fn serve(args: ServerArgs) -> Result<()> {
    let started = Instant::now();
    let range = rkube_controllers::nodeipam::RangeAllocator::new(
        &args.cluster_cidr,
        args.node_cidr_mask_size,
    )
    .context("check --cluster-cidr and --node-cidr-mask-size")?;
    let fake_nodes = args.fake.config(&hostname())?;
    if let Some(f) = &fake_nodes {
        if f.count as u64 >= u64::from(range.capacity()) {
            anyhow::bail!(
                "--cluster-cidr {} has room for {} node podCIDRs of /{}, too few for {} fake nodes \
                 and this machine: use a larger range, e.g. --cluster-cidr 100.64.0.0/10",
                args.cluster_cidr,
                range.capacity(),
                args.node_cidr_mask_size,
                f.count
            );
        }
    }
    let profiles = match &args.scheduler_config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("read scheduler config {}", p.display()))?;
            rkube_scheduler::Profiles::from_yaml(&text)
                .with_context(|| format!("parse scheduler config {}", p.display()))?
        }
        None => rkube_scheduler::Profiles::default(),
    };
    let dir = DataDir::open(&args.data_dir)?;
    if args.disable_agent {
        tracing::info!("node agent disabled");
    }
    let mut tokens = match &args.token_auth_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("read token file {}", p.display()))?;
            TokenAuth::parse(&text).with_context(|| format!("parse token file {}", p.display()))?
        }
        None => TokenAuth::default(),
    };
    let addr = format!("{}:{}", bracket(&args.bind_address), args.https_listen_port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let pki = pki::ensure(&dir.sub("tls")?, &pki::server_sans(&args.bind_address))?;
    let tls = rkube_apiserver::serve::tls_config(
        pki.server_cert.as_bytes(),
        pki.server_key.as_bytes(),
        pki.ca_cert.as_bytes(),
    )
    .context("build tls config")?;
    let join_token = crate::token::ensure(&dir.path, &pki.ca_cert)?;
    let secret = crate::token::JoinToken::parse(&join_token)?.secret;
    let kubelet_secret = secret.clone();
    tokens.insert(
        &secret,
        rkube_apiserver::auth::User {
            name: "system:rkube-agent".into(),
            uid: String::new(),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        },
    );
    let (store, compact_interval) = open_store(&args, &dir).await?;
    let host = match args.bind_address.as_str() {
        "0.0.0.0" | "::" | "" => "127.0.0.1".to_string(),
        other => bracket(other),
    };
    let url = format!("https://{host}:{}", args.https_listen_port);
    let node_ip: Option<std::net::Ipv4Addr> = args
        .node_ip
        .or_else(|| rkube_kubelet::node::detect_node_ip().and_then(|ip| ip.parse().ok()));
    let advertise_host = match (&args.advertise_address, args.bind_address.as_str()) {
        (Some(a), _) => bracket(a),
        (None, "0.0.0.0" | "::" | "") => node_ip.map_or(host.clone(), |ip| ip.to_string()),
        (None, _) => host.clone(),
    };
    let service_ranges = rkube_apiserver::rest::service::ServiceRanges::new(
        &args.service_cidr,
        &args.service_node_port_range,
    )
    .map_err(|e| anyhow::anyhow!("check --service-cidr and --service-node-port-range: {e}"))?;
    let srv = rkube_apiserver::Server::start_with(
        rkube_apiserver::Config {
            store,
            tokens,
            watch_cache_window: 10_000,
            event_ttl: Duration::from_secs(3600),
            compact_interval,
            advertise_address: format!("{advertise_host}:{}", args.https_listen_port),
        },
        service_ranges,
    )
    .await
    .map_err(|e| anyhow::anyhow!("start api server: {}", e.message))?;
    let _ = srv.ca_pem.set(pki.ca_cert.clone());
    let _ = srv.kubelet_token.set(kubelet_secret);

    let identity = hostname();
    if args.disable_controller_manager {
        tracing::info!("controller manager disabled");
    } else {
        rkube_controllers::spawn(rkube_controllers::Config {
            client: srv.component_client("system:kube-controller-manager"),
            identity: identity.clone(),
            leader_elect: true,
            cluster_cidr: args.cluster_cidr.clone(),
            node_cidr_mask_size: args.node_cidr_mask_size,
        });
    }

    if args.disable_scheduler {
        tracing::info!("scheduler disabled");
    } else {
        rkube_scheduler::run::spawn(rkube_scheduler::run::Config {
            client: srv.component_client("system:kube-scheduler"),
            identity: identity.clone(),
            leader_elect: true,
            profiles: Arc::new(profiles),
        });
    }
    if let Some(cfg) = fake_nodes {
        tracing::info!(count = cfg.count, "starting fake nodes");
        let client = srv.client(rkube_apiserver::auth::User {
            name: format!("system:node:{}", cfg.agent),
            uid: String::new(),
            groups: vec!["system:nodes".into(), "system:authenticated".into()],
        });
        rkube_kubelet::fake::spawn(client, cfg);
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(rkube_apiserver::serve::serve_tls(
        listener,
        tls,
        srv.router(),
        async {
            let _ = stop_rx.await;
        },
    ));
    tracing::info!(
        "api server listening on {addr} (ready in {} ms)",
        started.elapsed().as_millis()
    );

    let config = kubeconfig::admin(&url, &pki);
    let mut targets = vec![dir.path.join("kubeconfig.yaml")];
    targets.extend(args.write_kubeconfig.clone());
    for path in targets {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(config.as_str()) {
            write_atomic(&path, config.as_bytes(), 0o600)
                .with_context(|| format!("write kubeconfig {}", path.display()))?;
        }
        eprintln!("rkube: kubeconfig written to {}", path.display());
    }

    let agent = if args.disable_agent {
        None
    } else {
        let node_ip = node_ip.context(
            "cannot find this node's IP (no default route): pass --disable-agent or fix the network",
        )?;
        let node_name = args.node_name.clone().unwrap_or_else(hostname);
        tracing::info!(node = %node_name, ip = %node_ip, "starting the node agent");
        let stream_node = node_name.clone();
        let _ = srv.pod_logs.set(Arc::new(crate::node_agent::LocalLogs {
            node: node_name.clone(),
            root: dir.path.join("agent/logs/pods"),
        }));
        let agent = crate::node_agent::start(
            srv.client(rkube_apiserver::auth::User {
                name: format!("system:node:{node_name}"),
                uid: String::new(),
                groups: vec!["system:nodes".into(), "system:authenticated".into()],
            }),
            srv.component_client("system:rkube-dns"),
            crate::node_agent::Options {
                data_dir: &dir.path,
                node_name,
                node_ip,
                cluster_cidr: &args.cluster_cidr,
                service_cidr: &args.service_cidr,
                container_runtime_endpoint: args.container_runtime_endpoint.clone(),
                registry_config: args.registry_config.clone(),
                reserved: crate::node_agent::sum_reserved(&[
                    args.kube_reserved.clone(),
                    args.system_reserved.clone(),
                ]),
                server: true,
                kubelet_port: None,
                static_pod_path: args
                    .static_pod_path
                    .clone()
                    .unwrap_or_else(|| dir.path.join("manifests")),
            },
        )
        .await?;
        let _ = srv
            .node_proxy
            .set(Arc::new(crate::node_agent::LocalKubelet {
                node: stream_node.clone(),
                runtime: agent.runtime(),
                started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                samples: Default::default(),
            }));
        let _ = srv
            .pod_streams
            .set(Arc::new(crate::node_agent::LocalStreams {
                node: stream_node,
                runtime: agent.runtime(),
            }));
        Some(agent)
    };

    wait_for_signal().await?;
    tracing::info!("shutting down");
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    let _ = stop_tx.send(());
    let _ = serving.await;
    drop(srv);
    Ok(())
}

/// This machine's hostname, lowercased (node names and leader identities use it).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
        .to_lowercase()
}

fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

pub async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
