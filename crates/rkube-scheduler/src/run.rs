//! The scheduler as a running component: watches pods and nodes through a `kube::Client`,
//! keeps the [`Cache`] and the [`SchedulingQueue`], and for each popped pod runs the
//! framework, assumes the pod on the chosen node and binds it through the `pods/binding`
//! subresource in the background. Failures are reported as upstream does: a
//! `FailedScheduling` event and a `PodScheduled=False` condition with reason `Unschedulable`.
//!
//! One task owns the cache and the queue, so there are no locks; bindings run concurrently and
//! report back on a channel. Leader election (the `kube-scheduler` Lease) gates the whole loop.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use rkube_client::events::{EventType, ObjectRef, Recorder};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::cache::Cache;
use crate::config::Profiles;
use crate::framework::{Framework, Namespaces, Permit, Snapshot};
use crate::preemption::Candidate;
use crate::queue::{pod_key, ClusterEvent, QueuedPod, SchedulingQueue};

/// Scheduler options.
#[derive(Clone)]
pub struct Config {
    /// The API client.
    pub client: kube::Client,
    /// Leader-election identity (host name).
    pub identity: String,
    /// Compete for the `kube-scheduler` Lease first.
    pub leader_elect: bool,
    /// The profiles, chosen by `spec.schedulerName`; pods naming another scheduler are left
    /// alone.
    pub profiles: Arc<Profiles>,
}

/// Starts the scheduler in the background.
pub fn spawn(cfg: Config) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if cfg.leader_elect {
            let mut rx = rkube_client::leader::run(
                cfg.client.clone(),
                rkube_client::leader::Config::new("kube-scheduler", &cfg.identity),
            );
            rkube_client::leader::wait_leading(&mut rx).await;
        }
        Scheduler::new(cfg).run().await;
    })
}

/// What a background binding reports.
struct BindResult {
    qp: QueuedPod,
    node: String,
    result: Result<(), kube::Error>,
}

struct Scheduler {
    cfg: Config,
    cache: Cache,
    queue: SchedulingQueue,
    epoch: Instant,
    recorder: Recorder,
    binds: mpsc::UnboundedSender<BindResult>,
    bind_results: Option<mpsc::UnboundedReceiver<BindResult>>,
    bind_slots: Arc<Semaphore>,
    /// Pods assumed and being bound: their watch updates must not requeue them.
    binding: HashMap<String, String>,
    /// Namespace objects (for namespaceSelector in pod affinity terms).
    namespace_objects: HashMap<String, Value>,
    namespaces: Namespaces,
    /// PodDisruptionBudgets by key (for preemption).
    pdb_objects: HashMap<String, Value>,
    pdbs: Vec<Value>,
}

