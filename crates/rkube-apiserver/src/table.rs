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

/// A Table over objects given as (object, revision, whether it is already in client form).
pub fn table<'a>(
    info: &'static ResourceInfo,
    objs: impl IntoIterator<Item = (&'a Value, i64, bool)>,
    api_version: &str,
    include: Include,
) -> Value {
    let now = chrono::Utc::now();
    let columns = rkube_api::table::columns(info.group, info.kind);
    let rows: Vec<Value> = objs
        .into_iter()
        .map(|(o, rev, client_form)| {
            let mut row = json!({"cells": rkube_api::table::cells(info.group, info.kind, o, now)});
            match include {
                Include::None => {}
                Include::Object if client_form => row["object"] = o.clone(),
                Include::Object => row["object"] = crate::rest::for_client(info, o, rev),
                Include::Metadata => {
                    let mut meta = o.get("metadata").cloned().unwrap_or(json!({}));
                    if let Some(m) = meta.as_object_mut() {
                        m.remove("managedFields");
                        m.insert("resourceVersion".into(), json!(rev.to_string()));
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
