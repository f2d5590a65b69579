//! In-process backend for tests: a `BTreeMap` of current key-values plus an event log above the
//! compaction floor, behind one mutex. Nothing is persisted.
//!
//! Historical reads undo the log on top of the current state (see `history`); watchers catch
//! up from the log and then follow the shared watch hub.

use crate::history::{merge_range, overrides_at, read_revision};
use crate::hub::{spawn_watch, HistoryChunk, HistorySource, Hub};
use crate::{
    Error, Event, EventType, KeyValue, RangeOptions, RangeResult, Result, Revision, Store,
    WatchStream,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

/// Default capacity of each watcher's live queue.
const LIVE_BUFFER: usize = 1024;

struct State {
    revision: Revision,
    floor: Revision,
    kvs: BTreeMap<String, KeyValue>,
    /// Events with revision > floor, in revision order.
    log: VecDeque<Event>,
}

impl State {
    /// Index of the first log entry with revision > `after`.
    fn log_index_after(&self, after: Revision) -> usize {
        self.log.partition_point(|ev| ev.revision() <= after)
    }
}

struct Inner {
    state: Mutex<State>,
    hub: Arc<Hub>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commit one event: bump the revision, log it, and publish it while still holding the
    /// state lock so that watchers see events in revision order.
    fn commit(&self, state: &mut State, event: Event) {
        state.revision = event.revision();
        match event.event_type {
            EventType::Put => {
                state.kvs.insert(event.kv.key.clone(), event.kv.clone());
            }
            EventType::Delete => {
                state.kvs.remove(&event.kv.key);
            }
        }
        self.hub.publish(std::slice::from_ref(&event));
        state.log.push_back(event);
    }
}

#[async_trait]
impl HistorySource for Inner {
    async fn read_events(&self, prefix: &str, after: Revision, max: usize) -> Result<HistoryChunk> {
        let state = self.lock();
        if after < state.floor {
            return Err(Error::Compacted {
                requested: after,
                compacted: state.floor,
            });
        }
        let mut events = Vec::new();
        let mut scanned_to = after.max(state.floor);
        for ev in state.log.range(state.log_index_after(after)..) {
            if events.len() >= max {
                break;
            }
            scanned_to = ev.revision();
            if ev.kv.key.starts_with(prefix) {
                events.push(ev.clone());
            }
        }
        if events.len() < max {
            scanned_to = scanned_to.max(state.revision);
        }
        Ok(HistoryChunk {
            events,
            scanned_to,
            current: state.revision,
        })
    }
}

/// The in-memory store. Cheap to clone; clones share the same data. Watches end when the
/// last clone is dropped.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    _open: Arc<OpenGuard>,
}

