//! The watch cache: one in-memory mirror of everything under `/registry/`, fed by a single
//! store watch, plus a bounded window of recent events.
//!
//! Lists and watches are served from here so they do not all hit the store. Consistency: a
//! list that asks for the latest state first waits until the cache has caught up with the
//! store's current revision (as upstream's consistent reads from cache do).
//!
//! Invariants: `events` holds every event with revision in `(oldest, revision]`, in order;
//! `objects` is the state at `revision`.

use crate::error::{ApiError, ApiResult};
use rkube_store::{DynStore, EventType, RangeOptions};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// An object as held by the cache: parsed once, shared by every reader.
#[derive(Debug, Clone)]
pub struct Cached {
    pub value: Arc<Value>,
    pub mod_revision: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One change in the cache's event window.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: Arc<str>,
    pub change: ChangeType,
    pub revision: i64,
    /// The object after the change (for Deleted: the last state).
    pub object: Arc<Value>,
    /// The object before the change, if it existed.
    pub prev: Option<Arc<Value>>,
}

struct State {
    revision: i64,
    /// Every event with revision > oldest is in `events`.
    oldest: i64,
    objects: BTreeMap<Arc<str>, Cached>,
    events: VecDeque<Arc<Change>>,
    /// Replaced on every relist, which ends every live subscription (their clients relist).
    live: broadcast::Sender<Arc<Change>>,
}

pub struct WatchCache {
    store: DynStore,
    state: RwLock<State>,
    rev_tx: watch::Sender<i64>,
    window: usize,
}

/// A snapshot of a prefix for a list.
pub struct Snapshot {
    pub revision: i64,
    pub items: Vec<(Arc<str>, Cached)>,
    /// True when more keys follow the last item within the prefix.
    pub more: bool,
}

/// A subscription: the backlog after the requested revision and a live receiver.
pub struct Subscription {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Arc<Change>>,
    /// Events at or below this revision on `live` were already in the backlog.
    pub seen: i64,
}

/// How far a live watcher may lag before it is ended (its client then relists).
const LIVE_CAPACITY: usize = 8192;

pub fn decode(bytes: &[u8], key: &str) -> Option<Value> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!("failed to decode stored object {key}: {e}");
            None
        }
    }
}

