//! Test topology in network namespaces, so the host's own rules are never touched: the
//! test body runs on a thread moved into a fresh, anonymous network namespace (the "node"),
//! with "pods" in named namespaces behind routed veths (10.42.0.x/32, gateway 10.42.0.1 on
//! the node side) each running a TCP server that answers `<pod> <peer address>`, and a
//! "client" namespace outside the cluster on 192.168.77.2, linked to the node's
//! 192.168.77.1. Also an in-process API server and small helpers for objects.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use nix::sched::CloneFlags;
use rkube_apiserver::Server;

/// The node's address towards the client namespace.
pub const NODE_IP: &str = "192.168.77.1";
/// The client's address (outside the cluster CIDR).
pub const CLIENT_IP: &str = "192.168.77.2";
/// The node-side address of every pod veth (the pods' gateway).
pub const POD_GATEWAY: &str = "10.42.0.1";

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid != "0" {
        return Some("not root (network namespaces and nftables need root)".into());
    }
    match Command::new("nft").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("nft not found: install the nftables package".into()),
    }
}

/// Runs `body` on a thread inside a new network namespace, on a current-thread runtime
/// (so every task, and every process the proxy starts, stays in that namespace).
pub fn in_node_netns<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let t = std::thread::spawn(move || {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).expect("unshare the network namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(body());
    });
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Pods and the client namespace of one test; removed on drop.
pub struct Topology {
    prefix: String,
    namespaces: Vec<String>,
    stop: Arc<AtomicBool>,
    servers: Vec<std::thread::JoinHandle<()>>,
    pods: usize,
}

impl Topology {
    /// Sets up the node (forwarding, the link to the client namespace) in the calling
    /// thread's namespace.
    pub fn new() -> Topology {
        let prefix = format!(
            "rkp{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let mut t = Topology {
            prefix: prefix.clone(),
            namespaces: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            pods: 0,
        };
        let client = format!("{prefix}c");
        sh(&format!("ip netns add {client}"));
        t.namespaces.push(client.clone());
        sh("ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward");
        sh(&format!(
            "ip link add vc type veth peer name eth0 netns {client} && \
             ip addr add {NODE_IP}/24 dev vc && ip link set vc up && \
             ip route add default via {CLIENT_IP} dev vc && \
             ip -n {client} link set lo up && ip -n {client} link set eth0 up && \
             ip -n {client} addr add {CLIENT_IP}/24 dev eth0 && \
             ip -n {client} route add default via {NODE_IP} dev eth0"
        ));
        t
    }

    /// The client namespace's name.
    pub fn client(&self) -> String {
        format!("{}c", self.prefix)
    }

    /// Adds a pod `name` with address `ip` serving on TCP port 8080; returns its namespace.
    pub fn pod(&mut self, name: &str, ip: &str) -> String {
        self.pods += 1;
        let ns = format!("{}p{}", self.prefix, self.pods);
        let host = format!("vh{}", self.pods);
        sh(&format!("ip netns add {ns}"));
        self.namespaces.push(ns.clone());
        sh(&format!(
            "ip link add {host} type veth peer name eth0 netns {ns} && \
             ip addr add {POD_GATEWAY}/32 dev {host} && ip link set {host} up && \
             ip route add {ip}/32 dev {host} && \
             ip -n {ns} link set lo up && ip -n {ns} link set eth0 up && \
             ip -n {ns} addr add {ip}/32 dev eth0 && \
             ip -n {ns} route add {POD_GATEWAY} dev eth0 && \
             ip -n {ns} route add default via {POD_GATEWAY} dev eth0"
        ));
        let listener = in_netns(&ns, || TcpListener::bind("0.0.0.0:8080")).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = self.stop.clone();
        let name = name.to_string();
        self.servers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, peer)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = writeln!(conn, "{name} {}", peer.ip());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));
        ns
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a thread inside the named network namespace.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(&path).expect("open the namespace");
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
            f()
        })
        .join()
        .expect("namespace thread")
    })
}

/// One request to `addr` from the node (`ns` None) or from the namespace `ns`: the answer
/// line (`<pod> <peer>`), or the error (refused, timed out).
pub async fn request(ns: Option<String>, addr: &str) -> std::io::Result<String> {
    let addr: SocketAddr = addr.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let go = || -> std::io::Result<String> {
            let mut c = TcpStream::connect_timeout(&addr, Duration::from_millis(700))?;
            c.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut s = String::new();
            c.read_to_string(&mut s)?;
            Ok(s.trim().to_string())
        };
        match ns {
            Some(ns) => in_netns(&ns, go),
            None => go(),
        }
    })
    .await
    .unwrap()
}

/// Polls `f` every 50 ms until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh API server and a client for it.
pub async fn server() -> (Arc<Server>, kube::Client) {
    let srv = Server::start_in_memory().await.unwrap();
    let client = srv.component_client("proxy-test");
    (srv, client)
}

/// The proxy configuration of the test node `node-a`.
pub fn proxy_config() -> rkube_proxy::Config {
    let mut c = rkube_proxy::Config::new("node-a");
    c.node_ips = vec![NODE_IP.parse().unwrap()];
    c.min_sync_period = Duration::from_millis(20);
    c
}

/// Creates a Service in `default` from JSON.
pub async fn create_service(client: &kube::Client, v: serde_json::Value) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

/// An EndpointSlice for service `svc` (port `http` → 8080) with `(ip, node)` endpoints.
pub fn slice_json(name: &str, svc: &str, eps: &[(&str, &str)]) -> serde_json::Value {
    let endpoints: Vec<serde_json::Value> = eps
        .iter()
        .map(|(ip, node)| {
            serde_json::json!({"addresses": [ip], "nodeName": node, "conditions": {"ready": true}})
        })
        .collect();
    serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}

/// Creates an EndpointSlice in `default`.
pub async fn create_slice(client: &kube::Client, v: serde_json::Value) {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap();
}
