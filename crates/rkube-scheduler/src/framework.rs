//! The scheduling framework, after upstream's: parsed [`PodInfo`] and [`NodeInfo`] snapshots,
//! a per-pod [`CycleState`], one trait per extension point (PreFilter, Filter, PostFilter,
//! PreScore, Score with NormalizeScore, Reserve/Unreserve, Permit, Bind), a [`Framework`]
//! profile holding the enabled plugins, and [`schedule_one`], which filters nodes (stopping
//! after `percentageOfNodesToScore` feasible ones, starting where the previous call stopped),
//! scores the feasible ones and picks the best.
//!
//! A scheduling cycle for one pod, as the scheduler loop drives it:
//! 1. [`Framework::schedule`] (or [`schedule_one`]): PreFilter, Filter, PreScore, Score; returns
//!    a [`ScheduleResult`] carrying the cycle's [`CycleState`], or a [`FitError`];
//! 2. on a [`FitError`], [`Framework::run_post_filter`] (preemption) may nominate a node and
//!    victims, and rewrites the error's preemption message;
//! 3. on success, the loop assumes the pod, then calls [`Framework::run_reserve`] (on `Err`,
//!    [`Framework::run_unreserve`] and forget the pod), [`Framework::run_permit`] (on `Reject`
//!    or a `Wait` that times out, [`Framework::run_unreserve`]), then binds.
//!
//! Pod-derived data (requests, tolerations, node and pod affinity terms, host ports) is parsed
//! once per pod into [`PodInfo`]; node-derived data (labels, taints, used ports, the parsed
//! pods on it) once per node into [`NodeInfo`], so filtering thousands of nodes touches no
//! JSON.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::fit_error::FitError;
use crate::plugins::helper::{
    affinity_terms, labels_at, AffinityTerm, Labels, WeightedAffinityTerm,
};
use crate::plugins::node_affinity::{PreferredSchedulingTerm, RequiredNodeAffinity};
use crate::plugins::node_ports::HostPort;
use crate::plugins::taint_toleration::{Taint, Toleration};
use crate::plugins::{array, string};
use crate::preemption::Candidate;
use crate::resources::Resources;

/// The highest score a plugin may give a node after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;
/// Below this many nodes, every node is filtered (upstream's `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// A pod, parsed once: what plugins need of the pod being scheduled and of the pods already on
/// nodes.
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    /// `metadata.namespace` (`default` when missing).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `spec.priority`, 0 when missing.
    pub priority: i32,
    /// `spec.preemptionPolicy` is `Never`.
    pub preemption_never: bool,
    /// `spec.nodeName`, empty when unset.
    pub node_name: String,
    /// Effective requests (see [`Resources::pod_requests`]).
    pub requests: Resources,
    /// Requests with upstream's defaults for containers without any (for scoring).
    pub non_zero_requests: Resources,
    /// `spec.tolerations`.
    pub tolerations: Vec<Toleration>,
    /// `spec.nodeSelector` and required node affinity.
    pub required_node_affinity: RequiredNodeAffinity,
    /// Preferred node affinity terms.
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    /// Host ports the containers ask for.
    pub host_ports: Vec<HostPort>,
    /// Required pod affinity terms.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// `status.startTime`, for preemption's tie-break.
    pub start_time: Option<DateTime<Utc>>,
    /// Kinds of the pod's controller owner references (`ReplicaSet`, `StatefulSet`, …).
    pub owner_kinds: Vec<String>,
    /// `spec.topologySpreadConstraints`, parsed by PodTopologySpread.
    pub spread_constraints: Vec<Value>,
}

impl PodInfo {
    /// Parses a Pod object; malformed fields count as absent.
    pub fn new(pod: &Value) -> PodInfo {
        let namespace = match string(pod, "/metadata/namespace") {
            "" => "default".to_string(),
            ns => ns.to_string(),
        };
        let (required_affinity, preferred_affinity) =
            affinity_terms(pod, "/spec/affinity/podAffinity", &namespace);
        let (required_anti_affinity, preferred_anti_affinity) =
            affinity_terms(pod, "/spec/affinity/podAntiAffinity", &namespace);
        PodInfo {
            name: string(pod, "/metadata/name").to_string(),
            uid: string(pod, "/metadata/uid").to_string(),
            labels: labels_at(pod, "/metadata/labels"),
            priority: pod
                .pointer("/spec/priority")
                .and_then(Value::as_i64)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            preemption_never: string(pod, "/spec/preemptionPolicy") == "Never",
            node_name: string(pod, "/spec/nodeName").to_string(),
            requests: Resources::pod_requests(pod),
            non_zero_requests: Resources::pod_requests_non_zero(pod),
            tolerations: array(pod, "/spec/tolerations")
                .iter()
                .map(Toleration::parse)
                .collect(),
            required_node_affinity: RequiredNodeAffinity::parse(pod),
            preferred_node_affinity: PreferredSchedulingTerm::parse_all(pod),
            host_ports: HostPort::of_pod(pod),
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            terminating: pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|v| !v.is_null()),
            start_time: pod
                .pointer("/status/startTime")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
            owner_kinds: array(pod, "/metadata/ownerReferences")
                .iter()
                .filter(|o| o.get("controller") == Some(&Value::Bool(true)))
                .map(|o| string(o, "/kind").to_string())
                .collect(),
            spread_constraints: array(pod, "/spec/topologySpreadConstraints").to_vec(),
            namespace,
        }
    }

    /// Whether the pod has any pod affinity or anti-affinity term.
    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }
}

