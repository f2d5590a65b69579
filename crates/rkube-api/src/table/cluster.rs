//! Tables of the remaining built-in groups: networking (Ingress, IngressClass, NetworkPolicy,
//! ServiceCIDR, IPAddress), discovery (EndpointSlice), RBAC bindings, certificates (CSR,
//! ClusterTrustBundle), coordination (Lease, LeaseCandidate), storage (StorageClass,
//! VolumeAttributesClass, VolumeAttachment, CSINode, CSIDriver, CSIStorageCapacity),
//! scheduling (PriorityClass), node (RuntimeClass), admission registration (webhooks, admission
//! policies and bindings), flow control (FlowSchema, PriorityLevelConfiguration), the
//! aggregator (APIService), apiserver internals (StorageVersion), storage migration and dynamic
//! resource allocation (DeviceClass, ResourceClaim(Template), ResourceSlice).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::core::ingress_status_string;
use super::quantity::quantity;
use super::util::{
    age, arr_at, deleting, get, go_label_selector_string, human_duration, int_at, len_at,
    list_with_more, n, name, opt_bool, opt_int, opt_str, s, scalar_string, str_at,
};
use super::{col, format_label_selector, Column, AGE, NAME, NAME_DESC};

// ---------------------------------------------------------------------------------------------
// networking, discovery
// ---------------------------------------------------------------------------------------------

pub(super) const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    col("Class", "string", "IngressClass handling this ingress."),
    col("Hosts", "string", "Hosts matched by the ingress rules."),
    col(
        "Address",
        "string",
        "Load-balancer addresses of the ingress.",
    ),
    col("Ports", "string", "Ports served (80, and 443 with TLS)."),
    AGE,
];

pub(super) fn ingress_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let rules = arr_at(obj, &["spec", "rules"]);
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            hosts.push(host);
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let ports = if len_at(obj, &["spec", "tls"]) != 0 {
        "80, 443"
    } else {
        "80"
    };
    vec![
        name(obj),
        s(opt_str(obj, &["spec", "ingressClassName"]).unwrap_or("<none>")),
        s(hosts),
        s(ingress_status_string(get(obj, &["status", "loadBalancer"]))),
        s(ports),
        age(obj, now),
    ]
}

pub(super) const INGRESS_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that implements the class.",
    ),
    col(
        "Parameters",
        "string",
        "Resource holding additional parameters (kind.group/name).",
    ),
    AGE,
];

pub(super) fn ingress_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let parameters = match get(obj, &["spec", "parameters"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut out = str_at(p, &["kind"]).to_string();
            if let Some(g) = opt_str(p, &["apiGroup"]) {
                out = format!("{out}.{g}");
            }
            format!("{out}/{}", str_at(p, &["name"]))
        }
    };
    vec![
        name(obj),
        s(str_at(obj, &["spec", "controller"])),
        s(parameters),
        age(obj, now),
    ]
}

pub(super) const NETPOL_COLUMNS: &[Column] = &[
    NAME,
    col("Pod-Selector", "string", "Pods the policy applies to."),
    AGE,
];

pub(super) fn netpol_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The pod selector is a struct (never nil) upstream: missing means empty.
    let sel = get(obj, &["spec", "podSelector"])
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    vec![name(obj), s(format_label_selector(&sel)), age(obj, now)]
}

pub(super) const SERVICE_CIDR_COLUMNS: &[Column] = &[
    NAME,
    col("CIDRs", "string", "IP ranges used for service cluster IPs."),
    AGE,
];

pub(super) fn service_cidr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let cidrs: Vec<String> = arr_at(obj, &["spec", "cidrs"])
        .iter()
        .map(scalar_string)
        .collect();
    vec![name(obj), s(cidrs.join(",")), age(obj, now)]
}

/// Upstream declares no Age column for IPAddress (its rows carry an extra age cell that kubectl
/// ignores); the row here follows the columns.
pub(super) const IP_ADDRESS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "ParentRef",
        "string",
        "Object the IP address is allocated to.",
    ),
];

