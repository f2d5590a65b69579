//! Tables of the core (`""`) group other than Pod: PodTemplate, ReplicationController, Service,
//! Endpoints, Node, Event (also served as `events.k8s.io` Event), Namespace, Secret,
//! ServiceAccount, PersistentVolume(Claim), ComponentStatus, ConfigMap and ResourceQuota.
//! LimitRange has no printer upstream and uses the generic table.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::quantity::quantity;
use super::util::{
    age, arr_at, container_cells, deleting, format_labels, get, int_at, len_at, n, name, opt_int,
    opt_str, s, since, str_at, time_at,
};
use super::{col, wide, Column, AGE, CONTAINERS_DESC, IMAGES_DESC, NAME, NAME_DESC};

// ---------------------------------------------------------------------------------------------
// PodTemplate, ReplicationController
// ---------------------------------------------------------------------------------------------

pub(super) const POD_TEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    col("Containers", "string", CONTAINERS_DESC),
    col("Images", "string", IMAGES_DESC),
    col("Pod Labels", "string", "Labels of the pod template."),
];

pub(super) fn pod_template_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(obj, &["template", "spec", "containers"]));
    let labels = format_labels(get(obj, &["template", "metadata", "labels"]));
    vec![name(obj), names, images, s(labels)]
}

pub(super) const RC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Number of replicas wanted (spec.replicas).",
    ),
    col(
        "Current",
        "integer",
        "Number of replicas observed (status.replicas).",
    ),
    col("Ready", "integer", "Number of ready replicas."),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide(
        "Selector",
        "string",
        "Label query over the pods the controller manages.",
    ),
];

pub(super) fn rc_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]));
    vec![
        name(obj),
        n(opt_int(obj, &["spec", "replicas"]).unwrap_or(1)),
        n(int_at(obj, &["status", "replicas"])),
        n(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        names,
        images,
        s(format_labels(get(obj, &["spec", "selector"]))),
    ]
}

// ---------------------------------------------------------------------------------------------
// Service, Endpoints
// ---------------------------------------------------------------------------------------------

pub(super) const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "How the service is exposed (ClusterIP, NodePort, LoadBalancer, ExternalName).",
    ),
    col(
        "Cluster-IP",
        "string",
        "Virtual IP of the service inside the cluster.",
    ),
    col(
        "External-IP",
        "string",
        "External addresses: external IPs, load-balancer ingress or external name.",
    ),
    col(
        "Port(s)",
        "string",
        "Ports exposed by the service (port[:nodePort]/protocol).",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "Labels of the pods the service routes to.",
    ),
];

/// Sorted, de-duplicated load-balancer ingress IPs (or hostnames), joined by `,`.
fn load_balancer_ingress(status: Option<&Value>) -> String {
    let mut set: Vec<String> = Vec::new();
    if let Some(st) = status {
        for ing in arr_at(st, &["ingress"]) {
            let ip = str_at(ing, &["ip"]);
            let host = str_at(ing, &["hostname"]);
            let v = if !ip.is_empty() { ip } else { host };
            if !v.is_empty() {
                set.push(v.to_string());
            }
        }
    }
    set.sort();
    set.dedup();
    set.join(",")
}

pub(super) fn ingress_status_string(status: Option<&Value>) -> String {
    load_balancer_ingress(status)
}

