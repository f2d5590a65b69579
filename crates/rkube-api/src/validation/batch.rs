//! `batch/v1` validation: Job (generated selector, spec, and the update rules that freeze the
//! pod template of a running job) and CronJob (schedule, time zone, concurrency policy and the
//! job template), as upstream `pkg/apis/batch/validation`.

use serde_json::{Map, Value};

use super::checks::{
    go_label_selector, has_label, int_of, is_set, label_selector, list_of, nonnegative,
    selector_matches, str_of, SelectorMatch, IMMUTABLE_MSG,
};
use super::core::normalized;
use super::cron;
use super::field::{child, go_string_map, index, FieldError};
use super::pod;
use crate::names;

const LEGACY_UID_LABEL: &str = "controller-uid";
const LEGACY_NAME_LABEL: &str = "job-name";
const UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
const NAME_LABEL: &str = "batch.kubernetes.io/job-name";

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

fn manual_selector(s: &Value) -> bool {
    s.get("manualSelector").and_then(Value::as_bool) == Some(true)
}

/// Upstream `validateGeneratedSelector`.
fn generated_selector(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = Vec::new();
    if manual_selector(s) || !is_set(s, "selector") {
        return errs;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let meta = s.pointer("/template/metadata");
    let tpl_meta = "spec.template.metadata";
    errs.extend(has_label(meta, tpl_meta, LEGACY_UID_LABEL, uid));
    errs.extend(has_label(meta, tpl_meta, LEGACY_NAME_LABEL, name));
    errs.extend(has_label(meta, tpl_meta, UID_LABEL, uid));
    errs.extend(has_label(meta, tpl_meta, NAME_LABEL, name));
    let mut expected = Map::new();
    for (k, v) in [
        (UID_LABEL, uid),
        (NAME_LABEL, name),
        (LEGACY_UID_LABEL, uid),
        (LEGACY_NAME_LABEL, name),
    ] {
        expected.insert(k.to_string(), Value::from(v));
    }
    if let SelectorMatch::Matches(false) = selector_matches(s.get("selector"), Some(&expected)) {
        errs.push(FieldError::invalid_shown(
            "spec.selector",
            go_label_selector(s.get("selector")),
            "`selector` not auto-generated",
        ));
    }
    errs
}

/// Upstream `ValidateJob` (after metadata).
pub fn job(obj: &Value) -> Vec<FieldError> {
    let s = spec(obj);
    let mut errs = generated_selector(obj);
    errs.extend(job_spec_with_selector(s));
    let indexed = str_of(s, "completionMode") == "Indexed";
    if let (true, Some(c)) = (indexed, int_of(s, "completions").filter(|c| *c > 0)) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let host = format!("{name}-{}", c - 1);
        if !names::is_dns1123_label(&host).is_empty() {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                &format!("will not able to create pod with invalid DNS label: {host}"),
            ));
        }
    }
    errs
}

/// Upstream `ValidateJobSpec`: the spec plus its (required) selector.
fn job_spec_with_selector(s: &Value) -> Vec<FieldError> {
    let mut errs = job_spec(s, "spec");
    match s.get("selector").filter(|v| !v.is_null()) {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => errs.extend(label_selector(Some(sel), "spec.selector")),
    }
    let tpl_labels = pod::template_labels(s.get("template"));
    if matches!(
        selector_matches(s.get("selector"), tpl_labels),
        SelectorMatch::Matches(false) | SelectorMatch::Nothing
    ) {
        errs.push(FieldError::invalid_shown(
            "spec.template.metadata.labels",
            go_string_map(tpl_labels),
            "`selector` does not match template `labels`",
        ));
    }
    errs
}

fn nonneg_field(s: &Value, field: &str, path: &str) -> Vec<FieldError> {
    int_of(s, field)
        .map(|v| nonnegative(v, &child(path, field)))
        .unwrap_or_default()
}

