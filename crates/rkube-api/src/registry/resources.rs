//! The table of built-in resources (Kubernetes v1.33).
//!
//! Facts (short names, categories, verbs, subresources and their response kinds) follow what a
//! v1.33 kube-apiserver serves in discovery; selectable fields follow the upstream field-label
//! conversion functions; storage segments follow the upstream etcd layout
//! (`SpecialDefaultResourcePrefixes`, and the group-prefixed keys of the apiextensions and
//! aggregator servers).
//!
//! Groups are listed in the order upstream `/apis` lists them (the aggregator's group
//! priorities), the core group first; resources inside a group-version are sorted by name as
//! upstream discovery sorts them. The table is split by area into submodules and concatenated
//! once, on first use.

use std::sync::LazyLock;

use super::{ResourceInfo, Subresource, ALL_VERBS};

mod access;
mod core_group;
mod infra;
mod workloads;

/// Verbs of status-like subresources (`status`, `scale`, `ephemeralcontainers`, `resize`, ...).
pub(super) const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Verbs of create-only resources and subresources.
pub(super) const CREATE: &[&str] = &["create"];
/// Verbs of the streaming subresources (`exec`, `attach`, `portforward`).
pub(super) const CREATE_GET: &[&str] = &["create", "get"];
/// Verbs of the `proxy` subresources: every HTTP method discovery can name.
pub(super) const PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];
/// The `all` category (`kubectl get all`).
pub(super) const CAT_ALL: &[&str] = &["all"];
/// The `api-extensions` category.
pub(super) const CAT_API_EXTENSIONS: &[&str] = &["api-extensions"];

/// A resource with the usual defaults: every verb, no short names, categories, subresources or
/// extra fields, stored under its plural.
pub(super) const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: ALL_VERBS,
        subresources: &[],
        fields: &[],
        storage: plural,
        has_status: false,
    }
}

/// A subresource answering with `group/version, kind`.
pub(super) const fn sub(
    name: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        group,
        version,
        kind,
        verbs,
    }
}

/// The `status` subresource of a kind (get, patch, update of the kind itself).
pub(super) const fn status(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
) -> Subresource {
    sub("status", group, version, kind, GET_PATCH_UPDATE)
}

/// The `scale` subresource, answering with an autoscaling/v1 Scale.
pub(super) const fn scale() -> Subresource {
    sub("scale", "autoscaling", "v1", "Scale", GET_PATCH_UPDATE)
}

/// Each group's resources, core first, then in upstream `/apis` order.
const TABLE: &[&[ResourceInfo]] = &[
    core_group::CORE_V1,
    access::APIREGISTRATION_V1,
    workloads::APPS_V1,
    infra::EVENTS_V1,
    access::AUTHENTICATION_V1,
    access::AUTHORIZATION_V1,
    workloads::AUTOSCALING_V2,
    workloads::AUTOSCALING_V1,
    workloads::BATCH_V1,
    access::CERTIFICATES_V1,
    infra::NETWORKING_V1,
    workloads::POLICY_V1,
    access::RBAC_V1,
    infra::STORAGE_V1,
    access::ADMISSIONREGISTRATION_V1,
    access::APIEXTENSIONS_V1,
    infra::SCHEDULING_V1,
    infra::COORDINATION_V1,
    infra::NODE_V1,
    infra::DISCOVERY_V1,
    access::FLOWCONTROL_V1,
];

static RESOURCES: LazyLock<Vec<ResourceInfo>> = LazyLock::new(|| {
    TABLE
        .iter()
        .flat_map(|group| group.iter().copied())
        .collect()
});

/// Every resource the API serves, grouped by group-version, preferred versions first.
pub fn all() -> &'static [ResourceInfo] {
    RESOURCES.as_slice()
}

#[cfg(test)]
mod tests;
