//! Server-side Tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), built from the
//! per-kind columns in `rkube_api::table`.

use crate::request::Query;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

pub fn include_object(q: &Query) -> Include {
    match q.get("includeObject") {
        Some("None") => Include::None,
        Some("Object") => Include::Object,
        _ => Include::Metadata,
    }
}

pub fn table(info: &ResourceInfo, objs: &[Value], api_version: &str, include: Include) -> Value {
    let now = chrono::Utc::now();
    let columns = rkube_api::table::columns(info.group, info.kind);
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut row = json!({"cells": rkube_api::table::cells(info.group, info.kind, o, now)});
            match include {
                Include::None => {}
                Include::Object => row["object"] = o.clone(),
                Include::Metadata => {
                    let mut meta = o.get("metadata").cloned().unwrap_or(json!({}));
                    if let Some(m) = meta.as_object_mut() {
                        m.remove("managedFields");
                    }
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": meta,
                    });
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows,
    })
}