pub(super) fn ip_address_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let parent = match get(obj, &["spec", "parentRef"]) {
        None => "<none>".to_string(),
        Some(p) => {
            let resource = str_at(p, &["resource"]);
            let group = str_at(p, &["group"]);
            let gr = if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            };
            let mut out = gr.to_lowercase();
            let ns = str_at(p, &["namespace"]);
            if !ns.is_empty() {
                out = format!("{out}/{ns}");
            }
            format!("{out}/{}", str_at(p, &["name"]))
        }
    };
    vec![name(obj), s(parent)]
}

pub(super) const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "Type of the addresses (IPv4, IPv6, FQDN).",
    ),
    col(
        "Ports",
        "string",
        "Ports of the slice, at most three shown.",
    ),
    col(
        "Endpoints",
        "string",
        "Addresses of the endpoints, at most three shown.",
    ),
    AGE,
];

pub(super) fn endpoint_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let (mut ports, mut more, mut count) = (Vec::new(), false, 0usize);
    for p in arr_at(obj, &["ports"]) {
        if ports.len() < MAX {
            let text = match (opt_int(p, &["port"]), opt_str(p, &["name"])) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            };
            ports.push(text);
        } else if ports.len() == MAX {
            more = true;
        }
        count += 1;
    }
    let ports = list_with_more(&ports, more, count, MAX);
    let (mut addrs, mut more, mut count) = (Vec::new(), false, 0usize);
    for ep in arr_at(obj, &["endpoints"]) {
        for a in arr_at(ep, &["addresses"]) {
            if addrs.len() < MAX {
                addrs.push(scalar_string(a));
            } else if addrs.len() == MAX {
                more = true;
            }
            count += 1;
        }
    }
    let endpoints = list_with_more(&addrs, more, count, MAX);
    vec![
        name(obj),
        s(str_at(obj, &["addressType"])),
        s(ports),
        s(endpoints),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// rbac (Role and ClusterRole use the generic table)
// ---------------------------------------------------------------------------------------------

pub(super) const ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Role",
        "string",
        "Role referenced by the binding (kind/name).",
    ),
    AGE,
    super::wide("Users", "string", "Users bound by the role binding."),
    super::wide("Groups", "string", "Groups bound by the role binding."),
    super::wide(
        "ServiceAccounts",
        "string",
        "Service accounts bound by the role binding.",
    ),
];

pub(super) const CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Role",
        "string",
        "Cluster role referenced by the binding (kind/name).",
    ),
    AGE,
    super::wide(
        "Users",
        "string",
        "Users bound by the cluster role binding.",
    ),
    super::wide(
        "Groups",
        "string",
        "Groups bound by the cluster role binding.",
    ),
    super::wide(
        "ServiceAccounts",
        "string",
        "Service accounts bound by the cluster role binding.",
    ),
];

pub(super) fn binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subj in arr_at(obj, &["subjects"]) {
        let subject_name = str_at(subj, &["name"]);
        match str_at(subj, &["kind"]) {
            "ServiceAccount" => {
                sas.push(format!("{}/{}", str_at(subj, &["namespace"]), subject_name))
            }
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    vec![
        name(obj),
        s(role),
        age(obj, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(sas.join(", ")),
    ]
}

// ---------------------------------------------------------------------------------------------
// certificates, coordination
// ---------------------------------------------------------------------------------------------

pub(super) const CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    col(
        "SignerName",
        "string",
        "Signer requested to sign the certificate.",
    ),
    col("Requestor", "string", "User that created the request."),
    col(
        "RequestedDuration",
        "string",
        "Validity duration requested for the certificate.",
    ),
    col(
        "Condition",
        "string",
        "Approval state of the request (Pending, Approved, Denied, Issued, Failed).",
    ),
];

pub(super) fn csr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (mut approved, mut denied, mut failed) = (false, false, false);
    for c in arr_at(obj, &["status", "conditions"]) {
        match str_at(c, &["type"]) {
            "Approved" => approved = true,
            "Denied" => denied = true,
            "Failed" => failed = true,
            _ => {}
        }
    }
    let mut status = if denied {
        "Denied".to_string()
    } else if approved {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if failed {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    let signer = opt_str(obj, &["spec", "signerName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    let requested = match opt_int(obj, &["spec", "expirationSeconds"]) {
        Some(secs) => human_duration(chrono::Duration::seconds(secs)),
        None => "<none>".to_string(),
    };
    vec![
        name(obj),
        age(obj, now),
        s(signer),
        s(str_at(obj, &["spec", "username"])),
        s(requested),
        s(status),
    ]
}

pub(super) const CTB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "SignerName",
        "string",
        "Signer the trust anchors are associated with.",
    ),
];

pub(super) fn ctb_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let signer = opt_str(obj, &["spec", "signerName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    vec![name(obj), s(signer)]
}

pub(super) const LEASE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "Identity of the current holder of the lease.",
    ),
    AGE,
];