fn service_external_ip(svc: &Value, svc_type: &str) -> String {
    let external_ips: Vec<String> = arr_at(svc, &["spec", "externalIPs"])
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect();
    match svc_type {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(get(svc, &["status", "loadBalancer"]));
            if !external_ips.is_empty() {
                let mut all: Vec<String> = Vec::new();
                if !lb.is_empty() {
                    all.extend(lb.split(',').map(str::to_string));
                }
                all.extend(external_ips);
                return all.join(",");
            }
            if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

fn service_ports(svc: &Value) -> String {
    let pieces: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let proto = opt_str(p, &["protocol"])
                .filter(|v| !v.is_empty())
                .unwrap_or("TCP");
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{port}:{node_port}/{proto}")
            } else {
                format!("{port}/{proto}")
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".to_string()
    } else {
        pieces.join(",")
    }
}

pub(super) fn service_cells(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let svc_type = opt_str(svc, &["spec", "type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("ClusterIP");
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str(svc, &["spec", "clusterIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    vec![
        name(svc),
        s(svc_type),
        s(cluster_ip),
        s(service_external_ip(svc, svc_type)),
        s(service_ports(svc)),
        age(svc, now),
        s(format_labels(get(svc, &["spec", "selector"]))),
    ]
}

pub(super) const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "Addresses (ip:port) backing the service, at most three shown.",
    ),
    AGE,
];

/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub(super) fn endpoints_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let subsets = arr_at(obj, &["subsets"]);
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        const MAX: usize = 3;
        let mut list: Vec<String> = Vec::new();
        let mut more = false;
        let mut count = 0usize;
        for ss in subsets {
            let addresses = arr_at(ss, &["addresses"]);
            let ports = arr_at(ss, &["ports"]);
            if ports.is_empty() {
                count += addresses.len();
                for a in addresses {
                    if list.len() == MAX {
                        more = true;
                        break;
                    }
                    list.push(str_at(a, &["ip"]).to_string());
                }
                continue;
            }
            for p in ports {
                count += addresses.len();
                for a in addresses {
                    if list.len() == MAX {
                        more = true;
                        break;
                    }
                    list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
                }
            }
        }
        let ret = list.join(",");
        if more {
            format!("{ret} + {} more...", count.saturating_sub(MAX))
        } else {
            ret
        }
    };
    vec![name(obj), s(text), age(obj, now)]
}

// ---------------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------------

pub(super) const NODE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Readiness of the node, and whether scheduling is disabled.",
    ),
    col(
        "Roles",
        "string",
        "Roles of the node, from node-role.kubernetes.io/<role> labels.",
    ),
    AGE,
    col("Version", "string", "Kubelet version reported by the node."),
    wide(
        "Internal-IP",
        "string",
        "First InternalIP address of the node.",
    ),
    wide(
        "External-IP",
        "string",
        "First ExternalIP address of the node.",
    ),
    wide(
        "OS-Image",
        "string",
        "Operating system image reported by the node.",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel version reported by the node.",
    ),
    wide(
        "Container-Runtime",
        "string",
        "Container runtime and version reported by the node.",
    ),
];

fn node_address(node: &Value, type_: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == type_)
        .map(|a| str_at(a, &["address"]).to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(Value::Object(labels)) = get(node, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role.to_string());
                }
            } else if k == "kubernetes.io/role" {
                if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                    roles.push(v.to_string());
                }
            }
        }
    }
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

pub(super) fn node_cells(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The last condition of a type wins, as with upstream's condition map.
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == "Ready");
    let mut status: Vec<&str> = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if get(node, &["spec", "unschedulable"]).and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let info = |field: &str| {
        opt_str(node, &["status", "nodeInfo", field])
            .filter(|v| !v.is_empty())
            .unwrap_or("<unknown>")
            .to_string()
    };
    vec![
        name(node),
        s(status.join(",")),
        s(node_roles(node)),
        age(node, now),
        s(str_at(node, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(node, "InternalIP")),
        s(node_address(node, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

// ---------------------------------------------------------------------------------------------
// Event (core/v1 and events.k8s.io/v1 field names)
// ---------------------------------------------------------------------------------------------

pub(super) const EVENT_COLUMNS: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "Time since the event was last observed.",
    ),
    col("Type", "string", "Type of the event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "Short machine-readable reason for the event.",
    ),
    col("Object", "string", "Object the event is about (kind/name)."),
    wide(
        "Subobject",
        "string",
        "Part of the object the event is about (fieldPath).",
    ),
    wide(
        "Source",
        "string",
        "Component (and host) that reported the event.",
    ),
    col(
        "Message",
        "string",
        "Human-readable description of the event.",
    ),
    wide(
        "First Seen",
        "string",
        "Time since the event was first observed.",
    ),
    wide("Count", "string", "Number of times the event occurred."),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: NAME_DESC,
        priority: 1,
    },
];

/// The first present value among alternative paths (core vs events.k8s.io names).
fn first_of<'a>(obj: &'a Value, paths: &[&[&str]]) -> Option<&'a Value> {
    paths.iter().find_map(|p| get(obj, p))
}

