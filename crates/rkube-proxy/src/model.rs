//! What the proxy reads from the API: Services become [`ServicePort`]s (one per port, with
//! the addresses it answers on and its traffic policies), EndpointSlices become
//! [`Endpoint`]s grouped by service port, and [`categorize`] picks which endpoints serve
//! cluster-wide and node-local traffic (upstream's `CategorizeEndpoints`, without topology
//! hints). Pure functions over `k8s-openapi` types; anything malformed is skipped.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::Ipv4Cidr;

/// The label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;

/// A transport protocol a service port uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Parses the API's `TCP`/`UDP`/`SCTP` (absent means TCP).
    pub fn parse(s: Option<&str>) -> Option<Protocol> {
        match s.unwrap_or("TCP") {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The lowercase name nftables uses (`tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// Names one port of one service: `namespace/name:port` plus the protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    /// The service's namespace.
    pub namespace: String,
    /// The service's name.
    pub name: String,
    /// The port's name (empty for a single unnamed port).
    pub port: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl std::fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One port of a Service, with everything the rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Which service port this is.
    pub name: ServicePortName,
    /// The ClusterIP.
    pub cluster_ip: Ipv4Addr,
    /// The service port.
    pub port: u16,
    /// The NodePort, if the service has one.
    pub node_port: Option<u16>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` (VIP mode only).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `spec.loadBalancerSourceRanges`.
    pub load_balancer_source_ranges: Vec<Ipv4Cidr>,
    /// `externalTrafficPolicy: Local` on a NodePort or LoadBalancer service.
    pub external_policy_local: bool,
    /// `internalTrafficPolicy: Local`.
    pub internal_policy_local: bool,
    /// `sessionAffinity: ClientIP`, with its timeout in seconds.
    pub affinity_timeout: Option<u32>,
}

impl ServicePort {
    /// Whether traffic reaches the service other than by its ClusterIP.
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some()
            || !self.external_ips.is_empty()
            || !self.load_balancer_ips.is_empty()
    }

    /// Whether some traffic uses endpoints on every node (always the case when the service
    /// accepts external traffic: pods and the node itself are short-circuited to them).
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local || self.externally_accessible()
    }

    /// Whether some traffic uses only this node's endpoints.
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local || (self.external_policy_local && self.externally_accessible())
    }
}

/// One endpoint address and port of a service port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The endpoint's address.
    pub ip: Ipv4Addr,
    /// The target port.
    pub port: u16,
    /// `conditions.ready` (absent means ready).
    pub ready: bool,
    /// `conditions.serving` (absent means the same as ready).
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
    /// Whether it runs on this node.
    pub local: bool,
}

/// The IPv4 address `s` if it is one.
fn ipv4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

/// The service ports of `svc` that the proxy handles: none for headless, ExternalName and
/// not-yet-allocated services, or services without an IPv4 ClusterIP.
pub fn service_ports(svc: &Service) -> Vec<ServicePort> {
    let (Some(namespace), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
        return Vec::new();
    };
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
    if type_ == "ExternalName" {
        return Vec::new();
    }
    let candidates = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter());
    let Some(cluster_ip) = candidates.filter_map(|s| ipv4(s)).next() else {
        return Vec::new();
    };
    let external_ips: Vec<Ipv4Addr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|s| ipv4(s))
        .collect();
    let load_balancer_ips: Vec<Ipv4Addr> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter(|i| i.ip_mode.as_deref().unwrap_or("VIP") == "VIP")
        .filter_map(|i| i.ip.as_deref().and_then(ipv4))
        .collect();
    let load_balancer_source_ranges: Vec<Ipv4Cidr> = spec
        .load_balancer_source_ranges
        .iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    let has_node_ports = matches!(type_, "NodePort" | "LoadBalancer");
    let external_policy_local =
        has_node_ports && spec.external_traffic_policy.as_deref() == Some("Local");
    let internal_policy_local = spec.internal_traffic_policy.as_deref() == Some("Local");
    let affinity_timeout = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .and_then(|t| u32::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(DEFAULT_AFFINITY_TIMEOUT)
    });
    let mut out = Vec::new();
    for p in spec.ports.iter().flatten() {
        let (Some(protocol), Ok(port)) = (
            Protocol::parse(p.protocol.as_deref()),
            u16::try_from(p.port),
        ) else {
            continue;
        };
        let node_port = p
            .node_port
            .filter(|_| has_node_ports)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0);
        out.push(ServicePort {
            name: ServicePortName {
                namespace: namespace.clone(),
                name: name.clone(),
                port: p.name.clone().unwrap_or_default(),
                protocol,
            },
            cluster_ip,
            port,
            node_port,
            external_ips: external_ips.clone(),
            load_balancer_ips: load_balancer_ips.clone(),
            load_balancer_source_ranges: load_balancer_source_ranges.clone(),
            external_policy_local,
            internal_policy_local,
            affinity_timeout,
        });
    }
    out
}

