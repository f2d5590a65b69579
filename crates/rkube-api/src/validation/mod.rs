//! Upstream semantic validation of built-in kinds, as pure functions over JSON objects.
//!
//! [`validate_create`] and [`validate_update`] return every problem as a [`FieldError`] whose
//! text matches what upstream Kubernetes puts in a 422 Invalid Status (`details.causes`), so
//! `kubectl` prints the same lines users know:
//!
//! ```text
//! The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value:
//! map[string]string{"app":"x"}: `selector` does not match template `labels`
//! ```
//!
//! Objects are expected to be defaulted first ([`crate::defaults::apply_defaults`]), as
//! upstream validates after defaulting; fields upstream requires but defaults (a pod's
//! `restartPolicy`, a Service's `sessionAffinity`) are reported as missing otherwise.
//!
//! Coverage:
//! - every kind: `metadata` (name per kind via [`crate::names`], generateName, namespace,
//!   labels, annotations, owner references, finalizers; name/namespace immutability);
//! - core: Pod (spec, containers, volumes, probes, resources, security contexts, tolerations,
//!   and the update rules), PodTemplate, ReplicationController, Service (ports, types, cluster
//!   IPs, traffic policies; cluster IPs immutable), ConfigMap and Secret (keys, sizes, types,
//!   `immutable`), Namespace, PersistentVolumeClaim (spec; update rules), ResourceQuota;
//! - apps/v1: Deployment, ReplicaSet, StatefulSet, DaemonSet (selectors, templates,
//!   strategies; selector immutability; the StatefulSet spec update rule);
//! - batch/v1: Job (generated selector, spec, immutable template), CronJob (schedule syntax,
//!   time zone, job template).
//!
//! Other kinds get the metadata checks only. Wrong JSON types never panic: such fields are
//! skipped (the typed decoding check reports them).

mod apps;
mod batch;
mod checks;
mod container;
mod core;
mod cron;
mod field;
mod meta;
mod pod;
mod service;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use crate::quantity::Quantity;
pub use field::{ErrorType, FieldError};

use crate::registry::{self, ResourceInfo};

/// The errors of a new object of kind `group/version, Kind=kind`, metadata first.
pub fn validate_create(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let info = registry::lookup_kind(group, version, kind);
    let mut errs = meta::create(obj, info);
    errs.extend(create_spec(group, kind, obj));
    field::dedup(errs)
}

/// The errors of a pod write through its `ephemeralcontainers` subresource; `new` must
/// already be defaulted.
pub fn validate_ephemeral_containers_update(old: &Value, new: &Value) -> Vec<FieldError> {
    field::dedup(pod::ephemeral_containers_update(old, new))
}

/// The errors of replacing `old` by `new`: the metadata update rules, the kind's rules for
/// `new`, and its immutable fields. `old` is defaulted here (upstream defaults every object it
/// decodes from storage), so objects stored before a default existed do not trip the
/// immutability rules; `new` must already be defaulted.
pub fn validate_update(
    group: &str,
    version: &str,
    kind: &str,
    old: &Value,
    new: &Value,
) -> Vec<FieldError> {
    let info = registry::lookup_kind(group, version, kind);
    let mut old = old.clone();
    crate::defaults::apply_defaults(group, version, kind, &mut old);
    let mut errs = meta::update(&old, new, info);
    errs.extend(update_spec(group, kind, &old, new, info));
    field::dedup(errs)
}

fn create_spec(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Pod") => core::pod_create(obj),
        ("", "PodTemplate") => core::pod_template(obj),
        ("", "ReplicationController") => core::replication_controller(obj),
        ("", "Service") => service::service(obj),
        ("", "ConfigMap") => core::config_map(obj),
        ("", "Secret") => core::secret(obj),
        ("", "Namespace") => core::namespace(obj),
        ("", "PersistentVolumeClaim") => core::pvc(obj),
        ("", "ResourceQuota") => core::resource_quota(obj),
        ("apps", "Deployment") => apps::deployment(obj),
        ("apps", "ReplicaSet") => apps::replica_set(obj),
        ("apps", "StatefulSet") => apps::stateful_set(obj),
        ("apps", "DaemonSet") => apps::daemon_set(obj),
        ("batch", "Job") => batch::job(obj),
        ("batch", "CronJob") => batch::cron_job(obj, None),
        _ => Vec::new(),
    }
}

fn update_spec(
    group: &str,
    kind: &str,
    old: &Value,
    new: &Value,
    info: Option<&ResourceInfo>,
) -> Vec<FieldError> {
    match (group, kind) {
        // Upstream re-validates a pod's metadata as on create (name rules included).
        ("", "Pod") => {
            let mut errs = meta_create_without_name_required(new, info);
            errs.extend(core::pod_update(old, new));
            errs
        }
        ("", "Service") => service::service_update(old, new),
        ("", "ConfigMap") => core::config_map_update(old, new),
        ("", "Secret") => core::secret_update(old, new),
        ("", "PersistentVolumeClaim") => core::pvc_update(old, new),
        ("", "Namespace") => Vec::new(),
        ("apps", "Deployment") => {
            let mut errs = apps::deployment(new);
            errs.extend(apps::selector_immutable(old, new));
            errs
        }
        ("apps", "ReplicaSet") => {
            let mut errs = apps::replica_set(new);
            errs.extend(apps::selector_immutable(old, new));
            errs
        }
        ("apps", "DaemonSet") => {
            let mut errs = apps::daemon_set(new);
            errs.extend(apps::selector_immutable(old, new));
            errs
        }
        ("apps", "StatefulSet") => apps::stateful_set_update(old, new),
        ("batch", "Job") => batch::job_update(old, new),
        ("batch", "CronJob") => batch::cron_job(new, Some(old)),
        _ => create_spec(group, kind, new),
    }
}

/// The create-time metadata checks other than those the update rules already made (pods are
/// re-validated as on create upstream; name and namespace cannot have changed by then).
fn meta_create_without_name_required(obj: &Value, info: Option<&ResourceInfo>) -> Vec<FieldError> {
    meta::create(obj, info)
        .into_iter()
        .filter(|e| {
            !e.field.starts_with("metadata.labels")
                && !e.field.starts_with("metadata.annotations")
                && !e.field.starts_with("metadata.ownerReferences")
                && !e.field.starts_with("metadata.finalizers")
        })
        .collect()
}
