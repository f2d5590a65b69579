//! Name → records: the Kubernetes DNS schema (kubernetes/dns `docs/specification.md`) with the
//! behaviour of CoreDNS's `kubernetes` plugin (`pods insecure`, `fallthrough in-addr.arpa
//! ip6.arpa`). Pure: reads the `Index` and builds records, no IO.
//!
//! Names under the cluster zone are always answered here: NXDOMAIN when the name does not
//! exist, NOERROR without answers (NODATA) when it exists but has no record of the asked type,
//! both with the zone's SOA. Reverse names of cluster IPs and endpoints are answered here too;
//! every other name is forwarded.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::index::{Endpoint, Index, Port, ServiceKind, Slice};

/// The schema version served at `dns-version.<zone>` (what CoreDNS serves).
pub const SCHEMA_VERSION: &str = "1.1.0";
/// TTL of the `dns-version` record, as CoreDNS.
const SCHEMA_TTL: u32 = 28800;
/// The service whose cluster IPs are the glue for the zone's NS record.
const DNS_SERVICE: (&str, &str) = ("kube-system", "kube-dns");

/// The cluster zone and the TTL of its records.
#[derive(Clone, Debug)]
pub struct Zone {
    /// Lower-case, fully qualified (`cluster.local.`).
    pub origin: Name,
    pub ttl: u32,
}

impl Zone {
    pub fn new(domain: &str, ttl: u32) -> Result<Zone, crate::Error> {
        let trimmed = domain.trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(crate::Error::Config("the cluster domain is empty".into()));
        }
        let fq = format!("{trimmed}.");
        let origin = Name::from_ascii(&fq)
            .map_err(|e| crate::Error::Config(format!("invalid cluster domain {domain:?}: {e}")))?
            .to_lowercase();
        Ok(Zone { origin, ttl })
    }

    /// `labels` + the zone, or `None` if a label is not a valid DNS label.
    fn name(&self, labels: &[&str]) -> Option<Name> {
        Name::from_labels(labels.iter().copied())
            .ok()?
            .append_domain(&self.origin)
            .ok()
    }

    /// The zone's SOA record, sent with every negative answer.
    pub fn soa(&self, serial: u32) -> Record {
        let ttl = self.ttl.min(300);
        let mname = self
            .name(&["ns", "dns"])
            .unwrap_or_else(|| self.origin.clone());
        let rname = self
            .name(&["hostmaster"])
            .unwrap_or_else(|| self.origin.clone());
        Record::from_rdata(
            self.origin.clone(),
            ttl,
            RData::SOA(SOA::new(mname, rname, serial, 7200, 1800, 86400, self.ttl)),
        )
    }
}

/// What to do with a query.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Answered from the cluster's records (authoritative).
    Answer(Answer),
    /// Not a cluster name: forward it upstream.
    Forward,
}

/// An authoritative answer.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The target of a CNAME in `answers` that the server still resolves (with the same
    /// query type) and appends, as CoreDNS does for ExternalName services.
    pub chase: Option<Name>,
}

/// The records of an existing name, or why there are none.
enum Found {
    Records {
        answers: Vec<Record>,
        additionals: Vec<Record>,
        chase: Option<Name>,
    },
    /// The name exists but has no records of the asked type.
    NoData,
    NxDomain,
}

impl Found {
    fn answers(answers: Vec<Record>) -> Found {
        Found::Records {
            answers,
            additionals: Vec::new(),
            chase: None,
        }
    }
}

/// Answers `qname`/`qtype` from `index`, or says to forward it.
pub fn lookup(index: &Index, zone: &Zone, qname: &Name, qtype: RecordType) -> Outcome {
    let mut name = qname.to_lowercase();
    name.set_fqdn(true);
    if zone.origin.zone_of(&name) {
        let found = in_zone(index, zone, qname, &name, qtype);
        return Outcome::Answer(finish(index, zone, found));
    }
    if qtype == RecordType::PTR {
        if let Some(answers) = reverse(index, zone, qname, &name) {
            return Outcome::Answer(Answer {
                answers,
                ..Answer::default()
            });
        }
    }
    Outcome::Forward
}

