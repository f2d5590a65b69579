//! Fake nodes, in the style of kwok: N Node objects with a Lease heartbeat and a Ready
//! condition, whose "kubelet" runs the pods bound to them without any container. It exists for
//! scheduler and controller tests and benchmarks at scale, and only when asked for
//! (`--fake-nodes N`).
//!
//! A pod bound to a fake node becomes Running and Ready with an IP from the node's podCIDR.
//! Its containers "run" for the Go duration in the annotation [`RUN_FOR`] (forever when absent)
//! and then exit with the code in [`EXIT_CODE`] (default 0); what happens next follows
//! `restartPolicy` as a real kubelet does: restart with the crash-loop back-off (10s doubling
//! to 5 minutes, the first restart immediate), or finish the pod as Succeeded or Failed. A pod
//! marked for deletion is stopped and then removed with grace period 0, as the kubelet does
//! once its containers are gone.
//!
//! Fake nodes carry the label [`FAKE_LABEL`]`=true` and the annotation [`FAKE_ANNOTATION`];
//! they have no taints unless configured.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex, Semaphore};

/// Annotation: how long the pod's containers run (`2s`, `1m30s`); absent means forever.
pub const RUN_FOR: &str = "fake.rkube.io/run-for";
/// Annotation: the exit code of the containers when they stop (default 0).
pub const EXIT_CODE: &str = "fake.rkube.io/exit-code";
/// Label set to `true` on every fake node.
pub const FAKE_LABEL: &str = "node.rkube.io/fake";
/// Annotation marking a fake node (its value names the agent that runs it).
pub const FAKE_ANNOTATION: &str = "fake.rkube.io/node";

/// The version fake nodes report for their kubelet and proxy.
pub const KUBELET_VERSION: &str = "v1.33.0-rkube-fake";

/// How a set of fake nodes looks and behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// How many nodes.
    pub count: usize,
    /// Node names are `<prefix><index>`, e.g. `fake-node-0`.
    pub name_prefix: String,
    /// Capacity (and allocatable), e.g. cpu=8, memory=32Gi, pods=110.
    pub capacity: BTreeMap<String, String>,
    /// Extra labels on every node.
    pub labels: BTreeMap<String, String>,
    /// Taints on every node (JSON `{key, value, effect}`).
    pub taints: Vec<Value>,
    /// Lease renewal period (upstream kubelet: 10s).
    pub heartbeat: Duration,
    /// Who runs the nodes (the annotation value), e.g. the host name.
    pub agent: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            count: 0,
            name_prefix: "fake-node-".into(),
            capacity: parse_capacity("cpu=8,memory=32Gi,pods=110").unwrap_or_default(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            heartbeat: Duration::from_secs(10),
            agent: "rkube".into(),
        }
    }
}

/// Errors in fake-node options.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `key=value` list item without `=`.
    #[error("invalid {what} {item:?}: expected key=value")]
    KeyValue { what: &'static str, item: String },
    /// A taint not of the form `key[=value]:Effect`.
    #[error("invalid taint {0:?}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute")]
    Taint(String),
}

fn key_values(text: &str, what: &'static str) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| Error::KeyValue {
            what,
            item: item.to_string(),
        })?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Parses `cpu=8,memory=32Gi,pods=110`.
pub fn parse_capacity(text: &str) -> Result<BTreeMap<String, String>, Error> {
    key_values(text, "capacity")
}

/// Parses `zone=a,disk=ssd`.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, Error> {
    key_values(text, "label")
}

/// Parses `key=value:NoSchedule,other:NoExecute` into taint objects.
pub fn parse_taints(text: &str) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kv, effect) = item
            .rsplit_once(':')
            .ok_or_else(|| Error::Taint(item.to_string()))?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") || kv.is_empty() {
            return Err(Error::Taint(item.to_string()));
        }
        let mut t = json!({"effect": effect});
        match kv.split_once('=') {
            Some((k, v)) => {
                t["key"] = json!(k);
                t["value"] = json!(v);
            }
            None => t["key"] = json!(kv),
        }
        out.push(t);
    }
    Ok(out)
}

