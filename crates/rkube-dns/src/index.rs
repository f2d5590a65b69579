//! The in-memory view of the cluster that DNS answers come from: Services, the ready
//! endpoints of their EndpointSlices and the Namespaces, reduced to what DNS needs and kept
//! up to date by the watches in `watch`. Reverse maps (IP → owners) are maintained on every
//! change so a query never scans.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service as K8sService;
use k8s_openapi::api::discovery::v1::EndpointSlice as K8sSlice;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `(namespace, name)` of an object.
pub type Key = (String, String);

/// What DNS needs of a Service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub kind: ServiceKind,
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ServiceKind {
    /// ClusterIP, NodePort and LoadBalancer services: their cluster IPs (empty until one is
    /// allocated).
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered with the ready endpoints.
    Headless,
    /// `type: ExternalName`: a CNAME to this name.
    ExternalName(String),
}

/// A named or unnamed port with its protocol (upper case, as in the API).
#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub protocol: String,
    pub port: u16,
}

/// The ready endpoints of one EndpointSlice.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub service: String,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

/// One ready endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub addresses: Vec<IpAddr>,
    /// `endpoints[].hostname` (set for StatefulSet pods behind their governing service).
    pub hostname: Option<String>,
}

impl Endpoint {
    /// The endpoint's DNS label for `addr`: its hostname, or else the address with dashes
    /// (`10-42-0-5`, `fd00--5`) as CoreDNS does, so every endpoint has a stable name.
    pub fn label(&self, addr: &IpAddr) -> String {
        match &self.hostname {
            Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
            _ => dashed(addr),
        }
    }
}

/// `10.42.0.5` → `10-42-0-5`, `fd00::5` → `fd00--5`.
pub fn dashed(addr: &IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string().replace('.', "-"),
        IpAddr::V6(a) => a.to_string().replace(':', "-"),
    }
}

/// The whole index. Plain data: the server wraps it in a lock.
#[derive(Debug, Default)]
pub struct Index {
    services: HashMap<Key, Service>,
    slices: HashMap<Key, Slice>,
    /// (namespace, service) → names of its slices.
    slices_by_service: HashMap<Key, BTreeSet<String>>,
    namespaces: HashSet<String>,
    reverse_services: HashMap<IpAddr, BTreeSet<Key>>,
    /// IP → (namespace, slice name).
    reverse_slices: HashMap<IpAddr, BTreeSet<Key>>,
    /// Bumped on every change; the zone's SOA serial.
    pub serial: u32,
    /// Whether each watch has finished its initial list (services, slices, namespaces).
    pub synced: [bool; 3],
}

impl Index {
    pub fn is_synced(&self) -> bool {
        self.synced.iter().all(|s| *s)
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        self.services.get(&(ns.to_string(), name.to_string()))
    }

    pub fn has_namespace(&self, ns: &str) -> bool {
        self.namespaces.contains(ns)
    }

