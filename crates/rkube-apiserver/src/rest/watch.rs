//! Watch: a stream of `{"type": …, "object": …}` JSON lines served from the watch cache.

use super::read::Filter;
use super::{for_client, parse_rv, Request};
use crate::cache::{Change, ChangeType};
use crate::error::{ApiError, ApiResult};
use crate::request::{representation, Representation};
use crate::table;
use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::Response;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

struct Emitter {
    info: &'static ResourceInfo,
    repr: Representation,
    include: table::Include,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

impl Emitter {
    async fn send(&self, kind: &str, obj: Value) -> bool {
        let obj = match self.repr {
            Representation::Table(av) if kind != "BOOKMARK" && kind != "ERROR" => {
                let rev = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let mut t = table::table(self.info, [(&obj, rev, true)], av, self.include);
                t["metadata"] = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
                t
            }
            Representation::PartialMetadata(av) if kind != "BOOKMARK" && kind != "ERROR" => {
                super::read::partial(&obj, av)
            }
            _ => obj,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }

    async fn bookmark(&self, rev: i64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.send("BOOKMARK", json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta}))
            .await
    }
}

pub async fn watch(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let mut filter = Filter::from_request(&req)?;
    if let Some(name) = req.path.name.clone() {
        filter.restrict_name(name);
    }
    let prefix = req.collection_prefix();
    let timeout = req
        .query
        .int("timeoutSeconds")?
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DEFAULT_TIMEOUT);
    let bookmarks = req.query.flag("allowWatchBookmarks");
    let send_initial = req.query.flag("sendInitialEvents");
    let rv = req
        .query
        .nonempty("resourceVersion")
        .map(parse_rv)
        .transpose()?;
    if send_initial && req.query.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::bad_request(
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let cache = req.srv.cache.clone();

    // Starting state: either a snapshot (synthetic ADDED events) or a backlog after an RV.
    let (initial, sub) = match rv {
        Some(r) if r > 0 && !send_initial => match cache.subscribe(r) {
            Ok(sub) => (None, sub),
            // As upstream: a too-old resourceVersion is a 200 watch whose only event is an
            // ERROR with the 410 Status, which clients (client-go, kube-rs) answer by
            // re-listing; an HTTP 410 would make some of them retry the same version forever.
            Err(e) if e.code == 410 => return Ok(expired_stream(&e)),
            Err(e) => return Err(e),
        },
        _ => {
            match rv {
                Some(r) if r > 0 => cache.wait_for(r, Duration::from_secs(3)).await?,
                Some(_) => {}
                None => {
                    cache.sync().await?;
                }
            }
            let (items, sub) = cache.snapshot_and_subscribe(&prefix);
            (Some(items), sub)
        }
    };

    let (tx, rx) = mpsc::channel(64);
    let em = Emitter {
        info,
        repr: representation(req.accept()),
        include: table::include_object(&req.query),
        tx,
    };
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = sub.seen;
        if let Some(items) = initial {
            for c in items {
                if filter.matches(&c.value)
                    && !em
                        .send("ADDED", for_client(info, &c.value, c.mod_revision))
                        .await
                {
                    return;
                }
            }
            if send_initial && !em.bookmark(last, true).await {
                return;
            }
        }
        for ch in &sub.backlog {
            last = ch.revision;
            if !emit(&em, &filter, &prefix, ch).await {
                return;
            }
        }
        let mut live = sub.live;
        let seen = sub.seen;
        let mut tick = tokio::time::interval(BOOKMARK_EVERY);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    if !em.bookmark(last, false).await { return; }
                }
                r = live.recv() => match r {
                    Ok(ch) => {
                        if ch.revision <= seen { continue; }
                        last = ch.revision;
                        if !emit(&em, &filter, &prefix, &ch).await { return; }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let e = ApiError::gone("too old resource version: watcher fell behind");
                        let _ = em.send("ERROR", e.to_status()).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = em.tx.closed() => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .unwrap_or_default())
}

/// A watch response carrying only an ERROR event for `e`.
fn expired_stream(e: &ApiError) -> Response {
    let mut line =
        serde_json::to_vec(&serde_json::json!({"type": "ERROR", "object": e.to_status()}))
            .unwrap_or_default();
    line.push(b'\n');
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from(line))
        .unwrap_or_default()
}

async fn emit(em: &Emitter, filter: &Filter, prefix: &str, ch: &Arc<Change>) -> bool {
    if !ch.key.starts_with(prefix) {
        return true;
    }
    let now = filter.matches(&ch.object);
    let before = ch.prev.as_ref().is_some_and(|p| filter.matches(p));
    let kind = match ch.change {
        ChangeType::Added if now => "ADDED",
        ChangeType::Modified if now && before => "MODIFIED",
        ChangeType::Modified if now => "ADDED",
        ChangeType::Modified if before => "DELETED",
        ChangeType::Deleted if before || (ch.prev.is_none() && now) => "DELETED",
        _ => return true,
    };
    em.send(kind, for_client(em.info, &ch.object, ch.revision))
        .await
}
