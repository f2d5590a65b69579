//! Server-side apply and `metadata.managedFields`, as upstream's structured-merge-diff (v4/v6)
//! and the API server's field manager (`k8s.io/apimachinery/pkg/util/managedfields`) compute
//! them. Pure functions over `serde_json::Value` objects.
//!
//! # API
//!
//! - [`FieldManager`]: one kind (group, version, kind) and optionally a subresource
//!   (`status`, `scale`), with
//!   - [`FieldManager::apply`]: a server-side apply (`application/apply-patch+yaml`) of the
//!     user's partial object by a manager, with or without `force`. `live: None` creates the
//!     object from the configuration. The result carries the updated `metadata.managedFields`,
//!     or the apply fails with an [`ApplyError`] (409 conflicts, 400, 500) worded as upstream.
//!   - [`FieldManager::update`]: records a non-apply write (create, update/replace, any patch)
//!     in `metadata.managedFields` (operation `Update`). The API server calls it on every
//!     write: `kubectl create` → manager `kubectl-create`, client-side `kubectl apply` →
//!     `kubectl-client-side-apply`, `kubectl scale` → `kubectl` on the `scale` subresource, ….
//! - [`apply`] and [`track_update`]: the same as free functions.
//! - [`ManagedEntry`]: one `managedFields` entry, parsed or serialized.
//!
//! # What is tracked
//!
//! A manager's entry is `{manager, operation, apiVersion, time, fieldsType: "FieldsV1",
//! fieldsV1, subresource}`, one per (manager, operation, subresource), and for `Update` per
//! apiVersion too (an applier keeps one entry across versions). `fieldsV1` is upstream's trie:
//! `{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":
//! {".":{},"f:image":{}}}}}` with `f:` fields, `k:` key fields of list-map elements (sorted by
//! name, Go JSON), `v:` set elements, and `"."` when a node is owned itself and has owned
//! children. Entries are sorted as upstream sorts them (`Apply` before `Update`, then by time,
//! manager, apiVersion, subresource); an entry that owns nothing is dropped; an object with no
//! entry has no `managedFields`.
//!
//! Never owned: `apiVersion`, `kind`, `metadata` itself and its `name`, `namespace`, `uid`,
//! `resourceVersion`, `generation`, `creationTimestamp`, `selfLink`, `managedFields`
//! (upstream's stripped fields); and the strategy's reset fields: `status` on the main
//! resource of kinds with a status subresource, `spec` on the status subresource (plus
//! `metadata.labels` for Deployments, `metadata.deletionTimestamp` and
//! `metadata.ownerReferences` for Pods). [`FieldManager::with_reset_fields`] overrides these.
//!
//! # Apply
//!
//! - The configuration must be of the kind (`invalid object type: apps/v1, Kind=Foo`, 400) and
//!   must not carry `metadata.managedFields` (`metadata.managedFields must be nil`, 400).
//! - It must be well-formed for its schema: list-map elements with their keys, no duplicate
//!   elements, no undeclared fields of typed kinds; otherwise upstream's 500 text
//!   `failed to create typed patch object (ns/name; apps/v1, Kind=Deployment): .spec…: duplicate
//!   entries for key [name="c"]`.
//! - It is merged into the live object: scalars and atomic values replaced, maps merged key by
//!   key, list-map and set lists merged by element (upstream's element order). The applier
//!   then owns exactly the configuration's fields; what it owned before and no longer applies
//!   is removed from the object unless another manager owns it.
//! - A field another manager owns whose value the apply adds or changes is a conflict (409):
//!   `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1:
//!   .spec.replicas`, or `Apply failed with 2 conflicts: conflicts with "a" using v1:\n-
//!   .data.x\n- .data.y`. Applying the same value shares ownership. `force` takes the fields
//!   over instead.
//! - An object that has no managed fields yet first gets them all attributed to
//!   `before-first-apply` (operation `Update`), as upstream does.
//! - Manager `kubectl` (kubectl's server-side apply) may take over, without conflict, the fields
//!   of its client-side `last-applied-configuration` annotation that still match the live
//!   object; and when that annotation exists it is rewritten from the applied configuration.
//! - An apply that changes nothing returns the live object and does not touch the applier's
//!   time; otherwise its time becomes `now`.
//!
//! # Update
//!
//! - Fields the write added or changed go to the writer and leave every other manager; fields
//!   it removed leave every manager. An unchanged write leaves entries (and times) as they are.
//! - `managedFields` sent in the body of a main-resource write replace the stored ones (as
//!   upstream allows); `[]` or `[{}]` resets them, and then nothing is tracked until the next
//!   apply. An object without managed fields is not tracked by updates (upstream's
//!   skip-non-applied behaviour); creations always are.
//! - More than 10 `Update` entries: the oldest are merged into `ancient-changes` per
//!   apiVersion.
//!
//! # Differences from upstream
//!
//! - Objects of other versions are compared as they are (no conversion between versions).
//! - Defaulting, the strategy's reset of `status`/`spec` in the object, and admission are the
//!   caller's: upstream defaults the merged object after apply.
//! - On creation, upstream compares against the Go zero value of the type, whose value-typed
//!   struct fields exist already; a table of the common ones (top-level `spec`/`status`,
//!   `metadata`, pod templates, deployment and set strategies, role refs, …) stands for it, so
//!   other non-pointer structs of created objects may show an extra `".": {}`.
//! - Schema validation of applied configurations covers list keys, duplicates and undeclared
//!   fields, not scalar types (the API server's typed decoding checks those first).