fn to_value<T: serde::Serialize>(obj: &T) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn assigned(pod: &Value) -> bool {
    pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

fn pod_ref(pod: &Value) -> ObjectRef {
    ObjectRef::from_json(pod, "v1", "Pod")
}

impl Scheduler {
    fn new(cfg: Config) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let recorder = Recorder::new(cfg.client.clone(), "default-scheduler", "");
        Scheduler {
            cfg,
            cache: Cache::new(),
            queue: SchedulingQueue::new(),
            epoch: Instant::now(),
            recorder,
            binds: tx,
            bind_results: Some(rx),
            bind_slots: Arc::new(Semaphore::new(256)),
            binding: HashMap::new(),
            namespace_objects: HashMap::new(),
            namespaces: Namespaces::default(),
            pdb_objects: HashMap::new(),
            pdbs: Vec::new(),
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Whether this scheduler should place the pod.
    fn responsible(&self, pod: &Value) -> bool {
        self.cfg.profiles.for_pod(pod).is_some()
            && !assigned(pod)
            && pod["metadata"]["deletionTimestamp"].is_null()
            && !matches!(
                pod["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            )
    }

    async fn run(mut self) {
        let pods: Api<Pod> = Api::all(self.cfg.client.clone());
        let nodes: Api<Node> = Api::all(self.cfg.client.clone());
        let mut pod_events = watcher(pods, watcher::Config::default()).boxed();
        let mut node_events = watcher(nodes, watcher::Config::default()).boxed();
        let ns_api: Api<Namespace> = Api::all(self.cfg.client.clone());
        let mut ns_events = watcher(ns_api, watcher::Config::default()).boxed();
        let pdb_api: Api<PodDisruptionBudget> = Api::all(self.cfg.client.clone());
        let mut pdb_events = watcher(pdb_api, watcher::Config::default()).boxed();
        let Some(mut bind_results) = self.bind_results.take() else {
            return;
        };
        let (mut pods_synced, mut nodes_synced) = (false, false);
        let mut pod_init: Vec<Value> = Vec::new();
        let mut node_init: Vec<Value> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_flush = Instant::now();
        loop {
            let ready = pods_synced && nodes_synced && self.queue.active_len() > 0;
            tokio::select! {
                ev = node_events.next() => match ev {
                    Some(Ok(watcher::Event::Init)) => node_init.clear(),
                    Some(Ok(watcher::Event::InitApply(n))) => node_init.push(to_value(&n)),
                    Some(Ok(watcher::Event::InitDone)) => {
                        let names: Vec<String> = self.cache.nodes().iter().map(|n| n.name().to_string()).collect();
                        let fresh: std::collections::HashSet<String> = node_init.iter()
                            .filter_map(|n| n["metadata"]["name"].as_str().map(String::from)).collect();
                        for n in names.iter().filter(|n| !fresh.contains(*n)) {
                            self.cache.remove_node(n);
                        }
                        for n in node_init.drain(..) {
                            self.cache.upsert_node(n);
                        }
                        nodes_synced = true;
                        tracing::info!(nodes = self.cache.nodes().len(), "scheduler: nodes synced");
                        let now = self.now();
                        self.queue.move_all_to_active_or_backoff(ClusterEvent::NodeAdd, now);
                    }
                    Some(Ok(watcher::Event::Apply(n))) => {
                        let existed = n.metadata.name.as_deref().and_then(|x| self.cache.node(x)).is_some();
                        self.cache.upsert_node(to_value(&n));
                        let now = self.now();
                        let ev = if existed { ClusterEvent::NodeUpdate } else { ClusterEvent::NodeAdd };
                        self.queue.move_all_to_active_or_backoff(ev, now);
                    }
                    Some(Ok(watcher::Event::Delete(n))) => {
                        self.cache.remove_node(n.metadata.name.as_deref().unwrap_or_default());
                    }
                    Some(Err(e)) => {
                        tracing::debug!("scheduler node watch: {e:#}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    None => return,
                },
                ev = pod_events.next() => match ev {
                    Some(Ok(watcher::Event::Init)) => pod_init.clear(),
                    Some(Ok(watcher::Event::InitApply(p))) => pod_init.push(to_value(&p)),
                    Some(Ok(watcher::Event::InitDone)) => {
                        for p in std::mem::take(&mut pod_init) {
                            self.on_pod(p);
                        }
                        pods_synced = true;
                        tracing::info!(pods = self.cache.pod_count(), pending = self.queue.len(), "scheduler: pods synced");
                    }
                    Some(Ok(watcher::Event::Apply(p))) => self.on_pod(to_value(&p)),
                    Some(Ok(watcher::Event::Delete(p))) => self.on_pod_delete(&to_value(&p)),
                    Some(Err(e)) => {
                        tracing::debug!("scheduler pod watch: {e:#}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    None => return,
                },
                Some(r) = bind_results.recv() => self.on_bind_result(r),
                Some(ev) = ns_events.next() => {
                    if let Some(changed) = apply_event(&mut self.namespace_objects, ev) {
                        if changed {
                            self.namespaces = Namespaces::from_objects(self.namespace_objects.values());
                        }
                    }
                }
                Some(ev) = pdb_events.next() => {
                    if apply_event(&mut self.pdb_objects, ev) == Some(true) {
                        self.pdbs = self.pdb_objects.values().cloned().collect();
                    }
                }
                _ = tick.tick() => {
                    let now = self.now();
                    self.queue.flush_backoff_completed(now);
                    if last_flush.elapsed() > Duration::from_secs(30) {
                        self.queue.flush_unschedulable_leftover(now);
                        last_flush = Instant::now();
                    }
                }
                _ = std::future::ready(()), if ready => {
                    // Schedule a small batch, then go back to the watches.
                    for _ in 0..16 {
                        let now = self.now();
                        let Some(qp) = self.queue.pop(now) else { break };
                        self.schedule(qp).await;
                    }
                }
            }
        }
    }

    fn on_pod(&mut self, pod: Value) {
        let Ok(key) = pod_key(&pod) else {
            return;
        };
        if assigned(&pod) {
            let was_assumed = self.cache.is_assumed(&key);
            self.cache.upsert_pod(pod);
            self.queue.delete(&key);
            if !was_assumed {
                let now = self.now();
                self.queue
                    .move_all_to_active_or_backoff(ClusterEvent::AssignedPodUpdate, now);
            }
            return;
        }
        if self.binding.contains_key(&key) || self.cache.is_assumed(&key) {
            return;
        }
        let now = self.now();
        if self.responsible(&pod) {
            let _ = self.queue.update(pod, now);
        } else {
            self.queue.delete(&key);
        }
    }

    fn on_pod_delete(&mut self, pod: &Value) {
        let Ok(key) = pod_key(pod) else {
            return;
        };
        let now = self.now();
        if assigned(pod) || self.cache.is_assumed(&key) {
            self.cache.remove_pod(&key);
            self.queue
                .move_all_to_active_or_backoff(ClusterEvent::AssignedPodDelete, now);
        }
        self.queue.delete(&key);
        self.binding.remove(&key);
    }

    async fn schedule(&mut self, qp: QueuedPod) {
        let profiles = self.cfg.profiles.clone();
        let Some(fw) = profiles.for_pod(&qp.pod) else {
            self.queue.done(&qp.key);
            return;
        };
        let outcome = {
            let snapshot = Snapshot::new(self.cache.nodes())
                .with_namespaces(&self.namespaces)
                .with_pdbs(&self.pdbs);
            match fw.schedule(&qp.pod, &snapshot) {
                Ok(res) => Ok(res),
                Err(mut fit) => {
                    let candidate = fw.run_post_filter(&qp.pod, &snapshot, &mut fit);
                    Err((fit.to_string(), candidate))
                }
            }
        };
        match outcome {
            Ok(mut res) => {
                let node = res.node.clone();
                self.cache.assume(&qp.pod, &node);
                let admitted = match fw.run_reserve(&mut res.state, &qp.pod, &node) {
                    Err(s) => Err(s.to_string()),
                    Ok(()) => match fw.run_permit(&res.state, &qp.pod, &node) {
                        Permit::Allow => Ok(Duration::ZERO),
                        Permit::Wait(d) => Ok(d),
                        Permit::Reject(s) => Err(s.to_string()),
                    },
                };
                let delay = match admitted {
                    Ok(d) => d,
                    Err(message) => {
                        fw.run_unreserve(&mut res.state, &qp.pod, &node);
                        self.cache.forget(&qp.key);
                        self.fail(qp, &message);
                        return;
                    }
                };
                match fw.run_bind(&res.state, &qp.pod, &node) {
                    Ok(true) => {
                        self.binding.insert(qp.key.clone(), node.clone());
                        let _ = self.binds.send(BindResult {
                            qp,
                            node,
                            result: Ok(()),
                        });
                    }
                    Ok(false) => {
                        self.binding.insert(qp.key.clone(), node.clone());
                        self.bind(qp, node, delay).await;
                    }
                    Err(s) => {
                        fw.run_unreserve(&mut res.state, &qp.pod, &node);
                        self.cache.forget(&qp.key);
                        self.fail(qp, &s.to_string());
                    }
                }
            }
            Err((message, candidate)) => {
                if let Some(c) = candidate {
                    self.preempt(&qp.pod, fw, c);
                }
                self.fail(qp, &message);
            }
        }
    }

    /// Reports the pod unschedulable and parks it in the queue.
    fn fail(&mut self, qp: QueuedPod, message: &str) {
        self.report_unschedulable(&qp.pod, message);
        let now = self.now();
        if let Err(e) = self.queue.add_unschedulable(qp, now) {
            tracing::debug!("failed to requeue pod: {e}");
        }
    }

    /// Nominates the candidate node for `pod` and evicts the victims, as upstream's
    /// DefaultPreemption does: a DisruptionTarget condition, then a graceful delete, and a
    /// `Preempted` event on each victim.
    fn preempt(&self, pod: &Value, fw: &Framework, c: Candidate) {
        let m = &pod["metadata"];
        let ns = m["namespace"].as_str().unwrap_or("default").to_string();
        let name = m["name"].as_str().unwrap_or_default().to_string();
        let uid = m["uid"].as_str().unwrap_or_default().to_string();
        tracing::info!(pod = %format!("{ns}/{name}"), node = %c.node, victims = c.victims.len(), "preempting");
        let client = self.cfg.client.clone();
        let node = c.node.clone();
        tokio::spawn(async move {
            let api: Api<Pod> = Api::namespaced(client, &ns);
            let patch = json!({"status": {"nominatedNodeName": node}});
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::debug!(pod = %name, "failed to set nominatedNodeName: {e:#}");
            }
        });
        let scheduler = fw.scheduler_name.clone();
        for victim in c.victims {
            let client = self.cfg.client.clone();
            let recorder = self.recorder.clone();
            let message = format!("Preempted by pod {uid} on node {}", c.node);
            let scheduler = scheduler.clone();
            tokio::spawn(async move {
                let vm = &victim["metadata"];
                let vns = vm["namespace"].as_str().unwrap_or("default");
                let vname = vm["name"].as_str().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client, vns);
                let cond = json!({"status": {"conditions": [{
                    "type": "DisruptionTarget", "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": format!("{scheduler}: preempting to accommodate a higher priority pod"),
                    "lastTransitionTime": rkube_client::now_rfc3339(),
                }]}});
                let _ = api
                    .patch_status(vname, &PatchParams::default(), &Patch::Strategic(&cond))
                    .await;
                match api.delete(vname, &DeleteParams::default()).await {
                    Ok(_) => {
                        recorder.record(&pod_ref(&victim), EventType::Normal, "Preempted", &message)
                    }
                    Err(e) => tracing::debug!(pod = %vname, "failed to preempt: {e:#}"),
                }
            });
        }
    }

    /// The FailedScheduling event and the PodScheduled=False condition.
    fn report_unschedulable(&self, pod: &Value, message: &str) {
        self.recorder.record(
            &pod_ref(pod),
            EventType::Warning,
            "FailedScheduling",
            message,
        );
        let current = pod["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"));
        if current.is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == message
        }) {
            return;
        }
        let (ns, name) = (
            pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let api: Api<Pod> = Api::namespaced(self.cfg.client.clone(), &ns);
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": message, "lastProbeTime": null,
            "lastTransitionTime": rkube_client::now_rfc3339(),
        }]}});
        tokio::spawn(async move {
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                tracing::debug!(pod = %name, "failed to set PodScheduled condition: {e:#}");
            }
        });
    }

    async fn bind(&mut self, qp: QueuedPod, node: String, delay: Duration) {
        let permit = self.bind_slots.clone().acquire_owned().await;
        let client = self.cfg.client.clone();
        let tx = self.binds.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let m = &qp.pod["metadata"];
            let ns = m["namespace"].as_str().unwrap_or("default");
            let name = m["name"].as_str().unwrap_or_default();
            let binding = json!({
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": m["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node},
            });
            let api: Api<Pod> = Api::namespaced(client, ns);
            let result = api
                .create_subresource::<Value, Value>(
                    "binding",
                    name,
                    &PostParams::default(),
                    &binding,
                )
                .await
                .map(|_| ());
            let _ = tx.send(BindResult { qp, node, result });
        });
    }

    fn on_bind_result(&mut self, r: BindResult) {
        self.binding.remove(&r.qp.key);
        match r.result {
            Ok(()) => {
                self.queue.done(&r.qp.key);
                let m = &r.qp.pod["metadata"];
                let msg = format!(
                    "Successfully assigned {}/{} to {}",
                    m["namespace"].as_str().unwrap_or("default"),
                    m["name"].as_str().unwrap_or_default(),
                    r.node
                );
                self.recorder
                    .record(&pod_ref(&r.qp.pod), EventType::Normal, "Scheduled", &msg);
            }
            Err(e) => {
                self.cache.forget(&r.qp.key);
                let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
                if gone {
                    self.queue.done(&r.qp.key);
                    return;
                }
                let already = matches!(&e, kube::Error::Api(s) if s.code == 409);
                tracing::debug!(pod = %r.qp.key, "binding failed: {e:#}");
                if !already {
                    self.recorder.record(
                        &pod_ref(&r.qp.pod),
                        EventType::Warning,
                        "FailedScheduling",
                        &format!("Binding rejected: {e}"),
                    );
                }
                let now = self.now();
                if let Err(e) = self.queue.add_unschedulable(r.qp, now) {
                    tracing::debug!("failed to requeue pod: {e}");
                }
                self.queue
                    .move_all_to_active_or_backoff(ClusterEvent::AssignedPodDelete, now);
            }
        }
    }
}

/// Applies a watch event to a map of JSON objects keyed by `namespace/name`; `Some(true)` when
/// the map changed, `None` on a watch error.
fn apply_event<K: serde::Serialize + kube::Resource>(
    map: &mut HashMap<String, Value>,
    ev: Result<watcher::Event<K>, watcher::Error>,
) -> Option<bool> {
    let key = |o: &K| {
        let m = o.meta();
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default()
        )
    };
    match ev {
        Ok(watcher::Event::Init) => {
            map.clear();
            Some(true)
        }
        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
            map.insert(key(&o), to_value(&o));
            Some(true)
        }
        Ok(watcher::Event::Delete(o)) => Some(map.remove(&key(&o)).is_some()),
        Ok(watcher::Event::InitDone) => Some(false),
        Err(e) => {
            tracing::debug!("scheduler watch: {e:#}");
            None
        }
    }
}
