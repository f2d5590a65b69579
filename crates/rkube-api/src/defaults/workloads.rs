//! Workload defaults: `apps/v1` Deployment, ReplicaSet, StatefulSet, DaemonSet
//! (`pkg/apis/apps/v1/defaults.go`), `batch/v1` Job and CronJob (`pkg/apis/batch/v1`), and the
//! core ReplicationController; plus the Job strategy's selector generation.

use serde_json::{Map, Value};

use super::pod;
use super::{child_obj, existing, obj_in, set_if_empty, set_if_unset, unset};

fn template(spec: &mut Map<String, Value>) {
    if let Some(tpl) = obj_in(spec, "template") {
        pod::template(tpl);
    }
}

/// Upstream `SetDefaults_Deployment`.
pub fn deployment(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_unset(spec, "replicas", 1);
    if let Some(strategy) = obj_in(spec, "strategy") {
        set_if_empty(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = obj_in(strategy, "rollingUpdate") {
                set_if_unset(ru, "maxUnavailable", "25%");
                set_if_unset(ru, "maxSurge", "25%");
            }
        }
    }
    set_if_unset(spec, "revisionHistoryLimit", 10);
    set_if_unset(spec, "progressDeadlineSeconds", 600);
    template(spec);
}

/// Upstream `SetDefaults_ReplicaSet`.
pub fn replica_set(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_unset(spec, "replicas", 1);
    template(spec);
}

/// Upstream `SetDefaults_StatefulSet` (with `StatefulSetAutoDeletePVC`, GA).
pub fn stateful_set(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_empty(spec, "podManagementPolicy", "OrderedReady");
    if let Some(us) = obj_in(spec, "updateStrategy") {
        if super::empty_str(us, "type") {
            us.insert("type".into(), Value::from("RollingUpdate"));
            set_if_unset(us, "rollingUpdate", Map::new());
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = existing(us, "rollingUpdate") {
                set_if_unset(ru, "partition", 0);
            }
        }
    }
    if let Some(policy) = obj_in(spec, "persistentVolumeClaimRetentionPolicy") {
        set_if_empty(policy, "whenDeleted", "Retain");
        set_if_empty(policy, "whenScaled", "Retain");
    }
    set_if_unset(spec, "replicas", 1);
    set_if_unset(spec, "revisionHistoryLimit", 10);
    template(spec);
    if let Some(Value::Array(claims)) = spec.get_mut("volumeClaimTemplates") {
        for claim in claims.iter_mut() {
            super::core::pvc(claim);
        }
    }
}

/// Upstream `SetDefaults_DaemonSet`.
pub fn daemon_set(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    if let Some(us) = obj_in(spec, "updateStrategy") {
        set_if_empty(us, "type", "RollingUpdate");
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = obj_in(us, "rollingUpdate") {
                set_if_unset(ru, "maxUnavailable", 1);
                set_if_unset(ru, "maxSurge", 0);
            }
        }
    }
    set_if_unset(spec, "revisionHistoryLimit", 10);
    template(spec);
}

/// Upstream `SetDefaults_Job` (with `JobPodReplacementPolicy`, on by default).
pub fn job(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    job_spec(spec);
    copy_template_labels(obj);
}

fn job_spec(spec: &mut Map<String, Value>) {
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), Value::from(1));
        spec.insert("parallelism".into(), Value::from(1));
    }
    set_if_unset(spec, "parallelism", 1);
    if unset(spec, "backoffLimit") {
        let limit = if unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i64::from(i32::MAX)
        };
        spec.insert("backoffLimit".into(), Value::from(limit));
    }
    set_if_unset(spec, "completionMode", "NonIndexed");
    set_if_unset(spec, "suspend", false);
    let has_failure_policy = !unset(spec, "podFailurePolicy");
    if let Some(pfp) = existing(spec, "podFailurePolicy") {
        super::each_obj(pfp, "rules", |rule| {
            super::each_obj(rule, "onPodConditions", |c| {
                set_if_empty(c, "status", "True")
            });
        });
    }
    let policy = if has_failure_policy {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_if_unset(spec, "podReplacementPolicy", policy);
    template(spec);
}

/// `SetDefaults_Job` copies the template's labels to a job without labels.
fn copy_template_labels(obj: &mut Value) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned();
    let Some(labels) = labels else {
        return;
    };
    let Some(meta) = child_obj(obj, "metadata") else {
        return;
    };
    let empty = meta
        .get("labels")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if empty {
        meta.insert("labels".into(), Value::Object(labels));
    }
}

/// Upstream `SetDefaults_CronJob`, plus the pod template defaults of its job template.
pub fn cron_job(obj: &mut Value) {
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_empty(spec, "concurrencyPolicy", "Allow");
    set_if_unset(spec, "suspend", false);
    set_if_unset(spec, "successfulJobsHistoryLimit", 3);
    set_if_unset(spec, "failedJobsHistoryLimit", 1);
    if let Some(job_spec) = obj_in(spec, "jobTemplate").and_then(|jt| obj_in(jt, "spec")) {
        template(job_spec);
    }
}

/// Upstream `SetDefaults_ReplicationController` and the declarative `replicas: 1`.
pub fn replication_controller(obj: &mut Value) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object)
        .cloned();
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    set_if_unset(spec, "replicas", 1);
    template(spec);
    if let Some(labels) = labels {
        let selector_empty = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if selector_empty {
            spec.insert("selector".into(), Value::Object(labels.clone()));
        }
        if let Some(meta) = child_obj(obj, "metadata") {
            let empty = meta
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(Map::is_empty);
            if empty {
                meta.insert("labels".into(), Value::Object(labels));
            }
        }
    }
}

/// The Job registry strategy's `PrepareForCreate` step that runs before validation: unless
/// `spec.manualSelector` is true, the pod template gets the `batch.kubernetes.io/controller-uid`,
/// `batch.kubernetes.io/job-name`, `controller-uid` and `job-name` labels (from
/// `metadata.uid` and `metadata.name`, which must be set first), and the selector matches the
/// controller uid. The job then gets its template's labels when it has none, as upstream
/// shows it when read back.
pub fn prepare_job_for_create(obj: &mut Value) {
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true);
    if manual {
        return;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(spec) = child_obj(obj, "spec") else {
        return;
    };
    if let Some(labels) = obj_in(spec, "template")
        .and_then(|t| obj_in(t, "metadata"))
        .and_then(|m| obj_in(m, "labels"))
    {
        for (k, v) in [
            ("controller-uid", &uid),
            ("job-name", &name),
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
        ] {
            labels.entry(k).or_insert_with(|| Value::from(v.as_str()));
        }
    }
    if let Some(match_labels) = obj_in(spec, "selector").and_then(|s| obj_in(s, "matchLabels")) {
        match_labels
            .entry("batch.kubernetes.io/controller-uid")
            .or_insert_with(|| Value::from(uid.as_str()));
    }
    copy_template_labels(obj);
}
