//! Server-side Table columns and cells per kind, as `kubectl get` prints them.
//!
//! kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever
//! columns the server returns, hiding `priority > 0` columns unless `-o wide` is given. Upstream
//! (v1.33) builds these tables from the printers in `pkg/printers/internalversion`, always in
//! "wide" mode, so every row carries all cells, wide ones included. This module reproduces the
//! column definitions (names, types, formats, priorities) and the cell values of those printers
//! from objects held as `serde_json::Value`.
//!
//! - [`columns`] gives the column definitions of a kind.
//! - [`cells`] gives one row's cells for an object, always as many as [`columns`] returns.
//! - [`format_label_selector`] formats a `metav1.LabelSelector` the way upstream prints it.
//!
//! Kinds are matched on (API group, kind); the version does not matter, because upstream prints
//! from the internal version. Built-in kinds without a printer (Role, ClusterRole, LimitRange,
//! CustomResourceDefinition, …) get the generic `Name` + `Created At` table; kinds of any other
//! group are treated as custom resources without `additionalPrinterColumns` (`Name` + `Age`).
//!
//! Objects may miss any field: nothing here panics, and missing values print as upstream prints
//! a zero value (after the defaults the API server would have applied on create).
//!
//! Submodules, by API group:
//! - `pod`: Pod.
//! - `core`: the other core (`""`) kinds.
//! - `workloads`: apps, batch, autoscaling and policy.
//! - `cluster`: networking, storage, RBAC, scheduling, node, certificates, coordination,
//!   discovery, flow control, admission, API registration, resource, storage migration.
//! - `util` and `quantity`: JSON access, durations, label formatting, resource quantities.

mod cluster;
mod core;
mod pod;
mod quantity;
mod util;
mod workloads;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One column definition of a `meta.k8s.io/v1` Table (`TableColumnDefinition`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Column {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

/// Computes one row's cells; the result has one entry per column of the same printer.
type CellsFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// A kind's table: its columns and how to compute a row.
struct Printer {
    columns: &'static [Column],
    cells: CellsFn,
}

/// Description shared by every Name column.
const NAME_DESC: &str = "Name of the object, unique within its namespace (or cluster-wide).";
/// Description shared by every Age column.
const AGE_DESC: &str = "Time since the object was created (metadata.creationTimestamp).";
const CONTAINERS_DESC: &str = "Names of the containers in the pod template.";
const IMAGES_DESC: &str = "Images used by the containers in the pod template.";

/// A priority-0 column without a format.
const fn col(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 0,
    }
}

/// A priority-1 column (shown by `-o wide` only).
const fn wide(name: &'static str, type_: &'static str, description: &'static str) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority: 1,
    }
}

/// The usual first column.
const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};

/// The usual Age column (a human duration computed by the server).
const AGE: Column = col("Age", "string", AGE_DESC);

/// Columns of the generic table upstream uses for built-in kinds without a printer.
const DEFAULT_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Created At",
        "date",
        "Time the object was created (metadata.creationTimestamp), RFC 3339.",
    ),
];

/// Columns of a custom resource whose CRD declares no additional printer columns.
const CUSTOM_COLUMNS: &[Column] = &[NAME, col("Age", "date", AGE_DESC)];

static DEFAULT_PRINTER: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    cells: default_cells,
};
static CUSTOM_PRINTER: Printer = Printer {
    columns: CUSTOM_COLUMNS,
    cells: custom_cells,
};

fn default_cells(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    // Upstream formats the (possibly zero) timestamp in UTC, RFC 3339, seconds precision.
    let created = util::time_at(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![util::name(obj), Value::String(created)]
}

fn custom_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // A "date" column of a custom resource: the JSONPath result as a human duration, null when
    // the path finds nothing.
    let age = match util::get(obj, &["metadata", "creationTimestamp"]) {
        Some(Value::String(s)) => match util::parse_time(s) {
            Some(t) if !util::is_zero_time(&t) => Value::String(util::human_duration(now - t)),
            Some(_) => Value::String("<unknown>".to_string()),
            None => Value::String("<invalid>".to_string()),
        },
        _ => Value::Null,
    };
    vec![util::name(obj), age]
}

/// API groups served by a stock kube-apiserver (including the aggregator and apiextensions).
/// Unknown kinds of these groups get the generic "Created At" table; other groups are custom
/// resources.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "core",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

macro_rules! printer {
    ($cols:expr, $cells:expr) => {{
        static P: Printer = Printer {
            columns: $cols,
            cells: $cells,
        };
        &P
    }};
}