/// Upstream `validateJobSpec` (shared by Jobs and CronJob job templates).
fn job_spec(s: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        errs.extend(nonneg_field(s, f, path));
    }
    if let Some(mfi) = int_of(s, "maxFailedIndexes") {
        errs.extend(nonnegative(mfi, &child(path, "maxFailedIndexes")));
        if !is_set(s, "backoffLimitPerIndex") {
            errs.push(FieldError::required(
                child(path, "backoffLimitPerIndex"),
                "when maxFailedIndexes is specified",
            ));
        }
    }
    if let Some(mb) = s.get("managedBy").and_then(Value::as_str) {
        let p = child(path, "managedBy");
        match mb.split_once('/') {
            Some((host, rest)) if !host.is_empty() && !rest.is_empty() => {
                errs.extend(super::checks::dns1123_subdomain(host, &p));
            }
            _ if mb.is_empty() => errs.push(FieldError::required(&p, "")),
            _ => errs.push(FieldError::invalid(
                &p,
                mb,
                "must be a domain-prefixed path (such as \"acme.io/foo\")",
            )),
        }
        if mb.len() > 63 {
            errs.push(FieldError::too_long(&p, 63));
        }
    }
    let mode = s.get("completionMode").and_then(Value::as_str);
    match mode {
        Some(m) if m != "NonIndexed" && m != "Indexed" => errs.push(FieldError::not_supported(
            child(path, "completionMode"),
            m,
            &["NonIndexed", "Indexed"],
        )),
        Some("Indexed") => {
            if !is_set(s, "completions") {
                errs.push(FieldError::required(
                    child(path, "completions"),
                    "when completion mode is Indexed",
                ));
            }
            if let Some(p) = int_of(s, "parallelism").filter(|p| *p > 100_000) {
                errs.push(FieldError::invalid(
                    child(path, "parallelism"),
                    p,
                    "must be less than or equal to 100000 when completion mode is Indexed",
                ));
            }
            if let (Some(c), Some(m)) = (int_of(s, "completions"), int_of(s, "maxFailedIndexes")) {
                if m > c {
                    errs.push(FieldError::invalid(
                        child(path, "maxFailedIndexes"),
                        m,
                        "must be less than or equal to completions",
                    ));
                }
            }
        }
        _ => {}
    }
    if mode.is_none_or(|m| m == "NonIndexed") {
        for f in ["backoffLimitPerIndex", "maxFailedIndexes"] {
            if let Some(v) = int_of(s, f) {
                errs.push(FieldError::invalid(
                    child(path, f),
                    v,
                    "requires indexed completion mode",
                ));
            }
        }
    }
    let pfp = s.get("podFailurePolicy").filter(|v| v.is_object());
    if let Some(pfp) = pfp {
        errs.extend(pod_failure_policy(s, pfp, &child(path, "podFailurePolicy")));
    }
    if let Some(sp) = s.get("successPolicy").filter(|v| v.is_object()) {
        if mode != Some("Indexed") {
            errs.push(FieldError::invalid_shown(
                child(path, "successPolicy"),
                sp.to_string(),
                "requires indexed completion mode",
            ));
        } else if list_of(sp, "rules").is_empty() {
            errs.push(FieldError::required(
                child(&child(path, "successPolicy"), "rules"),
                "at least one rules must be specified when the successPolicy is specified",
            ));
        }
    }
    if let Some(prp) = s.get("podReplacementPolicy").and_then(Value::as_str) {
        let p = child(path, "podReplacementPolicy");
        if pfp.is_some() {
            if prp != "Failed" {
                errs.push(FieldError::not_supported(p, prp, &["Failed"]));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            errs.push(FieldError::not_supported(
                p,
                prp,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let tpl_path = child(path, "template");
    errs.extend(pod::template(s.get("template"), &tpl_path));
    let rp_path = child(&child(&tpl_path, "spec"), "restartPolicy");
    let rp = s
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    match rp {
        "Always" | "" => errs.push(FieldError::required(
            rp_path,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" | "Never" => {
            if pfp.is_some() && rp != "Never" {
                errs.push(FieldError::invalid(
                    rp_path,
                    rp,
                    "only \"Never\" is supported when podFailurePolicy is specified",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            rp_path,
            other,
            &["OnFailure", "Never"],
        )),
    }
    errs
}

const POD_FAILURE_ACTIONS: [&str; 4] = ["Count", "FailIndex", "FailJob", "Ignore"];

fn pod_failure_policy(s: &Value, pfp: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rules_path = child(path, "rules");
    let rules = list_of(pfp, "rules");
    if rules.len() > 20 {
        errs.push(FieldError::too_many(&rules_path, rules.len(), 20));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = index(&rules_path, i);
        let action = str_of(rule, "action");
        if action.is_empty() {
            errs.push(FieldError::required(
                child(&rp, "action"),
                "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
            ));
        } else if action == "FailIndex" {
            if !is_set(s, "backoffLimitPerIndex") {
                errs.push(FieldError::invalid(
                    child(&rp, "action"),
                    action,
                    "requires the backoffLimitPerIndex to be set",
                ));
            }
        } else if !POD_FAILURE_ACTIONS.contains(&action) {
            errs.push(FieldError::not_supported(
                child(&rp, "action"),
                action,
                &POD_FAILURE_ACTIONS,
            ));
        }
        let on_exit = is_set(rule, "onExitCodes");
        let on_cond = !list_of(rule, "onPodConditions").is_empty();
        if on_exit && on_cond {
            errs.push(FieldError::invalid_omit(
                &rp,
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ));
        }
        if !on_exit && !on_cond {
            errs.push(FieldError::invalid_omit(
                &rp,
                "specifying one of OnExitCodes and OnPodConditions is required",
            ));
        }
    }
    errs
}

/// Upstream `ValidateJobSpecUpdate` (after metadata).
pub fn job_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let (os, ns) = (spec(old), spec(new));
    let mut errs = job_spec_with_selector(ns);
    let indexed = str_of(ns, "completionMode") == "Indexed";
    let (oc, nc) = (os.get("completions"), ns.get("completions"));
    let norm = |v: Option<&Value>| normalized(v.unwrap_or(&Value::Null));
    if norm(oc) != norm(nc) {
        if !indexed {
            errs.push(FieldError::invalid(
                "spec.completions",
                nc.cloned().unwrap_or(Value::Null),
                IMMUTABLE_MSG,
            ));
        } else if let Some(c) = nc.and_then(Value::as_i64) {
            if Some(c) != int_of(ns, "parallelism") {
                errs.push(FieldError::invalid(
                    "spec.completions",
                    c,
                    "can only be modified in tandem with spec.parallelism",
                ));
            }
        }
    }
    if norm(os.get("selector")) != norm(ns.get("selector")) {
        errs.push(FieldError::invalid_shown(
            "spec.selector",
            go_label_selector(ns.get("selector")),
            IMMUTABLE_MSG,
        ));
    }
    errs.extend(template_update(old, os, ns));
    for f in [
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ] {
        if norm(os.get(f)) != norm(ns.get(f)) {
            let v = ns.get(f).cloned().unwrap_or(Value::Null);
            errs.push(if v.is_object() {
                FieldError::invalid_shown(format!("spec.{f}"), v.to_string(), IMMUTABLE_MSG)
            } else {
                FieldError::invalid(format!("spec.{f}"), v, IMMUTABLE_MSG)
            });
        }
    }
    errs
}

/// The pod template of a job is immutable, except the scheduling directives of a suspended job
/// that never started.
fn template_update(old: &Value, os: &Value, ns: &Value) -> Vec<FieldError> {
    let new_tpl = ns.get("template").cloned().unwrap_or(Value::Null);
    let mut old_tpl = os.get("template").cloned().unwrap_or(Value::Null);
    let suspended = os.get("suspend").and_then(Value::as_bool) == Some(true);
    let never_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
    if suspended && never_started {
        for ptr in [
            "/spec/nodeSelector",
            "/spec/tolerations",
            "/spec/schedulingGates",
            "/metadata/annotations",
            "/metadata/labels",
        ] {
            copy_pointer(&new_tpl, &mut old_tpl, ptr);
        }
        copy_pointer(&new_tpl, &mut old_tpl, "/spec/affinity/nodeAffinity");
    }
    if normalized(&new_tpl) != normalized(&old_tpl) {
        vec![FieldError::invalid_shown(
            "spec.template",
            go_struct("core.PodTemplateSpec", &new_tpl),
            IMMUTABLE_MSG,
        )]
    } else {
        Vec::new()
    }
}

/// Sets `to[ptr]` to `from[ptr]` (removing it when absent), creating parents as needed.
fn copy_pointer(from: &Value, to: &mut Value, ptr: &str) {
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    let value = from.pointer(ptr).cloned();
    let mut cur = to;
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i == parts.len() - 1 {
            match value {
                Some(v) => map.insert((*part).to_string(), v),
                None => map.remove(*part),
            };
            return;
        }
        cur = map
            .entry((*part).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A Go-struct-like rendering of a JSON object (`type{Field:value, …}`), for values upstream
/// prints with `%#v`; nested objects lose their type names.
pub fn go_struct(type_name: &str, v: &Value) -> String {
    fn render(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .map(|(k, v)| {
                        let mut c = k.chars();
                        let field = c
                            .next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default();
                        format!("{field}:{}", render(v))
                    })
                    .collect();
                format!("{{{}}}", parts.join(", "))
            }
            Value::Array(a) => {
                let parts: Vec<String> = a.iter().map(render).collect();
                format!("[{}]", parts.join(", "))
            }
            other => super::field::go_value(other),
        }
    }
    format!("{type_name}{}", render(v))
}

/// Upstream `validateCronJobSpec` (after metadata); `old` is the previous object on update.
pub fn cron_job(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let s = spec(obj);
    let os = old.map(spec);
    let mut errs = Vec::new();
    let schedule = str_of(s, "schedule");
    if schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        if let Err(e) = cron::parse_standard(schedule) {
            errs.push(FieldError::invalid("spec.schedule", schedule, &e));
        }
        let allow_tz = os.is_some_and(|o| str_of(o, "schedule").contains("TZ"));
        if allow_tz && schedule.contains("TZ") && is_set(s, "timeZone") {
            errs.push(FieldError::invalid(
                "spec.schedule",
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(FieldError::invalid(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    errs.extend(nonneg_field(s, "startingDeadlineSeconds", "spec"));
    if os.is_none_or(|o| o.get("timeZone") != s.get("timeZone")) {
        errs.extend(time_zone(s.get("timeZone").and_then(Value::as_str)));
    }
    match str_of(s, "concurrencyPolicy") {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported(
            "spec.concurrencyPolicy",
            other,
            &["Allow", "Forbid", "Replace"],
        )),
    }
    let jt = s.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
    errs.extend(job_spec(jt, "spec.jobTemplate.spec"));
    if let Some(sel) = jt.get("selector").filter(|v| !v.is_null()) {
        errs.push(FieldError::invalid_shown(
            "spec.jobTemplate.spec.selector",
            go_label_selector(Some(sel)),
            "`selector` will be auto-generated",
        ));
    }
    if manual_selector(jt) {
        errs.push(FieldError::not_supported(
            "spec.jobTemplate.spec.manualSelector",
            true,
            &["nil", "false"],
        ));
    }
    errs.extend(nonneg_field(s, "successfulJobsHistoryLimit", "spec"));
    errs.extend(nonneg_field(s, "failedJobsHistoryLimit", "spec"));
    errs
}

fn time_zone(tz: Option<&str>) -> Vec<FieldError> {
    let Some(tz) = tz else {
        return Vec::new();
    };
    let p = "spec.timeZone";
    if tz.is_empty() {
        return vec![FieldError::invalid(
            p,
            tz,
            "timeZone must be nil or non-empty string",
        )];
    }
    let part_ok = |part: &str| {
        part != "."
            && part != ".."
            && !part.starts_with('-')
            && (1..=14).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
    };
    if !tz.split('/').all(part_ok) {
        return vec![FieldError::invalid(
            p,
            tz,
            &format!("unknown time zone {tz}"),
        )];
    }
    if tz.eq_ignore_ascii_case("Local") {
        return vec![FieldError::invalid(
            p,
            tz,
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        )];
    }
    Vec::new()
}