fn finish(index: &Index, zone: &Zone, found: Found) -> Answer {
    match found {
        Found::Records {
            answers,
            additionals,
            chase,
        } if !answers.is_empty() => Answer {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            chase,
            ..Answer::default()
        },
        Found::Records { .. } | Found::NoData => Answer {
            authorities: vec![zone.soa(index.serial)],
            ..Answer::default()
        },
        // Until every watch has listed once, a missing name may just not be known yet:
        // SERVFAIL makes clients retry instead of caching a wrong NXDOMAIN (as CoreDNS).
        Found::NxDomain if !index.is_synced() => Answer {
            rcode: ResponseCode::ServFail,
            ..Answer::default()
        },
        Found::NxDomain => Answer {
            rcode: ResponseCode::NXDomain,
            authorities: vec![zone.soa(index.serial)],
            ..Answer::default()
        },
    }
}

/// Lower-case labels of `name` left of the zone.
fn relative_labels(zone: &Zone, name: &Name) -> Vec<String> {
    let n = usize::from(name.num_labels()).saturating_sub(usize::from(zone.origin.num_labels()));
    name.iter()
        .take(n)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

fn in_zone(index: &Index, zone: &Zone, qname: &Name, name: &Name, qtype: RecordType) -> Found {
    let labels = relative_labels(zone, name);
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    match labels.as_slice() {
        [] => apex(index, zone, qname, qtype),
        ["dns-version"] if qtype == RecordType::TXT => Found::answers(vec![Record::from_rdata(
            qname.clone(),
            SCHEMA_TTL,
            RData::TXT(TXT::new(vec![SCHEMA_VERSION.to_string()])),
        )]),
        ["dns-version"] | ["svc"] | ["pod"] => Found::NoData,
        ["ns", "dns"] => {
            let ips = match index.service(DNS_SERVICE.0, DNS_SERVICE.1) {
                Some(svc) => match &svc.kind {
                    ServiceKind::ClusterIp(ips) => ips.clone(),
                    _ => Vec::new(),
                },
                None => Vec::new(),
            };
            Found::answers(addresses(qname, zone.ttl, ips.iter(), qtype))
        }
        [rest @ .., "svc"] => service_records(index, zone, qname, name, rest, qtype),
        [rest @ .., "pod"] => pod_records(index, zone, qname, rest, qtype),
        _ => Found::NxDomain,
    }
}

fn apex(index: &Index, zone: &Zone, qname: &Name, qtype: RecordType) -> Found {
    match qtype {
        RecordType::SOA => Found::answers(vec![zone.soa(index.serial)]),
        RecordType::NS => {
            let Some(ns) = zone.name(&["ns", "dns"]) else {
                return Found::NoData;
            };
            let glue = match in_zone(index, zone, &ns, &ns, RecordType::A) {
                Found::Records { answers, .. } => answers,
                _ => Vec::new(),
            };
            Found::Records {
                answers: vec![Record::from_rdata(
                    qname.clone(),
                    zone.ttl,
                    RData::NS(NS(ns)),
                )],
                additionals: glue,
                chase: None,
            }
        }
        _ => Found::NoData,
    }
}

/// A or AAAA records (by `qtype`) owned by `owner` for `ips`; empty for other types.
fn addresses<'a>(
    owner: &Name,
    ttl: u32,
    ips: impl Iterator<Item = &'a IpAddr>,
    qtype: RecordType,
) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for ip in ips {
        let rdata = match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        if !out.iter().any(|r| r.data == rdata) {
            out.push(Record::from_rdata(owner.clone(), ttl, rdata));
        }
    }
    out
}

/// Both A and AAAA records of `owner` for `ips` (the additional section of SRV answers).
fn glue<'a>(owner: &Name, ttl: u32, ips: impl Iterator<Item = &'a IpAddr> + Clone) -> Vec<Record> {
    let mut out = addresses(owner, ttl, ips.clone(), RecordType::A);
    out.extend(addresses(owner, ttl, ips, RecordType::AAAA));
    out
}

/// SRV records for `(port, target)` pairs, with CoreDNS's weights (100 split evenly).
fn srv_records(owner: &Name, ttl: u32, targets: &[(u16, Name)]) -> Vec<Record> {
    let weight = u16::try_from(100 / targets.len().max(1))
        .unwrap_or(1)
        .max(1);
    targets
        .iter()
        .map(|(port, target)| {
            Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(0, weight, *port, target.clone())),
            )
        })
        .collect()
}