/// Ends all watches when the last handle goes (watchers hold `Inner`, not this).
struct OpenGuard(Arc<Hub>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store at revision 1 with compaction floor 0.
    pub fn new() -> Self {
        Self::with_watch_buffer(LIVE_BUFFER)
    }

    /// Like [`MemoryStore::new`], with `live_buffer` events of room per watcher before a slow
    /// watcher falls back to catching up from the log.
    pub fn with_watch_buffer(live_buffer: usize) -> Self {
        let hub = Arc::new(Hub::new(live_buffer));
        MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    revision: 1,
                    floor: 0,
                    kvs: BTreeMap::new(),
                    log: VecDeque::new(),
                }),
                hub: hub.clone(),
            }),
            _open: Arc::new(OpenGuard(hub)),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.inner.lock().kvs.get(key).cloned())
    }

    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult> {
        let state = self.inner.lock();
        let at = read_revision(opts.revision, state.revision, state.floor)?;
        let start_after = opts.start_after.as_deref();
        let overrides = if at < state.revision {
            let idx = state.log_index_after(at);
            overrides_at(state.log.range(idx..).cloned(), prefix, start_after)
        } else {
            BTreeMap::new()
        };
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let current = state
            .kvs
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, kv)| Ok(kv.clone()));
        let (kvs, more) = merge_range(current, overrides, opts.limit)?;
        Ok(RangeResult {
            kvs,
            more,
            revision: at,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let mut state = self.inner.lock();
        if state.kvs.contains_key(key) {
            return Err(Error::AlreadyExists(key.to_string()));
        }
        let rev = state.revision + 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: rev,
            mod_revision: rev,
        };
        let event = Event {
            event_type: EventType::Put,
            kv: kv.clone(),
            prev_kv: None,
        };
        self.inner.commit(&mut state, event);
        Ok(kv)
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        let mut state = self.inner.lock();
        let Some(prev) = state.kvs.get(key).cloned() else {
            return Err(Error::NotFound(key.to_string()));
        };
        if prev.mod_revision != expected {
            return Err(Error::Conflict {
                key: key.to_string(),
                expected,
                current: Some(prev),
            });
        }
        let rev = state.revision + 1;
        let kv = KeyValue {
            key: key.to_string(),
            value,
            create_revision: prev.create_revision,
            mod_revision: rev,
        };
        let event = Event {
            event_type: EventType::Put,
            kv: kv.clone(),
            prev_kv: Some(prev),
        };
        self.inner.commit(&mut state, event);
        Ok(kv)
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let mut state = self.inner.lock();
        let Some(prev) = state.kvs.get(key).cloned() else {
            return Err(Error::NotFound(key.to_string()));
        };
        if let Some(expected) = expected {
            if prev.mod_revision != expected {
                return Err(Error::Conflict {
                    key: key.to_string(),
                    expected,
                    current: Some(prev),
                });
            }
        }
        let rev = state.revision + 1;
        let kv = KeyValue {
            mod_revision: rev,
            ..prev.clone()
        };
        let event = Event {
            event_type: EventType::Delete,
            kv: kv.clone(),
            prev_kv: Some(prev),
        };
        self.inner.commit(&mut state, event);
        Ok(kv)
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        {
            let state = self.inner.lock();
            if after < state.floor {
                return Err(Error::Compacted {
                    requested: after,
                    compacted: state.floor,
                });
            }
        }
        let source: Arc<dyn HistorySource> = self.inner.clone();
        Ok(spawn_watch(
            source,
            self.inner.hub.clone(),
            prefix.to_string(),
            after,
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.inner.lock().revision)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let mut state = self.inner.lock();
        if revision > state.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: state.revision,
            });
        }
        if revision <= state.floor {
            return Ok(());
        }
        state.floor = revision;
        let drop = state.log_index_after(revision);
        state.log.drain(..drop);
        Ok(())
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.inner.lock().floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn wait_for_watchers(store: &MemoryStore, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.inner.hub.watcher_count() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "watchers never became {n}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn lagging_watcher_catches_up_from_the_log() {
        let store = MemoryStore::with_watch_buffer(4);
        let mut rx = store.watch("/a/", 1).await.unwrap();
        wait_for_watchers(&store, 1).await;
        // Far more than the live queue plus the output channel hold.
        let n = crate::hub::OUT_BUFFER as i64 + 100;
        for i in 0..n {
            store.create(&format!("/a/{i}"), vec![]).await.unwrap();
        }
        assert_eq!(
            store.inner.hub.watcher_count(),
            0,
            "the slow watcher was unregistered"
        );
        for rev in 2..2 + n {
            assert_eq!(rx.recv().await.unwrap().unwrap().revision(), rev);
        }
        // Caught up again, it follows live events.
        wait_for_watchers(&store, 1).await;
        let kv = store.create("/a/live", vec![]).await.unwrap();
        assert_eq!(rx.recv().await.unwrap().unwrap().kv, kv);
    }

    #[tokio::test]
    async fn lagging_watcher_behind_the_floor_gets_compacted() {
        let store = MemoryStore::with_watch_buffer(2);
        let mut rx = store.watch("/a/", 1).await.unwrap();
        wait_for_watchers(&store, 1).await;
        let n = crate::hub::OUT_BUFFER as i64 + 50;
        for i in 0..n {
            store.create(&format!("/a/{i}"), vec![]).await.unwrap();
        }
        store.compact(n).await.unwrap();
        let mut last = 1;
        loop {
            match rx.recv().await {
                Some(Ok(ev)) => {
                    assert_eq!(ev.revision(), last + 1);
                    last = ev.revision();
                }
                Some(Err(Error::Compacted { compacted, .. })) => {
                    assert_eq!(compacted, n);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(rx.recv().await.is_none(), "the error is the last item");
    }

    #[tokio::test]
    async fn dropped_watch_unregisters_and_drop_ends_watches() {
        let store = MemoryStore::new();
        let rx = store.watch("/a/", 1).await.unwrap();
        wait_for_watchers(&store, 1).await;
        drop(rx);
        wait_for_watchers(&store, 0).await;

        let mut rx = store.watch("/a/", 1).await.unwrap();
        wait_for_watchers(&store, 1).await;
        drop(store);
        assert!(rx.recv().await.is_none());
    }
}
