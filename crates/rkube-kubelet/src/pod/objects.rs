//! The ConfigMaps and Secrets the node's pods read (volumes, env, image pull secrets), from
//! watch-fed caches instead of a GET per object per pod sync (upstream's kubelet watches the
//! objects its pods use, too). One watch per kind per namespace, started when a pod of that
//! namespace first asks and stopped once no sync has asked for a while; an update reaches the
//! cache as soon as the watch delivers it, so refreshed volume files see it on the next sync.
//! Until a namespace's first list arrives (or if it cannot), reads go to the API directly.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;

use super::volumes::VolumeSource;

/// How long a first list may take before a read falls back to the API.
const FIRST_LIST: Duration = Duration::from_secs(5);

/// The node's ConfigMap and Secret caches.
pub struct ObjectCache {
    client: kube::Client,
    config_maps: Namespaced<ConfigMap>,
    secrets: Namespaced<Secret>,
}

struct Entry<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    task: tokio::task::JoinHandle<()>,
    used: Instant,
}

/// Per-namespace reflectors of one kind.
struct Namespaced<K: Resource<DynamicType = ()> + 'static> {
    entries: Mutex<HashMap<String, Entry<K>>>,
}

impl<K> Namespaced<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    fn new() -> Self {
        Namespaced {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cache of namespace `ns`, started on first use.
    fn store(&self, client: &kube::Client, ns: &str) -> Store<K> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.entry(ns.to_string()).or_insert_with(|| {
            let (reader, writer) = reflector::store();
            let api: Api<K> = Api::namespaced(client.clone(), ns);
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer);
            let task = tokio::spawn(async move {
                stream.for_each(|_| async {}).await;
            });
            Entry {
                store: reader,
                task,
                used: Instant::now(),
            }
        });
        e.used = Instant::now();
        e.store.clone()
    }

    /// `ns/name` from the cache: `Ok(None)` when it does not exist, `Err(())` when the cache
    /// has not listed yet.
    async fn get(&self, client: &kube::Client, ns: &str, name: &str) -> Result<Option<Arc<K>>, ()> {
        let store = self.store(client, ns);
        match tokio::time::timeout(FIRST_LIST, store.wait_until_ready()).await {
            Ok(Ok(())) => Ok(store.get(&ObjectRef::new(name).within(ns))),
            _ => Err(()),
        }
    }

    /// Stops the watches no read used within `idle`.
    fn sweep(&self, idle: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|ns, e| {
            let keep = e.used.elapsed() < idle;
            if !keep {
                tracing::debug!(namespace = %ns, kind = %K::kind(&()), "stopped an idle watch");
                e.task.abort();
            }
            keep
        });
    }

    fn watched(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

impl ObjectCache {
    pub fn new(client: kube::Client) -> Arc<ObjectCache> {
        Arc::new(ObjectCache {
            client,
            config_maps: Namespaced::new(),
            secrets: Namespaced::new(),
        })
    }

    /// Stops, every `idle`, the watches of namespaces no pod sync read from in that time
    /// (pods re-read their objects every sync, so in-use watches stay).
    pub fn spawn_sweeper(self: &Arc<Self>, idle: Duration) -> tokio::task::JoinHandle<()> {
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle).await;
                let Some(cache) = cache.upgrade() else {
                    return;
                };
                cache.config_maps.sweep(idle);
                cache.secrets.sweep(idle);
            }
        })
    }

    /// How many namespace watches run (ConfigMaps, Secrets).
    pub fn watches(&self) -> (usize, usize) {
        (self.config_maps.watched(), self.secrets.watched())
    }
}

impl Drop for ObjectCache {
    fn drop(&mut self) {
        self.config_maps.sweep(Duration::ZERO);
        self.secrets.sweep(Duration::ZERO);
    }
}

#[async_trait::async_trait]
impl VolumeSource for ObjectCache {
    async fn config_map(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        match self.config_maps.get(&self.client, ns, name).await {
            Ok(cm) => Ok(cm.map(|cm| super::volumes::config_map_data(&cm))),
            Err(()) => VolumeSource::config_map(&self.client, ns, name).await,
        }
    }

    async fn secret(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        match self.secrets.get(&self.client, ns, name).await {
            Ok(s) => Ok(s.map(|s| super::volumes::secret_data(&s))),
            Err(()) => VolumeSource::secret(&self.client, ns, name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::{Patch, PatchParams, PostParams};
    use serde_json::json;

    async fn eventually<F, Fut>(what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f().await {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn watches_per_namespace_follow_updates_and_stop_when_idle() {
        let srv = rkube_apiserver::Server::start_in_memory().await.unwrap();
        let client = srv.component_client("test");
        let cache = ObjectCache::new(client.clone());
        assert_eq!(cache.config_map("default", "c").await, Ok(None));
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"k": "one"}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
        let value = |cache: Arc<ObjectCache>| async move {
            cache
                .config_map("default", "c")
                .await
                .ok()
                .flatten()
                .and_then(|d| d.get("k").cloned())
        };
        eventually("the cache sees the new ConfigMap", || {
            let c = cache.clone();
            async move { value(c).await == Some(b"one".to_vec()) }
        })
        .await;
        cms.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k": "two"}})),
        )
        .await
        .unwrap();
        eventually("the cache sees the update", || {
            let c = cache.clone();
            async move { value(c).await == Some(b"two".to_vec()) }
        })
        .await;
        // One watch per kind and namespace, however many objects are read.
        let _ = cache.config_map("default", "other").await;
        assert_eq!(cache.secret("default", "s").await, Ok(None));
        let _ = cache.config_map("kube-system", "x").await;
        assert_eq!(cache.watches(), (2, 1));
        cache.config_maps.sweep(Duration::ZERO);
        cache.secrets.sweep(Duration::ZERO);
        assert_eq!(cache.watches(), (0, 0));
        // A read after the sweep starts the watch again.
        eventually("the cache serves again", || {
            let c = cache.clone();
            async move { value(c).await == Some(b"two".to_vec()) }
        })
        .await;
        assert_eq!(cache.watches(), (1, 0));
    }
}
