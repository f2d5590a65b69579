//! The garbage collector (upstream's `pkg/controller/garbagecollector`): deletes objects whose
//! owners are all gone, and carries out the `Orphan` and `Foreground` deletion propagation that
//! the API server only marks with the `orphan` / `foregroundDeletion` finalizers.
//!
//! One metadata watcher per listable, watchable, deletable resource of the registry (events
//! excluded) feeds an in-memory uid → node [`graph`]; the graph turns watch events into work
//! items for a [`queue`] drained by a few workers. Owners are looked up by uid in the graph
//! (matching kind, name and namespace), falling back to a GET of the owner by name; an owner
//! with the same name but another uid is gone. Namespaced owner references resolve in the
//! dependent's namespace; cluster-scoped owners may own namespaced dependents.

mod graph;
mod queue;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, PartialObjectMeta, Patch, PatchParams,
    Preconditions, PropagationPolicy,
};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use rkube_api::ResourceInfo;
use rkube_client::events::{EventType, ObjectRef, Recorder};
use serde_json::json;
use tokio::task::JoinSet;

use crate::common::{is_conflict, is_not_found};
use crate::Context;
use graph::{Graph, Node, Work};
use queue::WorkQueue;

/// The finalizer of an owner whose dependents are to be orphaned.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// The finalizer of an owner deleted in the foreground (after its blocking dependents).
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Workers draining the queue; one item is never processed by two at once.
const WORKERS: usize = 4;
/// How long the workers wait for every watcher's first list before starting anyway (a
/// resource that cannot be listed must not stop collection of the others).
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of a read-modify-write of an object's metadata before giving up for now.
const PATCH_ATTEMPTS: usize = 5;

/// A failed API call, named by verb and object.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {what}: {source}")]
struct Error {
    verb: &'static str,
    what: String,
    #[source]
    source: kube::Error,
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// How one ownerReference of a dependent resolves.
#[derive(Debug, PartialEq, Eq)]
enum OwnerState {
    /// Exists and is not waiting for its dependents.
    Solid,
    /// Gone, or replaced by another object of the same name.
    Dangling,
    /// Being deleted in the foreground.
    Waiting,
}

struct Gc {
    client: kube::Client,
    graph: Mutex<Graph>,
    queue: WorkQueue<Work>,
    recorder: Recorder,
}

/// The resources the garbage collector watches: every resource that can be listed, watched
/// and deleted, except events, once per storage (the preferred version).
pub fn monitored_resources() -> Vec<&'static ResourceInfo> {
    let mut seen = HashSet::new();
    rkube_api::registry::all()
        .iter()
        .filter(|r| ["list", "watch", "delete"].iter().all(|v| r.has_verb(v)))
        .filter(|r| r.plural != "events")
        .filter(|r| seen.insert((r.group, r.storage)))
        .collect()
}

fn api_resource(r: &ResourceInfo) -> ApiResource {
    ApiResource {
        group: r.group.to_string(),
        version: r.version.to_string(),
        api_version: r.api_version(),
        kind: r.kind.to_string(),
        plural: r.plural.to_string(),
    }
}

/// The registry resource an ownerReference names (its version first, then any version of
/// the group).
fn owner_resource(r: &OwnerReference) -> Option<&'static ResourceInfo> {
    let (group, version) = r
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", r.api_version.as_str()));
    rkube_api::registry::lookup_kind(group, version, &r.kind).or_else(|| {
        rkube_api::registry::all()
            .iter()
            .find(|x| x.group == group && x.kind == r.kind)
    })
}

/// A list for a merge patch: an empty list removes the field, as upstream leaves no empty
/// `ownerReferences` or `finalizers` behind.
fn or_null<T: serde::Serialize>(v: Vec<T>) -> serde_json::Value {
    if v.is_empty() {
        serde_json::Value::Null
    } else {
        json!(v)
    }
}

