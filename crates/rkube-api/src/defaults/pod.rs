//! Pod and pod template defaults: upstream `SetDefaults_PodSpec`, `SetDefaults_Pod`,
//! `SetDefaults_Container`, probes, HTTP handlers, volumes, and the pod-only extras (requests
//! from limits, `enableServiceLinks`, host-network ports, the default service account).

use serde_json::{Map, Value};

use super::{each_obj, empty_str, existing, obj_in, set_if_empty, set_if_unset, unset, zero_int};

/// The keys of `VolumeSource`: a volume with none of them gets `emptyDir: {}`.
const VOLUME_SOURCES: [&str; 30] = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// Defaults of a Pod object.
pub fn pod(obj: &mut Value) {
    let Some(spec) = super::child_obj(obj, "spec") else {
        return;
    };
    // SetDefaults_Pod: requests default to limits, per container.
    for list in ["containers", "initContainers"] {
        each_obj(spec, list, requests_from_limits);
    }
    set_if_unset(spec, "enableServiceLinks", true);
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            each_obj(spec, list, |c| {
                each_obj(c, "ports", |p| {
                    if zero_int(p, "hostPort") {
                        if let Some(cp) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), cp);
                        }
                    }
                });
            });
        }
    }
    // The ServiceAccount admission plugin's default.
    if empty_str(spec, "serviceAccountName") && empty_str(spec, "serviceAccount") {
        spec.insert("serviceAccountName".into(), Value::from("default"));
    }
    pod_spec(spec);
}

/// Defaults of a pod template (`template` of a workload): the pod spec defaults only.
pub fn template(tpl: &mut Map<String, Value>) {
    if let Some(spec) = obj_in(tpl, "spec") {
        pod_spec(spec);
    }
}

fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(res) = existing(c, "resources") else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let Some(requests) = obj_in(res, "requests") else {
        return;
    };
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// `SetDefaults_PodSpec` plus the nested defaults of volumes and containers.
pub fn pod_spec(spec: &mut Map<String, Value>) {
    set_if_empty(spec, "dnsPolicy", "ClusterFirst");
    set_if_empty(spec, "restartPolicy", "Always");
    set_if_unset(spec, "securityContext", Map::new());
    set_if_unset(spec, "terminationGracePeriodSeconds", 30);
    set_if_empty(spec, "schedulerName", "default-scheduler");
    // The v1 conversion keeps the deprecated `serviceAccount` in step with
    // `serviceAccountName`.
    if empty_str(spec, "serviceAccountName") && !empty_str(spec, "serviceAccount") {
        if let Some(sa) = spec.get("serviceAccount").cloned() {
            spec.insert("serviceAccountName".into(), sa);
        }
    }
    if !empty_str(spec, "serviceAccountName") {
        if let Some(sa) = spec.get("serviceAccountName").cloned() {
            spec.insert("serviceAccount".into(), sa);
        }
    }
    each_obj(spec, "volumes", volume);
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        each_obj(spec, list, container);
    }
}

fn volume(v: &mut Map<String, Value>) {
    if VOLUME_SOURCES.iter().all(|k| unset(v, k)) {
        v.insert("emptyDir".into(), Value::Object(Map::new()));
    }
    if let Some(hp) = existing(v, "hostPath") {
        set_if_unset(hp, "type", "");
    }
    for kind in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = existing(v, kind) {
            set_if_unset(src, "defaultMode", 420);
        }
    }
    if let Some(d) = existing(v, "downwardAPI") {
        each_obj(d, "items", field_ref_api_version);
    }
    if let Some(p) = existing(v, "projected") {
        each_obj(p, "sources", |s| {
            if let Some(d) = existing(s, "downwardAPI") {
                each_obj(d, "items", field_ref_api_version);
            }
            if let Some(t) = existing(s, "serviceAccountToken") {
                set_if_unset(t, "expirationSeconds", 3600);
            }
        });
    }
    if let Some(iscsi) = existing(v, "iscsi") {
        set_if_empty(iscsi, "iscsiInterface", "default");
    }
    if let Some(rbd) = existing(v, "rbd") {
        set_if_empty(rbd, "pool", "rbd");
        set_if_empty(rbd, "user", "admin");
        set_if_empty(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(spec) = existing(v, "ephemeral")
        .and_then(|e| existing(e, "volumeClaimTemplate"))
        .and_then(|t| existing(t, "spec"))
    {
        set_if_unset(spec, "volumeMode", "Filesystem");
    }
}

fn field_ref_api_version(item: &mut Map<String, Value>) {
    if let Some(fr) = existing(item, "fieldRef") {
        set_if_empty(fr, "apiVersion", "v1");
    }
}

/// Upstream `parsers.ParseImageName`'s tag: `latest` when the image names neither a tag nor
/// a digest, empty when it names only a digest or does not parse.
pub fn image_tag(image: &str) -> &str {
    if image.is_empty() || image.trim() != image {
        return "";
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // The path (after an optional registry host) must be lower case.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.is_empty() || path.bytes().any(|b| b.is_ascii_uppercase()) {
        return "";
    }
    match (tag, digest) {
        (Some(t), _) => t,
        (None, Some(_)) => "",
        (None, None) => "latest",
    }
}

fn container(c: &mut Map<String, Value>) {
    if empty_str(c, "imagePullPolicy") {
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let policy = if image_tag(image) == "latest" {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.insert("imagePullPolicy".into(), Value::from(policy));
    }
    set_if_empty(c, "terminationMessagePath", "/dev/termination-log");
    set_if_empty(c, "terminationMessagePolicy", "File");
    each_obj(c, "ports", |p| set_if_empty(p, "protocol", "TCP"));
    each_obj(c, "env", |e| {
        if let Some(from) = existing(e, "valueFrom") {
            if let Some(fr) = existing(from, "fieldRef") {
                set_if_empty(fr, "apiVersion", "v1");
            }
        }
    });
    set_if_unset(c, "resources", Map::new());
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            for (k, v) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                if zero_int(p, k) {
                    p.insert(k.into(), Value::from(v));
                }
            }
            if let Some(h) = existing(p, "httpGet") {
                http_get(h);
            }
            if let Some(g) = existing(p, "grpc") {
                set_if_unset(g, "service", "");
            }
        }
    }
    if let Some(l) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(l, hook).and_then(|h| existing(h, "httpGet")) {
                http_get(h);
            }
        }
    }
}

fn http_get(h: &mut Map<String, Value>) {
    set_if_empty(h, "path", "/");
    set_if_empty(h, "scheme", "HTTP");
}
