//! get and list.

use super::view::{Item, ListView};
use super::{decode_stored, for_client, parse_rv, Request};
use crate::error::{ApiError, ApiResult};
use crate::request::{representation, Representation};
use crate::table;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use rkube_api::selectors::{field_value, FieldSelector, LabelSelector};
use rkube_api::ResourceInfo;
use rkube_store::RangeOptions;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub async fn get(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let name = req.path.name.clone().unwrap_or_default();
    let key = req.key(&name);
    let kv = req
        .srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let obj = for_client(info, &decode_stored(&key, &kv.value)?, kv.mod_revision);
    Ok(respond_one(&req, obj))
}

/// Render one object as the client asked (object, Table or PartialObjectMetadata).
pub fn respond_one(req: &Request, obj: Value) -> Response {
    respond_one_with(req, obj, StatusCode::OK)
}

pub fn respond_one_with(req: &Request, obj: Value, code: StatusCode) -> Response {
    let info = req.info();
    let v = match representation(req.accept()) {
        Representation::Object => obj,
        Representation::Table(av) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(json!(""));
            let rev = rv.as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
            let mut t = table::table(
                info,
                [(&obj, rev, true)],
                av,
                table::include_object(&req.query),
            );
            t["metadata"] = json!({"resourceVersion": rv});
            t
        }
        Representation::PartialMetadata(av) => partial(&obj, av),
    };
    crate::response::json(code, &v)
}

pub fn partial(obj: &Value, api_version: &str) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// Label and field selectors of a request, as one predicate.
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    name: Option<String>,
    info: &'static ResourceInfo,
}

impl Filter {
    pub fn from_request(req: &Request) -> ApiResult<Filter> {
        let info = req.info();
        let labels = match req.query.nonempty("labelSelector") {
            Some(s) => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            None => None,
        };
        let fields = match req.query.nonempty("fieldSelector") {
            Some(s) => {
                let fs =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                // Reject unsupported field labels up front, as upstream does.
                let probe = json!({});
                for r in fs.requirements() {
                    field_value(info, &probe, &r.field).map_err(|e| {
                        ApiError::bad_request(format!(
                            "Unable to find \"{}/{}, Resource={}\" that match label selector \"{}\", field selector \"{}\": {e}",
                            info.group,
                            info.version,
                            info.plural,
                            req.query.get("labelSelector").unwrap_or(""),
                            s
                        ))
                    })?;
                }
                Some(fs)
            }
            None => None,
        };
        Ok(Filter {
            labels,
            fields,
            name: None,
            info,
        })
    }

