//! Service validation (upstream `ValidateService` and `ValidateServiceUpdate`): ports, types,
//! session affinity, cluster IPs and IP families, external IPs, load-balancer fields and
//! traffic policies; cluster IPs may not change once set.

use serde_json::Value;

use super::checks::{
    dns1123_subdomain, is_set, labels, list_of, qualified_name, str_of, IMMUTABLE_MSG,
};
use super::field::{child, index, FieldError};

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

fn is_headless(s: &Value) -> bool {
    let ips = list_of(s, "clusterIPs");
    ips.len() == 1 && ips[0].as_str() == Some("None")
}

fn externally_accessible(s: &Value) -> bool {
    matches!(str_of(s, "type"), "LoadBalancer" | "NodePort")
        || (str_of(s, "type") == "ClusterIP" && !list_of(s, "externalIPs").is_empty())
}

fn is_ipv6(ip: &str) -> bool {
    matches!(ip.parse::<std::net::IpAddr>(), Ok(std::net::IpAddr::V6(_)))
}

/// Upstream `ValidateService` (after metadata).
pub fn service(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = Vec::new();
    let svc_type = str_of(s, "type");
    let headless = is_headless(s);
    let ports = list_of(s, "ports");
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            &format!("may not be set to 'None' for {svc_type} services"),
        )),
        "ExternalName" => {
            for (field, set) in [
                ("clusterIPs", !list_of(s, "clusterIPs").is_empty()),
                ("ipFamilies", !list_of(s, "ipFamilies").is_empty()),
                ("ipFamilyPolicy", is_set(s, "ipFamilyPolicy")),
            ] {
                if set {
                    errs.push(FieldError::forbidden(
                        format!("spec.{field}"),
                        "may not be set for ExternalName services",
                    ));
                }
            }
            let cname = str_of(s, "externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                errs.extend(dns1123_subdomain(cname, "spec.externalName"));
            }
        }
        _ => {}
    }
    let mut port_names = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = index("spec.ports", i);
        let name = str_of(port, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        } else if !name.is_empty() {
            errs.extend(super::checks::dns1123_label(name, &child(&p, "name")));
            if !port_names.insert(name) {
                errs.push(FieldError::duplicate(child(&p, "name"), name));
            }
        }
        let num = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        for m in super::checks::port_num_errors(num) {
            errs.push(FieldError::invalid(child(&p, "port"), num, &m));
        }
        errs.extend(super::container::protocol(port, &child(&p, "protocol")));
        errs.extend(super::checks::port_num_or_name(
            port.get("targetPort"),
            &child(&p, "targetPort"),
        ));
        if let Some(ap) = port.get("appProtocol").and_then(Value::as_str) {
            errs.extend(qualified_name(ap, &child(&p, "appProtocol")));
        }
    }
    if s.get("selector").is_some_and(Value::is_object) {
        errs.extend(labels(s.get("selector"), "spec.selector"));
    }
    match str_of(s, "sessionAffinity") {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" => {
            let timeout = s.pointer("/sessionAffinityConfig/clientIP/timeoutSeconds");
            match (
                s.get("sessionAffinityConfig").filter(|v| v.is_object()),
                s.pointer("/sessionAffinityConfig/clientIP")
                    .filter(|v| v.is_object()),
                timeout.and_then(Value::as_i64),
            ) {
                (None, _, _) => errs.push(FieldError::required(
                    "spec.sessionAffinityConfig",
                    "when session affinity type is ClientIP",
                )),
                (_, None, _) => errs.push(FieldError::required(
                    "spec.sessionAffinityConfig.clientIP",
                    "when session affinity type is ClientIP",
                )),
                (_, _, None) => errs.push(FieldError::required(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    "when session affinity type is ClientIP",
                )),
                (_, _, Some(t)) if t <= 0 || t > 86400 => errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                _ => {}
            }
        }
        "None" => {
            if is_set(s, "sessionAffinityConfig") {
                errs.push(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            other,
            &["ClientIP", "None"],
        )),
    }
    if svc_type != "ExternalName" {
        errs.extend(cluster_ips(s));
    }
    for (i, ip) in list_of(s, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or("");
        let p = index("spec.externalIPs", i);
        let ip_errs = super::checks::valid_ip(ip, &p);
        if ip_errs.is_empty() {
            errs.extend(non_special_ip(ip, &p));
        } else {
            errs.extend(ip_errs);
        }
    }
    match svc_type {
        "" => errs.push(FieldError::required("spec.type", "")),
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort" => {}
        other => errs.push(FieldError::not_supported(
            "spec.type",
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    let node_port = |p: &Value| p.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
    if svc_type == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if node_port(port) != 0 {
                errs.push(FieldError::forbidden(
                    format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let np = node_port(port);
        if np != 0 && !node_ports.insert((str_of(port, "protocol"), np)) {
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}].nodePort"),
                np,
            ));
        }
    }
    let mut port_keys = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let proto = str_of(port, "protocol");
        let num = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !port_keys.insert((proto, num)) {
            let mut e = FieldError::duplicate(index("spec.ports", i), Value::Null);
            e.shown = Some(format!(
                "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{num}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                super::field::go_quote(proto)
            ));
            errs.push(e);
        }
    }
    let ranges = list_of(s, "loadBalancerSourceRanges");
    if !ranges.is_empty() {
        if svc_type != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                "spec.LoadBalancerSourceRanges",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, r) in ranges.iter().enumerate() {
            let r = r.as_str().unwrap_or("").trim();
            if !valid_cidr(r) {
                errs.push(FieldError::invalid(
                    index("spec.LoadBalancerSourceRanges", i),
                    r,
                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                ));
            }
        }
    }
    if is_set(s, "allocateLoadBalancerNodePorts") && svc_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if svc_type == "LoadBalancer" && !is_set(s, "allocateLoadBalancerNodePorts") {
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    let etp = str_of(s, "externalTrafficPolicy");
    if !externally_accessible(s) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            "spec.externalTrafficPolicy",
            etp,
            &["Cluster", "Local"],
        ));
    }
    let hc = s
        .get("healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let needs_hc = svc_type == "LoadBalancer" && etp == "Local";
    if !needs_hc && hc != 0 {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            hc,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    } else if needs_hc && hc != 0 {
        for m in super::checks::port_num_errors(hc) {
            errs.push(FieldError::invalid("spec.healthCheckNodePort", hc, &m));
        }
    }
    match s.get("internalTrafficPolicy").and_then(Value::as_str) {
        None if matches!(svc_type, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required("spec.internalTrafficPolicy", ""));
        }
        Some(p) if p != "Cluster" && p != "Local" => errs.push(FieldError::not_supported(
            "spec.internalTrafficPolicy",
            p,
            &["Cluster", "Local"],
        )),
        _ => {}
    }
    if let Some(td) = s.get("trafficDistribution").and_then(Value::as_str) {
        if td != "PreferClose" {
            errs.push(FieldError::not_supported(
                "spec.trafficDistribution",
                td,
                &["PreferClose"],
            ));
        }
    }
    errs
}

