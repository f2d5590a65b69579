//! Service allocation, as upstream's service REST storage does it with its `ipallocator` and
//! `portallocator`: cluster IPs from the service CIDR and node ports from the node-port range,
//! handed out when a Service is created or updated and given back when it is deleted or a type
//! change no longer needs them; plus the `kubernetes` Service in `default` with its Endpoints
//! and EndpointSlice, pointing at this API server.
//!
//! The allocators live in memory. They are rebuilt from the stored Services when the server
//! starts and re-checked by a repair loop (upstream's repair controllers), so a restart never
//! hands out a value a Service already holds. Every write takes a [`Txn`]: what it allocated
//! is given back unless the write is committed, and what the old object held is released only
//! once the new object is stored.
//!
//! As upstream, dynamic allocation prefers the upper part of each range and leaves the lower
//! band (the first 256 addresses of a /16, the first 86 node ports) to values users ask for,
//! such as `10.43.0.10` for cluster DNS.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rkube_api::validation::FieldError;
use rkube_api::ResourceInfo;
use serde_json::{json, Map, Value};

use crate::error::{causes, ApiError, ApiResult};
use crate::Server;

/// The service CIDR when none is configured (k3s's default).
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";
/// The node-port range when none is configured.
pub const DEFAULT_NODE_PORT_RANGE: &str = "30000-32767";

/// The ranges services are allocated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRanges {
    cidr: String,
    network: u128,
    v6: bool,
    /// Addresses in the CIDR (capped at 2^16 + 1 for IPv6, as upstream's bitmap).
    size: u128,
    node_ports: (i64, i64),
}

impl Default for ServiceRanges {
    fn default() -> ServiceRanges {
        // Both constants parse.
        ServiceRanges::new(DEFAULT_SERVICE_CIDR, DEFAULT_NODE_PORT_RANGE).unwrap_or(ServiceRanges {
            cidr: DEFAULT_SERVICE_CIDR.into(),
            network: u32::from(std::net::Ipv4Addr::new(10, 43, 0, 0)) as u128,
            v6: false,
            size: 1 << 16,
            node_ports: (30000, 32767),
        })
    }
}

impl ServiceRanges {
    /// Parses `--service-cidr` (e.g. `10.43.0.0/16`) and `--service-node-port-range`
    /// (`30000-32767`).
    pub fn new(cidr: &str, node_ports: &str) -> Result<ServiceRanges, String> {
        let (ip, bits) = cidr
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("invalid service CIDR {cidr:?}: missing prefix length"))?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}: bad address"))?;
        let bits: u32 = bits
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}: bad prefix length"))?;
        let (v6, width, raw) = match ip {
            IpAddr::V4(a) => (false, 32u32, u32::from(a) as u128),
            IpAddr::V6(a) => (true, 128u32, u128::from(a)),
        };
        // At least four addresses: network, broadcast and two services.
        if bits > width - 2 {
            return Err(format!(
                "invalid service CIDR {cidr:?}: the prefix must be /{} or shorter",
                width - 2
            ));
        }
        let host_bits = width - bits;
        let mask: u128 = if host_bits >= 128 {
            0
        } else {
            !((1u128 << host_bits) - 1)
        };
        let network = raw & mask;
        let size = if host_bits >= 127 {
            u128::MAX
        } else {
            1u128 << host_bits
        };
        let size = if v6 { size.min((1 << 16) + 1) } else { size };
        let (lo, hi) = node_ports
            .trim()
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse().ok()?)))
            .ok_or_else(|| format!("invalid node port range {node_ports:?}: want FIRST-LAST"))?;
        if !(1..=65535).contains(&lo) || !(1..=65535).contains(&hi) || lo > hi {
            return Err(format!(
                "invalid node port range {node_ports:?}: want FIRST-LAST within 1-65535"
            ));
        }
        let net_ip = to_ip(network, v6);
        Ok(ServiceRanges {
            cidr: format!("{net_ip}/{bits}"),
            network,
            v6,
            size,
            node_ports: (lo, hi),
        })
    }

    /// The CIDR, normalised (`10.43.0.0/16`).
    pub fn cidr(&self) -> &str {
        &self.cidr
    }

    /// `IPv4` or `IPv6`.
    pub fn family(&self) -> &'static str {
        if self.v6 {
            "IPv6"
        } else {
            "IPv4"
        }
    }

    /// The node-port range as upstream prints it (`30000-32767`).
    pub fn node_port_range(&self) -> String {
        format!("{}-{}", self.node_ports.0, self.node_ports.1)
    }

    /// The first usable address, the `kubernetes` Service's.
    pub fn first_ip(&self) -> IpAddr {
        to_ip(self.network + 1, self.v6)
    }

    /// Usable addresses: not the network address, nor the IPv4 broadcast address.
    fn ip_slots(&self) -> u64 {
        let n = if self.v6 {
            self.size - 1
        } else {
            self.size - 2
        };
        n.min(u64::MAX as u128) as u64
    }

    fn ip_index(&self, ip: &str) -> Option<u64> {
        let ip: IpAddr = ip.parse().ok()?;
        let raw = match ip {
            IpAddr::V4(a) if !self.v6 => u32::from(a) as u128,
            IpAddr::V6(a) if self.v6 => u128::from(a),
            _ => return None,
        };
        let first = self.network + 1;
        if raw < first {
            return None;
        }
        let i = raw - first;
        (i < self.ip_slots() as u128).then_some(i as u64)
    }

    fn ip_at(&self, index: u64) -> String {
        to_ip(self.network + 1 + index as u128, self.v6).to_string()
    }

    fn port_index(&self, port: i64) -> Option<u64> {
        let (lo, hi) = self.node_ports;
        (lo..=hi).contains(&port).then(|| (port - lo) as u64)
    }
}