/// A node and the pods bound or assumed on it, with their summed requests and parsed data.
///
/// Change it only through [`NodeInfo::add_pod`], [`NodeInfo::remove_pod`] and
/// [`NodeInfo::set_node`]: they keep the parsed data in step with `node` and `pods`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The Node object.
    pub node: Value,
    /// Pods bound to (or assumed on) the node.
    pub pods: Vec<Value>,
    /// Sum of the pods' effective requests; `pods` is the pod count.
    pub requested: Resources,
    /// As `requested`, with upstream's defaults for containers without requests (for scoring).
    pub non_zero_requested: Resources,
    /// `status.allocatable` of the node.
    pub allocatable: Resources,
    name: String,
    labels: Labels,
    taints: Vec<Taint>,
    unschedulable: bool,
    pod_infos: Vec<Arc<PodInfo>>,
    used_ports: Vec<HostPort>,
    with_affinity: usize,
    with_required_anti_affinity: usize,
    label_groups: Vec<LabelGroup>,
}

/// Pods of one node with the same namespace, labels and terminating flag (typically the
/// replicas of one controller), so selectors are matched once per group, not per pod.
#[derive(Debug, Clone)]
pub struct LabelGroup {
    /// The first pod of the group (its namespace, labels and `terminating` stand for all).
    pub pod: Arc<PodInfo>,
    /// How many pods the group holds.
    pub count: usize,
}

impl LabelGroup {
    fn holds(&self, p: &PodInfo) -> bool {
        self.pod.namespace == p.namespace
            && self.pod.terminating == p.terminating
            && self.pod.labels == p.labels
    }
}

impl NodeInfo {
    /// Builds the snapshot, parsing the node and each pod and summing their requests.
    pub fn new(node: Value, pods: Vec<Value>) -> NodeInfo {
        let mut info = NodeInfo {
            node: Value::Null,
            pods: Vec::with_capacity(pods.len()),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            allocatable: Resources::default(),
            name: String::new(),
            labels: Labels::new(),
            taints: Vec::new(),
            unschedulable: false,
            pod_infos: Vec::with_capacity(pods.len()),
            used_ports: Vec::new(),
            with_affinity: 0,
            with_required_anti_affinity: 0,
            label_groups: Vec::new(),
        };
        info.set_node(node);
        for p in pods {
            info.add_pod(p);
        }
        info
    }

    /// Replaces the Node object (after a node update), keeping the pods.
    pub fn set_node(&mut self, node: Value) {
        self.allocatable = Resources::allocatable(&node);
        self.name = string(&node, "/metadata/name").to_string();
        self.labels = labels_at(&node, "/metadata/labels");
        self.taints = array(&node, "/spec/taints")
            .iter()
            .map(Taint::parse)
            .collect();
        self.unschedulable = node.pointer("/spec/unschedulable") == Some(&Value::Bool(true));
        self.node = node;
    }

    /// Adds a pod (bound or assumed) and its requests.
    pub fn add_pod(&mut self, pod: Value) {
        let info = Arc::new(PodInfo::new(&pod));
        self.add_pod_info(pod, info);
    }

    /// As [`NodeInfo::add_pod`] with an already parsed pod (e.g. the one being scheduled).
    pub fn add_pod_info(&mut self, pod: Value, info: Arc<PodInfo>) {
        self.requested = self.requested.plus(info.requests);
        self.non_zero_requested = self.non_zero_requested.plus(info.non_zero_requests);
        self.used_ports.extend(info.host_ports.iter().cloned());
        if info.has_affinity() {
            self.with_affinity += 1;
        }
        if !info.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity += 1;
        }
        match self.label_groups.iter_mut().find(|g| g.holds(&info)) {
            Some(g) => g.count += 1,
            None => self.label_groups.push(LabelGroup {
                pod: info.clone(),
                count: 1,
            }),
        }
        self.pods.push(pod);
        self.pod_infos.push(info);
    }

    /// Removes the pod with this namespace and name, returning it; `None` when absent.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> Option<Value> {
        let i = self
            .pod_infos
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)?;
        let info = self.pod_infos.remove(i);
        let pod = self.pods.remove(i);
        self.requested = self.requested.minus(info.requests);
        self.non_zero_requested = self.non_zero_requested.minus(info.non_zero_requests);
        if info.has_affinity() {
            self.with_affinity -= 1;
        }
        if !info.required_anti_affinity.is_empty() {
            self.with_required_anti_affinity -= 1;
        }
        if let Some(i) = self.label_groups.iter().position(|g| g.holds(&info)) {
            self.label_groups[i].count -= 1;
            if self.label_groups[i].count == 0 {
                self.label_groups.remove(i);
            }
        }
        self.used_ports = self
            .pod_infos
            .iter()
            .flat_map(|p| p.host_ports.iter().cloned())
            .collect();
        Some(pod)
    }

    /// `metadata.name` of the node, empty when missing.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `metadata.labels` of the node.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// `spec.taints` of the node.
    pub fn taints(&self) -> &[Taint] {
        &self.taints
    }

    /// `spec.unschedulable` is true (cordoned).
    pub fn unschedulable(&self) -> bool {
        self.unschedulable
    }

    /// The parsed pods, in the order of `pods`.
    pub fn pod_infos(&self) -> &[Arc<PodInfo>] {
        &self.pod_infos
    }

    /// The node's pods grouped by namespace, labels and terminating flag.
    pub fn label_groups(&self) -> &[LabelGroup] {
        &self.label_groups
    }

    /// Host ports held by the node's pods.
    pub fn used_ports(&self) -> &[HostPort] {
        &self.used_ports
    }

    /// Whether any pod on the node has pod affinity or anti-affinity terms.
    pub fn has_pods_with_affinity(&self) -> bool {
        self.with_affinity > 0
    }

    /// Whether any pod on the node has required pod anti-affinity terms.
    pub fn has_pods_with_required_anti_affinity(&self) -> bool {
        self.with_required_anti_affinity > 0
    }
}