fn port_matches(p: &Port, port: Option<&str>, proto: Option<&str>) -> bool {
    port.is_none_or(|n| p.name.eq_ignore_ascii_case(n))
        && proto.is_none_or(|n| p.protocol.eq_ignore_ascii_case(n))
}

/// One ready endpoint address with its DNS label, from any of a service's slices.
struct EndpointAddr<'a> {
    slice: &'a Slice,
    label: String,
    ip: &'a IpAddr,
}

fn endpoint_addrs<'a>(index: &'a Index, ns: &str, svc: &str) -> Vec<EndpointAddr<'a>> {
    let mut out: Vec<EndpointAddr<'a>> = Vec::new();
    for slice in index.slices_of(ns, svc) {
        for ep in &slice.endpoints {
            for ip in &ep.addresses {
                let label = Endpoint::label(ep, ip);
                if !out.iter().any(|e| e.ip == ip && e.label == label) {
                    out.push(EndpointAddr { slice, label, ip });
                }
            }
        }
    }
    out
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

/// `<ns>.svc`, `<svc>.<ns>.svc`, `<endpoint>.<svc>.<ns>.svc` and
/// `_<port>._<proto>.<svc>.<ns>.svc` (labels without the trailing `svc`).
fn service_records(
    index: &Index,
    zone: &Zone,
    qname: &Name,
    name: &Name,
    labels: &[&str],
    qtype: RecordType,
) -> Found {
    let Some(ns) = labels.last() else {
        return Found::NxDomain;
    };
    if !index.has_namespace(ns) {
        return Found::NxDomain;
    }
    let (endpoint, port, proto, svc_name) = match labels {
        [_] => return Found::NoData,
        [svc, _] => (None, None, None, *svc),
        [ep, svc, _] => (Some(*ep), None, None, *svc),
        [port, proto, svc, _] => (
            None,
            Some(strip_underscore(port)),
            Some(strip_underscore(proto)),
            *svc,
        ),
        _ => return Found::NxDomain,
    };
    let Some(svc) = index.service(ns, svc_name) else {
        return Found::NxDomain;
    };
    let ttl = zone.ttl;
    let Some(svc_fqdn) = zone.name(&[svc_name, ns, "svc"]) else {
        return Found::NxDomain;
    };
    match &svc.kind {
        ServiceKind::ExternalName(target) => {
            if endpoint.is_some() || port.is_some() {
                return Found::NxDomain;
            }
            external_name(qname, ttl, target, qtype)
        }
        // Endpoint names exist for every service's ready endpoints (as in CoreDNS), so the
        // PTR records of endpoints always resolve forward.
        _ if endpoint.is_some() => {
            let label = endpoint.unwrap_or_default();
            let eps: Vec<_> = endpoint_addrs(index, ns, svc_name)
                .into_iter()
                .filter(|e| e.label == label)
                .collect();
            if eps.is_empty() {
                return Found::NxDomain;
            }
            if qtype == RecordType::SRV {
                let mut targets: Vec<(u16, Name)> = Vec::new();
                for e in &eps {
                    for p in &e.slice.ports {
                        if !targets.iter().any(|(port, _)| *port == p.port) {
                            targets.push((p.port, name.clone()));
                        }
                    }
                }
                let additionals = glue(name, ttl, eps.iter().map(|e| e.ip));
                return Found::Records {
                    answers: srv_records(qname, ttl, &targets),
                    additionals,
                    chase: None,
                };
            }
            Found::answers(addresses(qname, ttl, eps.iter().map(|e| e.ip), qtype))
        }
        ServiceKind::ClusterIp(ips) => {
            let ports: Vec<&Port> = svc
                .ports
                .iter()
                .filter(|p| port_matches(p, port, proto))
                .collect();
            if port.is_some() && ports.is_empty() {
                return Found::NxDomain;
            }
            match qtype {
                RecordType::SRV => {
                    let mut targets: Vec<(u16, Name)> = Vec::new();
                    for p in ports {
                        if !targets.iter().any(|(port, _)| *port == p.port) {
                            targets.push((p.port, svc_fqdn.clone()));
                        }
                    }
                    Found::Records {
                        answers: srv_records(qname, ttl, &targets),
                        additionals: glue(&svc_fqdn, ttl, ips.iter()),
                        chase: None,
                    }
                }
                RecordType::A | RecordType::AAAA if port.is_none() => {
                    Found::answers(addresses(qname, ttl, ips.iter(), qtype))
                }
                _ => Found::NoData,
            }
        }
        ServiceKind::Headless => {
            let eps = endpoint_addrs(index, ns, svc_name);
            // The spec: a headless service without ready endpoints does not resolve.
            if eps.is_empty() {
                return Found::NxDomain;
            }
            let mut targets: Vec<(u16, Name)> = Vec::new();
            let mut additionals = Vec::new();
            for e in &eps {
                let Some(target) = zone.name(&[&e.label, svc_name, ns, "svc"]) else {
                    continue;
                };
                let mut used = false;
                for p in e
                    .slice
                    .ports
                    .iter()
                    .filter(|p| port_matches(p, port, proto))
                {
                    if !targets.iter().any(|(n, t)| *n == p.port && *t == target) {
                        targets.push((p.port, target.clone()));
                        used = true;
                    }
                }
                if used {
                    additionals.extend(glue(&target, ttl, std::iter::once(e.ip)));
                }
            }
            if port.is_some() && targets.is_empty() {
                return Found::NxDomain;
            }
            match qtype {
                RecordType::SRV => Found::Records {
                    answers: srv_records(qname, ttl, &targets),
                    additionals,
                    chase: None,
                },
                RecordType::A | RecordType::AAAA if port.is_none() => {
                    Found::answers(addresses(qname, ttl, eps.iter().map(|e| e.ip), qtype))
                }
                _ => Found::NoData,
            }
        }
    }
}

