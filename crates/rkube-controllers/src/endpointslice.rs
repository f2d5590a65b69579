//! The EndpointSlice controller (upstream's `pkg/controller/endpointslice` and its
//! reconciler): every Service with a selector gets discovery.k8s.io/v1 EndpointSlices named
//! `<service>-xxxxx`, labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io` and owned by the
//! Service. Each endpoint is one pod: its address, `ready`/`serving`/`terminating`
//! conditions, node, zone, hostname and a reference to the pod. Endpoints with the same
//! resolved ports share slices of at most 100; a Service with no endpoints keeps one empty
//! placeholder slice. Existing slices are updated in place so unchanged endpoints do not
//! move. Services without a selector, and ExternalName Services, are left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::common::{controller_ref, get_controller_of, is_not_found, is_pod_ready};
use crate::endpoints::util::{self, TriggerTimeTracker};
use crate::endpoints::{HEADLESS_LABEL, LAST_CHANGE_TRIGGER_TIME};
use crate::replicaset::informer::{self, key_of, split_key, Change, WorkQueue};
use crate::Context;

/// The `managed-by` label's value on slices this controller owns.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// The label naming who manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Endpoints one slice holds at most (upstream's `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The node label with the zone endpoints report.
const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

const WORKERS: usize = 4;

struct Controller {
    client: kube::Client,
    services: Store<Service>,
    pods: Store<Pod>,
    nodes: Store<Node>,
    triggers: TriggerTimeTracker,
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let (services, pods) = util::spawn_informers(&ctx.client, &queue);
    let nodes = {
        let (queue, services) = (queue.clone(), services.clone());
        // Pods on an unknown node are left out and zones come from nodes: node changes that
        // matter re-sync every Service.
        informer::spawn(Api::<Node>::all(ctx.client.clone()), move |change| {
            let zone = |n: &Node| {
                n.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(ZONE_LABEL).cloned())
            };
            let all = match &change {
                Change::Added(_) | Change::Deleted(_) => true,
                Change::Updated { old, new } => zone(old) != zone(new),
            };
            if all {
                for s in services.state() {
                    queue.add(&key_of(&*s));
                }
            }
        })
    };
    let slices = {
        let queue = queue.clone();
        // Someone else changing or deleting a managed slice gets its Service re-synced.
        informer::spawn(
            Api::<EndpointSlice>::all(ctx.client.clone()),
            move |change| match change {
                Change::Added(_) => {}
                Change::Updated { new: s, .. } | Change::Deleted(s) => {
                    let labels = s.metadata.labels.clone().unwrap_or_default();
                    if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
                        return;
                    }
                    if let (Some(ns), Some(svc)) =
                        (&s.metadata.namespace, labels.get(LABEL_SERVICE_NAME))
                    {
                        queue.add(&format!("{ns}/{svc}"));
                    }
                }
            },
        )
    };
    if services.wait_until_ready().await.is_err()
        || pods.wait_until_ready().await.is_err()
        || nodes.wait_until_ready().await.is_err()
        || slices.wait_until_ready().await.is_err()
    {
        tracing::error!("endpointslice controller failed to start: informer ended");
        return;
    }
    let ctrl = Arc::new(Controller {
        client: ctx.client.clone(),
        services,
        pods,
        nodes,
        triggers: TriggerTimeTracker::default(),
    });
    util::run_workers("endpointslice controller", queue, WORKERS, move |key| {
        let ctrl = ctrl.clone();
        async move { ctrl.sync(&key).await }
    })
    .await;
}

/// A slice's identity for grouping: the resolved ports, sorted.
type PortsKey = Vec<(String, i32, String)>;

fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut k: PortsKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or(0),
                p.protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    k.sort();
    k
}

/// An endpoint's identity across syncs: the pod it stands for, else its first address.
fn endpoint_key(e: &Endpoint) -> String {
    match e.target_ref.as_ref().and_then(|r| r.uid.as_deref()) {
        Some(uid) => uid.to_string(),
        None => e.addresses.first().cloned().unwrap_or_default(),
    }
}

/// The endpoints one port set has, in pod order.
struct Group {
    ports: Vec<EndpointPort>,
    endpoints: Vec<Endpoint>,
}

