//! Table-driven tests of name → records over a fixed index.

use super::*;
use crate::index::{service_from, slice_from};
use serde_json::json;

fn service(
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> (String, String, crate::index::Service) {
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"namespace": ns, "name": name}, "spec": spec}))
    .unwrap();
    let ((ns, name), s) = service_from(&svc).unwrap();
    (ns, name, s)
}

fn slice(ns: &str, name: &str, svc: &str, body: serde_json::Value) -> (String, String, Slice) {
    let mut obj = json!({
        "metadata": {"namespace": ns, "name": name,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4"});
    for (k, v) in body.as_object().unwrap() {
        obj[k] = v.clone();
    }
    let s: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(obj).unwrap();
    let ((ns, name), s) = slice_from(&s).unwrap();
    (ns, name, s)
}

fn fixture() -> Index {
    let mut ix = Index::default();
    for ns in ["default", "prod", "kube-system"] {
        ix.set_namespace(ns, true);
    }
    let services = [
        service(
            "default",
            "web",
            json!({"clusterIP": "10.43.0.20", "ports": [
            {"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        ),
        service(
            "default",
            "dual",
            json!({"clusterIPs": ["10.43.0.21", "fd00::21"],
            "clusterIP": "10.43.0.21", "ports": [{"name": "http", "port": 80}]}),
        ),
        service(
            "default",
            "db",
            json!({"clusterIP": "None", "ports": [
            {"name": "pg", "port": 5432}]}),
        ),
        service("default", "empty", json!({"clusterIP": "None"})),
        service(
            "default",
            "ext",
            json!({"type": "ExternalName",
            "externalName": "www.example.com"}),
        ),
        service(
            "default",
            "ipext",
            json!({"type": "ExternalName", "externalName": "1.2.3.4"}),
        ),
        service(
            "kube-system",
            "kube-dns",
            json!({"clusterIP": "10.43.0.10", "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        ),
    ];
    for (ns, name, s) in services {
        ix.set_service(&ns, &name, Some(s));
    }
    let slices = [
        slice(
            "default",
            "db-abc",
            "db",
            json!({
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.42.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6"], "hostname": "db-1"},
                {"addresses": ["10.42.0.7"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.8"], "hostname": "db-2", "conditions": {"ready": false}},
            ]}),
        ),
        slice(
            "default",
            "web-xyz",
            "web",
            json!({
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.42.0.9"]}]}),
        ),
    ];
    for (ns, name, s) in slices {
        ix.set_slice(&ns, &name, Some(s));
    }
    ix.synced = [true; 3];
    ix
}

fn zone() -> Zone {
    Zone::new("cluster.local", 5).unwrap()
}

fn render(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect();
    out.sort();
    out
}

/// `(rcode, answers, has SOA)`, or `None` for forwarded names.
type Expect = Option<(ResponseCode, Vec<String>, bool)>;

fn ask(ix: &Index, name: &str, qtype: RecordType) -> Expect {
    let name = Name::from_ascii(name).unwrap();
    match lookup(ix, &zone(), &name, qtype) {
        Outcome::Forward => None,
        Outcome::Answer(a) => Some((
            a.rcode,
            render(&a.answers),
            a.authorities
                .iter()
                .any(|r| r.record_type() == RecordType::SOA),
        )),
    }
}

#[test]
fn names_to_records() {
    use RecordType::*;
    use ResponseCode::{NXDomain, NoError};
    let ok = |v: &[&str]| Some((NoError, v.iter().map(|s| s.to_string()).collect(), false));
    let nodata = Some((NoError, vec![], true));
    let nx = Some((NXDomain, vec![], true));
    let ix = fixture();
    #[rustfmt::skip]
    let cases: Vec<(&str, RecordType, Expect)> = vec![
        // ClusterIP services.
        ("web.default.svc.cluster.local.", A, ok(&["web.default.svc.cluster.local. 5 A 10.43.0.20"])),
        ("WEB.Default.svc.Cluster.Local.", A, ok(&["WEB.Default.svc.Cluster.Local. 5 A 10.43.0.20"])),
        ("web.default.svc.cluster.local.", AAAA, nodata.clone()),
        ("web.default.svc.cluster.local.", TXT, nodata.clone()),
        ("dual.default.svc.cluster.local.", AAAA, ok(&["dual.default.svc.cluster.local. 5 AAAA fd00::21"])),
        ("nope.default.svc.cluster.local.", A, nx.clone()),
        ("web.nons.svc.cluster.local.", A, nx.clone()),
        ("web.prod.svc.cluster.local.", A, nx.clone()),
        // Intermediate names exist; others do not.
        ("default.svc.cluster.local.", A, nodata.clone()),
        ("nons.svc.cluster.local.", A, nx.clone()),
        ("svc.cluster.local.", A, nodata.clone()),
        ("pod.cluster.local.", A, nodata.clone()),
        ("cluster.local.", A, nodata.clone()),
        ("foo.cluster.local.", A, nx.clone()),
        ("a.b.c.web.default.svc.cluster.local.", A, nx.clone()),
        // SRV for named ports, on the port name and on the service name (all ports).
        ("_http._tcp.web.default.svc.cluster.local.", SRV,
         ok(&["_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local."])),
        ("_HTTP._TCP.web.default.svc.cluster.local.", SRV,
         ok(&["_HTTP._TCP.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local."])),
        ("_dns._udp.web.default.svc.cluster.local.", SRV,
         ok(&["_dns._udp.web.default.svc.cluster.local. 5 SRV 0 100 53 web.default.svc.cluster.local."])),
        ("_http._udp.web.default.svc.cluster.local.", SRV, nx.clone()),
        ("_nope._tcp.web.default.svc.cluster.local.", SRV, nx.clone()),
        ("_http._tcp.web.default.svc.cluster.local.", A, nodata.clone()),
        ("web.default.svc.cluster.local.", SRV, ok(&[
            "web.default.svc.cluster.local. 5 SRV 0 50 53 web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 5 SRV 0 50 80 web.default.svc.cluster.local."])),
        // Headless: ready endpoints only, endpoint names, SRV per endpoint.
        ("db.default.svc.cluster.local.", A, ok(&[
            "db.default.svc.cluster.local. 5 A 10.42.0.5",
            "db.default.svc.cluster.local. 5 A 10.42.0.6",
            "db.default.svc.cluster.local. 5 A 10.42.0.7"])),
        ("db.default.svc.cluster.local.", AAAA, nodata.clone()),
        ("db-0.db.default.svc.cluster.local.", A, ok(&["db-0.db.default.svc.cluster.local. 5 A 10.42.0.5"])),
        ("10-42-0-7.db.default.svc.cluster.local.", A,
         ok(&["10-42-0-7.db.default.svc.cluster.local. 5 A 10.42.0.7"])),
        ("db-2.db.default.svc.cluster.local.", A, nx.clone()),
        ("_pg._tcp.db.default.svc.cluster.local.", SRV, ok(&[
            "_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 10-42-0-7.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 33 5432 db-1.db.default.svc.cluster.local."])),
        ("_pg._udp.db.default.svc.cluster.local.", SRV, nx.clone()),
        ("empty.default.svc.cluster.local.", A, nx.clone()),
        // Endpoint names exist for ClusterIP services' endpoints too (CoreDNS).
        ("10-42-0-9.web.default.svc.cluster.local.", A,
         ok(&["10-42-0-9.web.default.svc.cluster.local. 5 A 10.42.0.9"])),
        // ExternalName.
        ("ext.default.svc.cluster.local.", A, ok(&["ext.default.svc.cluster.local. 5 CNAME www.example.com."])),
        ("ext.default.svc.cluster.local.", CNAME, ok(&["ext.default.svc.cluster.local. 5 CNAME www.example.com."])),
        ("ipext.default.svc.cluster.local.", A, nx.clone()),
        ("x.ext.default.svc.cluster.local.", A, nx.clone()),
        // Pods (insecure: echo the address).
        ("10-42-0-99.default.pod.cluster.local.", A, ok(&["10-42-0-99.default.pod.cluster.local. 5 A 10.42.0.99"])),
        ("10-42-0-99.default.pod.cluster.local.", AAAA, nodata.clone()),
        ("fd00--1.default.pod.cluster.local.", AAAA, ok(&["fd00--1.default.pod.cluster.local. 5 AAAA fd00::1"])),
        ("10-42-0-99.nons.pod.cluster.local.", A, nx.clone()),
        ("bogus.default.pod.cluster.local.", A, nx.clone()),
        ("default.pod.cluster.local.", A, nodata.clone()),
        // Schema version and zone apex.
        ("dns-version.cluster.local.", TXT, ok(&["dns-version.cluster.local. 28800 TXT 1.1.0"])),
        ("dns-version.cluster.local.", A, nodata.clone()),
        ("cluster.local.", NS, ok(&["cluster.local. 5 NS ns.dns.cluster.local."])),
        ("ns.dns.cluster.local.", A, ok(&["ns.dns.cluster.local. 5 A 10.43.0.10"])),
        // Reverse: cluster IPs, then endpoints; anything else falls through.
        ("20.0.43.10.in-addr.arpa.", PTR, ok(&["20.0.43.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local."])),
        ("5.0.42.10.in-addr.arpa.", PTR, ok(&["5.0.42.10.in-addr.arpa. 5 PTR db-0.db.default.svc.cluster.local."])),
        ("9.0.42.10.in-addr.arpa.", PTR, ok(&["9.0.42.10.in-addr.arpa. 5 PTR 10-42-0-9.web.default.svc.cluster.local."])),
        ("1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", PTR,
         ok(&["1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 PTR dual.default.svc.cluster.local."])),
        ("8.0.42.10.in-addr.arpa.", PTR, None),
        ("1.1.168.192.in-addr.arpa.", PTR, None),
        ("0.42.10.in-addr.arpa.", PTR, None),
        ("20.0.43.10.in-addr.arpa.", A, None),
        // Outside the cluster.
        ("example.com.", A, None),
        ("cluster.local.example.com.", A, None),
    ];
    for (name, qtype, want) in cases {
        assert_eq!(ask(&ix, name, qtype), want, "{name} {qtype}");
    }
}

#[test]
fn srv_and_cname_extras() {
    let ix = fixture();
    let z = zone();
    let q = |n: &str, t| match lookup(&ix, &z, &Name::from_ascii(n).unwrap(), t) {
        Outcome::Answer(a) => a,
        Outcome::Forward => panic!("{n} forwarded"),
    };
    // SRV answers carry the targets' addresses.
    let a = q("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        render(&a.additionals),
        vec!["web.default.svc.cluster.local. 5 A 10.43.0.20"]
    );
    let a = q("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(
        render(&a.additionals),
        vec![
            "10-42-0-7.db.default.svc.cluster.local. 5 A 10.42.0.7",
            "db-0.db.default.svc.cluster.local. 5 A 10.42.0.5",
            "db-1.db.default.svc.cluster.local. 5 A 10.42.0.6",
        ]
    );
    // An ExternalName's target is chased with the asked type, but not for CNAME queries.
    let a = q("ext.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.chase, Some(Name::from_ascii("www.example.com.").unwrap()));
    assert_eq!(
        q("ext.default.svc.cluster.local.", RecordType::CNAME).chase,
        None
    );
    // Negative answers carry the zone's SOA with the record TTL as negative TTL.
    let a = q("nope.default.svc.cluster.local.", RecordType::A);
    let soa = &a.authorities[0];
    assert_eq!(soa.name.to_string(), "cluster.local.");
    match &soa.data {
        RData::SOA(s) => {
            assert_eq!(s.mname.to_string(), "ns.dns.cluster.local.");
            assert_eq!(s.rname.to_string(), "hostmaster.cluster.local.");
            assert_eq!(s.minimum, 5);
            assert_eq!(s.serial, ix.serial);
        }
        other => panic!("not a SOA: {other:?}"),
    }
}

#[test]
fn nxdomain_is_servfail_until_synced() {
    let mut ix = fixture();
    ix.synced = [true, false, true];
    let (rcode, _, _) = ask(&ix, "nope.default.svc.cluster.local.", RecordType::A).unwrap();
    assert_eq!(rcode, ResponseCode::ServFail);
    // Names that are known answer normally.
    let (rcode, answers, _) = ask(&ix, "web.default.svc.cluster.local.", RecordType::A).unwrap();
    assert_eq!((rcode, answers.len()), (ResponseCode::NoError, 1));
}

#[test]
fn index_updates_and_removals() {
    let mut ix = fixture();
    let serial = ix.serial;
    ix.set_service("default", "web", None);
    assert_eq!(
        ask(&ix, "web.default.svc.cluster.local.", RecordType::A)
            .unwrap()
            .0,
        ResponseCode::NXDomain
    );
    // The reverse entry of its cluster IP is gone; the endpoint's PTR still names the
    // service (its slice still exists).
    assert_eq!(ask(&ix, "20.0.43.10.in-addr.arpa.", RecordType::PTR), None);
    assert!(ix.serial > serial || ix.serial == serial.wrapping_add(1));
    ix.set_slice("default", "db-abc", None);
    assert_eq!(
        ask(&ix, "db.default.svc.cluster.local.", RecordType::A)
            .unwrap()
            .0,
        ResponseCode::NXDomain
    );
    assert_eq!(ask(&ix, "5.0.42.10.in-addr.arpa.", RecordType::PTR), None);
    // A relist replaces everything.
    let (ns, name, s) = service("prod", "api", json!({"clusterIP": "10.43.1.1"}));
    ix.replace_services(vec![((ns, name), s)]);
    assert!(ask(&ix, "ext.default.svc.cluster.local.", RecordType::A)
        .unwrap()
        .1
        .is_empty());
    assert_eq!(
        ask(&ix, "api.prod.svc.cluster.local.", RecordType::A)
            .unwrap()
            .1,
        vec!["api.prod.svc.cluster.local. 5 A 10.43.1.1"]
    );
    ix.set_namespace("prod", false);
    assert_eq!(
        ask(&ix, "api.prod.svc.cluster.local.", RecordType::A)
            .unwrap()
            .0,
        ResponseCode::NXDomain
    );
}

#[test]
fn slices_without_dns_records() {
    let fqdn: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "x",
                     "labels": {"kubernetes.io/service-name": "x"}},
        "addressType": "FQDN", "endpoints": [{"addresses": ["a.example"]}]}))
    .unwrap();
    assert!(slice_from(&fqdn).is_none());
    let unlabelled: k8s_openapi::api::discovery::v1::EndpointSlice =
        serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": "x"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]}))
        .unwrap();
    assert!(slice_from(&unlabelled).is_none());
}
