//! Scheduler profiles from a `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`,
//! YAML or JSON): the plugin registry (plugin name → extension points, built from its
//! `pluginConfig` args), upstream's v1 default plugin set, and the merge of a profile's
//! `plugins.<extensionPoint>.enabled/disabled` (`name: "*"` disables every default) into one
//! [`Framework`] per `schedulerName`.
//!
//! As upstream, the defaults are `multiPoint` plugins: each is enabled at every extension
//! point it implements, unless disabled there; a plugin named at a specific extension point
//! overrides its `multiPoint` entry (e.g. a new score weight) and keeps that point's order.
//! Plugins upstream has but this crate does not implement (volume plugins, ImageLocality,
//! PrioritySort, SchedulingGates, DefaultBinder) are accepted and do nothing.

use serde_json::Value;

use crate::framework::{Framework, PluginSet, DEFAULT_SCHEDULER_NAME};
use crate::plugins::{
    inter_pod_affinity, node_affinity, node_name, node_ports, node_resources_balanced_allocation,
    node_resources_fit, node_unschedulable, pod_topology_spread, taint_toleration,
};
use crate::preemption;

/// The only supported `apiVersion`.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
/// The only supported `kind`.
pub const KIND: &str = "KubeSchedulerConfiguration";

/// Why a configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML/JSON, or not an object.
    #[error("failed to parse scheduler configuration: {0}")]
    Parse(String),
    /// A field is invalid; `field` is its path, e.g. `profiles[0].plugins.filter.enabled[1].name`.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Upstream's v1 default plugins (`multiPoint`) with their score weights, in order.
pub const DEFAULT_PLUGINS: &[(&str, Option<i64>)] = &[
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", Some(3)),
    ("NodeAffinity", Some(2)),
    ("NodePorts", None),
    ("NodeResourcesFit", Some(1)),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", Some(2)),
    ("InterPodAffinity", Some(2)),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", Some(1)),
    ("ImageLocality", Some(1)),
    ("DefaultBinder", None),
];

/// Upstream plugins accepted in configurations but not implemented here.
const NO_OP_PLUGINS: &[&str] = &[
    "SchedulingGates",
    "PrioritySort",
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "ImageLocality",
    "DefaultBinder",
];

/// Extension points a configuration may name; the ones the framework runs come first.
const POINTS: &[&str] = &[
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "bind",
    "preEnqueue",
    "queueSort",
    "preBind",
    "postBind",
];

fn implements(set: &PluginSet, point: &str) -> bool {
    match point {
        "preFilter" => set.pre_filter.is_some(),
        "filter" => set.filter.is_some(),
        "postFilter" => set.post_filter.is_some(),
        "preScore" => set.pre_score.is_some(),
        "score" => set.score.is_some(),
        "reserve" => set.reserve.is_some(),
        "permit" => set.permit.is_some(),
        "bind" => set.bind.is_some(),
        _ => false,
    }
}