fn external_name(qname: &Name, ttl: u32, target: &str, qtype: RecordType) -> Found {
    // An IP address is not a valid ExternalName target (CoreDNS serves nothing for it).
    if target.is_empty() || target.parse::<IpAddr>().is_ok() {
        return Found::NxDomain;
    }
    let fq = format!("{}.", target.trim_end_matches('.'));
    let Ok(target) = Name::from_ascii(&fq) else {
        return Found::NxDomain;
    };
    let cname = Record::from_rdata(qname.clone(), ttl, RData::CNAME(CNAME(target.clone())));
    Found::Records {
        answers: vec![cname],
        additionals: Vec::new(),
        chase: (qtype != RecordType::CNAME).then_some(target),
    }
}

/// `<ns>.pod` and `<a-b-c-d>.<ns>.pod` (insecure mode: any address in an existing
/// namespace is echoed back).
fn pod_records(
    index: &Index,
    zone: &Zone,
    qname: &Name,
    labels: &[&str],
    qtype: RecordType,
) -> Found {
    match labels {
        [ns] if index.has_namespace(ns) => Found::NoData,
        [ip, ns] if index.has_namespace(ns) => {
            let ip = if ip.matches('-').count() == 3 && !ip.contains("--") {
                ip.replace('-', ".")
            } else {
                ip.replace('-', ":")
            };
            match ip.parse::<IpAddr>() {
                Ok(ip) => Found::answers(addresses(qname, zone.ttl, std::iter::once(&ip), qtype)),
                Err(_) => Found::NxDomain,
            }
        }
        _ => Found::NxDomain,
    }
}

/// PTR records for a cluster IP (the service) or else a ready endpoint; `None` when the
/// address is not the cluster's, so the query falls through to the upstream resolvers.
fn reverse(index: &Index, zone: &Zone, qname: &Name, name: &Name) -> Option<Vec<Record>> {
    let net = name.parse_arpa_name().ok()?;
    if net.prefix_len() != net.max_prefix_len() {
        return None;
    }
    let ip = net.addr();
    let ptr = |labels: &[&str]| {
        zone.name(labels)
            .map(|target| Record::from_rdata(qname.clone(), zone.ttl, RData::PTR(PTR(target))))
    };
    if let Some((ns, svc)) = index.services_with_ip(&ip).next() {
        return ptr(&[svc, ns, "svc"]).map(|r| vec![r]);
    }
    let records: Vec<Record> = index
        .endpoints_with_ip(&ip)
        .iter()
        .filter_map(|(ns, svc, label)| ptr(&[label, svc, ns, "svc"]))
        .collect();
    (!records.is_empty()).then_some(records)
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
