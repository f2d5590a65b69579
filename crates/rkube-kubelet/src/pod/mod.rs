//! Pod workers for the real node: one watch on the pods bound to this node, one worker task
//! per pod (keyed by uid, so a pod's syncs never overlap), and a PLEG-style relist of the
//! runtime every second that wakes the workers of pods whose sandboxes or containers changed
//! and cleans up sandboxes of pods that no longer exist.
//!
//! What one sync does lives in [`sync`]; the reported status in [`status`]; the container
//! environment in [`env`].

pub mod env;
pub mod eviction;
pub mod hooks;
pub mod objects;
pub mod probes;
pub mod security;
pub mod status;
pub mod sync;
pub mod volumes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use tokio::sync::{mpsc, Mutex, Notify};

use crate::runtime::ContainerRuntime;

/// Label the runtime objects of a pod carry (set on sandboxes and containers).
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Label with the pod name.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Label with the pod namespace.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Label with the container name.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";

/// How pods run on this node.
#[derive(Debug, Clone)]
pub struct PodConfig {
    /// This node's name.
    pub node_name: String,
    /// The node's IP (hostIP of its pods).
    pub node_ip: String,
    /// Root of the container logs: `<dir>/<ns>_<name>_<uid>/<container>/<attempt>.log`.
    pub log_dir: PathBuf,
    /// Cluster DNS servers for `dnsPolicy: ClusterFirst` (empty: the host's resolv.conf).
    pub cluster_dns: Vec<String>,
    /// Cluster domain, e.g. `cluster.local`.
    pub cluster_domain: String,
    /// The CNI conf dir: pods that need the pod network wait until a config is there.
    pub cni_conf_dir: PathBuf,
    /// Pod directories (volumes, `/etc/hosts`): `<dir>/<uid>/…`.
    pub pods_dir: PathBuf,
    /// How often every pod is synced even without events.
    pub resync: Duration,
}

/// Exponential back-off per key, upstream's shape: 10 s doubling to 5 minutes, reset after
/// 10 minutes without a failure.
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, (Duration, Instant)>,
}

const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

impl Backoff {
    fn gc(&mut self) {
        self.entries
            .retain(|_, (_, at)| at.elapsed() < BACKOFF_MAX * 2);
    }

    /// The current delay for `key` (zero when none).
    pub fn get(&mut self, key: &str) -> Duration {
        self.gc();
        self.entries.get(key).map(|e| e.0).unwrap_or_default()
    }

    /// Whether `key` is still backing off from a failure at `since`; the remaining wait.
    pub fn in_backoff_since(&mut self, key: &str, since: SystemTime) -> Option<Duration> {
        let delay = self.get(key);
        if delay.is_zero() {
            return None;
        }
        let elapsed = SystemTime::now().duration_since(since).unwrap_or_default();
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Whether `key` is still backing off from its last recorded failure; the remaining wait.
    pub fn in_backoff(&mut self, key: &str) -> Option<Duration> {
        self.gc();
        let (delay, at) = *self.entries.get(key)?;
        let elapsed = at.elapsed();
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Records another failure of `key`: the delay doubles.
    pub fn next(&mut self, key: &str) {
        self.gc();
        let e = self
            .entries
            .entry(key.to_string())
            .or_insert((Duration::ZERO, Instant::now()));
        e.0 = if e.0.is_zero() {
            BACKOFF_INITIAL
        } else {
            (e.0 * 2).min(BACKOFF_MAX)
        };
        e.1 = Instant::now();
    }
}

/// What the workers share.
pub struct Shared {
    pub client: kube::Client,
    /// The ConfigMaps and Secrets pods read, watch-fed.
    pub objects: Arc<objects::ObjectCache>,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub cfg: PodConfig,
    /// Runtime name for container ids (`containerd`).
    pub runtime_name: String,
    /// Crash-loop back-off per `<uid>/<container>`.
    pub crash_backoff: Mutex<Backoff>,
    /// Image pull back-off per `<uid>/<image>`.
    pub pull_backoff: Mutex<Backoff>,
    /// Events about pods (component `kubelet`, host this node).
    pub events: rkube_client::events::Recorder,
}

impl Shared {
    /// Records an event about `pod` in the background.
    pub fn event(
        &self,
        pod: &Pod,
        ty: rkube_client::events::EventType,
        reason: &str,
        message: &str,
    ) {
        let obj = rkube_client::events::ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            resource_version: String::new(),
        };
        self.events.record(&obj, ty, reason, message);
    }
}

/// The latest pod object a worker acts on.
struct Latest {
    pod: Pod,
    /// The pod is gone from the API.
    removed: bool,
}

struct Worker {
    latest: Arc<Mutex<Latest>>,
    notify: Arc<Notify>,
}

fn uid_of(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

/// Runs the pods bound to `cfg.node_name` until the task is dropped.
pub async fn run(shared: Arc<Shared>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut workers: HashMap<String, Worker> = HashMap::new();
    let api: Api<Pod> = Api::all(shared.client.clone());
    let selector = format!("spec.nodeName={}", shared.cfg.node_name);
    let mut events = watcher(api, watcher::Config::default().fields(&selector)).boxed();
    let mut relist = tokio::time::interval(Duration::from_secs(1));
    relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut synced = false;
    let mut listing: Option<HashSet<String>> = None;
    let mut pleg: HashMap<String, String> = HashMap::new();
    let cleaning: Arc<Mutex<HashSet<String>>> = Arc::default();
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(watcher::Event::Init)) => listing = Some(HashSet::new()),
                Some(Ok(watcher::Event::InitApply(p))) => {
                    if let Some(l) = listing.as_mut() {
                        l.insert(uid_of(&p));
                    }
                    upsert(&shared, &mut workers, &done_tx, p, false).await;
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    // Pods deleted while the watch was re-listing get no Delete event.
                    if let Some(seen) = listing.take() {
                        for (uid, w) in &workers {
                            if !seen.contains(uid) {
                                w.latest.lock().await.removed = true;
                                w.notify.notify_one();
                            }
                        }
                    }
                    synced = true;
                }
                Some(Ok(watcher::Event::Apply(p))) => upsert(&shared, &mut workers, &done_tx, p, false).await,
                Some(Ok(watcher::Event::Delete(p))) => upsert(&shared, &mut workers, &done_tx, p, true).await,
                Some(Err(e)) => {
                    tracing::warn!("pod watch failed: {e:#}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None => return,
            },
            Some(uid) = done_rx.recv() => {
                workers.remove(&uid);
            }
            _ = relist.tick() => {
                relist_runtime(&shared, &workers, &mut pleg, synced, &cleaning).await;
            }
        }
    }
}