mod fieldpath;
mod schema;
#[cfg(test)]
mod tests;
mod typed;
mod updater;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use fieldpath::{go_json, go_quote, path_string, write_go_string, PathElement, Set};
use schema::{Atom, Types, OBJECT_META};
use typed::Typed;
use updater::{Failure, Managers, RawConflict, Updater, VersionedSet};

/// The annotation of kubectl's client-side apply.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The maximum number of `Update` entries before the oldest are merged.
const MAX_UPDATE_MANAGERS: usize = 10;
/// The transient manager an update is first recorded under.
const CURRENT_OPERATION: &str = "current-operation";

/// Struct fields that are Go values (not pointers) in the upstream types: present in the zero
/// object a creation is compared with. (definition, field)
const VALUE_STRUCT_FIELDS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.PodTemplateSpec", "spec"),
    ("io.k8s.api.core.v1.PodTemplate", "template"),
    ("io.k8s.api.batch.v1.JobTemplateSpec", "spec"),
    ("io.k8s.api.batch.v1.JobSpec", "template"),
    ("io.k8s.api.batch.v1.CronJobSpec", "jobTemplate"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "template"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
    ("io.k8s.api.apps.v1.ReplicaSetSpec", "template"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "template"),
    ("io.k8s.api.apps.v1.StatefulSetSpec", "updateStrategy"),
    ("io.k8s.api.apps.v1.DaemonSetSpec", "template"),
    ("io.k8s.api.apps.v1.DaemonSetSpec", "updateStrategy"),
    ("io.k8s.api.rbac.v1.RoleBinding", "roleRef"),
    ("io.k8s.api.rbac.v1.ClusterRoleBinding", "roleRef"),
    (
        "io.k8s.api.autoscaling.v1.HorizontalPodAutoscalerSpec",
        "scaleTargetRef",
    ),
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        "scaleTargetRef",
    ),
    ("io.k8s.api.core.v1.ServiceStatus", "loadBalancer"),
];

/// List fields without `omitempty` in the upstream types: `null` in the zero object.
const NULL_LIST_FIELDS: &[(&str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "containers"),
    ("io.k8s.api.rbac.v1.Role", "rules"),
    ("io.k8s.api.rbac.v1.ClusterRole", "rules"),
];

// ---------------------------------------------------------------------------------------------
// Public types

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    /// RFC 3339, seconds.
    pub time: Option<String>,
    /// `FieldsV1`.
    pub fields_type: String,
    pub fields_v1: Value,
    pub subresource: Option<String>,
}

impl ManagedEntry {
    /// Parses one entry (missing fields are empty).
    pub fn from_value(v: &Value) -> ManagedEntry {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let opt = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        ManagedEntry {
            manager: s("manager"),
            operation: s("operation"),
            api_version: s("apiVersion"),
            time: opt("time"),
            fields_type: s("fieldsType"),
            fields_v1: v.get("fieldsV1").cloned().unwrap_or(Value::Null),
            subresource: opt("subresource"),
        }
    }

