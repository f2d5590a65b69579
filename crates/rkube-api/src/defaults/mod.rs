//! Upstream defaulting of built-in kinds, as a pure function over JSON objects.
//!
//! [`apply_defaults`] fills in what upstream's defaulters (`pkg/apis/*/v1/defaults.go` and the
//! generated declarative defaults) fill in, so objects read back look as they do on a real
//! cluster: a pod gets `restartPolicy: Always`, `dnsPolicy: ClusterFirst`, per-container
//! `imagePullPolicy`, `terminationMessagePath` and probe timings; a Deployment gets its
//! rolling-update strategy; a Service its `sessionAffinity` and `targetPort`s; a Secret's
//! `stringData` is merged into base64 `data`. Defaulting only sets what is unset, so applying
//! it twice changes nothing.
//!
//! A few registry-strategy steps that must run before validation are here too, as separate
//! functions: [`prepare_job_for_create`] (the generated Job selector and labels) and
//! [`prepare_service_update`] (keep allocated cluster IPs and node ports on update, and drop
//! the fields a new Service type does not use).
//! The Pod defaults also set `serviceAccountName: default`, which upstream's ServiceAccount
//! admission plugin does.
//!
//! Values of the wrong JSON type are left alone; nothing here panics.

mod core;
mod pod;
mod workloads;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use self::core::prepare_service_update;
pub use self::workloads::prepare_job_for_create;

/// Applies upstream's defaults for kind `group/version, Kind=kind` to `obj` in place.
pub fn apply_defaults(group: &str, version: &str, kind: &str, obj: &mut Value) {
    let _ = version;
    match (group, kind) {
        ("", "Pod") => pod::pod(obj),
        ("", "PodTemplate") => {
            if let Some(tpl) = child_obj(obj, "template") {
                pod::template(tpl);
            }
        }
        ("", "ReplicationController") => workloads::replication_controller(obj),
        ("", "Service") => self::core::service(obj),
        ("", "Secret") => self::core::secret(obj),
        ("", "Namespace") => self::core::namespace(obj),
        ("", "PersistentVolumeClaim") => self::core::pvc(obj),
        ("", "PersistentVolume") => self::core::pv(obj),
        ("", "Endpoints") => self::core::endpoints(obj),
        ("", "LimitRange") => self::core::limit_range(obj),
        ("", "Node") => self::core::node(obj),
        ("apps", "Deployment") => workloads::deployment(obj),
        ("apps", "ReplicaSet") => workloads::replica_set(obj),
        ("apps", "StatefulSet") => workloads::stateful_set(obj),
        ("apps", "DaemonSet") => workloads::daemon_set(obj),
        ("batch", "Job") => workloads::job(obj),
        ("batch", "CronJob") => workloads::cron_job(obj),
        ("networking.k8s.io", "NetworkPolicy") => self::core::network_policy(obj),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            self::core::role_binding(obj)
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(m) = obj.as_object_mut() {
                set_if_unset(m, "preemptionPolicy", "PreemptLowerPriority");
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            if let Some(m) = obj.as_object_mut() {
                set_if_unset(m, "reclaimPolicy", "Delete");
                set_if_unset(m, "volumeBindingMode", "Immediate");
            }
        }
        _ => {}
    }
}

/// The object at `key` of `v`, created when absent or null. `None` when `v` is not an object
/// or `key` holds something other than an object.
pub(crate) fn child_obj<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = v.as_object_mut()?;
    obj_in(map, key)
}

/// The object at `key` of a map, created when absent or null.
pub(crate) fn obj_in<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let entry = map.entry(key.to_string()).or_insert(Value::Null);
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// The object at `key` of a map, only when it already is one.
pub(crate) fn existing<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// True when `key` is absent or null (a nil pointer in Go).
pub(crate) fn unset(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_none_or(Value::is_null)
}

/// True when `key` is absent, null or `""` (an empty Go string).
pub(crate) fn empty_str(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// True when `key` is absent, null or `0` (an unset Go integer).
pub(crate) fn zero_int(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Sets `key` when it is absent or null.
pub(crate) fn set_if_unset(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    if unset(map, key) {
        map.insert(key.to_string(), value.into());
    }
}

/// Sets a string `key` when it is absent, null or empty.
pub(crate) fn set_if_empty(map: &mut Map<String, Value>, key: &str, value: &str) {
    if empty_str(map, key) {
        map.insert(key.to_string(), Value::from(value));
    }
}

/// Calls `f` on every object in the list at `key`.
pub(crate) fn each_obj(
    map: &mut Map<String, Value>,
    key: &str,
    mut f: impl FnMut(&mut Map<String, Value>),
) {
    if let Some(Value::Array(items)) = map.get_mut(key) {
        for item in items.iter_mut() {
            if let Some(m) = item.as_object_mut() {
                f(m);
            }
        }
    }
}

/// Standard base64 with padding (Secret `data`).
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