async fn upsert(
    shared: &Arc<Shared>,
    workers: &mut HashMap<String, Worker>,
    done: &mpsc::UnboundedSender<String>,
    pod: Pod,
    removed: bool,
) {
    let uid = uid_of(&pod);
    if uid.is_empty() {
        return;
    }
    if let Some(w) = workers.get(&uid) {
        let mut l = w.latest.lock().await;
        l.pod = pod;
        l.removed |= removed;
        drop(l);
        w.notify.notify_one();
        return;
    }
    let latest = Arc::new(Mutex::new(Latest { pod, removed }));
    let notify = Arc::new(Notify::new());
    notify.notify_one();
    tokio::spawn(work(
        shared.clone(),
        uid.clone(),
        latest.clone(),
        notify.clone(),
        done.clone(),
    ));
    workers.insert(uid, Worker { latest, notify });
}

/// One pod's worker: syncs on every signal (and on its own timers) until the pod is gone and
/// its runtime objects are removed.
async fn work(
    shared: Arc<Shared>,
    uid: String,
    latest: Arc<Mutex<Latest>>,
    notify: Arc<Notify>,
    done: mpsc::UnboundedSender<String>,
) {
    let mut state = sync::WorkerState::default();
    let mut wait = Duration::ZERO;
    loop {
        let _ = tokio::time::timeout(wait, notify.notified()).await;
        let (pod, removed) = {
            let l = latest.lock().await;
            (l.pod.clone(), l.removed)
        };
        let outcome = sync::sync_pod(&shared, &mut state, &pod, removed).await;
        if outcome.done {
            let _ = done.send(uid);
            return;
        }
        wait = outcome
            .wake
            .unwrap_or(shared.cfg.resync)
            .min(shared.cfg.resync);
    }
}

/// PLEG: compares the runtime's sandboxes and containers with the last relist and wakes the
/// workers of the pods that changed; removes what belongs to no known pod.
async fn relist_runtime(
    shared: &Arc<Shared>,
    workers: &HashMap<String, Worker>,
    last: &mut HashMap<String, String>,
    synced: bool,
    cleaning: &Arc<Mutex<HashSet<String>>>,
) {
    let (sandboxes, containers) = match tokio::try_join!(
        shared.runtime.list_pod_sandboxes(),
        shared.runtime.list_containers()
    ) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!("failed to relist the runtime: {e:#}");
            return;
        }
    };
    let mut now: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &sandboxes {
        if let Some(uid) = s.labels.get(POD_UID_LABEL) {
            now.entry(uid.clone())
                .or_default()
                .push(format!("s{}:{}", s.id, s.state));
        }
    }
    for c in &containers {
        if let Some(uid) = c.labels.get(POD_UID_LABEL) {
            now.entry(uid.clone())
                .or_default()
                .push(format!("c{}:{}", c.id, c.state));
        }
    }
    let mut current: HashMap<String, String> = HashMap::new();
    for (uid, mut items) in now {
        items.sort();
        current.insert(uid, items.join(","));
    }
    for (uid, fp) in &current {
        if last.get(uid) != Some(fp) {
            if let Some(w) = workers.get(uid) {
                w.notify.notify_one();
            }
        }
        if synced && !workers.contains_key(uid) {
            let mut c = cleaning.lock().await;
            if c.insert(uid.clone()) {
                let (shared, uid, cleaning) = (shared.clone(), uid.clone(), cleaning.clone());
                tokio::spawn(async move {
                    tracing::info!(pod_uid = %uid, "removing the sandboxes of a pod that no longer exists");
                    sync::remove_runtime_pod(&shared, &uid, Duration::from_secs(2)).await;
                    cleaning.lock().await.remove(&uid);
                });
            }
        }
    }
    for uid in last.keys() {
        if !current.contains_key(uid) {
            if let Some(w) = workers.get(uid) {
                w.notify.notify_one();
            }
        }
    }
    *last = current;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        let mut b = Backoff::default();
        assert_eq!(b.in_backoff_since("k", SystemTime::now()), None);
        b.next("k");
        assert_eq!(b.get("k"), Duration::from_secs(10));
        assert!(b.in_backoff_since("k", SystemTime::now()).is_some());
        assert!(b
            .in_backoff_since("k", SystemTime::now() - Duration::from_secs(11))
            .is_none());
        for _ in 0..10 {
            b.next("k");
        }
        assert_eq!(b.get("k"), Duration::from_secs(300));
    }
}