impl Controller {
    async fn sync(&self, key: &str) -> Result<(), kube::Error> {
        let (ns, name) = split_key(key);
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let selector = format!("{LABEL_SERVICE_NAME}={name},{LABEL_MANAGED_BY}={CONTROLLER_NAME}");
        let Some(svc) = util::get_service(&self.services, key) else {
            // The garbage collector would remove them too (they are owned); do not wait.
            self.triggers.forget(key);
            for s in api
                .list(&ListParams::default().labels(&selector))
                .await?
                .items
            {
                delete_slice(&api, &s).await?;
            }
            return Ok(());
        };
        if util::service_type(&svc) == "ExternalName" || util::selector_of(&svc).is_none() {
            return Ok(());
        }
        let pods = util::pods_of(&svc, &self.pods);
        let trigger = self.triggers.compute(key, &svc, &pods);
        let existing = api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items;
        let uid = svc.metadata.uid.clone().unwrap_or_default();
        let (owned, stale): (Vec<_>, Vec<_>) = existing
            .into_iter()
            .partition(|s| get_controller_of(&s.metadata).is_some_and(|r| r.uid == uid));
        for s in &stale {
            delete_slice(&api, s).await?;
        }
        let mut plan = Plan::default();
        for family in address_types(&svc) {
            let groups = self.desired(&svc, &pods, &family);
            let mine: Vec<EndpointSlice> = owned
                .iter()
                .filter(|s| s.address_type == family)
                .cloned()
                .collect();
            reconcile(&family, groups, mine, &mut plan);
        }
        for s in owned
            .iter()
            .filter(|s| !address_types(&svc).contains(&s.address_type))
        {
            plan.delete.push(s.clone());
        }
        let labels = slice_labels(&svc);
        let annotate = |meta: &mut ObjectMeta| {
            meta.labels = Some(labels.clone());
            let a = meta.annotations.get_or_insert_with(Default::default);
            match &trigger {
                Some(t) => {
                    a.insert(LAST_CHANGE_TRIGGER_TIME.into(), t.to_string());
                }
                None => {
                    a.remove(LAST_CHANGE_TRIGGER_TIME);
                }
            }
            if a.is_empty() {
                meta.annotations = None;
            }
        };
        for mut s in plan.create {
            s.metadata = ObjectMeta {
                generate_name: Some(format!("{name}-")),
                namespace: Some(ns.to_string()),
                owner_references: Some(vec![controller_ref(&*svc)]),
                ..Default::default()
            };
            annotate(&mut s.metadata);
            api.create(&PostParams::default(), &s).await?;
        }
        for (mut s, _) in plan.update {
            annotate(&mut s.metadata);
            let sname = s.metadata.name.clone().unwrap_or_default();
            api.replace(&sname, &PostParams::default(), &s).await?;
        }
        for (s, _) in plan.unchanged {
            // Labels follow the Service even when the endpoints did not change.
            if s.metadata.labels.as_ref() != Some(&labels) {
                let mut s = s;
                s.metadata.labels = Some(labels.clone());
                let sname = s.metadata.name.clone().unwrap_or_default();
                api.replace(&sname, &PostParams::default(), &s).await?;
            }
        }
        for s in &plan.delete {
            delete_slice(&api, s).await?;
        }
        Ok(())
    }

    /// The endpoints of one address type, grouped by resolved ports (upstream's
    /// `podToEndpoint` and `getEndpointPorts`).
    fn desired(&self, svc: &Service, pods: &[Arc<Pod>], family: &str) -> BTreeMap<PortsKey, Group> {
        let spec = svc.spec.clone().unwrap_or_default();
        let publish = spec.publish_not_ready_addresses == Some(true);
        let mut groups: BTreeMap<PortsKey, Group> = BTreeMap::new();
        for pod in pods {
            if !util::should_pod_be_in_endpoints(pod, true) {
                continue;
            }
            let pod_spec = pod.spec.clone().unwrap_or_default();
            let node_name = pod_spec.node_name.clone().unwrap_or_default();
            // As upstream: a pod on a node we do not know yet waits for the node.
            let Some(node) = self.nodes.get(&ObjectRef::<Node>::new(&node_name)) else {
                continue;
            };
            let Some(address) = pod_address(pod, family) else {
                continue;
            };
            let mut ports = Vec::new();
            for sp in spec.ports.iter().flatten() {
                if let Some(n) = util::find_port(pod, sp) {
                    ports.push(EndpointPort {
                        name: Some(sp.name.clone().unwrap_or_default()),
                        port: Some(n),
                        protocol: Some(sp.protocol.clone().unwrap_or_else(|| "TCP".into())),
                        app_protocol: sp.app_protocol.clone(),
                    });
                }
            }
            let serving = is_pod_ready(pod);
            let terminating = pod.metadata.deletion_timestamp.is_some();
            let ready = publish || (serving && !terminating);
            let endpoint = Endpoint {
                addresses: vec![address],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    serving: Some(serving),
                    terminating: Some(terminating),
                }),
                hostname: util::should_set_hostname(pod, svc)
                    .then(|| pod_spec.hostname.clone())
                    .flatten(),
                node_name: Some(node_name),
                zone: node
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(ZONE_LABEL).cloned()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let key = ports_key(&ports);
            groups
                .entry(key)
                .or_insert_with(|| Group {
                    ports,
                    endpoints: Vec::new(),
                })
                .endpoints
                .push(endpoint);
        }
        groups
    }
}