/// Builds a plugin from its args; `Ok(None)` for an unknown name. `path` names the args in
/// errors.
fn build_plugin(
    name: &str,
    args: Option<&Value>,
    path: &str,
) -> Result<Option<PluginSet>, ConfigError> {
    let arg = |k: &str| args.and_then(|a| a.get(k)).filter(|v| !v.is_null());
    let set = match name {
        "NodeUnschedulable" => node_unschedulable::plugin_set(),
        "NodeName" => node_name::plugin_set(),
        "TaintToleration" => taint_toleration::plugin_set(),
        "NodeAffinity" => node_affinity::plugin_set(),
        "NodePorts" => node_ports::plugin_set(),
        "NodeResourcesFit" => {
            let strategy = node_resources_fit::ScoringStrategy::parse(
                arg("scoringStrategy"),
                &format!("{path}.scoringStrategy"),
            )
            .map_err(|m| split_error(&m))?;
            node_resources_fit::plugin_set(strategy)
        }
        "NodeResourcesBalancedAllocation" => {
            let resources =
                node_resources_fit::parse_resources(arg("resources"), &format!("{path}.resources"))
                    .map_err(|m| split_error(&m))?;
            node_resources_balanced_allocation::plugin_set(resources)
        }
        "PodTopologySpread" => pod_topology_spread::plugin_set(spread_args(args, path)?),
        "InterPodAffinity" => {
            let weight = match arg("hardPodAffinityWeight") {
                None => inter_pod_affinity::DEFAULT_HARD_POD_AFFINITY_WEIGHT,
                Some(v) => v
                    .as_i64()
                    .filter(|w| (0..=100).contains(w))
                    .ok_or_else(|| {
                        invalid(
                            format!("{path}.hardPodAffinityWeight"),
                            format!("Invalid value: {v}: not in valid range [0, 100]"),
                        )
                    })?,
            };
            inter_pod_affinity::plugin_set(inter_pod_affinity::InterPodAffinity {
                hard_pod_affinity_weight: weight,
                ignore_preferred_terms_of_existing_pods: arg("ignorePreferredTermsOfExistingPods")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        }
        "DefaultPreemption" => preemption::plugin_set(),
        n if NO_OP_PLUGINS.contains(&n) => PluginSet::default(),
        _ => return Ok(None),
    };
    Ok(Some(set))
}

/// Turns a `field: message` string from an args parser into an error naming the field.
fn split_error(m: &str) -> ConfigError {
    match m.split_once(": ") {
        Some((f, rest)) => invalid(f, rest),
        None => invalid("args", m),
    }
}

fn spread_args(
    args: Option<&Value>,
    path: &str,
) -> Result<pod_topology_spread::PodTopologySpread, ConfigError> {
    let defaulting = args
        .and_then(|a| a.get("defaultingType"))
        .and_then(Value::as_str)
        .unwrap_or("System");
    let constraints = args
        .and_then(|a| a.get("defaultConstraints"))
        .filter(|v| !v.is_null());
    let list = match constraints {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(invalid(
                format!("{path}.defaultConstraints"),
                "must be a list",
            ))
        }
    };
    match defaulting {
        "System" => {
            if !list.is_empty() {
                return Err(invalid(
                    format!("{path}.defaultConstraints"),
                    "Invalid value: when .defaultingType is \"System\", .defaultConstraints \
                     must be empty",
                ));
            }
            Ok(pod_topology_spread::PodTopologySpread::default())
        }
        "List" => {
            for (i, c) in list.iter().enumerate() {
                let f = |k: &str| format!("{path}.defaultConstraints[{i}].{k}");
                if c.get("maxSkew")
                    .and_then(Value::as_i64)
                    .is_none_or(|m| m <= 0)
                {
                    return Err(invalid(
                        f("maxSkew"),
                        "Invalid value: must be greater than zero",
                    ));
                }
                if c.get("topologyKey")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(invalid(
                        f("topologyKey"),
                        "Required value: can not be empty",
                    ));
                }
                let when = c
                    .get("whenUnsatisfiable")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !matches!(when, "DoNotSchedule" | "ScheduleAnyway") {
                    return Err(invalid(
                        f("whenUnsatisfiable"),
                        format!(
                            "Unsupported value: \"{when}\": supported values: \"DoNotSchedule\", \
                             \"ScheduleAnyway\""
                        ),
                    ));
                }
                if c.get("labelSelector").is_some_and(|s| !s.is_null()) {
                    return Err(invalid(
                        f("labelSelector"),
                        "Forbidden: constraint must not define a selector, as they deduced for \
                         each pod",
                    ));
                }
            }
            Ok(pod_topology_spread::PodTopologySpread {
                default_constraints: list,
                system_defaulted: false,
            })
        }
        other => Err(invalid(
            format!("{path}.defaultingType"),
            format!("Unsupported value: \"{other}\": supported values: \"List\", \"System\""),
        )),
    }
}

