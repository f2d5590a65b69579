//! Field selectors: the `fieldSelector` query syntax and the per-kind selectable fields.
//!
//! Parsing follows `k8s.io/apimachinery/pkg/fields` (`f=v`, `f==v`, `f!=v`, comma separated,
//! `\` escapes `\`, `,` and `=` in values). Which fields a kind accepts, and the error for the
//! others, follows the upstream field-label conversion functions; the value of each field
//! follows the kinds' `ToSelectableFields`, computed here from the JSON object.

use std::fmt;

use serde_json::Value;

use super::labels::go_quote;
use super::SelectorError;
use crate::object::get_path;
use crate::registry::ResourceInfo;

/// The operator of a field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `f=v`.
    Equals,
    /// `f==v` (same meaning as `=`).
    DoubleEquals,
    /// `f!=v`.
    NotEquals,
}

/// One `field op value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    /// Whether `actual` (the field's value, `""` when absent) satisfies the requirement.
    pub fn matches_value(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(f, "{}{}{}", self.field, op, escape_value(&self.value))
    }
}

/// A parsed field selector: the AND of its requirements. The default is empty and matches
/// everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector with the single term `field=value`.
    pub fn one_term_equal(field: &str, value: &str) -> Self {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.to_string(),
                operator: FieldOperator::Equals,
                value: value.to_string(),
            }],
        }
    }

    /// Parses the `fieldSelector` syntax as upstream `fields.ParseSelector` does. Nothing is
    /// trimmed: `a = b` selects field `"a "` with value `" b"`. Terms come out sorted.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, operator, raw)) = split_term(term) else {
                return Err(SelectorError::InvalidFieldSelector(format!(
                    "invalid selector: '{selector}'; can't understand '{term}'"
                )));
            };
            let value = unescape_value(raw).map_err(SelectorError::InvalidFieldSelector)?;
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The requirements, in parse order (sorted by their text).
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every requirement holds, `get` giving a field's value (`None` reads as `""`,
    /// as upstream's `fields.Set` does for a field it does not hold).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|r| r.matches_value(&get(&r.field).unwrap_or_default()))
    }

    /// Checks every field against what the resource supports; the error is the one upstream
    /// returns for the first unsupported field.
    pub fn validate(&self, info: &ResourceInfo) -> Result<(), SelectorError> {
        for r in &self.requirements {
            canonical_field(info, &r.field)?;
        }
        Ok(())
    }

    /// Whether `obj` (an object of resource `info`) matches, or the unsupported-field error.
    pub fn matches_object(&self, info: &ResourceInfo, obj: &Value) -> Result<bool, SelectorError> {
        for r in &self.requirements {
            if !r.matches_value(&field_value(info, obj, &r.field)?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The value `field` must equal, when a `=`/`==` term pins it (as `get -w NAME` does with
    /// `metadata.name`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Splits on commas that are not escaped; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator; `!=` and `==` win over `=` at the same position.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::DoubleEquals),
        ("=", FieldOperator::Equals),
    ];
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in OPERATORS {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

/// Upstream `fields.UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Upstream formats the rune with %v, which prints its code point.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            other => out.push(other),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Upstream `fields.EscapeValue`: the inverse of unescaping.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How a kind's field-label conversion treats labels it does not know.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// No conversion registered: only `metadata.name` and `metadata.namespace`.
    Default,
    /// A conversion function answering "field label not supported: <label>"; `namespace` says
    /// whether it accepts `metadata.namespace` (cluster-scoped kinds' functions do not).
    Plain { namespace: bool },
    /// batch/v1 Job's conversion function, which words its error differently.
    Job,
}

fn conversion(info: &ResourceInfo) -> Conversion {
    match (info.group, info.plural) {
        ("", "pods" | "replicationcontrollers" | "events" | "secrets" | "services") => {
            Conversion::Plain { namespace: true }
        }
        ("", "nodes" | "namespaces") | ("certificates.k8s.io", "certificatesigningrequests") => {
            Conversion::Plain { namespace: false }
        }
        ("events.k8s.io", "events") => Conversion::Plain { namespace: true },
        ("batch", "jobs") => Conversion::Job,
        _ => Conversion::Default,
    }
}

fn unsupported(info: &ResourceInfo, field: &str) -> SelectorError {
    let message = match conversion(info) {
        Conversion::Default => format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            go_quote(field)
        ),
        Conversion::Plain { .. } => format!("field label not supported: {field}"),
        Conversion::Job => format!(
            "field label {} not supported for batchv1.Job",
            go_quote(field)
        ),
    };
    SelectorError::UnsupportedField {
        field: field.to_string(),
        message,
    }
}

/// The field a selector label stands for, after upstream's aliases, or the error upstream
/// returns for a label the kind does not support.
fn canonical_field<'a>(info: &ResourceInfo, field: &'a str) -> Result<&'a str, SelectorError> {
    let accepted = match field {
        "metadata.name" => true,
        "metadata.namespace" => !matches!(conversion(info), Conversion::Plain { namespace: false }),
        _ => info.fields.contains(&field),
    };
    if accepted {
        return Ok(field);
    }
    // Old v1 clients select pods by `spec.host`.
    if (info.group, info.plural, field) == ("", "pods", "spec.host") {
        return Ok("spec.nodeName");
    }
    Err(unsupported(info, field))
}

