//! Defaults of core and smaller kinds: Service, Secret (with `stringData` folded into `data`, as
//! the v1 conversion does), Namespace, PersistentVolume(Claim), Endpoints, LimitRange, Node,
//! NetworkPolicy and RBAC bindings; and the Service update step that keeps allocated values.

use serde_json::{Map, Value};

use super::{
    base64_encode, child_obj, each_obj, empty_str, existing, obj_in, set_if_empty, set_if_unset,
    unset,
};

/// Upstream `SetDefaults_Service`, plus the strategy's syncing of `clusterIP` and
/// `clusterIPs`.
pub fn service(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_empty(spec, "sessionAffinity", "None");
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .is_some_and(|v| !v.is_null());
            if !has_timeout {
                let config = serde_json::json!({"clientIP": {"timeoutSeconds": 10800}});
                spec.insert("sessionAffinityConfig".into(), config);
            }
        }
        _ => {}
    }
    set_if_empty(spec, "type", "ClusterIP");
    each_obj(spec, "ports", |p| {
        set_if_empty(p, "protocol", "TCP");
        let missing = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if missing {
            if let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    });
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let has_external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible = svc_type == "LoadBalancer"
        || svc_type == "NodePort"
        || (svc_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        set_if_empty(spec, "externalTrafficPolicy", "Cluster");
    }
    if matches!(svc_type.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_if_unset(spec, "internalTrafficPolicy", "Cluster");
    }
    if svc_type == "LoadBalancer" {
        set_if_unset(spec, "allocateLoadBalancerNodePorts", true);
    }
    // The strategy keeps `clusterIP` and `clusterIPs` in step (normalizeClusterIPs).
    let cluster_ip = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ips_empty = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if !cluster_ip.is_empty() && ips_empty {
        spec.insert(
            "clusterIPs".into(),
            Value::Array(vec![Value::from(cluster_ip)]),
        );
    } else if cluster_ip.is_empty() && !ips_empty {
        if let Some(first) = spec.get("clusterIPs").and_then(|a| a.get(0)).cloned() {
            spec.insert("clusterIP".into(), first);
        }
    }
    // `status.loadBalancer` is a struct upstream, so it always prints (`loadBalancer: {}`).
    let Some(lb) = child_obj(obj, "status").and_then(|st| obj_in(st, "loadBalancer")) else {
        return;
    };
    if svc_type == "LoadBalancer" {
        each_obj(lb, "ingress", |ing| {
            if !empty_str(ing, "ip") {
                set_if_unset(ing, "ipMode", "VIP");
            }
        });
    }
}

/// The Service update steps upstream runs before validation: `patchAllocatedValues` (a
/// Service that omits its allocated cluster IPs, IP families, node ports or health-check node
/// port keeps the old ones, as `kubectl replace` expects) and the strategy's
/// `dropTypeDependentFields` (switching to a type that does not use cluster IPs, node ports, a
/// health-check port, `allocateLoadBalancerNodePorts` or `externalTrafficPolicy` clears the
/// values the user did not change, so `kubectl patch svc … type: ClusterIP` works). Call it
/// with the stored object before [`super::apply_defaults`] and validation.
pub fn prepare_service_update(old: &Value, new: &mut Value) {
    let old_spec = old.get("spec").cloned().unwrap_or(Value::Null);
    let Some(spec) = child_obj(new, "spec") else {
        return;
    };
    patch_allocated_values(&old_spec, spec);
    drop_type_dependent_fields(&old_spec, spec);
    let lb = spec.get("type").and_then(Value::as_str) == Some("LoadBalancer");
    if !lb {
        if let Some(status) = new.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("loadBalancer".into(), Value::Object(Map::new()));
        }
    }
}

fn type_of(s: &Value) -> &str {
    match s.get("type").and_then(Value::as_str) {
        None | Some("") => "ClusterIP",
        Some(t) => t,
    }
}

fn needs_node_port(s: &Value) -> bool {
    match type_of(s) {
        "NodePort" => true,
        "LoadBalancer" => {
            s.get("allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false)
        }
        _ => false,
    }
}

fn needs_hc(s: &Value) -> bool {
    type_of(s) == "LoadBalancer"
        && s.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
}

fn node_port_of(p: &Value) -> i64 {
    p.get("nodePort").and_then(Value::as_i64).unwrap_or(0)
}

fn missing(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        _ => false,
    }
}

fn patch_allocated_values(old: &Value, spec: &mut Map<String, Value>) {
    let new = Value::Object(spec.clone());
    if type_of(old) != "ExternalName" && type_of(&new) != "ExternalName" {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if missing(spec.get(field)) {
                if let Some(v) = old.get(field).filter(|v| !v.is_null()) {
                    spec.insert(field.into(), v.clone());
                }
            }
        }
    }
    if needs_node_port(old) && needs_node_port(&new) {
        let old_ports: Vec<(String, i64)> = old
            .get("ports")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                        (name.to_string(), node_port_of(p))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let used: Vec<i64> = new
            .get("ports")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(node_port_of).filter(|p| *p != 0).collect())
            .unwrap_or_default();
        each_obj(spec, "ports", |p| {
            if missing(p.get("nodePort")) {
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                let found = old_ports
                    .iter()
                    .find(|(n, np)| n == name && *np != 0 && !used.contains(np));
                if let Some((_, np)) = found {
                    p.insert("nodePort".into(), Value::from(*np));
                }
            }
        });
    }
    if needs_hc(old) && needs_hc(&new) && missing(spec.get("healthCheckNodePort")) {
        if let Some(v) = old.get("healthCheckNodePort").filter(|v| !v.is_null()) {
            spec.insert("healthCheckNodePort".into(), v.clone());
        }
    }
}

