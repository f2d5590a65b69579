//! OpenAPI v3 documents, as a v1.33 kube-apiserver serves them under `/openapi/v3`, generated
//! from the [registry](crate::registry) and `k8s-openapi`'s schemas.
//!
//! - [`v3_paths`]: the group-version paths (`"api/v1"`, `"apis/apps/v1"`, …).
//! - [`v3_index`]: the body of `GET /openapi/v3`:
//!   `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HASH>"}, …}}`.
//! - [`v3_document_bytes`]: the serialized JSON of `GET /openapi/v3/<path>` and its hash;
//!   [`v3_document`] the same as a value.
//!
//! Documents are built when asked for and not kept: clients fetch them rarely (kubectl's
//! explain, apply and validation, which cache them by hash), and all of them together weigh
//! megabytes. The index keeps only the hashes, computed once by building each document in turn.
//! Serialization is deterministic (object keys sorted), so a hash names one content.
//!
//! The schema compilers of `fieldcheck`, `smp`, `ssa` and `typed` read the definitions from
//! a generated, description-free copy ([`Definitions`], `definitions.rs`) instead: they
//! need neither whole documents nor the schemars code that builds them.
//!
//! Each document has `openapi`, `info`, `paths` (the operations of the group-version's
//! resources, each with `x-kubernetes-action` and `x-kubernetes-group-version-kind`; every
//! PATCH declares `fieldValidation`, `dryRun`, `fieldManager` and `force`) and
//! `components.schemas` (upstream definition names and field docs, `x-kubernetes-*` extensions;
//! see `schemas.rs`). Every `$ref` resolves within its document.

mod definitions;
pub(crate) mod kinds;
mod paths;
mod schemas;
#[cfg(test)]
mod tests;
pub mod v2;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};

use crate::registry::{self, ResourceInfo};

pub(crate) use definitions::Definitions;

/// The `info.version` of the documents.
const INFO_VERSION: &str = "v1.33.0";

/// The group-version paths of the served APIs, core first, then the groups in discovery
/// order: `"api/v1"`, `"apis/apps/v1"`, ….
pub fn v3_paths() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in registry::all() {
        let path = gv_path(r.group, r.version);
        if !out.contains(&path) {
            out.push(path);
        }
    }
    // The core group first, as upstream lists it.
    out.sort_by_key(|p| !p.starts_with("api/"));
    out
}

/// The body of `GET /openapi/v3`.
pub fn v3_index() -> Value {
    let mut paths = Map::new();
    for (path, hash) in hashes() {
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}") }),
        );
    }
    json!({ "paths": paths })
}

/// The serialized document of one group-version path (`"api/v1"`, `"apis/apps/v1"`; a leading
/// or trailing `/`, a `/openapi/v3/` prefix and a `?hash=…` query are accepted) and its hash,
/// or `None` for an unknown path. Built anew on every call.
pub fn v3_document_bytes(path: &str) -> Option<(Arc<Vec<u8>>, String)> {
    let bytes = serde_json::to_vec(&v3_document(path)?).ok()?;
    let hash = hash_hex(&bytes);
    Some((Arc::new(bytes), hash))
}

/// The document of one group-version path (accepted forms as [`v3_document_bytes`]), as a
/// value. Built anew on every call.
pub fn v3_document(path: &str) -> Option<Value> {
    let path = path.split('?').next().unwrap_or_default().trim_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
    let (group, version) = split_gv_path(path)?;
    let resources = resources_of(group, version);
    if resources.is_empty() {
        return None;
    }
    Some(build_document(group, version, &resources))
}

/// Calls `f` with the definitions (`components.schemas`, exactly as in the documents) of every
/// served group-version in [`v3_paths`] order, one group-version at a time (the source of
/// `definitions.json`).
#[cfg(test)]
fn for_each_components(mut f: impl FnMut(&Map<String, Value>)) {
    for path in v3_paths() {
        let Some((group, version)) = split_gv_path(&path) else {
            continue;
        };
        let components = schemas::build(group, version, &resources_of(group, version));
        f(components.schemas());
    }
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The hash of every document, computed on first use by building the documents one at a time.
fn hashes() -> &'static BTreeMap<String, String> {
    static HASHES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    HASHES.get_or_init(|| {
        v3_paths()
            .into_iter()
            .filter_map(|path| {
                let (_, hash) = v3_document_bytes(&path)?;
                Some((path, hash))
            })
            .collect()
    })
}

/// The served resources of `group/version`.
fn resources_of(group: &str, version: &str) -> Vec<&'static ResourceInfo> {
    registry::all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// "api/v1" → ("", "v1"); "apis/apps/v1" → ("apps", "v1").
fn split_gv_path(path: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["api", version] => Some(("", version)),
        ["apis", group, version] => Some((group, version)),
        _ => None,
    }
}

/// The document of one group-version, with object keys sorted.
fn build_document(group: &str, version: &str, resources: &[&ResourceInfo]) -> Value {
    let components = schemas::build(group, version, resources);
    let paths = paths::build(group, version, resources, &components);
    let mut doc = json!({
        "components": { "schemas": components.into_schemas() },
        "info": { "title": "Kubernetes", "version": INFO_VERSION },
        "openapi": "3.0.0",
        "paths": paths,
    });
    sort_keys(&mut doc);
    doc
}

/// Recursively sorts object keys (serde_json keeps insertion order in this workspace).
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut v) in entries {
                sort_keys(&mut v);
                map.insert(k, v);
            }
        }
        Value::Array(list) => list.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// A stable 128-bit hash of `bytes` (two FNV-1a 64 lanes), upper-case hex.
fn hash_hex(bytes: &[u8]) -> String {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for &byte in bytes {
        a = (a ^ u64::from(byte)).wrapping_mul(PRIME);
        b = (b ^ u64::from(byte.rotate_left(3)))
            .wrapping_mul(PRIME)
            .rotate_left(5);
    }
    format!("{a:016X}{b:016X}")
}
