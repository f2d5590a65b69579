//! The proxy against the real kernel: each test runs in its own network namespace with
//! "pods" in namespaces of their own, applies the rules with `nft`, and checks them with
//! real TCP connections. Needs root and the `nftables` package (skipped with a message
//! otherwise).

use crate::support;

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::*;

fn web(name: &str, ip: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    });
    for (k, val) in extra.as_object().unwrap() {
        v["spec"][k] = val.clone();
    }
    v
}

/// Requests from `ns` to `addr` until every pod in `want` answered (at most 60 tries).
async fn seen_pods(ns: Option<String>, addr: &str, want: &[&str]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        if let Ok(line) = request(ns.clone(), addr).await {
            seen.insert(line.split(' ').next().unwrap_or("").to_string());
        }
        if want.iter().all(|w| seen.contains(*w)) {
            break;
        }
    }
    seen
}

#[test]
fn cluster_ip_reaches_and_balances_over_endpoints() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        topo.pod("pod-a", "10.42.0.5");
        topo.pod("pod-b", "10.42.0.6");
        let (_srv, client) = server().await;
        create_service(&client, web("web", "10.43.0.50", json!({}))).await;
        create_slice(
            &client,
            slice_json(
                "web-1",
                "web",
                &[("10.42.0.5", "node-a"), ("10.42.0.6", "node-b")],
            ),
        )
        .await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();

        let first = eventually(10, "the ClusterIP to answer", || async {
            request(None, "10.43.0.50:80").await.ok()
        })
        .await;
        // From the node (outside the cluster CIDR): masqueraded to the pod gateway.
        assert!(first.ends_with(&format!(" {POD_GATEWAY}")), "{first}");
        let seen = seen_pods(None, "10.43.0.50:80", &["pod-a", "pod-b"]).await;
        assert_eq!(seen, BTreeSet::from(["pod-a".into(), "pod-b".into()]));
        // A port the service does not have is rejected, not left to time out.
        let err = request(None, "10.43.0.50:81").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn pods_keep_their_source_and_hairpin_is_masqueraded() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        let pod_a = topo.pod("pod-a", "10.42.0.5");
        topo.pod("pod-b", "10.42.0.6");
        let (_srv, client) = server().await;
        create_service(&client, web("to-a", "10.43.0.51", json!({}))).await;
        create_service(&client, web("to-b", "10.43.0.52", json!({}))).await;
        create_slice(
            &client,
            slice_json("to-a-1", "to-a", &[("10.42.0.5", "node-a")]),
        )
        .await;
        create_slice(
            &client,
            slice_json("to-b-1", "to-b", &[("10.42.0.6", "node-a")]),
        )
        .await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();

        // Pod to another pod through the service: the source address is kept.
        let line = eventually(10, "pod-a to reach to-b", || async {
            request(Some(pod_a.clone()), "10.43.0.52:80").await.ok()
        })
        .await;
        assert_eq!(line, "pod-b 10.42.0.5");
        // Pod to itself through the service (hairpin): masqueraded, or the pod would drop
        // a packet from its own address.
        let line = eventually(10, "pod-a to reach itself", || async {
            request(Some(pod_a.clone()), "10.43.0.51:80").await.ok()
        })
        .await;
        assert_eq!(line, format!("pod-a {POD_GATEWAY}"));
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn nodeport_and_load_balancer_answer_from_outside() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        topo.pod("pod-a", "10.42.0.5");
        let (_srv, client) = server().await;
        let svc = web(
            "web",
            "10.43.0.60",
            json!({"type": "LoadBalancer",
                   "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}),
        );
        create_service(&client, svc).await;
        let api: Api<Service> = Api::namespaced(client.clone(), "default");
        let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}});
        api.patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
        create_slice(
            &client,
            slice_json("web-1", "web", &[("10.42.0.5", "node-b")]),
        )
        .await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();

        let outside = Some(topo.client());
        let line = eventually(10, "the NodePort to answer the client", || async {
            request(outside.clone(), &format!("{NODE_IP}:30080"))
                .await
                .ok()
        })
        .await;
        // Cluster policy: masqueraded, the endpoint could be on another node.
        assert_eq!(line, format!("pod-a {POD_GATEWAY}"));
        let line = request(None, &format!("{NODE_IP}:30080")).await.unwrap();
        assert!(line.starts_with("pod-a "), "{line}");
        let line = eventually(10, "the LoadBalancer IP to answer", || async {
            request(outside.clone(), "198.51.100.10:80").await.ok()
        })
        .await;
        assert!(line.starts_with("pod-a "), "{line}");
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn external_traffic_policy_local_keeps_the_client_address() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        topo.pod("pod-a", "10.42.0.5");
        topo.pod("pod-b", "10.42.0.6");
        let (_srv, client) = server().await;
        let svc = web(
            "web",
            "10.43.0.61",
            json!({"type": "NodePort", "externalTrafficPolicy": "Local",
                   "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30081}]}),
        );
        create_service(&client, svc).await;
        // pod-b counts as running on another node: external traffic must not reach it.
        create_slice(
            &client,
            slice_json(
                "web-1",
                "web",
                &[("10.42.0.5", "node-a"), ("10.42.0.6", "node-b")],
            ),
        )
        .await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();

        let outside = Some(topo.client());
        let addr = format!("{NODE_IP}:30081");
        eventually(10, "the NodePort to answer", || async {
            request(outside.clone(), &addr).await.ok()
        })
        .await;
        for _ in 0..10 {
            let line = request(outside.clone(), &addr).await.unwrap();
            assert_eq!(line, format!("pod-a {CLIENT_IP}"));
        }
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn session_affinity_sticks_to_one_endpoint() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        topo.pod("pod-a", "10.42.0.5");
        topo.pod("pod-b", "10.42.0.6");
        let (_srv, client) = server().await;
        create_service(
            &client,
            web("web", "10.43.0.62", json!({"sessionAffinity": "ClientIP"})),
        )
        .await;
        create_slice(
            &client,
            slice_json(
                "web-1",
                "web",
                &[("10.42.0.5", "node-a"), ("10.42.0.6", "node-a")],
            ),
        )
        .await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();
        let first = eventually(10, "the ClusterIP to answer", || async {
            request(None, "10.43.0.62:80").await.ok()
        })
        .await;
        for _ in 0..15 {
            assert_eq!(request(None, "10.43.0.62:80").await.unwrap(), first);
        }
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn endpoint_changes_are_applied_and_no_endpoints_rejects() {
    in_node_netns(|| async {
        let mut topo = Topology::new();
        topo.pod("pod-a", "10.42.0.5");
        topo.pod("pod-b", "10.42.0.6");
        let (_srv, client) = server().await;
        create_service(&client, web("web", "10.43.0.70", json!({}))).await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();

        // No endpoints: refused at once (ICMP port unreachable), like upstream.
        let err = eventually(10, "the service to be rejected", || async {
            request(None, "10.43.0.70:80")
                .await
                .err()
                .filter(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
        .await;
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

        create_slice(
            &client,
            slice_json("web-1", "web", &[("10.42.0.5", "node-a")]),
        )
        .await;
        eventually(10, "pod-a to answer", || async {
            request(None, "10.43.0.70:80")
                .await
                .ok()
                .filter(|l| l.starts_with("pod-a "))
        })
        .await;

        // Replace the endpoint: only pod-b answers afterwards.
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
        let patch = json!({"endpoints": [{"addresses": ["10.42.0.6"], "nodeName": "node-a"}]});
        slices
            .patch("web-1", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
        eventually(10, "pod-b to answer", || async {
            request(None, "10.43.0.70:80")
                .await
                .ok()
                .filter(|l| l.starts_with("pod-b "))
        })
        .await;
        let seen = seen_pods(None, "10.43.0.70:80", &["pod-a"]).await;
        assert_eq!(seen, BTreeSet::from(["pod-b".into()]));

        slices
            .delete("web-1", &DeleteParams::default())
            .await
            .unwrap();
        eventually(10, "the service to be rejected again", || async {
            request(None, "10.43.0.70:80")
                .await
                .err()
                .filter(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        })
        .await;

        // Deleting the service removes all of its rules.
        let services: Api<Service> = Api::namespaced(client.clone(), "default");
        services
            .delete("web", &DeleteParams::default())
            .await
            .unwrap();
        eventually(10, "the service's rules to go", || async {
            let table = rkube_proxy::nft::list_table().unwrap().unwrap_or_default();
            (!table.contains("10.43.0.70") && !table.contains("default/web/")).then_some(())
        })
        .await;
        proxy.shutdown().await.unwrap();
    });
}

#[test]
fn cleanup_removes_the_table() {
    in_node_netns(|| async {
        let (_srv, client) = server().await;
        create_service(&client, web("web", "10.43.0.80", json!({}))).await;
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();
        eventually(10, "the table", || async {
            rkube_proxy::nft::list_table()
                .unwrap()
                .filter(|t| t.contains("10.43.0.80"))
        })
        .await;
        proxy.shutdown().await.unwrap();
        assert_eq!(rkube_proxy::nft::list_table().unwrap(), None);

        // `rkube proxy --cleanup`: works whether or not the table exists.
        let proxy = rkube_proxy::spawn(client.clone(), proxy_config()).unwrap();
        eventually(10, "the table again", || async {
            rkube_proxy::nft::list_table().unwrap()
        })
        .await;
        proxy.stop().await;
        assert!(rkube_proxy::nft::list_table().unwrap().is_some());
        rkube_proxy::cleanup().unwrap();
        assert_eq!(rkube_proxy::nft::list_table().unwrap(), None);
        rkube_proxy::cleanup().unwrap();
    });
}

#[test]
fn a_failed_transaction_is_repaired_by_recreating_the_table() {
    use rkube_proxy::rules::Mode;
    use rkube_proxy::sync::{desired, Syncer};
    in_node_netns(|| async {
        let config = proxy_config();
        let svc: Service = serde_json::from_value(web("web", "10.43.0.90", json!({}))).unwrap();
        let svc = Service {
            metadata: kube::api::ObjectMeta {
                namespace: Some("default".into()),
                ..svc.metadata
            },
            ..svc
        };
        let slice = |ip: &str| -> EndpointSlice {
            let mut v = slice_json("web-1", "web", &[(ip, "node-a")]);
            v["metadata"]["namespace"] = json!("default");
            serde_json::from_value(v).unwrap()
        };
        let mut syncer = Syncer::new(config.clone());
        let stats = syncer
            .apply(desired(&config, [&svc], [&slice("10.42.0.5")]))
            .await
            .unwrap();
        assert_eq!(stats.mode, Some(Mode::Recreate));
        // Someone else removes the table: the next diff refers to chains that are gone.
        rkube_proxy::cleanup().unwrap();
        let err = syncer
            .apply(desired(&config, [&svc], [&slice("10.42.0.6")]))
            .await
            .unwrap_err();
        assert!(matches!(err, rkube_proxy::Error::Apply(_)), "{err}");
        let stats = syncer
            .apply(desired(&config, [&svc], [&slice("10.42.0.6")]))
            .await
            .unwrap();
        assert_eq!(stats.mode, Some(Mode::Recreate));
        let table = rkube_proxy::nft::list_table().unwrap().unwrap();
        assert!(table.contains("dnat to 10.42.0.6:8080"), "{table}");
        rkube_proxy::cleanup().unwrap();
    });
}

#[test]
fn the_kernel_accepts_every_feature_in_every_mode() {
    use rkube_proxy::rules::{render, Mode, Ruleset};
    use rkube_proxy::sync::desired;
    in_node_netns(|| async {
        let mut config = proxy_config();
        config.nodeport_addresses = rkube_proxy::NodePortAddresses::NodeIps;
        let svc = |name: &str, ip: &str, spec: serde_json::Value| -> Service {
            let mut v = web(name, ip, spec);
            v["metadata"]["namespace"] = json!("default");
            v["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.20"}]}});
            serde_json::from_value(v).unwrap()
        };
        let ports = json!([
            {"name": "http", "port": 80, "nodePort": 30100},
            {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30101},
            {"name": "sig", "port": 9, "protocol": "SCTP", "nodePort": 30102}]);
        let services = [
            svc(
                "lb",
                "10.43.1.1",
                json!({"type": "LoadBalancer", "ports": ports,
                "loadBalancerSourceRanges": ["192.168.0.0/16"], "externalIPs": ["203.0.113.9"],
                "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP"}),
            ),
            svc(
                "itp",
                "10.43.1.2",
                json!({"internalTrafficPolicy": "Local"}),
            ),
            svc(
                "empty",
                "10.43.1.3",
                json!({"type": "NodePort",
                "ports": [{"name": "http", "port": 80, "nodePort": 30103}]}),
            ),
        ];
        let mut slices = Vec::new();
        for (name, ip, node) in [
            ("lb", "10.42.0.5", "node-b"),
            ("itp", "10.42.0.6", "node-b"),
        ] {
            let mut v = slice_json(&format!("{name}-1"), name, &[(ip, node)]);
            v["metadata"]["namespace"] = json!("default");
            v["ports"] = json!([{"name": "http", "port": 8080},
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "sig", "port": 9, "protocol": "SCTP"}]);
            slices.push(serde_json::from_value::<EndpointSlice>(v).unwrap());
        }
        let all = desired(&config, &services, &slices);
        let local = {
            let mut s = slices.clone();
            s[0].endpoints[0].node_name = Some("node-a".into());
            desired(&config, &services, &s)
        };
        let none = Ruleset::default();
        for (prev, next, mode) in [
            (&none, &all, Mode::Recreate),
            (&all, &all, Mode::Rewrite),
            (&all, &local, Mode::Diff),
            (&local, &all, Mode::Diff),
            (&all, &none, Mode::Diff),
        ] {
            let script = render(&config, prev, next, mode).unwrap();
            if let Err(e) = rkube_proxy::nft::run(&script) {
                panic!("{mode:?}: {e}\n{script}");
            }
        }
        let table = rkube_proxy::nft::list_table().unwrap().unwrap();
        assert!(!table.contains("default/"), "{table}");
        rkube_proxy::cleanup().unwrap();
    });
}