/// The IPv4 endpoints of every service port, from all slices (several slices of one service
/// are merged; an address listed twice counts once, ready copies first). Sorted by address.
pub fn endpoints<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    node_name: &str,
) -> BTreeMap<ServicePortName, Vec<Endpoint>> {
    let mut out: BTreeMap<ServicePortName, Vec<Endpoint>> = BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(namespace) = &slice.metadata.namespace else {
            continue;
        };
        let Some(service) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        for port in slice.ports.iter().flatten() {
            let (Some(protocol), Some(number)) = (
                Protocol::parse(port.protocol.as_deref()),
                port.port.and_then(|p| u16::try_from(p).ok()),
            ) else {
                continue;
            };
            let key = ServicePortName {
                namespace: namespace.clone(),
                name: service.clone(),
                port: port.name.clone().unwrap_or_default(),
                protocol,
            };
            let list = out.entry(key).or_default();
            for ep in &slice.endpoints {
                // Like upstream, only the first address of an endpoint is used.
                let Some(ip) = ep.addresses.first().and_then(|a| ipv4(a)) else {
                    continue;
                };
                let cond = ep.conditions.as_ref();
                let ready = cond.and_then(|c| c.ready).unwrap_or(true);
                let serving = cond.and_then(|c| c.serving).unwrap_or(ready);
                let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
                list.push(Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving,
                    terminating,
                    local: ep.node_name.as_deref() == Some(node_name),
                });
            }
        }
    }
    for list in out.values_mut() {
        // Ready copies sort first within one address, so dedup keeps them.
        list.sort_by_key(|e| (e.ip, e.port, !e.ready));
        list.dedup_by(|b, a| a.ip == b.ip && a.port == b.port);
    }
    out.retain(|_, l| !l.is_empty());
    out
}

/// Which endpoints one service port sends traffic to on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorized {
    /// Endpoints for `Cluster` policy traffic (empty if no traffic uses that policy).
    pub cluster: Vec<Endpoint>,
    /// This node's endpoints for `Local` policy traffic (empty if none or unused).
    pub local: Vec<Endpoint>,
    /// Whether the service has any usable endpoint anywhere.
    pub has_any: bool,
}

impl Categorized {
    /// Every endpoint some rule may send traffic to (each needs an endpoint chain).
    pub fn all_reachable(&self) -> Vec<&Endpoint> {
        let mut all: Vec<&Endpoint> = self.cluster.iter().collect();
        for ep in &self.local {
            if !all.contains(&ep) {
                all.push(ep);
            }
        }
        all
    }
}

/// Splits `eps` into cluster and local endpoints for `sp`: ready endpoints, or, when there
/// are none, the ones still serving while terminating (so connections drain gracefully).
pub fn categorize(sp: &ServicePort, eps: &[Endpoint]) -> Categorized {
    let usable = |e: &&Endpoint| e.ready || (e.serving && e.terminating);
    let has_any = eps.iter().any(|e| usable(&e));
    let pick = |candidates: Vec<&Endpoint>| -> Vec<Endpoint> {
        if candidates.iter().any(|e| e.ready) {
            candidates
                .into_iter()
                .filter(|e| e.ready)
                .cloned()
                .collect()
        } else {
            candidates
                .into_iter()
                .filter(|e| e.serving && e.terminating)
                .cloned()
                .collect()
        }
    };
    let cluster = if sp.uses_cluster_endpoints() {
        pick(eps.iter().collect())
    } else {
        Vec::new()
    };
    let local = if sp.uses_local_endpoints() {
        pick(eps.iter().filter(|e| e.local).collect())
    } else {
        Vec::new()
    };
    Categorized {
        cluster,
        local,
        has_any,
    }
}
