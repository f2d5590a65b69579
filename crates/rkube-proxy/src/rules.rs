//! The nftables ruleset: what the `ip rkube-proxy` table should contain for a set of
//! service ports and endpoints ([`build`]), and the `nft -f` scripts that get the kernel
//! there ([`render`]): a full rewrite, or only the chains, map elements and sets that
//! differ from what was applied last (O(changes)).
//!
//! The layout follows upstream's nftables mode: base chains `filter-*`/`nat-*` hooked at
//! `dstnat-10`, `dstnat`, `dstnat+10` and `srcnat`; a `services` chain dispatching through the
//! verdict maps `service-ips` (address . protocol . port) and `service-nodeports` (protocol .
//! port, on local addresses); per service port a `service-…` (cluster policy), `local-…`
//! (local policy), `external-…` (NodePort/LoadBalancer/external IPs) and `firewall-…`
//! (loadBalancerSourceRanges) chain; one `endpoint-…` chain per endpoint that DNATs, with an
//! `affinity-…` set for ClientIP session affinity; `no-endpoint-*` maps that reject (no
//! endpoints at all) or drop (no local endpoints) from the filter chains; and packets marked
//! by `mark-for-masquerade` are masqueraded in `masquerading`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};

use crate::model::{categorize, Endpoint, ServicePort, ServicePortName};
use crate::{Config, NodePortAddresses, TABLE};

/// The packet mark bit asking for masquerade (upstream's default bit 14).
pub const MASQUERADE_MARK: &str = "0x00004000";

/// Verdict map: ClusterIP, external IP and LoadBalancer IP . protocol . port → chain.
pub const SERVICE_IPS: &str = "service-ips";
/// Verdict map: protocol . NodePort → chain.
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
/// Verdict map: address . protocol . port of services without endpoints → reject/drop.
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
/// Verdict map: protocol . NodePort of services without endpoints → reject/drop.
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
/// Verdict map: LoadBalancer IP . protocol . port → firewall chain.
pub const FIREWALL_IPS: &str = "firewall-ips";

const MAPS: [(&str, &str, &str); 5] = [
    (
        SERVICE_IPS,
        "ipv4_addr . inet_proto . inet_service : verdict",
        "ClusterIP, ExternalIP and LoadBalancer IP traffic",
    ),
    (
        SERVICE_NODEPORTS,
        "inet_proto . inet_service : verdict",
        "NodePort traffic",
    ),
    (
        NO_ENDPOINT_SERVICES,
        "ipv4_addr . inet_proto . inet_service : verdict",
        "vmap to drop or reject packets to services with no endpoints",
    ),
    (
        NO_ENDPOINT_NODEPORTS,
        "inet_proto . inet_service : verdict",
        "vmap to drop or reject packets to service nodeports with no endpoints",
    ),
    (
        FIREWALL_IPS,
        "ipv4_addr . inet_proto . inet_service : verdict",
        "destinations that are subject to LoadBalancerSourceRanges",
    ),
];

/// Base chains: name, type, hook, numeric priority (dstnat is -100, srcnat 100).
const BASE_CHAINS: [(&str, &str, &str, i32); 8] = [
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

/// Regular chains jumped to from base chains: (target, from, condition).
const JUMPS: [(&str, &str, &str); 10] = [
    ("endpoints-check", "filter-input", "ct state new "),
    ("endpoints-check", "filter-forward", "ct state new "),
    ("endpoints-check", "filter-output", "ct state new "),
    ("firewall-check", "filter-prerouting", "ct state new "),
    ("firewall-check", "filter-output", "ct state new "),
    ("cluster-ips-check", "filter-forward", "ct state new "),
    (
        "cluster-ips-check",
        "filter-output-post-dnat",
        "ct state new ",
    ),
    ("services", "nat-output", ""),
    ("services", "nat-prerouting", ""),
    ("masquerading", "nat-postrouting", ""),
];

const MARK_MASQ: &str = "mark-for-masquerade";
const REJECT_CHAIN: &str = "reject-chain";

/// One element of a verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The verdict (`goto CHAIN`, `drop`).
    pub verdict: String,
    /// Which service port it is for, when useful to a reader of `nft list`.
    pub comment: Option<String>,
}

