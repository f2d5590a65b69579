//! `apps/v1` validation: Deployment, ReplicaSet, StatefulSet and DaemonSet (upstream
//! `pkg/apis/apps/validation`), plus the selector immutability the apps/v1 registry strategies
//! add on update.

use serde_json::Value;

use super::checks::{
    annotations, go_label_selector, int_of, int_or_percent_value, int_or_string_shown,
    label_selector, labels, nonnegative, not_more_than_100_percent, obj_of,
    positive_int_or_percent, selector_matches, str_of, SelectorMatch, IMMUTABLE_MSG,
};
use super::core::normalized;
use super::field::{child, go_quote, go_string_map, FieldError};
use super::pod;

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

fn nonneg_at(s: &Value, field: &str) -> Vec<FieldError> {
    int_of(s, field)
        .map(|v| nonnegative(v, &format!("spec.{field}")))
        .unwrap_or_default()
}

/// `spec.selector` required, valid and not empty (`empty selector is invalid for <what>`).
fn required_selector(s: &Value, what: &str) -> Vec<FieldError> {
    match s.get("selector").filter(|v| !v.is_null()) {
        None => vec![FieldError::required("spec.selector", "")],
        Some(sel) => {
            let mut errs = label_selector(Some(sel), "spec.selector");
            let n = obj_of(sel, "matchLabels").map_or(0, |m| m.len())
                + sel
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
            if n == 0 {
                errs.push(FieldError::invalid_shown(
                    "spec.selector",
                    go_label_selector(Some(sel)),
                    &format!("empty selector is invalid for {what}"),
                ));
            }
            errs
        }
    }
}

fn selector_mismatch(s: &Value) -> FieldError {
    let labels = pod::template_labels(s.get("template"));
    FieldError::invalid_shown(
        "spec.template.metadata.labels",
        go_string_map(labels),
        "`selector` does not match template `labels`",
    )
}

/// Upstream `ValidatePodTemplateSpecForReplicaSet` with the selector conversion before it.
fn template_for_replica_set(s: &Value, invalid_detail: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let labels = pod::template_labels(s.get("template"));
    match selector_matches(s.get("selector"), labels) {
        SelectorMatch::Error => {
            errs.push(FieldError::invalid_shown(
                "spec.selector",
                go_label_selector(s.get("selector")),
                invalid_detail,
            ));
            return errs;
        }
        SelectorMatch::Matches(false) | SelectorMatch::Nothing => errs.push(selector_mismatch(s)),
        _ => {}
    }
    errs.extend(pod::template(s.get("template"), "spec.template"));
    errs.extend(restart_always(s, "ReplicaSet"));
    errs
}

