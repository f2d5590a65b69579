//! Core group (`v1`) validation: Pod (create, and the update rules that make most of a pod
//! immutable), PodTemplate, ReplicationController, ConfigMap, Secret, Namespace,
//! PersistentVolumeClaim and ResourceQuota. Services are in `service.rs`.

use serde_json::{Map, Value};

use super::checks::{
    config_key_errors, dns1123_subdomain, invalid_each, is_set, list_of, obj_of, qualified_name,
    sorted_keys, str_of, IMMUTABLE_MSG,
};
use super::container::{quantity_at, resource_name, resource_quantity_value};
use super::field::{child, go_string_map, key, FieldError};
use super::pod::{self, PodOpts};
use crate::quantity::Quantity;

/// Upstream `core.MaxSecretSize` (also the ConfigMap limit).
const MAX_SECRET_SIZE: usize = 1024 * 1024;

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

/// Upstream `validatePodMetadataAndSpec` without metadata: the spec plus the pod-only checks.
fn pod_spec_and_extras(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = pod::spec_errors(s, "spec", PodOpts { is_pod: true });
    if str_of(s, "serviceAccountName").is_empty() {
        for (vi, vol) in list_of(s, "volumes").iter().enumerate() {
            let Some(projected) = vol.get("projected") else {
                continue;
            };
            for (si, src) in list_of(projected, "sources").iter().enumerate() {
                if is_set(src, "serviceAccountToken") {
                    errs.push(FieldError::forbidden(
                        format!("spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in list_of(s, list).iter().enumerate() {
            let image = str_of(c, "image");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    format!("spec.{list}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodCreate` (after metadata).
pub fn pod_create(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = pod_spec_and_extras(obj);
    if !list_of(s, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    if !str_of(s, "nodeName").is_empty() && !list_of(s, "schedulingGates").is_empty() {
        errs.push(FieldError::forbidden(
            "spec.nodeName",
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Upstream `ValidatePodUpdate` (after metadata): only images, `activeDeadlineSeconds`
/// (downwards), added tolerations and removed scheduling gates may change.
pub fn pod_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = pod_spec_and_extras(new);
    let (os, ns) = (spec(old), spec(new));
    for list in ["containers", "initContainers"] {
        let (oc, nc) = (list_of(os, list), list_of(ns, list));
        if oc.len() != nc.len() {
            errs.push(FieldError::forbidden(
                format!("spec.{list}"),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in nc.iter().enumerate() {
            let image = str_of(c, "image");
            if image.is_empty() {
                errs.push(FieldError::required(format!("spec.{list}[{i}].image"), ""));
            }
        }
    }
    match (
        ns.get("activeDeadlineSeconds").and_then(Value::as_i64),
        os.get("activeDeadlineSeconds").and_then(Value::as_i64),
    ) {
        (Some(n), old_ads) => {
            if !(0..=2_147_483_647).contains(&n) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    n,
                    &super::checks::inclusive_range(0, 2_147_483_647),
                ));
                return errs;
            }
            if old_ads.is_some_and(|o| o < n) {
                errs.push(FieldError::invalid(
                    "spec.activeDeadlineSeconds",
                    n,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }
    let old_tol = list_of(os, "tolerations");
    let new_tol = list_of(ns, "tolerations");
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        normalized(&t)
    };
    let kept = old_tol
        .iter()
        .all(|o| new_tol.iter().any(|n| strip(o) == strip(n)));
    if !kept {
        errs.push(FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        errs.extend(pod::tolerations(new_tol, "spec.tolerations"));
    }
    let mut munged = ns.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (i, c) in cs.iter_mut().enumerate() {
                    if let (Some(cm), Some(old_image)) = (
                        c.as_object_mut(),
                        os.get(list)
                            .and_then(|l| l.get(i))
                            .and_then(|o| o.get("image")),
                    ) {
                        cm.insert("image".into(), old_image.clone());
                    }
                }
            }
        }
        for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match os.get(field) {
                Some(v) => m.insert(field.into(), v.clone()),
                None => m.remove(field),
            };
        }
        let old_grace = os
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64);
        let new_grace = m
            .get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64);
        if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
            m.insert(
                "terminationGracePeriodSeconds".into(),
                Value::from(old_grace.unwrap_or(0)),
            );
        }
    }
    if normalized(&munged) != normalized(os) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n{}",
                spec_diff("core.PodSpec", os, &munged)
            ),
        ));
    }
    errs
}

/// A value with nulls, empty lists and empty maps removed (upstream's semantic equality treats
/// nil and empty alike).
pub fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let n = normalized(v);
                let empty = match &n {
                    Value::Null => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if !empty {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// A short diff of two specs in the spirit of upstream's `cmp.Diff` (top-level fields only).
pub fn spec_diff(type_name: &str, old: &Value, new: &Value) -> String {
    let (o, n) = (normalized(old), normalized(new));
    let empty = Map::new();
    let om = o.as_object().unwrap_or(&empty);
    let nm = n.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = om.keys().chain(nm.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = format!("  {type_name}{{\n");
    for k in keys {
        let (a, b) = (om.get(k.as_str()), nm.get(k.as_str()));
        if a == b {
            continue;
        }
        let field = {
            let mut c = k.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        };
        if let Some(a) = a {
            out.push_str(&format!("- \t{field}: {a},\n"));
        }
        if let Some(b) = b {
            out.push_str(&format!("+ \t{field}: {b},\n"));
        }
    }
    out.push_str("  }\n");
    out
}

/// Upstream `ValidatePodTemplate` (after metadata).
pub fn pod_template(obj: &Value) -> Vec<FieldError> {
    pod::template(obj.get("template"), "template")
}

/// Upstream `ValidateReplicationControllerSpec`.
pub fn replication_controller(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = pod::nonneg(
        s.get("minReadySeconds").and_then(Value::as_i64),
        "spec.minReadySeconds",
    );
    let selector = obj_of(s, "selector");
    if selector.is_none_or(|m| m.is_empty()) {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(pod::nonneg(
        s.get("replicas").and_then(Value::as_i64),
        "spec.replicas",
    ));
    match s.get("template").filter(|v| v.is_object()) {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(tpl) => {
            let tpl_labels = pod::template_labels(Some(tpl));
            if let Some(sel) = selector.filter(|m| !m.is_empty()) {
                let matches = sel
                    .iter()
                    .all(|(k, v)| tpl_labels.and_then(|l| l.get(k)) == Some(v));
                if !matches {
                    errs.push(FieldError::invalid_shown(
                        "spec.template.metadata.labels",
                        go_string_map(tpl_labels),
                        "`selector` does not match template `labels`",
                    ));
                }
            }
            errs.extend(pod::template(Some(tpl), "spec.template"));
            let rp = tpl
                .pointer("/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or("");
            if rp != "Always" {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["Always"],
                ));
            }
            if tpl
                .pointer("/spec/activeDeadlineSeconds")
                .is_some_and(|v| !v.is_null())
            {
                errs.push(FieldError::forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidateConfigMap` (after metadata).
pub fn config_map(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    let binary = obj_of(obj, "binaryData");
    if let Some(data) = obj_of(obj, "data") {
        for k in sorted_keys(data) {
            let p = key("data", k);
            errs.extend(invalid_each(&p, k, config_key_errors(k)));
            if binary.is_some_and(|b| b.contains_key(k.as_str())) {
                errs.push(FieldError::invalid(
                    &p,
                    k.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
            total += data[k.as_str()].as_str().map_or(0, str::len);
        }
    }
    if let Some(bin) = binary {
        for k in sorted_keys(bin) {
            errs.extend(invalid_each(&key("binaryData", k), k, config_key_errors(k)));
            total += bin[k.as_str()].as_str().map_or(0, base64_decoded_len);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

/// The `immutable` rules shared by ConfigMaps and Secrets on update.
fn immutable_data(old: &Value, new: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
        for f in fields {
            if normalized(old.get(*f).unwrap_or(&Value::Null))
                != normalized(new.get(*f).unwrap_or(&Value::Null))
            {
                errs.push(FieldError::forbidden(
                    *f,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidateConfigMapUpdate` (after metadata).
pub fn config_map_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = immutable_data(old, new, &["data", "binaryData"]);
    errs.extend(config_map(new));
    errs
}

fn base64_decoded_len(s: &str) -> usize {
    let trimmed = s.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The error Go's `json.Unmarshal` gives for common malformed inputs.
fn go_json_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Map<String, Value>>(bytes) {
        Ok(_) => None,
        Err(_) => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            Some(match first {
                None => "unexpected end of JSON input".to_string(),
                Some(b'{') => "unexpected end of JSON input".to_string(),
                Some(b) if b"[\"0123456789-tfn".contains(b) => {
                    "json: cannot unmarshal value into Go value of type map[string]interface {}"
                        .to_string()
                }
                Some(b) => format!(
                    "invalid character '{}' looking for beginning of value",
                    *b as char
                ),
            })
        }
    }
}

/// Upstream `ValidateSecret` (after metadata).
pub fn secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data = obj_of(obj, "data");
    let mut total = 0usize;
    if let Some(data) = data {
        for k in sorted_keys(data) {
            errs.extend(invalid_each(&key("data", k), k, config_key_errors(k)));
            total += data[k.as_str()].as_str().map_or(0, base64_decoded_len);
        }
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let bytes = |k: &str| {
        data.and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .and_then(base64_decode)
            .unwrap_or_default()
    };
    match str_of(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let annotation = obj
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("");
            if annotation.is_empty() {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        t @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let k = if t == "kubernetes.io/dockercfg" {
                ".dockercfg"
            } else {
                ".dockerconfigjson"
            };
            if !has(k) {
                errs.push(FieldError::required(key("data", k), ""));
            } else if let Some(e) = go_json_error(&bytes(k)) {
                errs.push(FieldError::invalid(
                    key("data", k),
                    "<secret contents redacted>",
                    &e,
                ));
            }
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" if bytes("ssh-privatekey").is_empty() => {
            errs.push(FieldError::required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !has(k) {
                    errs.push(FieldError::required(key("data", k), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Upstream `ValidateSecretUpdate` (after metadata).
pub fn secret_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (ot, nt) = (str_of(old, "type"), str_of(new, "type"));
    if ot != nt {
        errs.push(FieldError::invalid("type", nt, IMMUTABLE_MSG));
    }
    errs.extend(immutable_data(old, new, &["data"]));
    errs.extend(secret(new));
    errs
}

/// Upstream `ValidateNamespace` (after metadata): finalizer names in the spec.
pub fn namespace(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in list_of(spec(obj), "finalizers")
        .iter()
        .filter_map(Value::as_str)
    {
        errs.extend(qualified_name(f, "spec.finalizers"));
        errs.extend(super::meta::kube_finalizer_name(f, "spec.finalizers"));
    }
    errs
}

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// Upstream `ValidatePersistentVolumeClaimSpec`.
pub fn pvc_spec(s: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = list_of(s, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(
            child(path, "accessModes"),
            "at least 1 access mode is required",
        ));
    }
    errs.extend(super::checks::label_selector(
        s.get("selector"),
        &child(path, "selector"),
    ));
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(
                child(path, "accessModes"),
                m,
                &ACCESS_MODES,
            ));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(
            child(path, "accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage_path = key(&child(path, "resources"), "storage");
    match s.pointer("/resources/requests/storage") {
        None | Some(Value::Null) => errs.push(FieldError::required(storage_path, "")),
        Some(v) => match quantity_at(v, &storage_path) {
            Err(e) => errs.push(*e),
            Ok(q) if q.nanos <= 0 => errs.push(FieldError::invalid(
                storage_path,
                q.canonical(),
                "must be greater than zero",
            )),
            Ok(q) => errs.extend(resource_quantity_value("storage", &q, &storage_path)),
        },
    }
    if let Some(sc) = s
        .get("storageClassName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        errs.extend(dns1123_subdomain(sc, &child(path, "storageClassName")));
    }
    if let Some(vm) = s.get("volumeMode").and_then(Value::as_str) {
        if vm != "Block" && vm != "Filesystem" {
            errs.push(FieldError::not_supported(
                child(path, "volumeMode"),
                vm,
                &["Block", "Filesystem"],
            ));
        }
    }
    for field in ["dataSource", "dataSourceRef"] {
        if let Some(ds) = s.get(field).filter(|v| v.is_object()) {
            let p = child(path, field);
            for f in ["name", "kind"] {
                if str_of(ds, f).is_empty() {
                    errs.push(FieldError::required(child(&p, f), ""));
                }
            }
            let group = str_of(ds, "apiGroup");
            if group.is_empty() && str_of(ds, "kind") != "PersistentVolumeClaim" {
                errs.push(FieldError::invalid(
                    &p,
                    str_of(ds, "kind"),
                    "must be 'PersistentVolumeClaim' when referencing the default apiGroup",
                ));
            } else if !group.is_empty() {
                errs.extend(dns1123_subdomain(group, &child(&p, "apiGroup")));
            }
        }
    }
    errs
}

/// Upstream `ValidatePersistentVolumeClaim` (after metadata).
pub fn pvc(obj: &Value) -> Vec<FieldError> {
    pvc_spec(spec(obj), "spec")
}

/// Upstream `ValidatePersistentVolumeClaimUpdate` (after metadata): the spec is immutable
/// except `resources.requests` of bound claims (which may only grow), and `volumeName` while
/// unset.
pub fn pvc_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = pvc(new);
    let (os, ns) = (spec(old), spec(new));
    let mut old_clone = os.clone();
    let mut new_clone = ns.clone();
    if str_of(os, "volumeName").is_empty() {
        if let (Some(o), Some(v)) = (old_clone.as_object_mut(), ns.get("volumeName")) {
            o.insert("volumeName".into(), v.clone());
        }
    }
    let phase = new
        .pointer("/status/phase")
        .or_else(|| old.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if phase == "Bound" {
        let old_storage = os.pointer("/resources/requests/storage").cloned();
        if let Some(req) = new_clone
            .pointer_mut("/resources/requests")
            .and_then(Value::as_object_mut)
        {
            match old_storage {
                Some(v) => req.insert("storage".into(), v),
                None => req.remove("storage"),
            };
        }
        if let (Some(n), Some(v)) = (
            new_clone.as_object_mut(),
            os.get("volumeAttributesClassName"),
        ) {
            n.insert("volumeAttributesClassName".into(), v.clone());
        }
    }
    if normalized(&old_clone) != normalized(&new_clone) {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                spec_diff("core.PersistentVolumeClaimSpec", &old_clone, &new_clone)
            ),
        ));
    }
    let storage = |s: &Value| {
        s.pointer("/resources/requests/storage")
            .and_then(Quantity::from_json)
    };
    if let (Some(o), Some(n)) = (storage(os), storage(ns)) {
        if n.nanos < o.nanos {
            let capacity = old
                .pointer("/status/capacity/storage")
                .and_then(Quantity::from_json);
            if n.nanos <= capacity.map_or(0, |c| c.nanos) {
                errs.push(FieldError::forbidden(
                    "spec.resources.requests.storage",
                    "field can not be less than status.capacity",
                ));
            }
        }
    }
    if os.get("volumeMode") != ns.get("volumeMode") {
        errs.push(FieldError::invalid(
            "volumeMode",
            ns.get("volumeMode").cloned().unwrap_or(Value::Null),
            IMMUTABLE_MSG,
        ));
    }
    errs
}

/// Upstream `ValidateResourceQuotaSpec` (hard limits: names and quantities).
pub fn resource_quota(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(hard) = spec(obj).get("hard").and_then(Value::as_object) {
        for k in sorted_keys(hard) {
            let p = key("spec.hard", k);
            errs.extend(resource_name(k, &p));
            match quantity_at(&hard[k.as_str()], &p) {
                Ok(q) => errs.extend(resource_quantity_value(k, &q, &p)),
                Err(e) => errs.push(*e),
            }
        }
    }
    errs
}
