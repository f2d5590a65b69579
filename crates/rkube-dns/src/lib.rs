//! rkube's cluster DNS: Kubernetes DNS-based service discovery (the kubernetes/dns schema,
//! with the behaviour of CoreDNS's `kubernetes` plugin) served over UDP and TCP with
//! hickory-server, and forwarding with a TTL-honouring cache for every other name.
//!
//! `spawn` binds the listen addresses at once (so a taken port fails the caller), then runs
//! in one task: watches on Services, EndpointSlices and Namespaces keep an in-memory `index`
//! current, and each query is answered from it (`lookup`) without calling the API, or
//! forwarded to the node's resolvers (`forward`, chosen by `resolvconf`). The crate also
//! writes pods' resolv.conf for the kubelet (`pod_resolv_conf`).
//!
//! Invariants: talks to the cluster only through `kube::Client`; no query reaches the API;
//! never forwards to its own listen addresses.

mod forward;
mod index;
pub mod lookup;
pub mod resolvconf;
mod server;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;

pub use resolvconf::pod_resolv_conf;

/// The errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to bind dns on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("upstream: {0}")]
    Upstream(String),
}

/// Where non-cluster names are forwarded.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Upstreams {
    /// The node's resolvers, read once at start (see [`resolvconf`] for how loopback stub
    /// resolvers such as systemd-resolved's are handled).
    #[default]
    System,
    /// These servers, in this order of preference.
    Static(Vec<SocketAddr>),
}

/// How the DNS server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses to serve on, each over both UDP and TCP. Port 0 picks a free port, the
    /// same for UDP and TCP; see [`Dns::local_addrs`].
    pub listen: Vec<SocketAddr>,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    pub upstreams: Upstreams,
    /// TTL of the cluster's records (CoreDNS `ttl`, default 5 s).
    pub ttl: Duration,
    /// Longest time a forwarded answer is cached (the Corefile's `cache 30`).
    pub cache_max_ttl: Duration,
    /// Most forwarded answers kept (CoreDNS's default cache size).
    pub cache_capacity: usize,
    /// How long to wait for one upstream before trying the next.
    pub upstream_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: vec![SocketAddr::from(([10, 43, 0, 10], 53))],
            cluster_domain: "cluster.local".into(),
            upstreams: Upstreams::System,
            ttl: Duration::from_secs(5),
            cache_max_ttl: Duration::from_secs(30),
            cache_capacity: 9984,
            upstream_timeout: Duration::from_secs(2),
        }
    }
}

/// A running DNS server.
#[derive(Debug)]
pub struct Dns {
    local_addrs: Vec<SocketAddr>,
    upstreams: Vec<SocketAddr>,
    task: JoinHandle<()>,
}

impl Dns {
    /// The bound addresses, in the order of `Config::listen`; each serves UDP and TCP.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The upstream resolvers in use.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// Stops serving and watching.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// The task that serves; it ends only when aborted or when every socket failed.
    pub fn into_task(self) -> JoinHandle<()> {
        self.task
    }
}

/// Binds `cfg.listen` and starts serving; must be called within a tokio runtime.
pub fn spawn(client: kube::Client, cfg: Config) -> Result<Dns, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Config(
            "dns must be started within a tokio runtime".into(),
        ));
    }
    let ttl = u32::try_from(cfg.ttl.as_secs()).unwrap_or(u32::MAX);
    let zone = lookup::Zone::new(&cfg.cluster_domain, ttl)?;
    let mut sockets = Vec::new();
    let mut local_addrs = Vec::new();
    for addr in &cfg.listen {
        let (udp, tcp) = bind_pair(*addr)?;
        local_addrs.push(udp.local_addr().map_err(|source| Error::Bind {
            addr: *addr,
            source,
        })?);
        sockets.push((udp, tcp));
    }
    let upstreams = match cfg.upstreams {
        Upstreams::System => resolvconf::system_upstreams(&local_addrs),
        Upstreams::Static(list) => list
            .into_iter()
            .filter(|a| !local_addrs.contains(a))
            .collect(),
    };
    let cache = forward::Cache::new(
        cfg.cache_capacity,
        u32::try_from(cfg.cache_max_ttl.as_secs()).unwrap_or(u32::MAX),
    );
    let index = Arc::new(RwLock::new(index::Index::default()));
    let shared = Arc::new(server::Shared {
        index: index.clone(),
        zone,
        forwarder: forward::Forwarder::new(upstreams.clone(), cfg.upstream_timeout, cache),
    });
    let mut server = hickory_server::Server::new(server::Handler(shared));
    for (addr, (udp, tcp)) in local_addrs.iter().zip(sockets) {
        let bind_err = |source| Error::Bind {
            addr: *addr,
            source,
        };
        udp.set_nonblocking(true).map_err(bind_err)?;
        tcp.set_nonblocking(true).map_err(bind_err)?;
        server.register_socket(tokio::net::UdpSocket::from_std(udp).map_err(bind_err)?);
        server.register_listener(
            tokio::net::TcpListener::from_std(tcp).map_err(bind_err)?,
            // Idle TCP connections are closed after this long.
            Duration::from_secs(10),
            32,
        );
    }
    tracing::info!(
        "dns serving {} on {local_addrs:?}, forwarding to {upstreams:?}",
        cfg.cluster_domain
    );
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = watch::run(client, index) => {}
            r = server.block_until_done() => {
                if let Err(e) = r {
                    tracing::error!("failed to serve dns: {e}");
                }
            }
        }
    });
    Ok(Dns {
        local_addrs,
        upstreams,
        task,
    })
}

/// Binds UDP and TCP on `addr`; with port 0, on one free port for both.
fn bind_pair(addr: SocketAddr) -> Result<(std::net::UdpSocket, std::net::TcpListener), Error> {
    let bind_err = |source| Error::Bind { addr, source };
    let mut attempts = 0;
    loop {
        let udp = std::net::UdpSocket::bind(addr).map_err(bind_err)?;
        let local = udp.local_addr().map_err(bind_err)?;
        match std::net::TcpListener::bind(local) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if addr.port() == 0 && attempts < 16 => attempts += 1,
            Err(source) => return Err(Error::Bind { addr, source }),
        }
    }
}