fn valid_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max)
}

fn non_special_ip(ip: &str, path: &str) -> Vec<FieldError> {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return vec![FieldError::invalid(path, ip, "must be a valid IP address")];
    };
    let mut errs = Vec::new();
    if addr.is_unspecified() {
        errs.push(FieldError::invalid(
            path,
            ip,
            &format!("may not be unspecified ({ip})"),
        ));
    }
    if addr.is_loopback() {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        ));
    }
    let (link_local, link_local_mc) = match addr {
        std::net::IpAddr::V4(a) => (a.is_link_local(), a.octets()[..3] == [224, 0, 0]),
        std::net::IpAddr::V6(a) => {
            let seg = a.segments()[0];
            (seg & 0xffc0 == 0xfe80, seg & 0xff0f == 0xff02)
        }
    };
    if link_local {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        ));
    }
    if link_local_mc {
        errs.push(FieldError::invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        ));
    }
    errs
}

/// Upstream `ValidateServiceClusterIPsRelatedFields`.
fn cluster_ips(s: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cluster_ip = str_of(s, "clusterIP");
    let ips_value = s
        .get("clusterIPs")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let ips: Vec<&str> = list_of(s, "clusterIPs")
        .iter()
        .map(|v| v.as_str().unwrap_or(""))
        .collect();
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(FieldError::required("spec.clusterIPs", ""));
        } else if ips[0] != cluster_ip {
            errs.push(FieldError::invalid(
                "spec.clusterIPs",
                ips_value.clone(),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            ips_value.clone(),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, fam) in list_of(s, "ipFamilies").iter().enumerate() {
        let fam = fam.as_str().unwrap_or("");
        if fam != "IPv4" && fam != "IPv6" {
            errs.push(FieldError::not_supported(
                index("spec.ipFamilies", i),
                fam,
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(fam) {
            errs.push(FieldError::duplicate(index("spec.ipFamilies", i), fam));
        }
    }
    if let Some(p) = s.get("ipFamilyPolicy").and_then(Value::as_str) {
        if !matches!(p, "SingleStack" | "PreferDualStack" | "RequireDualStack") {
            errs.push(FieldError::not_supported(
                "spec.ipFamilyPolicy",
                p,
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }
    let mut invalid_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && *ip == "None" {
            if ips.len() > 1 {
                invalid_ips = true;
                errs.push(FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value.clone(),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let e = super::checks::valid_ip(ip, &index("spec.clusterIPs", i));
        invalid_ips |= !e.is_empty();
        errs.extend(e);
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            ips_value.clone(),
            "may only hold up to 2 values",
        ));
    }
    if invalid_ips {
        return errs;
    }
    if ips.len() > 1 && is_ipv6(ips[0]) == is_ipv6(ips[1]) {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            ips_value,
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(s) {
        for (i, (ip, fam)) in ips.iter().zip(list_of(s, "ipFamilies")).enumerate() {
            match fam.as_str() {
                Some("IPv4") if is_ipv6(ip) => errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    *ip,
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                )),
                Some("IPv6") if !is_ipv6(ip) => errs.push(FieldError::invalid(
                    index("spec.clusterIPs", i),
                    *ip,
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                )),
                _ => {}
            }
        }
    }
    errs
}

/// Upstream `ValidateServiceUpdate` (after metadata): cluster IPs may not change once set.
pub fn service_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let (os, ns) = (spec(old), spec(new));
    let mut errs = Vec::new();
    let external = str_of(os, "type") == "ExternalName" || str_of(ns, "type") == "ExternalName";
    if !(external || is_headless(os) && is_headless(ns)) {
        let old_ips: Vec<&Value> = list_of(os, "clusterIPs").iter().collect();
        let new_ips = list_of(ns, "clusterIPs");
        let shown = || Value::Array(new_ips.to_vec());
        if old_ips.len() == new_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if **ip != new_ips[i] {
                    errs.push(FieldError::invalid(
                        index("spec.clusterIPs", i),
                        shown(),
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    shown(),
                    "primary clusterIP can not be unset",
                ));
            } else if *old_ips[0] != new_ips[0] {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    shown(),
                    "may not change once set",
                ));
            }
            if new_ips.len() == 1 && str_of(ns, "ipFamilyPolicy") != "SingleStack" {
                errs.push(FieldError::invalid(
                    "spec.ipFamilyPolicy",
                    ns.get("ipFamilyPolicy").cloned().unwrap_or(Value::Null),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && *old_ips[0] != new_ips[0] {
            errs.push(FieldError::invalid(
                "spec.clusterIPs[0]",
                shown(),
                "may not change once set",
            ));
        }
    }
    let needs_hc = |s: &Value| {
        str_of(s, "type") == "LoadBalancer" && str_of(s, "externalTrafficPolicy") == "Local"
    };
    if needs_hc(os)
        && needs_hc(ns)
        && os.get("healthCheckNodePort") != ns.get("healthCheckNodePort")
    {
        errs.push(FieldError::forbidden(
            "spec.healthCheckNodePort",
            IMMUTABLE_MSG,
        ));
    }
    errs.extend(service(new));
    errs
}
