//! Golden snippets of the generated rules, one feature per test, and the incremental
//! (diff) scripts.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;
use crate::sync::desired;

fn config() -> Config {
    let mut c = Config::new("node-a");
    c.node_ips = vec![Ipv4Addr::new(192, 168, 1, 10)];
    c
}

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

/// A ClusterIP service `ns/web` on 10.43.0.10:80 (port name `http`), patched by `spec`.
fn web(spec: serde_json::Value) -> Service {
    let mut base = json!({
        "metadata": {"namespace": "ns", "name": "web"},
        "spec": {"clusterIP": "10.43.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    });
    for (k, v) in spec.as_object().unwrap() {
        base["spec"][k] = v.clone();
    }
    svc(base)
}

/// A slice for `ns/web` port `http` → 8080 with `(ip, node, ready)` endpoints.
fn slice(name: &str, eps: &[(&str, &str, bool)]) -> EndpointSlice {
    let endpoints: Vec<serde_json::Value> = eps
        .iter()
        .map(|(ip, node, ready)| {
            json!({"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": name,
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    }))
    .unwrap()
}

fn full(c: &Config, services: &[Service], slices: &[EndpointSlice]) -> (Ruleset, String) {
    let rs = desired(c, services, slices);
    let script = render(c, &Ruleset::default(), &rs, Mode::Recreate).unwrap();
    (rs, script)
}

fn assert_has(script: &str, line: &str) {
    assert!(
        script.lines().any(|l| l == line),
        "missing line\n  {line}\nin\n{script}"
    );
}

fn assert_lacks(script: &str, needle: &str) {
    assert!(
        !script.contains(needle),
        "unexpected {needle:?} in\n{script}"
    );
}

fn base() -> String {
    service_chain_base(&ServicePortName {
        namespace: "ns".into(),
        name: "web".into(),
        port: "http".into(),
        protocol: crate::model::Protocol::Tcp,
    })
}

fn ep(ip: &str) -> String {
    endpoint_chain_base(
        &ServicePortName {
            namespace: "ns".into(),
            name: "web".into(),
            port: "http".into(),
            protocol: crate::model::Protocol::Tcp,
        },
        &Endpoint {
            ip: ip.parse().unwrap(),
            port: 8080,
            ready: true,
            serving: true,
            terminating: false,
            local: false,
        },
    )
}

#[test]
fn chain_names_are_hashed_and_readable() {
    let b = base();
    assert_eq!(b.len(), 8 + 1 + "ns/web/tcp/http".len());
    assert!(b.ends_with("-ns/web/tcp/http"), "{b}");
    assert!(b[..8]
        .chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    assert!(ep("10.42.0.5").ends_with("-ns/web/tcp/http__10.42.0.5/8080"));
    assert_ne!(&ep("10.42.0.5")[..8], &ep("10.42.0.6")[..8]);
    let long = hash_and_truncate(&"a".repeat(300));
    assert_eq!(long.len(), 240);
    assert!(long.ends_with("..."));
}

#[test]
fn setup_hooks_base_chains_and_dispatch() {
    let (_, s) = full(&config(), &[], &[]);
    assert!(s.starts_with("add table ip rkube-proxy\ndelete table ip rkube-proxy\n"));
    for line in [
        "add chain ip rkube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }",
        "add chain ip rkube-proxy nat-output { type nat hook output priority -100 ; }",
        "add chain ip rkube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }",
        "add chain ip rkube-proxy filter-input { type filter hook input priority -110 ; }",
        "add rule ip rkube-proxy nat-prerouting jump services",
        "add rule ip rkube-proxy nat-output jump services",
        "add rule ip rkube-proxy nat-postrouting jump masquerading",
        "add rule ip rkube-proxy filter-forward ct state new jump endpoints-check",
        "add rule ip rkube-proxy filter-output ct state new jump endpoints-check",
        "add rule ip rkube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips",
        "add rule ip rkube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
        "add rule ip rkube-proxy mark-for-masquerade mark set mark or 0x00004000",
        "add rule ip rkube-proxy masquerading mark and 0x00004000 == 0 return",
        "add rule ip rkube-proxy masquerading mark set mark xor 0x00004000",
        "add rule ip rkube-proxy masquerading masquerade fully-random",
        "add rule ip rkube-proxy reject-chain reject",
        "add rule ip rkube-proxy cluster-ips-check ip daddr 10.43.0.0/16 drop comment \"Drop traffic to unallocated ClusterIPs\"",
    ] {
        assert_has(&s, line);
    }
}

#[test]
fn nodeport_addresses_can_be_limited_to_node_ips() {
    let mut c = config();
    c.nodeport_addresses = NodePortAddresses::NodeIps;
    let (_, s) = full(&c, &[], &[]);
    assert_has(
        &s,
        "add element ip rkube-proxy nodeport-ips { 192.168.1.10 }",
    );
    assert_has(
        &s,
        "add rule ip rkube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
    );
    assert_lacks(&s, "fib daddr type local");
}

#[test]
fn cluster_ip_balances_over_endpoints_with_masquerade_and_hairpin() {
    let (rs, s) = full(
        &config(),
        &[web(json!({}))],
        &[slice(
            "web-1",
            &[("10.42.0.5", "node-a", true), ("10.42.1.6", "node-b", true)],
        )],
    );
    let (b, e5, e6) = (base(), ep("10.42.0.5"), ep("10.42.1.6"));
    for line in [
        format!("add element ip rkube-proxy service-ips {{ 10.43.0.10 . tcp . 80 : goto service-{b} }}"),
        "add element ip rkube-proxy cluster-ips { 10.43.0.10 }".to_string(),
        format!("add rule ip rkube-proxy service-{b} ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade"),
        format!("add rule ip rkube-proxy service-{b} numgen random mod 2 vmap {{ 0 : goto endpoint-{e5}, 1 : goto endpoint-{e6} }}"),
        format!("add rule ip rkube-proxy endpoint-{e5} ip saddr 10.42.0.5 jump mark-for-masquerade"),
        format!("add rule ip rkube-proxy endpoint-{e5} meta l4proto tcp dnat to 10.42.0.5:8080"),
        format!("add rule ip rkube-proxy endpoint-{e6} meta l4proto tcp dnat to 10.42.1.6:8080"),
    ] {
        assert_has(&s, &line);
    }
    assert_eq!(rs.chain_count(), 3, "{:?}", rs.chains.keys());
    assert_lacks(&s, "external-");
    assert_lacks(&s, "add element ip rkube-proxy no-endpoint-services");
}

#[test]
fn masquerade_all_and_no_cluster_cidr() {
    let mut c = config();
    c.masquerade_all = true;
    let (_, s) = full(
        &c,
        &[web(json!({}))],
        &[slice("a", &[("10.42.0.5", "n", true)])],
    );
    assert_has(
        &s,
        &format!("add rule ip rkube-proxy service-{} ip daddr 10.43.0.10 tcp dport 80 jump mark-for-masquerade", base()),
    );
    c.masquerade_all = false;
    c.cluster_cidr = None;
    let (_, s) = full(
        &c,
        &[web(json!({}))],
        &[slice("a", &[("10.42.0.5", "n", true)])],
    );
    assert_lacks(&s, "dport 80 ip saddr");
    assert_lacks(&s, "tcp dport 80 jump");
}

#[test]
fn no_endpoints_rejects() {
    let (rs, s) = full(
        &config(),
        &[web(
            json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
        )],
        &[slice("a", &[("10.42.0.5", "node-a", false)])],
    );
    assert_has(&s, "add element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 comment \"ns/web:http\" : goto reject-chain }");
    assert_has(&s, "add element ip rkube-proxy no-endpoint-nodeports { tcp . 30080 comment \"ns/web:http\" : goto reject-chain }");
    assert!(rs.chains.is_empty());
    assert_lacks(&s, "add element ip rkube-proxy service-ips");
    assert_lacks(&s, "add element ip rkube-proxy service-nodeports");
}

#[test]
fn terminating_serving_endpoints_are_used_when_none_is_ready() {
    let mut sl = slice("a", &[("10.42.0.5", "n", false), ("10.42.0.6", "n", false)]);
    sl.endpoints[0].conditions = Some(
        serde_json::from_value(json!({"ready": false, "serving": true, "terminating": true}))
            .unwrap(),
    );
    let (rs, s) = full(&config(), &[web(json!({}))], &[sl]);
    assert_has(
        &s,
        &format!("add rule ip rkube-proxy service-{} numgen random mod 1 vmap {{ 0 : goto endpoint-{} }}", base(), ep("10.42.0.5")),
    );
    assert_eq!(rs.chain_count(), 2);
}

#[test]
fn nodeport_goes_through_the_external_chain_with_masquerade() {
    let (_, s) = full(
        &config(),
        &[web(
            json!({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
        )],
        &[slice("a", &[("10.42.0.5", "node-b", true)])],
    );
    let b = base();
    assert_has(
        &s,
        &format!(
            "add element ip rkube-proxy service-nodeports {{ tcp . 30080 : goto external-{b} }}"
        ),
    );
    assert_has(
        &s,
        &format!("add rule ip rkube-proxy external-{b} jump mark-for-masquerade"),
    );
    assert_has(
        &s,
        &format!("add rule ip rkube-proxy external-{b} goto service-{b}"),
    );
}

#[test]
fn external_traffic_policy_local_uses_local_endpoints_and_short_circuits() {
    let spec = json!({"type": "NodePort", "externalTrafficPolicy": "Local",
                      "ports": [{"name": "http", "port": 80, "nodePort": 30080}]});
    let (_, s) = full(
        &config(),
        &[web(spec.clone())],
        &[slice(
            "a",
            &[("10.42.0.5", "node-a", true), ("10.42.1.6", "node-b", true)],
        )],
    );
    let b = base();
    for line in [
        format!("add rule ip rkube-proxy external-{b} ip saddr 10.42.0.0/16 goto service-{b} comment \"short-circuit pod traffic\""),
        format!("add rule ip rkube-proxy external-{b} fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\""),
        format!("add rule ip rkube-proxy external-{b} fib saddr type local goto service-{b} comment \"short-circuit local traffic\""),
        format!("add rule ip rkube-proxy external-{b} goto local-{b}"),
        format!("add rule ip rkube-proxy local-{b} numgen random mod 1 vmap {{ 0 : goto endpoint-{} }}", ep("10.42.0.5")),
        format!("add rule ip rkube-proxy service-{b} numgen random mod 2 vmap {{ 0 : goto endpoint-{}, 1 : goto endpoint-{} }}", ep("10.42.0.5"), ep("10.42.1.6")),
    ] {
        assert_has(&s, &line);
    }
    assert_lacks(&s, &format!("external-{b} jump mark-for-masquerade\n"));

    // No endpoint on this node: external traffic is dropped, pods and the node still reach
    // the service through the short-circuit rules.
    let (_, s) = full(
        &config(),
        &[web(spec)],
        &[slice("a", &[("10.42.1.6", "node-b", true)])],
    );
    assert_has(&s, "add element ip rkube-proxy no-endpoint-nodeports { tcp . 30080 comment \"ns/web:http\" : drop }");
    assert_has(
        &s,
        &format!(
            "add element ip rkube-proxy service-nodeports {{ tcp . 30080 : goto external-{b} }}"
        ),
    );
    assert_lacks(&s, &format!("goto local-{b}"));
    assert_lacks(&s, &format!("chain ip rkube-proxy local-{b}"));
}

#[test]
fn internal_traffic_policy_local() {
    let spec = json!({"internalTrafficPolicy": "Local"});
    let (_, s) = full(
        &config(),
        &[web(spec.clone())],
        &[slice(
            "a",
            &[("10.42.0.5", "node-a", true), ("10.42.1.6", "node-b", true)],
        )],
    );
    let b = base();
    assert_has(
        &s,
        &format!(
            "add element ip rkube-proxy service-ips {{ 10.43.0.10 . tcp . 80 : goto local-{b} }}"
        ),
    );
    assert_has(&s, &format!("add rule ip rkube-proxy local-{b} ip daddr 10.43.0.10 tcp dport 80 ip saddr != 10.42.0.0/16 jump mark-for-masquerade"));
    assert_lacks(&s, &format!("service-{b}"));
    assert_lacks(&s, "10.42.1.6");

    let (_, s) = full(
        &config(),
        &[web(spec)],
        &[slice("a", &[("10.42.1.6", "node-b", true)])],
    );
    assert_has(&s, "add element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 comment \"ns/web:http\" : drop }");
}

#[test]
fn session_affinity_client_ip_uses_timed_sets() {
    let (rs, s) = full(
        &config(),
        &[web(json!({"sessionAffinity": "ClientIP",
                     "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}))],
        &[slice(
            "a",
            &[("10.42.0.5", "n", true), ("10.42.0.6", "n", true)],
        )],
    );
    let (b, e5) = (base(), ep("10.42.0.5"));
    for line in [
        format!("add set ip rkube-proxy affinity-{e5} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }}"),
        format!("add rule ip rkube-proxy service-{b} ip saddr @affinity-{e5} goto endpoint-{e5}"),
        format!("add rule ip rkube-proxy endpoint-{e5} update @affinity-{e5} {{ ip saddr }}"),
    ] {
        assert_has(&s, &line);
    }
    assert_eq!(rs.affinity_sets.len(), 2);
    // The rules pick a sticky endpoint before the random choice.
    let rules = &rs.chains[&format!("service-{b}")];
    assert!(rules.last().unwrap().starts_with("numgen"), "{rules:?}");

    let (rs, _) = full(
        &config(),
        &[web(json!({"sessionAffinity": "ClientIP"}))],
        &[slice("a", &[("10.42.0.5", "n", true)])],
    );
    assert_eq!(rs.affinity_sets.values().next(), Some(&10800));
}

#[test]
fn load_balancer_ingress_and_source_ranges() {
    let mut s = web(
        json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["192.168.0.0/16"],
                           "externalIPs": ["203.0.113.7"],
                           "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}),
    );
    s.status = Some(serde_json::from_value(json!({"loadBalancer": {"ingress": [
        {"ip": "198.51.100.1"}, {"ip": "198.51.100.2", "ipMode": "Proxy"}, {"hostname": "lb.example"}]}})).unwrap());
    let (_, script) = full(&config(), &[s], &[slice("a", &[("10.42.0.5", "n", true)])]);
    let b = base();
    for line in [
        format!("add element ip rkube-proxy service-ips {{ 198.51.100.1 . tcp . 80 : goto external-{b} }}"),
        format!("add element ip rkube-proxy service-ips {{ 203.0.113.7 . tcp . 80 : goto external-{b} }}"),
        format!("add element ip rkube-proxy firewall-ips {{ 198.51.100.1 . tcp . 80 comment \"ns/web:http\" : goto firewall-{b} }}"),
        // The node (192.168.1.10) is in the allowed range, so its own VIP-sourced traffic is too.
        format!("add rule ip rkube-proxy firewall-{b} ip saddr != {{ 192.168.0.0/16, 198.51.100.1 }} drop"),
    ] {
        assert_has(&script, &line);
    }
    assert_lacks(&script, "198.51.100.2");
}

#[test]
fn headless_external_name_and_foreign_families_are_skipped() {
    let services = [
        web(json!({"clusterIP": "None"})),
        web(json!({"type": "ExternalName", "externalName": "example.com", "clusterIP": ""})),
        web(json!({"clusterIP": "fd00::10"})),
    ];
    let (rs, _) = full(
        &config(),
        &services,
        &[slice("a", &[("10.42.0.5", "n", true)])],
    );
    assert_eq!(rs, Ruleset::default());
}

#[test]
fn slices_are_merged_and_deduplicated() {
    let (rs, _) = full(
        &config(),
        &[web(json!({}))],
        &[
            slice("a", &[("10.42.0.5", "n", false), ("10.42.0.7", "n", true)]),
            slice("b", &[("10.42.0.5", "n", true)]),
        ],
    );
    assert_eq!(
        rs.chains[&format!("service-{}", base())].last().unwrap(),
        &format!(
            "numgen random mod 2 vmap {{ 0 : goto endpoint-{}, 1 : goto endpoint-{} }}",
            ep("10.42.0.5"),
            ep("10.42.0.7")
        )
    );
}

#[test]
fn diff_touches_only_what_changed() {
    let c = config();
    let other = svc(json!({"metadata": {"namespace": "ns", "name": "other"},
        "spec": {"clusterIP": "10.43.0.20", "ports": [{"port": 53, "protocol": "UDP"}]}}));
    let services = [web(json!({})), other];
    let before = desired(
        &c,
        &services,
        &[slice(
            "a",
            &[("10.42.0.5", "n", true), ("10.42.0.6", "n", true)],
        )],
    );
    assert_eq!(render(&c, &before, &before, Mode::Diff), None);

    let after = desired(&c, &services, &[slice("a", &[("10.42.0.5", "n", true)])]);
    let s = render(&c, &before, &after, Mode::Diff).unwrap();
    let (b, e5, e6) = (base(), ep("10.42.0.5"), ep("10.42.0.6"));
    assert_has(&s, &format!("flush chain ip rkube-proxy service-{b}"));
    assert_has(&s, &format!("add rule ip rkube-proxy service-{b} numgen random mod 1 vmap {{ 0 : goto endpoint-{e5} }}"));
    assert_has(&s, &format!("flush chain ip rkube-proxy endpoint-{e6}"));
    assert_has(&s, &format!("delete chain ip rkube-proxy endpoint-{e6}"));
    // Untouched: the other endpoint's chain, the map elements, the other service.
    assert_lacks(&s, &format!("chain ip rkube-proxy endpoint-{e5}"));
    assert_lacks(&s, "add element");
    assert_lacks(&s, "10.43.0.20");
    assert!(
        s.find("flush chain ip rkube-proxy endpoint-").unwrap()
            > s.find("add rule ip rkube-proxy service-").unwrap()
    );

    // The last endpoint goes: the service now rejects.
    let empty = desired(&c, &services, &[]);
    let s = render(&c, &after, &empty, Mode::Diff).unwrap();
    assert_has(
        &s,
        "delete element ip rkube-proxy service-ips { 10.43.0.10 . tcp . 80 }",
    );
    assert_has(&s, "add element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 comment \"ns/web:http\" : goto reject-chain }");
    assert_has(&s, &format!("delete chain ip rkube-proxy service-{b}"));
    assert!(s.find("delete element").unwrap() < s.find("delete chain").unwrap());

    // The service goes: its ClusterIP leaves the set.
    let gone = desired(&c, &services[1..], &[]);
    let s = render(&c, &empty, &gone, Mode::Diff).unwrap();
    assert_has(
        &s,
        "delete element ip rkube-proxy cluster-ips { 10.43.0.10 }",
    );
    assert_has(
        &s,
        "delete element ip rkube-proxy no-endpoint-services { 10.43.0.10 . tcp . 80 }",
    );
}

#[test]
fn rewrite_keeps_affinity_sets_and_timeout_change_recreates() {
    let c = config();
    let sticky = |t: i32| {
        web(json!({"sessionAffinity": "ClientIP",
                   "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": t}}}))
    };
    let sl = [slice("a", &[("10.42.0.5", "n", true)])];
    let a = desired(&c, &[sticky(60)], &sl);
    let s = render(&c, &a, &a, Mode::Rewrite).unwrap();
    assert_lacks(&s, "delete table");
    assert_lacks(&s, "delete set");
    assert_has(&s, "flush map ip rkube-proxy service-ips");
    assert_has(
        &s,
        &format!("flush chain ip rkube-proxy service-{}", base()),
    );
    let b = desired(&c, &[sticky(90)], &sl);
    let s = render(&c, &a, &b, Mode::Diff).unwrap();
    assert!(s.starts_with("add table ip rkube-proxy\ndelete table ip rkube-proxy\n"));
}