pub(super) fn lease_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        s(str_at(obj, &["spec", "holderIdentity"])),
        age(obj, now),
    ]
}

pub(super) const LEASE_CANDIDATE_COLUMNS: &[Column] = &[
    NAME,
    col("LeaseName", "string", "Lease the candidate competes for."),
    col(
        "BinaryVersion",
        "string",
        "Binary version of the candidate.",
    ),
    col(
        "EmulationVersion",
        "string",
        "Emulation version of the candidate.",
    ),
    AGE,
];

pub(super) fn lease_candidate_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        s(str_at(obj, &["spec", "leaseName"])),
        s(str_at(obj, &["spec", "binaryVersion"])),
        s(str_at(obj, &["spec", "emulationVersion"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// storage
// ---------------------------------------------------------------------------------------------

pub(super) const STORAGE_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Provisioner",
        "string",
        "Volume plugin that provisions volumes of this class.",
    ),
    col(
        "ReclaimPolicy",
        "string",
        "Reclaim policy of dynamically provisioned volumes.",
    ),
    col(
        "VolumeBindingMode",
        "string",
        "When volumes are bound and provisioned.",
    ),
    col(
        "AllowVolumeExpansion",
        "string",
        "Whether volumes of this class can be expanded.",
    ),
    AGE,
];

fn annotation_is_true(obj: &Value, key: &str) -> bool {
    get(obj, &["metadata", "annotations", key]).and_then(Value::as_str) == Some("true")
}

pub(super) fn storage_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut display = str_at(obj, &["metadata", "name"]).to_string();
    if annotation_is_true(obj, "storageclass.kubernetes.io/is-default-class")
        || annotation_is_true(obj, "storageclass.beta.kubernetes.io/is-default-class")
    {
        display.push_str(" (default)");
    }
    vec![
        s(display),
        s(str_at(obj, &["provisioner"])),
        s(opt_str(obj, &["reclaimPolicy"]).unwrap_or("Delete")),
        s(opt_str(obj, &["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::Bool(opt_bool(obj, &["allowVolumeExpansion"]).unwrap_or(false)),
        age(obj, now),
    ]
}

pub(super) const VAC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "DriverName",
        "string",
        "CSI driver that handles this class.",
    ),
    AGE,
];

pub(super) fn vac_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut display = str_at(obj, &["metadata", "name"]).to_string();
    if annotation_is_true(
        obj,
        "volumeattributesclass.alpha.kubernetes.io/is-default-class",
    ) {
        display.push_str(" (default)");
    }
    vec![s(display), s(str_at(obj, &["driverName"])), age(obj, now)]
}

pub(super) const VOLUME_ATTACHMENT_COLUMNS: &[Column] = &[
    NAME,
    Column {
        name: "Attacher",
        type_: "string",
        format: "name",
        description: "CSI driver that attaches the volume.",
        priority: 0,
    },
    col("PV", "string", "Persistent volume being attached."),
    col("Node", "string", "Node the volume is attached to."),
    col("Attached", "boolean", "Whether the volume is attached."),
    AGE,
];

pub(super) fn volume_attachment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        s(str_at(obj, &["spec", "attacher"])),
        s(str_at(obj, &["spec", "source", "persistentVolumeName"])),
        s(str_at(obj, &["spec", "nodeName"])),
        Value::Bool(opt_bool(obj, &["status", "attached"]).unwrap_or(false)),
        age(obj, now),
    ]
}