/// Parses a non-negative Go duration such as `300ms`, `2s`, `1m30s`, `1h`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let nanos = rkube_api::duration::parse_go_duration(text.trim()).ok()?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The names of the nodes `cfg` describes.
pub fn node_names(cfg: &Config) -> Vec<String> {
    (0..cfg.count)
        .map(|i| format!("{}{i}", cfg.name_prefix))
        .collect()
}

/// Registers the nodes, then keeps their Leases fresh and runs their pods, until the process
/// ends. Progress of the registration is logged.
pub fn spawn(client: kube::Client, cfg: Config) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let names = node_names(&cfg);
        let started = Instant::now();
        register_all(&client, &cfg, &names).await;
        tracing::info!(
            nodes = names.len(),
            "registered fake nodes in {} ms",
            started.elapsed().as_millis()
        );
        let heart = tokio::spawn(heartbeat(client.clone(), cfg.clone(), names.clone()));
        let pods = tokio::spawn(run_pods(client, names.into_iter().collect()));
        let _ = tokio::join!(heart, pods);
    })
}

/// The Node object a fake node registers with (status included).
fn node_object(cfg: &Config, name: &str, index: usize) -> Value {
    let mut labels: BTreeMap<String, String> = cfg.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), name.into());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("beta.kubernetes.io/arch".into(), "amd64".into());
    labels.insert("type".into(), "fake".into());
    labels.insert(FAKE_LABEL.into(), "true".into());
    let mut spec = json!({});
    if !cfg.taints.is_empty() {
        spec["taints"] = json!(cfg.taints);
    }
    // A fake address in TEST-NET-2-like private space, unique per node index.
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 0)) + 1 + index as u32);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {FAKE_ANNOTATION: cfg.agent, "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": node_status(cfg, name, &ip.to_string()),
    })
}

fn node_status(cfg: &Config, name: &str, ip: &str) -> Value {
    let t = now();
    let cond = |ty: &str, status: &str, reason: &str, msg: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": msg,
               "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    json!({
        "capacity": cfg.capacity,
        "allocatable": cfg.capacity,
        "phase": "Running",
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": "fake", "osImage": "rkube fake node",
            "containerRuntimeVersion": "fake://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": "amd64",
        },
    })
}

async fn register_all(client: &kube::Client, cfg: &Config, names: &[String]) {
    let sem = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let permit = sem.clone().acquire_owned().await;
        let (client, obj, name) = (client.clone(), node_object(cfg, name, i), name.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let mut delay = Duration::from_millis(100);
            while let Err(e) = register(&client, &name, &obj).await {
                tracing::warn!(node = %name, "failed to register fake node: {e:#}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }));
        if (i + 1) % 1000 == 0 {
            tracing::info!("registering fake nodes: {}/{}", i + 1, names.len());
        }
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Creates (or updates) a node and its status and its Lease.
async fn register(client: &kube::Client, name: &str, obj: &Value) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let meta = json!({"metadata": {"labels": obj["metadata"]["labels"],
                                           "annotations": obj["metadata"]["annotations"]}});
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&meta))
                .await?;
        }
        Err(e) => return Err(e),
    }
    let status = json!({"status": obj["status"]});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    renew_lease(client, name, 40).await
}

async fn renew_lease(client: &kube::Client, node: &str, duration: i64) -> Result<(), kube::Error> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "kube-node-lease");
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let patch = json!({"spec": {"renewTime": t}});
    match leases
        .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease",
                    "ownerReferences": []},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": duration, "renewTime": t},
            });
            let lease = serde_json::from_value(lease).map_err(kube::Error::SerdeError)?;
            match leases.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Renews every node's Lease once per `cfg.heartbeat`, spread evenly over the period so