fn to_ip(raw: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(raw.into())
    } else {
        IpAddr::V4((raw as u32).into())
    }
}

fn random_u64() -> u64 {
    let b = uuid::Uuid::new_v4();
    let mut x = [0u8; 8];
    x.copy_from_slice(&b.as_bytes()[..8]);
    u64::from_le_bytes(x)
}

/// Why a value could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllocError {
    Allocated,
    NotInRange,
    Full,
}

/// One range of slots (addresses or ports) with a static band at its start.
#[derive(Debug)]
struct Range {
    slots: u64,
    /// Slots below this are handed out dynamically only when the rest is full.
    band: u64,
    used: HashSet<u64>,
    /// Repair: consecutive passes that found a slot allocated but held by no Service.
    unused_passes: HashMap<u64, u32>,
}

impl Range {
    /// Upstream's `calculateRangeOffset`: size/step, clamped to [min, max]; none for tiny
    /// ranges.
    fn new(slots: u64, full_size: u128, min: u128, max: u128, step: u128) -> Range {
        let band = if full_size < min {
            0
        } else {
            (full_size / step).clamp(min, max) as u64
        };
        Range {
            slots,
            band: band.min(slots),
            used: HashSet::new(),
            unused_passes: HashMap::new(),
        }
    }

    fn allocate(&mut self, i: u64) -> Result<(), AllocError> {
        if i >= self.slots {
            return Err(AllocError::NotInRange);
        }
        if !self.used.insert(i) {
            return Err(AllocError::Allocated);
        }
        Ok(())
    }

    fn scan(&mut self, from: u64, to: u64) -> Option<u64> {
        if from >= to {
            return None;
        }
        let n = to - from;
        let start = random_u64() % n;
        (0..n)
            .map(|k| from + (start + k) % n)
            .find(|i| !self.used.contains(i))
    }

    fn allocate_next(&mut self) -> Result<u64, AllocError> {
        let found = self
            .scan(self.band, self.slots)
            .or_else(|| self.scan(0, self.band));
        match found {
            Some(i) => {
                self.used.insert(i);
                Ok(i)
            }
            None => Err(AllocError::Full),
        }
    }

    fn release(&mut self, i: u64) {
        self.used.remove(&i);
        self.unused_passes.remove(&i);
    }

    /// One repair pass: everything `in_use` is allocated; slots allocated but unused for
    /// `grace` passes in a row are released (a write that allocated and then died).
    fn repair(&mut self, in_use: &HashSet<u64>, grace: u32) {
        for i in in_use {
            if *i < self.slots {
                self.used.insert(*i);
            }
        }
        self.unused_passes.retain(|i, _| !in_use.contains(i));
        let mut leaked = Vec::new();
        for i in &self.used {
            if !in_use.contains(i) {
                let n = self.unused_passes.entry(*i).or_insert(0);
                *n += 1;
                if *n >= grace {
                    leaked.push(*i);
                }
            }
        }
        for i in leaked {
            self.release(i);
        }
    }
}

struct State {
    ips: Range,
    ports: Range,
}

/// The cluster IP and node port allocators of one API server.
pub struct Allocators {
    ranges: ServiceRanges,
    state: Mutex<State>,
}

