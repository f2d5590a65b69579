//! The pod network between nodes, host-gw style (as flannel's host-gw backend): on every node
//! a route to each other node's podCIDR via that node's InternalIP. Nodes must share a link
//! (one L2 segment), which is what host-gw assumes. Routes follow the Node objects: added and
//! updated as nodes join or change address, removed when they leave. Fake nodes are skipped.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

/// Routes this node should have: podCIDR → gateway, for every other real node.
pub fn wanted(nodes: &[Node], me: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in nodes {
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let fake = n
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("node.rkube.io/fake"))
            .is_some_and(|v| v == "true");
        if name == me || fake {
            continue;
        }
        let Some(cidr) = n.spec.as_ref().and_then(|s| s.pod_cidr.clone()) else {
            continue;
        };
        let ip = n
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone());
        if let Some(ip) = ip {
            out.insert(cidr, ip);
        }
    }
    out
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("run ip (Debian package iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Keeps the routes equal to [`wanted`], forever.
pub async fn run(client: kube::Client, me: String) {
    let nodes: Api<Node> = Api::all(client);
    let mut installed: BTreeMap<String, String> = BTreeMap::new();
    loop {
        if let Ok(list) = nodes.list(&Default::default()).await {
            let want = wanted(&list.items, &me);
            for (cidr, via) in &want {
                if installed.get(cidr) == Some(via) {
                    continue;
                }
                match ip(&["route", "replace", cidr, "via", via]) {
                    Ok(()) => {
                        tracing::info!(podCIDR = %cidr, via = %via, "added pod network route");
                        installed.insert(cidr.clone(), via.clone());
                    }
                    Err(e) => tracing::warn!(podCIDR = %cidr, via = %via, "cannot add route: {e}"),
                }
            }
            let gone: Vec<String> = installed
                .keys()
                .filter(|c| !want.contains_key(*c))
                .cloned()
                .collect();
            for cidr in gone {
                if let Err(e) = ip(&["route", "del", &cidr]) {
                    tracing::debug!(podCIDR = %cidr, "cannot remove route: {e}");
                }
                tracing::info!(podCIDR = %cidr, "removed pod network route");
                installed.remove(&cidr);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_to_other_real_nodes() {
        let node = |name: &str, cidr: Option<&str>, ip: Option<&str>, fake: bool| -> Node {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": if fake { serde_json::json!({"node.rkube.io/fake": "true"}) } else { serde_json::json!({}) }},
                "spec": {"podCIDR": cidr},
                "status": {"addresses": ip.map(|ip| vec![serde_json::json!({"type": "InternalIP", "address": ip})]).unwrap_or_default()}
            }))
            .unwrap()
        };
        let nodes = vec![
            node("me", Some("10.42.0.0/24"), Some("10.99.0.2"), false),
            node("a", Some("10.42.1.0/24"), Some("10.99.0.3"), false),
            node("b", None, Some("10.99.0.4"), false),
            node("c", Some("10.42.3.0/24"), None, false),
            node("f", Some("10.42.4.0/24"), Some("10.99.0.9"), true),
        ];
        let w = wanted(&nodes, "me");
        assert_eq!(w.len(), 1);
        assert_eq!(w["10.42.1.0/24"], "10.99.0.3");
    }
}