    /// The entry as upstream serializes it (fields in Go struct order, empty ones omitted).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                m.insert(k.to_string(), Value::from(v));
            }
        };
        put("manager", &self.manager);
        put("operation", &self.operation);
        put("apiVersion", &self.api_version);
        put("time", self.time.as_deref().unwrap_or_default());
        put("fieldsType", &self.fields_type);
        if !self.fields_v1.is_null() {
            m.insert("fieldsV1".to_string(), self.fields_v1.clone());
        }
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            m.insert("subresource".to_string(), Value::from(sub));
        }
        Value::Object(m)
    }

    /// The entries of an object's `metadata.managedFields`.
    pub fn list(obj: &Value) -> Vec<ManagedEntry> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(ManagedEntry::from_value).collect())
            .unwrap_or_default()
    }
}

/// A field another manager owns that an apply would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The other manager's name (`kubectl-client-side-apply`).
    pub manager: String,
    /// Its operation (`Apply` or `Update`).
    pub operation: String,
    /// Its apiVersion (for `Update` entries).
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field as upstream prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="c"].image`.
    pub field: String,
    /// The manager identifier (upstream groups and sorts by it).
    id: String,
    path: Vec<PathElement>,
}

impl Conflict {
    /// The manager as upstream names it in messages: `"kubectl" using apps/v1`,
    /// `"kubectl" with subresource "scale" using apps/v1`, `"other-applier"`.
    pub fn manager_description(&self) -> String {
        print_manager(&self.id)
    }
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    /// 409 Conflict: fields owned by other managers.
    Conflict(Vec<Conflict>),
    /// 400 Bad Request.
    BadRequest(String),
    /// 500, reason "" (upstream answers malformed configurations so).
    Internal(String),
}

impl ApplyError {
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflict(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Internal(_) => 500,
        }
    }

    /// The Status reason ("" for internal errors).
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Conflict(_) => "Conflict",
            ApplyError::BadRequest(_) => "BadRequest",
            ApplyError::Internal(_) => "",
        }
    }

    /// Upstream's message.
    pub fn message(&self) -> String {
        match self {
            ApplyError::Conflict(conflicts) => conflict_message(conflicts),
            ApplyError::BadRequest(msg) | ApplyError::Internal(msg) => msg.clone(),
        }
    }

    /// The `Status` body upstream answers with (conflicts list `FieldManagerConflict` causes).
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
        });
        if !self.reason().is_empty() {
            status["reason"] = Value::from(self.reason());
        }
        if let ApplyError::Conflict(conflicts) = self {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|c| {
                    json!({
                        "reason": "FieldManagerConflict",
                        "message": format!("conflict with {}", c.manager_description()),
                        "field": c.field,
                    })
                })
                .collect();
            status["details"] = json!({ "causes": causes });
        }
        status["code"] = Value::from(self.code());
        status
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ApplyError {}

fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.field
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&Conflict>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(c.id.as_str()).or_default().push(c);
    }
    let mut lines = Vec::new();
    for (id, group) in by_manager {
        lines.push(format!("conflicts with {}:", print_manager(id)));
        for c in group {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// Manager identifiers and the managedFields encoding

/// Upstream's manager identifier: the entry's JSON without fields, time, and (for appliers)
/// apiVersion.
fn identifier(
    manager: &str,
    operation: &str,
    api_version: &str,
    subresource: Option<&str>,
) -> String {
    let mut out = String::from("{");
    let mut first = true;
    let mut put = |out: &mut String, k: &str, v: &str| {
        if v.is_empty() {
            return;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_go_string(out, k);
        out.push(':');
        write_go_string(out, v);
    };
    put(&mut out, "manager", manager);
    put(&mut out, "operation", operation);
    if operation != "Apply" {
        put(&mut out, "apiVersion", api_version);
    }
    put(&mut out, "subresource", subresource.unwrap_or_default());
    out.push('}');
    out
}

fn parse_identifier(id: &str) -> Option<ManagedEntry> {
    serde_json::from_str::<Value>(id)
        .ok()
        .filter(Value::is_object)
        .map(|v| ManagedEntry::from_value(&v))
}

/// Upstream's `printManager`.
fn print_manager(id: &str) -> String {
    let Some(entry) = parse_identifier(id) else {
        return go_quote(id);
    };
    let mut out = go_quote(&entry.manager);
    if let Some(sub) = &entry.subresource {
        out = format!("{out} with subresource {}", go_quote(sub));
    }
    if entry.operation == "Update" {
        out = format!("{out} using {}", entry.api_version);
    }
    out
}

type Times = BTreeMap<String, Option<String>>;

/// Decodes `managedFields` (upstream's errors).
fn decode_managed(entries: Option<&Value>) -> Result<(Managers, Times), String> {
    let mut managers = Managers::new();
    let mut times = Times::new();
    let items = match entries {
        None | Some(Value::Null) => return Ok((managers, times)),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("managedFields must be a list".to_string()),
    };
    for (i, item) in items.iter().enumerate() {
        let entry = ManagedEntry::from_value(item);
        if entry.operation != "Apply" && entry.operation != "Update" {
            return Err("operation must be `Apply` or `Update`".to_string());
        }
        if entry.api_version.is_empty() {
            return Err("apiVersion must not be empty".to_string());
        }
        match entry.fields_type.as_str() {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!(
                    "invalid fieldsType {} in managed fields entry {i}",
                    go_quote(other)
                ))
            }
        }
        let id = identifier(
            &entry.manager,
            &entry.operation,
            &entry.api_version,
            entry.subresource.as_deref(),
        );
        let set = match &entry.fields_v1 {
            Value::Null => Set::new(),
            fields => Set::from_fields_v1(fields)
                .map_err(|e| format!("error decoding versioned set: error decoding set: {e}"))?,
        };
        managers.insert(
            id.clone(),
            VersionedSet {
                set,
                api_version: entry.api_version.clone(),
                applied: entry.operation == "Apply",
            },
        );
        times.insert(id, entry.time.clone());
    }
    Ok((managers, times))
}

fn time_seconds(t: Option<&str>) -> i64 {
    t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// Encodes managers as upstream does (sorted; `None` when there is none).
fn encode_managed(managers: &Managers, times: &Times) -> Option<Value> {
    if managers.is_empty() {
        return None;
    }
    let mut entries: Vec<ManagedEntry> = managers
        .iter()
        .map(|(id, vs)| {
            let base = parse_identifier(id).unwrap_or_else(|| ManagedEntry {
                manager: id.clone(),
                operation: String::new(),
                api_version: String::new(),
                time: None,
                fields_type: String::new(),
                fields_v1: Value::Null,
                subresource: None,
            });
            ManagedEntry {
                operation: if vs.applied {
                    "Apply".to_string()
                } else {
                    base.operation
                },
                api_version: vs.api_version.clone(),
                time: times.get(id).cloned().flatten(),
                fields_type: "FieldsV1".to_string(),
                fields_v1: vs.set.to_fields_v1(),
                ..base
            }
        })
        .collect();
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| time_seconds(p.time.as_deref()).cmp(&time_seconds(q.time.as_deref())))
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| p.subresource.cmp(&q.subresource))
    });
    Some(Value::Array(
        entries.iter().map(ManagedEntry::to_value).collect(),
    ))
}

fn set_managed_fields(obj: &mut Value, encoded: Option<Value>) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match encoded {
        Some(entries) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".to_string(), entries);
            }
        }
        None => {
            if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    set_managed_fields(&mut out, None);
    out
}

/// Whether the body's `managedFields` ask for a reset (`[]` or `[{}]`).
fn is_reset(entries: &[Value]) -> bool {
    match entries {
        [] => true,
        [only] => only.as_object().is_some_and(|m| {
            m.values().all(|v| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            })
        }),
        _ => false,
    }
}

/// The fields upstream never tracks.
fn strip_set() -> Set {
    let mut s = Set::new();
    let f = |n: &str| PathElement::Field(n.to_string());
    s.insert(&[f("apiVersion")]);
    s.insert(&[f("kind")]);
    s.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        s.insert(&[f("metadata"), f(name)]);
    }
    s
}

fn strip_meta(managers: &mut Managers, id: &str) {
    if let Some(vs) = managers.get_mut(id) {
        vs.set = vs.set.difference(&strip_set());
        if vs.set.is_empty() {
            managers.remove(id);
        }
    }
}

/// Merges the oldest `Update` entries into `ancient-changes` buckets while there are too many.
fn cap_update_managers(managers: &mut Managers, times: &mut Times) {
    let mut updaters: Vec<String> = managers
        .iter()
        .filter(|(_, vs)| !vs.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let seconds = |id: &String| time_seconds(times.get(id).cloned().flatten().as_deref());
    updaters.sort_by(|a, b| seconds(a).cmp(&seconds(b)).then_with(|| a.cmp(b)));
    let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for manager in &updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managers.get(manager).cloned() else {
            continue;
        };
        let time = times.get(manager).cloned().flatten();
        let bucket = identifier("ancient-changes", "Update", &vs.api_version, None);
        match first_of_version.get(&vs.api_version) {
            Some(first) => {
                if !managers.contains_key(&bucket) {
                    if let Some(moved) = managers.remove(first) {
                        managers.insert(bucket.clone(), moved);
                    }
                }
                let merged = managers
                    .get(&bucket)
                    .map(|b| vs.set.union(&b.set))
                    .unwrap_or_else(|| vs.set.clone());
                managers.insert(
                    bucket.clone(),
                    VersionedSet {
                        set: merged,
                        api_version: vs.api_version.clone(),
                        applied: vs.applied,
                    },
                );
                managers.remove(manager);
                length -= 1;
                times.insert(bucket, time);
            }
            None => {
                first_of_version.insert(vs.api_version.clone(), manager.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The field manager

/// Server-side apply and managed-fields tracking for one kind (and subresource).
#[derive(Debug, Clone)]
pub struct FieldManager {
    group: String,
    version: String,
    kind: String,
    subresource: Option<String>,
    reset: Option<Vec<Vec<String>>>,
}

impl FieldManager {
    /// The main resource of `group/version, kind` (group "" for the core group).
    pub fn new(group: &str, version: &str, kind: &str) -> FieldManager {
        FieldManager {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            subresource: None,
            reset: None,
        }
    }

    /// The same kind, written through a subresource (`status`, `scale`); `None` or `""` for
    /// the main resource.
    pub fn subresource(mut self, subresource: Option<&str>) -> FieldManager {
        self.subresource = subresource.filter(|s| !s.is_empty()).map(str::to_string);
        self
    }

    /// Replaces the default reset fields (paths of field names, e.g. `&[&["status"]]`).
    pub fn with_reset_fields(mut self, paths: &[&[&str]]) -> FieldManager {
        self.reset = Some(
            paths
                .iter()
                .map(|p| p.iter().map(|s| s.to_string()).collect())
                .collect(),
        );
        self
    }

    /// "v1" or "apps/v1".
    fn gv(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn gvk_string(&self) -> String {
        format!("{}/{}, Kind={}", self.group, self.version, self.kind)
    }

    fn typed(&self) -> Typed {
        Typed::for_kind(&self.group, &self.version, &self.kind)
    }

    fn reset_fields(&self) -> Set {
        let mut set = Set::new();
        let paths: Vec<Vec<String>> = match &self.reset {
            Some(paths) => paths.clone(),
            None => default_reset_fields(
                &self.group,
                &self.version,
                &self.kind,
                self.subresource.as_deref(),
            ),
        };
        for p in paths {
            let path: Vec<PathElement> = p.into_iter().map(PathElement::Field).collect();
            set.insert(&path);
        }
        set
    }

    fn updater(&self) -> Updater {
        Updater {
            typed: self.typed(),
            ignored: self.reset_fields(),
        }
    }

    /// Records an update by `id` (upstream's managed-fields updater around the merge).
    fn record_update(
        &self,
        updater: &Updater,
        (live, new): (&Value, &Value),
        (managers, times): (&mut Managers, &mut Times),
        id: &str,
        now: &str,
    ) {
        updater.update(live, new, &self.gv(), managers, CURRENT_OPERATION);
        strip_meta(managers, CURRENT_OPERATION);
        if let Some(vs) = managers.remove(CURRENT_OPERATION) {
            let set = match managers.get(id) {
                Some(previous) => vs.set.union(&previous.set),
                None => vs.set,
            };
            managers.insert(
                id.to_string(),
                VersionedSet {
                    set,
                    api_version: vs.api_version,
                    applied: false,
                },
            );
            times.insert(id.to_string(), Some(now.to_string()));
        }
        cap_update_managers(managers, times);
    }

    /// Records a non-apply write of `new` by `manager` (`old: None` for a creation) and returns
    /// `new` with its `metadata.managedFields` set.
    pub fn update(&self, old: Option<&Value>, new: &Value, manager: &str, now: &str) -> Value {
        let mut out = without_managed_fields(new);
        let old_fields = old.and_then(|o| o.pointer("/metadata/managedFields"));
        let decode_old = || decode_managed(old_fields).unwrap_or_default();
        let (mut managers, mut times) = if self.subresource.is_some() {
            decode_old()
        } else {
            match new.pointer("/metadata/managedFields") {
                Some(Value::Array(entries)) if is_reset(entries) => Default::default(),
                Some(entries @ Value::Array(_)) => match decode_managed(Some(entries)) {
                    Ok(decoded) if !decoded.0.is_empty() => decoded,
                    _ => decode_old(),
                },
                _ => decode_old(),
            }
        };
        let creating = old.is_none_or(|o| {
            o.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
        });
        if managers.is_empty() && !creating {
            return out;
        }
        let typed = self.typed();
        let live = match old {
            Some(o) => without_managed_fields(o),
            None => zero_object(&typed, &out),
        };
        if !typed.validate(&live, true, false).is_empty()
            || !typed.validate(&out, true, false).is_empty()
        {
            // Upstream keeps the stored managed fields when it cannot track a write.
            if let Some(fields) = old_fields {
                set_managed_fields(&mut out, Some(fields.clone()));
            }
            return out;
        }
        let id = identifier(
            if manager.is_empty() {
                "unknown"
            } else {
                manager
            },
            "Update",
            &self.gv(),
            self.subresource.as_deref(),
        );
        let updater = self.updater();
        self.record_update(
            &updater,
            (&live, &out),
            (&mut managers, &mut times),
            &id,
            now,
        );
        set_managed_fields(&mut out, encode_managed(&managers, &times));
        out
    }

    /// Applies `applied` (the user's partial object) as `manager` to `live` (`None`: create).
    /// Returns the new object with updated `metadata.managedFields`.
    pub fn apply(
        &self,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        let applied_gv = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let applied_kind = applied
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if applied_gv != self.gv() || applied_kind != self.kind {
            let (g, v) = applied_gv.rsplit_once('/').unwrap_or(("", applied_gv));
            return Err(ApplyError::BadRequest(format!(
                "invalid object type: {g}/{v}, Kind={applied_kind}"
            )));
        }
        let live = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
        let managed = decode_managed(live.pointer("/metadata/managedFields"))
            .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?;

        let mut result = self.apply_once(&live, applied, manager, force, now, managed.clone());
        if manager == "kubectl" {
            if let Err(ApplyError::Conflict(conflicts)) = &result {
                if let Some(allowed) = self.allowed_from_last_applied(&live) {
                    let remaining: Vec<Conflict> = conflicts
                        .iter()
                        .filter(|c| !allowed.has(&c.path))
                        .cloned()
                        .collect();
                    result = if remaining.is_empty() {
                        self.apply_once(&live, applied, manager, true, now, managed)
                    } else {
                        Err(ApplyError::Conflict(remaining))
                    };
                }
            }
        }
        let mut obj = result?;
        if manager == "kubectl" && has_last_applied(&obj) {
            let annotation = build_last_applied(applied);
            if let Some(annotations) = obj
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                annotations.insert(LAST_APPLIED.to_string(), Value::from(annotation));
            }
        }
        Ok(obj)
    }

    fn apply_once(
        &self,
        live: &Value,
        applied: &Value,
        manager: &str,
        force: bool,
        now: &str,
        (mut managers, mut times): (Managers, Times),
    ) -> Result<Value, ApplyError> {
        let updater = self.updater();
        let typed = &updater.typed;
        let live = without_managed_fields(live);
        let gvk = self.gvk_string();

        if managers.is_empty() {
            // Attribute what exists to `before-first-apply`.
            let zero = zero_object(typed, &live);
            if typed.validate(&live, true, false).is_empty() {
                let id = identifier(
                    "before-first-apply",
                    "Update",
                    &self.gv(),
                    self.subresource.as_deref(),
                );
                self.record_update(
                    &updater,
                    (&zero, &live),
                    (&mut managers, &mut times),
                    &id,
                    now,
                );
            }
        }
        if applied
            .pointer("/metadata/managedFields")
            .is_some_and(|v| !v.is_null())
        {
            return Err(ApplyError::BadRequest(
                "metadata.managedFields must be nil".to_string(),
            ));
        }
        let errors = typed.validate(applied, false, is_typed(typed));
        if !errors.is_empty() {
            return Err(ApplyError::Internal(format!(
                "failed to create typed patch object ({}; {gvk}): {}",
                namespaced_name(applied),
                join_errors(&errors)
            )));
        }
        let errors = typed.validate(&live, true, false);
        if !errors.is_empty() {
            return Err(ApplyError::Internal(format!(
                "failed to create typed live object ({}; {gvk}): {}",
                namespaced_name(&live),
                join_errors(&errors)
            )));
        }

        let id = identifier(
            if manager.is_empty() {
                "unknown"
            } else {
                manager
            },
            "Apply",
            "",
            self.subresource.as_deref(),
        );
        let new = updater
            .apply(&live, applied, &self.gv(), &mut managers, &id, force)
            .map_err(|failure| match failure {
                Failure::Conflicts(conflicts) => ApplyError::Conflict(public_conflicts(conflicts)),
                Failure::Invalid(errors) => ApplyError::Internal(format!(
                    "failed to merge config: {}",
                    join_errors(&errors)
                )),
            })?;
        strip_meta(&mut managers, &id);
        let mut obj = match new {
            Some(mut new) => {
                times.insert(id, Some(now.to_string()));
                drop_applied_nulls(&mut new, applied);
                new
            }
            None => live,
        };
        set_managed_fields(&mut obj, encode_managed(&managers, &times));
        Ok(obj)
    }

    /// The fields of kubectl's client-side last-applied configuration that still match the
    /// live object (upstream lets kubectl's server-side apply take those over).
    fn allowed_from_last_applied(&self, live: &Value) -> Option<Set> {
        let text = live
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(LAST_APPLIED))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())?;
        let last: Value = serde_json::from_str(text).ok()?;
        if last.get("apiVersion").and_then(Value::as_str) != Some(self.gv().as_str()) {
            return None;
        }
        let typed = self.typed();
        if !typed.validate(&last, false, false).is_empty() {
            return None;
        }
        let live = without_managed_fields(live);
        let set = typed.field_set(&last);
        let cmp = typed.compare(&last, &live);
        Some(
            set.difference(&cmp.modified)
                .difference(&cmp.added)
                .difference(&cmp.removed),
        )
    }
}

fn public_conflicts(raw: Vec<RawConflict>) -> Vec<Conflict> {
    raw.into_iter()
        .map(|c| {
            let entry = parse_identifier(&c.manager);
            let field = path_string(&c.path);
            Conflict {
                manager: entry
                    .as_ref()
                    .map(|e| e.manager.clone())
                    .unwrap_or_else(|| c.manager.clone()),
                operation: entry
                    .as_ref()
                    .map(|e| e.operation.clone())
                    .unwrap_or_default(),
                api_version: entry
                    .as_ref()
                    .map(|e| e.api_version.clone())
                    .unwrap_or_default(),
                subresource: entry.and_then(|e| e.subresource),
                field,
                id: c.manager,
                path: c.path,
            }
        })
        .collect()
}

fn has_last_applied(obj: &Value) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// The applied configuration as kubectl's annotation holds it (Go JSON, newline-terminated),
/// without the annotation itself.
fn build_last_applied(applied: &Value) -> String {
    let mut copy = applied.clone();
    if let Some(annotations) = copy
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let mut out = go_json(&copy);
    out.push('\n');
    out
}

/// Whether the kind has a schema (custom resources without one take any field).
fn is_typed(typed: &Typed) -> bool {
    Types::name_of(typed.root()).is_some()
}

fn namespaced_name(obj: &Value) -> String {
    let get = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    format!("{}/{}", get("namespace"), get("name"))
}

/// Upstream's rendering of validation errors.
fn join_errors(errors: &[String]) -> String {
    if let [only] = errors {
        return only.clone();
    }
    let mut out = String::from("errors:");
    for e in errors {
        out.push_str("\n  ");
        out.push_str(e);
    }
    out
}

/// Removes the fields the configuration set to `null` (upstream's typed round trip drops
/// them from the stored object).
fn drop_applied_nulls(obj: &mut Value, applied: &Value) {
    let (Some(out), Some(cfg)) = (obj.as_object_mut(), applied.as_object()) else {
        return;
    };
    for (k, v) in cfg {
        match v {
            Value::Null if out.get(k).is_some_and(Value::is_null) => {
                out.remove(k);
            }
            Value::Object(_) => {
                if let Some(child) = out.get_mut(k) {
                    drop_applied_nulls(child, v);
                }
            }
            _ => {}
        }
    }
}

/// Upstream's reset fields of the strategies (paths of field names).
fn default_reset_fields(
    group: &str,
    version: &str,
    kind: &str,
    subresource: Option<&str>,
) -> Vec<Vec<String>> {
    let p = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    match subresource {
        None => {
            if crate::registry::lookup_kind(group, version, kind).is_some_and(|r| r.has_status) {
                vec![p(&["status"])]
            } else {
                Vec::new()
            }
        }
        Some("status") => {
            let mut out = vec![p(&["spec"])];
            match (group, kind) {
                ("", "Pod") => {
                    out.push(p(&["metadata", "deletionTimestamp"]));
                    out.push(p(&["metadata", "ownerReferences"]));
                }
                ("apps", "Deployment") => out.push(p(&["metadata", "labels"])),
                _ => {}
            }
            out
        }
        Some(_) => Vec::new(),
    }
}

/// The part of the upstream Go zero value of the kind that matters for a creation's diff:
/// value-typed structs (present, empty) and non-`omitempty` lists (`null`) where `new` has them.
fn zero_object(typed: &Typed, new: &Value) -> Value {
    zero_at(typed.types(), typed.root(), new, true)
}

fn zero_at(types: &'static Types, ty: &'static schema::Ty, value: &Value, root: bool) -> Value {
    let mut out = Map::new();
    let (Atom::Map(map), Some(obj)) = (types.resolve(ty).0, value.as_object()) else {
        return Value::Object(out);
    };
    let def = Types::name_of(ty).unwrap_or_default();
    for (k, v) in obj {
        let Some(child) = map.fields.get(k) else {
            continue;
        };
        let child_def = Types::name_of(child).unwrap_or_default();
        let value_struct = child_def == OBJECT_META
            || (root && (k == "spec" || k == "status"))
            || VALUE_STRUCT_FIELDS.contains(&(def, k.as_str()));
        if v.is_object() && value_struct && matches!(types.resolve(child).0, Atom::Map(_)) {
            out.insert(k.clone(), zero_at(types, child, v, false));
        } else if v.is_array() && NULL_LIST_FIELDS.contains(&(def, k.as_str())) {
            out.insert(k.clone(), Value::Null);
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Free functions

/// [`FieldManager::apply`] on the main resource.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    group: &str,
    version: &str,
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now_rfc3339: &str,
) -> Result<Value, ApplyError> {
    FieldManager::new(group, version, kind).apply(live, applied, manager, force, now_rfc3339)
}

/// [`FieldManager::update`], through `subresource` when given.
#[allow(clippy::too_many_arguments)]
pub fn track_update(
    group: &str,
    version: &str,
    kind: &str,
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
    now_rfc3339: &str,
) -> Value {
    FieldManager::new(group, version, kind)
        .subresource(subresource)
        .update(old, new, manager, now_rfc3339)
}