/// What one Service holds: cluster IP slots and node ports (including the health-check one).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Held {
    ips: Vec<u64>,
    ports: Vec<i64>,
}

impl Allocators {
    pub fn new(ranges: ServiceRanges) -> Allocators {
        let ips = Range::new(ranges.ip_slots(), ranges.size, 16, 256, 16);
        let (lo, hi) = ranges.node_ports;
        let n = (hi - lo + 1) as u64;
        let ports = Range::new(n, n as u128, 16, 128, 32);
        Allocators {
            ranges,
            state: Mutex::new(State { ips, ports }),
        }
    }

    pub fn ranges(&self) -> &ServiceRanges {
        &self.ranges
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `ip` is allocated (for tests and diagnostics).
    pub fn ip_allocated(&self, ip: &str) -> bool {
        self.ranges
            .ip_index(ip)
            .is_some_and(|i| self.lock().ips.used.contains(&i))
    }

    /// Whether node port `port` is allocated.
    pub fn port_allocated(&self, port: i64) -> bool {
        self.ranges
            .port_index(port)
            .is_some_and(|i| self.lock().ports.used.contains(&i))
    }

    fn held(&self, svc: &Value) -> Held {
        let spec = svc.get("spec").unwrap_or(&Value::Null);
        let mut h = Held::default();
        if type_of(spec) != "ExternalName" {
            for ip in cluster_ips(spec) {
                if let Some(i) = self.ranges.ip_index(&ip) {
                    if !h.ips.contains(&i) {
                        h.ips.push(i);
                    }
                }
            }
        }
        let mut push = |p: i64| {
            if p != 0 && !h.ports.contains(&p) {
                h.ports.push(p);
            }
        };
        for p in ports_of(spec) {
            push(int_of(p, "nodePort"));
        }
        push(int_of(spec, "healthCheckNodePort"));
        h
    }

    /// Marks everything `services` hold as allocated and releases what none holds for three
    /// passes in a row. At start-up (`grace` 1 after an empty allocator) this rebuilds them.
    pub fn repair<'a>(&self, services: impl Iterator<Item = &'a Value>, grace: u32) {
        let mut ips = HashSet::new();
        let mut ports = HashSet::new();
        for svc in services {
            let h = self.held(svc);
            for i in h.ips {
                if !ips.insert(i) {
                    tracing::warn!(
                        "cluster IP {} is held by more than one service",
                        self.ranges.ip_at(i)
                    );
                }
            }
            for p in h.ports {
                if let Some(i) = self.ranges.port_index(p) {
                    ports.insert(i);
                }
            }
        }
        let mut st = self.lock();
        st.ips.repair(&ips, grace);
        st.ports.repair(&ports, grace);
    }

    fn release(&self, ips: &[u64], ports: &[i64]) {
        if ips.is_empty() && ports.is_empty() {
            return;
        }
        let mut st = self.lock();
        for i in ips {
            st.ips.release(*i);
        }
        for p in ports {
            if let Some(i) = self.ranges.port_index(*p) {
                st.ports.release(i);
            }
        }
    }

    fn alloc_ip(&self, ip: &str) -> Result<u64, AllocError> {
        let i = self.ranges.ip_index(ip).ok_or(AllocError::NotInRange)?;
        self.lock().ips.allocate(i)?;
        Ok(i)
    }

    fn alloc_next_ip(&self) -> Result<u64, AllocError> {
        self.lock().ips.allocate_next()
    }

    fn alloc_port(&self, port: i64) -> Result<(), AllocError> {
        let i = self.ranges.port_index(port).ok_or(AllocError::NotInRange)?;
        self.lock().ports.allocate(i)
    }

    fn alloc_next_port(&self) -> Result<i64, AllocError> {
        let i = self.lock().ports.allocate_next()?;
        Ok(self.ranges.node_ports.0 + i as i64)
    }

