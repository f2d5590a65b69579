//! The endpoints controller (upstream's `pkg/controller/endpoint`): every Service with a
//! selector gets a core/v1 Endpoints object of the same name listing its pods, ready ones in
//! `addresses` and the others in `notReadyAddresses` (all of them ready when
//! `publishNotReadyAddresses` is set), with ports resolved per pod (named targetPorts look up
//! the pod's container ports), terminating pods left out, and the
//! `endpoints.kubernetes.io/last-change-trigger-time` annotation. Services without a selector
//! and ExternalName Services are left alone; a deleted Service's Endpoints are deleted.
//!
//! [`util`] holds what the EndpointSlice controller shares with this one.

pub(crate) mod util;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::reflector::Store;

use crate::common::{is_not_found, is_pod_ready};
use crate::replicaset::informer::{self, key_of, split_key, Change, WorkQueue};
use crate::Context;
use util::TriggerTimeTracker;

/// Upstream's annotation with the time of the change the Endpoints reflect.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// Set when more addresses exist than an Endpoints object may hold.
pub const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// The label headless Services' endpoints carry.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Addresses one Endpoints object holds at most (upstream's `maxCapacity`).
pub const MAX_CAPACITY: usize = 1000;

const WORKERS: usize = 4;

struct Controller {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    triggers: TriggerTimeTracker,
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let (services, pods) = util::spawn_informers(&ctx.client, &queue);
    let endpoints = {
        let queue = queue.clone();
        // Someone else changing or deleting an Endpoints object gets it re-synced.
        informer::spawn(
            Api::<Endpoints>::all(ctx.client.clone()),
            move |change| match change {
                Change::Added(_) => {}
                Change::Updated { new: e, .. } | Change::Deleted(e) => queue.add(&key_of(&*e)),
            },
        )
    };
    if services.wait_until_ready().await.is_err()
        || pods.wait_until_ready().await.is_err()
        || endpoints.wait_until_ready().await.is_err()
    {
        tracing::error!("endpoints controller failed to start: informer ended");
        return;
    }
    let ctrl = Arc::new(Controller {
        client: ctx.client.clone(),
        services,
        pods,
        triggers: TriggerTimeTracker::default(),
    });
    util::run_workers("endpoints controller", queue, WORKERS, move |key| {
        let ctrl = ctrl.clone();
        async move { ctrl.sync(&key).await }
    })
    .await;
}

impl Controller {
    /// Upstream's `syncService`.
    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let api: Api<Endpoints> = Api::namespaced(self.client.clone(), ns);
        let Some(svc) = util::get_service(&self.services, key) else {
            self.triggers.forget(key);
            return match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(e),
            };
        };
        if util::service_type(&svc) == "ExternalName" || util::selector_of(&svc).is_none() {
            return Ok(());
        }
        let pods = util::pods_of(&svc, &self.pods);
        let trigger = self.triggers.compute(key, &svc, &pods);
        let (subsets, truncated) = truncate(desired_subsets(&svc, &pods));
        let current = api.get_opt(name).await?;

        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        if util::is_headless(&svc) {
            labels.insert(HEADLESS_LABEL.into(), String::new());
        } else {
            labels.remove(HEADLESS_LABEL);
        }
        if let Some(cur) = &current {
            let same_subsets = cur.subsets.clone().unwrap_or_default() == subsets;
            let same_labels = cur.metadata.labels.clone().unwrap_or_default() == labels;
            let over = cur
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(OVER_CAPACITY));
            if same_subsets && same_labels && over == truncated {
                return Ok(());
            }
        }
        let mut annotations = current
            .as_ref()
            .and_then(|c| c.metadata.annotations.clone())
            .unwrap_or_default();
        match trigger {
            Some(t) => {
                annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), t.to_string());
            }
            None => {
                annotations.remove(LAST_CHANGE_TRIGGER_TIME);
            }
        }
        if truncated {
            annotations.insert(OVER_CAPACITY.into(), "truncated".into());
        } else {
            annotations.remove(OVER_CAPACITY);
        }
        let metadata = ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..current
                .as_ref()
                .map(|c| c.metadata.clone())
                .unwrap_or_default()
        };
        let desired = Endpoints {
            metadata,
            subsets: (!subsets.is_empty()).then_some(subsets),
        };
        match current {
            None => {
                api.create(&PostParams::default(), &desired).await?;
            }
            Some(_) => {
                api.replace(name, &PostParams::default(), &desired).await?;
            }
        }
        Ok(())
    }
}

