//! Tables of workload kinds: apps (Deployment, ReplicaSet, StatefulSet, DaemonSet,
//! ControllerRevision), batch (Job, CronJob), autoscaling (HorizontalPodAutoscaler, Scale) and
//! policy (PodDisruptionBudget).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::quantity::quantity_ptr;
use super::util::{
    age, arr_at, container_cells, format_labels, get, human_duration, int_at, len_at, n, name,
    opt_int, opt_str, s, scalar_string, selector_string, since, str_at, time_at,
};
use super::{
    col, format_label_selector, wide, Column, AGE, AGE_DESC, CONTAINERS_DESC, IMAGES_DESC, NAME,
    NAME_DESC,
};

const SELECTOR_DESC: &str = "Label selector over the pods the controller manages.";

/// `metav1.FormatLabelSelector` of the selector at `path` (`<none>` when missing).
fn selector_at(obj: &Value, path: &[&str]) -> String {
    format_label_selector(get(obj, path).unwrap_or(&Value::Null))
}

/// Containers and images of `spec.template.spec.containers`.
fn template_containers(obj: &Value) -> (Value, Value) {
    container_cells(arr_at(obj, &["spec", "template", "spec", "containers"]))
}

/// `spec.replicas`, defaulted to 1 as the API server does.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

// ---------------------------------------------------------------------------------------------
// apps
// ---------------------------------------------------------------------------------------------

pub(super) const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Ready pods out of the desired number."),
    col(
        "Up-to-date",
        "string",
        "Pods updated to the latest pod template.",
    ),
    col(
        "Available",
        "string",
        "Pods available to serve (ready for minReadySeconds).",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", SELECTOR_DESC),
];

pub(super) fn deployment_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    // Deployments print `selector.String()` directly: empty for an empty selector.
    let selector = selector_string(get(obj, &["spec", "selector"]))
        .unwrap_or_else(|()| "<invalid>".to_string());
    vec![
        name(obj),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        n(int_at(obj, &["status", "updatedReplicas"])),
        n(int_at(obj, &["status", "availableReplicas"])),
        age(obj, now),
        names,
        images,
        s(selector),
    ]
}

pub(super) const RS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Number of replicas wanted (spec.replicas).",
    ),
    col(
        "Current",
        "integer",
        "Number of replicas observed (status.replicas).",
    ),
    col("Ready", "integer", "Number of ready replicas."),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", SELECTOR_DESC),
];

pub(super) fn rs_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name(obj),
        n(desired_replicas(obj)),
        n(int_at(obj, &["status", "replicas"])),
        n(int_at(obj, &["status", "readyReplicas"])),
        age(obj, now),
        names,
        images,
        s(selector_at(obj, &["spec", "selector"])),
    ]
}

pub(super) const STS_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Ready pods out of the desired number."),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
];

pub(super) fn sts_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    vec![
        name(obj),
        s(format!(
            "{}/{}",
            int_at(obj, &["status", "readyReplicas"]),
            desired_replicas(obj)
        )),
        age(obj, now),
        names,
        images,
    ]
}

pub(super) const DS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Number of nodes that should run the daemon pod.",
    ),
    col(
        "Current",
        "integer",
        "Number of nodes running at least one daemon pod that should.",
    ),
    col(
        "Ready",
        "integer",
        "Number of nodes whose daemon pod is ready.",
    ),
    col(
        "Up-to-date",
        "integer",
        "Number of nodes running the updated daemon pod.",
    ),
    col(
        "Available",
        "integer",
        "Number of nodes whose daemon pod is available.",
    ),
    col(
        "Node Selector",
        "string",
        "Node selector of the pod template.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", SELECTOR_DESC),
];

pub(super) fn ds_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = template_containers(obj);
    let st = |f: &str| n(int_at(obj, &["status", f]));
    vec![
        name(obj),
        st("desiredNumberScheduled"),
        st("currentNumberScheduled"),
        st("numberReady"),
        st("updatedNumberScheduled"),
        st("numberAvailable"),
        s(format_labels(get(
            obj,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(obj, now),
        names,
        images,
        s(selector_at(obj, &["spec", "selector"])),
    ]
}

pub(super) const CR_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller owning the revision (kind.group/name).",
    ),
    col("Revision", "string", "Revision number of the state."),
    AGE,
];

