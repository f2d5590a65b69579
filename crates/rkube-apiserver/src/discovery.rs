//! Discovery: `/api`, `/apis` (legacy and aggregated v2/v2beta1), `/api/v1`, `/apis/G[/V]`,
//! and `/version`.

use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rkube_api::registry::{self, ResourceInfo};
use serde_json::{json, Value};

/// The Kubernetes version we serve the API of.
pub const GIT_VERSION: &str = "v1.33.0+rkube";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": GIT_VERSION,
        "gitCommit": option_env!("RKUBE_GIT_COMMIT").unwrap_or("unknown"),
        "gitTreeState": "clean",
        "buildDate": "2026-11-21T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}

/// Which aggregated discovery version the Accept header asks for, if any.
fn aggregated(accept: Option<&str>) -> Option<&'static str> {
    for part in accept?.split(',') {
        let params: Vec<&str> = part.split(';').map(|s| s.trim()).collect();
        if params.first() != Some(&"application/json") {
            continue;
        }
        let has = |p: &str| params.contains(&p);
        if has("as=APIGroupDiscoveryList") && has("g=apidiscovery.k8s.io") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        } else if params.len() == 1 {
            return None;
        }
    }
    None
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "version": version, "kind": kind})
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let mut v = json!({
        "resource": r.plural,
        "responseKind": gvk(r.group, r.version, r.kind),
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !r.subresources.is_empty() {
        v["subresources"] = json!(r
            .subresources
            .iter()
            .map(|s| json!({"subresource": s.name, "responseKind": gvk(s.group, s.version, s.kind), "verbs": s.verbs}))
            .collect::<Vec<_>>());
    }
    v
}

fn aggregated_group(name: &str, versions: &[&str]) -> Value {
    json!({
        "metadata": {"name": name, "creationTimestamp": null},
        "versions": versions.iter().map(|v| json!({
            "version": v,
            "resources": registry::resources_of(name, v).map(aggregated_resource).collect::<Vec<_>>(),
            "freshness": "Current",
        })).collect::<Vec<_>>(),
    })
}

fn aggregated_list(version: &str, items: Vec<Value>) -> Response {
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    crate::response::json_with_type(
        StatusCode::OK,
        &json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items}),
        &ct,
    )
}

pub fn api(accept: Option<&str>, server_address: &str) -> Response {
    if let Some(v) = aggregated(accept) {
        return aggregated_list(v, vec![aggregated_group("", &["v1"])]);
    }
    crate::response::json(
        StatusCode::OK,
        &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}),
    )
}

fn group_json(g: &registry::GroupInfo) -> Value {
    let versions: Vec<Value> = g
        .versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{}/{}", g.name, v), "version": v}))
        .collect();
    json!({"name": g.name, "versions": versions, "preferredVersion": versions[0]})
}

pub fn apis(accept: Option<&str>) -> Response {
    let groups = registry::groups();
    if let Some(v) = aggregated(accept) {
        return aggregated_list(
            v,
            groups
                .iter()
                .map(|g| aggregated_group(g.name, &g.versions))
                .collect(),
        );
    }
    crate::response::json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups.iter().map(group_json).collect::<Vec<_>>()}),
    )
}

pub fn group(name: &str) -> Response {
    match registry::groups().iter().find(|g| g.name == name) {
        Some(g) => {
            let mut v = group_json(g);
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            crate::response::json(StatusCode::OK, &v)
        }
        None => ApiError::not_found_path().into_response(),
    }
}

pub fn resource_list(group: &str, version: &str) -> Response {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut out = Vec::new();
    for r in registry::resources_of(group, version) {
        let mut v = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs});
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        out.push(v);
        for s in r.subresources {
            let mut sv = json!({"name": format!("{}/{}", r.plural, s.name), "singularName": "", "namespaced": r.namespaced, "kind": s.kind, "verbs": s.verbs});
            if s.group != r.group || s.version != r.version {
                sv["group"] = json!(s.group);
                sv["version"] = json!(s.version);
            }
            out.push(sv);
        }
    }
    if out.is_empty() {
        return ApiError::not_found_path().into_response();
    }
    crate::response::json(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}