/// Labels of the cluster's namespaces, for pod affinity `namespaceSelector`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces(BTreeMap<String, Labels>);

static NO_NAMESPACES: Namespaces = Namespaces(BTreeMap::new());

impl Namespaces {
    /// From Namespace objects as the API returns them.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Namespaces {
        Namespaces(
            objects
                .into_iter()
                .map(|ns| {
                    (
                        string(ns, "/metadata/name").to_string(),
                        labels_at(ns, "/metadata/labels"),
                    )
                })
                .collect(),
        )
    }

    /// Adds or replaces one namespace's labels.
    pub fn insert(&mut self, name: impl Into<String>, labels: Labels) {
        self.0.insert(name.into(), labels);
    }

    /// Removes a namespace.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// Every namespace and its labels.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Labels)> {
        self.0.iter()
    }

    /// The labels of a namespace, `None` when unknown.
    pub fn labels(&self, name: &str) -> Option<&Labels> {
        self.0.get(name)
    }
}

/// Everything a scheduling decision reads besides the pod: nodes with their pods, namespace
/// labels (for `namespaceSelector`) and PodDisruptionBudgets (for preemption).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// All nodes, in a stable order (the start index rotates over it).
    pub nodes: &'a [NodeInfo],
    /// Namespace labels.
    pub namespaces: &'a Namespaces,
    /// PodDisruptionBudget objects.
    pub pdbs: &'a [Value],
}

impl<'a> Snapshot<'a> {
    /// Nodes only: no namespace labels, no PDBs.
    pub fn new(nodes: &'a [NodeInfo]) -> Snapshot<'a> {
        Snapshot {
            nodes,
            namespaces: &NO_NAMESPACES,
            pdbs: &[],
        }
    }

    /// With namespace labels.
    pub fn with_namespaces(self, namespaces: &'a Namespaces) -> Snapshot<'a> {
        Snapshot { namespaces, ..self }
    }

    /// With PodDisruptionBudgets.
    pub fn with_pdbs(self, pdbs: &'a [Value]) -> Snapshot<'a> {
        Snapshot { pdbs, ..self }
    }
}

/// Why a plugin rejected a pod or node, in upstream's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The pod may fit if other pods are preempted (resources, ports).
    Unschedulable,
    /// Preemption cannot help (taints, selectors, node name).
    UnschedulableAndUnresolvable,
}

/// A failure: a code and one or more reasons, each counted separately in a [`FitError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Whether preemption could help.
    pub code: Code,
    /// Reasons shown to users, e.g. `Insufficient cpu`.
    pub reasons: Vec<String>,
}

impl Status {
    /// An `Unschedulable` status with the given reasons.
    pub fn unschedulable(reasons: impl IntoIterator<Item = impl Into<String>>) -> Status {
        Status {
            code: Code::Unschedulable,
            reasons: reasons.into_iter().map(Into::into).collect(),
        }
    }

    /// An `UnschedulableAndUnresolvable` status with one reason.
    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reasons.join(", "))
    }
}

/// Plugin data kept in a [`CycleState`]: any cloneable value (cloned when preemption simulates
/// removing pods).
pub trait StateData: Any + Send + Sync {
    /// A boxed copy.
    fn clone_box(&self) -> Box<dyn StateData>;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// For downcasting.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// State of one pod's scheduling cycle: the parsed pod, and data plugins computed once (in
/// PreFilter or PreScore) for use on every node.
pub struct CycleState {
    pod: Arc<PodInfo>,
    data: HashMap<&'static str, Box<dyn StateData>>,
    skip_filter: BTreeSet<&'static str>,
    skip_score: BTreeSet<&'static str>,
    narrowed_by: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> CycleState {
        CycleState {
            pod: self.pod.clone(),
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, v.as_ref().clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            narrowed_by: self.narrowed_by.clone(),
        }
    }
}

impl fmt::Debug for CycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "pod",
                &format_args!("{}/{}", self.pod.namespace, self.pod.name),
            )
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl CycleState {
    /// A fresh state for `pod`, parsing it.
    pub fn new(pod: &Value) -> CycleState {
        CycleState {
            pod: Arc::new(PodInfo::new(pod)),
            data: HashMap::new(),
            skip_filter: BTreeSet::new(),
            skip_score: BTreeSet::new(),
            narrowed_by: Vec::new(),
        }
    }

    /// The pod being scheduled, parsed.
    pub fn pod(&self) -> &PodInfo {
        &self.pod
    }

    /// The pod being scheduled, shared (to add it to a [`NodeInfo`]).
    pub fn pod_arc(&self) -> Arc<PodInfo> {
        self.pod.clone()
    }

    /// Plugin data written under `key`, if of type `T`.
    pub fn read<T: Any>(&self, key: &str) -> Option<&T> {
        self.data
            .get(key)
            .and_then(|b| b.as_ref().as_any().downcast_ref())
    }

    /// Mutable plugin data written under `key`, if of type `T`.
    pub fn read_mut<T: Any>(&mut self, key: &str) -> Option<&mut T> {
        self.data
            .get_mut(key)
            .and_then(|b| b.as_mut().as_any_mut().downcast_mut())
    }

    /// Stores plugin data under `key`.
    pub fn write<T: Any + Clone + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }

    /// Whether the named plugin's Filter was skipped by its PreFilter.
    pub fn filter_skipped(&self, plugin: &str) -> bool {
        self.skip_filter.contains(plugin)
    }
}

/// What every plugin has: its upstream name.
pub trait Plugin: Send + Sync {
    /// Upstream's plugin name, e.g. `TaintToleration`.
    fn name(&self) -> &'static str;
}