    fn ip_error(&self, e: AllocError, ip: &str) -> String {
        match e {
            AllocError::Allocated => "provided IP is already allocated".into(),
            AllocError::NotInRange => format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.ranges.cidr
            ),
            AllocError::Full => "range is full".into(),
        }
    }

    fn port_error(&self, e: AllocError) -> String {
        match e {
            AllocError::Allocated => "provided port is already allocated".into(),
            AllocError::NotInRange => format!(
                "provided port is not in the valid range. The range of valid ports is {}",
                self.ranges.node_port_range()
            ),
            AllocError::Full => "range is full".into(),
        }
    }

    /// Allocates what `new` needs beyond what `old` (the stored object of an update) holds,
    /// filling in IP families, cluster IPs and node ports. Errors are upstream's.
    pub fn begin(
        self: &Arc<Self>,
        info: &ResourceInfo,
        old: Option<&Value>,
        new: &mut Value,
    ) -> ApiResult<Txn> {
        let mut txn = Txn {
            alloc: self.clone(),
            ips: Vec::new(),
            ports: Vec::new(),
            release_ips: Vec::new(),
            release_ports: Vec::new(),
            done: false,
        };
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let invalid = |errs: Vec<FieldError>| ApiError::invalid(info, &name, causes(&errs));
        let held_before = old.map(|o| self.held(o)).unwrap_or_default();
        let old_spec = old.and_then(|o| o.get("spec"));
        let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(txn);
        };
        let spec_value = Value::Object(spec.clone());

        if type_of(&spec_value) != "ExternalName" {
            self.init_ip_families(old_spec, spec).map_err(&invalid)?;
            let ips = cluster_ips(&Value::Object(spec.clone()));
            if ips.is_empty() {
                let i = self.alloc_next_ip().map_err(|e| {
                    ApiError::internal(format!(
                        "failed to allocate a serviceIP: {}",
                        self.ip_error(e, "")
                    ))
                })?;
                txn.ips.push(i);
                let ip = self.ranges.ip_at(i);
                spec.insert("clusterIP".into(), json!(ip));
                spec.insert("clusterIPs".into(), json!([ip]));
            } else if ips[0] != "None" {
                for ip in &ips {
                    let held = self
                        .ranges
                        .ip_index(ip)
                        .is_some_and(|i| held_before.ips.contains(&i));
                    if held {
                        continue;
                    }
                    match self.alloc_ip(ip) {
                        Ok(i) => txn.ips.push(i),
                        Err(e) => {
                            return Err(invalid(vec![FieldError::invalid(
                                "spec.clusterIPs",
                                json!(ips),
                                &format!("failed to allocate IP {ip}: {}", self.ip_error(e, ip)),
                            )]))
                        }
                    }
                }
            }
        }

        let needs_ports = needs_node_ports(&spec_value);
        let mut claimed: HashSet<i64> = HashSet::new();
        let mut by_port: HashMap<i64, i64> = HashMap::new();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            // Ports the user asked for first, so a dynamic one never takes them.
            for (i, p) in ports.iter().enumerate() {
                let np = int_of(p, "nodePort");
                if np == 0 {
                    continue;
                }
                by_port.entry(int_of(p, "port")).or_insert(np);
                if !claimed.insert(np) || held_before.ports.contains(&np) {
                    continue;
                }
                if let Err(e) = self.alloc_port(np) {
                    return Err(invalid(vec![FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        np,
                        &self.port_error(e),
                    )]));
                }
                txn.ports.push(np);
            }
            if needs_ports {
                for p in ports.iter_mut() {
                    if int_of(p, "nodePort") != 0 {
                        continue;
                    }
                    // Ports with the same number (TCP and UDP 53) share one node port.
                    let port = int_of(p, "port");
                    let np = match by_port.get(&port) {
                        Some(np) => *np,
                        None => {
                            let np = self.alloc_next_port().map_err(|e| {
                                ApiError::internal(format!(
                                    "failed to allocate a nodePort: {}",
                                    self.port_error(e)
                                ))
                            })?;
                            txn.ports.push(np);
                            by_port.insert(port, np);
                            claimed.insert(np);
                            np
                        }
                    };
                    p["nodePort"] = json!(np);
                }
            }
        }

        if needs_health_check(&spec_value) {
            let hc = int_of(&spec_value, "healthCheckNodePort");
            if hc == 0 {
                let np = self.alloc_next_port().map_err(|e| {
                    ApiError::internal(format!(
                        "failed to allocate a HealthCheck NodePort {hc}: {}",
                        self.port_error(e)
                    ))
                })?;
                txn.ports.push(np);
                spec.insert("healthCheckNodePort".into(), json!(np));
            } else if !held_before.ports.contains(&hc) || claimed.contains(&hc) {
                let res = if claimed.contains(&hc) {
                    Err(AllocError::Allocated)
                } else {
                    self.alloc_port(hc)
                };
                if let Err(e) = res {
                    return Err(ApiError::internal(format!(
                        "failed to allocate requested HealthCheck NodePort {hc}: {}",
                        self.port_error(e)
                    )));
                }
                txn.ports.push(hc);
            }
        }

        let held_after = self.held(new);
        txn.release_ips = held_before
            .ips
            .iter()
            .filter(|i| !held_after.ips.contains(i))
            .copied()
            .collect();
        txn.release_ports = held_before
            .ports
            .iter()
            .filter(|p| !held_after.ports.contains(p))
            .copied()
            .collect();
        Ok(txn)
    }

    /// Upstream's `initIPFamilyFields` on a cluster with one IP family: defaults
    /// `ipFamilyPolicy` and `ipFamilies`, and rejects families this cluster does not have.
    fn init_ip_families(
        &self,
        old_spec: Option<&Value>,
        spec: &mut Map<String, Value>,
    ) -> Result<(), Vec<FieldError>> {
        let family = self.ranges.family();
        let view = Value::Object(spec.clone());
        let headless = str_of(&view, "clusterIP") == "None";
        let selectorless = view
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        let policy = match view.get("ipFamilyPolicy").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => match old_spec
                .filter(|o| type_of(o) != "ExternalName")
                .and_then(|o| o.get("ipFamilyPolicy"))
                .and_then(Value::as_str)
            {
                Some(p) => p.to_string(),
                None if headless && selectorless => "RequireDualStack".into(),
                None => "SingleStack".into(),
            },
        };
        let ips = cluster_ips(&view);
        let mut families: Vec<String> = view
            .get("ipFamilies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut errs = Vec::new();
        if policy == "SingleStack" {
            if ips.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    policy.as_str(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
                ));
            }
            if families.len() == 2 {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    policy.as_str(),
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
                ));
            }
        }
        for (i, ip) in ips.iter().enumerate() {
            if ip == "None" {
                break;
            }
            let fam = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V6(_)) => "IPv6",
                _ => "IPv4",
            };
            if i >= families.len() {
                if fam != family {
                    errs.push(FieldError::invalid(
                        format!("spec.clusterIPs[{i}]"),
                        json!(ips),
                        &format!("{fam} is not configured on this cluster"),
                    ));
                } else {
                    families.push(fam.to_string());
                }
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        if headless && selectorless {
            if families.is_empty() {
                families.push(family.to_string());
            }
            if families.len() < 2 && policy != "SingleStack" {
                let alt = if families[0] == "IPv4" {
                    "IPv6"
                } else {
                    "IPv4"
                };
                families.push(alt.to_string());
            }
        } else {
            if policy == "RequireDualStack" {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    policy.as_str(),
                    "this cluster is not configured for dual-stack services",
                ));
            }
            for (i, f) in families.iter().enumerate() {
                if f != family {
                    errs.push(FieldError::invalid(
                        format!("spec.ipFamilies[{i}]"),
                        f.as_str(),
                        "not configured on this cluster",
                    ));
                }
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            if families.is_empty() {
                families.push(family.to_string());
            }
        }
        spec.insert("ipFamilyPolicy".into(), json!(policy));
        spec.insert("ipFamilies".into(), json!(families));
        Ok(())
    }
}