pub(super) const CSI_NODE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Drivers",
        "integer",
        "Number of CSI drivers registered on the node.",
    ),
    AGE,
];

pub(super) fn csi_node_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(len_at(obj, &["spec", "drivers"]) as i64),
        age(obj, now),
    ]
}

pub(super) const CSI_DRIVER_COLUMNS: &[Column] = &[
    NAME,
    col(
        "AttachRequired",
        "boolean",
        "Whether volumes need an attach operation.",
    ),
    col(
        "PodInfoOnMount",
        "boolean",
        "Whether pod information is passed on mount.",
    ),
    col(
        "StorageCapacity",
        "boolean",
        "Whether the driver reports storage capacity.",
    ),
    col(
        "TokenRequests",
        "string",
        "Audiences of service account tokens passed to the driver.",
    ),
    col(
        "RequiresRepublish",
        "boolean",
        "Whether NodePublishVolume is called periodically.",
    ),
    col(
        "Modes",
        "string",
        "Volume lifecycle modes supported by the driver.",
    ),
    AGE,
];

pub(super) fn csi_driver_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let flag = |f: &str, default: bool| Value::Bool(opt_bool(obj, &["spec", f]).unwrap_or(default));
    let token_requests = match get(obj, &["spec", "tokenRequests"]) {
        None => "<unset>".to_string(),
        Some(t) => arr_at(t, &[])
            .iter()
            .map(|r| str_at(r, &["audience"]))
            .collect::<Vec<_>>()
            .join(","),
    };
    let modes: Vec<String> = arr_at(obj, &["spec", "volumeLifecycleModes"])
        .iter()
        .map(scalar_string)
        .collect();
    // The API server defaults the modes to [Persistent].
    let modes = if modes.is_empty() {
        "Persistent".to_string()
    } else {
        modes.join(",")
    };
    vec![
        name(obj),
        flag("attachRequired", true),
        flag("podInfoOnMount", false),
        flag("storageCapacity", false),
        s(token_requests),
        flag("requiresRepublish", false),
        s(modes),
        age(obj, now),
    ]
}

pub(super) const CSI_CAPACITY_COLUMNS: &[Column] = &[
    NAME,
    col(
        "StorageClassName",
        "string",
        "Storage class the capacity applies to.",
    ),
    col("Capacity", "string", "Available capacity."),
];

pub(super) fn csi_capacity_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let capacity = match get(obj, &["capacity"]) {
        Some(q) => quantity(Some(q)),
        None => "<unset>".to_string(),
    };
    vec![
        name(obj),
        s(str_at(obj, &["storageClassName"])),
        s(capacity),
    ]
}

// ---------------------------------------------------------------------------------------------
// scheduling, node
// ---------------------------------------------------------------------------------------------

pub(super) const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col("Value", "integer", "Priority of pods using this class."),
    col(
        "Global-Default",
        "boolean",
        "Whether this is the default priority class.",
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        "Whether pods of this class may preempt others.",
    ),
];

pub(super) fn priority_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(int_at(obj, &["value"])),
        Value::Bool(opt_bool(obj, &["globalDefault"]).unwrap_or(false)),
        age(obj, now),
        s(opt_str(obj, &["preemptionPolicy"]).unwrap_or("PreemptLowerPriority")),
    ]
}

pub(super) const RUNTIME_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Handler",
        "string",
        "CRI handler that runs pods of this class.",
    ),
    AGE,
];

pub(super) fn runtime_class_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), s(str_at(obj, &["handler"])), age(obj, now)]
}

// ---------------------------------------------------------------------------------------------
// admissionregistration
// ---------------------------------------------------------------------------------------------

pub(super) const WEBHOOK_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Webhooks",
        "integer",
        "Number of webhooks in the configuration.",
    ),
    AGE,
];

pub(super) fn webhook_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(len_at(obj, &["webhooks"]) as i64),
        age(obj, now),
    ]
}

pub(super) const VAP_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Validations",
        "integer",
        "Number of validation rules of the policy.",
    ),
    col(
        "ParamKind",
        "string",
        "Kind of the resources that parameterize the policy.",
    ),
    AGE,
];

