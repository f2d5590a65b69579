//! The resource registry: one [`ResourceInfo`] per (group, version, resource) that the API
//! serves. Everything generic in the API server (discovery, routing, storage keys, field
//! selectors, tables) is driven by this table.

/// A subresource such as `pods/status` or `deployments/scale`.
#[derive(Debug, Clone, Copy)]
pub struct Subresource {
    /// e.g. "status", "scale", "binding", "eviction", "log", "exec".
    pub name: &'static str,
    /// The kind served/accepted by the subresource (responseKind in discovery).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One resource of one group-version.
#[derive(Debug, Clone, Copy)]
pub struct ResourceInfo {
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural, the URL segment (e.g. "pods").
    pub plural: &'static str,
    /// Lower-case singular (e.g. "pod").
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field-selector fields beyond `metadata.name` and `metadata.namespace` (which every
    /// resource supports), as dotted JSON paths (e.g. "spec.nodeName", "status.phase").
    pub fields: &'static [&'static str],
    /// The storage segment of the key `/registry/<storage>/<ns>/<name>`. Versions of one
    /// resource (autoscaling/v1 and v2 HPAs) share it.
    pub storage: &'static str,
    /// Whether writes to the main resource ignore `status` (true when a `status` subresource
    /// exists).
    pub has_status: bool,
}

/// The usual verbs of a resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// "pods" or "deployments.apps", as upstream error messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// Storage key prefix for all objects of this resource (ends with '/').
    pub fn key_prefix(&self) -> String {
        format!("/registry/{}/", self.storage)
    }

    /// Storage key prefix for one namespace (namespaced resources) (ends with '/').
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("/registry/{}/{}/", self.storage, namespace)
    }

    /// Storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/{}", self.storage, ns, name),
            _ => format!("/registry/{}/{}", self.storage, name),
        }
    }
}

/// A group and its versions, preferred version first.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: &'static str,
    pub versions: Vec<&'static str>,
}

mod resources;
pub use resources::all;

/// Look up a resource by group, version and plural.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    all()
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Look up a resource by group, version and kind.
pub fn lookup_kind(group: &str, version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    all()
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// All groups (excluding the core group), in discovery order, each with its versions,
/// preferred first.
pub fn groups() -> Vec<GroupInfo> {
    let mut out: Vec<GroupInfo> = Vec::new();
    for r in all().iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|g| g.name == r.group) {
            Some(g) => {
                if !g.versions.contains(&r.version) {
                    g.versions.push(r.version)
                }
            }
            None => out.push(GroupInfo {
                name: r.group,
                versions: vec![r.version],
            }),
        }
    }
    out
}

/// Resources of one group-version, in registry order.
pub fn resources_of<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    all()
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}