fn drop_type_dependent_fields(old: &Value, spec: &mut Map<String, Value>) {
    let new = Value::Object(spec.clone());
    let same = |f: &str| old.get(f).filter(|v| !v.is_null()) == new.get(f).filter(|v| !v.is_null());
    if type_of(old) != "ExternalName" && type_of(&new) == "ExternalName" {
        if same("clusterIP") && same("clusterIPs") {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        for f in ["ipFamilies", "ipFamilyPolicy"] {
            if same(f) {
                spec.remove(f);
            }
        }
    }
    if needs_node_port(old) && !needs_node_port(&new) {
        let ports = |s: &Value| -> Vec<i64> {
            s.get("ports")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(node_port_of).collect())
                .unwrap_or_default()
        };
        if ports(old) == ports(&new) {
            each_obj(spec, "ports", |p| {
                p.remove("nodePort");
            });
        }
    }
    if needs_hc(old) && !needs_hc(&new) && same("healthCheckNodePort") {
        spec.remove("healthCheckNodePort");
    }
    if type_of(old) == "LoadBalancer" && type_of(&new) != "LoadBalancer" {
        for f in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(f) {
                spec.remove(f);
            }
        }
    }
    let needs_etp = |s: &Value| matches!(type_of(s), "NodePort" | "LoadBalancer");
    if needs_etp(old) && !needs_etp(&new) && same("externalTrafficPolicy") {
        spec.remove("externalTrafficPolicy");
    }
}

/// Upstream `SetDefaults_Secret`, after the v1 conversion has folded `stringData` into `data`.
pub fn secret(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        if let Some(data) = obj_in(map, "data") {
            for (k, v) in string_data {
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                data.insert(k, Value::from(base64_encode(text.as_bytes())));
            }
        }
    } else {
        map.remove("stringData");
    }
    set_if_empty(map, "type", "Opaque");
}

/// Upstream `SetDefaults_Namespace` (the `kubernetes.io/metadata.name` label) and
/// `SetDefaults_NamespaceStatus` (phase `Active`).
pub fn namespace(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        if let Some(labels) = child_obj(obj, "metadata").and_then(|m| obj_in(m, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), Value::from(name));
        }
    }
    if let Some(status) = child_obj(obj, "status") {
        set_if_empty(status, "phase", "Active");
    }
}

/// Upstream `SetDefaults_PersistentVolumeClaim` and `..ClaimSpec`.
pub fn pvc(obj: &mut Value) {
    if let Some(spec) = child_obj(obj, "spec") {
        set_if_unset(spec, "volumeMode", "Filesystem");
    }
    if let Some(status) = child_obj(obj, "status") {
        set_if_empty(status, "phase", "Pending");
    }
}

/// Upstream `SetDefaults_PersistentVolume`.
pub fn pv(obj: &mut Value) {
    if let Some(spec) = child_obj(obj, "spec") {
        set_if_empty(spec, "persistentVolumeReclaimPolicy", "Retain");
        set_if_unset(spec, "volumeMode", "Filesystem");
        if let Some(hp) = existing(spec, "hostPath") {
            set_if_unset(hp, "type", "");
        }
    }
    if let Some(status) = child_obj(obj, "status") {
        set_if_empty(status, "phase", "Pending");
    }
}

/// Upstream `SetDefaults_Endpoints`: port protocols.
pub fn endpoints(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        each_obj(map, "subsets", |ss| {
            each_obj(ss, "ports", |p| set_if_empty(p, "protocol", "TCP"))
        });
    }
}

/// Upstream `SetDefaults_LimitRangeItem`: for `Container` limits, `default` from `max`, and
/// `defaultRequest` from `default`, then from `min`.
pub fn limit_range(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    each_obj(spec, "limits", |item| {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            return;
        }
        let get = |item: &Map<String, Value>, k: &str| {
            item.get(k)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (max, min) = (get(item, "max"), get(item, "min"));
        let mut default = get(item, "default");
        for (k, v) in max {
            default.entry(k).or_insert(v);
        }
        let mut request = get(item, "defaultRequest");
        for (k, v) in default.iter().chain(min.iter()) {
            request.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if !default.is_empty() {
            item.insert("default".into(), Value::Object(default));
        }
        if !request.is_empty() {
            item.insert("defaultRequest".into(), Value::Object(request));
        }
    });
}

/// Upstream `SetDefaults_NodeStatus`: allocatable defaults to capacity.
pub fn node(obj: &mut Value) {
    let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    if unset(status, "allocatable") {
        if let Some(cap) = status.get("capacity").filter(|v| v.is_object()).cloned() {
            status.insert("allocatable".into(), cap);
        }
    }
}

/// Upstream `SetDefaults_NetworkPolicy` and `SetDefaults_NetworkPolicyPort`.
pub fn network_policy(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    for dir in ["ingress", "egress"] {
        each_obj(spec, dir, |rule| {
            each_obj(rule, "ports", |p| set_if_unset(p, "protocol", "TCP"))
        });
    }
    let no_types = spec
        .get("policyTypes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_types {
        let mut types = vec![Value::from("Ingress")];
        if spec
            .get("egress")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty())
        {
            types.push(Value::from("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// Upstream `SetDefaults_RoleBinding`/`..ClusterRoleBinding` and `SetDefaults_Subject`.
pub fn role_binding(obj: &mut Value) {
    const GROUP: &str = "rbac.authorization.k8s.io";
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    if let Some(role_ref) = existing(map, "roleRef") {
        set_if_empty(role_ref, "apiGroup", GROUP);
    }
    each_obj(map, "subjects", |s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "User" || kind == "Group" {
            set_if_empty(s, "apiGroup", GROUP);
        }
    });
}