async fn delete_slice(api: &Api<EndpointSlice>, s: &EndpointSlice) -> Result<(), kube::Error> {
    let name = s.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The address types a Service's slices have, from its IP families (upstream's
/// `getAddressTypesForService`).
fn address_types(svc: &Service) -> Vec<String> {
    let fams: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default();
    if fams.is_empty() {
        let v6 = svc
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ip.as_deref())
            .is_some_and(|ip| ip.contains(':'));
        return vec![if v6 { "IPv6" } else { "IPv4" }.to_string()];
    }
    fams
}

/// The pod's address of `family` (from `podIPs`, else `podIP`).
fn pod_address(pod: &Pod, family: &str) -> Option<String> {
    let st = pod.status.as_ref()?;
    let mut ips: Vec<&str> = st.pod_ips.iter().flatten().map(|p| p.ip.as_str()).collect();
    if ips.is_empty() {
        ips.extend(st.pod_ip.as_deref());
    }
    let want_v6 = family == "IPv6";
    ips.into_iter()
        .find(|ip| !ip.is_empty() && ip.contains(':') == want_v6)
        .map(String::from)
}

/// The labels of the Service's slices (upstream's `setEndpointSliceLabels`).
fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != LABEL_SERVICE_NAME && k != LABEL_MANAGED_BY && k != HEADLESS_LABEL)
        .collect();
    labels.insert(
        LABEL_SERVICE_NAME.into(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(LABEL_MANAGED_BY.into(), CONTROLLER_NAME.into());
    if util::is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// What a sync writes. Updated and unchanged slices carry their port-set key so new
/// endpoints can fill them.
#[derive(Default)]
struct Plan {
    create: Vec<EndpointSlice>,
    update: Vec<(EndpointSlice, PortsKey)>,
    unchanged: Vec<(EndpointSlice, PortsKey)>,
    delete: Vec<EndpointSlice>,
}

fn is_placeholder(s: &EndpointSlice) -> bool {
    s.endpoints.is_empty() && s.ports.as_ref().is_none_or(Vec::is_empty)
}

/// Upstream's `reconcileByAddressType`: keep endpoints where they are, drop the ones no
/// longer wanted, fill slices with room before creating new ones, delete emptied slices, and
/// keep one placeholder when nothing else remains.
fn reconcile(
    family: &str,
    mut groups: BTreeMap<PortsKey, Group>,
    existing: Vec<EndpointSlice>,
    plan: &mut Plan,
) {
    let before_create = plan.create.len();
    let before_kept = plan.update.len() + plan.unchanged.len();
    let before_delete = plan.delete.len();
    // What each group still has to place, by endpoint key.
    let mut pending: BTreeMap<PortsKey, BTreeMap<String, Endpoint>> = groups
        .iter()
        .map(|(k, g)| {
            (
                k.clone(),
                g.endpoints
                    .iter()
                    .map(|e| (endpoint_key(e), e.clone()))
                    .collect(),
            )
        })
        .collect();
    for s in existing {
        let key = ports_key(s.ports.as_deref().unwrap_or_default());
        let Some(want) = pending.get_mut(&key).filter(|_| !is_placeholder(&s)) else {
            plan.delete.push(s);
            continue;
        };
        let kept: Vec<Endpoint> = s
            .endpoints
            .iter()
            .filter_map(|e| want.remove(&endpoint_key(e)))
            .collect();
        if kept.is_empty() {
            plan.delete.push(s);
        } else if kept == s.endpoints {
            plan.unchanged.push((s, key));
        } else {
            let mut s = s;
            s.endpoints = kept;
            plan.update.push((s, key));
        }
    }
    // Place what is left: slices being updated first, then unchanged ones, then new slices.
    for (key, group) in groups.iter_mut() {
        let Some(left) = pending.remove(key) else {
            continue;
        };
        // Keep pod order for the new ones.
        let mut left: Vec<Endpoint> = group
            .endpoints
            .drain(..)
            .filter(|e| left.contains_key(&endpoint_key(e)))
            .collect();
        if left.is_empty() {
            continue;
        }
        for (s, k) in plan.update.iter_mut() {
            if k == key && s.endpoints.len() < MAX_ENDPOINTS_PER_SLICE {
                let room = MAX_ENDPOINTS_PER_SLICE - s.endpoints.len();
                s.endpoints.extend(left.drain(..room.min(left.len())));
            }
        }
        let mut moved = Vec::new();
        for (i, (s, k)) in plan.unchanged.iter_mut().enumerate() {
            if !left.is_empty() && k == key && s.endpoints.len() < MAX_ENDPOINTS_PER_SLICE {
                let room = MAX_ENDPOINTS_PER_SLICE - s.endpoints.len();
                s.endpoints.extend(left.drain(..room.min(left.len())));
                moved.push(i);
            }
        }
        for i in moved.into_iter().rev() {
            let entry = plan.unchanged.remove(i);
            plan.update.push(entry);
        }
        for chunk in left.chunks(MAX_ENDPOINTS_PER_SLICE) {
            plan.create.push(EndpointSlice {
                address_type: family.to_string(),
                endpoints: chunk.to_vec(),
                ports: Some(group.ports.clone()),
                metadata: ObjectMeta::default(),
            });
        }
    }
    // Nothing left for this address type: keep (or make) one empty placeholder.
    let kept = plan.update.len() + plan.unchanged.len() - before_kept;
    if kept == 0 && plan.create.len() == before_create {
        let deleting: Vec<usize> = (before_delete..plan.delete.len()).collect();
        if let Some(&i) = deleting.iter().find(|&&i| is_placeholder(&plan.delete[i])) {
            let s = plan.delete.remove(i);
            plan.unchanged.push((s, Vec::new()));
        } else {
            plan.create.push(EndpointSlice {
                address_type: family.to_string(),
                endpoints: Vec::new(),
                ports: None,
                metadata: ObjectMeta::default(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ep(uid: &str) -> Endpoint {
        serde_json::from_value(json!({"addresses": [format!("10.0.0.{}", uid.len())],
            "targetRef": {"kind": "Pod", "uid": uid}}))
        .expect("endpoint")
    }

    fn port(n: i32) -> EndpointPort {
        EndpointPort {
            name: Some(String::new()),
            port: Some(n),
            protocol: Some("TCP".into()),
            app_protocol: None,
        }
    }

    fn slice(name: &str, ports: Option<Vec<EndpointPort>>, eps: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            address_type: "IPv4".into(),
            endpoints: eps,
            ports,
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
        }
    }

    fn groups(n: usize, p: i32) -> BTreeMap<PortsKey, Group> {
        let ports = vec![port(p)];
        let mut g = BTreeMap::new();
        g.insert(
            ports_key(&ports),
            Group {
                ports,
                endpoints: (0..n).map(|i| ep(&format!("u{i:03}"))).collect(),
            },
        );
        g
    }

    #[test]
    fn endpoints_split_into_slices_of_at_most_100() {
        let mut plan = Plan::default();
        reconcile("IPv4", groups(250, 80), Vec::new(), &mut plan);
        let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
    }

    #[test]
    fn existing_slices_keep_their_endpoints_and_get_filled_first() {
        let g = groups(3, 80);
        let first: Vec<Endpoint> = g.values().next().expect("group").endpoints[..2].to_vec();
        let existing = vec![
            slice(
                "a",
                Some(vec![port(80)]),
                vec![first[0].clone(), ep("gone")],
            ),
            slice("b", Some(vec![port(80)]), vec![first[1].clone()]),
            slice("old-ports", Some(vec![port(81)]), vec![ep("x")]),
        ];
        let mut plan = Plan::default();
        reconcile("IPv4", g, existing, &mut plan);
        assert!(plan.create.is_empty());
        let names = |v: &[(EndpointSlice, PortsKey)]| -> Vec<String> {
            v.iter()
                .map(|(s, _)| s.metadata.name.clone().unwrap_or_default())
                .collect()
        };
        // "a" lost one endpoint and took the new one; "b" is untouched.
        assert_eq!(names(&plan.update), ["a"]);
        assert_eq!(plan.update[0].0.endpoints.len(), 2);
        assert_eq!(names(&plan.unchanged), ["b"]);
        assert_eq!(plan.delete.len(), 1);
    }

    #[test]
    fn no_endpoints_keeps_one_placeholder() {
        let mut plan = Plan::default();
        reconcile("IPv4", BTreeMap::new(), Vec::new(), &mut plan);
        assert_eq!(plan.create.len(), 1);
        assert!(is_placeholder(&plan.create[0]));
        let mut plan = Plan::default();
        let existing = vec![
            slice("p", None, Vec::new()),
            slice("q", Some(vec![port(80)]), vec![ep("x")]),
        ];
        reconcile("IPv4", BTreeMap::new(), existing, &mut plan);
        assert!(
            plan.create.is_empty(),
            "the placeholder is kept, not recreated"
        );
        assert_eq!(plan.unchanged.len(), 1);
        assert_eq!(plan.delete.len(), 1);
        // Endpoints appear: the placeholder goes.
        let mut plan = Plan::default();
        reconcile(
            "IPv4",
            groups(1, 80),
            vec![slice("p", None, Vec::new())],
            &mut plan,
        );
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.delete.len(), 1);
    }
}