/// What the service-dependent part of the table should contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Per-service and per-endpoint chains, by name, with their rules in order.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Elements of each verdict map, by map name and key.
    pub maps: BTreeMap<&'static str, BTreeMap<String, Element>>,
    /// ClientIP affinity sets and their timeouts in seconds.
    pub affinity_sets: BTreeMap<String, u32>,
    /// Every ClusterIP (the `cluster-ips` set).
    pub cluster_ips: BTreeSet<Ipv4Addr>,
}

impl Ruleset {
    fn element(&mut self, map: &'static str, key: String, verdict: String, comment: Option<&str>) {
        self.maps.entry(map).or_default().insert(
            key,
            Element {
                verdict,
                comment: comment.map(str::to_string),
            },
        );
    }

    /// How many service and endpoint chains there are.
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }
}

/// `HASH-name`, truncated so prefixed chain names stay below nftables' 256 bytes; the hash
/// keeps truncated names unique and makes similar names easy to tell apart.
fn hash_and_truncate(name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const MAX: usize = 240;
    let digest = Sha256::digest(name.as_bytes());
    // The first 40 bits as 8 base32 characters.
    let bits = digest[..5]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut out: String = (0..8)
        .map(|i| ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize] as char)
        .collect();
    out.push('-');
    out.push_str(name);
    if out.len() > MAX {
        let mut cut = MAX - 3;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("...");
    }
    out
}

/// `HASH-namespace/name/protocol/port` (names and protocols only use `[a-z0-9-]`, which
/// nftables accepts in chain names; `/` separates them).
pub fn service_chain_base(name: &ServicePortName) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}",
        name.namespace,
        name.name,
        name.protocol.as_str(),
        name.port
    ))
}

/// `HASH-namespace/name/protocol/port__ip/port`.
pub fn endpoint_chain_base(name: &ServicePortName, ep: &Endpoint) -> String {
    hash_and_truncate(&format!(
        "{}/{}/{}/{}__{}/{}",
        name.namespace,
        name.name,
        name.protocol.as_str(),
        name.port,
        ep.ip,
        ep.port
    ))
}

/// The desired table contents for `services` and their `endpoints`.
pub fn build(
    config: &Config,
    services: &[ServicePort],
    endpoints: &BTreeMap<ServicePortName, Vec<Endpoint>>,
) -> Ruleset {
    let mut rs = Ruleset::default();
    for sp in services {
        let eps = endpoints.get(&sp.name).map(Vec::as_slice).unwrap_or(&[]);
        add_service_port(&mut rs, config, sp, eps);
    }
    rs
}