pub(super) const MAP_COLUMNS: &[Column] = &[
    NAME,
    col("Mutations", "integer", "Number of mutations of the policy."),
    col(
        "ParamKind",
        "string",
        "Kind of the resources that parameterize the policy.",
    ),
    AGE,
];

fn param_kind(obj: &Value) -> String {
    match get(obj, &["spec", "paramKind"]) {
        Some(p) => format!("{}/{}", str_at(p, &["apiVersion"]), str_at(p, &["kind"])),
        None => "<unset>".to_string(),
    }
}

pub(super) fn vap_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(len_at(obj, &["spec", "validations"]) as i64),
        s(param_kind(obj)),
        age(obj, now),
    ]
}

pub(super) fn map_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(len_at(obj, &["spec", "mutations"]) as i64),
        s(param_kind(obj)),
        age(obj, now),
    ]
}

pub(super) const POLICY_BINDING_COLUMNS: &[Column] = &[
    NAME,
    col("PolicyName", "string", "Policy the binding applies."),
    col(
        "ParamRef",
        "string",
        "Parameter resource used by the binding.",
    ),
    AGE,
];

pub(super) fn policy_binding_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let param = match get(obj, &["spec", "paramRef"]) {
        None => "<unset>".to_string(),
        Some(p) => {
            let param_name = str_at(p, &["name"]);
            let ns = str_at(p, &["namespace"]);
            if !param_name.is_empty() {
                if ns.is_empty() {
                    format!("*/{param_name}")
                } else {
                    format!("{ns}/{param_name}")
                }
            } else if let Some(sel) = get(p, &["selector"]) {
                go_label_selector_string(sel)
            } else {
                "<unset>".to_string()
            }
        }
    };
    vec![
        name(obj),
        s(str_at(obj, &["spec", "policyName"])),
        s(param),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// flowcontrol
// ---------------------------------------------------------------------------------------------

pub(super) const FLOW_SCHEMA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "PriorityLevel",
        "string",
        "Priority level the matching requests are assigned to.",
    ),
    col(
        "MatchingPrecedence",
        "string",
        "Precedence of the schema; lower matches first.",
    ),
    col(
        "DistinguisherMethod",
        "string",
        "How matching requests are split into flows.",
    ),
    AGE,
    col(
        "MissingPL",
        "string",
        "Whether the referenced priority level is missing.",
    ),
];

pub(super) fn flow_schema_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let distinguisher = match get(obj, &["spec", "distinguisherMethod"]) {
        Some(d) => str_at(d, &["type"]).to_string(),
        None => "<none>".to_string(),
    };
    let missing = arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Dangling")
        .map(|c| str_at(c, &["status"]).to_string())
        .unwrap_or_else(|| "?".to_string());
    let precedence = opt_int(obj, &["spec", "matchingPrecedence"])
        .filter(|p| *p != 0)
        .unwrap_or(1000);
    vec![
        name(obj),
        s(str_at(obj, &["spec", "priorityLevelConfiguration", "name"])),
        n(precedence),
        s(distinguisher),
        age(obj, now),
        s(missing),
    ]
}

pub(super) const PLC_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", "Whether requests are Limited or Exempt."),
    col(
        "NominalConcurrencyShares",
        "string",
        "Share of the server's concurrency for this level.",
    ),
    col("Queues", "string", "Number of queues."),
    col(
        "HandSize",
        "string",
        "Number of queues each flow is shuffle-sharded to.",
    ),
    col(
        "QueueLengthLimit",
        "string",
        "Maximum requests waiting in one queue.",
    ),
    AGE,
];

