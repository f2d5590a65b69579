//! Pod spec validation, as upstream `ValidatePodSpec` and `ValidatePodTemplateSpec`: volumes,
//! containers and init containers, restart and DNS policies, the pod security context,
//! tolerations, topology spread constraints, DNS config, host aliases and the scalar fields.
//!
//! The same checks run for pods and for the pod templates of workloads; [`PodOpts::is_pod`]
//! turns on the few that only apply to real pods.

use std::collections::HashSet;

use serde_json::Value;

use super::checks::{
    annotations, dns1123_label, dns1123_subdomain, inclusive_range, int_of, invalid_each, is_set,
    labels, list_of, local_non_reserved_path, no_backsteps, nonnegative, obj_of, qualified_name,
    str_of, valid_ip,
};
use super::container::{self, ProbeKind, VolInfo, Volumes};
use super::field::{child, index, FieldError};
use crate::names;
use crate::quantity::Quantity;

/// Options of pod spec validation.
#[derive(Clone, Copy, Default)]
pub struct PodOpts {
    /// The spec belongs to a Pod (not a template): `hostPort` must equal `containerPort`
    /// under `hostNetwork`.
    pub is_pod: bool,
}

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = 2_147_483_647;

/// Upstream `ValidatePodTemplateSpec`: the template's labels and annotations (reported at
/// `<path>.labels`, as upstream does), then its pod spec.
pub fn template(tpl: Option<&Value>, path: &str) -> Vec<FieldError> {
    let tpl = tpl.unwrap_or(&Value::Null);
    let meta = tpl.get("metadata").unwrap_or(&Value::Null);
    let mut errs = labels(meta.get("labels"), &child(path, "labels"));
    errs.extend(annotations(
        meta.get("annotations"),
        &child(path, "annotations"),
    ));
    let spec = tpl.get("spec").unwrap_or(&Value::Null);
    errs.extend(spec_errors(spec, &child(path, "spec"), PodOpts::default()));
    if !list_of(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Upstream `ValidatePodSpec`.
pub fn spec_errors(spec: &Value, path: &str, opts: PodOpts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !is_set(spec, "terminationGracePeriodSeconds") {
        errs.push(FieldError::required(
            child(path, "terminationGracePeriodSeconds"),
            "",
        ));
    }
    let grace = int_of(spec, "terminationGracePeriodSeconds");
    let vols = volumes(spec, &child(path, "volumes"), &mut errs);
    errs.extend(containers(spec, &vols, grace, &child(path, "containers")));
    errs.extend(init_containers(
        spec,
        &vols,
        grace,
        &child(path, "initContainers"),
    ));
    errs.extend(host_network_deps(spec, path, opts));
    let rp = child(path, "restartPolicy");
    match str_of(spec, "restartPolicy") {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(rp, "")),
        other => errs.push(FieldError::not_supported(
            rp,
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    let dp = child(path, "dnsPolicy");
    let dns_policy = str_of(spec, "dnsPolicy");
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(dp, "")),
        other => errs.push(FieldError::not_supported(
            dp,
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(labels(
        spec.get("nodeSelector"),
        &child(path, "nodeSelector"),
    ));
    if let Some(sc) = spec.get("securityContext").filter(|v| v.is_object()) {
        errs.extend(pod_security_context(
            spec,
            sc,
            &child(path, "securityContext"),
        ));
    }
    errs.extend(dns_config(spec, dns_policy, &child(path, "dnsConfig")));
    for (i, gate) in list_of(spec, "readinessGates").iter().enumerate() {
        let p = child(&index(&child(path, "readinessGates"), i), "conditionType");
        errs.extend(qualified_name(str_of(gate, "conditionType"), &p));
    }
    let mut gates = HashSet::new();
    for (i, gate) in list_of(spec, "schedulingGates").iter().enumerate() {
        let p = index(&child(path, "schedulingGates"), i);
        let name = str_of(gate, "name");
        errs.extend(qualified_name(name, &p));
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(&p, name));
        }
    }
    errs.extend(topology_spread(
        list_of(spec, "topologySpreadConstraints"),
        &child(path, "topologySpreadConstraints"),
    ));
    for field in ["serviceAccountName", "nodeName", "priorityClassName"] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            errs.extend(dns1123_subdomain(v, &child(path, field)));
        }
    }
    if let Some(ads) = int_of(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&ads) {
            errs.push(FieldError::invalid(
                child(path, "activeDeadlineSeconds"),
                ads,
                &inclusive_range(1, MAX_INT32),
            ));
        }
    }
    for field in ["hostname", "subdomain"] {
        let v = str_of(spec, field);
        if !v.is_empty() {
            errs.extend(dns1123_label(v, &child(path, field)));
        }
    }
    errs.extend(tolerations(
        list_of(spec, "tolerations"),
        &child(path, "tolerations"),
    ));
    for (i, alias) in list_of(spec, "hostAliases").iter().enumerate() {
        let p = index(&child(path, "hostAliases"), i);
        errs.extend(valid_ip(str_of(alias, "ip"), &child(&p, "ip")));
        for (j, h) in list_of(alias, "hostnames").iter().enumerate() {
            if let Some(h) = h.as_str() {
                errs.extend(dns1123_subdomain(h, &index(&child(&p, "hostnames"), j)));
            }
        }
    }
    if let Some(rc) = spec.get("runtimeClassName").and_then(Value::as_str) {
        errs.extend(dns1123_subdomain(rc, &child(path, "runtimeClassName")));
    }
    if let Some(pp) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        let p = child(path, "preemptionPolicy");
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(p, "")),
            other => errs.push(FieldError::not_supported(
                p,
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(os) = spec.get("os").filter(|v| v.is_object()) {
        let name = str_of(os, "name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&child(path, "os"), "name"), ""));
        } else if name != "linux" && name != "windows" {
            errs.push(FieldError::not_supported(
                child(path, "os"),
                name,
                &["linux", "windows"],
            ));
        }
    }
    errs
}

/// (JSON key, path segment upstream uses in "may not specify more than 1 volume type").
const VOLUME_SOURCES: [(&str, &str); 30] = [
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// Upstream `ValidateVolumes`: returns the valid volumes by name.
fn volumes(spec: &Value, path: &str, errs: &mut Vec<FieldError>) -> Volumes {
    let mut vols = Volumes::new();
    for (i, vol) in list_of(spec, "volumes").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(vol, "name");
        let mut el = volume_source(vol, &p);
        if name.is_empty() {
            el.push(FieldError::required(child(&p, "name"), ""));
        } else {
            el.extend(dns1123_label(name, &child(&p, "name")));
        }
        if vols.contains_key(name) {
            el.push(FieldError::duplicate(child(&p, "name"), name));
        }
        if el.is_empty() {
            let info = VolInfo {
                pvc_like: is_set(vol, "persistentVolumeClaim") || is_set(vol, "ephemeral"),
                image: is_set(vol, "image"),
            };
            vols.insert(name.to_string(), info);
        } else {
            errs.extend(el);
        }
    }
    vols
}

fn volume_source(vol: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for (k, seg) in VOLUME_SOURCES {
        let Some(src) = vol.get(k).filter(|v| !v.is_null()) else {
            continue;
        };
        if count > 0 {
            errs.push(FieldError::forbidden(
                child(path, seg),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let p = child(path, k);
        match k {
            "emptyDir" => {
                let negative = src
                    .get("sizeLimit")
                    .and_then(Quantity::from_json)
                    .is_some_and(|q| q.nanos < 0);
                if negative {
                    errs.push(FieldError::forbidden(
                        child(&p, "sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            "hostPath" => errs.extend(host_path(src, &p)),
            "gitRepo" => {
                if str_of(src, "repository").is_empty() {
                    errs.push(FieldError::required(child(&p, "repository"), ""));
                }
                errs.extend(super::checks::local_descending_path(
                    str_of(src, "directory"),
                    &child(&p, "directory"),
                ));
            }
            "secret" => errs.extend(keyed_source(src, "secretName", &p)),
            "configMap" => errs.extend(keyed_source(src, "name", &p)),
            "nfs" => {
                for f in ["server", "path"] {
                    if str_of(src, f).is_empty() {
                        errs.push(FieldError::required(child(&p, f), ""));
                    }
                }
                let np = str_of(src, "path");
                if !np.starts_with('/') {
                    errs.push(FieldError::invalid(
                        child(&p, "path"),
                        np,
                        "must be an absolute path",
                    ));
                }
            }
            "persistentVolumeClaim" if str_of(src, "claimName").is_empty() => {
                errs.push(FieldError::required(child(&p, "claimName"), ""));
            }
            "downwardAPI" => {
                errs.extend(file_mode(src.get("defaultMode"), &child(&p, "defaultMode")));
                for item in list_of(src, "items") {
                    errs.extend(downward_api_file(item, &p));
                }
            }
            "projected" => errs.extend(projected(src, &p)),
            "csi" => {
                let driver = str_of(src, "driver");
                if driver.is_empty() {
                    errs.push(FieldError::required(child(&p, "driver"), ""));
                } else {
                    if driver.len() > 63 {
                        errs.push(FieldError::too_long(child(&p, "driver"), 63));
                    }
                    errs.extend(invalid_each(
                        &child(&p, "driver"),
                        driver,
                        names::is_dns1123_subdomain(&driver.to_lowercase()),
                    ));
                }
            }
            "ephemeral" => match src.get("volumeClaimTemplate").filter(|v| v.is_object()) {
                None => errs.push(FieldError::required(child(&p, "volumeClaimTemplate"), "")),
                Some(t) => {
                    let spec = t.get("spec").unwrap_or(&Value::Null);
                    errs.extend(super::core::pvc_spec(
                        spec,
                        &child(&child(&p, "volumeClaimTemplate"), "spec"),
                    ));
                }
            },
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn host_path(src: &Value, path: &str) -> Vec<FieldError> {
    let hp = str_of(src, "path");
    if hp.is_empty() {
        return vec![FieldError::required(child(path, "path"), "")];
    }
    let mut errs = no_backsteps(hp, &child(path, "path"));
    if let Some(t) = src.get("type").and_then(Value::as_str) {
        const TYPES: [&str; 8] = [
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if !TYPES.contains(&t) {
            errs.push(FieldError::not_supported(child(path, "type"), t, &TYPES));
        }
    }
    errs
}

fn file_mode(mode: Option<&Value>, path: &str) -> Vec<FieldError> {
    match mode.and_then(Value::as_i64) {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_MSG)],
        _ => Vec::new(),
    }
}

/// Secret and configMap volumes: the name, `defaultMode` and `items`.
fn keyed_source(src: &Value, name_field: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if str_of(src, name_field).is_empty() {
        errs.push(FieldError::required(child(path, name_field), ""));
    }
    errs.extend(file_mode(
        src.get("defaultMode"),
        &child(path, "defaultMode"),
    ));
    for (i, kp) in list_of(src, "items").iter().enumerate() {
        errs.extend(key_to_path(kp, &index(&child(path, "items"), i)));
    }
    errs
}

fn key_to_path(kp: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if str_of(kp, "key").is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    }
    let p = str_of(kp, "path");
    if p.is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(local_non_reserved_path(p, &child(path, "path")));
    errs.extend(file_mode(kp.get("mode"), &child(path, "mode")));
    errs
}

const VOLUME_FIELD_PATHS: [&str; 5] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

fn downward_api_file(file: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let p = str_of(file, "path");
    if p.is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(local_non_reserved_path(p, &child(path, "path")));
    if let Some(fr) = file.get("fieldRef").filter(|v| v.is_object()) {
        errs.extend(container::object_field_selector(
            fr,
            &VOLUME_FIELD_PATHS,
            &child(path, "fieldRef"),
        ));
        if is_set(file, "resourceFieldRef") {
            errs.push(FieldError::invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rr) = file.get("resourceFieldRef").filter(|v| v.is_object()) {
        errs.extend(container::resource_field_selector(
            rr,
            &child(path, "resourceFieldRef"),
            true,
        ));
    } else {
        errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    errs.extend(file_mode(file.get("mode"), &child(path, "mode")));
    errs
}

fn projected(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = file_mode(src.get("defaultMode"), &child(path, "defaultMode"));
    let mut paths = HashSet::new();
    for (i, source) in list_of(src, "sources").iter().enumerate() {
        let sp = index(&child(path, "sources"), i);
        let mut n = 0;
        for kind in ["secret", "configMap"] {
            let Some(s) = source.get(kind).filter(|v| v.is_object()) else {
                continue;
            };
            n += 1;
            let pp = child(&sp, kind);
            if str_of(s, "name").is_empty() {
                errs.push(FieldError::required(child(&pp, "name"), ""));
            }
            for (j, kp) in list_of(s, "items").iter().enumerate() {
                errs.extend(key_to_path(kp, &index(&child(&pp, "items"), j)));
                let item_path = str_of(kp, "path");
                if !item_path.is_empty() && !paths.insert(item_path.to_string()) {
                    errs.push(FieldError::invalid(
                        path,
                        str_of(s, "name"),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(d) = source.get("downwardAPI").filter(|v| v.is_object()) {
            n += 1;
            let pp = child(&sp, "downwardAPI");
            for file in list_of(d, "items") {
                errs.extend(downward_api_file(file, &pp));
                let fp = str_of(file, "path");
                if !fp.is_empty() && !paths.insert(fp.to_string()) {
                    errs.push(FieldError::invalid(path, fp, "conflicting duplicate paths"));
                }
            }
        }
        if let Some(t) = source.get("serviceAccountToken").filter(|v| v.is_object()) {
            n += 1;
            let pp = child(&sp, "serviceAccountToken");
            let exp = int_of(t, "expirationSeconds").unwrap_or(0);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    child(&pp, "expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    child(&pp, "expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            let tp = str_of(t, "path");
            if tp.is_empty() {
                errs.push(FieldError::required(child(path, "path"), ""));
            } else {
                errs.extend(local_non_reserved_path(tp, &child(path, "path")));
            }
        }
        if source
            .get("clusterTrustBundle")
            .is_some_and(|v| v.is_object())
        {
            n += 1;
        }
        if n > 1 {
            errs.push(FieldError::forbidden(
                sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    errs
}

fn containers(spec: &Value, vols: &Volumes, grace: Option<i64>, path: &str) -> Vec<FieldError> {
    let list = list_of(spec, "containers");
    if list.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    for (i, c) in list.iter().enumerate() {
        let p = index(path, i);
        errs.extend(container::common(c, vols, &p));
        let name = str_of(c, "name");
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        if let Some(l) = c.get("lifecycle").filter(|v| v.is_object()) {
            errs.extend(container::lifecycle(l, grace, &child(&p, "lifecycle")));
        }
        errs.extend(probes(c, grace, &p));
        if is_set(c, "restartPolicy") {
            errs.push(FieldError::forbidden(
                child(&p, "restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    let all: Vec<(usize, &Value)> = list.iter().enumerate().collect();
    errs.extend(container::host_port_conflicts(&all, path));
    errs
}

fn probes(c: &Value, grace: Option<i64>, p: &str) -> Vec<FieldError> {
    let mut errs = container::probe(
        ProbeKind::Liveness,
        c.get("livenessProbe"),
        grace,
        &child(p, "livenessProbe"),
    );
    errs.extend(container::probe(
        ProbeKind::Readiness,
        c.get("readinessProbe"),
        grace,
        &child(p, "readinessProbe"),
    ));
    errs.extend(container::probe(
        ProbeKind::Startup,
        c.get("startupProbe"),
        grace,
        &child(p, "startupProbe"),
    ));
    errs
}

fn init_containers(
    spec: &Value,
    vols: &Volumes,
    grace: Option<i64>,
    path: &str,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names_seen: HashSet<&str> = list_of(spec, "containers")
        .iter()
        .map(|c| str_of(c, "name"))
        .collect();
    for (i, c) in list_of(spec, "initContainers").iter().enumerate() {
        let p = index(path, i);
        errs.extend(container::common(c, vols, &p));
        let mut restart_always = false;
        if let Some(rp) = c.get("restartPolicy").filter(|v| !v.is_null()) {
            let rp = rp.as_str().unwrap_or("");
            if rp == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    child(&p, "restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        let name = str_of(c, "name");
        if names_seen.contains(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        } else if !name.is_empty() {
            names_seen.insert(name);
        }
        errs.extend(container::host_port_conflicts(&[(i, c)], path));
        if restart_always {
            if let Some(l) = c.get("lifecycle").filter(|v| v.is_object()) {
                errs.extend(container::lifecycle(l, grace, &child(&p, "lifecycle")));
            }
            errs.extend(probes(c, grace, &p));
        } else {
            for field in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if is_set(c, field) {
                    errs.push(FieldError::forbidden(
                        child(&p, field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

fn host_network_deps(spec: &Value, path: &str, opts: PodOpts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if spec.get("hostNetwork").and_then(Value::as_bool) != Some(true) {
        return errs;
    }
    for (i, c) in list_of(spec, "containers").iter().enumerate() {
        for (j, port) in list_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            let cp = int_of(port, "containerPort").unwrap_or(0);
            if (opts.is_pod || hp != 0) && hp != cp {
                let p = index(&child(&index(&child(path, "containers"), i), "ports"), j);
                errs.push(FieldError::invalid(
                    child(&p, "hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

fn pod_security_context(spec: &Value, sc: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    errs.extend(container::id_range(
        sc.get("fsGroup"),
        &child(path, "fsGroup"),
    ));
    errs.extend(container::id_range(
        sc.get("runAsUser"),
        &child(path, "runAsUser"),
    ));
    errs.extend(container::id_range(
        sc.get("runAsGroup"),
        &child(path, "runAsGroup"),
    ));
    for (i, g) in list_of(sc, "supplementalGroups").iter().enumerate() {
        errs.extend(container::id_range(
            Some(g),
            &index(&child(path, "supplementalGroups"), i),
        ));
    }
    if spec.get("shareProcessNamespace").and_then(Value::as_bool) == Some(true)
        && spec.get("hostPID").and_then(Value::as_bool) == Some(true)
    {
        errs.push(FieldError::invalid(
            child(path, "shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut sysctls = HashSet::new();
    for (i, s) in list_of(sc, "sysctls").iter().enumerate() {
        let p = child(&index(&child(path, "sysctls"), i), "name");
        let name = str_of(s, "name");
        if name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if !valid_sysctl(name) {
            errs.push(FieldError::invalid(
                p,
                name,
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !sysctls.insert(name) {
            errs.push(FieldError::duplicate(p, name));
        }
    }
    if let Some(p) = sc.get("fsGroupChangePolicy").and_then(Value::as_str) {
        if p != "OnRootMismatch" && p != "Always" {
            errs.push(FieldError::not_supported(
                child(path, "fsGroupChangePolicy"),
                p,
                &["Always", "OnRootMismatch"],
            ));
        }
    }
    errs.extend(container::seccomp_profile(
        sc.get("seccompProfile"),
        &child(path, "seccompProfile"),
    ));
    if let Some(p) = sc.get("supplementalGroupsPolicy").and_then(Value::as_str) {
        if p != "Merge" && p != "Strict" {
            errs.push(FieldError::not_supported(
                child(path, "supplementalGroupsPolicy"),
                p,
                &["Merge", "Strict"],
            ));
        }
    }
    errs
}

fn valid_sysctl(name: &str) -> bool {
    let seg_ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    name.len() <= 253 && name.split(['.', '/']).all(seg_ok)
}

fn dns_config(spec: &Value, policy: &str, path: &str) -> Vec<FieldError> {
    let config = spec.get("dnsConfig").filter(|v| v.is_object());
    let mut errs = Vec::new();
    if policy == "None" {
        match config {
            None => {
                return vec![FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )]
            }
            Some(c) if list_of(c, "nameservers").is_empty() => {
                return vec![FieldError::required(
                    child(path, "nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )]
            }
            _ => {}
        }
    }
    let Some(config) = config else {
        return errs;
    };
    let servers = list_of(config, "nameservers");
    if servers.len() > 3 {
        errs.push(FieldError::invalid(
            child(path, "nameservers"),
            Value::Array(servers.to_vec()),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, s) in servers.iter().enumerate() {
        errs.extend(valid_ip(
            s.as_str().unwrap_or(""),
            &index(&child(path, "nameservers"), i),
        ));
    }
    let searches = list_of(config, "searches");
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            child(path, "searches"),
            Value::Array(searches.to_vec()),
            "must not have more than 32 search paths",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        let s = s.as_str().unwrap_or("");
        if s != "." {
            let s = s.strip_suffix('.').unwrap_or(s);
            let ok = !s.is_empty()
                && s.split('.').all(|l| {
                    let l = l.strip_prefix('_').unwrap_or(l);
                    names::is_dns1123_label(&l.replace('_', "-")).is_empty()
                });
            if !ok {
                errs.push(FieldError::invalid(
                    index(&child(path, "searches"), i),
                    s,
                    &names::regex_error(
                        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character",
                        "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*",
                        &["example.com"],
                    ),
                ));
            }
        }
    }
    for (i, o) in list_of(config, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(FieldError::required(
                index(&child(path, "options"), i),
                "must not be empty",
            ));
        }
    }
    errs
}

/// Upstream `ValidateTolerations`.
pub fn tolerations(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = index(path, i);
        let k = str_of(t, "key");
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        let value = str_of(t, "value");
        if !k.is_empty() {
            errs.extend(qualified_name(k, &child(&p, "key")));
        }
        if k.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                child(&p, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if is_set(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                child(&p, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        child(&p, "operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                child(&p, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                child(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

fn topology_spread(list: &[Value], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let p = index(path, i);
        let skew = int_of(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            errs.push(FieldError::invalid(
                child(&p, "maxSkew"),
                skew,
                "must be greater than zero",
            ));
        }
        let tk = str_of(c, "topologyKey");
        if tk.is_empty() {
            errs.push(FieldError::required(
                child(&p, "topologyKey"),
                "can not be empty",
            ));
        }
        let wu = str_of(c, "whenUnsatisfiable");
        if wu != "DoNotSchedule" && wu != "ScheduleAnyway" {
            errs.push(FieldError::not_supported(
                child(&p, "whenUnsatisfiable"),
                wu,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        // Each {topologyKey, whenUnsatisfiable} pair may appear once; the first of a repeated
        // pair is reported.
        let repeated = list[i + 1..]
            .iter()
            .any(|r| str_of(r, "topologyKey") == tk && str_of(r, "whenUnsatisfiable") == wu);
        if repeated {
            errs.push(FieldError::duplicate(
                child(&p, "{topologyKey, whenUnsatisfiable}"),
                format!("{{{tk}, {wu}}}"),
            ));
        }
        if let Some(md) = int_of(c, "minDomains") {
            if md <= 0 {
                errs.push(FieldError::invalid(
                    child(&p, "minDomains"),
                    md,
                    "must be greater than zero",
                ));
            }
            if wu != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    child(&p, "minDomains"),
                    md,
                    &format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {wu}"
                    ),
                ));
            }
        }
        errs.extend(super::checks::label_selector(
            c.get("labelSelector"),
            &child(&p, "labelSelector"),
        ));
    }
    errs
}

/// Nonnegative check of `replicas`-like fields re-used by the workload validators.
pub fn nonneg(v: Option<i64>, path: &str) -> Vec<FieldError> {
    v.map(|v| nonnegative(v, path)).unwrap_or_default()
}

/// True when an object has a non-empty `labels` map in its `metadata`.
pub fn template_labels(tpl: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    tpl.and_then(|t| t.get("metadata"))
        .and_then(|m| obj_of(m, "labels"))
}

/// Whether `v` holds something (Go's non-zero value): not null, not an empty list or map.
fn non_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// Fields an ephemeral container may not use (they make no sense for a container that is
/// never restarted nor reached through a port).
const NOT_FOR_EPHEMERAL: &[&str] = &[
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
];

/// A write through `pods/NAME/ephemeralcontainers` (upstream's
/// `ValidatePodEphemeralContainersUpdate`): new ephemeral containers are valid containers with
/// unique names and no ports, probes, lifecycle or resources, and a target that exists;
/// existing ones are neither removed nor changed. Static pods take none.
pub fn ephemeral_containers_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mirror = old
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
    if mirror {
        return vec![FieldError::forbidden(
            "",
            "static pods do not support ephemeral containers",
        )];
    }
    let spec = &new["spec"];
    let path = "spec.ephemeralContainers";
    let mut errs = Vec::new();
    let mut vol_errs = Vec::new();
    let vols = volumes(spec, "spec.volumes", &mut vol_errs);
    let regular: HashSet<&str> = list_of(spec, "containers")
        .iter()
        .chain(list_of(spec, "initContainers").iter())
        .map(|c| str_of(c, "name"))
        .collect();
    let mut seen = regular.clone();
    let list = list_of(spec, "ephemeralContainers");
    for (i, e) in list.iter().enumerate() {
        let p = index(path, i);
        errs.extend(container::common(e, &vols, &p));
        let name = str_of(e, "name");
        if !seen.insert(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
        for f in NOT_FOR_EPHEMERAL {
            if non_zero(e.get(*f)) {
                errs.push(FieldError::forbidden(
                    child(&p, f),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        let target = str_of(e, "targetContainerName");
        if !target.is_empty() && !regular.contains(target) {
            errs.push(FieldError::not_found(
                child(&p, "targetContainerName"),
                target,
            ));
        }
    }
    for o in list_of(&old["spec"], "ephemeralContainers") {
        let name = str_of(o, "name");
        match list.iter().find(|n| str_of(n, "name") == name) {
            None => errs.push(FieldError::forbidden(
                path,
                &format!("existing ephemeral containers \"{name}\" may not be removed"),
            )),
            Some(n) if n != o => errs.push(FieldError::forbidden(
                path,
                &format!("existing ephemeral containers \"{name}\" may not be changed"),
            )),
            Some(_) => {}
        }
    }
    errs
}