/// One `plugins.<point>` entry.
#[derive(Debug, Clone, Default)]
struct PointConfig {
    enabled: Vec<(String, Option<i64>)>,
    disabled: Vec<String>,
}

impl PointConfig {
    fn disables(&self, name: &str) -> bool {
        self.disabled.iter().any(|d| d == "*" || d == name)
    }

    fn is_enabled(&self, name: &str) -> bool {
        self.enabled.iter().any(|(n, _)| n == name)
    }
}

fn parse_point(v: Option<&Value>, path: &str) -> Result<PointConfig, ConfigError> {
    let mut out = PointConfig::default();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    for (list, field) in [("enabled", true), ("disabled", false)] {
        let items = match v.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid(format!("{path}.{list}"), "must be a list")),
        };
        for (i, item) in items.iter().enumerate() {
            let f = format!("{path}.{list}[{i}]");
            let name = item
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| invalid(format!("{f}.name"), "Required value"))?;
            if field {
                if name == "*" {
                    return Err(invalid(
                        format!("{f}.name"),
                        "Invalid value: \"*\" may only disable",
                    ));
                }
                let weight = match item.get("weight") {
                    None | Some(Value::Null) => None,
                    Some(w) => Some(w.as_i64().filter(|w| *w >= 0).ok_or_else(|| {
                        invalid(
                            format!("{f}.weight"),
                            format!("Invalid value: {w}: must be a non-negative integer"),
                        )
                    })?),
                };
                out.enabled
                    .push((name.to_string(), weight.filter(|w| *w > 0)));
            } else {
                out.disabled.push(name.to_string());
            }
        }
    }
    Ok(out)
}

fn percentage(v: Option<&Value>, field: &str) -> Result<Option<u32>, ConfigError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(p) => p
            .as_u64()
            .filter(|p| *p <= 100)
            .map(|p| Some(p as u32))
            .ok_or_else(|| {
                invalid(
                    field,
                    format!("Invalid value: {p}: not in valid range [0, 100]"),
                )
            }),
    }
}