pub(super) fn event_cells(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_ts =
        time_at(ev, &["firstTimestamp"]).or_else(|| time_at(ev, &["deprecatedFirstTimestamp"]));
    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(time_at(ev, &["eventTime"]), now),
    };
    let last_ts =
        time_at(ev, &["lastTimestamp"]).or_else(|| time_at(ev, &["deprecatedLastTimestamp"]));
    let mut last = match last_ts {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = opt_int(ev, &["count"])
        .or_else(|| opt_int(ev, &["deprecatedCount"]))
        .unwrap_or(0);
    if let Some(series) = get(ev, &["series"]) {
        last = since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        count = 1;
    }
    let target_obj = first_of(ev, &[&["involvedObject"], &["regarding"]]);
    let (kind, obj_name, field_path) = match target_obj {
        Some(t) => (
            str_at(t, &["kind"]),
            str_at(t, &["name"]),
            str_at(t, &["fieldPath"]),
        ),
        None => ("", "", ""),
    };
    let target = if obj_name.is_empty() {
        kind.to_lowercase()
    } else {
        format!("{}/{}", kind.to_lowercase(), obj_name)
    };
    let source = first_of(ev, &[&["source"], &["deprecatedSource"]]);
    let component = source.map(|s| str_at(s, &["component"])).unwrap_or("");
    let host = source.map(|s| str_at(s, &["host"])).unwrap_or("");
    let controller = first_of(ev, &[&["reportingComponent"], &["reportingController"]])
        .and_then(Value::as_str)
        .unwrap_or("");
    let instance = str_at(ev, &["reportingInstance"]);
    let component = if component.is_empty() {
        controller
    } else {
        component
    };
    let host = if host.is_empty() { instance } else { host };
    let source_text = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    let message = first_of(ev, &[&["message"], &["note"]])
        .and_then(Value::as_str)
        .unwrap_or("");
    vec![
        s(last),
        s(str_at(ev, &["type"])),
        s(str_at(ev, &["reason"])),
        s(target),
        s(field_path),
        s(source_text),
        s(message.trim()),
        s(first),
        n(count),
        name(ev),
    ]
}

// ---------------------------------------------------------------------------------------------
// Namespace, Secret, ServiceAccount, ConfigMap, ComponentStatus
// ---------------------------------------------------------------------------------------------

pub(super) const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Phase of the namespace (Active, Terminating).",
    ),
    AGE,
];

pub(super) fn namespace_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = opt_str(obj, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or("Active");
    vec![name(obj), s(phase), age(obj, now)]
}

pub(super) const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "Type of the secret, used to handle its data programmatically.",
    ),
    col("Data", "string", "Number of keys in the secret's data."),
    AGE,
];

pub(super) fn secret_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let t = opt_str(obj, &["type"])
        .filter(|t| !t.is_empty())
        .unwrap_or("Opaque");
    vec![
        name(obj),
        s(t),
        n(len_at(obj, &["data"]) as i64),
        age(obj, now),
    ]
}

pub(super) const SA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Number of secrets listed for the service account.",
    ),
    AGE,
];

pub(super) fn sa_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(len_at(obj, &["secrets"]) as i64),
        age(obj, now),
    ]
}

pub(super) const CONFIGMAP_COLUMNS: &[Column] = &[
    NAME,
    col("Data", "string", "Number of keys in data and binaryData."),
    AGE,
];

pub(super) fn configmap_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let count = len_at(obj, &["data"]) + len_at(obj, &["binaryData"]);
    vec![name(obj), n(count as i64), age(obj, now)]
}

pub(super) const CS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Health of the component (Healthy, Unhealthy, Unknown).",
    ),
    col(
        "Message",
        "string",
        "Message of the component's Healthy condition.",
    ),
    col(
        "Error",
        "string",
        "Error of the component's Healthy condition.",
    ),
];

pub(super) fn cs_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let healthy = arr_at(obj, &["conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Healthy");
    let (status, message, error) = match healthy {
        Some(c) => (
            if str_at(c, &["status"]) == "True" {
                "Healthy"
            } else {
                "Unhealthy"
            },
            str_at(c, &["message"]),
            str_at(c, &["error"]),
        ),
        None => ("Unknown", "", ""),
    };
    vec![name(obj), s(status), s(message), s(error)]
}

// ---------------------------------------------------------------------------------------------
// PersistentVolume, PersistentVolumeClaim
// ---------------------------------------------------------------------------------------------