/// thousands of nodes make a steady trickle of writes rather than bursts.
async fn heartbeat(client: kube::Client, cfg: Config, names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    let step = cfg.heartbeat / names.len() as u32;
    let mut tick = tokio::time::interval(step.max(Duration::from_micros(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let duration = (cfg.heartbeat.as_secs() as i64 * 4).max(1);
    loop {
        for name in &names {
            tick.tick().await;
            if let Err(e) = renew_lease(&client, name, duration).await {
                tracing::debug!(node = %name, "failed to renew lease: {e:#}");
            }
        }
    }
}

/// What the fake runtime knows about one pod.
#[derive(Debug)]
struct PodRuntime {
    uid: String,
    ip: String,
    node: String,
    /// When the current run of the containers started.
    started: Instant,
    started_wall: String,
    restarts: i32,
    /// Set while waiting out the crash-loop back-off: when the next run starts.
    waiting_until: Option<Instant>,
    /// Exit code, reason, start and finish time of the last run that ended.
    last_exit: Option<(i32, String, String, String)>,
    /// Terminal phase reached (Succeeded/Failed); nothing more happens.
    finished: bool,
    /// A status write is in flight or done for this state.
    reported: Option<String>,
}

/// Per-node pod IP allocation from the node's podCIDR (a /24 or larger IPv4 block).
#[derive(Default)]
struct Ipam {
    cidrs: HashMap<String, (u32, u32)>,
    host_ips: HashMap<String, String>,
    used: HashMap<String, HashSet<u32>>,
}

impl Ipam {
    fn set_cidr(&mut self, node: &str, cidr: &str) {
        let Some((addr, len)) = cidr.split_once('/') else {
            return;
        };
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
            return;
        };
        if len > 30 {
            return;
        }
        let size = 1u32 << (32 - len);
        self.cidrs.insert(node.to_string(), (u32::from(addr), size));
    }

    fn allocate(&mut self, node: &str) -> Option<String> {
        let (base, size) = *self.cidrs.get(node)?;
        let used = self.used.entry(node.to_string()).or_default();
        // .0 is the network, .1 the bridge gateway, the last the broadcast address.
        let host = (2..size - 1).find(|h| !used.contains(h))?;
        used.insert(host);
        Some(Ipv4Addr::from(base + host).to_string())
    }

    fn release(&mut self, node: &str, ip: &str) {
        let (Some((base, _)), Ok(addr)) = (self.cidrs.get(node), ip.parse::<Ipv4Addr>()) else {
            return;
        };
        if let Some(used) = self.used.get_mut(node) {
            used.remove(&(u32::from(addr).wrapping_sub(*base)));
        }
    }
}

struct PodWorker {
    client: kube::Client,
    nodes: HashSet<String>,
    pods: HashMap<String, Pod>,
    runtime: HashMap<String, PodRuntime>,
    ipam: Ipam,
    wake: mpsc::UnboundedSender<String>,
    writes: Arc<Semaphore>,
    deleting: Arc<Mutex<HashSet<String>>>,
}

fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Runs the pods bound to `nodes`: one watch on bound pods, one on the fake nodes (for their
/// podCIDRs), and timers for containers that stop or restart.
async fn run_pods(client: kube::Client, nodes: HashSet<String>) {
    let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<String>();
    let mut w = PodWorker {
        client: client.clone(),
        nodes,
        pods: HashMap::new(),
        runtime: HashMap::new(),
        ipam: Ipam::default(),
        wake: wake_tx,
        writes: Arc::new(Semaphore::new(64)),
        deleting: Arc::default(),
    };
    let pod_api: Api<Pod> = Api::all(client.clone());
    let mut pod_events = watcher(
        pod_api,
        watcher::Config::default().fields("spec.nodeName!="),
    )
    .boxed();
    let node_api: Api<Node> = Api::all(client);
    let mut node_events = watcher(
        node_api,
        watcher::Config::default().labels(&format!("{FAKE_LABEL}=true")),
    )
    .boxed();
    // Pods wait for their node's podCIDR; they are retried when nodes change.
    let mut pending_cidr: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            ev = node_events.next() => match ev {
                Some(Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n))) => {
                    let name = n.metadata.name.clone().unwrap_or_default();
                    if let Some(ip) = n.status.as_ref().and_then(|s| s.addresses.as_ref())
                        .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP")) {
                        w.ipam.host_ips.insert(name.clone(), ip.address.clone());
                    }
                    if let Some(cidr) = n.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()) {
                        if !w.ipam.cidrs.contains_key(&name) {
                            w.ipam.set_cidr(&name, cidr);
                            for key in std::mem::take(&mut pending_cidr) {
                                w.sync(&key, &mut pending_cidr).await;
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!("fake kubelet node watch: {e:#}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => return,
            },
            ev = pod_events.next() => match ev {
                Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => {
                    let on_ours = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                        .is_some_and(|n| w.nodes.contains(n));
                    if on_ours {
                        let key = key_of(&p);
                        w.pods.insert(key.clone(), p);
                        w.sync(&key, &mut pending_cidr).await;
                    }
                }
                Some(Ok(watcher::Event::Delete(p))) => {
                    let key = key_of(&p);
                    w.pods.remove(&key);
                    w.forget(&key);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!("fake kubelet pod watch: {e:#}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => return,
            },
            Some(key) = wake_rx.recv() => {
                // `!key`: a status write failed; report again even if nothing changed.
                let key = match key.strip_prefix('!') {
                    Some(k) => {
                        if let Some(rt) = w.runtime.get_mut(k) {
                            rt.reported = None;
                        }
                        k.to_string()
                    }
                    None => key,
                };
                w.sync(&key, &mut pending_cidr).await
            }
        }
    }
}

impl PodWorker {
    fn forget(&mut self, key: &str) {
        if let Some(rt) = self.runtime.remove(key) {
            self.ipam.release(&rt.node, &rt.ip);
        }
    }

    fn wake_at(tx: &mpsc::UnboundedSender<String>, key: &str, at: Instant) {
        let tx = tx.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let _ = tx.send(key);
        });
    }

    /// Brings one pod's reported status in line with its fake runtime state.
    async fn sync(&mut self, key: &str, pending_cidr: &mut HashSet<String>) {
        let Some(pod) = self.pods.get(key).cloned() else {
            return;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if self.runtime.get(key).is_some_and(|rt| rt.uid != uid) {
            self.forget(key);
        }
        if pod.metadata.deletion_timestamp.is_some() {
            self.delete(key, &pod);
            return;
        }
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default();
        if !self.runtime.contains_key(key) && matches!(phase, "Succeeded" | "Failed") {
            return;
        }
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if !self.runtime.contains_key(key) {
            let ip = if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
                Some(String::new())
            } else {
                self.ipam.allocate(&node)
            };
            let Some(ip) = ip else {
                pending_cidr.insert(key.to_string());
                return;
            };
            // A pod already reported Running (e.g. after a restart of rkube) keeps its IP.
            let ip = pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.clone())
                .filter(|p| !p.is_empty())
                .unwrap_or(ip);
            self.runtime.insert(
                key.to_string(),
                PodRuntime {
                    uid: uid.clone(),
                    ip,
                    node: node.clone(),
                    started: Instant::now(),
                    started_wall: now(),
                    restarts: 0,
                    waiting_until: None,
                    last_exit: None,
                    finished: false,
                    reported: None,
                },
            );
        }
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        let run_for = annotations.get(RUN_FOR).and_then(|d| parse_go_duration(d));
        let exit_code: i32 = annotations
            .get(EXIT_CODE)
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(0);
        let policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let instant = Instant::now();
        let Some(rt) = self.runtime.get_mut(key) else {
            return;
        };
        if rt.finished {
            return;
        }
        let mut wake = None;
        if let Some(until) = rt.waiting_until {
            if instant >= until {
                rt.waiting_until = None;
                rt.started = instant;
                rt.started_wall = now();
            } else {
                wake = Some(until);
            }
        }
        if rt.waiting_until.is_none() {
            if let Some(d) = run_for {
                let ends = rt.started + d;
                if instant >= ends {
                    let reason = if exit_code == 0 { "Completed" } else { "Error" };
                    rt.last_exit = Some((exit_code, reason.into(), rt.started_wall.clone(), now()));
                    let restart = policy == "Always" || (policy == "OnFailure" && exit_code != 0);
                    if restart {
                        rt.restarts += 1;
                        // Immediate first restart, then 10s, 20s, … capped at 5 minutes.
                        let backoff = if rt.restarts <= 1 {
                            Duration::ZERO
                        } else {
                            Duration::from_secs(10u64 << (rt.restarts - 2).min(5))
                                .min(Duration::from_secs(300))
                        };
                        if backoff.is_zero() {
                            rt.started = instant;
                            rt.started_wall = now();
                            wake = Some(instant + d);
                        } else {
                            rt.waiting_until = Some(instant + backoff);
                            wake = Some(instant + backoff);
                        }
                    } else {
                        rt.finished = true;
                    }
                } else {
                    wake = Some(ends);
                }
            }
        }
        let host_ip = self
            .ipam
            .host_ips
            .get(&rt.node)
            .cloned()
            .unwrap_or_default();
        let status = pod_status(&pod, rt, exit_code, &host_ip);
        let fingerprint = status.to_string();
        if let Some(at) = wake {
            Self::wake_at(&self.wake, key, at);
        }
        if rt.reported.as_deref() == Some(fingerprint.as_str()) {
            return;
        }
        rt.reported = Some(fingerprint);
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let name = name.to_string();
        let permit = self.writes.clone().acquire_owned().await;
        let retry = self.wake.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let _permit = permit;
            let body = json!({"metadata": {"uid": uid}, "status": status});
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    tracing::debug!(pod = %name, "failed to update fake pod status, retrying: {e:#}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = retry.send(format!("!{key}"));
                }
            }
        });
    }

    /// Stops a pod being deleted and removes it (grace period 0, only this incarnation).
    fn delete(&mut self, key: &str, pod: &Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let name = name.to_string();
        let deleting = self.deleting.clone();
        let writes = self.writes.clone();
        tokio::spawn(async move {
            if !deleting.lock().await.insert(uid.clone()) {
                return;
            }
            let _permit = writes.acquire_owned().await;
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => tracing::debug!(pod = %name, "failed to delete fake pod: {e:#}"),
            }
            deleting.lock().await.remove(&uid);
        });
    }
}

