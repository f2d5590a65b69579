//! Container validation, as upstream `validateContainerCommon` and its helpers in
//! `pkg/apis/core/validation`: names, images, ports, environment, volume mounts and devices,
//! pull policy, resources (names, quantities, requests ≤ limits), probes, lifecycle handlers
//! and the container security context.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::checks::{
    config_key_errors, dns1123_label, env_var_name_errors, http_header_errors, inclusive_range,
    int_of, invalid_each, list_of, local_descending_path, no_backsteps, nonnegative_field, obj_of,
    port_name_errors, port_num_errors, port_num_or_name, qualified_name, sorted_keys, str_of,
    NEGATIVE_MSG,
};
use super::field::{child, index, key, FieldError};
use crate::names;
use crate::quantity::{Quantity, PARSE_ERROR};

/// What container validation needs to know about a pod volume.
#[derive(Debug, Clone, Copy, Default)]
pub struct VolInfo {
    /// A `persistentVolumeClaim` or `ephemeral` volume (usable as a block device).
    pub pvc_like: bool,
    /// An `image` volume (no `subPath`).
    pub image: bool,
}

/// The valid volumes of a pod, by name.
pub type Volumes = HashMap<String, VolInfo>;

/// Upstream `validateContainerCommon`: everything checked for every kind of container.
pub fn common(c: &Value, vols: &Volumes, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(c, "name");
    let name_path = child(path, "name");
    if name.is_empty() {
        errs.push(FieldError::required(name_path, ""));
    } else {
        errs.extend(dns1123_label(name, &name_path));
    }
    if str_of(c, "image").is_empty() {
        errs.push(FieldError::required(child(path, "image"), ""));
    }
    match str_of(c, "terminationMessagePolicy") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            child(path, "terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            child(path, "terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(ports(list_of(c, "ports"), &child(path, "ports")));
    errs.extend(env(list_of(c, "env"), &child(path, "env")));
    errs.extend(env_from(list_of(c, "envFrom"), &child(path, "envFrom")));
    errs.extend(volume_mounts(c, vols, &child(path, "volumeMounts")));
    errs.extend(volume_devices(c, vols, &child(path, "volumeDevices")));
    let pull = child(path, "imagePullPolicy");
    match str_of(c, "imagePullPolicy") {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(pull, "")),
        other => errs.push(FieldError::not_supported(
            pull,
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(res) = c.get("resources") {
        errs.extend(resources(res, &child(path, "resources")));
    }
    if let Some(sc) = c.get("securityContext").filter(|v| v.is_object()) {
        errs.extend(security_context(sc, &child(path, "securityContext")));
    }
    errs
}

fn ports(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names_seen = HashSet::new();
    for (i, port) in list.iter().enumerate() {
        let p = index(path, i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = port_name_errors(name);
            if !msgs.is_empty() {
                errs.extend(invalid_each(&child(&p, "name"), name, msgs));
            } else if !names_seen.insert(name.to_string()) {
                errs.push(FieldError::duplicate(child(&p, "name"), name));
            }
        }
        match int_of(port, "containerPort").unwrap_or(0) {
            0 => errs.push(FieldError::required(child(&p, "containerPort"), "")),
            cp => errs.extend(
                port_num_errors(cp)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(&p, "containerPort"), cp, &m)),
            ),
        }
        let hp = int_of(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            errs.extend(
                port_num_errors(hp)
                    .into_iter()
                    .map(|m| FieldError::invalid(child(&p, "hostPort"), hp, &m)),
            );
        }
        errs.extend(protocol(port, &child(&p, "protocol")));
    }
    errs
}

/// `protocol` of a port: required, and one of TCP, UDP, SCTP.
pub fn protocol(port: &Value, path: &str) -> Vec<FieldError> {
    match str_of(port, "protocol") {
        "TCP" | "UDP" | "SCTP" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["SCTP", "TCP", "UDP"],
        )],
    }
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths upstream `ConvertDownwardAPIFieldLabel` accepts for `v1` pods.
const CONVERTIBLE_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

fn env(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in list.iter().enumerate() {
        let p = index(path, i);
        let name = str_of(ev, "name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        } else {
            errs.extend(invalid_each(
                &child(&p, "name"),
                name,
                env_var_name_errors(name),
            ));
        }
        errs.extend(env_value_from(ev, &child(&p, "valueFrom")));
    }
    errs
}