pub(super) const PV_COLUMNS: &[Column] = &[
    NAME,
    col("Capacity", "string", "Storage capacity of the volume."),
    col(
        "Access Modes",
        "string",
        "Ways the volume can be mounted (RWO, ROX, RWX, RWOP).",
    ),
    col(
        "Reclaim Policy",
        "string",
        "What happens to the volume when released from its claim.",
    ),
    col(
        "Status",
        "string",
        "Phase of the volume (Available, Bound, Released, Failed).",
    ),
    col(
        "Claim",
        "string",
        "Claim bound to the volume (namespace/name).",
    ),
    col("StorageClass", "string", "Storage class of the volume."),
    col(
        "VolumeAttributesClass",
        "string",
        "Volume attributes class of the volume.",
    ),
    col("Reason", "string", "Reason for the volume's phase, if any."),
    AGE,
    wide(
        "VolumeMode",
        "string",
        "Whether the volume is a filesystem or a raw block device.",
    ),
];

/// Upstream `GetAccessModesAsString`.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out: Vec<&str> = Vec::new();
    for (mode, short) in [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ] {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// The storage class of a PV or PVC: the beta annotation wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    if let Some(class) = get(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    ) {
        return class.as_str().unwrap_or("").to_string();
    }
    str_at(obj, &["spec", "storageClassName"]).to_string()
}

pub(super) fn pv_cells(pv: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let claim = match get(pv, &["spec", "claimRef"]) {
        Some(c) => format!("{}/{}", str_at(c, &["namespace"]), str_at(c, &["name"])),
        None => String::new(),
    };
    let phase = if deleting(pv) {
        "Terminating"
    } else {
        opt_str(pv, &["status", "phase"])
            .filter(|p| !p.is_empty())
            .unwrap_or("Pending")
    };
    let reclaim = opt_str(pv, &["spec", "persistentVolumeReclaimPolicy"])
        .filter(|p| !p.is_empty())
        .unwrap_or("Retain");
    vec![
        name(pv),
        s(quantity(get(pv, &["spec", "capacity", "storage"]))),
        s(access_modes(arr_at(pv, &["spec", "accessModes"]))),
        s(reclaim),
        s(phase),
        s(claim),
        s(storage_class(pv)),
        s(opt_str(pv, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        s(str_at(pv, &["status", "reason"])),
        age(pv, now),
        s(opt_str(pv, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

pub(super) const PVC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Phase of the claim (Pending, Bound, Lost).",
    ),
    col("Volume", "string", "Name of the volume bound to the claim."),
    col("Capacity", "string", "Capacity of the bound volume."),
    col(
        "Access Modes",
        "string",
        "Access modes of the bound volume.",
    ),
    col(
        "StorageClass",
        "string",
        "Storage class requested by the claim.",
    ),
    col(
        "VolumeAttributesClass",
        "string",
        "Volume attributes class requested by the claim.",
    ),
    AGE,
    wide(
        "VolumeMode",
        "string",
        "Whether the claim wants a filesystem or a raw block device.",
    ),
];

pub(super) fn pvc_cells(pvc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let phase = if deleting(pvc) {
        "Terminating"
    } else {
        opt_str(pvc, &["status", "phase"])
            .filter(|p| !p.is_empty())
            .unwrap_or("Pending")
    };
    let volume = str_at(pvc, &["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(get(pvc, &["status", "capacity", "storage"])),
            access_modes(arr_at(pvc, &["status", "accessModes"])),
        )
    };
    vec![
        name(pvc),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(pvc)),
        s(opt_str(pvc, &["spec", "volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(pvc, now),
        s(opt_str(pvc, &["spec", "volumeMode"]).unwrap_or("Filesystem")),
    ]
}

// ---------------------------------------------------------------------------------------------
// ResourceQuota
// ---------------------------------------------------------------------------------------------

pub(super) const QUOTA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Request",
        "string",
        "Used and hard amounts of the non-limit resources (used/hard).",
    ),
    col(
        "Limit",
        "string",
        "Used and hard amounts of the limits.* resources (used/hard).",
    ),
    AGE,
];

pub(super) fn quota_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut resources: Vec<&String> = match get(obj, &["status", "hard"]) {
        Some(Value::Object(m)) => m.keys().collect(),
        _ => Vec::new(),
    };
    resources.sort();
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    for r in resources {
        let used = quantity(get(obj, &["status", "used", r.as_str()]));
        let hard = quantity(get(obj, &["status", "hard", r.as_str()]));
        let entry = format!("{r}: {used}/{hard}");
        let pieces: Vec<&str> = r.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        name(obj),
        s(requests.join(", ")),
        s(limits.join(", ")),
        age(obj, now),
    ]
}
