//! The Pod table: `NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES`.
//!
//! STATUS follows upstream `printPod`: the phase (or `status.reason`), `SchedulingGated`, then
//! the first init container that has not finished (`Init:N/M`, `Init:<reason>`,
//! `Init:ExitCode:N`, `Init:Signal:N`), then, once initialised, the reason of the first regular
//! container that is waiting or terminated (`ContainerCreating`, `CrashLoopBackOff`,
//! `Completed`, `Error`, `ExitCode:N`, `Signal:N`), `Completed` turned back into `Running` or
//! `NotReady` while some container still runs, and finally `Terminating` / `Unknown` for pods
//! being deleted. RESTARTS is `N` or `N (5m ago)` from the latest `lastState.terminated`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::util::{age, arr_at, get, int_at, name, opt_bool, opt_str, s, since, str_at, time_at};
use super::{col, wide, Column, AGE, NAME};

pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "Ready containers out of all (regular and sidecar) containers.",
    ),
    col(
        "Status",
        "string",
        "Aggregate status of the pod and its containers.",
    ),
    col(
        "Restarts",
        "string",
        "Container restarts, and how long ago the last container restart happened.",
    ),
    AGE,
    wide("IP", "string", "First IP address allocated to the pod."),
    wide("Node", "string", "Node the pod is bound to."),
    wide(
        "Nominated Node",
        "string",
        "Node nominated by preemption, if any.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "Readiness gates that are true, out of all gates.",
    ),
];

/// Whether an init container (from the spec) is a restartable sidecar.
fn is_sidecar(spec_container: Option<&Value>) -> bool {
    spec_container.and_then(|c| opt_str(c, &["restartPolicy"])) == Some("Always")
}

/// Whether the pod has a condition of `type` with status "True" (first match decides).
fn condition_true(pod: &Value, type_: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

/// Keeps the latest `lastState.terminated.finishedAt`.
fn track_last_restart(status: &Value, latest: &mut Option<DateTime<Utc>>) {
    if get(status, &["lastState", "terminated"]).is_some() {
        if let Some(t) = time_at(status, &["lastState", "terminated", "finishedAt"]) {
            if latest.is_none_or(|l| l < t) {
                *latest = Some(t);
            }
        }
    }
}

/// The reason of a terminated state with an empty `reason`.
fn exit_reason(terminated: &Value, prefix: &str) -> String {
    let signal = int_at(terminated, &["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int_at(terminated, &["exitCode"]))
    }
}

pub(super) fn cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let containers = arr_at(pod, &["spec", "containers"]);
    let init_containers = arr_at(pod, &["spec", "initContainers"]);
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_sidecar_restart: Option<DateTime<Utc>> = None;

    // The API server sets phase Pending on create.
    let phase = opt_str(pod, &["status", "phase"])
        .filter(|p| !p.is_empty())
        .unwrap_or("Pending");
    let status_reason = str_at(pod, &["status", "reason"]);
    let mut reason = if status_reason.is_empty() {
        phase.to_string()
    } else {
        status_reason.to_string()
    };

    for c in arr_at(pod, &["status", "conditions"]) {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let init_spec = |name: &str| {
        init_containers
            .iter()
            .find(|c| str_at(c, &["name"]) == name)
    };
    total += init_containers
        .iter()
        .filter(|c| is_sidecar(Some(c)))
        .count();

    let mut initializing = false;
    for (i, cs) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let count = int_at(cs, &["restartCount"]);
        restarts += count;
        track_last_restart(cs, &mut last_restart);
        let sidecar = is_sidecar(init_spec(str_at(cs, &["name"])));
        if sidecar {
            sidecar_restarts += count;
            track_last_restart(cs, &mut last_sidecar_restart);
        }
        let terminated = get(cs, &["state", "terminated"]);
        let waiting = get(cs, &["state", "waiting"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && opt_bool(cs, &["started"]) == Some(true) {
            if opt_bool(cs, &["ready"]) == Some(true) {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            let r = str_at(t, &["reason"]);
            reason = if r.is_empty() {
                exit_reason(t, "Init:")
            } else {
                format!("Init:{r}")
            };
        } else if let Some(w) = waiting
            .map(|w| str_at(w, &["reason"]))
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{w}");
        } else {
            reason = format!("Init:{}/{}", i, init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for cs in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(cs, &["restartCount"]);
            track_last_restart(cs, &mut last_restart);
            let waiting_reason = get(cs, &["state", "waiting"]).map(|w| str_at(w, &["reason"]));
            let terminated = get(cs, &["state", "terminated"]);
            if let Some(r) = waiting_reason.filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                let r = str_at(t, &["reason"]);
                reason = if r.is_empty() {
                    exit_reason(t, "")
                } else {
                    r.to_string()
                };
            } else if opt_bool(cs, &["ready"]) == Some(true)
                && get(cs, &["state", "running"]).is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true_any(pod, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if get(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if status_reason == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .map(|p| str_at(p, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .or_else(|| opt_str(pod, &["status", "podIP"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    let node = opt_str(pod, &["spec", "nodeName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    let nominated = opt_str(pod, &["status", "nominatedNodeName"])
        .filter(|v| !v.is_empty())
        .unwrap_or("<none>");
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr_at(pod, &["status", "conditions"]);
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, &["conditionType"]);
                conditions
                    .iter()
                    .find(|c| str_at(c, &["type"]) == t)
                    .is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{}/{}", true_count, gates.len())
    };

    vec![
        name(pod),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_str),
        age(pod, now),
        s(ip),
        s(node),
        s(nominated),
        s(readiness_gates),
    ]
}

/// Upstream `hasPodReadyCondition`: any condition `Ready` with status "True".
fn condition_true_any(pod: &Value, type_: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == type_ && str_at(c, &["status"]) == "True")
}
