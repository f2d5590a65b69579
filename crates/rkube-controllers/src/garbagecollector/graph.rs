//! The garbage collector's in-memory dependency graph (upstream's `GraphBuilder` and
//! `uidToNode`): every watched object by uid with its ownerReferences and deletion state, and
//! the reverse index owner uid → dependent uids. Applying a watch event returns the work it
//! calls for; the graph itself never talks to the API.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use rkube_api::ResourceInfo;

use super::{FINALIZER_FOREGROUND, FINALIZER_ORPHAN};

/// What a worker should do next.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// Check the object's owners and delete it when none is left (upstream's
    /// `attemptToDelete`); for an owner in foreground deletion, check its blocking dependents.
    Delete(String),
    /// Remove the object's ownerReferences from its dependents, then its `orphan` finalizer.
    Orphan(String),
}

/// One object as the garbage collector sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub res: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: String,
    pub owners: Vec<OwnerReference>,
    /// `deletionTimestamp` is set.
    pub deleting: bool,
    pub orphan_finalizer: bool,
    pub foreground_finalizer: bool,
}

impl Node {
    /// The node of an object of `res` with metadata `meta`; None without a uid.
    pub fn from_meta(res: &'static ResourceInfo, meta: &ObjectMeta) -> Option<(String, Node)> {
        let uid = meta.uid.clone().filter(|u| !u.is_empty())?;
        let fins = meta.finalizers.as_deref().unwrap_or_default();
        Some((
            uid,
            Node {
                res,
                namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
                name: meta.name.clone().unwrap_or_default(),
                owners: meta.owner_references.clone().unwrap_or_default(),
                deleting: meta.deletion_timestamp.is_some(),
                orphan_finalizer: fins.iter().any(|f| f == FINALIZER_ORPHAN),
                foreground_finalizer: fins.iter().any(|f| f == FINALIZER_FOREGROUND),
            },
        ))
    }

    /// Being deleted in the foreground: waits for its blocking dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.foreground_finalizer
    }

    /// Being deleted with its dependents orphaned.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.orphan_finalizer
    }

    /// Whether this node is the object `r` names, seen from a dependent in `dep_ns`.
    pub fn matches(&self, r: &OwnerReference, dep_ns: Option<&str>) -> bool {
        let group = r.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let ns_ok = if self.res.namespaced {
            self.namespace.as_deref() == dep_ns
        } else {
            self.namespace.is_none()
        };
        self.res.group == group && self.res.kind == r.kind && self.name == r.name && ns_ok
    }

    /// Whether this node's reference to `owner_uid` blocks the owner's foreground deletion.
    pub fn blocks(&self, owner_uid: &str) -> bool {
        self.owners
            .iter()
            .any(|r| r.uid == owner_uid && r.block_owner_deletion == Some(true))
    }
}

/// The uid → node graph with its reverse owner index.
#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner uid → uids of nodes that name it (the owner need not be in `nodes`).
    dependents: HashMap<String, HashSet<String>>,
}