/// The printer of a kind.
fn printer(group: &str, kind: &str) -> &'static Printer {
    let group = if group == "core" { "" } else { group };
    match (group, kind) {
        // core
        ("", "Pod") => printer!(pod::COLUMNS, pod::cells),
        ("", "PodTemplate") => printer!(core::POD_TEMPLATE_COLUMNS, core::pod_template_cells),
        ("", "ReplicationController") => printer!(core::RC_COLUMNS, core::rc_cells),
        ("", "Service") => printer!(core::SERVICE_COLUMNS, core::service_cells),
        ("", "Endpoints") => printer!(core::ENDPOINTS_COLUMNS, core::endpoints_cells),
        ("", "Node") => printer!(core::NODE_COLUMNS, core::node_cells),
        ("", "Event") | ("events.k8s.io", "Event") => {
            printer!(core::EVENT_COLUMNS, core::event_cells)
        }
        ("", "Namespace") => printer!(core::NAMESPACE_COLUMNS, core::namespace_cells),
        ("", "Secret") => printer!(core::SECRET_COLUMNS, core::secret_cells),
        ("", "ServiceAccount") => printer!(core::SA_COLUMNS, core::sa_cells),
        ("", "PersistentVolume") => printer!(core::PV_COLUMNS, core::pv_cells),
        ("", "PersistentVolumeClaim") => printer!(core::PVC_COLUMNS, core::pvc_cells),
        ("", "ComponentStatus") => printer!(core::CS_COLUMNS, core::cs_cells),
        ("", "ConfigMap") => printer!(core::CONFIGMAP_COLUMNS, core::configmap_cells),
        ("", "ResourceQuota") => printer!(core::QUOTA_COLUMNS, core::quota_cells),
        // apps
        ("apps", "Deployment") => {
            printer!(workloads::DEPLOYMENT_COLUMNS, workloads::deployment_cells)
        }
        ("apps", "ReplicaSet") => printer!(workloads::RS_COLUMNS, workloads::rs_cells),
        ("apps", "StatefulSet") => printer!(workloads::STS_COLUMNS, workloads::sts_cells),
        ("apps", "DaemonSet") => printer!(workloads::DS_COLUMNS, workloads::ds_cells),
        ("apps", "ControllerRevision") => printer!(workloads::CR_COLUMNS, workloads::cr_cells),
        // batch
        ("batch", "Job") => printer!(workloads::JOB_COLUMNS, workloads::job_cells),
        ("batch", "CronJob") => printer!(workloads::CRONJOB_COLUMNS, workloads::cronjob_cells),
        // autoscaling
        ("autoscaling", "HorizontalPodAutoscaler") => {
            printer!(workloads::HPA_COLUMNS, workloads::hpa_cells)
        }
        ("autoscaling", "Scale") => printer!(workloads::SCALE_COLUMNS, workloads::scale_cells),
        // policy
        ("policy", "PodDisruptionBudget") => printer!(workloads::PDB_COLUMNS, workloads::pdb_cells),
        // networking
        ("networking.k8s.io", "Ingress") => {
            printer!(cluster::INGRESS_COLUMNS, cluster::ingress_cells)
        }
        ("networking.k8s.io", "IngressClass") => {
            printer!(cluster::INGRESS_CLASS_COLUMNS, cluster::ingress_class_cells)
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            printer!(cluster::NETPOL_COLUMNS, cluster::netpol_cells)
        }
        ("networking.k8s.io", "ServiceCIDR") => {
            printer!(cluster::SERVICE_CIDR_COLUMNS, cluster::service_cidr_cells)
        }
        ("networking.k8s.io", "IPAddress") => {
            printer!(cluster::IP_ADDRESS_COLUMNS, cluster::ip_address_cells)
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            printer!(
                cluster::ENDPOINT_SLICE_COLUMNS,
                cluster::endpoint_slice_cells
            )
        }
        // rbac
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            printer!(cluster::ROLE_BINDING_COLUMNS, cluster::binding_cells)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            printer!(
                cluster::CLUSTER_ROLE_BINDING_COLUMNS,
                cluster::binding_cells
            )
        }
        // certificates
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            printer!(cluster::CSR_COLUMNS, cluster::csr_cells)
        }
        ("certificates.k8s.io", "ClusterTrustBundle") => {
            printer!(cluster::CTB_COLUMNS, cluster::ctb_cells)
        }
        // coordination
        ("coordination.k8s.io", "Lease") => printer!(cluster::LEASE_COLUMNS, cluster::lease_cells),
        ("coordination.k8s.io", "LeaseCandidate") => {
            printer!(
                cluster::LEASE_CANDIDATE_COLUMNS,
                cluster::lease_candidate_cells
            )
        }
        // storage
        ("storage.k8s.io", "StorageClass") => {
            printer!(cluster::STORAGE_CLASS_COLUMNS, cluster::storage_class_cells)
        }
        ("storage.k8s.io", "VolumeAttributesClass") => {
            printer!(cluster::VAC_COLUMNS, cluster::vac_cells)
        }
        ("storage.k8s.io", "VolumeAttachment") => {
            printer!(
                cluster::VOLUME_ATTACHMENT_COLUMNS,
                cluster::volume_attachment_cells
            )
        }
        ("storage.k8s.io", "CSINode") => {
            printer!(cluster::CSI_NODE_COLUMNS, cluster::csi_node_cells)
        }
        ("storage.k8s.io", "CSIDriver") => {
            printer!(cluster::CSI_DRIVER_COLUMNS, cluster::csi_driver_cells)
        }
        ("storage.k8s.io", "CSIStorageCapacity") => {
            printer!(cluster::CSI_CAPACITY_COLUMNS, cluster::csi_capacity_cells)
        }
        // scheduling, node
        ("scheduling.k8s.io", "PriorityClass") => {
            printer!(
                cluster::PRIORITY_CLASS_COLUMNS,
                cluster::priority_class_cells
            )
        }
        ("node.k8s.io", "RuntimeClass") => {
            printer!(cluster::RUNTIME_CLASS_COLUMNS, cluster::runtime_class_cells)
        }
        // admission
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")
        | ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            printer!(cluster::WEBHOOK_COLUMNS, cluster::webhook_cells)
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => {
            printer!(cluster::VAP_COLUMNS, cluster::vap_cells)
        }
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => {
            printer!(cluster::MAP_COLUMNS, cluster::map_cells)
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding")
        | ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding") => {
            printer!(
                cluster::POLICY_BINDING_COLUMNS,
                cluster::policy_binding_cells
            )
        }
        // flow control
        ("flowcontrol.apiserver.k8s.io", "FlowSchema") => {
            printer!(cluster::FLOW_SCHEMA_COLUMNS, cluster::flow_schema_cells)
        }
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration") => {
            printer!(cluster::PLC_COLUMNS, cluster::plc_cells)
        }
        // aggregator, apiserver internals, storage migration
        ("apiregistration.k8s.io", "APIService") => {
            printer!(cluster::API_SERVICE_COLUMNS, cluster::api_service_cells)
        }
        ("internal.apiserver.k8s.io", "StorageVersion") => {
            printer!(
                cluster::STORAGE_VERSION_COLUMNS,
                cluster::storage_version_cells
            )
        }
        ("storagemigration.k8s.io", "StorageVersionMigration") => {
            printer!(cluster::SVM_COLUMNS, cluster::svm_cells)
        }
        // dynamic resource allocation
        ("resource.k8s.io", "DeviceClass") | ("resource.k8s.io", "ResourceClaimTemplate") => {
            printer!(cluster::NAME_AGE_COLUMNS, cluster::name_age_cells)
        }
        ("resource.k8s.io", "ResourceClaim") => {
            printer!(
                cluster::RESOURCE_CLAIM_COLUMNS,
                cluster::resource_claim_cells
            )
        }
        ("resource.k8s.io", "ResourceSlice") => {
            printer!(
                cluster::RESOURCE_SLICE_COLUMNS,
                cluster::resource_slice_cells
            )
        }
        // Role, ClusterRole, LimitRange, CustomResourceDefinition, … have no printer upstream.
        (g, _) if BUILTIN_GROUPS.contains(&g) => &DEFAULT_PRINTER,
        _ => &CUSTOM_PRINTER,
    }
}

/// The Table columns of a kind, in order. The first column is Name (format "name"), except, as
/// upstream: Events (Name comes last, wide only), and StorageVersionMigration and Scale (Name
/// first, but without the "name" format).
pub fn columns(group: &str, kind: &str) -> Vec<Column> {
    printer(group, kind).columns.to_vec()
}

/// The cells of one object's row, in the order of [`columns`] and always of the same length.
/// `now` is the reference time for ages and other relative times.
pub fn cells(group: &str, kind: &str, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let p = printer(group, kind);
    let mut row = (p.cells)(obj, now);
    row.resize(p.columns.len(), Value::Null);
    row
}

/// Formats a `metav1.LabelSelector` (JSON) like upstream `metav1.FormatLabelSelector`:
/// requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, joined by `,`;
/// `<none>` for a missing or empty selector and `<error>` for an invalid one.
pub fn format_label_selector(sel: &Value) -> String {
    match util::selector_string(Some(sel)) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(()) => "<error>".to_string(),
    }
}