fn add_service_port(rs: &mut Ruleset, config: &Config, sp: &ServicePort, eps: &[Endpoint]) {
    let proto = sp.name.protocol.as_str();
    let comment = sp.name.to_string();
    let comment = Some(comment.as_str());
    let base = service_chain_base(&sp.name);
    let cluster_chain = format!("service-{base}");
    let local_chain = format!("local-{base}");
    let external_chain = format!("external-{base}");
    let firewall_chain = format!("firewall-{base}");
    let ep_base = |ep: &Endpoint| endpoint_chain_base(&sp.name, ep);

    let cat = categorize(sp, eps);
    let (internal_chain, has_internal) = if sp.internal_policy_local {
        (&local_chain, !cat.local.is_empty())
    } else {
        (&cluster_chain, cat.has_any)
    };
    let (external_policy_chain, has_external) = if sp.external_policy_local {
        (&local_chain, !cat.local.is_empty())
    } else {
        (&cluster_chain, cat.has_any)
    };
    // The external chain is needed even without external endpoints: it short-circuits pod
    // and host traffic to the cluster endpoints.
    let uses_external_chain = cat.has_any && sp.externally_accessible();
    // No endpoints anywhere: reject (ICMP port unreachable). Endpoints, but none here for
    // a Local policy: drop.
    let (no_internal, no_external) = if cat.has_any {
        ("drop", "drop")
    } else {
        ("goto reject-chain", "goto reject-chain")
    };
    let triple = |ip: Ipv4Addr, port: u16| format!("{ip} . {proto} . {port}");

    rs.cluster_ips.insert(sp.cluster_ip);
    if has_internal {
        rs.element(
            SERVICE_IPS,
            triple(sp.cluster_ip, sp.port),
            format!("goto {internal_chain}"),
            None,
        );
    } else {
        rs.element(
            NO_ENDPOINT_SERVICES,
            triple(sp.cluster_ip, sp.port),
            no_internal.into(),
            comment,
        );
    }
    for ip in &sp.external_ips {
        if cat.has_any {
            rs.element(
                SERVICE_IPS,
                triple(*ip, sp.port),
                format!("goto {external_chain}"),
                None,
            );
        }
        if !has_external {
            rs.element(
                NO_ENDPOINT_SERVICES,
                triple(*ip, sp.port),
                no_external.into(),
                comment,
            );
        }
    }
    let uses_firewall =
        !sp.load_balancer_ips.is_empty() && !sp.load_balancer_source_ranges.is_empty();
    if uses_firewall {
        let mut sources: Vec<String> = sp
            .load_balancer_source_ranges
            .iter()
            .map(ToString::to_string)
            .collect();
        // A request from the node to its own LoadBalancer IP loops back with the VIP as its
        // source: allow it when the node itself is allowed.
        let allow_node = sp
            .load_balancer_source_ranges
            .iter()
            .any(|r| config.node_ips.iter().any(|ip| r.contains(*ip)));
        if allow_node {
            sources.extend(sp.load_balancer_ips.iter().map(ToString::to_string));
        }
        rs.chains.insert(
            firewall_chain.clone(),
            vec![format!("ip saddr != {{ {} }} drop", sources.join(", "))],
        );
    }
    for ip in &sp.load_balancer_ips {
        if cat.has_any {
            rs.element(
                SERVICE_IPS,
                triple(*ip, sp.port),
                format!("goto {external_chain}"),
                None,
            );
        }
        if uses_firewall {
            rs.element(
                FIREWALL_IPS,
                triple(*ip, sp.port),
                format!("goto {firewall_chain}"),
                comment,
            );
        }
        if !has_external {
            rs.element(
                NO_ENDPOINT_SERVICES,
                triple(*ip, sp.port),
                no_external.into(),
                comment,
            );
        }
    }
    if let Some(node_port) = sp.node_port {
        let key = format!("{proto} . {node_port}");
        if cat.has_any {
            rs.element(
                SERVICE_NODEPORTS,
                key.clone(),
                format!("goto {external_chain}"),
                None,
            );
        }
        if !has_external {
            rs.element(NO_ENDPOINT_NODEPORTS, key, no_external.into(), comment);
        }
    }

    // Policy chains pick an endpoint (sticky clients first).
    let policy_rules = |chain_eps: &[Endpoint]| -> Vec<String> {
        let mut rules = Vec::new();
        if sp.affinity_timeout.is_some() {
            for ep in chain_eps {
                let b = ep_base(ep);
                rules.push(format!("ip saddr @affinity-{b} goto endpoint-{b}"));
            }
        }
        let arms: Vec<String> = chain_eps
            .iter()
            .enumerate()
            .map(|(i, ep)| format!("{i} : goto endpoint-{}", ep_base(ep)))
            .collect();
        rules.push(format!(
            "numgen random mod {} vmap {{ {} }}",
            chain_eps.len(),
            arms.join(", ")
        ));
        rules
    };
    let masq_rule = if !has_internal {
        None
    } else if config.masquerade_all {
        Some(format!(
            "ip daddr {} {proto} dport {} jump {MARK_MASQ}",
            sp.cluster_ip, sp.port
        ))
    } else {
        // Off-cluster clients may have been routed here by a static route to the service
        // range: masquerade so replies come back through this node.
        config.cluster_cidr.map(|cidr| {
            format!(
                "ip daddr {} {proto} dport {} ip saddr != {cidr} jump {MARK_MASQ}",
                sp.cluster_ip, sp.port
            )
        })
    };
    for (chain, chain_eps) in [(&cluster_chain, &cat.cluster), (&local_chain, &cat.local)] {
        if chain_eps.is_empty() {
            continue;
        }
        let mut rules = Vec::new();
        if chain == internal_chain {
            rules.extend(masq_rule.clone());
        }
        rules.extend(policy_rules(chain_eps));
        rs.chains.insert(chain.clone(), rules);
    }

    if uses_external_chain {
        let mut rules = Vec::new();
        if !sp.external_policy_local {
            // Endpoints may be on other nodes: masquerade so replies come back here.
            rules.push(format!("jump {MARK_MASQ}"));
        } else {
            if let Some(cidr) = config.cluster_cidr {
                rules.push(format!(
                    "ip saddr {cidr} goto {cluster_chain} comment \"short-circuit pod traffic\""
                ));
            }
            rules.push(format!(
                "fib saddr type local jump {MARK_MASQ} comment \"masquerade local traffic\""
            ));
            rules.push(format!(
                "fib saddr type local goto {cluster_chain} comment \"short-circuit local traffic\""
            ));
        }
        if has_external {
            rules.push(format!("goto {external_policy_chain}"));
        }
        rs.chains.insert(external_chain, rules);
    }

    for ep in cat.all_reachable() {
        let b = ep_base(ep);
        // Hairpin: a pod reaching itself through the service must not see its own address
        // as the source.
        let mut rules = vec![format!("ip saddr {} jump {MARK_MASQ}", ep.ip)];
        if let Some(timeout) = sp.affinity_timeout {
            rs.affinity_sets.insert(format!("affinity-{b}"), timeout);
            rules.push(format!("update @affinity-{b} {{ ip saddr }}"));
        }
        rules.push(format!(
            "meta l4proto {proto} dnat to {}:{}",
            ep.ip, ep.port
        ));
        rs.chains.insert(format!("endpoint-{b}"), rules);
    }
}