fn restart_always(s: &Value, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rp = s
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if rp != "Always" {
        errs.push(FieldError::not_supported(
            "spec.template.spec.restartPolicy",
            rp,
            &["Always"],
        ));
    }
    if s.pointer("/template/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// Upstream `ValidateDeploymentSpec`.
pub fn deployment(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = nonneg_at(s, "replicas");
    errs.extend(required_selector(s, "deployment"));
    errs.extend(template_for_replica_set(s, "invalid label selector"));
    errs.extend(deployment_strategy(
        s.get("strategy").unwrap_or(&Value::Null),
    ));
    errs.extend(nonneg_at(s, "minReadySeconds"));
    errs.extend(nonneg_at(s, "revisionHistoryLimit"));
    if let Some(pds) = int_of(s, "progressDeadlineSeconds") {
        errs.extend(nonnegative(pds, "spec.progressDeadlineSeconds"));
        if pds <= int_of(s, "minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                pds,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

fn deployment_strategy(strategy: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match str_of(strategy, "type") {
        "Recreate" => {
            if ru.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match ru {
            None => errs.push(FieldError::required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            )),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let (mu, ms) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
                errs.extend(positive_int_or_percent(mu, &child(p, "maxUnavailable")));
                errs.extend(positive_int_or_percent(ms, &child(p, "maxSurge")));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    errs.push(FieldError::invalid_shown(
                        child(p, "maxUnavailable"),
                        int_or_string_shown(mu),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                errs.extend(not_more_than_100_percent(mu, &child(p, "maxUnavailable")));
            }
        },
        other => {
            let mut e = FieldError::not_supported(
                "spec.strategy",
                Value::Null,
                &["Recreate", "RollingUpdate"],
            );
            e.shown = Some(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                go_quote(other)
            ));
            errs.push(e);
        }
    }
    errs
}

/// Upstream `ValidateReplicaSetSpec`.
pub fn replica_set(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = nonneg_at(s, "replicas");
    errs.extend(nonneg_at(s, "minReadySeconds"));
    errs.extend(required_selector(s, "deployment"));
    errs.extend(template_for_replica_set(s, "invalid label selector"));
    errs
}

/// The selector immutability the apps/v1 strategies add after the spec checks.
pub fn selector_immutable(old: &Value, new: &Value) -> Vec<FieldError> {
    let (os, ns) = (spec(old).get("selector"), spec(new).get("selector"));
    let norm = |v: Option<&Value>| normalized(v.unwrap_or(&Value::Null));
    if norm(os) != norm(ns) {
        vec![FieldError::invalid_shown(
            "spec.selector",
            go_label_selector(ns),
            IMMUTABLE_MSG,
        )]
    } else {
        Vec::new()
    }
}

/// Upstream `ValidateStatefulSetSpec`.
pub fn stateful_set(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = Vec::new();
    match str_of(s, "podManagementPolicy") {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let strategy = s.get("updateStrategy").unwrap_or(&Value::Null);
    let ru = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match str_of(strategy, "type") {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(ru) = ru {
                errs.push(FieldError::invalid_shown(
                    "spec.updateStrategy.rollingUpdate",
                    ru.to_string(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let p = "spec.updateStrategy.rollingUpdate";
                if let Some(part) = int_of(ru, "partition") {
                    errs.extend(nonnegative(part, &child(p, "partition")));
                }
                if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                    let mp = child(p, "maxUnavailable");
                    errs.extend(positive_int_or_percent(Some(mu), &mp));
                    if int_or_percent_value(Some(mu)) == 0 {
                        errs.push(FieldError::invalid_shown(
                            &mp,
                            int_or_string_shown(Some(mu)),
                            "cannot be 0",
                        ));
                    }
                    errs.extend(not_more_than_100_percent(Some(mu), &mp));
                }
            }
        }
        _ => errs.push(FieldError::invalid_shown(
            "spec.updateStrategy",
            strategy.to_string(),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(policy) = s
        .get("persistentVolumeClaimRetentionPolicy")
        .filter(|v| v.is_object())
    {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_of(policy, f);
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonneg_at(s, "replicas"));
    errs.extend(nonneg_at(s, "minReadySeconds"));
    if let Some(start) = s.pointer("/ordinals/start").and_then(Value::as_i64) {
        errs.extend(nonnegative(start, "spec.ordinals.start"));
    }
    errs.extend(required_selector(s, "statefulset"));
    let tpl_labels = pod::template_labels(s.get("template"));
    match selector_matches(s.get("selector"), tpl_labels) {
        SelectorMatch::Error => errs.push(FieldError::invalid_shown(
            "spec.selector",
            go_label_selector(s.get("selector")),
            "",
        )),
        m => {
            if matches!(m, SelectorMatch::Matches(false) | SelectorMatch::Nothing) {
                errs.push(selector_mismatch(s));
            }
            let meta = s.pointer("/template/metadata").unwrap_or(&Value::Null);
            errs.extend(labels(meta.get("labels"), "spec.template.labels"));
            errs.extend(annotations(
                meta.get("annotations"),
                "spec.template.annotations",
            ));
        }
    }
    errs.extend(restart_always(s, "StatefulSet"));
    errs
}

const STS_MUTABLE: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// Upstream `ValidateStatefulSetUpdate` (after metadata).
pub fn stateful_set_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errs = stateful_set(new);
    let strip = |v: &Value| {
        let mut v = normalized(v);
        if let Some(m) = v.as_object_mut() {
            for f in STS_MUTABLE {
                m.remove(f);
            }
        }
        v
    };
    if strip(spec(old)) != strip(spec(new)) {
        errs.push(FieldError::forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ));
    }
    errs
}

/// Upstream `ValidateDaemonSetSpec`.
pub fn daemon_set(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = label_selector(s.get("selector"), "spec.selector");
    let tpl_labels = pod::template_labels(s.get("template"));
    if matches!(
        selector_matches(s.get("selector"), tpl_labels),
        SelectorMatch::Matches(false) | SelectorMatch::Nothing
    ) {
        errs.push(selector_mismatch(s));
    }
    if let Some(sel) = s.get("selector").filter(|v| !v.is_null()) {
        let n = obj_of(sel, "matchLabels").map_or(0, |m| m.len())
            + sel
                .get("matchExpressions")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
        if n == 0 {
            errs.push(FieldError::invalid_shown(
                "spec.selector",
                go_label_selector(Some(sel)),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    errs.extend(pod::template(s.get("template"), "spec.template"));
    errs.extend(restart_always(s, "DaemonSet"));
    errs.extend(nonneg_at(s, "minReadySeconds"));
    errs.extend(nonneg_at(s, "templateGeneration"));
    let strategy = s.get("updateStrategy").unwrap_or(&Value::Null);
    match str_of(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => errs.push(FieldError::required(
                "spec.updateStrategy.rollingUpdate",
                "",
            )),
            Some(ru) => errs.extend(rolling_update_daemon_set(ru)),
        },
        other => {
            let mut e = FieldError::not_supported(
                "spec.updateStrategy",
                Value::Null,
                &["RollingUpdate", "OnDelete"],
            );
            e.shown = Some(format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                go_quote(other)
            ));
            errs.push(e);
        }
    }
    errs.extend(nonneg_at(s, "revisionHistoryLimit"));
    errs
}

fn rolling_update_daemon_set(ru: &Value) -> Vec<FieldError> {
    let p = "spec.updateStrategy.rollingUpdate";
    let (mu, ms) = (ru.get("maxUnavailable"), ru.get("maxSurge"));
    let mut errs = positive_int_or_percent(mu, &child(p, "maxUnavailable"));
    errs.extend(positive_int_or_percent(ms, &child(p, "maxSurge")));
    errs.extend(not_more_than_100_percent(mu, &child(p, "maxUnavailable")));
    errs.extend(not_more_than_100_percent(ms, &child(p, "maxSurge")));
    let has_unavailable = int_or_percent_value(mu) != 0;
    let has_surge = int_or_percent_value(ms) != 0;
    if has_unavailable && has_surge {
        errs.push(FieldError::invalid_shown(
            child(p, "maxSurge"),
            int_or_string_shown(ms),
            "may not be set when maxUnavailable is non-zero",
        ));
    } else if !has_unavailable && !has_surge {
        errs.push(FieldError::required(
            child(p, "maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        ));
    }
    errs
}