/// One (address, port) pair before repacking.
struct Entry {
    address: EndpointAddress,
    port: Option<EndpointPort>,
    ready: bool,
}

/// The subsets the Service's pods make (upstream's loop over pods plus `RepackSubsets`).
fn desired_subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let tolerate = spec.publish_not_ready_addresses == Some(true);
    let ports = spec.ports.unwrap_or_default();
    let mut entries = Vec::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, tolerate) {
            continue;
        }
        let Some(ip) = util::pod_ip(pod) else {
            continue;
        };
        let address = EndpointAddress {
            ip: ip.to_string(),
            hostname: util::should_set_hostname(pod, svc)
                .then(|| pod.spec.as_ref().and_then(|s| s.hostname.clone()))
                .flatten(),
            node_name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..Default::default()
            }),
        };
        let ready = tolerate || is_pod_ready(pod);
        if ports.is_empty() && util::is_headless(svc) {
            entries.push(Entry {
                address,
                port: None,
                ready,
            });
            continue;
        }
        for sp in &ports {
            let Some(port) = util::find_port(pod, sp) else {
                tracing::debug!(
                    pod = pod.metadata.name.as_deref().unwrap_or_default(),
                    "failed to find port for service port {:?}",
                    sp.name
                );
                continue;
            };
            entries.push(Entry {
                address: address.clone(),
                port: Some(EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: sp.app_protocol.clone(),
                }),
                ready,
            });
        }
    }
    repack(entries)
}

fn port_key(p: &EndpointPort) -> (String, i32, String) {
    (
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
    )
}

/// Upstream's `RepackSubsets`: addresses with the same set of ports share a subset; addresses
/// sorted by IP, ports by name.
fn repack(entries: Vec<Entry>) -> Vec<EndpointSubset> {
    // Address (by IP and pod) → its ports and readiness.
    let mut by_addr: BTreeMap<(String, String), (EndpointAddress, bool, Vec<EndpointPort>)> =
        BTreeMap::new();
    for e in entries {
        let uid = e
            .address
            .target_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default();
        let slot = by_addr
            .entry((e.address.ip.clone(), uid))
            .or_insert_with(|| (e.address.clone(), e.ready, Vec::new()));
        if let Some(p) = e.port {
            if !slot.2.iter().any(|q| port_key(q) == port_key(&p)) {
                slot.2.push(p);
            }
        }
    }
    type Group = (
        Vec<EndpointPort>,
        Vec<EndpointAddress>,
        Vec<EndpointAddress>,
    );
    let mut groups: HashMap<Vec<(String, i32, String)>, Group> = HashMap::new();
    for (_, (addr, ready, mut ports)) in by_addr {
        ports.sort_by_key(port_key);
        let key: Vec<_> = ports.iter().map(port_key).collect();
        let g = groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if ready {
            g.1.push(addr);
        } else {
            g.2.push(addr);
        }
    }
    let mut keyed: Vec<_> = groups.into_iter().collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed
        .into_iter()
        .map(|(_, (ports, ready, not_ready))| EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then_some(ports),
        })
        .collect()
}