/// Builds one profile. `profile` is the `profiles[i]` object (`Value::Null` for the default);
/// `path` names it in errors.
fn build_profile(
    profile: &Value,
    global_pct: Option<u32>,
    path: &str,
) -> Result<Framework, ConfigError> {
    let scheduler_name = match profile.get("schedulerName") {
        None | Some(Value::Null) => DEFAULT_SCHEDULER_NAME.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(v) => {
            return Err(invalid(
                format!("{path}.schedulerName"),
                format!("Invalid value: {v}"),
            ))
        }
    };
    let plugins = profile.get("plugins").filter(|v| !v.is_null());
    if let Some(p) = plugins {
        if let Some(obj) = p.as_object() {
            for k in obj.keys() {
                if k != "multiPoint" && !POINTS.contains(&k.as_str()) {
                    return Err(invalid(
                        format!("{path}.plugins.{k}"),
                        "unknown extension point",
                    ));
                }
            }
        } else {
            return Err(invalid(format!("{path}.plugins"), "must be an object"));
        }
    }
    let point = |p: &str| {
        parse_point(
            plugins.and_then(|v| v.get(p)),
            &format!("{path}.plugins.{p}"),
        )
    };

    // plugin args
    let mut args: Vec<(String, Value, String)> = Vec::new();
    if let Some(pc) = profile.get("pluginConfig").filter(|v| !v.is_null()) {
        let list = pc
            .as_array()
            .ok_or_else(|| invalid(format!("{path}.pluginConfig"), "must be a list"))?;
        for (i, c) in list.iter().enumerate() {
            let f = format!("{path}.pluginConfig[{i}]");
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{f}.name"), "Required value"))?;
            if args.iter().any(|(n, _, _)| n == name) {
                return Err(invalid(
                    format!("{f}.name"),
                    format!("Duplicate value: \"{name}\""),
                ));
            }
            let a = c.get("args").cloned().unwrap_or(Value::Null);
            // validate now, even for plugins the profile does not enable
            if build_plugin(name, Some(&a), &format!("{f}.args"))?.is_none() {
                return Err(invalid(
                    format!("{f}.name"),
                    format!("unknown plugin \"{name}\""),
                ));
            }
            args.push((name.to_string(), a, format!("{f}.args")));
        }
    }
    let instance = |name: &str, field: &str| -> Result<PluginSet, ConfigError> {
        let (a, p) = args
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, a, p)| (Some(a), p.clone()))
            .unwrap_or((None, String::new()));
        build_plugin(name, a, &p)?
            .ok_or_else(|| invalid(field.to_string(), format!("unknown plugin \"{name}\"")))
    };

    // multiPoint: the defaults, minus disabled, plus enabled (replacing in place)
    let user_mp = point("multiPoint")?;
    let mut multi: Vec<(String, Option<i64>)> = DEFAULT_PLUGINS
        .iter()
        .filter(|(n, _)| !user_mp.disables(n))
        .map(|(n, w)| (n.to_string(), *w))
        .collect();
    for (i, (name, w)) in user_mp.enabled.iter().enumerate() {
        instance(
            name,
            &format!("{path}.plugins.multiPoint.enabled[{i}].name"),
        )?;
        match multi.iter_mut().find(|(n, _)| n == name) {
            Some(e) => e.1 = w.or(e.1),
            None => multi.push((name.clone(), *w)),
        }
    }

    let mut fw = Framework::empty(scheduler_name);
    fw.percentage_of_nodes_to_score = percentage(
        profile.get("percentageOfNodesToScore"),
        &format!("{path}.percentageOfNodesToScore"),
    )?
    .or(global_pct);
    let mut built: Vec<(String, PluginSet)> = Vec::new();
    let mut get = |name: &str, field: &str| -> Result<PluginSet, ConfigError> {
        if let Some((_, s)) = built.iter().find(|(n, _)| n == name) {
            return Ok(s.clone());
        }
        let s = instance(name, field)?;
        built.push((name.to_string(), s.clone()));
        Ok(s)
    };
    for p in POINTS {
        let cfg = point(p)?;
        for d in &cfg.disabled {
            if d != "*" && build_plugin(d, None, "")?.is_none() {
                return Err(invalid(
                    format!("{path}.plugins.{p}.disabled"),
                    format!("unknown plugin \"{d}\""),
                ));
            }
        }
        // part 1: plugins named at this point (overriding multiPoint) keep this point's order;
        // part 2: remaining multiPoint plugins; part 3: the other plugins named here
        let mut order: Vec<(String, Option<i64>, String)> = Vec::new();
        let mut overrides = Vec::new();
        for (name, w) in &multi {
            let set = get(name, &format!("{path}.plugins.multiPoint"))?;
            if !implements(&set, p) || cfg.disables(name) {
                continue;
            }
            if cfg.is_enabled(name) {
                overrides.push(name.clone());
                continue;
            }
            order.push((name.clone(), *w, String::new()));
        }
        let mut part1 = Vec::new();
        let mut part3 = Vec::new();
        for (i, (name, w)) in cfg.enabled.iter().enumerate() {
            let field = format!("{path}.plugins.{p}.enabled[{i}]");
            let set = get(name, &format!("{field}.name"))?;
            if NO_OP_PLUGINS.contains(&name.as_str()) {
                continue;
            }
            if !implements(&set, p) {
                return Err(invalid(
                    field,
                    format!("plugin \"{name}\" does not extend {p} plugin"),
                ));
            }
            let mp_weight = multi.iter().find(|(n, _)| n == name).and_then(|(_, w)| *w);
            let entry = (name.clone(), w.or(mp_weight), field);
            if overrides.contains(name) {
                part1.push(entry);
            } else if !order.iter().any(|(n, _, _)| n == name) {
                part3.push(entry);
            }
        }
        let ordered: Vec<(String, Option<i64>, String)> =
            part1.into_iter().chain(order).chain(part3).collect();
        for (name, w, _) in ordered {
            let set = get(&name, "")?;
            match *p {
                "preFilter" => fw.pre_filters.extend(set.pre_filter),
                "filter" => fw.filters.extend(set.filter),
                "postFilter" => fw.post_filters.extend(set.post_filter),
                "preScore" => fw.pre_scores.extend(set.pre_score),
                "score" => fw.scorers.extend(set.score.map(|s| (s, w.unwrap_or(1)))),
                "reserve" => fw.reserves.extend(set.reserve),
                "permit" => fw.permits.extend(set.permit),
                "bind" => fw.binders.extend(set.bind),
                _ => {}
            }
        }
    }
    Ok(fw)
}

