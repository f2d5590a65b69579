//! Server-side housekeeping that upstream spreads over the apiserver and etcd:
//! - bootstrap: the namespaces every cluster has (`default`, `kube-system`, `kube-public`,
//!   `kube-node-lease`);
//! - namespace termination: remove everything in a Terminating namespace, then the namespace;
//! - event TTL: events expire an hour after their last update (upstream uses etcd leases);
//! - store compaction for backends that do not compact themselves (etcd).

use crate::error::{ApiError, ApiResult};
use crate::request::{Query, ResourcePath};
use crate::rest::delete::{delete_one, DeleteOptions, Propagation};
use crate::rest::{decode_stored, encode_for_store, Request};
use crate::Server;
use rkube_api::registry::{self, ResourceInfo};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

pub async fn bootstrap(srv: &Arc<Server>) -> ApiResult<()> {
    for ns in SYSTEM_NAMESPACES {
        let key = format!("/registry/namespaces/{ns}");
        let obj = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": ns,
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": crate::rest::now_rfc3339(),
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        let info = registry::lookup("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces are not registered"))?;
        match srv.store.create(&key, encode_for_store(info, &obj)?).await {
            Ok(_) => tracing::info!("created namespace {ns}"),
            Err(rkube_store::Error::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Service allocators and the `kubernetes` Service (rest::service).
    crate::rest::service::bootstrap(srv).await?;
    crate::rest::admission::bootstrap(srv).await
}

pub fn spawn_loops(srv: &Arc<Server>, event_ttl: Duration, compact_interval: Option<Duration>) {
    crate::rest::service::spawn_loops(srv); // rest::service
    let weak = Arc::downgrade(srv);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let Some(srv) = weak.upgrade() else { return };
            if let Err(e) = finalize_namespaces(&srv).await {
                tracing::warn!("failed to finalize namespaces: {}", e.message);
            }
        }
    });
    let weak = Arc::downgrade(srv);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60).min(event_ttl));
        loop {
            tick.tick().await;
            let Some(srv) = weak.upgrade() else { return };
            if let Err(e) = expire_events(&srv, event_ttl).await {
                tracing::warn!("failed to expire events: {}", e.message);
            }
        }
    });
    if let Some(every) = compact_interval {
        let weak = Arc::downgrade(srv);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            let mut previous: Option<i64> = None;
            loop {
                tick.tick().await;
                let Some(srv) = weak.upgrade() else { return };
                // Compact to the revision seen one interval ago, as upstream does, so
                // watchers have a full interval to catch up.
                if let Some(rev) = previous {
                    match srv.store.compact(rev).await {
                        Ok(()) => tracing::info!("compacted store at revision {rev}"),
                        Err(e) => tracing::warn!("failed to compact store at revision {rev}: {e}"),
                    }
                }
                previous = srv.store.current_revision().await.ok();
            }
        });
    }
}

fn internal_request(
    srv: &Arc<Server>,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
) -> Request {
    Request {
        srv: srv.clone(),
        user: None,
        path: ResourcePath {
            info,
            namespace: namespace.map(String::from),
            name: None,
            subresource: None,
        },
        query: Query::default(),
        headers: Default::default(),
        body: Default::default(),
    }
}

/// One resource per storage prefix (versions of a resource share storage).
fn namespaced_storages() -> Vec<&'static ResourceInfo> {
    let mut seen = HashSet::new();
    registry::all()
        .iter()
        .filter(|r| r.namespaced && r.has_verb("delete") && seen.insert(r.storage))
        .collect()
}

async fn finalize_namespaces(srv: &Arc<Server>) -> ApiResult<()> {
    let Some(ns_info) = registry::lookup("", "v1", "namespaces") else {
        return Ok(());
    };
    let terminating: Vec<String> = srv
        .cache
        .list(&ns_info.key_prefix(), None, 0, &|v| {
            v.pointer("/metadata/deletionTimestamp")
                .is_some_and(|d| !d.is_null())
        })
        .items
        .iter()
        .filter_map(|(_, c)| {
            c.value
                .pointer("/metadata/name")
                .and_then(|n| n.as_str())
                .map(String::from)
        })
        .collect();
    for ns in terminating {
        let mut remaining = 0usize;
        for info in namespaced_storages() {
            let req = internal_request(srv, info, Some(&ns));
            let snap = srv
                .cache
                .list(&info.namespace_prefix(&ns), None, 0, &|_| true);
            for (_, c) in snap.items {
                remaining += 1;
                let Some(name) = c.value.pointer("/metadata/name").and_then(|n| n.as_str()) else {
                    continue;
                };
                // Background, as upstream's namespace deleter: the kind's default (orphan for
                // Jobs and RCs) would leave the namespace waiting on GC finalizers.
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..DeleteOptions::default()
                };
                match delete_one(&req, name, &opts).await {
                    Ok(_) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => tracing::warn!(
                        "failed to delete {}/{name} in namespace {ns}: {}",
                        info.plural,
                        e.message
                    ),
                }
            }
        }
        if remaining == 0 {
            finish_namespace(srv, ns_info, &ns).await?;
        }
    }
    Ok(())
}

/// Drop the `kubernetes` finalizer and, when nothing else holds it, delete the namespace.
async fn finish_namespace(
    srv: &Arc<Server>,
    info: &'static ResourceInfo,
    ns: &str,
) -> ApiResult<()> {
    let key = info.key(None, ns);
    for _ in 0..8 {
        let Some(kv) = srv.store.get(&key).await? else {
            return Ok(());
        };
        let mut obj: Value = decode_stored(&key, &kv.value)?;
        if let Some(f) = obj
            .pointer_mut("/spec/finalizers")
            .and_then(|f| f.as_array_mut())
        {
            f.retain(|x| x.as_str() != Some("kubernetes"));
        }
        let spec_done = obj
            .pointer("/spec/finalizers")
            .and_then(|f| f.as_array())
            .is_none_or(|a| a.is_empty());
        let meta_done = obj
            .pointer("/metadata/finalizers")
            .and_then(|f| f.as_array())
            .is_none_or(|a| a.is_empty());
        let res = if spec_done && meta_done {
            srv.store
                .delete(&key, Some(kv.mod_revision))
                .await
                .map(|_| ())
        } else {
            srv.store
                .update(&key, encode_for_store(info, &obj)?, kv.mod_revision)
                .await
                .map(|_| ())
        };
        match res {
            Ok(()) => {
                tracing::info!("namespace {ns} finalized");
                return Ok(());
            }
            Err(rkube_store::Error::Conflict { .. }) => continue,
            Err(rkube_store::Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(info, ns, "too many concurrent updates"))
}

fn event_last_seen(ev: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/deprecatedLastTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| ev.pointer(p).and_then(|v| v.as_str()))
    .filter_map(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    .map(|t| t.with_timezone(&chrono::Utc))
    .max()
}

async fn expire_events(srv: &Arc<Server>, ttl: Duration) -> ApiResult<()> {
    let Some(info) = registry::lookup("", "v1", "events") else {
        return Ok(());
    };
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(ttl).unwrap_or_default();
    let snap = srv.cache.list(&info.key_prefix(), None, 0, &|v| {
        event_last_seen(v).is_some_and(|t| t < cutoff)
    });
    for (key, c) in snap.items {
        match srv.store.delete(&key, Some(c.mod_revision)).await {
            Ok(_)
            | Err(rkube_store::Error::NotFound(_))
            | Err(rkube_store::Error::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