/// The allocations of one write. Dropped without [`Txn::commit`] (the write failed, was a dry
/// run or lost a race), it gives back what it allocated.
#[must_use = "a Txn releases its allocations unless committed"]
pub struct Txn {
    alloc: Arc<Allocators>,
    ips: Vec<u64>,
    ports: Vec<i64>,
    release_ips: Vec<u64>,
    release_ports: Vec<i64>,
    done: bool,
}

impl Txn {
    /// The write is stored: keep the new allocations, release what the old object held and
    /// the new one no longer does.
    pub fn commit(mut self) {
        self.alloc.release(&self.release_ips, &self.release_ports);
        self.done = true;
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if !self.done {
            self.alloc.release(&self.ips, &self.ports);
        }
    }
}

/// Commits the transaction a hook returned, if any.
pub fn commit(txn: Option<Txn>) {
    if let Some(t) = txn {
        t.commit();
    }
}

fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "services"
}

/// Hook of `write::store_new`: allocates for a new Service (None for other kinds).
pub fn begin_create(srv: &Server, info: &ResourceInfo, obj: &mut Value) -> ApiResult<Option<Txn>> {
    if !is_service(info) {
        return Ok(None);
    }
    srv.services.begin(info, None, obj).map(Some)
}

/// Hook of `write::guaranteed_update`: allocates what an updated Service's spec needs (None
/// for other kinds and for writes that leave the spec alone, such as status updates).
pub fn begin_update(
    srv: &Server,
    info: &ResourceInfo,
    cur: &Value,
    new: &mut Value,
) -> ApiResult<Option<Txn>> {
    if !is_service(info) || cur.get("spec") == new.get("spec") {
        return Ok(None);
    }
    srv.services.begin(info, Some(cur), new).map(Some)
}

