//! Parsing shared by several plugins, done once per pod or node: label maps, `LabelSelector`s
//! (`matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`) and pod
//! affinity terms with their namespace rules.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{array, string};

/// Labels of an object, parsed once; non-string values are dropped.
pub type Labels = BTreeMap<String, String>;

/// The string map at `pointer` (labels, nodeSelector, …), empty when missing.
pub fn labels_at(v: &Value, pointer: &str) -> Labels {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

/// A parsed `metav1.LabelSelector`. A missing (null) selector matches nothing, an empty one
/// everything; a malformed one (unknown operator, `In` without values) matches nothing, as
/// upstream fails to convert it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<(String, Op)>,
    nothing: bool,
}

impl LabelSelector {
    /// A selector matching every label set.
    pub fn everything() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: false,
        }
    }

    /// A selector matching no label set.
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector requiring exactly these labels (used for default spread constraints).
    pub fn from_labels(labels: &Labels) -> LabelSelector {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(k, v)| (k.clone(), Op::In(BTreeSet::from([v.clone()]))))
                .collect(),
            nothing: false,
        }
    }

    /// Parses a `LabelSelector` object; `None`/null gives [`LabelSelector::nothing`].
    pub fn parse(v: Option<&Value>) -> LabelSelector {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return LabelSelector::nothing();
        };
        if !v.is_object() {
            return LabelSelector::nothing();
        }
        let mut requirements = Vec::new();
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                let Some(val) = val.as_str() else {
                    return LabelSelector::nothing();
                };
                requirements.push((k.clone(), Op::In(BTreeSet::from([val.to_string()]))));
            }
        }
        for e in array(v, "/matchExpressions") {
            let values: BTreeSet<String> = array(e, "/values")
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            let op = match string(e, "/operator") {
                "In" if !values.is_empty() => Op::In(values),
                "NotIn" if !values.is_empty() => Op::NotIn(values),
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                _ => return LabelSelector::nothing(),
            };
            requirements.push((string(e, "/key").to_string(), op));
        }
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Adds `key In (value)` (upstream's `matchLabelKeys` merge).
    pub fn require(&mut self, key: &str, value: &str) {
        self.requirements
            .push((key.to_string(), Op::In(BTreeSet::from([value.to_string()]))));
    }

    /// Whether the selector matches nothing at all (null or malformed).
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether the selector has no requirements (matches everything unless `nothing`).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Does the selector match `labels`?
    pub fn matches(&self, labels: &Labels) -> bool {
        !self.nothing
            && self.requirements.iter().all(|(k, op)| {
                let v = labels.get(k);
                match op {
                    Op::In(vals) => v.is_some_and(|v| vals.contains(v)),
                    Op::NotIn(vals) => v.is_none_or(|v| !vals.contains(v)),
                    Op::Exists => v.is_some(),
                    Op::DoesNotExist => v.is_none(),
                }
            })
    }
}

/// A parsed `PodAffinityTerm` of some pod (its owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// Which pods the term selects.
    pub selector: LabelSelector,
    /// Namespaces listed in the term; the owner's namespace when neither `namespaces` nor
    /// `namespaceSelector` is set.
    pub namespaces: BTreeSet<String>,
    /// `namespaceSelector`, matched against the target pod's namespace labels.
    pub namespace_selector: Option<LabelSelector>,
    /// The node label whose values form the topology domains.
    pub topology_key: String,
}

impl AffinityTerm {
    /// Parses a term of a pod living in `owner_namespace`.
    pub fn parse(term: &Value, owner_namespace: &str) -> AffinityTerm {
        let mut namespaces: BTreeSet<String> = array(term, "/namespaces")
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        let namespace_selector = term
            .get("namespaceSelector")
            .filter(|v| !v.is_null())
            .map(|v| LabelSelector::parse(Some(v)));
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(owner_namespace.to_string());
        }
        AffinityTerm {
            selector: LabelSelector::parse(term.get("labelSelector")),
            namespaces,
            namespace_selector,
            topology_key: string(term, "/topologyKey").to_string(),
        }
    }

    /// Does `pod` (in `namespace`, with `labels`) fall under this term? `ns_labels` are the
    /// labels of the pod's namespace, for `namespaceSelector`.
    pub fn matches(&self, namespace: &str, labels: &Labels, ns_labels: Option<&Labels>) -> bool {
        let ns_ok = self.namespaces.contains(namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                let empty = Labels::new();
                s.matches(ns_labels.unwrap_or(&empty))
            });
        ns_ok && self.selector.matches(labels)
    }
}

/// A `WeightedPodAffinityTerm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedAffinityTerm {
    /// `weight`, 1..=100.
    pub weight: i64,
    /// `podAffinityTerm`.
    pub term: AffinityTerm,
}

/// The required and preferred terms under `pointer` (`/spec/affinity/podAffinity` or
/// `/spec/affinity/podAntiAffinity`).
pub fn affinity_terms(
    pod: &Value,
    pointer: &str,
    namespace: &str,
) -> (Vec<AffinityTerm>, Vec<WeightedAffinityTerm>) {
    let Some(a) = pod.pointer(pointer) else {
        return (Vec::new(), Vec::new());
    };
    let required = array(a, "/requiredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .map(|t| AffinityTerm::parse(t, namespace))
        .collect();
    let preferred = array(a, "/preferredDuringSchedulingIgnoredDuringExecution")
        .iter()
        .filter_map(|w| {
            Some(WeightedAffinityTerm {
                weight: w.get("weight").and_then(Value::as_i64)?,
                term: AffinityTerm::parse(w.get("podAffinityTerm")?, namespace),
            })
        })
        .collect();
    (required, preferred)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Labels {
        labels_at(&v, "")
    }

    #[test]
    fn selector_table() {
        let l = labels(json!({"app": "web", "tier": "fe"}));
        let cases = [
            (json!(null), false),
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zzz", "operator": "NotIn", "values": ["web"]}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
                false,
            ),
            (json!("junk"), false),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::parse(Some(&sel)).matches(&l), want, "{sel}");
        }
        assert!(!LabelSelector::parse(None).matches(&l));
    }

    #[test]
    fn term_namespaces() {
        let sel = json!({"matchLabels": {"app": "web"}});
        let l = labels(json!({"app": "web"}));
        let prod = labels(json!({"env": "prod"}));
        let cases = [
            // no namespaces and no selector: the owner's namespace
            (json!({"labelSelector": sel}), "own", None, true),
            (json!({"labelSelector": sel}), "other", None, false),
            (
                json!({"labelSelector": sel, "namespaces": ["other"]}),
                "other",
                None,
                true,
            ),
            (
                json!({"labelSelector": sel, "namespaces": ["other"]}),
                "own",
                None,
                false,
            ),
            // an empty namespaceSelector selects every namespace
            (
                json!({"labelSelector": sel, "namespaceSelector": {}}),
                "any",
                None,
                true,
            ),
            (
                json!({"labelSelector": sel, "namespaceSelector": {"matchLabels": {"env": "prod"}}}),
                "p",
                Some(&prod),
                true,
            ),
            (
                json!({"labelSelector": sel, "namespaceSelector": {"matchLabels": {"env": "prod"}}}),
                "d",
                None,
                false,
            ),
        ];
        for (term, ns, ns_labels, want) in cases {
            let t = AffinityTerm::parse(&term, "own");
            assert_eq!(t.matches(ns, &l, ns_labels), want, "{term} in {ns}");
        }
    }
}
