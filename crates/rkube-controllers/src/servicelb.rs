//! ServiceLB, in the style of k3s's `servicelb` (without its per-Service DaemonSet):
//! LoadBalancer Services without a `loadBalancerClass` get `status.loadBalancer.ingress` set
//! to the addresses of the Ready nodes (their ExternalIPs when any node has one, else their
//! InternalIPs), in the Service's IP family. Opening the ports on those addresses is the
//! service proxy's job. When a Service stops being a LoadBalancer the API server clears the
//! status.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::json;

use crate::endpoints::util;
use crate::replicaset::informer::{self, key_of, split_key, Change, WorkQueue};
use crate::Context;

fn is_ours(svc: &Service) -> bool {
    util::service_type(svc) == "LoadBalancer"
        && svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_deref())
            .is_none()
}

fn node_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// What about a node matters here: readiness and addresses.
fn node_view(n: &Node) -> (bool, Option<&Vec<k8s_openapi::api::core::v1::NodeAddress>>) {
    (
        node_ready(n),
        n.status.as_ref().and_then(|s| s.addresses.as_ref()),
    )
}

/// The ingress addresses for a Service of `family` (`IPv4` or `IPv6`).
pub fn ingress_ips(nodes: &[Arc<Node>], family: &str) -> Vec<String> {
    let mut external = BTreeSet::new();
    let mut internal = BTreeSet::new();
    let want_v6 = family == "IPv6";
    for n in nodes.iter().filter(|n| node_ready(n)) {
        for a in n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
        {
            if a.address.contains(':') != want_v6 || a.address.parse::<std::net::IpAddr>().is_err()
            {
                continue;
            }
            match a.type_.as_str() {
                "ExternalIP" => external.insert(a.address.clone()),
                "InternalIP" => internal.insert(a.address.clone()),
                _ => false,
            };
        }
    }
    let chosen = if external.is_empty() {
        internal
    } else {
        external
    };
    chosen.into_iter().collect()
}

/// Runs the controller until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let queue = WorkQueue::new();
    let services = {
        let queue = queue.clone();
        informer::spawn(
            Api::<Service>::all(ctx.client.clone()),
            move |change| match change {
                Change::Added(s) => queue.add(&key_of(&*s)),
                Change::Updated { old, new } => {
                    if old.spec != new.spec || old.status != new.status {
                        queue.add(&key_of(&*new));
                    }
                }
                Change::Deleted(_) => {}
            },
        )
    };
    let nodes = {
        let (queue, services) = (queue.clone(), services.clone());
        informer::spawn(Api::<Node>::all(ctx.client.clone()), move |change| {
            let changed = match &change {
                Change::Added(_) | Change::Deleted(_) => true,
                Change::Updated { old, new } => node_view(old) != node_view(new),
            };
            if changed {
                for s in services.state().iter().filter(|s| is_ours(s)) {
                    queue.add(&key_of(&**s));
                }
            }
        })
    };
    if services.wait_until_ready().await.is_err() || nodes.wait_until_ready().await.is_err() {
        tracing::error!("servicelb failed to start: informer ended");
        return;
    }
    let client = ctx.client.clone();
    util::run_workers("servicelb", queue, 2, move |key| {
        let (client, services, nodes) = (client.clone(), services.clone(), nodes.clone());
        async move { sync(&client, &services, &nodes, &key).await }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    services: &Store<Service>,
    nodes: &Store<Node>,
    key: &str,
) -> Result<(), kube::Error> {
    let Some(svc) = util::get_service(services, key) else {
        return Ok(());
    };
    if !is_ours(&svc) {
        return Ok(());
    }
    let family = svc
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first().cloned())
        .unwrap_or_else(|| "IPv4".into());
    let ips = ingress_ips(&nodes.state(), &family);
    let current: Vec<String> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| i.iter().filter_map(|x| x.ip.clone()).collect())
        .unwrap_or_default();
    if current == ips {
        return Ok(());
    }
    let (ns, name) = split_key(key);
    let ingress: Vec<_> = ips
        .iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect();
    let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
    Api::<Service>::namespaced(client.clone(), ns)
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tracing::debug!(service = key, ?ips, "updated load balancer ingress");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: bool, addrs: &[(&str, &str)]) -> Arc<Node> {
        let addresses: Vec<_> = addrs
            .iter()
            .map(|(t, a)| json!({"type": t, "address": a}))
            .collect();
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "n"}, "status": {
                "addresses": addresses,
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}}))
            .expect("node"),
        )
    }

    #[test]
    fn ingress_uses_ready_nodes_external_ips_first() {
        let nodes = vec![
            node(true, &[("InternalIP", "10.0.0.2"), ("Hostname", "a")]),
            node(
                true,
                &[("InternalIP", "10.0.0.1"), ("InternalIP", "fd00::1")],
            ),
            node(false, &[("InternalIP", "10.0.0.3")]),
        ];
        assert_eq!(ingress_ips(&nodes, "IPv4"), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ingress_ips(&nodes, "IPv6"), ["fd00::1"]);
        let mut with_ext = nodes.clone();
        with_ext.push(node(
            true,
            &[("ExternalIP", "203.0.113.5"), ("InternalIP", "10.0.0.4")],
        ));
        assert_eq!(ingress_ips(&with_ext, "IPv4"), ["203.0.113.5"]);
    }
}
