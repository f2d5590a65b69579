//! OpenAPI v3 documents, as a v1.33 kube-apiserver serves them under `/openapi/v3`, generated
//! from the [registry](crate::registry) and `k8s-openapi`'s schemas.
//!
//! - [`v3_paths`]: the group-version paths (`"api/v1"`, `"apis/apps/v1"`, …).
//! - [`v3_index`]: the body of `GET /openapi/v3`:
//!   `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HASH>"}, …}}`.
//! - [`v3_document_bytes`]: the serialized JSON of `GET /openapi/v3/<path>` and its hash;
//!   [`v3_document`] the same as a value.
//!
//! Documents are built once, on first use (all of them: the index needs every hash), and kept.
//! Serialization is deterministic (object keys sorted), so a hash names one content.
//!
//! Each document has `openapi`, `info`, `paths` (the operations of the group-version's
//! resources, each with `x-kubernetes-action` and `x-kubernetes-group-version-kind`; every
//! PATCH declares `fieldValidation`, `dryRun`, `fieldManager` and `force`) and
//! `components.schemas` (upstream definition names and field docs, `x-kubernetes-*` extensions;
//! see `schemas.rs`). Every `$ref` resolves within its document.

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

/// The `info.version` of the documents.
const INFO_VERSION: &str = "v1.33.0";

/// One built document: its JSON bytes and their hash.
struct Doc {
    bytes: Arc<Vec<u8>>,
    hash: String,
}

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
    for (path, doc) in docs() {
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash) }),
        );
    }
    json!({ "paths": paths })
}

/// The serialized document of one group-version path (`"api/v1"`, `"apis/apps/v1"`; a leading
/// or trailing `/`, a `/openapi/v3/` prefix and a `?hash=…` query are accepted) and its hash, or `None` for an unknown path.
pub fn v3_document_bytes(path: &str) -> Option<(Arc<Vec<u8>>, String)> {
    let path = path.split('?').next().unwrap_or_default().trim_matches('/');
    let path = path.strip_prefix("openapi/v3/").unwrap_or(path);
    docs().get(path).map(|d| (d.bytes.clone(), d.hash.clone()))
}

/// The document of one group-version path, as a value (parsed from the cached bytes).
pub fn v3_document(path: &str) -> Option<Value> {
    let (bytes, _) = v3_document_bytes(path)?;
    serde_json::from_slice(&bytes).ok()
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Every document, built on first use.
fn docs() -> &'static BTreeMap<String, Doc> {
    static DOCS: OnceLock<BTreeMap<String, Doc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut out = BTreeMap::new();
        for path in v3_paths() {
            let Some((group, version)) = split_gv_path(&path) else {
                continue;
            };
            let resources: Vec<&ResourceInfo> = registry::all()
                .iter()
                .filter(|r| r.group == group && r.version == version)
                .collect();
            let doc = build_document(group, version, &resources);
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            let hash = hash_hex(&bytes);
            out.insert(
                path,
                Doc {
                    bytes: Arc::new(bytes),
                    hash,
                },
            );
        }
        out
    })
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