/// What a PreFilter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreFilterResult {
    /// Filter every node.
    AllNodes,
    /// This plugin's Filter has nothing to check for this pod; skip it.
    Skip,
    /// Only these nodes can fit (intersected across plugins).
    Nodes(BTreeSet<String>),
}

/// The PreFilter extension point: per-pod work done once over all nodes, stored in the
/// [`CycleState`]; plus upstream's PreFilterExtensions (AddPod/RemovePod), which preemption
/// uses to update that state when it simulates removing pods.
pub trait PreFilterPlugin: Plugin {
    /// Computes the plugin's state; an error rejects the pod on every node.
    fn pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<PreFilterResult, Status>;

    /// Updates the state as if `added` now ran on `node`.
    fn add_pod(&self, _state: &mut CycleState, _added: &PodInfo, _node: &NodeInfo) {}

    /// Updates the state as if `removed` no longer ran on `node`.
    fn remove_pod(&self, _state: &mut CycleState, _removed: &PodInfo, _node: &NodeInfo) {}
}

/// The Filter extension point: can the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// `Ok` when the node is feasible, otherwise why not.
    fn filter(&self, state: &CycleState, pod: &Value, node: &NodeInfo) -> Result<(), Status>;
}

/// What a PostFilter (preemption) decided.
#[derive(Debug, Clone, Default)]
pub struct PostFilterResult {
    /// The node to nominate and the pods to evict there, when preemption helps.
    pub candidate: Option<Candidate>,
    /// The message appended to the FitError (`preemption: …`), without trailing period;
    /// `None` when a candidate was found.
    pub message: Option<String>,
}

/// The PostFilter extension point, run when no node fits (preemption).
pub trait PostFilterPlugin: Plugin {
    /// Tries to make room for the pod; `statuses` are the Filter statuses per node name.
    fn post_filter(
        &self,
        fw: &Framework,
        pod: &Value,
        snapshot: &Snapshot<'_>,
        statuses: &[(String, Status)],
    ) -> PostFilterResult;
}

/// Whether a PreScore wants its Score to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreScoreResult {
    /// Run Score on every feasible node.
    Run,
    /// Nothing to score for this pod; the plugin adds 0 to every node.
    Skip,
}

/// The PreScore extension point: per-pod work over the feasible nodes before scoring.
pub trait PreScorePlugin: Plugin {
    /// Computes the plugin's scoring state from the feasible nodes.
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Value,
        feasible: &[&NodeInfo],
        snapshot: &Snapshot<'_>,
    ) -> Result<PreScoreResult, Status>;
}

/// The Score and NormalizeScore extension points: how good is a feasible node?
pub trait ScorePlugin: Plugin {
    /// A raw score for one node.
    fn score(&self, state: &CycleState, pod: &Value, node: &NodeInfo) -> i64;

    /// Rescales the raw scores of the feasible `nodes` into `0..=MAX_NODE_SCORE`; by default
    /// the raw scores already are.
    fn normalize(&self, _state: &CycleState, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}

/// The Reserve extension point: claim node-local resources once a node is chosen; Unreserve
/// gives them back when a later step fails.
pub trait ReservePlugin: Plugin {
    /// Reserves; an error fails the cycle.
    fn reserve(&self, state: &mut CycleState, pod: &Value, node: &str) -> Result<(), Status>;
    /// Undoes [`ReservePlugin::reserve`]; must be idempotent and tolerate no prior reserve.
    fn unreserve(&self, state: &mut CycleState, pod: &Value, node: &str);
}

/// A Permit plugin's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// Bind now.
    Allow,
    /// Hold the pod (assumed) for at most this long before binding; reject on time-out.
    Wait(Duration),
    /// Do not bind; unreserve and requeue.
    Reject(Status),
}

/// The Permit extension point, the last gate before binding.
pub trait PermitPlugin: Plugin {
    /// Allows, delays or rejects binding `pod` to `node`.
    fn permit(&self, state: &CycleState, pod: &Value, node: &str) -> Permit;
}

/// What a Bind plugin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    /// The pod is bound; later binders are not called.
    Bound,
    /// This binder does not handle the pod; try the next.
    Skip,
}

/// The Bind extension point. The default binder (a `pods/binding` create) lives with the
/// scheduler loop, which does the IO; see [`binding_object`].
pub trait BindPlugin: Plugin {
    /// Binds `pod` to `node`, or skips.
    fn bind(&self, state: &CycleState, pod: &Value, node: &str) -> Result<BindOutcome, Status>;
}