/// Upstream's default profile under `scheduler_name`.
pub fn default_profile(scheduler_name: &str, percentage: Option<u32>) -> Framework {
    let profile = serde_json::json!({"schedulerName": scheduler_name});
    match build_profile(&profile, percentage, "profiles[0]") {
        Ok(fw) => fw,
        // unreachable: the defaults are valid
        Err(_) => Framework::empty(scheduler_name),
    }
}

/// The scheduler's profiles, one [`Framework`] per `schedulerName`.
#[derive(Debug)]
pub struct Profiles {
    profiles: Vec<Framework>,
}

impl Default for Profiles {
    /// One `default-scheduler` profile with upstream's default plugins.
    fn default() -> Profiles {
        Profiles {
            profiles: vec![Framework::default()],
        }
    }
}

impl Profiles {
    /// Parses a `KubeSchedulerConfiguration` (YAML or JSON).
    pub fn from_yaml(text: &str) -> Result<Profiles, ConfigError> {
        let v: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        Profiles::from_value(&v)
    }

    /// As [`Profiles::from_yaml`], from a parsed document.
    pub fn from_value(v: &Value) -> Result<Profiles, ConfigError> {
        if !v.is_object() {
            return Err(ConfigError::Parse("expected an object".to_string()));
        }
        match v.get("apiVersion").and_then(Value::as_str) {
            Some(API_VERSION) => {}
            other => {
                return Err(invalid(
                    "apiVersion",
                    format!(
                        "Unsupported value: \"{}\": supported values: \"{API_VERSION}\"",
                        other.unwrap_or_default()
                    ),
                ))
            }
        }
        match v.get("kind").and_then(Value::as_str) {
            Some(KIND) => {}
            other => {
                return Err(invalid(
                    "kind",
                    format!(
                        "Unsupported value: \"{}\": supported values: \"{KIND}\"",
                        other.unwrap_or_default()
                    ),
                ))
            }
        }
        let global = percentage(
            v.get("percentageOfNodesToScore"),
            "percentageOfNodesToScore",
        )?;
        let list = match v.get("profiles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(invalid("profiles", "must be a list")),
        };
        if list.is_empty() {
            return Ok(Profiles {
                profiles: vec![default_profile(DEFAULT_SCHEDULER_NAME, global)],
            });
        }
        let mut profiles: Vec<Framework> = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let path = format!("profiles[{i}]");
            if !p.is_object() {
                return Err(invalid(path, "must be an object"));
            }
            let fw = build_profile(p, global, &path)?;
            if profiles
                .iter()
                .any(|f| f.scheduler_name == fw.scheduler_name)
            {
                return Err(invalid(
                    format!("{path}.schedulerName"),
                    format!("Duplicate value: \"{}\"", fw.scheduler_name),
                ));
            }
            profiles.push(fw);
        }
        Ok(Profiles { profiles })
    }

    /// The profile for a `schedulerName`.
    pub fn get(&self, scheduler_name: &str) -> Option<&Framework> {
        self.profiles
            .iter()
            .find(|f| f.scheduler_name == scheduler_name)
    }

    /// The profile for a pod (`spec.schedulerName`, `default-scheduler` when unset); `None`
    /// when the pod is for another scheduler.
    pub fn for_pod(&self, pod: &Value) -> Option<&Framework> {
        match pod.pointer("/spec/schedulerName").and_then(Value::as_str) {
            None | Some("") => self.get(DEFAULT_SCHEDULER_NAME),
            Some(name) => self.get(name),
        }
    }

    /// Every profile, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Framework> {
        self.profiles.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fw: &Framework) -> (Vec<&str>, Vec<String>, Vec<&str>, Vec<&str>) {
        (
            fw.filters.iter().map(|p| p.name()).collect(),
            fw.scorers
                .iter()
                .map(|(p, w)| format!("{}={w}", p.name()))
                .collect(),
            fw.pre_filters.iter().map(|p| p.name()).collect(),
            fw.post_filters.iter().map(|p| p.name()).collect(),
        )
    }

    const HEAD: &str =
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

    #[test]
    fn default_profile_order_and_weights() {
        let p = Profiles::default();
        let fw = p.get("default-scheduler").expect("default profile");
        let (filters, scores, pre_filters, post) = names(fw);
        assert_eq!(
            filters,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            scores,
            [
                "TaintToleration=3",
                "NodeAffinity=2",
                "NodeResourcesFit=1",
                "PodTopologySpread=2",
                "InterPodAffinity=2",
                "NodeResourcesBalancedAllocation=1"
            ]
        );
        assert_eq!(
            pre_filters,
            ["NodePorts", "PodTopologySpread", "InterPodAffinity"]
        );
        assert_eq!(post, ["DefaultPreemption"]);
        assert!(p.get("other").is_none());
        let empty = Profiles::from_yaml(HEAD).unwrap();
        assert_eq!(names(empty.get("default-scheduler").unwrap()), names(fw));
    }

    #[test]
    fn profiles_table() {
        let cases: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = vec![
            (
                "disable one filter, reweight a score",
                "profiles:\n- schedulerName: a\n  plugins:\n    filter:\n      disabled:\n      - name: NodePorts\n    score:\n      enabled:\n      - name: NodeAffinity\n        weight: 7\n",
                vec!["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"],
                vec!["NodeAffinity=7", "TaintToleration=3", "NodeResourcesFit=1", "PodTopologySpread=2", "InterPodAffinity=2", "NodeResourcesBalancedAllocation=1"],
            ),
            (
                "disable every score plugin but one",
                "profiles:\n- schedulerName: a\n  plugins:\n    score:\n      disabled:\n      - name: '*'\n      enabled:\n      - name: NodeResourcesFit\n        weight: 5\n",
                vec!["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"],
                vec!["NodeResourcesFit=5"],
            ),
            (
                "multiPoint disable everything, enable two",
                "profiles:\n- schedulerName: a\n  plugins:\n    multiPoint:\n      disabled:\n      - name: '*'\n      enabled:\n      - name: NodeName\n      - name: NodeResourcesFit\n        weight: 4\n",
                vec!["NodeName", "NodeResourcesFit"],
                vec!["NodeResourcesFit=4"],
            ),
            (
                "JSON works too",
                r#"{"profiles": [{"schedulerName": "a", "plugins": {"filter": {"disabled": [{"name": "*"}]}}}]}"#,
                vec![],
                vec!["TaintToleration=3", "NodeAffinity=2", "NodeResourcesFit=1", "PodTopologySpread=2", "InterPodAffinity=2", "NodeResourcesBalancedAllocation=1"],
            ),
            (
                "no-op upstream plugins are accepted",
                "profiles:\n- schedulerName: a\n  plugins:\n    score:\n      disabled:\n      - name: ImageLocality\n      - name: NodeResourcesBalancedAllocation\n    bind:\n      enabled:\n      - name: DefaultBinder\n",
                vec!["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"],
                vec!["TaintToleration=3", "NodeAffinity=2", "NodeResourcesFit=1", "PodTopologySpread=2", "InterPodAffinity=2"],
            ),
        ];
        for (name, body, filters, scores) in cases {
            let text = if body.starts_with('{') {
                body.replacen('{', r#"{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration", "#, 1)
            } else {
                format!("{HEAD}{body}")
            };
            let p = Profiles::from_yaml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let fw = p.get("a").unwrap_or_else(|| panic!("{name}: no profile"));
            let (f, s, _, _) = names(fw);
            assert_eq!(f, filters, "{name}");
            assert_eq!(s, scores, "{name}");
        }
    }

    #[test]
    fn multiple_profiles_and_percentage() {
        let text = format!(
            "{HEAD}percentageOfNodesToScore: 30\nprofiles:\n- schedulerName: default-scheduler\n- schedulerName: fast\n  percentageOfNodesToScore: 10\n"
        );
        let p = Profiles::from_yaml(&text).unwrap();
        assert_eq!(
            p.get("default-scheduler")
                .unwrap()
                .percentage_of_nodes_to_score,
            Some(30)
        );
        assert_eq!(
            p.get("fast").unwrap().percentage_of_nodes_to_score,
            Some(10)
        );
        assert_eq!(p.iter().count(), 2);
        let pod = serde_json::json!({"spec": {"schedulerName": "fast"}});
        assert_eq!(p.for_pod(&pod).unwrap().scheduler_name, "fast");
        assert_eq!(
            p.for_pod(&serde_json::json!({})).unwrap().scheduler_name,
            "default-scheduler"
        );
        assert!(p
            .for_pod(&serde_json::json!({"spec": {"schedulerName": "x"}}))
            .is_none());
    }

    #[test]
    fn plugin_args() {
        use crate::framework::{schedule_one, NodeInfo};
        let node = |name: &str, used: &str| {
            NodeInfo::new(
                serde_json::json!({"metadata": {"name": name},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}),
                vec![
                    serde_json::json!({"metadata": {"name": format!("{name}-x")}, "spec": {
                    "containers": [{"resources": {"requests": {"cpu": used, "memory": "1Gi"}}}]}}),
                ],
            )
        };
        let nodes = [node("empty", "100m"), node("busy", "3")];
        let pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}});
        let only_fit = |args: &str| {
            format!(
                "{HEAD}profiles:\n- schedulerName: a\n  plugins:\n    score:\n      disabled:\n      - name: '*'\n      enabled:\n      - name: NodeResourcesFit\n  pluginConfig:\n  - name: NodeResourcesFit\n    args:\n{args}"
            )
        };
        let cases = [
            ("      scoringStrategy:\n        type: LeastAllocated\n", "empty"),
            ("      scoringStrategy:\n        type: MostAllocated\n", "busy"),
            (
                "      scoringStrategy:\n        type: RequestedToCapacityRatio\n        requestedToCapacityRatio:\n          shape:\n          - utilization: 0\n            score: 0\n          - utilization: 100\n            score: 10\n",
                "busy",
            ),
            (
                "      scoringStrategy:\n        type: RequestedToCapacityRatio\n        requestedToCapacityRatio:\n          shape:\n          - utilization: 0\n            score: 10\n          - utilization: 100\n            score: 0\n",
                "empty",
            ),
        ];
        for (args, want) in cases {
            let p = Profiles::from_yaml(&only_fit(args)).unwrap_or_else(|e| panic!("{args}: {e}"));
            let got = schedule_one(p.get("a").unwrap(), &pod, &nodes)
                .unwrap()
                .node;
            assert_eq!(got, want, "{args}");
        }
        // PodTopologySpread List defaulting with no constraints
        let text = format!(
            "{HEAD}profiles:\n- pluginConfig:\n  - name: PodTopologySpread\n    args:\n      defaultingType: List\n      defaultConstraints:\n      - maxSkew: 1\n        topologyKey: zone\n        whenUnsatisfiable: DoNotSchedule\n"
        );
        assert!(Profiles::from_yaml(&text).is_ok());
    }

    #[test]
    fn errors_table() {
        let cases = [
            ("apiVersion: v1\nkind: KubeSchedulerConfiguration\n", "apiVersion: Unsupported value: \"v1\": supported values: \"kubescheduler.config.k8s.io/v1\""),
            ("apiVersion: kubescheduler.config.k8s.io/v1\nkind: Other\n", "kind: Unsupported value: \"Other\": supported values: \"KubeSchedulerConfiguration\""),
            ("{HEAD}profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: Foo\n", "profiles[0].plugins.filter.enabled[0].name: unknown plugin \"Foo\""),
            ("{HEAD}profiles:\n- plugins:\n    multiPoint:\n      enabled:\n      - name: Bar\n", "profiles[0].plugins.multiPoint.enabled[0].name: unknown plugin \"Bar\""),
            ("{HEAD}profiles:\n- plugins:\n    score:\n      disabled:\n      - name: Nope\n", "profiles[0].plugins.score.disabled: unknown plugin \"Nope\""),
            ("{HEAD}profiles:\n- plugins:\n    score:\n      enabled:\n      - name: NodeName\n", "profiles[0].plugins.score.enabled[0]: plugin \"NodeName\" does not extend score plugin"),
            ("{HEAD}profiles:\n- plugins:\n    sort:\n      enabled: []\n", "profiles[0].plugins.sort: unknown extension point"),
            ("{HEAD}profiles:\n- schedulerName: a\n- schedulerName: a\n", "profiles[1].schedulerName: Duplicate value: \"a\""),
            ("{HEAD}percentageOfNodesToScore: 101\n", "percentageOfNodesToScore: Invalid value: 101: not in valid range [0, 100]"),
            ("{HEAD}profiles:\n- percentageOfNodesToScore: -1\n", "profiles[0].percentageOfNodesToScore: Invalid value: -1: not in valid range [0, 100]"),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: Foo\n    args: {}\n", "profiles[0].pluginConfig[0].name: unknown plugin \"Foo\""),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Random\n", "profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: \"Random\": supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: RequestedToCapacityRatio\n", "profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio.shape: Required value: at least one point must be specified"),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: PodTopologySpread\n    args:\n      defaultConstraints:\n      - maxSkew: 1\n        topologyKey: zone\n        whenUnsatisfiable: DoNotSchedule\n", "profiles[0].pluginConfig[0].args.defaultConstraints: Invalid value: when .defaultingType is \"System\", .defaultConstraints must be empty"),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: PodTopologySpread\n    args:\n      defaultingType: List\n      defaultConstraints:\n      - maxSkew: 0\n        topologyKey: zone\n        whenUnsatisfiable: DoNotSchedule\n", "profiles[0].pluginConfig[0].args.defaultConstraints[0].maxSkew: Invalid value: must be greater than zero"),
            ("{HEAD}profiles:\n- pluginConfig:\n  - name: InterPodAffinity\n    args:\n      hardPodAffinityWeight: 500\n", "profiles[0].pluginConfig[0].args.hardPodAffinityWeight: Invalid value: 500: not in valid range [0, 100]"),
        ];
        for (text, want) in cases {
            let text = text.replace("{HEAD}", HEAD);
            let err = Profiles::from_yaml(&text).expect_err(&text);
            assert_eq!(err.to_string(), want, "{text}");
        }
        assert!(matches!(
            Profiles::from_yaml("a: [").unwrap_err(),
            ConfigError::Parse(_)
        ));
    }
}