/// Text of a JSON scalar as upstream puts it in a fields set; absent and null are `""`.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

/// A boolean field: absent reads as "false", as Go's zero value does.
fn bool_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "false".to_string(),
        other => text(other),
    }
}

/// An integer field: absent reads as "0".
fn int_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "0".to_string(),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        },
        other => text(other),
    }
}

/// The first non-empty of several paths, as text.
fn first_text(obj: &Value, paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| text(get_path(obj, p)))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
}

/// The value of `field` of `obj` for field selection: `metadata.name`, `metadata.namespace`
/// and the resource's [`ResourceInfo::fields`]. Absent values read as `""`, absent booleans
/// as `"false"` and absent counts as `"0"`, as upstream's selectable field sets hold them. A
/// field the resource does not support gives the error upstream returns
/// (e.g. `field label not supported: spec.foo`).
///
/// Upstream quirks kept on purpose: pods accept `status.podIPs` but never match a non-empty
/// value on it, and `status.podIP` is the first entry of `status.podIPs`. Events are read in
/// either API's shape (core `involvedObject`/`reportingComponent`, events.k8s.io
/// `regarding`/`reportingController`), since both APIs share their objects.
pub fn field_value(info: &ResourceInfo, obj: &Value, field: &str) -> Result<String, SelectorError> {
    let field = canonical_field(info, field)?;
    let value = match (info.group, info.plural, field) {
        (_, _, "metadata.name") => text(get_path(obj, "metadata.name")),
        (_, _, "metadata.namespace") => {
            if info.namespaced {
                text(get_path(obj, "metadata.namespace"))
            } else {
                String::new()
            }
        }
        ("", "pods", "spec.hostNetwork") => bool_text(get_path(obj, "spec.hostNetwork")),
        ("", "pods", "status.podIP") => first_text(obj, &["status.podIPs.0.ip", "status.podIP"]),
        ("", "pods", "status.podIPs") => String::new(),
        ("", "nodes", "spec.unschedulable") => bool_text(get_path(obj, "spec.unschedulable")),
        ("", "replicationcontrollers", "status.replicas") => {
            int_text(get_path(obj, "status.replicas"))
        }
        ("batch", "jobs", "status.successful") => int_text(get_path(obj, "status.succeeded")),
        ("", "events", "source") => first_text(
            obj,
            &[
                "source.component",
                "deprecatedSource.component",
                "reportingComponent",
                "reportingController",
            ],
        ),
        ("", "events", "reportingComponent")
        | ("events.k8s.io", "events", "reportingController") => {
            first_text(obj, &["reportingComponent", "reportingController"])
        }
        ("", "events", f) if f.starts_with("involvedObject.") => {
            let rest = f.strip_prefix("involvedObject.").unwrap_or(f);
            first_text(obj, &[f, &format!("regarding.{rest}")])
        }
        ("events.k8s.io", "events", f) if f.starts_with("regarding.") => {
            let rest = f.strip_prefix("regarding.").unwrap_or(f);
            first_text(obj, &[f, &format!("involvedObject.{rest}")])
        }
        (_, _, f) => text(get_path(obj, f)),
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::lookup;
    use serde_json::json;

    #[test]
    fn parse_table() {
        // (input, parsed terms as (field, op, value), display)
        type Term = (&'static str, FieldOperator, &'static str);
        let cases: &[(&str, &[Term], &str)] = &[
            ("", &[], ""),
            ("a=b", &[("a", FieldOperator::Equals, "b")], "a=b"),
            ("a==b", &[("a", FieldOperator::DoubleEquals, "b")], "a=b"),
            ("a!=b", &[("a", FieldOperator::NotEquals, "b")], "a!=b"),
            ("a=", &[("a", FieldOperator::Equals, "")], "a="),
            ("=b", &[("", FieldOperator::Equals, "b")], "=b"),
            (
                "b=1,a=2",
                &[
                    ("a", FieldOperator::Equals, "2"),
                    ("b", FieldOperator::Equals, "1"),
                ],
                "a=2,b=1",
            ),
            ("a=b,,", &[("a", FieldOperator::Equals, "b")], "a=b"),
            ("a = b", &[("a ", FieldOperator::Equals, " b")], "a = b"),
            (
                r"a=x\,y\=z\\w",
                &[("a", FieldOperator::Equals, r"x,y=z\w")],
                r"a=x\,y\=z\\w",
            ),
            (
                "spec.nodeName=n1,status.phase!=Running",
                &[
                    ("spec.nodeName", FieldOperator::Equals, "n1"),
                    ("status.phase", FieldOperator::NotEquals, "Running"),
                ],
                "spec.nodeName=n1,status.phase!=Running",
            ),
        ];
        for (input, terms, display) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let got: Vec<(&str, FieldOperator, &str)> = sel
                .requirements()
                .iter()
                .map(|r| (r.field.as_str(), r.operator, r.value.as_str()))
                .collect();
            assert_eq!(got, *terms, "input {input:?}");
            assert_eq!(sel.to_string(), *display, "input {input:?}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, &str)] = &[
            ("a", "invalid selector: 'a'; can't understand 'a'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "a==b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                r"a=b\",
                r"invalid field selector: invalid escape sequence: \",
            ),
            (
                r"a=b\x",
                r"invalid field selector: invalid escape sequence: \x",
            ),
            ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        ];
        for (input, want) in cases {
            match FieldSelector::parse(input) {
                Ok(sel) => panic!("{input:?} parsed as {sel}"),
                Err(e) => assert_eq!(e.to_string(), *want, "input {input:?}"),
            }
        }
    }

    #[test]
    fn matching_with_getter() {
        let get = |f: &str| match f {
            "metadata.name" => Some("web".to_string()),
            "status.phase" => Some("Running".to_string()),
            _ => None,
        };
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("metadata.name=web", true),
            ("metadata.name==web", true),
            ("metadata.name=db", false),
            ("metadata.name!=db", true),
            ("metadata.name=web,status.phase=Running", true),
            ("metadata.name=web,status.phase!=Running", false),
            ("missing=", true),
            ("missing!=x", true),
            ("missing=x", false),
        ];
        for (input, want) in cases {
            assert_eq!(
                FieldSelector::parse(input).expect(input).matches(get),
                *want,
                "{input:?}"
            );
        }
        let sel = FieldSelector::parse("metadata.name=web,metadata.namespace!=x").expect("parse");
        assert_eq!(sel.requires_exact_match("metadata.name"), Some("web"));
        assert_eq!(sel.requires_exact_match("metadata.namespace"), None);
        assert_eq!(
            FieldSelector::one_term_equal("a", "b,c").to_string(),
            r"a=b\,c"
        );
    }

    fn info(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
        lookup(group, version, plural).unwrap_or_else(|| panic!("no {group}/{version}/{plural}"))
    }

    #[test]
    fn field_values_per_kind() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}
        });
        let bare_pod = json!({"metadata": {"name": "p"}});
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        let rc = json!({"metadata": {"name": "rc", "namespace": "d"}, "status": {"replicas": 3}});
        let job = json!({"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}});
        let core_event = json!({
            "metadata": {"name": "e", "namespace": "d"},
            "involvedObject": {"kind": "Pod", "name": "web"},
            "reason": "Started", "type": "Normal", "reportingComponent": "kubelet"
        });
        let new_event = json!({
            "metadata": {"name": "e", "namespace": "d"},
            "regarding": {"kind": "Pod", "name": "web"},
            "reportingController": "kubelet", "deprecatedSource": {"component": "kubelet-src"}
        });
        let secret = json!({"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"});
        let ns = json!({"metadata": {"name": "kube-system"}, "status": {"phase": "Active"}});
        let svc = json!({"metadata": {"name": "s", "namespace": "d"}, "spec": {"clusterIP": "None", "type": "ClusterIP"}});
        let csr = json!({"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}});
        let cm = json!({"metadata": {"name": "c", "namespace": "d"}});
        let pv = json!({"metadata": {"name": "pv1"}});

        let pods = info("", "v1", "pods");
        let cases: &[(&ResourceInfo, &Value, &str, &str)] = &[
            (pods, &pod, "metadata.name", "web"),
            (pods, &pod, "metadata.namespace", "default"),
            (pods, &pod, "spec.nodeName", "n1"),
            (pods, &pod, "spec.host", "n1"),
            (pods, &pod, "spec.restartPolicy", "Always"),
            (pods, &pod, "spec.schedulerName", ""),
            (pods, &pod, "spec.hostNetwork", "true"),
            (pods, &pod, "status.phase", "Running"),
            (pods, &pod, "status.podIP", "10.0.0.1"),
            (pods, &pod, "status.podIPs", ""),
            (pods, &bare_pod, "spec.hostNetwork", "false"),
            (pods, &bare_pod, "status.podIP", ""),
            (pods, &bare_pod, "metadata.namespace", ""),
            (info("", "v1", "nodes"), &node, "spec.unschedulable", "true"),
            (
                info("", "v1", "nodes"),
                &bare_pod,
                "spec.unschedulable",
                "false",
            ),
            (
                info("", "v1", "replicationcontrollers"),
                &rc,
                "status.replicas",
                "3",
            ),
            (
                info("", "v1", "replicationcontrollers"),
                &bare_pod,
                "status.replicas",
                "0",
            ),
            (info("batch", "v1", "jobs"), &job, "status.successful", "2"),
            (
                info("batch", "v1", "jobs"),
                &bare_pod,
                "status.successful",
                "0",
            ),
            (
                info("", "v1", "events"),
                &core_event,
                "involvedObject.kind",
                "Pod",
            ),
            (
                info("", "v1", "events"),
                &core_event,
                "involvedObject.name",
                "web",
            ),
            (
                info("", "v1", "events"),
                &core_event,
                "involvedObject.uid",
                "",
            ),
            (info("", "v1", "events"), &core_event, "reason", "Started"),
            (info("", "v1", "events"), &core_event, "source", "kubelet"),
            (
                info("", "v1", "events"),
                &core_event,
                "reportingComponent",
                "kubelet",
            ),
            (
                info("", "v1", "events"),
                &new_event,
                "involvedObject.kind",
                "Pod",
            ),
            (
                info("", "v1", "events"),
                &new_event,
                "source",
                "kubelet-src",
            ),
            (
                info("events.k8s.io", "v1", "events"),
                &new_event,
                "regarding.name",
                "web",
            ),
            (
                info("events.k8s.io", "v1", "events"),
                &new_event,
                "reportingController",
                "kubelet",
            ),
            (
                info("events.k8s.io", "v1", "events"),
                &core_event,
                "regarding.kind",
                "Pod",
            ),
            (info("", "v1", "secrets"), &secret, "type", "Opaque"),
            (info("", "v1", "namespaces"), &ns, "status.phase", "Active"),
            (info("", "v1", "services"), &svc, "spec.clusterIP", "None"),
            (info("", "v1", "services"), &svc, "spec.type", "ClusterIP"),
            (
                info("certificates.k8s.io", "v1", "certificatesigningrequests"),
                &csr,
                "spec.signerName",
                "kubernetes.io/kubelet-serving",
            ),
            (info("", "v1", "configmaps"), &cm, "metadata.namespace", "d"),
            (
                info("", "v1", "persistentvolumes"),
                &pv,
                "metadata.namespace",
                "",
            ),
        ];
        for (info, obj, field, want) in cases {
            match field_value(info, obj, field) {
                Ok(v) => assert_eq!(v, *want, "{}/{field}", info.plural),
                Err(e) => panic!("{}/{field}: {e}", info.plural),
            }
        }
    }

    #[test]
    fn unsupported_fields() {
        let obj = json!({"metadata": {"name": "x"}});
        let cases: &[(&str, &str, &str, &str)] = &[
            ("", "pods", "spec.foo", "field label not supported: spec.foo"),
            ("", "nodes", "metadata.namespace", "field label not supported: metadata.namespace"),
            ("", "namespaces", "name", "field label not supported: name"),
            ("", "events", "regarding.kind", "field label not supported: regarding.kind"),
            ("events.k8s.io", "events", "involvedObject.kind", "field label not supported: involvedObject.kind"),
            ("events.k8s.io", "events", "source", "field label not supported: source"),
            ("batch", "jobs", "status.active", "field label \"status.active\" not supported for batchv1.Job"),
            (
                "apps",
                "replicasets",
                "status.replicas",
                "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            ),
            ("", "configmaps", "data", "\"data\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
        ];
        for (group, plural, field, want) in cases {
            let info = crate::registry::all()
                .iter()
                .find(|r| r.group == *group && r.plural == *plural)
                .unwrap_or_else(|| panic!("no {group}/{plural}"));
            match field_value(info, &obj, field) {
                Ok(v) => panic!("{plural}/{field} accepted with {v:?}"),
                Err(e) => {
                    assert_eq!(e.to_string(), *want, "{plural}/{field}");
                    assert!(matches!(e, SelectorError::UnsupportedField { .. }));
                }
            }
        }
    }

    #[test]
    fn selector_against_objects() {
        let pods = info("", "v1", "pods");
        let pod = json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}});
        let cases: &[(&str, Result<bool, &str>)] = &[
            ("spec.nodeName=n1", Ok(true)),
            ("spec.nodeName=n2", Ok(false)),
            ("spec.nodeName=", Ok(false)),
            ("status.phase!=Running,metadata.namespace=d", Ok(true)),
            ("status.podIPs=10.0.0.1", Ok(false)),
            ("status.podIPs=", Ok(true)),
            ("spec.bogus=x", Err("field label not supported: spec.bogus")),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).expect(input);
            let got = sel.matches_object(pods, &pod).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_string), "{input:?}");
            assert_eq!(sel.validate(pods).is_ok(), want.is_ok(), "{input:?}");
        }
    }
}