fn describe(res: &ResourceInfo, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{} {ns}/{name}", res.qualified()),
        None => format!("{} {name}", res.qualified()),
    }
}

/// Runs the garbage collector until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let gc = Arc::new(Gc {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::default()),
        queue: WorkQueue::new(),
        recorder: ctx.recorder("garbage-collector-controller"),
    });
    let resources = monitored_resources();
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for res in &resources {
        tasks.spawn(gc.clone().monitor(res, synced_tx.clone()));
    }
    drop(synced_tx);
    let deadline = tokio::time::sleep(SYNC_TIMEOUT);
    tokio::pin!(deadline);
    let mut synced = 0;
    while synced < resources.len() {
        tokio::select! {
            got = synced_rx.recv() => match got {
                Some(()) => synced += 1,
                None => break,
            },
            _ = &mut deadline => {
                tracing::warn!(
                    synced,
                    total = resources.len(),
                    "garbage collector starts before every resource was listed"
                );
                break;
            }
        }
    }
    tracing::debug!(nodes = gc.graph().len(), "garbage collector graph synced");
    for _ in 0..WORKERS {
        tasks.spawn(gc.clone().worker());
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!("garbage collector task ended: {e}");
        }
    }
}

impl Gc {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            self.queue.add(w);
        }
    }

    fn api(&self, res: &ResourceInfo, ns: Option<&str>) -> Api<DynamicObject> {
        let ar = api_resource(res);
        match (res.namespaced, ns) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        }
    }

    /// Keeps the graph up to date with one resource; reports its first complete list.
    async fn monitor(
        self: Arc<Self>,
        res: &'static ResourceInfo,
        synced: tokio::sync::mpsc::UnboundedSender<()>,
    ) {
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), &api_resource(res));
        let mut stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing: Option<HashSet<String>> = None;
        let mut reported = false;
        let mut failures = 0u32;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => listing = Some(HashSet::new()),
                Ok(Event::InitApply(o)) => {
                    if let Some((uid, node)) = Node::from_meta(res, &o.metadata) {
                        if let Some(l) = listing.as_mut() {
                            l.insert(uid.clone());
                        }
                        let work = self.graph().upsert(uid, node);
                        self.enqueue(work);
                    }
                }
                Ok(Event::InitDone) => {
                    failures = 0;
                    if let Some(listed) = listing.take() {
                        // Whatever vanished while the watch was down was deleted.
                        let mut g = self.graph();
                        let mut work = Vec::new();
                        for uid in g.uids_of(res) {
                            if !listed.contains(&uid) {
                                work.extend(g.remove(&uid));
                            }
                        }
                        drop(g);
                        self.enqueue(work);
                    }
                    if !reported {
                        reported = true;
                        let _ = synced.send(());
                    }
                }
                Ok(Event::Apply(o)) => {
                    if let Some((uid, node)) = Node::from_meta(res, &o.metadata) {
                        let work = self.graph().upsert(uid, node);
                        self.enqueue(work);
                    }
                }
                Ok(Event::Delete(o)) => {
                    if let Some(uid) = o.metadata.uid.as_deref() {
                        let work = self.graph().remove(uid);
                        self.enqueue(work);
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(
                            "garbage collector failed to watch {}: {e}",
                            res.qualified()
                        );
                    } else {
                        tracing::debug!(
                            "garbage collector failed to watch {}: {e}",
                            res.qualified()
                        );
                    }
                }
            }
        }
    }

    async fn worker(self: Arc<Self>) {
        loop {
            let item = self.queue.get().await;
            let res = match &item {
                Work::Delete(uid) => self.attempt_to_delete(uid).await,
                Work::Orphan(uid) => self.attempt_to_orphan(uid).await,
            };
            let ok = match res {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("garbage collector failed to {e:#}");
                    false
                }
            };
            self.queue.done(item, ok);
        }
    }

    /// Deletes the object when none of its owners is left (or, for an owner being deleted in
    /// the foreground, waits for its blocking dependents): upstream's `attemptToDeleteItem`.
    async fn attempt_to_delete(&self, uid: &str) -> Result<()> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        // Being deleted is a one-way trip: the final deletion requeues the dependents.
        if node.deleting && !node.foreground_finalizer {
            return Ok(());
        }
        let ns = node.namespace.as_deref();
        let api = self.api(node.res, ns);
        let latest = match api.get_metadata_opt(&node.name).await {
            Ok(Some(m)) => m.metadata,
            Ok(None) => return Ok(()),
            Err(source) => {
                return Err(Error {
                    verb: "get",
                    what: describe(node.res, ns, &node.name),
                    source,
                })
            }
        };
        if latest.uid.as_deref() != Some(uid) {
            return Ok(());
        }
        let fins = latest.finalizers.clone().unwrap_or_default();
        let has = |f: &str| fins.iter().any(|x| x == f);
        if latest.deletion_timestamp.is_some() {
            if has(FINALIZER_FOREGROUND) {
                return self.process_deleting_dependents(uid, &node).await;
            }
            return Ok(());
        }
        let refs = latest.owner_references.clone().unwrap_or_default();
        if refs.is_empty() {
            return Ok(());
        }
        let mut solid = 0;
        let mut drop_uids = HashSet::new();
        let mut waiting = 0;
        for r in &refs {
            match self.classify(&node, &latest, r).await? {
                OwnerState::Solid => solid += 1,
                OwnerState::Dangling => {
                    drop_uids.insert(r.uid.clone());
                }
                OwnerState::Waiting => {
                    waiting += 1;
                    drop_uids.insert(r.uid.clone());
                }
            }
        }
        if solid > 0 {
            if drop_uids.is_empty() {
                return Ok(());
            }
            // References to gone owners, and to owners waiting for their dependents, go:
            // the latter would otherwise wait for this object forever.
            return self
                .edit_meta(
                    node.res,
                    ns,
                    &node.name,
                    uid,
                    "remove ownerReferences from",
                    |m| {
                        let refs = m.owner_references.clone().unwrap_or_default();
                        let kept: Vec<_> = refs
                            .iter()
                            .filter(|r| !drop_uids.contains(&r.uid))
                            .cloned()
                            .collect();
                        (kept.len() != refs.len())
                            .then(|| json!({"ownerReferences": or_null(kept)}))
                    },
                )
                .await;
        }
        let dependents = self.graph().dependents_of(uid);
        if waiting > 0 && !dependents.is_empty() {
            let cycle = {
                let g = self.graph();
                dependents
                    .iter()
                    .any(|d| g.get(d).is_some_and(|n| n.deleting_dependents()))
            };
            if cycle {
                // A dependent already waits for this object: stop blocking our owners so
                // the two foreground deletions cannot wait on each other forever.
                self.edit_meta(
                    node.res,
                    ns,
                    &node.name,
                    uid,
                    "unblock ownerReferences of",
                    |m| {
                        let mut refs = m.owner_references.clone().unwrap_or_default();
                        let mut changed = false;
                        for r in refs.iter_mut() {
                            if r.block_owner_deletion == Some(true) {
                                r.block_owner_deletion = Some(false);
                                changed = true;
                            }
                        }
                        changed.then(|| json!({"ownerReferences": refs}))
                    },
                )
                .await?;
            }
            return self
                .delete_object(&node, uid, PropagationPolicy::Foreground)
                .await;
        }
        let policy = if has(FINALIZER_ORPHAN) {
            PropagationPolicy::Orphan
        } else if has(FINALIZER_FOREGROUND) {
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        self.delete_object(&node, uid, policy).await
    }

    /// Resolves one ownerReference of `node`: by uid in the graph, else by a GET.
    async fn classify(
        &self,
        node: &Node,
        meta: &ObjectMeta,
        r: &OwnerReference,
    ) -> Result<OwnerState> {
        let Some(owner_res) = owner_resource(r) else {
            tracing::debug!(
                "garbage collector cannot resolve owner kind {} {} of {}",
                r.api_version,
                r.kind,
                describe(node.res, node.namespace.as_deref(), &node.name)
            );
            return Ok(OwnerState::Solid);
        };
        if owner_res.namespaced && node.namespace.is_none() {
            // Cannot be resolved; upstream leaves such objects alone and reports it.
            let obj = ObjectRef {
                api_version: node.res.api_version(),
                kind: node.res.kind.to_string(),
                name: node.name.clone(),
                uid: meta.uid.clone().unwrap_or_default(),
                ..Default::default()
            };
            self.recorder.record(
                &obj,
                EventType::Warning,
                "OwnerRefInvalidNamespace",
                &format!(
                    "ownerRef [{}/{}, namespace: , name: {}, uid: {}] does not exist in namespace \"\"",
                    r.api_version, r.kind, r.name, r.uid
                ),
            );
            return Ok(OwnerState::Solid);
        }
        if let Some(owner) = self
            .graph()
            .get(&r.uid)
            .filter(|o| o.matches(r, node.namespace.as_deref()))
        {
            return Ok(if owner.deleting_dependents() {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            });
        }
        let ns = if owner_res.namespaced {
            node.namespace.as_deref()
        } else {
            None
        };
        match self.api(owner_res, ns).get_metadata_opt(&r.name).await {
            Ok(None) => Ok(OwnerState::Dangling),
            Ok(Some(o)) if o.metadata.uid.as_deref() != Some(r.uid.as_str()) => {
                Ok(OwnerState::Dangling)
            }
            Ok(Some(o)) => {
                let fg = o
                    .metadata
                    .finalizers
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|f| f == FINALIZER_FOREGROUND);
                Ok(if o.metadata.deletion_timestamp.is_some() && fg {
                    OwnerState::Waiting
                } else {
                    OwnerState::Solid
                })
            }
            Err(source) => Err(Error {
                verb: "get",
                what: describe(owner_res, ns, &r.name),
                source,
            }),
        }
    }

    /// An owner in foreground deletion: drops its finalizer once no blocking dependent is
    /// left, otherwise makes sure each blocking dependent is being deleted.
    async fn process_deleting_dependents(&self, uid: &str, node: &Node) -> Result<()> {
        let (blocking, pending): (Vec<String>, Vec<String>) = {
            let g = self.graph();
            let blocking = g.blocking_dependents(uid);
            let pending = blocking
                .iter()
                .filter(|d| g.get(d).is_some_and(|n| !n.deleting_dependents()))
                .cloned()
                .collect();
            (blocking, pending)
        };
        if blocking.is_empty() {
            return self.remove_finalizer(node, uid, FINALIZER_FOREGROUND).await;
        }
        for d in pending {
            self.queue.add(Work::Delete(d));
        }
        Ok(())
    }

    /// An owner with the `orphan` finalizer: removes its references from every dependent,
    /// then the finalizer.
    async fn attempt_to_orphan(&self, uid: &str) -> Result<()> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(());
        };
        if !node.orphaning() {
            return Ok(());
        }
        let dependents: Vec<(String, Node)> = {
            let g = self.graph();
            g.dependents_of(uid)
                .into_iter()
                .filter_map(|d| g.get(&d).cloned().map(|n| (d, n)))
                .collect()
        };
        for (duid, dep) in dependents {
            self.edit_meta(
                dep.res,
                dep.namespace.as_deref(),
                &dep.name,
                &duid,
                "remove ownerReferences from",
                |m| {
                    let refs = m.owner_references.clone().unwrap_or_default();
                    let kept: Vec<_> = refs.iter().filter(|r| r.uid != uid).cloned().collect();
                    (kept.len() != refs.len()).then(|| json!({"ownerReferences": or_null(kept)}))
                },
            )
            .await?;
        }
        self.remove_finalizer(&node, uid, FINALIZER_ORPHAN).await
    }

    async fn remove_finalizer(&self, node: &Node, uid: &str, finalizer: &str) -> Result<()> {
        tracing::debug!(
            finalizer,
            "garbage collector removes finalizer of {}",
            describe(node.res, node.namespace.as_deref(), &node.name)
        );
        self.edit_meta(
            node.res,
            node.namespace.as_deref(),
            &node.name,
            uid,
            "remove finalizer from",
            |m| {
                let fins = m.finalizers.clone().unwrap_or_default();
                let kept: Vec<_> = fins.iter().filter(|f| *f != finalizer).cloned().collect();
                (kept.len() != fins.len()).then(|| json!({"finalizers": or_null(kept)}))
            },
        )
        .await
    }

    /// Read-modify-write of one object's metadata: `change` returns the metadata fields to
    /// merge (None when nothing is to change). The patch carries the resourceVersion read, so
    /// a concurrent write makes it retry; a vanished or replaced object is left alone.
    async fn edit_meta<F>(
        &self,
        res: &'static ResourceInfo,
        ns: Option<&str>,
        name: &str,
        uid: &str,
        verb: &'static str,
        change: F,
    ) -> Result<()>
    where
        F: Fn(&ObjectMeta) -> Option<serde_json::Value>,
    {
        let api = self.api(res, ns);
        let err = |source| Error {
            verb,
            what: describe(res, ns, name),
            source,
        };
        let mut last = None;
        for _ in 0..PATCH_ATTEMPTS {
            let cur = match api.get_metadata_opt(name).await {
                Ok(Some(m)) => m.metadata,
                Ok(None) => return Ok(()),
                Err(e) => return Err(err(e)),
            };
            if cur.uid.as_deref() != Some(uid) {
                return Ok(());
            }
            let Some(mut fields) = change(&cur) else {
                return Ok(());
            };
            fields["resourceVersion"] = json!(cur.resource_version);
            let patch = json!({ "metadata": fields });
            match api
                .patch_metadata(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) if is_conflict(&e) => last = Some(e),
                Err(e) => return Err(err(e)),
            }
        }
        match last {
            Some(e) => Err(err(e)),
            None => Ok(()),
        }
    }

    async fn delete_object(&self, node: &Node, uid: &str, policy: PropagationPolicy) -> Result<()> {
        let ns = node.namespace.as_deref();
        tracing::info!(
            ?policy,
            "garbage collector deletes {}",
            describe(node.res, ns, &node.name)
        );
        let dp = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(node.res, ns).delete(&node.name, &dp).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(source) => Err(Error {
                verb: "delete",
                what: describe(node.res, ns, &node.name),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_each_storage_once_and_skips_events() {
        let res = monitored_resources();
        assert!(res.iter().all(|r| r.plural != "events"));
        assert!(res.iter().any(|r| r.plural == "pods"));
        assert!(res.iter().any(|r| r.plural == "replicasets"));
        assert!(res.iter().any(|r| r.plural == "configmaps"));
        let hpas = res
            .iter()
            .filter(|r| r.plural == "horizontalpodautoscalers")
            .count();
        assert_eq!(hpas, 1);
    }

    #[test]
    fn owner_kinds_resolve_by_group_and_kind() {
        let r = |api_version: &str, kind: &str| OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "x".into(),
            uid: "u".into(),
            ..Default::default()
        };
        assert_eq!(
            owner_resource(&r("apps/v1", "ReplicaSet")).map(|x| x.plural),
            Some("replicasets")
        );
        assert_eq!(
            owner_resource(&r("v1", "Node")).map(|x| x.plural),
            Some("nodes")
        );
        // An older version of a known group still resolves.
        assert_eq!(
            owner_resource(&r("apps/v1beta2", "Deployment")).map(|x| x.plural),
            Some("deployments")
        );
        assert!(owner_resource(&r("example.com/v1", "Widget")).is_none());
    }
}