/// How [`render`] gets from the applied table to the desired one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Delete and recreate the whole table (first sync, or after a failed transaction).
    Recreate,
    /// Rewrite every chain and map while keeping the table (and affinity state).
    Rewrite,
    /// Touch only what changed.
    Diff,
}

/// One `nft -f` script (one atomic transaction) from `prev` (what is applied; ignored for
/// [`Mode::Recreate`]) to `next`. `None` if nothing needs to change.
pub fn render(config: &Config, prev: &Ruleset, next: &Ruleset, mode: Mode) -> Option<String> {
    if mode == Mode::Diff && prev == next {
        return None;
    }
    // nftables cannot change a set's timeout, and a set cannot be replaced while rules use
    // it: a changed session affinity timeout (rare) rebuilds the table.
    let timeout_changed = next
        .affinity_sets
        .iter()
        .any(|(s, t)| prev.affinity_sets.get(s).is_some_and(|p| p != t));
    let mode = if timeout_changed {
        Mode::Recreate
    } else {
        mode
    };
    let empty = Ruleset::default();
    let prev = if mode == Mode::Recreate { &empty } else { prev };
    let mut out = String::new();
    if mode == Mode::Recreate {
        // `add` first so `delete` cannot fail when the table is absent.
        let _ = writeln!(out, "add table ip {TABLE}");
        let _ = writeln!(out, "delete table ip {TABLE}");
    }
    setup(&mut out, config);
    let rewrite = mode == Mode::Rewrite;

    for (set, timeout) in &next.affinity_sets {
        // `add` keeps the elements (the sticky clients) of an existing set.
        if rewrite || !prev.affinity_sets.contains_key(set) {
            let _ = writeln!(
                out,
                "add set ip {TABLE} {set} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}"
            );
        }
    }
    let changed: Vec<(&String, &Vec<String>)> = next
        .chains
        .iter()
        .filter(|(name, rules)| rewrite || prev.chains.get(*name) != Some(rules))
        .collect();
    for (name, _) in &changed {
        let _ = writeln!(out, "add chain ip {TABLE} {name}");
    }
    for (name, rules) in &changed {
        if prev.chains.contains_key(*name) || rewrite {
            let _ = writeln!(out, "flush chain ip {TABLE} {name}");
        }
        for rule in *rules {
            let _ = writeln!(out, "add rule ip {TABLE} {name} {rule}");
        }
    }

    for (map, _, _) in MAPS {
        let old = prev.maps.get(map);
        let new = next.maps.get(map);
        if rewrite {
            let _ = writeln!(out, "flush map ip {TABLE} {map}");
        } else {
            for (key, el) in old.into_iter().flatten() {
                if new.and_then(|n| n.get(key)) != Some(el) {
                    let _ = writeln!(out, "delete element ip {TABLE} {map} {{ {key} }}");
                }
            }
        }
        for (key, el) in new.into_iter().flatten() {
            if rewrite || old.and_then(|o| o.get(key)) != Some(el) {
                let comment = el
                    .comment
                    .as_ref()
                    .map(|c| format!(" comment \"{c}\""))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "add element ip {TABLE} {map} {{ {key}{comment} : {} }}",
                    el.verdict
                );
            }
        }
    }
    if rewrite {
        let _ = writeln!(out, "flush set ip {TABLE} cluster-ips");
    } else {
        for ip in prev.cluster_ips.difference(&next.cluster_ips) {
            let _ = writeln!(out, "delete element ip {TABLE} cluster-ips {{ {ip} }}");
        }
    }
    for ip in &next.cluster_ips {
        if rewrite || !prev.cluster_ips.contains(ip) {
            let _ = writeln!(out, "add element ip {TABLE} cluster-ips {{ {ip} }}");
        }
    }

    // Stale chains go last, once nothing refers to them: flush all, then delete all (they
    // may jump to each other).
    let stale: Vec<&String> = prev
        .chains
        .keys()
        .filter(|c| !next.chains.contains_key(*c))
        .collect();
    for name in &stale {
        let _ = writeln!(out, "flush chain ip {TABLE} {name}");
    }
    for name in &stale {
        let _ = writeln!(out, "delete chain ip {TABLE} {name}");
    }
    for set in prev.affinity_sets.keys() {
        if !next.affinity_sets.contains_key(set) {
            let _ = writeln!(out, "delete set ip {TABLE} {set}");
        }
    }
    Some(out)
}

