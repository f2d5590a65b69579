//! The scheduler cache: every node with the pods bound to it, plus *assumed* pods — pods the
//! scheduler has placed but whose binding the API server has not confirmed yet. Counting
//! assumed pods is what keeps back-to-back pods from overcommitting a node while bindings are
//! in flight. The node list is kept as a slice of [`NodeInfo`] so scheduling reads it without
//! copying; nodes and pods are changed only through `NodeInfo`'s own methods, which keep its
//! parsed data in step.

use std::collections::HashMap;

use serde_json::Value;

use crate::framework::NodeInfo;

fn key_of(pod: &Value) -> String {
    let m = &pod["metadata"];
    format!(
        "{}/{}",
        m["namespace"].as_str().unwrap_or("default"),
        m["name"].as_str().unwrap_or_default()
    )
}

fn node_of(pod: &Value) -> &str {
    pod["spec"]["nodeName"].as_str().unwrap_or_default()
}

#[derive(Debug, Clone)]
struct PodEntry {
    node: String,
    uid: String,
    assumed: bool,
}

/// Nodes and the pods on them, including assumed ones.
#[derive(Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, PodEntry>,
    /// Pods bound to nodes the cache has not seen yet, by node name.
    waiting: HashMap<String, Vec<Value>>,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// All known nodes, for a scheduling cycle.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    /// How many pods (bound and assumed) the cache holds.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Whether the pod is assumed (placed, binding not yet observed).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Adds a node or replaces its object, keeping its pods.
    pub fn upsert_node(&mut self, node: Value) {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match self.index.get(&name) {
            Some(&i) => self.nodes[i].set_node(node),
            None => {
                let pods = self.waiting.remove(&name).unwrap_or_default();
                self.index.insert(name, self.nodes.len());
                self.nodes.push(NodeInfo::new(node, pods));
            }
        }
    }

    /// Removes a node. Its pods stay known and wait for a node of that name to come back, as
    /// upstream keeps pods of deleted nodes until they are deleted themselves.
    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        let info = self.nodes.swap_remove(i);
        if i < self.nodes.len() {
            let moved = self.nodes[i].name().to_string();
            self.index.insert(moved, i);
        }
        if !info.pods.is_empty() {
            self.waiting.insert(name.to_string(), info.pods);
        }
    }

    fn attach(&mut self, pod: Value) {
        let node = node_of(&pod).to_string();
        match self.index.get(&node) {
            Some(&i) => self.nodes[i].add_pod(pod),
            None => self.waiting.entry(node).or_default().push(pod),
        }
    }

    fn detach(&mut self, key: &str, node: &str) {
        let (ns, name) = key.split_once('/').unwrap_or(("default", key));
        match self.index.get(node) {
            Some(&i) => {
                self.nodes[i].remove_pod(ns, name);
            }
            None => {
                if let Some(list) = self.waiting.get_mut(node) {
                    list.retain(|p| key_of(p) != key);
                    if list.is_empty() {
                        self.waiting.remove(node);
                    }
                }
            }
        }
    }

    /// Records a pod bound to a node (`spec.nodeName` set), replacing an assumed or older copy.
    /// Terminal pods (Succeeded/Failed) free their node's resources, as upstream.
    pub fn upsert_pod(&mut self, pod: Value) {
        let key = key_of(&pod);
        if matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        ) {
            self.remove_pod(&key);
            return;
        }
        let node = node_of(&pod).to_string();
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(old) = self.pods.remove(&key) {
            self.detach(&key, &old.node);
        }
        self.attach(pod);
        self.pods.insert(
            key,
            PodEntry {
                node,
                uid,
                assumed: false,
            },
        );
    }

    /// Forgets a pod (deleted, or finished).
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            self.detach(key, &old.node);
        }
    }

    /// Places `pod` on `node` before its binding is confirmed.
    pub fn assume(&mut self, pod: &Value, node: &str) {
        let mut pod = pod.clone();
        pod["spec"]["nodeName"] = Value::String(node.to_string());
        let key = key_of(&pod);
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(old) = self.pods.remove(&key) {
            self.detach(&key, &old.node);
        }
        self.attach(pod);
        self.pods.insert(
            key,
            PodEntry {
                node: node.to_string(),
                uid,
                assumed: true,
            },
        );
    }

    /// Drops an assumed pod whose binding failed; a confirmed pod is left alone.
    pub fn forget(&mut self, key: &str) {
        if self.is_assumed(key) {
            self.remove_pod(key);
        }
    }

    /// The uid of a cached pod.
    pub fn pod_uid(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.uid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name},
               "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}})
    }

    fn pod(name: &str, node: &str, cpu: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "uid": name},
               "spec": {"nodeName": node, "containers": [{"name": "c",
                   "resources": {"requests": {"cpu": cpu}}}]}})
    }

    #[test]
    fn assumed_pods_count_until_forgotten_or_confirmed() {
        let mut c = Cache::new();
        c.upsert_node(node("n1"));
        c.assume(&pod("a", "", "500m"), "n1");
        assert!(c.is_assumed("default/a"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500);
        c.upsert_pod(pod("a", "n1", "500m"));
        assert!(!c.is_assumed("default/a"));
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500);
        c.forget("default/a"); // confirmed: stays
        assert_eq!(c.node("n1").unwrap().pods.len(), 1);
        c.assume(&pod("b", "", "200m"), "n1");
        c.forget("default/b");
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500);
    }

    #[test]
    fn pods_wait_for_their_node_and_survive_node_removal() {
        let mut c = Cache::new();
        c.upsert_pod(pod("a", "n2", "100m"));
        c.upsert_node(node("n1"));
        c.upsert_node(node("n2"));
        assert_eq!(c.node("n2").unwrap().pods.len(), 1);
        c.remove_node("n1");
        assert_eq!(c.nodes().len(), 1);
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 100);
        c.remove_node("n2");
        c.upsert_node(node("n2"));
        assert_eq!(c.node("n2").unwrap().pods.len(), 1);
        c.remove_pod("default/a");
        assert_eq!(c.node("n2").unwrap().pods.len(), 0);
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 0);
    }

    #[test]
    fn finished_pods_free_resources_and_moves_are_tracked() {
        let mut c = Cache::new();
        c.upsert_node(node("n1"));
        c.upsert_node(node("n2"));
        c.upsert_pod(pod("a", "n1", "300m"));
        let mut moved = pod("a", "n2", "300m");
        c.upsert_pod(moved.clone());
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 0);
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 300);
        moved["status"] = json!({"phase": "Succeeded"});
        c.upsert_pod(moved);
        assert_eq!(c.node("n2").unwrap().requested.milli_cpu, 0);
        assert_eq!(c.pod_count(), 0);
    }
}
