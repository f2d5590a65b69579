//! What the Endpoints and EndpointSlice controllers share (upstream's `endpointutil` and
//! `podutil.FindPort`): which pods back a Service and with which port numbers, hostnames,
//! the `last-change-trigger-time` tracker, the informers that turn Service and Pod changes
//! into Service keys, and the worker loop.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::common::is_pod_ready;
use crate::replicaset::informer::{self, key_of, Change, WorkQueue};

/// The pod's primary IP (`status.podIP`, else the first of `status.podIPs`).
pub(crate) fn pod_ip(pod: &Pod) -> Option<&str> {
    let st = pod.status.as_ref()?;
    st.pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .or_else(|| {
            st.pod_ips
                .as_deref()?
                .iter()
                .map(|p| p.ip.as_str())
                .find(|ip| !ip.is_empty())
        })
}

/// Upstream's `ShouldPodBeInEndpoints`: not terminal, has an IP, and (unless terminating
/// pods are wanted) not being deleted.
pub(crate) fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let phase = crate::common::pod_phase(pod);
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    if pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Upstream's `ShouldSetHostname`: the pod names this Service as its subdomain.
pub(crate) fn should_set_hostname(pod: &Pod, svc: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace
}

/// Upstream's `FindPort`: a numeric targetPort as is; a named one looked up in the pod's
/// containers (and sidecar init containers) with the same protocol.
pub(crate) fn find_port(pod: &Pod, sp: &ServicePort) -> Option<i32> {
    match sp.target_port.as_ref() {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) if *n == 0 => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let proto = sp.protocol.as_deref().unwrap_or("TCP");
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name)
                        && p.protocol.as_deref().unwrap_or("TCP") == proto
                })
                .map(|p| p.container_port)
        }
    }
}

/// The Service's selector, if it has a non-empty one (selectorless Services get their
/// endpoints from someone else).
pub(crate) fn selector_of(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()?
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
}