/// The fixed part of the table: base chains and their jumps, helper chains, maps and sets.
/// Idempotent (`add` then `flush`), so every transaction starts with it.
fn setup(out: &mut String, config: &Config) {
    let t = TABLE;
    let _ = writeln!(
        out,
        "add table ip {t} {{ comment \"rules for rkube-proxy\" ; }}"
    );
    for (map, type_, comment) in MAPS {
        let _ = writeln!(
            out,
            "add map ip {t} {map} {{ type {type_} ; comment \"{comment}\" ; }}"
        );
    }
    let _ = writeln!(
        out,
        "add set ip {t} cluster-ips {{ type ipv4_addr ; comment \"Active ClusterIPs\" ; }}"
    );
    let nodeport_match = match config.nodeport_addresses {
        NodePortAddresses::All => "fib daddr type local ip daddr != 127.0.0.0/8".to_string(),
        NodePortAddresses::NodeIps => {
            let _ = writeln!(
                out,
                "add set ip {t} nodeport-ips {{ type ipv4_addr ; comment \"IPs that accept NodePort traffic\" ; }}"
            );
            let _ = writeln!(out, "flush set ip {t} nodeport-ips");
            for ip in config.node_ips.iter().filter(|ip| !ip.is_loopback()) {
                let _ = writeln!(out, "add element ip {t} nodeport-ips {{ {ip} }}");
            }
            "ip daddr @nodeport-ips".to_string()
        }
    };
    for (name, type_, hook, priority) in BASE_CHAINS {
        let _ = writeln!(
            out,
            "add chain ip {t} {name} {{ type {type_} hook {hook} priority {priority} ; }}"
        );
        let _ = writeln!(out, "flush chain ip {t} {name}");
    }
    let regular = [
        "endpoints-check",
        "firewall-check",
        "cluster-ips-check",
        "services",
        "masquerading",
        MARK_MASQ,
        REJECT_CHAIN,
    ];
    for name in regular {
        let _ = writeln!(out, "add chain ip {t} {name}");
        let _ = writeln!(out, "flush chain ip {t} {name}");
    }
    for (target, from, cond) in JUMPS {
        let _ = writeln!(out, "add rule ip {t} {from} {cond}jump {target}");
    }
    let mut rule = |chain: &str, rule: &str| {
        let _ = writeln!(out, "add rule ip {t} {chain} {rule}");
    };
    rule(MARK_MASQ, &format!("mark set mark or {MASQUERADE_MARK}"));
    rule(
        "masquerading",
        &format!("mark and {MASQUERADE_MARK} == 0 return"),
    );
    rule(
        "masquerading",
        &format!("mark set mark xor {MASQUERADE_MARK}"),
    );
    rule("masquerading", "masquerade fully-random");
    rule(REJECT_CHAIN, "reject");
    rule(
        "endpoints-check",
        &format!("ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}"),
    );
    rule(
        "endpoints-check",
        &format!("{nodeport_match} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}"),
    );
    rule(
        "firewall-check",
        &format!("ip daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}"),
    );
    // These run after DNAT: whatever still goes to a ClusterIP matched no service port.
    rule(
        "cluster-ips-check",
        "ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"",
    );
    if let Some(cidr) = config.service_cidr {
        rule(
            "cluster-ips-check",
            &format!("ip daddr {cidr} drop comment \"Drop traffic to unallocated ClusterIPs\""),
        );
    }
    rule(
        "services",
        &format!("ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}"),
    );
    rule(
        "services",
        &format!("{nodeport_match} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}"),
    );
}

#[cfg(test)]
mod tests;
