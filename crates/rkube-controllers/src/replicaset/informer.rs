//! The plumbing the ReplicaSet and Deployment controllers share, in client-go's shape: an
//! informer (a watch feeding a cache and calling a handler with the old and new object, as
//! upstream's add/update/delete handlers get them) and a work queue of keys (dedupes keys,
//! never hands one key to two workers at once, delayed and rate-limited re-adds).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, Lookup, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Resource;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

/// What an informer saw happen to one object.
pub(crate) enum Change<K> {
    Added(Arc<K>),
    Updated { old: Arc<K>, new: Arc<K> },
    Deleted(Arc<K>),
}

/// Starts watching `api` in the background; returns the cache, which `handler` may read
/// (it already holds the change when the handler runs). The handler must only enqueue.
pub(crate) fn spawn<K, F>(api: Api<K>, mut handler: F) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    F: FnMut(Change<K>) + Send + 'static,
{
    let (reader, mut writer) = reflector::store::<K>();
    let cache = reader.clone();
    tokio::spawn(async move {
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        // A relist's objects are delivered once it completes, so the handler sees a
        // consistent cache and objects that vanished meanwhile are reported as deleted.
        let mut relist: Vec<K> = Vec::new();
        while let Some(ev) = stream.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), "failed to watch: {e:#}");
                    continue;
                }
            };
            match &ev {
                Event::Apply(obj) => {
                    let key = obj.to_object_ref(());
                    let old = cache.get(&key);
                    writer.apply_watcher_event(&ev);
                    let new = cache.get(&key).unwrap_or_else(|| Arc::new(obj.clone()));
                    handler(match old {
                        Some(old) => Change::Updated { old, new },
                        None => Change::Added(new),
                    });
                }
                Event::Delete(obj) => {
                    let key = obj.to_object_ref(());
                    let old = cache.get(&key);
                    writer.apply_watcher_event(&ev);
                    handler(Change::Deleted(
                        old.unwrap_or_else(|| Arc::new(obj.clone())),
                    ));
                }
                Event::Init => {
                    relist.clear();
                    writer.apply_watcher_event(&ev);
                }
                Event::InitApply(obj) => {
                    relist.push(obj.clone());
                    writer.apply_watcher_event(&ev);
                }
                Event::InitDone => {
                    let before: HashMap<ObjectRef<K>, Arc<K>> = cache
                        .state()
                        .into_iter()
                        .map(|o| (o.to_object_ref(()), o))
                        .collect();
                    writer.apply_watcher_event(&ev);
                    let mut seen = HashSet::new();
                    for obj in relist.drain(..) {
                        let key = obj.to_object_ref(());
                        let new = cache.get(&key).unwrap_or_else(|| Arc::new(obj));
                        seen.insert(key.clone());
                        handler(match before.get(&key) {
                            Some(old) => Change::Updated {
                                old: old.clone(),
                                new,
                            },
                            None => Change::Added(new),
                        });
                    }
                    for (key, old) in before {
                        if !seen.contains(&key) {
                            handler(Change::Deleted(old));
                        }
                    }
                }
            }
        }
    });
    reader
}

/// `namespace/name` (or `name` for cluster-scoped objects), client-go's `MetaNamespaceKey`.
pub(crate) fn key_of<K: Resource>(obj: &K) -> String {
    let meta = obj.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Splits a key made by [`key_of`].
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// Base and cap of the per-key exponential backoff after failed syncs (client-go's default
/// controller rate limiter starts at 5ms and caps at 1000s; a shorter cap suits one machine).
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_CAP: Duration = Duration::from_secs(60);

#[derive(Default)]
struct QueueState {
    queue: VecDeque<String>,
    dirty: HashSet<String>,
    processing: HashSet<String>,
    failures: HashMap<String, u32>,
}

/// A deduplicating work queue of keys with client-go's guarantees: a key queued several
/// times is processed once, and a key re-added while being processed is processed again
/// only after the current worker is done with it.
#[derive(Default)]
pub(crate) struct WorkQueue {
    state: Mutex<QueueState>,
    notify: Notify,
}

impl WorkQueue {
    pub(crate) fn new() -> Arc<WorkQueue> {
        Arc::new(WorkQueue::default())
    }

    /// Queues `key` unless it is already waiting.
    pub(crate) fn add(&self, key: &str) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if !s.dirty.insert(key.to_string()) {
            return;
        }
        if s.processing.contains(key) {
            return;
        }
        s.queue.push_back(key.to_string());
        drop(s);
        self.notify.notify_one();
    }

    /// Queues `key` after `delay`.
    pub(crate) fn add_after(self: &Arc<Self>, key: &str, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let this = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            this.add(&key);
        });
    }

    /// Queues `key` after its exponential backoff, which grows with each call until
    /// [`WorkQueue::forget`].
    pub(crate) fn add_rate_limited(self: &Arc<Self>, key: &str) {
        let failures = match self.state.lock() {
            Ok(mut s) => {
                let n = s.failures.entry(key.to_string()).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 1,
        };
        let delay = BACKOFF_BASE
            .saturating_mul(1u32 << (failures - 1).min(20))
            .min(BACKOFF_CAP);
        self.add_after(key, delay);
    }

    /// Resets `key`'s backoff.
    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.failures.remove(key);
        }
    }

    /// Waits for the next key; the caller must call [`WorkQueue::done`] with it.
    pub(crate) async fn get(&self) -> String {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut s) = self.state.lock() {
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    if !s.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed, queueing it again if it was added meanwhile.
    pub(crate) fn done(&self, key: &str) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }
}

/// The cached object an ownerReference names (same name and uid), if any.
pub(crate) fn resolve<K>(store: &Store<K>, namespace: &str, name: &str, uid: &str) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Lookup<DynamicType = ()> + Clone,
{
    let obj = store.get(&ObjectRef::<K>::new(name).within(namespace))?;
    (obj.meta().uid.as_deref() == Some(uid)).then_some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_dedupes_and_holds_keys_in_flight() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        let k = q.get().await;
        assert_eq!(k, "a");
        q.add("a"); // re-added while processing: not handed out until done
        assert_eq!(q.get().await, "b");
        q.done("b");
        let got = tokio::time::timeout(Duration::from_millis(50), q.get()).await;
        assert!(got.is_err(), "a key in flight must not be handed out twice");
        q.done("a");
        assert_eq!(q.get().await, "a");
    }

    #[test]
    fn keys_round_trip() {
        assert_eq!(split_key("ns/x"), ("ns", "x"));
        assert_eq!(split_key("x"), ("", "x"));
    }
}