/// Caps the addresses at [`MAX_CAPACITY`], ready ones first; reports whether any were cut.
fn truncate(subsets: Vec<EndpointSubset>) -> (Vec<EndpointSubset>, bool) {
    let total: usize = subsets
        .iter()
        .map(|s| {
            s.addresses.as_ref().map_or(0, Vec::len)
                + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        })
        .sum();
    if total <= MAX_CAPACITY {
        return (subsets, false);
    }
    let mut budget = MAX_CAPACITY;
    let mut out = subsets;
    for field in [0, 1] {
        for s in &mut out {
            let list = if field == 0 {
                &mut s.addresses
            } else {
                &mut s.not_ready_addresses
            };
            if let Some(l) = list {
                l.truncate(budget);
                budget -= l.len();
                if l.is_empty() {
                    *list = None;
                }
            }
        }
    }
    out.retain(|s| s.addresses.is_some() || s.not_ready_addresses.is_some());
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}),
        )
        .expect("service")
    }

    fn pod(name: &str, ip: &str, ready: bool, extra: serde_json::Value) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": if name == "b" { 9090 } else { 8080 }}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if let (Some(m), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                if let Some(obj) = m.get_mut(k).and_then(|o| o.as_object_mut()) {
                    for (kk, xx) in x.as_object().into_iter().flatten() {
                        obj.insert(kk.clone(), xx.clone());
                    }
                }
            }
        }
        Arc::new(serde_json::from_value(v).expect("pod"))
    }

    fn ips(list: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        list.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn subsets_follow_readiness_named_ports_and_termination() {
        let s = svc(json!({"selector": {"app": "web"}, "ports": [
            {"name": "web", "port": 80, "targetPort": "http"}]}));
        let pods = vec![
            pod("a", "10.0.0.1", true, json!({})),
            pod("b", "10.0.0.2", true, json!({})),
            pod("c", "10.0.0.3", false, json!({})),
            pod(
                "d",
                "10.0.0.4",
                true,
                json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}),
            ),
            pod("e", "", true, json!({})),
        ];
        let got = desired_subsets(&s, &pods);
        assert_eq!(got.len(), 2, "{got:?}");
        // Pod b's named port resolves to 9090: it gets a subset of its own.
        let s8080 = got
            .iter()
            .find(|s| s.ports.as_ref().expect("ports")[0].port == 8080)
            .expect("8080");
        assert_eq!(ips(&s8080.addresses), ["10.0.0.1"]);
        assert_eq!(ips(&s8080.not_ready_addresses), ["10.0.0.3"]);
        let s9090 = got
            .iter()
            .find(|s| s.ports.as_ref().expect("ports")[0].port == 9090)
            .expect("9090");
        assert_eq!(ips(&s9090.addresses), ["10.0.0.2"]);
        let addr = &s9090.addresses.as_ref().expect("addresses")[0];
        assert_eq!(addr.node_name.as_deref(), Some("n1"));
        assert_eq!(
            addr.target_ref.as_ref().and_then(|r| r.uid.as_deref()),
            Some("uid-b")
        );
        assert_eq!(
            s8080.ports.as_ref().expect("ports")[0].name.as_deref(),
            Some("web")
        );

        // publishNotReadyAddresses: everything with an IP is ready, terminating included.
        let s = svc(
            json!({"selector": {"app": "web"}, "publishNotReadyAddresses": true,
            "ports": [{"port": 80, "targetPort": 8080}]}),
        );
        let got = desired_subsets(&s, &pods);
        assert_eq!(got.len(), 1);
        assert_eq!(
            ips(&got[0].addresses),
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        );
        assert!(got[0].not_ready_addresses.is_none());
    }

    #[test]
    fn headless_without_ports_lists_addresses_and_hostnames() {
        let s = svc(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
        let p = pod(
            "a",
            "10.0.0.1",
            true,
            json!({"spec": {"hostname": "a0", "subdomain": "web"}}),
        );
        let got = desired_subsets(&s, &[p]);
        assert_eq!(got.len(), 1);
        assert!(got[0].ports.is_none());
        let a = &got[0].addresses.as_ref().expect("addresses")[0];
        assert_eq!(a.hostname.as_deref(), Some("a0"));
    }

    #[test]
    fn more_than_max_capacity_is_truncated_ready_first() {
        let addr = |i: usize| EndpointAddress {
            ip: format!("10.0.{}.{}", i / 250, i % 250),
            ..Default::default()
        };
        let subsets = vec![EndpointSubset {
            addresses: Some((0..900).map(addr).collect()),
            not_ready_addresses: Some((900..1200).map(addr).collect()),
            ports: None,
        }];
        let (out, cut) = truncate(subsets);
        assert!(cut);
        assert_eq!(out[0].addresses.as_ref().map(Vec::len), Some(900));
        assert_eq!(out[0].not_ready_addresses.as_ref().map(Vec::len), Some(100));
    }
}
