//! Keeps the `Index` in step with the cluster: one watch each on Services, EndpointSlices and
//! Namespaces (all namespaces), applying every event to the index as it arrives and
//! replacing a kind wholesale after each (re)list. Queries never reach the API.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::index::{self, Index, Key};

/// Index slots of `Index::synced`.
const SERVICES: usize = 0;
const SLICES: usize = 1;
const NAMESPACES: usize = 2;

/// Runs the three watches until the task is aborted.
pub async fn run(client: Client, index: Arc<RwLock<Index>>) {
    let services = watch(
        Api::<Service>::all(client.clone()),
        index.clone(),
        SERVICES,
        index::service_from,
        |ix, (ns, name), v| ix.set_service(ns, name, v),
        |ix, all| ix.replace_services(all),
    );
    let slices = watch(
        Api::<EndpointSlice>::all(client.clone()),
        index.clone(),
        SLICES,
        index::slice_from,
        |ix, (ns, name), v| ix.set_slice(ns, name, v),
        |ix, all| ix.replace_slices(all),
    );
    let namespaces = watch(
        Api::<Namespace>::all(client),
        index,
        NAMESPACES,
        |n: &Namespace| Some(((String::new(), n.metadata.name.clone()?), ())),
        |ix, (_, name), v| ix.set_namespace(name, v.is_some()),
        |ix, all| {
            ix.replace_namespaces(
                all.into_iter()
                    .map(|((_, n), ())| n)
                    .collect::<HashSet<_>>(),
            )
        },
    );
    tokio::join!(services, slices, namespaces);
}

fn key_of<K: Resource>(obj: &K) -> Key {
    let meta = obj.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

async fn watch<K, V>(
    api: Api<K>,
    index: Arc<RwLock<Index>>,
    slot: usize,
    convert: fn(&K) -> Option<(Key, V)>,
    set: fn(&mut Index, &Key, Option<V>),
    replace: fn(&mut Index, Vec<(Key, V)>),
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut pending: Vec<(Key, V)> = Vec::new();
    while let Some(event) = events.next().await {
        let lock = || index.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Ok(Event::Init) => pending.clear(),
            Ok(Event::InitApply(obj)) => pending.extend(convert(&obj)),
            Ok(Event::InitDone) => {
                let mut ix = lock();
                replace(&mut ix, std::mem::take(&mut pending));
                if !ix.synced[slot] {
                    tracing::debug!("dns: initial list of {kind} done");
                }
                ix.synced[slot] = true;
            }
            Ok(Event::Apply(obj)) => {
                let key = key_of(&obj);
                // An object that no longer carries DNS records (a slice losing its service
                // label) is removed like a deleted one.
                let value = convert(&obj).map(|(_, v)| v);
                set(&mut lock(), &key, value);
            }
            Ok(Event::Delete(obj)) => set(&mut lock(), &key_of(&obj), None),
            Err(e) => tracing::warn!("failed to watch {kind} for dns: {e:#}"),
        }
    }
}