/// Whether `svc` selects pods with `labels`.
pub(crate) fn selects(svc: &Service, labels: Option<&BTreeMap<String, String>>) -> bool {
    let Some(sel) = selector_of(svc) else {
        return false;
    };
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Whether the Service is headless (`clusterIP: None`).
pub(crate) fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The Service's type (`ClusterIP` when unset).
pub(crate) fn service_type(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP")
}

/// The pods in the Service's namespace that its selector matches.
pub(crate) fn pods_of(svc: &Service, pods: &Store<Pod>) -> Vec<Arc<Pod>> {
    let ns = svc.metadata.namespace.clone();
    let mut out = pods
        .state_filter(|p| p.metadata.namespace == ns && selects(svc, p.metadata.labels.as_ref()));
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}

/// When the pod's Ready condition last changed (upstream's pod trigger time).
fn pod_trigger_time(pod: &Pod) -> Option<Timestamp> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

#[derive(Default)]
struct TriggerState {
    pods: HashMap<String, Timestamp>,
    service: Option<Timestamp>,
}

/// Upstream's `TriggerTimeTracker`: the earliest change (a pod's Ready transition, or the
/// Service's creation) not yet reflected in the Service's endpoints, for the
/// `endpoints.kubernetes.io/last-change-trigger-time` annotation.
#[derive(Default)]
pub(crate) struct TriggerTimeTracker {
    states: Mutex<HashMap<String, TriggerState>>,
}

impl TriggerTimeTracker {
    pub(crate) fn compute(&self, key: &str, svc: &Service, pods: &[Arc<Pod>]) -> Option<Timestamp> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let old = states.remove(key).unwrap_or_default();
        let mut next = TriggerState::default();
        let mut min: Option<Timestamp> = None;
        for pod in pods {
            let Some(t) = pod_trigger_time(pod) else {
                continue;
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            if old.pods.get(&name).is_none_or(|prev| t > *prev) {
                min = Some(min.map_or(t, |m| m.min(t)));
            }
            next.pods.insert(name, t);
        }
        if let Some(t) = svc.metadata.creation_timestamp.as_ref().map(|t| t.0) {
            if old.service.is_none_or(|prev| t > prev) {
                min = Some(min.map_or(t, |m| m.min(t)));
            }
            next.service = Some(t);
        }
        states.insert(key.to_string(), next);
        min
    }

    pub(crate) fn forget(&self, key: &str) {
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// The parts of a pod endpoints depend on: a change elsewhere (most status updates) does
/// not need a sync.
fn pod_projection(pod: &Pod) -> impl PartialEq + '_ {
    let spec = pod.spec.as_ref();
    (
        pod.metadata.labels.as_ref(),
        pod.metadata.deletion_timestamp.as_ref(),
        pod_ip(pod),
        is_pod_ready(pod),
        pod_trigger_time(pod),
        crate::common::pod_phase(pod),
        spec.and_then(|s| s.node_name.as_deref()),
        spec.and_then(|s| s.hostname.as_deref()),
        spec.and_then(|s| s.subdomain.as_deref()),
        spec.map(|s| &s.containers),
    )
}

/// Queues every Service in the pod's namespace that selects it (before or after a change).
fn enqueue_pod_services(services: &Store<Service>, queue: &WorkQueue, pods: &[&Pod]) {
    for pod in pods {
        let ns = pod.metadata.namespace.clone();
        for svc in services.state_filter(|s| {
            s.metadata.namespace == ns && selects(s, pod.metadata.labels.as_ref())
        }) {
            queue.add(&key_of(&*svc));
        }
    }
}

/// Starts the Service and Pod informers feeding `queue` with Service keys.
pub(crate) fn spawn_informers(
    client: &kube::Client,
    queue: &Arc<WorkQueue>,
) -> (Store<Service>, Store<Pod>) {
    let services = {
        let queue = queue.clone();
        informer::spawn(
            Api::<Service>::all(client.clone()),
            move |change| match change {
                Change::Added(s) | Change::Deleted(s) => queue.add(&key_of(&*s)),
                Change::Updated { old, new } => {
                    if old.spec != new.spec || old.metadata.labels != new.metadata.labels {
                        queue.add(&key_of(&*new));
                    }
                }
            },
        )
    };
    let pods = {
        let (queue, services) = (queue.clone(), services.clone());
        informer::spawn(
            Api::<Pod>::all(client.clone()),
            move |change| match change {
                Change::Added(p) | Change::Deleted(p) => {
                    enqueue_pod_services(&services, &queue, &[&p])
                }
                Change::Updated { old, new } => {
                    if pod_projection(&old) != pod_projection(&new) {
                        enqueue_pod_services(&services, &queue, &[&old, &new]);
                    }
                }
            },
        )
    };
    (services, pods)
}

/// The cached Service a key names.
pub(crate) fn get_service(services: &Store<Service>, key: &str) -> Option<Arc<Service>> {
    let (ns, name) = informer::split_key(key);
    services.get(&ObjectRef::<Service>::new(name).within(ns))
}

/// Runs `workers` loops taking keys from `queue` and syncing them, with the work queue's
/// retry back-off on errors.
pub(crate) async fn run_workers<F, Fut>(
    name: &'static str,
    queue: Arc<WorkQueue>,
    workers: usize,
    sync: F,
) where
    F: Fn(String) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<(), kube::Error>> + Send,
{
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (queue, sync) = (queue.clone(), sync.clone());
            tokio::spawn(async move {
                loop {
                    let key = queue.get().await;
                    match sync(key.clone()).await {
                        Ok(()) => queue.forget(&key),
                        // The namespace is going away: its Services will be gone soon.
                        Err(kube::Error::Api(s))
                            if s.code == 403 && s.message.contains("being terminated") =>
                        {
                            tracing::debug!(key, "{name} skipped a terminating namespace");
                            queue.forget(&key);
                        }
                        // A slice or Endpoints object deleted under us (namespace deletion,
                        // garbage collection): the next sync sees the informers' new state.
                        Err(e)
                            if crate::common::is_conflict(&e)
                                || crate::common::is_not_found(&e) =>
                        {
                            tracing::debug!(key, "{name} failed to sync: {e:#}");
                            queue.add_rate_limited(&key);
                        }
                        Err(e) => {
                            tracing::warn!(key, "{name} failed to sync: {e:#}");
                            queue.add_rate_limited(&key);
                        }
                    }
                    queue.done(&key);
                }
            })
        })
        .collect();
    futures::future::join_all(handles).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod")
    }

    #[test]
    fn find_port_resolves_names_per_pod() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080},
                {"name": "dns", "containerPort": 5353, "protocol": "UDP"}]}],
            "initContainers": [{"name": "side", "restartPolicy": "Always",
                "ports": [{"name": "proxy", "containerPort": 15001}]}]}}));
        let sp = |target: serde_json::Value, proto: &str| -> ServicePort {
            serde_json::from_value(json!({"port": 80, "targetPort": target, "protocol": proto}))
                .expect("port")
        };
        let cases = [
            (json!(9090), "TCP", Some(9090)),
            (json!("http"), "TCP", Some(8080)),
            (json!("http"), "UDP", None),
            (json!("dns"), "UDP", Some(5353)),
            (json!("proxy"), "TCP", Some(15001)),
            (json!("nope"), "TCP", None),
        ];
        for (target, proto, want) in cases {
            assert_eq!(
                find_port(&p, &sp(target.clone(), proto)),
                want,
                "{target} {proto}"
            );
        }
    }

    #[test]
    fn pods_in_endpoints() {
        let base = json!({"metadata": {"name": "p"}, "status": {"phase": "Running", "podIP": "10.42.0.5"}});
        assert!(should_pod_be_in_endpoints(&pod(base.clone()), false));
        let mut no_ip = base.clone();
        no_ip["status"]["podIP"] = json!(null);
        assert!(!should_pod_be_in_endpoints(&pod(no_ip), true));
        let mut done = base.clone();
        done["status"]["phase"] = json!("Succeeded");
        assert!(!should_pod_be_in_endpoints(&pod(done), true));
        let mut deleting = base;
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        assert!(!should_pod_be_in_endpoints(&pod(deleting.clone()), false));
        assert!(should_pod_be_in_endpoints(&pod(deleting), true));
    }

    #[test]
    fn trigger_time_is_the_earliest_unseen_change() {
        let t = TriggerTimeTracker::default();
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "s",
            "creationTimestamp": "2025-01-01T00:00:00Z"}}))
        .expect("svc");
        let ready = |name: &str, at: &str| -> Arc<Pod> {
            Arc::new(pod(
                json!({"metadata": {"name": name}, "status": {"conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": at}]}}),
            ))
        };
        let a = ready("a", "2025-01-01T00:01:00Z");
        let first = t
            .compute("ns/s", &svc, std::slice::from_ref(&a))
            .expect("first sync");
        assert_eq!(first.to_string(), "2025-01-01T00:00:00Z");
        assert_eq!(
            t.compute("ns/s", &svc, std::slice::from_ref(&a)),
            None,
            "nothing new"
        );
        let b = ready("b", "2025-01-01T00:02:00Z");
        let got = t.compute("ns/s", &svc, &[a, b]).expect("b changed");
        assert_eq!(got.to_string(), "2025-01-01T00:02:00Z");
    }
}