/// The status a real kubelet would report for the pod in this runtime state.
fn pod_status(pod: &Pod, rt: &PodRuntime, exit_code: i32, host_ip: &str) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let running = !rt.finished && rt.waiting_until.is_none();
    let t = now();
    let old_conditions: Vec<Value> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|c| {
            c.iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .collect()
        })
        .unwrap_or_default();
    let since = |ty: &str, status: &str| -> String {
        old_conditions
            .iter()
            .find(|c| c["type"] == ty && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| t.clone())
    };
    let cond = |ty: &str, ok: bool, reason: Option<&str>| {
        let s = if ok { "True" } else { "False" };
        let mut c = json!({"type": ty, "status": s, "lastProbeTime": null,
                           "lastTransitionTime": since(ty, s)});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let ready_reason = if rt.finished {
        Some("PodCompleted")
    } else if running {
        None
    } else {
        Some("ContainersNotReady")
    };
    let phase = if rt.finished {
        if exit_code == 0 {
            "Succeeded"
        } else {
            "Failed"
        }
    } else {
        "Running"
    };
    let terminated = |code: i32, reason: &str, started: &str, finished: &str| {
        json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started,
                              "finishedAt": finished, "containerID": format!("fake://{}", rt.uid)}})
    };
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| {
            let state = if running {
                json!({"running": {"startedAt": rt.started_wall}})
            } else if rt.finished {
                let (code, reason, started, at) = rt.last_exit.clone().unwrap_or((
                    exit_code,
                    "Completed".into(),
                    rt.started_wall.clone(),
                    t.clone(),
                ));
                terminated(code, &reason, &started, &at)
            } else {
                json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off restarting failed container {} in pod {}", c.name,
                        pod.metadata.name.as_deref().unwrap_or_default())}})
            };
            let mut s = json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("fake://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("fake://{}/{}", rt.uid, c.name),
                "ready": running,
                "started": running,
                "restartCount": rt.restarts,
                "state": state,
            });
            if let (Some((code, reason, started, at)), false) = (&rt.last_exit, rt.finished) {
                s["lastState"] = terminated(*code, reason, started, at);
            }
            s
        })
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            json!({"name": c.name, "image": c.image.clone().unwrap_or_default(),
                   "imageID": "", "ready": true, "restartCount": 0,
                   "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                        "startedAt": rt.started_wall, "finishedAt": rt.started_wall}}})
        })
        .collect();
    let mut status = json!({
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", !rt.finished, None),
            cond("Initialized", true, None),
            cond("Ready", running, ready_reason),
            cond("ContainersReady", running, ready_reason),
            cond("PodScheduled", true, None),
        ],
        "podIP": rt.ip,
        "podIPs": if rt.ip.is_empty() { json!([]) } else { json!([{"ip": rt.ip}]) },
        "startTime": pod.status.as_ref().and_then(|s| s.start_time.as_ref())
            .and_then(|s| serde_json::to_value(s).ok()).unwrap_or(json!(rt.started_wall)),
        "containerStatuses": containers,
        "qosClass": pod.status.as_ref().and_then(|s| s.qos_class.clone()).unwrap_or_else(|| "BestEffort".into()),
    });
    if !host_ip.is_empty() {
        status["hostIP"] = json!(host_ip);
        status["hostIPs"] = json!([{"ip": host_ip}]);
    }
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_name_the_node() {
        let n = node_object(&Config::default(), "fake-node-3", 3);
        assert_eq!(
            n["status"]["addresses"],
            json!([{"type": "InternalIP", "address": "10.200.0.4"},
                   {"type": "Hostname", "address": "fake-node-3"}])
        );
    }

    #[test]
    fn go_durations() {
        for (text, want) in [
            ("2s", Some(2000)),
            ("300ms", Some(300)),
            ("1m30s", Some(90_000)),
            ("1.5s", Some(1500)),
            ("1h", Some(3_600_000)),
            ("0", Some(0)),
            ("", None),
            ("5x", None),
            ("s", None),
        ] {
            assert_eq!(
                parse_go_duration(text).map(|d| d.as_millis() as u64),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn options() {
        let cap = parse_capacity("cpu=4, memory=8Gi,pods=20").unwrap();
        assert_eq!(cap["memory"], "8Gi");
        assert!(parse_capacity("cpu").is_err());
        let taints = parse_taints("dedicated=gpu:NoSchedule,spot:PreferNoSchedule").unwrap();
        assert_eq!(
            taints,
            vec![
                json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
                json!({"key": "spot", "effect": "PreferNoSchedule"}),
            ]
        );
        assert!(parse_taints("a=b:Sometimes").is_err());
        assert!(parse_taints("a=b").is_err());
    }

    #[test]
    fn ipam_allocates_and_reuses() {
        let mut ipam = Ipam::default();
        assert_eq!(ipam.allocate("n"), None);
        ipam.set_cidr("n", "10.42.3.0/30");
        assert_eq!(ipam.allocate("n").as_deref(), Some("10.42.3.2"));
        assert_eq!(ipam.allocate("n"), None);
        ipam.release("n", "10.42.3.2");
        assert_eq!(ipam.allocate("n").as_deref(), Some("10.42.3.2"));
    }
}