fn owner_uids(n: &Node) -> HashSet<String> {
    n.owners.iter().map(|r| r.uid.clone()).collect()
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Uids of the nodes naming `uid` as an owner.
    pub fn dependents_of(&self, uid: &str) -> Vec<String> {
        self.dependents
            .get(uid)
            .map(|s| {
                s.iter()
                    .filter(|d| self.nodes.contains_key(*d))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Dependents of `uid` whose reference blocks its foreground deletion.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<String> {
        self.dependents_of(uid)
            .into_iter()
            .filter(|d| self.nodes.get(d).is_some_and(|n| n.blocks(uid)))
            .collect()
    }

    /// Uids of every node of one resource (to find what vanished across a relist).
    pub fn uids_of(&self, res: &ResourceInfo) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.res.group == res.group && n.res.storage == res.storage)
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Adds or updates a node; returns the work it calls for.
    pub fn upsert(&mut self, uid: String, node: Node) -> Vec<Work> {
        let old = self.nodes.insert(uid.clone(), node);
        let new = &self.nodes[&uid];
        let mut work = Vec::new();

        let old_owners = old.as_ref().map(owner_uids).unwrap_or_default();
        let new_owners = owner_uids(new);
        for o in old_owners.difference(&new_owners) {
            if let Some(set) = self.dependents.get_mut(o) {
                set.remove(&uid);
                if set.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
        for o in new_owners.difference(&old_owners) {
            self.dependents
                .entry(o.clone())
                .or_default()
                .insert(uid.clone());
        }

        // A new or re-parented dependent whose owner is unknown or being deleted in the
        // foreground needs its owners checked.
        let owners_changed = old.as_ref().is_none_or(|o| o.owners != new.owners);
        let new_deleting = old.as_ref().is_none_or(|o| o.deleting != new.deleting);
        if owners_changed
            && new.owners.iter().any(|r| match self.nodes.get(&r.uid) {
                None => true,
                Some(owner) => {
                    owner.deleting_dependents() || !owner.matches(r, new.namespace.as_deref())
                }
            })
        {
            work.push(Work::Delete(uid.clone()));
        }
        if new.orphaning() {
            work.push(Work::Orphan(uid.clone()));
        }
        if new.deleting_dependents() {
            work.push(Work::Delete(uid.clone()));
            if !old.as_ref().is_some_and(|o| o.deleting_dependents()) {
                work.extend(self.dependents_of(&uid).into_iter().map(Work::Delete));
            }
        }
        // Owners waiting in the foreground re-check when a dependent lets go of them.
        if owners_changed || new_deleting {
            for o in old_owners.union(&new_owners) {
                if self.nodes.get(o).is_some_and(|n| n.deleting_dependents()) {
                    work.push(Work::Delete(o.clone()));
                }
            }
        }
        work
    }

    /// Removes a node; returns the work it calls for (its dependents lost an owner, owners
    /// waiting in the foreground lost a dependent).
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut work = Vec::new();
        for r in &node.owners {
            if let Some(set) = self.dependents.get_mut(&r.uid) {
                set.remove(uid);
                if set.is_empty() {
                    self.dependents.remove(&r.uid);
                }
            }
            if self
                .nodes
                .get(&r.uid)
                .is_some_and(|n| n.deleting_dependents())
            {
                work.push(Work::Delete(r.uid.clone()));
            }
        }
        work.extend(self.dependents_of(uid).into_iter().map(Work::Delete));
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(plural: &str) -> &'static ResourceInfo {
        let (g, v) = match plural {
            "replicasets" => ("apps", "v1"),
            _ => ("", "v1"),
        };
        rkube_api::registry::lookup(g, v, plural).expect("registry entry")
    }

    fn owner_ref(
        kind: &str,
        api_version: &str,
        name: &str,
        uid: &str,
        block: bool,
    ) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn node(plural: &str, name: &str, owners: Vec<OwnerReference>) -> Node {
        Node {
            res: res(plural),
            namespace: Some("default".into()),
            name: name.into(),
            owners,
            deleting: false,
            orphan_finalizer: false,
            foreground_finalizer: false,
        }
    }

    #[test]
    fn dependent_with_unknown_owner_is_checked_and_owner_removal_requeues_it() {
        let mut g = Graph::default();
        let rs_ref = owner_ref("ReplicaSet", "apps/v1", "rs", "u-rs", true);
        let w = g.upsert("u-pod".into(), node("pods", "p", vec![rs_ref.clone()]));
        assert_eq!(w, vec![Work::Delete("u-pod".into())]);
        // Once the owner is known, an unchanged dependent calls for nothing.
        assert!(g
            .upsert("u-rs".into(), node("replicasets", "rs", vec![]))
            .is_empty());
        assert!(g
            .upsert("u-pod".into(), node("pods", "p", vec![rs_ref]))
            .is_empty());
        assert_eq!(g.dependents_of("u-rs"), vec!["u-pod".to_string()]);
        assert_eq!(g.remove("u-rs"), vec![Work::Delete("u-pod".into())]);
    }

    #[test]
    fn owner_with_same_name_in_graph_but_other_kind_is_not_trusted() {
        let mut g = Graph::default();
        g.upsert("u-cm".into(), node("configmaps", "rs", vec![]));
        let wrong = owner_ref("ReplicaSet", "apps/v1", "rs", "u-cm", true);
        let w = g.upsert("u-pod".into(), node("pods", "p", vec![wrong]));
        assert_eq!(w, vec![Work::Delete("u-pod".into())]);
    }

    #[test]
    fn foreground_owner_queues_dependents_then_rechecks_when_one_goes() {
        let mut g = Graph::default();
        g.upsert("u-rs".into(), node("replicasets", "rs", vec![]));
        let r = owner_ref("ReplicaSet", "apps/v1", "rs", "u-rs", true);
        g.upsert("u-a".into(), node("pods", "a", vec![r.clone()]));
        let mut nonblocking = r.clone();
        nonblocking.block_owner_deletion = None;
        g.upsert("u-b".into(), node("pods", "b", vec![nonblocking]));
        let mut rs = node("replicasets", "rs", vec![]);
        rs.deleting = true;
        rs.foreground_finalizer = true;
        let mut w = g.upsert("u-rs".into(), rs.clone());
        w.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(
            w,
            vec![
                Work::Delete("u-a".into()),
                Work::Delete("u-b".into()),
                Work::Delete("u-rs".into())
            ]
        );
        assert_eq!(g.blocking_dependents("u-rs"), vec!["u-a".to_string()]);
        // A later update of the owner does not queue the dependents again.
        assert_eq!(
            g.upsert("u-rs".into(), rs),
            vec![Work::Delete("u-rs".into())]
        );
        assert_eq!(g.remove("u-a"), vec![Work::Delete("u-rs".into())]);
        assert!(g.blocking_dependents("u-rs").is_empty());
    }

    #[test]
    fn orphaning_owner_is_queued_for_orphan() {
        let mut g = Graph::default();
        let mut cm = node("configmaps", "cm", vec![]);
        cm.deleting = true;
        cm.orphan_finalizer = true;
        assert_eq!(g.upsert("u".into(), cm), vec![Work::Orphan("u".into())]);
    }

    #[test]
    fn cluster_scoped_owner_matches_from_any_namespace() {
        let mut n = node("nodes", "n1", vec![]);
        n.res = rkube_api::registry::lookup("", "v1", "nodes").expect("nodes");
        n.namespace = None;
        let r = owner_ref("Node", "v1", "n1", "u", false);
        assert!(n.matches(&r, Some("default")));
        assert!(n.matches(&r, None));
    }
}