pub(super) fn cr_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let owner = arr_at(obj, &["metadata", "ownerReferences"])
        .iter()
        .find(|o| get(o, &["controller"]).and_then(Value::as_bool) == Some(true));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(o) => {
            let api_version = str_at(o, &["apiVersion"]);
            let group = match api_version.split_once('/') {
                Some((g, _)) => g,
                None => "",
            };
            let kind = str_at(o, &["kind"]);
            let owner_name = str_at(o, &["name"]);
            let group_kind = if group.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}.{group}")
            };
            if group_kind.is_empty() {
                owner_name.to_string()
            } else {
                format!("{}/{}", group_kind.to_lowercase(), owner_name)
            }
        }
    };
    vec![
        name(obj),
        s(controller),
        n(int_at(obj, &["revision"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// batch
// ---------------------------------------------------------------------------------------------

pub(super) const JOB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "Status of the job (Running, Complete, Failed, Suspended, …).",
    ),
    col(
        "Completions",
        "string",
        "Succeeded pods out of the wanted completions.",
    ),
    col(
        "Duration",
        "string",
        "Time the job took (or has been running) since it started.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", "Label selector over the job's pods."),
];

/// Upstream `hasJobCondition`: the first condition of the type decides.
fn has_condition(obj: &Value, type_: &str) -> bool {
    arr_at(obj, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

pub(super) fn job_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(obj, &["status", "succeeded"]);
    let completions = match opt_int(obj, &["spec", "completions"]) {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(obj, &["spec", "parallelism"]);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let duration = match (
        time_at(obj, &["status", "startTime"]),
        time_at(obj, &["status", "completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    let status = if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if get(obj, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = template_containers(obj);
    vec![
        name(obj),
        s(status),
        s(completions),
        s(duration),
        age(obj, now),
        names,
        images,
        s(selector_at(obj, &["spec", "selector"])),
    ]
}

pub(super) const CRONJOB_COLUMNS: &[Column] = &[
    NAME,
    col("Schedule", "string", "Cron schedule of the job."),
    col("Timezone", "string", "Time zone of the schedule."),
    col("Suspend", "boolean", "Whether new runs are suspended."),
    col("Active", "integer", "Number of currently running jobs."),
    col(
        "Last Schedule",
        "string",
        "Time since a job was last scheduled.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DESC),
    wide("Images", "string", IMAGES_DESC),
    wide("Selector", "string", "Label selector of the job template."),
];

pub(super) fn cronjob_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last_schedule = match get(obj, &["status", "lastScheduleTime"]) {
        Some(_) => since(time_at(obj, &["status", "lastScheduleTime"]), now),
        None => "<none>".to_string(),
    };
    // `suspend` is defaulted to false by the API server.
    let suspend = match get(obj, &["spec", "suspend"]).and_then(Value::as_bool) {
        Some(true) => "True",
        _ => "False",
    };
    let (names, images) = container_cells(arr_at(
        obj,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
        ],
    ));
    vec![
        name(obj),
        s(str_at(obj, &["spec", "schedule"])),
        s(opt_str(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
        s(suspend),
        n(len_at(obj, &["status", "active"]) as i64),
        s(last_schedule),
        age(obj, now),
        names,
        images,
        s(selector_at(
            obj,
            &["spec", "jobTemplate", "spec", "selector"],
        )),
    ]
}

// ---------------------------------------------------------------------------------------------
// autoscaling
// ---------------------------------------------------------------------------------------------

pub(super) const HPA_COLUMNS: &[Column] = &[
    NAME,
    col("Reference", "string", "Object being scaled (kind/name)."),
    col(
        "Targets",
        "string",
        "Current and target values of the metrics.",
    ),
    col("MinPods", "string", "Lower limit of replicas."),
    col("MaxPods", "string", "Upper limit of replicas."),
    col("Replicas", "string", "Current number of replicas."),
    AGE,
];

/// `"N%"` of an optional utilization.
fn percent(v: Option<i64>) -> Option<String> {
    v.map(|p| format!("{p}%"))
}

/// One metric of an HPA (v2 shape) with the status entry of the same index.
fn format_metric(spec: &Value, status: Option<&Value>) -> String {
    let unknown = || "<unknown>".to_string();
    let st = |field: &str| status.and_then(|s| get(s, &[field]));
    match str_at(spec, &["type"]) {
        t @ ("External" | "Object") => {
            let field = if t == "External" {
                "external"
            } else {
                "object"
            };
            let target = get(spec, &[field, "target"]);
            if let Some(avg) = target.and_then(|t| get(t, &["averageValue"])) {
                let current = st(field)
                    .and_then(|s| get(s, &["current", "averageValue"]))
                    .map(|q| quantity_ptr(Some(q)))
                    .unwrap_or_else(unknown);
                format!("{current}/{} (avg)", quantity_ptr(Some(avg)))
            } else {
                let current = st(field)
                    .map(|s| quantity_ptr(get(s, &["current", "value"])))
                    .unwrap_or_else(unknown);
                format!(
                    "{current}/{}",
                    quantity_ptr(target.and_then(|t| get(t, &["value"])))
                )
            }
        }
        "Pods" => {
            let current = st("pods")
                .map(|s| quantity_ptr(get(s, &["current", "averageValue"])))
                .unwrap_or_else(unknown);
            format!(
                "{current}/{}",
                quantity_ptr(get(spec, &["pods", "target", "averageValue"]))
            )
        }
        t @ ("Resource" | "ContainerResource") => {
            let field = if t == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let res_name = str_at(spec, &[field, "name"]);
            if let Some(avg) = get(spec, &[field, "target", "averageValue"]) {
                let current = st(field)
                    .map(|s| quantity_ptr(get(s, &["current", "averageValue"])))
                    .unwrap_or_else(unknown);
                format!("{res_name}: {current}/{}", quantity_ptr(Some(avg)))
            } else {
                let current = st(field)
                    .and_then(|s| percent(opt_int(s, &["current", "averageUtilization"])))
                    .unwrap_or_else(unknown);
                let target = percent(opt_int(spec, &[field, "target", "averageUtilization"]))
                    .unwrap_or_else(|| "<auto>".to_string());
                format!("{res_name}: {current}/{target}")
            }
        }
        _ => "<unknown type>".to_string(),
    }
}

fn hpa_targets(obj: &Value) -> String {
    let metrics = arr_at(obj, &["spec", "metrics"]);
    let (specs, statuses): (Vec<Value>, Vec<Value>) = if !metrics.is_empty() {
        (
            metrics.to_vec(),
            arr_at(obj, &["status", "currentMetrics"]).to_vec(),
        )
    } else {
        // autoscaling/v1 shape, or no metrics at all (defaulted to 80% CPU utilization).
        let target = opt_int(obj, &["spec", "targetCPUUtilizationPercentage"]).unwrap_or(80);
        let spec = serde_json::json!({
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
        });
        let status = opt_int(obj, &["status", "currentCPUUtilizationPercentage"]).map(|cur| {
            serde_json::json!({
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": cur}}
            })
        });
        (vec![spec], status.into_iter().collect())
    };
    const MAX: usize = 2;
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, sp)| format_metric(sp, statuses.get(i)))
        .collect();
    if list.len() > MAX {
        format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX)
    } else {
        list.join(", ")
    }
}

pub(super) fn hpa_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(obj, &["spec", "scaleTargetRef", "kind"]),
        str_at(obj, &["spec", "scaleTargetRef", "name"])
    );
    let min = opt_int(obj, &["spec", "minReplicas"]).unwrap_or(1);
    vec![
        name(obj),
        s(reference),
        s(hpa_targets(obj)),
        s(min.to_string()),
        n(int_at(obj, &["spec", "maxReplicas"])),
        n(int_at(obj, &["status", "currentReplicas"])),
        age(obj, now),
    ]
}

pub(super) const SCALE_COLUMNS: &[Column] = &[
    col("Name", "string", NAME_DESC),
    col("Desired", "integer", "Number of replicas wanted."),
    col("Available", "integer", "Number of replicas observed."),
    col("Age", "string", AGE_DESC),
];

pub(super) fn scale_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(obj),
        n(int_at(obj, &["spec", "replicas"])),
        n(int_at(obj, &["status", "replicas"])),
        age(obj, now),
    ]
}

// ---------------------------------------------------------------------------------------------
// policy
// ---------------------------------------------------------------------------------------------

pub(super) const PDB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Min Available",
        "string",
        "Minimum number (or percentage) of pods that must stay available.",
    ),
    col(
        "Max Unavailable",
        "string",
        "Maximum number (or percentage) of pods that may be unavailable.",
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Number of pod disruptions currently allowed.",
    ),
    AGE,
];

pub(super) fn pdb_cells(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let int_or_string = |f: &str| match get(obj, &["spec", f]) {
        Some(v) => scalar_string(v),
        None => "N/A".to_string(),
    };
    vec![
        name(obj),
        s(int_or_string("minAvailable")),
        s(int_or_string("maxUnavailable")),
        n(int_at(obj, &["status", "disruptionsAllowed"])),
        age(obj, now),
    ]
}