    /// Also require `metadata.name == name` (watching one object by URL).
    pub fn restrict_name(&mut self, name: String) {
        self.name = Some(name);
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(n) = &self.name {
            if obj.pointer("/metadata/name").and_then(|v| v.as_str()) != Some(n.as_str()) {
                return false;
            }
        }
        if let Some(l) = &self.labels {
            let empty = serde_json::Map::new();
            let labels = obj
                .pointer("/metadata/labels")
                .and_then(|v| v.as_object())
                .unwrap_or(&empty);
            if !l.matches(labels) {
                return false;
            }
        }
        if let Some(f) = &self.fields {
            if !f.matches(|field| field_value(self.info, obj, field).ok()) {
                return false;
            }
        }
        true
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, start: &str) -> String {
    let raw = serde_json::to_vec(&ContinueToken {
        rv,
        start: start.to_string(),
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(s: &str, prefix: &str) -> ApiResult<ContinueToken> {
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if !t.start.starts_with(prefix) || t.rv <= 0 {
        return Err(bad());
    }
    Ok(t)
}

/// A page of objects, with what the list metadata needs.
pub struct Page {
    pub items: Vec<Item>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

/// List objects under the request's collection, honouring resourceVersion, selectors, limit
/// and continue.
pub async fn list_page(req: &Request, filter: &Filter) -> ApiResult<Page> {
    let prefix = req.collection_prefix();
    let limit = req.query.int("limit")?.unwrap_or(0).max(0) as usize;
    let cache = &req.srv.cache;
    let rv = req.query.nonempty("resourceVersion");
    let rv_match = req.query.nonempty("resourceVersionMatch");

    let (start_after, at_rev) = match req.query.nonempty("continue") {
        Some(c) => {
            if rv.is_some_and(|r| r != "0") {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let t = decode_continue(c, &prefix)?;
            (Some(t.start), Some(t.rv))
        }
        None => {
            match (rv, rv_match) {
                (None, None) => {
                    cache.sync().await?;
                }
                (None, Some(m)) => {
                    return Err(ApiError::bad_request(format!(
                        "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided (got {m})"
                    )))
                }
                (Some(r), m) => {
                    let r = parse_rv(r)?;
                    match m {
                        None | Some("NotOlderThan") => {
                            if r > 0 {
                                cache.wait_for(r, Duration::from_secs(3)).await?;
                            }
                        }
                        Some("Exact") => {
                            if r == 0 {
                                return Err(ApiError::bad_request("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\""));
                            }
                            return list_from_store(req, filter, &prefix, None, r, limit).await;
                        }
                        Some(other) => {
                            return Err(ApiError::bad_request(format!(
                                "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
                            )))
                        }
                    }
                }
            }
            (None, None)
        }
    };

    if let Some(at) = at_rev {
        if cache.revision() != at {
            return list_from_store(req, filter, &prefix, start_after.as_deref(), at, limit).await;
        }
    }
    let snap = cache.list(&prefix, start_after.as_deref(), limit, &|v| {
        filter.matches(v)
    });
    if let Some(at) = at_rev {
        if snap.revision != at {
            return list_from_store(req, filter, &prefix, start_after.as_deref(), at, limit).await;
        }
    }
    let continue_token = if snap.more {
        snap.items
            .last()
            .map(|(k, _)| encode_continue(snap.revision, k))
    } else {
        None
    };
    let items = snap
        .items
        .into_iter()
        .map(|(_, c)| Item {
            value: c.value,
            rev: c.mod_revision,
        })
        .collect();
    Ok(Page {
        items,
        revision: snap.revision,
        continue_token,
    })
}

/// A consistent page at an old revision, read from the store.
async fn list_from_store(
    req: &Request,
    filter: &Filter,
    prefix: &str,
    start_after: Option<&str>,
    rev: i64,
    limit: usize,
) -> ApiResult<Page> {
    let mut items = Vec::new();
    let mut cursor = start_after.map(|s| s.to_string());
    let chunk = if limit == 0 { 0 } else { (limit * 2).max(100) };
    loop {
        let res = req
            .srv
            .store
            .range(prefix, RangeOptions { start_after: cursor.clone(), limit: chunk, revision: Some(rev) })
            .await
            .map_err(|e| match e {
                rkube_store::Error::Compacted { .. } => ApiError::gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to get a consistent snapshot."),
                other => other.into(),
            })?;
        for kv in &res.kvs {
            let v = decode_stored(&kv.key, &kv.value)?;
            if !filter.matches(&v) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                let token = items
                    .last()
                    .map(|(k, _): &(String, Item)| encode_continue(rev, k));
                return Ok(Page {
                    items: items.into_iter().map(|(_, v)| v).collect(),
                    revision: rev,
                    continue_token: token,
                });
            }
            items.push((
                kv.key.clone(),
                Item {
                    value: Arc::new(v),
                    rev: kv.mod_revision,
                },
            ));
        }
        if !res.more || res.kvs.is_empty() {
            break;
        }
        cursor = res.kvs.last().map(|kv| kv.key.clone());
    }
    Ok(Page {
        items: items.into_iter().map(|(_, v)| v).collect(),
        revision: rev,
        continue_token: None,
    })
}

pub async fn list(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let filter = Filter::from_request(&req)?;
    let page = list_page(&req, &filter).await?;
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    let v = match representation(req.accept()) {
        Representation::Object => {
            let body = serde_json::to_vec(&ListView {
                info,
                metadata: meta,
                items: &page.items,
            })
            .map_err(|e| ApiError::internal(format!("encode list: {e}")))?;
            return Ok(axum::response::Response::builder()
                .status(StatusCode::OK)
                .header(axum::http::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(body))
                .unwrap_or_default());
        }
        Representation::Table(av) => {
            let rows = page.items.iter().map(|i| (&*i.value, i.rev, false));
            let mut t = table::table(info, rows, av, table::include_object(&req.query));
            t["metadata"] = meta;
            t
        }
        Representation::PartialMetadata(av) => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": av,
            "metadata": meta,
            "items": page.items.iter().map(|i| partial(&i.client(info), av)).collect::<Vec<_>>(),
        }),
    };
    Ok(crate::response::json(StatusCode::OK, &v))
}

/// Used by deletecollection and namespace cleanup: every object of the collection that
/// matches the filter, consistent with the store's current revision.
pub async fn list_all(req: &Request, filter: &Filter) -> ApiResult<Vec<(Arc<str>, Value)>> {
    let cache = &req.srv.cache;
    cache.sync().await?;
    let snap = cache.list(&req.collection_prefix(), None, 0, &|v| filter.matches(v));
    Ok(snap
        .items
        .into_iter()
        .map(|(k, c)| (k, (*c.value).clone()))
        .collect())
}