fn env_value_from(ev: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(from) = ev.get("valueFrom").filter(|v| v.is_object()) else {
        return errs;
    };
    let mut sources = 0;
    if let Some(fr) = from.get("fieldRef").filter(|v| v.is_object()) {
        sources += 1;
        errs.extend(object_field_selector(
            fr,
            &ENV_FIELD_PATHS,
            &child(path, "fieldRef"),
        ));
    }
    if let Some(rr) = from.get("resourceFieldRef").filter(|v| v.is_object()) {
        sources += 1;
        errs.extend(resource_field_selector(
            rr,
            &child(path, "resourceFieldRef"),
            false,
        ));
    }
    for field in ["configMapKeyRef", "secretKeyRef"] {
        if let Some(r) = from.get(field).filter(|v| v.is_object()) {
            sources += 1;
            let p = child(path, field);
            let name = str_of(r, "name");
            errs.extend(invalid_each(
                &child(&p, "name"),
                name,
                names::is_dns1123_subdomain(name),
            ));
            let k = str_of(r, "key");
            if k.is_empty() {
                errs.push(FieldError::required(child(&p, "key"), ""));
            } else {
                errs.extend(invalid_each(&child(&p, "key"), k, config_key_errors(k)));
            }
        }
    }
    if sources == 0 {
        errs.push(FieldError::invalid(
            path,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if !str_of(ev, "value").is_empty() {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not be specified when `value` is not empty",
        ));
    } else if sources > 1 {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not have more than one field specified at a time",
        ));
    }
    errs
}

/// Splits `metadata.labels['key']` into (`metadata.labels`, `key`).
fn split_subscript(fp: &str) -> Option<(&str, &str)> {
    let rest = fp.strip_suffix("']")?;
    let open = rest.find("['")?;
    Some((&rest[..open], &rest[open + 2..]))
}

/// Upstream `validateObjectFieldSelector` (downward API `fieldRef`).
pub fn object_field_selector(fr: &Value, allowed: &[&str], path: &str) -> Vec<FieldError> {
    let api_version = str_of(fr, "apiVersion");
    if api_version.is_empty() {
        return vec![FieldError::required(child(path, "apiVersion"), "")];
    }
    let fp = str_of(fr, "fieldPath");
    if fp.is_empty() {
        return vec![FieldError::required(child(path, "fieldPath"), "")];
    }
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((base, _)) = split_subscript(fp) {
        (base != "metadata.labels" && base != "metadata.annotations")
            .then(|| format!("field label does not support subscript: {fp}"))
    } else if !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        Some(format!("field label not supported: {fp}"))
    } else {
        None
    };
    if let Some(e) = conversion_error {
        return vec![FieldError::invalid(
            child(path, "fieldPath"),
            fp,
            &format!("error converting fieldPath: {e}"),
        )];
    }
    if let Some((base, sub)) = split_subscript(fp) {
        return match base {
            "metadata.annotations" => qualified_name(&sub.to_lowercase(), path),
            _ => qualified_name(sub, path),
        };
    }
    if !allowed.contains(&fp) {
        return vec![FieldError::not_supported(
            child(path, "fieldPath"),
            fp,
            allowed,
        )];
    }
    Vec::new()
}

/// Upstream `validateContainerResourceFieldSelector` (downward API `resourceFieldRef`).
pub fn resource_field_selector(rr: &Value, path: &str, volume: bool) -> Vec<FieldError> {
    let resource = str_of(rr, "resource");
    if volume && str_of(rr, "containerName").is_empty() {
        vec![FieldError::required(child(path, "containerName"), "")]
    } else if resource.is_empty() {
        vec![FieldError::required(child(path, "resource"), "")]
    } else if !RESOURCE_FIELD_PATHS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        vec![FieldError::not_supported(
            child(path, "resource"),
            resource,
            &RESOURCE_FIELD_PATHS,
        )]
    } else {
        Vec::new()
    }
}