pub(super) fn plc_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let none = || s("<none>");
    let (mut ncs, mut queues, mut hand, mut qll) = (none(), none(), none(), none());
    if let Some(limited) = get(obj, &["spec", "limited"]) {
        ncs = n(opt_int(limited, &["nominalConcurrencyShares"]).unwrap_or(30));
        if let Some(q) = get(limited, &["limitResponse", "queuing"]) {
            queues = n(opt_int(q, &["queues"]).filter(|v| *v != 0).unwrap_or(64));
            hand = n(opt_int(q, &["handSize"]).filter(|v| *v != 0).unwrap_or(8));
            qll = n(opt_int(q, &["queueLengthLimit"])
                .filter(|v| *v != 0)
                .unwrap_or(50));
        }
    }
    vec![
        name(obj),
        s(str_at(obj, &["spec", "type"])),
        ncs,
        queues,
        hand,
        qll,
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// apiregistration, apiserverinternal, storagemigration
// ---------------------------------------------------------------------------------------------

pub(super) const API_SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Service",
        "string",
        "Service that serves the API, or Local.",
    ),
    col("Available", "string", "Whether the API is available."),
    AGE,
];

pub(super) fn api_service_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let service = match get(obj, &["spec", "service"]) {
        Some(svc) => format!("{}/{}", str_at(svc, &["namespace"]), str_at(svc, &["name"])),
        None => "Local".to_string(),
    };
    let available = match arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == "Available")
    {
        None => "Unknown".to_string(),
        Some(c) => {
            let status = str_at(c, &["status"]);
            let reason = str_at(c, &["reason"]);
            if status == "True" || reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} ({reason})")
            }
        }
    };
    vec![name(obj), s(service), s(available), age(obj, now)]
}

pub(super) const STORAGE_VERSION_COLUMNS: &[Column] = &[
    NAME,
    col(
        "CommonEncodingVersion",
        "string",
        "Encoding version all API servers agree on.",
    ),
    col(
        "StorageVersions",
        "string",
        "Encoding version of each API server.",
    ),
    AGE,
];

pub(super) fn storage_version_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    const MAX: usize = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0usize);
    for sv in arr_at(obj, &["status", "storageVersions"]) {
        if list.len() < MAX {
            list.push(format!(
                "{}={}",
                str_at(sv, &["apiServerID"]),
                str_at(sv, &["encodingVersion"])
            ));
        } else if list.len() == MAX {
            more = true;
        }
        count += 1;
    }
    vec![
        name(obj),
        s(opt_str(obj, &["status", "commonEncodingVersion"]).unwrap_or("<unset>")),
        s(list_with_more(&list, more, count, MAX)),
        age(obj, now),
    ]
}

/// Upstream's StorageVersionMigration Name column has no "name" format.
pub(super) const SVM_COLUMNS: &[Column] = &[
    col("Name", "string", NAME_DESC),
    col("Resource", "string", "Fully qualified resource to migrate."),
];

pub(super) fn svm_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let r = |f: &str| str_at(obj, &["spec", "resource", f]);
    vec![
        name(obj),
        s(format!("{}.{}.{}", r("resource"), r("version"), r("group"))),
    ]
}

// ---------------------------------------------------------------------------------------------
// resource.k8s.io
// ---------------------------------------------------------------------------------------------

pub(super) const NAME_AGE_COLUMNS: &[Column] = &[NAME, AGE];

pub(super) fn name_age_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(obj), age(obj, now)]
}

pub(super) const RESOURCE_CLAIM_COLUMNS: &[Column] = &[
    NAME,
    col(
        "State",
        "string",
        "Summary of the claim's state (pending, allocated, reserved, deleted).",
    ),
    AGE,
];

pub(super) fn resource_claim_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut states: Vec<&str> = Vec::new();
    let deleted = deleting(obj);
    if deleted {
        states.push("deleted");
    }
    if get(obj, &["status", "allocation"]).is_none() {
        if !deleted {
            states.push("pending");
        }
    } else {
        states.push("allocated");
        if len_at(obj, &["status", "reservedFor"]) > 0 {
            states.push("reserved");
        }
    }
    vec![name(obj), s(states.join(",")), age(obj, now)]
}

pub(super) const RESOURCE_SLICE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Node",
        "string",
        "Node providing the devices, if local to one node.",
    ),
    col("Driver", "string", "DRA driver publishing the slice."),
    col("Pool", "string", "Pool the slice belongs to."),
    AGE,
];

pub(super) fn resource_slice_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        s(str_at(obj, &["spec", "nodeName"])),
        s(str_at(obj, &["spec", "driver"])),
        s(str_at(obj, &["spec", "pool", "name"])),
        age(obj, now),
    ]
}