impl WatchCache {
    /// Fill the cache from the store and start following it.
    pub async fn start(store: DynStore, window: usize) -> ApiResult<Arc<WatchCache>> {
        let (rev_tx, _) = watch::channel(0);
        let cache = Arc::new(WatchCache {
            store,
            state: RwLock::new(State {
                revision: 0,
                oldest: 0,
                objects: BTreeMap::new(),
                events: VecDeque::new(),
                live: broadcast::channel(LIVE_CAPACITY).0,
            }),
            rev_tx,
            window,
        });
        let rev = cache.relist().await?;
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move { follow(weak, rev).await });
        Ok(cache)
    }

    async fn relist(&self) -> ApiResult<i64> {
        let res = self
            .store
            .range("/registry/", RangeOptions::default())
            .await?;
        let mut objects = BTreeMap::new();
        for kv in res.kvs {
            if let Some(v) = decode(&kv.value, &kv.key) {
                objects.insert(
                    Arc::from(kv.key.as_str()),
                    Cached {
                        value: Arc::new(v),
                        mod_revision: kv.mod_revision,
                    },
                );
            }
        }
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.objects = objects;
        st.revision = res.revision;
        st.oldest = res.revision;
        st.events.clear();
        st.live = broadcast::channel(LIVE_CAPACITY).0;
        drop(st);
        self.rev_tx.send_replace(res.revision);
        Ok(res.revision)
    }

    pub fn revision(&self) -> i64 {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .revision
    }

    /// Wait until the cache has seen `rev`; fails with a 504 after `timeout`.
    pub async fn wait_for(&self, rev: i64, timeout: Duration) -> ApiResult<()> {
        let mut rx = self.rev_tx.subscribe();
        let reached =
            tokio::time::timeout(timeout, async { rx.wait_for(|r| *r >= rev).await.is_ok() }).await;
        match reached {
            Ok(true) => Ok(()),
            _ => Err(ApiError::timeout(format!(
                "Too large resource version: {rev}, current: {}",
                self.revision()
            ))),
        }
    }

    /// Wait until the cache reflects every write committed to the store so far.
    pub async fn sync(&self) -> ApiResult<i64> {
        let rev = self.store.current_revision().await?;
        self.wait_for(rev, Duration::from_secs(10)).await?;
        Ok(rev)
    }

    /// Objects under `prefix` with key > `start_after`, up to `limit` (0 = all) that pass
    /// `filter`.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Snapshot {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let start: std::ops::Bound<&str> = match start_after {
            Some(s) if s >= prefix => std::ops::Bound::Excluded(s),
            _ => std::ops::Bound::Included(prefix),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (k, c) in st
            .objects
            .range::<str, _>((start, std::ops::Bound::Unbounded))
        {
            if !k.starts_with(prefix) {
                break;
            }
            if !filter(&c.value) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push((k.clone(), c.clone()));
        }
        Snapshot {
            revision: st.revision,
            items,
            more,
        }
    }

    /// Subscribe to changes after `after`. Fails with 410 if they left the window.
    pub fn subscribe(&self, after: i64) -> ApiResult<Subscription> {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        if after < st.oldest {
            return Err(ApiError::too_old(after, st.oldest));
        }
        let live = st.live.subscribe();
        let backlog: Vec<Arc<Change>> = st
            .events
            .iter()
            .filter(|e| e.revision > after)
            .cloned()
            .collect();
        Ok(Subscription {
            backlog,
            live,
            seen: st.revision,
        })
    }

    /// The current objects under `prefix` plus a subscription from that state (for watches
    /// that start with synthetic ADDED events).
    pub fn snapshot_and_subscribe(&self, prefix: &str) -> (Vec<Cached>, Subscription) {
        let st = self.state.read().unwrap_or_else(|e| e.into_inner());
        let live = st.live.subscribe();
        let items = st
            .objects
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, c)| c.clone())
            .collect();
        (
            items,
            Subscription {
                backlog: Vec::new(),
                live,
                seen: st.revision,
            },
        )
    }

    fn apply(&self, ev: rkube_store::Event) {
        let key: Arc<str> = Arc::from(ev.kv.key.as_str());
        let rev = ev.kv.mod_revision;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        if rev <= st.revision {
            return;
        }
        let prev = st.objects.get(&key).map(|c| c.value.clone());
        let change = match ev.event_type {
            EventType::Put => {
                let Some(v) = decode(&ev.kv.value, &ev.kv.key) else {
                    st.revision = rev;
                    return;
                };
                let v = Arc::new(v);
                st.objects.insert(
                    key.clone(),
                    Cached {
                        value: v.clone(),
                        mod_revision: rev,
                    },
                );
                let change = if prev.is_some() {
                    ChangeType::Modified
                } else {
                    ChangeType::Added
                };
                Change {
                    key,
                    change,
                    revision: rev,
                    object: v,
                    prev,
                }
            }
            EventType::Delete => {
                st.objects.remove(&key);
                let last = match prev.clone() {
                    Some(p) => p,
                    None => match decode(&ev.kv.value, &ev.kv.key) {
                        Some(v) => Arc::new(v),
                        None => {
                            st.revision = rev;
                            return;
                        }
                    },
                };
                Change {
                    key,
                    change: ChangeType::Deleted,
                    revision: rev,
                    object: last,
                    prev,
                }
            }
        };
        let change = Arc::new(change);
        st.events.push_back(change.clone());
        while st.events.len() > self.window {
            if let Some(e) = st.events.pop_front() {
                st.oldest = e.revision;
            }
        }
        st.revision = rev;
        // Sent under the lock so subscribers see a gap-free sequence.
        let _ = st.live.send(change);
        drop(st);
        self.rev_tx.send_replace(rev);
    }
}

async fn follow(cache: std::sync::Weak<WatchCache>, mut rev: i64) {
    loop {
        let Some(c) = cache.upgrade() else { return };
        let stream = c.store.watch("/registry/", rev).await;
        drop(c);
        match stream {
            Ok(mut rx) => {
                while let Some(item) = rx.recv().await {
                    let Some(c) = cache.upgrade() else { return };
                    match item {
                        Ok(ev) => {
                            rev = ev.kv.mod_revision;
                            c.apply(ev);
                        }
                        Err(e) => {
                            tracing::warn!("watch cache stream ended: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("failed to watch store: {e}"),
        }
        let Some(c) = cache.upgrade() else { return };
        // Either the store closed or we fell behind the compaction floor: relist.
        match c.relist().await {
            Ok(r) => rev = r,
            Err(e) => {
                tracing::error!("failed to relist watch cache: {}", e.message);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