    /// The slices of service `ns/name`.
    pub fn slices_of<'a>(&'a self, ns: &str, name: &str) -> impl Iterator<Item = &'a Slice> + 'a {
        let ns = ns.to_string();
        self.slices_by_service
            .get(&(ns.clone(), name.to_string()))
            .into_iter()
            .flatten()
            .filter_map(move |s| self.slices.get(&(ns.clone(), s.clone())))
    }

    /// Services whose cluster IPs include `ip`, in name order.
    pub fn services_with_ip(&self, ip: &IpAddr) -> impl Iterator<Item = &Key> {
        self.reverse_services.get(ip).into_iter().flatten()
    }

    /// `(namespace, service, endpoint label)` for every ready endpoint with address `ip`.
    pub fn endpoints_with_ip(&self, ip: &IpAddr) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for key in self.reverse_slices.get(ip).into_iter().flatten() {
            let Some(slice) = self.slices.get(key) else {
                continue;
            };
            for ep in &slice.endpoints {
                if ep.addresses.contains(ip) {
                    let entry = (key.0.clone(), slice.service.clone(), ep.label(ip));
                    if !out.contains(&entry) {
                        out.push(entry);
                    }
                }
            }
        }
        out
    }

    pub fn set_service(&mut self, ns: &str, name: &str, svc: Option<Service>) {
        let key = (ns.to_string(), name.to_string());
        if self.services.get(&key) == svc.as_ref() {
            return;
        }
        if let Some(old) = self.services.remove(&key) {
            if let ServiceKind::ClusterIp(ips) = &old.kind {
                for ip in ips {
                    remove_from(&mut self.reverse_services, ip, &key);
                }
            }
        }
        if let Some(svc) = svc {
            if let ServiceKind::ClusterIp(ips) = &svc.kind {
                for ip in ips {
                    self.reverse_services
                        .entry(*ip)
                        .or_default()
                        .insert(key.clone());
                }
            }
            self.services.insert(key, svc);
        }
        self.bump();
    }

    pub fn set_slice(&mut self, ns: &str, name: &str, slice: Option<Slice>) {
        let key = (ns.to_string(), name.to_string());
        if self.slices.get(&key) == slice.as_ref() {
            return;
        }
        if let Some(old) = self.slices.remove(&key) {
            let svc_key = (ns.to_string(), old.service.clone());
            if let Some(set) = self.slices_by_service.get_mut(&svc_key) {
                set.remove(name);
                if set.is_empty() {
                    self.slices_by_service.remove(&svc_key);
                }
            }
            for ep in &old.endpoints {
                for ip in &ep.addresses {
                    remove_from(&mut self.reverse_slices, ip, &key);
                }
            }
        }
        if let Some(slice) = slice {
            self.slices_by_service
                .entry((ns.to_string(), slice.service.clone()))
                .or_default()
                .insert(name.to_string());
            for ep in &slice.endpoints {
                for ip in &ep.addresses {
                    self.reverse_slices
                        .entry(*ip)
                        .or_default()
                        .insert(key.clone());
                }
            }
            self.slices.insert(key, slice);
        }
        self.bump();
    }

    pub fn set_namespace(&mut self, name: &str, present: bool) {
        let changed = if present {
            self.namespaces.insert(name.to_string())
        } else {
            self.namespaces.remove(name)
        };
        if changed {
            self.bump();
        }
    }

    /// Replaces all services after a (re)list.
    pub fn replace_services(&mut self, all: Vec<(Key, Service)>) {
        let keep: HashSet<&Key> = all.iter().map(|(k, _)| k).collect();
        let stale: Vec<Key> = self
            .services
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for (ns, name) in stale {
            self.set_service(&ns, &name, None);
        }
        for ((ns, name), svc) in all {
            self.set_service(&ns, &name, Some(svc));
        }
    }

    /// Replaces all slices after a (re)list.
    pub fn replace_slices(&mut self, all: Vec<(Key, Slice)>) {
        let keep: HashSet<&Key> = all.iter().map(|(k, _)| k).collect();
        let stale: Vec<Key> = self
            .slices
            .keys()
            .filter(|k| !keep.contains(k))
            .cloned()
            .collect();
        for (ns, name) in stale {
            self.set_slice(&ns, &name, None);
        }
        for ((ns, name), slice) in all {
            self.set_slice(&ns, &name, Some(slice));
        }
    }

    /// Replaces all namespaces after a (re)list.
    pub fn replace_namespaces(&mut self, all: HashSet<String>) {
        if self.namespaces != all {
            self.namespaces = all;
            self.bump();
        }
    }

    fn bump(&mut self) {
        // Seconds since the epoch, like CoreDNS's serial, but always increasing.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        self.serial = now.max(self.serial.wrapping_add(1));
    }
}

fn remove_from(map: &mut HashMap<IpAddr, BTreeSet<Key>>, ip: &IpAddr, key: &Key) {
    if let Some(set) = map.get_mut(ip) {
        set.remove(key);
        if set.is_empty() {
            map.remove(ip);
        }
    }
}

/// Reduces a Service to what DNS needs.
pub fn service_from(svc: &K8sService) -> Option<(Key, Service)> {
    let ns = svc.metadata.namespace.clone()?;
    let name = svc.metadata.name.clone()?;
    let spec = svc.spec.as_ref()?;
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        ServiceKind::ExternalName(spec.external_name.clone().unwrap_or_default())
    } else if spec.cluster_ip.as_deref() == Some("None") {
        ServiceKind::Headless
    } else {
        let mut ips: Vec<IpAddr> = spec
            .cluster_ips
            .iter()
            .flatten()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        if ips.is_empty() {
            ips.extend(
                spec.cluster_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok()),
            );
        }
        ServiceKind::ClusterIp(ips)
    };
    let ports = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    Some(((ns, name), Service { kind, ports }))
}

/// Reduces an EndpointSlice to its ready endpoints. Slices of FQDN addresses and slices
/// without the service-name label carry nothing DNS serves.
pub fn slice_from(slice: &K8sSlice) -> Option<(Key, Slice)> {
    let ns = slice.metadata.namespace.clone()?;
    let name = slice.metadata.name.clone()?;
    let service = slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)?
        .clone();
    if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
        return None;
    }
    let ports = slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: p.name.clone().unwrap_or_default().to_ascii_lowercase(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect();
    let endpoints = slice
        .endpoints
        .iter()
        // An unknown readiness counts as ready, as the API documents; the EndpointSlice
        // controller already marks not-ready pods ready when publishNotReadyAddresses is set.
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .map(|e| Endpoint {
            addresses: e.addresses.iter().filter_map(|a| a.parse().ok()).collect(),
            hostname: e.hostname.clone().filter(|h| !h.is_empty()),
        })
        .filter(|e| !e.addresses.is_empty())
        .collect();
    Some((
        (ns, name),
        Slice {
            service,
            ports,
            endpoints,
        },
    ))
}