/// The `v1` Binding a default binder creates at `pods/{name}/binding`.
pub fn binding_object(pod: &Value, node: &str) -> Value {
    let mut meta = json!({
        "name": string(pod, "/metadata/name"),
        "namespace": string(pod, "/metadata/namespace"),
    });
    if let Some(uid) = pod.pointer("/metadata/uid").filter(|u| u.is_string()) {
        meta["uid"] = uid.clone();
    }
    json!({"apiVersion": "v1", "kind": "Binding", "metadata": meta,
           "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
}

/// One plugin's implementations of each extension point, as the registry builds them from
/// plugin args; a profile enables a subset.
#[derive(Clone, Default)]
pub struct PluginSet {
    /// PreFilter.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Filter.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// PostFilter.
    pub post_filter: Option<Arc<dyn PostFilterPlugin>>,
    /// PreScore.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Score (and NormalizeScore).
    pub score: Option<Arc<dyn ScorePlugin>>,
    /// Reserve/Unreserve.
    pub reserve: Option<Arc<dyn ReservePlugin>>,
    /// Permit.
    pub permit: Option<Arc<dyn PermitPlugin>>,
    /// Bind.
    pub bind: Option<Arc<dyn BindPlugin>>,
}

/// A scheduling profile: the enabled plugins per extension point, in order, and how many
/// nodes to score.
pub struct Framework {
    /// The `schedulerName` pods use to pick this profile.
    pub scheduler_name: String,
    /// PreFilter plugins, in order.
    pub pre_filters: Vec<Arc<dyn PreFilterPlugin>>,
    /// Filter plugins, in order; the first failure decides a node's status.
    pub filters: Vec<Arc<dyn FilterPlugin>>,
    /// PostFilter plugins, in order (preemption).
    pub post_filters: Vec<Arc<dyn PostFilterPlugin>>,
    /// PreScore plugins.
    pub pre_scores: Vec<Arc<dyn PreScorePlugin>>,
    /// Score plugins and their weights.
    pub scorers: Vec<(Arc<dyn ScorePlugin>, i64)>,
    /// Reserve plugins, in order.
    pub reserves: Vec<Arc<dyn ReservePlugin>>,
    /// Permit plugins.
    pub permits: Vec<Arc<dyn PermitPlugin>>,
    /// Bind plugins, in order.
    pub binders: Vec<Arc<dyn BindPlugin>>,
    /// `percentageOfNodesToScore`: `None` (or 0) for upstream's adaptive default.
    pub percentage_of_nodes_to_score: Option<u32>,
    next_start_node_index: AtomicUsize,
}

impl fmt::Debug for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: Vec<&'static str>| v.join(",");
        f.debug_struct("Framework")
            .field("scheduler_name", &self.scheduler_name)
            .field(
                "filters",
                &names(self.filters.iter().map(|p| p.name()).collect()),
            )
            .field(
                "scorers",
                &self
                    .scorers
                    .iter()
                    .map(|(p, w)| format!("{}={w}", p.name()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "percentage_of_nodes_to_score",
                &self.percentage_of_nodes_to_score,
            )
            .finish()
    }
}

/// The name of upstream's default profile.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

impl Default for Framework {
    /// Upstream's default profile (`default-scheduler`), restricted to the plugins this crate
    /// implements, in upstream's order and with its weights.
    fn default() -> Framework {
        crate::config::default_profile(DEFAULT_SCHEDULER_NAME, None)
    }
}

/// The result of a successful scheduling cycle.
#[derive(Debug)]
pub struct ScheduleResult {
    /// The chosen node.
    pub node: String,
    /// Nodes Filter ran on (a prefix of the rotated node list).
    pub evaluated_nodes: usize,
    /// Nodes that passed Filter among those.
    pub feasible_nodes: usize,
    /// The cycle's state, for [`Framework::run_reserve`], [`Framework::run_permit`] and
    /// binders.
    pub state: CycleState,
}

/// How many feasible nodes to look for among `num_all_nodes` (upstream's
/// `numFeasibleNodesToFind`): all below 100 nodes, otherwise `percentage` (adaptive
/// `50 - nodes/125`, at least 5, when `None` or 0) of them, at least 100.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let pct = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    if pct >= 100 {
        return num_all_nodes;
    }
    (num_all_nodes * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

impl Framework {
    /// A profile with no plugins.
    pub fn empty(scheduler_name: impl Into<String>) -> Framework {
        Framework {
            scheduler_name: scheduler_name.into(),
            pre_filters: Vec::new(),
            filters: Vec::new(),
            post_filters: Vec::new(),
            pre_scores: Vec::new(),
            scorers: Vec::new(),
            reserves: Vec::new(),
            permits: Vec::new(),
            binders: Vec::new(),
            percentage_of_nodes_to_score: None,
            next_start_node_index: AtomicUsize::new(0),
        }
    }

    /// Runs every PreFilter, filling `state`. `Ok(None)`: all nodes; `Ok(Some(names))`: only
    /// those nodes can fit. `Err` rejects the pod on every node.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<Option<BTreeSet<String>>, Status> {
        let mut subset: Option<BTreeSet<String>> = None;
        let mut narrowing: Vec<&'static str> = Vec::new();
        for p in &self.pre_filters {
            match p.pre_filter(state, pod, snapshot)? {
                PreFilterResult::AllNodes => {}
                PreFilterResult::Skip => {
                    state.skip_filter.insert(p.name());
                }
                PreFilterResult::Nodes(names) => {
                    narrowing.push(p.name());
                    state.narrowed_by.push(p.name());
                    subset = Some(match subset {
                        None => names,
                        Some(s) => s.intersection(&names).cloned().collect(),
                    });
                    if subset.as_ref().is_some_and(BTreeSet::is_empty) {
                        return Err(Status::unresolvable(format!(
                            "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                            narrowing.join(" ")
                        )));
                    }
                }
            }
        }
        Ok(subset)
    }

    /// Runs the filters on one node, stopping at the first failure.
    pub fn run_filters(
        &self,
        state: &CycleState,
        pod: &Value,
        node: &NodeInfo,
    ) -> Result<(), Status> {
        self.filters
            .iter()
            .filter(|p| !state.skip_filter.contains(p.name()))
            .try_for_each(|p| p.filter(state, pod, node))
    }

    /// Runs the PreFilter extensions after `added` is placed on `node` (preemption).
    pub fn run_add_pod(&self, state: &mut CycleState, added: &PodInfo, node: &NodeInfo) {
        for p in &self.pre_filters {
            p.add_pod(state, added, node);
        }
    }

    /// Runs the PreFilter extensions after `removed` left `node` (preemption).
    pub fn run_remove_pod(&self, state: &mut CycleState, removed: &PodInfo, node: &NodeInfo) {
        for p in &self.pre_filters {
            p.remove_pod(state, removed, node);
        }
    }

    /// Runs PreScore, then Score and NormalizeScore of every plugin not skipped; returns the
    /// weighted total of each node, in the order given.
    pub fn run_scores(
        &self,
        state: &mut CycleState,
        pod: &Value,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot<'_>,
    ) -> Result<Vec<i64>, Status> {
        state.skip_score.clear();
        for p in &self.pre_scores {
            if p.pre_score(state, pod, nodes, snapshot)? == PreScoreResult::Skip {
                state.skip_score.insert(p.name());
            }
        }
        let mut totals = vec![0i64; nodes.len()];
        let mut scores = vec![0i64; nodes.len()];
        for (plugin, weight) in &self.scorers {
            if state.skip_score.contains(plugin.name()) {
                continue;
            }
            for (s, n) in scores.iter_mut().zip(nodes) {
                *s = plugin.score(state, pod, n);
            }
            plugin.normalize(state, nodes, &mut scores);
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t = t.saturating_add(s.clamp(&0, &MAX_NODE_SCORE).saturating_mul(*weight));
            }
        }
        Ok(totals)
    }

    /// Picks a node for `pod` over `snapshot` (see [`schedule_one`]).
    pub fn schedule(
        &self,
        pod: &Value,
        snapshot: &Snapshot<'_>,
    ) -> Result<ScheduleResult, FitError> {
        let all = snapshot.nodes;
        let mut state = CycleState::new(pod);
        let fail = |statuses: Vec<(String, Status)>, pre_filter_msg: Option<String>| {
            let mut e = FitError::new(all.len(), statuses);
            e.pre_filter_msg = pre_filter_msg;
            if self.post_filters.is_empty() {
                e.post_filter_msg = None;
            }
            e
        };
        if all.is_empty() {
            return Err(fail(Vec::new(), None));
        }
        let subset = match self.run_pre_filter(&mut state, pod, snapshot) {
            Ok(s) => s,
            Err(status) => {
                let msg = status.to_string();
                let statuses = all
                    .iter()
                    .map(|n| (n.name().to_string(), status.clone()))
                    .collect();
                return Err(fail(statuses, Some(msg)));
            }
        };
        // nodes outside a PreFilter's subset are rejected without running Filter
        let mut statuses = Vec::new();
        let candidates: Vec<&NodeInfo> = match &subset {
            None => all.iter().collect(),
            Some(names) => all
                .iter()
                .filter(|n| {
                    let keep = names.contains(n.name());
                    if !keep {
                        statuses.push((
                            n.name().to_string(),
                            Status::unresolvable(format!(
                                "node(s) didn't satisfy plugin(s) [{}]",
                                state.narrowed_by.join(" ")
                            )),
                        ));
                    }
                    keep
                })
                .collect(),
        };
        let filters: Vec<&Arc<dyn FilterPlugin>> = self
            .filters
            .iter()
            .filter(|p| !state.skip_filter.contains(p.name()))
            .collect();
        let n = candidates.len();
        let to_find = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, n);
        let start = if n == 0 {
            0
        } else {
            self.next_start_node_index.load(Ordering::Relaxed) % n
        };
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(to_find.min(n));
        let failed_before = statuses.len();
        for i in 0..n {
            if feasible.len() >= to_find {
                break;
            }
            let node = candidates[(start + i) % n];
            match filters.iter().try_for_each(|p| p.filter(&state, pod, node)) {
                Ok(()) => feasible.push(node),
                Err(s) => statuses.push((node.name().to_string(), s)),
            }
        }
        let evaluated = feasible.len() + statuses.len() - failed_before;
        if n > 0 {
            self.next_start_node_index
                .store((start + evaluated) % n, Ordering::Relaxed);
        }
        if feasible.is_empty() {
            return Err(fail(statuses, None));
        }
        let feasible_nodes = feasible.len();
        let node = if feasible.len() == 1 {
            feasible[0].name().to_string()
        } else {
            let totals = self
                .run_scores(&mut state, pod, &feasible, snapshot)
                .map_err(|s| {
                    let statuses = feasible
                        .iter()
                        .map(|n| (n.name().to_string(), s.clone()))
                        .collect();
                    fail(statuses, None)
                })?;
            // ties go to the smallest name (upstream picks at random; repeatable is more
            // useful here)
            feasible
                .iter()
                .zip(totals)
                .max_by(|(a, sa), (b, sb)| sa.cmp(sb).then_with(|| b.name().cmp(a.name())))
                .map(|(n, _)| n.name().to_string())
                .unwrap_or_default()
        };
        Ok(ScheduleResult {
            node,
            evaluated_nodes: evaluated,
            feasible_nodes,
            state,
        })
    }

    /// Runs the PostFilter plugins (preemption) after [`Framework::schedule`] failed with
    /// `err`: the first plugin that finds a candidate wins. Rewrites `err.post_filter_msg` to
    /// the plugins' message (none when a candidate was found or no PostFilter is enabled).
    /// The caller evicts the candidate's victims and sets the pod's
    /// `status.nominatedNodeName`.
    pub fn run_post_filter(
        &self,
        pod: &Value,
        snapshot: &Snapshot<'_>,
        err: &mut FitError,
    ) -> Option<Candidate> {
        err.post_filter_msg = None;
        for p in &self.post_filters {
            let r = p.post_filter(self, pod, snapshot, &err.node_to_status);
            if r.candidate.is_some() {
                err.post_filter_msg = None;
                return r.candidate;
            }
            err.post_filter_msg = r.message;
        }
        None
    }

    /// Runs every Reserve plugin in order after the pod was assumed on `node`. On `Err` the
    /// caller must call [`Framework::run_unreserve`] and forget the assumed pod.
    pub fn run_reserve(
        &self,
        state: &mut CycleState,
        pod: &Value,
        node: &str,
    ) -> Result<(), Status> {
        self.reserves
            .iter()
            .try_for_each(|p| p.reserve(state, pod, node))
    }

    /// Runs every Reserve plugin's Unreserve, in reverse order (after a failed reserve, a
    /// rejected or timed-out permit, or a failed bind).
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &Value, node: &str) {
        for p in self.reserves.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Runs every Permit plugin: any `Reject` rejects (first one wins); otherwise any `Wait`
    /// waits for the shortest of the timeouts; otherwise `Allow`.
    pub fn run_permit(&self, state: &CycleState, pod: &Value, node: &str) -> Permit {
        let mut wait: Option<Duration> = None;
        for p in &self.permits {
            match p.permit(state, pod, node) {
                Permit::Allow => {}
                Permit::Wait(d) => wait = Some(wait.map_or(d, |w| w.min(d))),
                Permit::Reject(s) => return Permit::Reject(s),
            }
        }
        wait.map_or(Permit::Allow, Permit::Wait)
    }

    /// Runs the Bind plugins in order until one binds. `Ok(false)`: none handled the pod (the
    /// caller's default binder should).
    pub fn run_bind(&self, state: &CycleState, pod: &Value, node: &str) -> Result<bool, Status> {
        for b in &self.binders {
            if b.bind(state, pod, node)? == BindOutcome::Bound {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Picks a node for `pod` among `nodes` (no namespace labels, no PDBs; see
/// [`Framework::schedule`] to pass them): PreFilter; Filter from a start index that rotates
/// between calls, stopping once [`num_feasible_nodes_to_find`] nodes fit; PreScore and Score
/// the feasible ones; return the highest total. Ties go to the smallest name. Fails with every
/// evaluated node's status when none is feasible.
pub fn schedule_one(
    fw: &Framework,
    pod: &Value,
    nodes: &[NodeInfo],
) -> Result<ScheduleResult, FitError> {
    fw.schedule(pod, &Snapshot::new(nodes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testutil::node;

    #[test]
    fn num_feasible_nodes_to_find_table() {
        let cases = [
            (None, 0, 0),
            (None, 10, 10),
            (None, 99, 99),
            (None, 100, 100),
            (None, 1000, 420),
            (None, 5000, 500),
            (None, 6000, 300),
            (None, 10000, 500),
            (None, 1200, 492),
            (Some(0), 1000, 420),
            (Some(10), 500, 100),
            (Some(30), 1000, 300),
            (Some(100), 1000, 1000),
            (Some(150), 1000, 1000),
            (Some(1), 99, 99),
        ];
        for (pct, n, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(pct, n), want, "{pct:?} {n}");
        }
    }

    fn simple_pod(i: usize) -> Value {
        json!({"metadata": {"name": format!("p{i}"), "namespace": "default"},
               "spec": {"containers": [{"name": "c",
                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}})
    }

    /// Not timed: exercises the percentage-of-nodes path and rotation over 5000 nodes.
    #[test]
    fn five_thousand_nodes_stop_early_and_rotate() {
        let nodes: Vec<NodeInfo> = (0..5000)
            .map(|i| {
                node(
                    &format!("n{i:04}"),
                    json!({"kubernetes.io/hostname": format!("n{i:04}"), "zone": format!("z{}", i % 3)}),
                    json!({}),
                )
            })
            .collect();
        let fw = Framework::default();
        let first = schedule_one(&fw, &simple_pod(0), &nodes).unwrap();
        assert_eq!(first.evaluated_nodes, 500);
        assert_eq!(first.feasible_nodes, 500);
        // all nodes are equal: the smallest name among the first 500 evaluated
        assert_eq!(first.node, "n0000");
        let second = schedule_one(&fw, &simple_pod(1), &nodes).unwrap();
        assert_eq!(second.evaluated_nodes, 500);
        assert_eq!(second.node, "n0500", "the start index rotates");
        for i in 2..20 {
            let r = schedule_one(&fw, &simple_pod(i), &nodes).unwrap();
            assert_eq!(r.feasible_nodes, 500);
        }
        // a pod that fits nowhere evaluates every node
        let big = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "64"}}}]}});
        let err = schedule_one(&fw, &big, &nodes).unwrap_err();
        assert_eq!(err.node_to_status.len(), 5000);
    }

    #[test]
    fn percentage_configured_and_infeasible_nodes_skipped() {
        // 200 nodes, every other one cordoned; 50% means 100 feasible nodes to find
        let nodes: Vec<NodeInfo> = (0..200)
            .map(|i| {
                node(
                    &format!("n{i:03}"),
                    json!({}),
                    json!({"unschedulable": i % 2 == 1}),
                )
            })
            .collect();
        let fw = Framework {
            percentage_of_nodes_to_score: Some(50),
            ..Framework::default()
        };
        let r = schedule_one(&fw, &simple_pod(0), &nodes).unwrap();
        assert_eq!((r.feasible_nodes, r.evaluated_nodes), (100, 199));
        let r = schedule_one(&fw, &simple_pod(1), &nodes).unwrap();
        assert_eq!(r.node, "n000", "start 199 wraps around");
    }

    struct Gate(&'static str, Permit);
    impl Plugin for Gate {
        fn name(&self) -> &'static str {
            self.0
        }
    }
    impl PermitPlugin for Gate {
        fn permit(&self, _: &CycleState, _: &Value, _: &str) -> Permit {
            self.1.clone()
        }
    }

    #[derive(Default)]
    struct Counter(std::sync::Mutex<Vec<String>>, bool);
    impl Plugin for Counter {
        fn name(&self) -> &'static str {
            "Counter"
        }
    }
    impl ReservePlugin for Counter {
        fn reserve(&self, _: &mut CycleState, _: &Value, node: &str) -> Result<(), Status> {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("reserve {node}"));
            }
            if self.1 {
                Err(Status::unschedulable(["full"]))
            } else {
                Ok(())
            }
        }
        fn unreserve(&self, _: &mut CycleState, _: &Value, node: &str) {
            if let Ok(mut v) = self.0.lock() {
                v.push(format!("unreserve {node}"));
            }
        }
    }

    #[test]
    fn permit_table() {
        let secs = Duration::from_secs;
        let cases = [
            (vec![], Permit::Allow),
            (vec![Permit::Allow, Permit::Allow], Permit::Allow),
            (
                vec![Permit::Allow, Permit::Wait(secs(10))],
                Permit::Wait(secs(10)),
            ),
            (
                vec![Permit::Wait(secs(10)), Permit::Wait(secs(3))],
                Permit::Wait(secs(3)),
            ),
            (
                vec![
                    Permit::Wait(secs(10)),
                    Permit::Reject(Status::unschedulable(["no"])),
                ],
                Permit::Reject(Status::unschedulable(["no"])),
            ),
        ];
        let pod = simple_pod(0);
        for (verdicts, want) in cases {
            let mut fw = Framework::empty("x");
            for v in verdicts.clone() {
                fw.permits.push(Arc::new(Gate("Gate", v)));
            }
            let state = CycleState::new(&pod);
            assert_eq!(fw.run_permit(&state, &pod, "n"), want, "{verdicts:?}");
        }
    }

    #[test]
    fn reserve_and_unreserve() {
        let pod = simple_pod(0);
        let ok = Arc::new(Counter::default());
        let failing = Arc::new(Counter(Default::default(), true));
        let mut fw = Framework::empty("x");
        fw.reserves.push(ok.clone());
        fw.reserves.push(failing.clone());
        let mut state = CycleState::new(&pod);
        assert!(fw.run_reserve(&mut state, &pod, "n1").is_err());
        fw.run_unreserve(&mut state, &pod, "n1");
        let log = |c: &Counter| c.0.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(log(&ok), ["reserve n1", "unreserve n1"]);
        assert_eq!(log(&failing), ["reserve n1", "unreserve n1"]);
        assert!(Framework::default()
            .run_reserve(&mut state, &pod, "n1")
            .is_ok());
    }

    struct OnlyNodes(&'static [&'static str]);
    impl Plugin for OnlyNodes {
        fn name(&self) -> &'static str {
            "OnlyNodes"
        }
    }
    impl PreFilterPlugin for OnlyNodes {
        fn pre_filter(
            &self,
            _: &mut CycleState,
            _: &Value,
            _: &Snapshot<'_>,
        ) -> Result<PreFilterResult, Status> {
            Ok(PreFilterResult::Nodes(
                self.0.iter().map(|s| s.to_string()).collect(),
            ))
        }
    }

    #[test]
    fn pre_filter_node_subsets() {
        let nodes = vec![
            node("a", json!({}), json!({})),
            node("b", json!({}), json!({})),
            node("c", json!({}), json!({})),
        ];
        let mut fw = Framework::default();
        fw.pre_filters.push(Arc::new(OnlyNodes(&["b"])));
        let r = schedule_one(&fw, &simple_pod(0), &nodes).unwrap();
        assert_eq!((r.node.as_str(), r.evaluated_nodes), ("b", 1));
        let cordoned = json!({"spec": {"nodeName": "a", "containers": [{}]}});
        let err = schedule_one(&fw, &cordoned, &nodes).unwrap_err();
        assert_eq!(
            err.reasons_histogram(),
            [
                "1 node(s) didn't match the requested node name",
                "2 node(s) didn't satisfy plugin(s) [OnlyNodes]"
            ]
        );
        fw.pre_filters.push(Arc::new(OnlyNodes(&["c"])));
        let err = schedule_one(&fw, &simple_pod(0), &nodes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: node(s) didn't satisfy plugin(s) [OnlyNodes OnlyNodes] \
             simultaneously. preemption: 0/3 nodes are available: 3 Preemption is not helpful \
             for scheduling."
        );
    }

    #[test]
    fn node_info_add_remove() {
        let mut n = node("a", json!({}), json!({}));
        let p = |name: &str| {
            json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"containers": [
                {"resources": {"requests": {"cpu": "1"}},
                 "ports": [{"containerPort": 80, "hostPort": 80}]}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {}, "topologyKey": "zone"}]}}}})
        };
        n.add_pod(p("x"));
        n.add_pod(p("y"));
        assert_eq!((n.requested.milli_cpu, n.requested.pods), (2000, 2));
        assert_eq!(n.used_ports().len(), 2);
        assert!(n.has_pods_with_required_anti_affinity());
        assert_eq!(n.label_groups().len(), 1);
        assert_eq!(n.label_groups()[0].count, 2);
        assert!(n.remove_pod("ns", "x").is_some());
        assert!(n.remove_pod("ns", "x").is_none());
        assert_eq!(n.label_groups()[0].count, 1);
        assert_eq!((n.requested.milli_cpu, n.requested.pods), (1000, 1));
        assert_eq!(n.used_ports().len(), 1);
        assert!(n.remove_pod("ns", "y").is_some());
        assert!(!n.has_pods_with_affinity());
        assert!(n.label_groups().is_empty());
        assert_eq!(n.requested, Resources::default());
    }

    #[test]
    fn binding_object_shape() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}});
        assert_eq!(
            binding_object(&pod, "n1"),
            json!({"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}})
        );
    }
}