/// Hook of the delete paths: a Service gone from the store gives back what it held.
pub fn release_deleted(srv: &Server, info: &ResourceInfo, obj: &Value) {
    if is_service(info) {
        let h = srv.services.held(obj);
        srv.services.release(&h.ips, &h.ports);
    }
}

fn type_of(spec: &Value) -> &str {
    match spec.get("type").and_then(Value::as_str) {
        None | Some("") => "ClusterIP",
        Some(t) => t,
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

fn int_of(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn ports_of(spec: &Value) -> &[Value] {
    spec.get("ports")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if ips.is_empty() {
        let ip = str_of(spec, "clusterIP");
        if !ip.is_empty() {
            return vec![ip.to_string()];
        }
    }
    ips
}

fn needs_node_ports(spec: &Value) -> bool {
    match type_of(spec) {
        "NodePort" => true,
        "LoadBalancer" => {
            spec.get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

fn needs_health_check(spec: &Value) -> bool {
    type_of(spec) == "LoadBalancer" && str_of(spec, "externalTrafficPolicy") == "Local"
}

fn info_of(plural: &str, group: &str, version: &str) -> ApiResult<&'static ResourceInfo> {
    rkube_api::registry::lookup(group, version, plural)
        .ok_or_else(|| ApiError::internal(format!("{plural} are not registered")))
}

/// Start-up: rebuild the allocators from the stored Services, then make sure the
/// `kubernetes` Service and its endpoints exist.
pub async fn bootstrap(srv: &Arc<Server>) -> ApiResult<()> {
    let info = info_of("services", "", "v1")?;
    let snap = srv.cache.list(&info.key_prefix(), None, 0, &|_| true);
    srv.services
        .repair(snap.items.iter().map(|(_, c)| c.value.as_ref()), 1);
    // A clash (another Service took the address first) must not stop the server; the loop
    // keeps trying and logs it.
    if let Err(e) = ensure_kubernetes_service(srv).await {
        tracing::warn!("failed to create the kubernetes service: {}", e.message);
    }
    Ok(())
}

/// How often the `kubernetes` Service and its endpoints are reconciled (upstream: 10s).
const KUBERNETES_SERVICE_INTERVAL: Duration = Duration::from_secs(10);
/// How often the allocators are checked against the stored Services (upstream: 3 minutes).
const REPAIR_INTERVAL: Duration = Duration::from_secs(60);
/// Repair passes a slot must be seen unused before it is released.
const REPAIR_GRACE: u32 = 3;

/// Background loops: the `kubernetes` Service reconciler and the allocator repair.
pub fn spawn_loops(srv: &Arc<Server>) {
    let weak = Arc::downgrade(srv);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KUBERNETES_SERVICE_INTERVAL);
        let mut repair_due = tokio::time::Instant::now() + REPAIR_INTERVAL;
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(srv) = weak.upgrade() else { return };
            if let Err(e) = ensure_kubernetes_service(&srv).await {
                tracing::warn!("failed to reconcile the kubernetes service: {}", e.message);
            }
            if tokio::time::Instant::now() >= repair_due {
                repair_due += REPAIR_INTERVAL;
                if let Ok(info) = info_of("services", "", "v1") {
                    let snap = srv.cache.list(&info.key_prefix(), None, 0, &|_| true);
                    srv.services.repair(
                        snap.items.iter().map(|(_, c)| c.value.as_ref()),
                        REPAIR_GRACE,
                    );
                }
            }
        }
    });
}

/// The host and port clients reach this API server at, from `advertise_address`.
fn advertised(srv: &Server) -> (String, i64) {
    let a = srv.advertise_address.as_str();
    let (host, port) = match a.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') || h.starts_with('[') => {
            (h, p.parse::<i64>().unwrap_or(6443))
        }
        _ => (a, 6443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_string(), port)
}

/// Creates the object at `key` if missing, or replaces the fields `owned` lists when they
/// differ. Other fields (and the metadata the server set) stay as stored.
async fn upsert(
    srv: &Server,
    info: &ResourceInfo,
    key: &str,
    desired: Value,
    owned: &[&str],
    txn: Option<Txn>,
) -> ApiResult<()> {
    for _ in 0..8 {
        match srv.store.get(key).await? {
            None => {
                let mut obj = desired.clone();
                obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
                obj["metadata"]["creationTimestamp"] = json!(super::now_rfc3339());
                rkube_api::defaults::apply_defaults(info.group, info.version, info.kind, &mut obj);
                match srv
                    .store
                    .create(key, super::encode_for_store(info, &obj)?)
                    .await
                {
                    Ok(_) => {
                        if let Some(t) = txn {
                            t.commit();
                        }
                        tracing::info!("created {} {key}", info.kind);
                        return Ok(());
                    }
                    Err(rkube_store::Error::AlreadyExists(_)) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            Some(kv) => {
                let mut cur = super::decode_stored(key, &kv.value)?;
                let mut changed = false;
                for f in owned {
                    let ptr = format!("/{}", f.replace('.', "/"));
                    let want = desired.pointer(&ptr).cloned().unwrap_or(Value::Null);
                    if cur.pointer(&ptr) != Some(&want) {
                        set_path(&mut cur, f, want);
                        changed = true;
                    }
                }
                if !changed {
                    return Ok(());
                }
                match srv
                    .store
                    .update(key, super::encode_for_store(info, &cur)?, kv.mod_revision)
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(rkube_store::Error::Conflict { .. }) => continue,
                    Err(rkube_store::Error::NotFound(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

fn set_path(obj: &mut Value, dotted: &str, v: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        if i + 1 == parts.len() {
            cur[*p] = v;
            return;
        }
        cur = &mut cur[*p];
    }
}

/// The `kubernetes` Service in `default` (the first address of the service CIDR, port 443 to
/// the API server's port) and its Endpoints and EndpointSlice (the advertised address),
/// created or repaired (upstream's `controlplane` kubernetes-service controller and endpoint
/// reconciler).
pub async fn ensure_kubernetes_service(srv: &Arc<Server>) -> ApiResult<()> {
    let (host, port) = advertised(srv);
    let ranges = srv.services.ranges();
    let ip = ranges.first_ip().to_string();
    let svc_info = info_of("services", "", "v1")?;
    let key = svc_info.key(Some("default"), "kubernetes");
    let mut svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
        },
        "status": {"loadBalancer": {}},
    });
    let txn = if srv.store.get(&key).await?.is_none() {
        Some(srv.services.begin(svc_info, None, &mut svc)?)
    } else {
        None
    };
    upsert(srv, svc_info, &key, svc, &["spec.ports"], txn).await?;

    let Ok(addr) = host.parse::<IpAddr>() else {
        tracing::debug!("advertise address {host} is not an IP: no kubernetes endpoints");
        return Ok(());
    };
    let ep_info = info_of("endpoints", "", "v1")?;
    let endpoints = json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": [{"ip": host}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    });
    let key = ep_info.key(Some("default"), "kubernetes");
    upsert(
        srv,
        ep_info,
        &key,
        endpoints,
        &["subsets", "metadata.labels"],
        None,
    )
    .await?;
    let slice_info = info_of("endpointslices", "discovery.k8s.io", "v1")?;
    let family = if addr.is_ipv6() { "IPv6" } else { "IPv4" };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "addressType": family,
        "endpoints": [{"addresses": [host], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    let key = slice_info.key(Some("default"), "kubernetes");
    upsert(
        srv,
        slice_info,
        &key,
        slice,
        &["addressType", "endpoints", "ports", "metadata.labels"],
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_map() {
        let r = ServiceRanges::new("10.43.0.0/16", "30000-32767").expect("ranges");
        assert_eq!(r.cidr(), "10.43.0.0/16");
        assert_eq!(r.first_ip().to_string(), "10.43.0.1");
        assert_eq!(r.ip_slots(), 65534);
        assert_eq!(r.ip_index("10.43.0.1"), Some(0));
        assert_eq!(r.ip_index("10.43.255.254"), Some(65533));
        // Network, broadcast, outside, other family.
        for ip in ["10.43.0.0", "10.43.255.255", "10.44.0.1", "fd00::1", "x"] {
            assert_eq!(r.ip_index(ip), None, "{ip}");
        }
        assert_eq!(r.ip_at(9), "10.43.0.10");
        let host_bits = ServiceRanges::new("10.96.3.4/12", "30000-30001").expect("ranges");
        assert_eq!(host_bits.cidr(), "10.96.0.0/12");
        let v6 = ServiceRanges::new("fd00:43::/112", "30000-32767").expect("v6");
        assert_eq!(v6.family(), "IPv6");
        assert_eq!(v6.first_ip().to_string(), "fd00:43::1");
        let bad: &[(&str, &str)] = &[
            ("10.43.0.0", "30000-32767"),
            ("10.43.0.0/31", "30000-32767"),
            ("nope/16", "30000-32767"),
            ("10.43.0.0/16", "32767-30000"),
            ("10.43.0.0/16", "30000"),
            ("10.43.0.0/16", "0-10"),
        ];
        for (cidr, ports) in bad {
            assert!(ServiceRanges::new(cidr, ports).is_err(), "{cidr} {ports}");
        }
    }

    #[test]
    fn dynamic_allocation_avoids_the_static_band() {
        let a = Allocators::new(ServiceRanges::default());
        for _ in 0..200 {
            let i = a.alloc_next_ip().expect("ip");
            assert!(
                i >= 256,
                "dynamic IP {} in the static band",
                a.ranges.ip_at(i)
            );
            let p = a.alloc_next_port().expect("port");
            assert!(p >= 30086, "dynamic port {p} in the static band");
        }
        assert_eq!(a.alloc_ip("10.43.0.10"), Ok(9));
        assert_eq!(a.alloc_ip("10.43.0.10"), Err(AllocError::Allocated));
        assert_eq!(a.alloc_ip("10.44.0.10"), Err(AllocError::NotInRange));
        assert_eq!(a.alloc_port(30080), Ok(()));
        assert_eq!(a.alloc_port(30080), Err(AllocError::Allocated));
        assert_eq!(a.alloc_port(8080), Err(AllocError::NotInRange));
    }

    #[test]
    fn a_full_upper_band_falls_back_to_the_lower_one_then_fails() {
        let a = Allocators::new(ServiceRanges::new("10.0.0.0/27", "30000-30003").expect("r"));
        // 32 addresses: 30 usable, band of 16.
        let mut got: Vec<u64> = (0..30).map(|_| a.alloc_next_ip().expect("ip")).collect();
        got.sort();
        assert_eq!(got, (0..30).collect::<Vec<_>>());
        assert_eq!(a.alloc_next_ip(), Err(AllocError::Full));
        for _ in 0..4 {
            a.alloc_next_port().expect("port");
        }
        assert_eq!(a.alloc_next_port(), Err(AllocError::Full));
    }

    #[test]
    fn repair_keeps_what_services_hold_and_releases_leaks_after_grace() {
        let a = Allocators::new(ServiceRanges::default());
        let svc = json!({"spec": {"type": "NodePort", "clusterIPs": ["10.43.0.20"],
            "ports": [{"port": 80, "nodePort": 30080}]}});
        a.repair([&svc].into_iter(), 3);
        assert!(a.ip_allocated("10.43.0.20") && a.port_allocated(30080));
        a.alloc_ip("10.43.0.21").expect("leak");
        for pass in 0..3 {
            assert!(a.ip_allocated("10.43.0.21"), "released too early ({pass})");
            a.repair([&svc].into_iter(), 3);
        }
        assert!(!a.ip_allocated("10.43.0.21"));
        assert!(a.ip_allocated("10.43.0.20"));
    }

    #[test]
    fn dropped_transactions_give_back_and_commits_release_the_old() {
        let a = Arc::new(Allocators::new(ServiceRanges::default()));
        let info = info_of("services", "", "v1").expect("services");
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort",
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}]}});
        let txn = a.begin(info, None, &mut svc).expect("alloc");
        let np = svc["spec"]["ports"][0]["nodePort"]
            .as_i64()
            .expect("node port");
        assert_eq!(
            svc["spec"]["ports"][1]["nodePort"],
            json!(np),
            "same port shares"
        );
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(svc["spec"]["ipFamilyPolicy"], json!("SingleStack"));
        let ip = svc["spec"]["clusterIP"].as_str().expect("ip").to_string();
        drop(txn);
        assert!(!a.ip_allocated(&ip) && !a.port_allocated(np));
        a.begin(info, None, &mut svc).expect("alloc").commit();
        assert!(a.ip_allocated(&ip) && a.port_allocated(np));
        let old = svc.clone();
        svc["spec"]["type"] = json!("ClusterIP");
        for p in svc["spec"]["ports"].as_array_mut().expect("ports") {
            p.as_object_mut().expect("port").remove("nodePort");
        }
        a.begin(info, Some(&old), &mut svc)
            .expect("update")
            .commit();
        assert!(a.ip_allocated(&ip), "the cluster IP stays");
        assert!(!a.port_allocated(np), "the node port is released");
    }
}