fn env_from(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in list.iter().enumerate() {
        let p = index(path, i);
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            errs.extend(invalid_each(
                &child(&p, "prefix"),
                prefix,
                env_var_name_errors(prefix),
            ));
        }
        let mut sources = 0;
        for field in ["configMapRef", "secretRef"] {
            if let Some(r) = ev.get(field).filter(|v| v.is_object()) {
                sources += 1;
                let np = child(&child(&p, field), "name");
                let name = str_of(r, "name");
                if name.is_empty() {
                    errs.push(FieldError::required(np, ""));
                } else {
                    let msgs = names::check_name(names::NameRule::Dns1123Subdomain, name, true);
                    errs.extend(invalid_each(&np, name, msgs));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn volume_mounts(c: &Value, vols: &Volumes, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let devices: Vec<(&str, &str)> = list_of(c, "volumeDevices")
        .iter()
        .map(|d| (str_of(d, "name"), str_of(d, "devicePath")))
        .collect();
    let privileged = c
        .pointer("/securityContext/privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut mount_points = HashSet::new();
    for (i, m) in list_of(c, "volumeMounts").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(m, "name");
        let mount_path = str_of(m, "mountPath");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        if !vols.contains_key(name) {
            errs.push(FieldError::not_found(child(&p, "name"), name));
        }
        if mount_path.is_empty() {
            errs.push(FieldError::required(child(&p, "mountPath"), ""));
        }
        if !mount_points.insert(mount_path.to_string()) {
            errs.push(FieldError::invalid(
                child(&p, "mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        if devices.iter().any(|(n, _)| *n == name) {
            errs.push(FieldError::invalid(
                child(&p, "name"),
                name,
                "must not already exist in volumeDevices",
            ));
        }
        if devices.iter().any(|(_, dp)| *dp == mount_path) {
            errs.push(FieldError::invalid(
                child(&p, "mountPath"),
                mount_path,
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = str_of(m, "subPath");
        let sub_expr = str_of(m, "subPathExpr");
        if vols.get(name).is_some_and(|v| v.image) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    child(&p, "subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            if !sub_expr.is_empty() {
                errs.push(FieldError::invalid(
                    child(&p, "subPathExpr"),
                    sub_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            errs.extend(local_descending_path(sub_path, &child(path, "subPath")));
        }
        if !sub_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    child(&p, "subPathExpr"),
                    sub_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(sub_expr, &child(path, "subPathExpr")));
        }
        let propagation = m.get("mountPropagation").and_then(Value::as_str);
        if let Some(prop) = propagation {
            let pp = child(path, "mountPropagation");
            if !matches!(prop, "Bidirectional" | "HostToContainer" | "None") {
                errs.push(FieldError::not_supported(
                    &pp,
                    prop,
                    &["Bidirectional", "HostToContainer", "None"],
                ));
            }
            if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &pp,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = m.get("recursiveReadOnly").and_then(Value::as_str) {
            let rp = child(path, "recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if m.get("readOnly").and_then(Value::as_bool) != Some(true) {
                        errs.push(FieldError::forbidden(
                            &rp,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if propagation.is_some_and(|p| p != "None") {
                        errs.push(FieldError::forbidden(
                            &rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    &rp,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    errs
}

fn volume_devices(c: &Value, vols: &Volumes, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mounts: Vec<(&str, &str)> = list_of(c, "volumeMounts")
        .iter()
        .map(|m| (str_of(m, "name"), str_of(m, "mountPath")))
        .collect();
    let mut device_paths = HashSet::new();
    let mut device_names = HashSet::new();
    for (i, d) in list_of(c, "volumeDevices").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(d, "name");
        let dev_path = str_of(d, "devicePath");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        if device_names.contains(name) {
            errs.push(FieldError::invalid(
                child(&p, "name"),
                name,
                "must be unique",
            ));
        }
        match vols.get(name) {
            Some(v) if !v.pvc_like => errs.push(FieldError::invalid(
                child(&p, "name"),
                name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            Some(_) => {}
            None => errs.push(FieldError::not_found(child(&p, "name"), name)),
        }
        if dev_path.is_empty() {
            errs.push(FieldError::required(child(&p, "devicePath"), ""));
        }
        if device_paths.contains(dev_path) {
            errs.push(FieldError::invalid(
                child(&p, "devicePath"),
                dev_path,
                "must be unique",
            ));
        }
        if !dev_path.is_empty() && !no_backsteps(dev_path, "").is_empty() {
            errs.push(FieldError::invalid(
                child(&p, "devicePath"),
                dev_path,
                "can not contain backsteps ('..')",
            ));
        } else {
            device_paths.insert(dev_path);
        }
        if mounts.iter().any(|(n, _)| *n == name) {
            errs.push(FieldError::invalid(
                child(&p, "name"),
                name,
                "must not already exist in volumeMounts",
            ));
        }
        if mounts.iter().any(|(_, mp)| *mp == dev_path) {
            errs.push(FieldError::invalid(
                child(&p, "devicePath"),
                dev_path,
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !name.is_empty() {
            device_names.insert(name);
        }
    }
    errs
}

const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && names::is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

/// Upstream `validateResourceName`.
pub fn resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let errs = qualified_name(name, path);
    if !errs.is_empty() {
        return errs;
    }
    let standard = STANDARD_RESOURCES.contains(&name)
        || is_hugepages(name)
        || name.starts_with("requests.hugepages-");
    if !name.contains('/') && !standard {
        return vec![FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        )];
    }
    Vec::new()
}

fn container_resource_name(name: &str, path: &str) -> Vec<FieldError> {
    let mut errs = resource_name(name, path);
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// Parses a quantity of a resource list, or the parse error upstream reports while decoding.
pub fn quantity_at(v: &Value, path: &str) -> Result<Quantity, Box<FieldError>> {
    Quantity::from_json(v)
        .ok_or_else(|| Box::new(FieldError::invalid(path, v.clone(), PARSE_ERROR)))
}

/// Upstream `ValidateResourceQuantityValue`.
pub fn resource_quantity_value(name: &str, q: &Quantity, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if q.nanos < 0 {
        errs.push(FieldError::invalid(path, q.canonical(), NEGATIVE_MSG));
    }
    let integer =
        INTEGER_RESOURCES.contains(&name) || name.starts_with("count/") || is_extended(name);
    if integer && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid_shown(
            path,
            q.canonical(),
            "must be an integer",
        ));
    }
    errs
}

/// Upstream `ValidateContainerResourceRequirements`.
pub fn resources(res: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let limits = obj_of(res, "limits");
    let requests = obj_of(res, "requests");
    let (mut lim_cpu_mem, mut req_cpu_mem, mut lim_huge, mut req_huge) =
        (false, false, false, false);
    let mut parsed_limits: HashMap<&str, Quantity> = HashMap::new();
    if let Some(limits) = limits {
        for k in sorted_keys(limits) {
            let fp = key(&lim_path, k);
            errs.extend(container_resource_name(k, &fp));
            match quantity_at(&limits[k.as_str()], &fp) {
                Ok(q) => {
                    errs.extend(resource_quantity_value(k, &q, &fp));
                    parsed_limits.insert(k.as_str(), q);
                }
                Err(e) => errs.push(*e),
            }
            lim_huge |= is_hugepages(k);
            lim_cpu_mem |= k == "cpu" || k == "memory";
        }
    }
    if let Some(requests) = requests {
        for k in sorted_keys(requests) {
            let fp = key(&req_path, k);
            errs.extend(container_resource_name(k, &fp));
            let q = match quantity_at(&requests[k.as_str()], &fp) {
                Ok(q) => q,
                Err(e) => {
                    errs.push(*e);
                    continue;
                }
            };
            errs.extend(resource_quantity_value(k, &q, &fp));
            if let Some(limit) = parsed_limits.get(k.as_str()) {
                if q.nanos != limit.nanos && !overcommit_allowed(k) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        &format!("must be equal to {k} limit of {}", limit.canonical()),
                    ));
                } else if q.nanos > limit.nanos {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        &format!(
                            "must be less than or equal to {k} limit of {}",
                            limit.canonical()
                        ),
                    ));
                }
            } else if !overcommit_allowed(k) {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            req_huge |= is_hugepages(k);
            req_cpu_mem |= k == "cpu" || k == "memory";
        }
    }
    if !lim_cpu_mem && !req_cpu_mem && (lim_huge || req_huge) {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}

/// The kinds of probe, which differ in a couple of rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// `livenessProbe`: `successThreshold` must be 1.
    Liveness,
    /// `readinessProbe`: no `terminationGracePeriodSeconds`.
    Readiness,
    /// `startupProbe`: `successThreshold` must be 1.
    Startup,
}

/// Upstream `validateLivenessProbe` / `validateReadinessProbe` / `validateStartupProbe`.
pub fn probe(
    kind: ProbeKind,
    p: Option<&Value>,
    grace: Option<i64>,
    path: &str,
) -> Vec<FieldError> {
    let Some(p) = p.filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = handler(p, false, grace, path);
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        errs.extend(nonnegative_field(p, field, path));
    }
    if let Some(t) = int_of(p, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(FieldError::invalid(
                child(path, "terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = int_of(p, "successThreshold").unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    child(path, "successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = p
                .get("terminationGracePeriodSeconds")
                .filter(|v| !v.is_null())
            {
                errs.push(FieldError::invalid(
                    child(path, "terminationGracePeriodSeconds"),
                    t.clone(),
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// Upstream `validateHandler` for probes (`lifecycle` = false) and lifecycle hooks.
fn handler(h: &Value, lifecycle: bool, grace: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    for &k in kinds {
        let Some(v) = h.get(k).filter(|v| v.is_object()) else {
            continue;
        };
        let p = child(path, k);
        if count > 0 {
            errs.push(FieldError::forbidden(
                p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match k {
            "exec" => {
                if list_of(v, "command").is_empty() {
                    errs.push(FieldError::required(child(&p, "command"), ""));
                }
            }
            "httpGet" => {
                if str_of(v, "path").is_empty() {
                    errs.push(FieldError::required(child(&p, "path"), ""));
                }
                errs.extend(port_num_or_name(v.get("port"), &child(&p, "port")));
                let scheme = str_of(v, "scheme");
                if scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        child(&p, "scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
                for header in list_of(v, "httpHeaders") {
                    let n = str_of(header, "name");
                    errs.extend(invalid_each(
                        &child(&p, "httpHeaders"),
                        n,
                        http_header_errors(n),
                    ));
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name(v.get("port"), &child(&p, "port"))),
            "grpc" => {
                let port = int_of(v, "port").unwrap_or(0);
                errs.extend(
                    port_num_errors(port)
                        .into_iter()
                        .map(|m| FieldError::invalid(child(&p, "port"), port, &m)),
                );
            }
            _ => {
                // sleep (PodLifecycleSleepActionAllowZero is on by default since 1.33).
                let secs = int_of(v, "seconds").unwrap_or(0);
                if let Some(g) = grace {
                    if secs < 0 || secs > g {
                        errs.push(FieldError::invalid(
                            &p,
                            secs,
                            &format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
                        ));
                    }
                }
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

/// Upstream `validateLifecycle`.
pub fn lifecycle(l: &Value, grace: Option<i64>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(h) = l.get(hook).filter(|v| v.is_object()) {
            errs.extend(handler(h, true, grace, &child(path, hook)));
        }
    }
    errs
}

/// User and group IDs: `must be between 0 and 4294967295, inclusive`.
pub fn id_range(v: Option<&Value>, path: &str) -> Vec<FieldError> {
    match v.and_then(Value::as_i64) {
        Some(id) if !(0..=4_294_967_295).contains(&id) => {
            vec![FieldError::invalid(
                path,
                id,
                &inclusive_range(0, 4_294_967_295),
            )]
        }
        _ => Vec::new(),
    }
}

/// Upstream `validateSeccompProfileField`.
pub fn seccomp_profile(sp: Option<&Value>, path: &str) -> Vec<FieldError> {
    let Some(sp) = sp.filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let t = str_of(sp, "type");
    match t {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            child(path, "type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            child(path, "type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let local = sp.get("localhostProfile").and_then(Value::as_str);
    if t == "Localhost" {
        match local {
            None | Some("") => errs.push(FieldError::required(
                child(path, "localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(l) => errs.extend(local_descending_path(l, &child(path, "localhostProfile"))),
        }
    } else if local.is_some() {
        errs.push(FieldError::invalid_shown(
            child(path, "localhostProfile"),
            sp.to_string(),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

/// Upstream `ValidateSecurityContext` (container level).
fn security_context(sc: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(id_range(sc.get("runAsUser"), &child(path, "runAsUser")));
    errs.extend(id_range(sc.get("runAsGroup"), &child(path, "runAsGroup")));
    if let Some(pm) = sc.get("procMount").and_then(Value::as_str) {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(FieldError::not_supported(
                child(path, "procMount"),
                pm,
                &["Default", "Unmasked"],
            ));
        }
    }
    errs.extend(seccomp_profile(
        sc.get("seccompProfile"),
        &child(path, "seccompProfile"),
    ));
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if sc.get("privileged").and_then(Value::as_bool) == Some(true) {
            errs.push(FieldError::invalid_shown(
                path,
                sc.to_string(),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = sc.pointer("/capabilities/add").and_then(Value::as_array);
        if adds.is_some_and(|a| a.iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN"))) {
            errs.push(FieldError::invalid_shown(
                path,
                sc.to_string(),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs
}

/// Upstream `AccumulateUniqueHostPorts` over `containers` (each with its index in the list).
pub fn host_port_conflicts(containers: &[(usize, &Value)], path: &str) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    let mut errs = Vec::new();
    for (ci, c) in containers {
        for (pi, port) in list_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let k = format!(
                "{}/{}/{}",
                str_of(port, "protocol"),
                str_of(port, "hostIP"),
                hp
            );
            if !seen.insert(k.clone()) {
                let p = index(&child(&index(path, *ci), "ports"), pi);
                errs.push(FieldError::duplicate(child(&p, "hostPort"), k));
            }
        }
    }
    errs
}
