//! The pod status the kubelet reports, computed from what the runtime says (a [`RuntimePod`]
//! snapshot) and the waiting reasons of the last sync: container states with exit codes and
//! reasons, restart counts, the phase with upstream's rules, the conditions and podIP.
//! Pure functions: no IO.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod};
use serde_json::{json, Value};

/// One container attempt as the runtime reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub attempt: u32,
    /// `created`, `running`, `exited` or `unknown`.
    pub state: &'static str,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    /// Nanoseconds since the epoch (0 when unknown).
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub image: String,
    pub image_ref: String,
}

/// What the runtime has for one pod.
#[derive(Debug, Clone, Default)]
pub struct RuntimePod {
    /// Id of the newest sandbox and whether it is ready.
    pub sandbox: Option<(String, bool)>,
    /// The attempt number of the newest sandbox.
    pub sandbox_attempt: u32,
    /// How many sandboxes the pod has had (dead ones included).
    pub sandbox_count: u32,
    /// The sandbox IPs (first is the primary).
    pub ips: Vec<String>,
    /// Every container attempt, any state.
    pub containers: Vec<ContainerView>,
}

impl RuntimePod {
    /// Attempts of container `name`, newest first.
    pub fn attempts(&self, name: &str) -> Vec<&ContainerView> {
        let mut v: Vec<&ContainerView> =
            self.containers.iter().filter(|c| c.name == name).collect();
        v.sort_by_key(|c| std::cmp::Reverse((c.attempt, c.created_at)));
        v
    }

    /// The newest attempt of container `name`.
    pub fn latest(&self, name: &str) -> Option<&ContainerView> {
        self.attempts(name).into_iter().next()
    }
}

/// An ephemeral container as the container it runs as (the same fields, less the target).
pub fn ephemeral_as_container(e: &EphemeralContainer) -> Container {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("targetContainerName");
    }
    serde_json::from_value(v).unwrap_or_else(|_| Container {
        name: e.name.clone(),
        image: e.image.clone(),
        ..Default::default()
    })
}

/// A container the last sync could not start, and why (`ErrImagePull`, `CrashLoopBackOff`, …).
pub type Waiting = BTreeMap<String, (String, String)>;

/// Formats nanoseconds since the epoch as RFC 3339 (seconds).
pub fn rfc3339(ns: i64) -> Option<String> {
    if ns <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp(ns / 1_000_000_000, (ns % 1_000_000_000) as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn terminated(c: &ContainerView, runtime: &str) -> Value {
    let reason = if !c.reason.is_empty() {
        c.reason.clone()
    } else if c.exit_code == 0 {
        "Completed".into()
    } else {
        "Error".into()
    };
    let mut t = json!({"exitCode": c.exit_code, "reason": reason,
                       "containerID": format!("{runtime}://{}", c.id)});
    if !c.message.is_empty() {
        t["message"] = json!(c.message);
    }
    if let Some(s) = rfc3339(c.started_at) {
        t["startedAt"] = json!(s);
    }
    if let Some(s) = rfc3339(c.finished_at) {
        t["finishedAt"] = json!(s);
    }
    json!({"terminated": t})
}

/// How a container stands, for the phase computation.
#[derive(Debug, PartialEq)]
enum Standing {
    Running,
    Waiting,
    /// Exited (with the exit code).
    Stopped(i32),
}

/// Status of one container (and how it stands).
fn container_status(
    c: &Container,
    rt: &RuntimePod,
    ctx: &StatusContext,
    runtime: &str,
    default_reason: &str,
) -> (Value, Standing) {
    let waiting = &ctx.waiting;
    let attempts = rt.attempts(&c.name);
    let latest = attempts.first().copied();
    let image = c.image.clone().unwrap_or_default();
    let mut s = json!({
        "name": c.name,
        "image": image,
        "imageID": latest.map(|l| l.image_ref.clone()).unwrap_or_default(),
        "ready": false,
        "started": false,
        "restartCount": latest.map(|l| l.attempt).unwrap_or(0),
    });
    if let Some(l) = latest {
        s["containerID"] = json!(format!("{runtime}://{}", l.id));
    }
    let override_waiting = waiting.get(&c.name);
    let (state, standing) = match (latest, override_waiting) {
        (Some(l), _) if l.state == "running" => {
            // Probes decide once they have a say; without probes a running container is both.
            let (started, ready) = ctx.probes.get(&l.id).copied().unwrap_or((
                c.startup_probe.is_none(),
                c.startup_probe.is_none() && c.readiness_probe.is_none(),
            ));
            s["ready"] = json!(ready);
            s["started"] = json!(started);
            let started = rfc3339(l.started_at).unwrap_or_default();
            (
                json!({"running": {"startedAt": started}}),
                Standing::Running,
            )
        }
        (Some(l), None) if l.state == "exited" => {
            (terminated(l, runtime), Standing::Stopped(l.exit_code))
        }
        (_, Some((reason, message))) => {
            let mut w = json!({"reason": reason});
            if !message.is_empty() {
                w["message"] = json!(message);
            }
            (json!({"waiting": w}), Standing::Waiting)
        }
        _ => (
            json!({"waiting": {"reason": default_reason}}),
            Standing::Waiting,
        ),
    };
    s["state"] = state;
    // lastState: the attempt before the current one, or the exited latest one while waiting to
    // restart it.
    let previous = match (latest, override_waiting) {
        (Some(l), Some(_)) if l.state == "exited" => Some(l),
        _ => attempts.get(1).copied().filter(|p| p.state == "exited"),
    };
    s["lastState"] = previous
        .map(|p| terminated(p, runtime))
        .unwrap_or(json!({}));
    // A container that has run before and now waits to restart counts as stopped for the phase.
    let standing = match (standing, previous) {
        (Standing::Waiting, Some(p)) => Standing::Stopped(p.exit_code),
        (s, _) => s,
    };
    (s, standing)
}

/// The pod phase by upstream's rules (`getPhase`).
fn phase(policy: &str, init_done: bool, init_failed: bool, standings: &[Standing]) -> &'static str {
    if init_failed {
        return "Failed";
    }
    if !init_done {
        return "Pending";
    }
    let waiting = standings
        .iter()
        .filter(|s| **s == Standing::Waiting)
        .count();
    let running = standings
        .iter()
        .filter(|s| **s == Standing::Running)
        .count();
    let stopped: Vec<i32> = standings
        .iter()
        .filter_map(|s| match s {
            Standing::Stopped(c) => Some(*c),
            _ => None,
        })
        .collect();
    let succeeded = stopped.iter().filter(|c| **c == 0).count();
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if !stopped.is_empty() {
        if policy == "Always" {
            return "Running";
        }
        if succeeded == stopped.len() {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// Inputs of [`pod_status`] besides the pod and the runtime snapshot.
#[derive(Debug, Clone, Default)]
pub struct StatusContext {
    /// `containerd`, used in container ids (`containerd://…`).
    pub runtime_name: String,
    pub host_ip: String,
    /// Waiting reasons from the last sync.
    pub waiting: Waiting,
    /// When the kubelet first saw the pod (startTime).
    pub start_time: String,
    /// What the probes say, by container id: (started, ready).
    pub probes: BTreeMap<String, (bool, bool)>,
}

/// The status to report for `pod`.
pub fn pod_status(pod: &Pod, rt: &RuntimePod, ctx: &StatusContext) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let runtime = if ctx.runtime_name.is_empty() {
        "containerd"
    } else {
        ctx.runtime_name.as_str()
    };
    let inits = spec.init_containers.clone().unwrap_or_default();
    let mut init_statuses = Vec::new();
    let mut init_done = true;
    let mut init_failed = false;
    for c in &inits {
        let (mut s, standing) = container_status(c, rt, ctx, runtime, "PodInitializing");
        // A restartable init container (sidecar) lets the next one start once it runs.
        let sidecar = c.restart_policy.as_deref() == Some("Always");
        match standing {
            Standing::Running if sidecar => {}
            Standing::Stopped(0) if !sidecar => s["ready"] = json!(true),
            Standing::Stopped(_) if policy == "Never" => {
                init_failed = true;
                init_done = false;
            }
            _ => init_done = false,
        }
        init_statuses.push(s);
        if !init_done {
            break;
        }
    }
    // Init containers after the first unfinished one are still waiting.
    for c in inits.iter().skip(init_statuses.len()) {
        init_statuses.push(
            json!({"name": c.name, "image": c.image.clone().unwrap_or_default(),
            "imageID": "", "ready": false, "started": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}),
        );
    }
    let default_reason = if init_done {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let mut standings = Vec::new();
    let mut statuses = Vec::new();
    for c in &spec.containers {
        let (s, standing) = container_status(c, rt, ctx, runtime, default_reason);
        statuses.push(s);
        standings.push(standing);
    }
    let phase = phase(policy, init_done, init_failed, &standings);
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let unready: Vec<String> = statuses
        .iter()
        .filter(|s| s["ready"] != json!(true))
        .filter_map(|s| s["name"].as_str().map(String::from))
        .collect();
    let old: Vec<Value> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|c| {
            c.iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .collect()
        })
        .unwrap_or_default();
    let cond = |ty: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let since = old
            .iter()
            .find(|c| c["type"] == ty && c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or_else(|| now.clone());
        let mut c = json!({"type": ty, "status": status, "lastProbeTime": null,
                           "lastTransitionTime": since});
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        if let Some(m) = message {
            c["message"] = json!(m);
        }
        c
    };
    let ready = unready.is_empty() && !terminal;
    let (ready_reason, ready_msg) = if terminal {
        (Some("PodCompleted"), None)
    } else if ready {
        (None, None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let sandbox_ready = rt.sandbox.as_ref().is_some_and(|(_, r)| *r);
    let init_cond = if init_done || terminal && !init_failed {
        cond("Initialized", true, None, None)
    } else {
        let pending: Vec<String> = init_statuses
            .iter()
            .filter(|s| s["ready"] != json!(true))
            .filter_map(|s| s["name"].as_str().map(String::from))
            .collect();
        cond(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: [{}]",
                pending.join(" ")
            )),
        )
    };
    let mut status = json!({
        "phase": phase,
        "conditions": [
            cond("PodReadyToStartContainers", sandbox_ready, None, None),
            init_cond,
            cond("Ready", ready, ready_reason, ready_msg.clone()),
            cond("ContainersReady", ready, ready_reason, ready_msg),
            cond("PodScheduled", true, None, None),
        ],
        "containerStatuses": statuses,
        "startTime": ctx.start_time,
        "qosClass": qos_class(&spec),
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    // Ephemeral containers count for neither phase nor readiness.
    let ephemeral: Vec<Value> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|e| {
            let (mut s, _) = container_status(
                &ephemeral_as_container(e),
                rt,
                ctx,
                runtime,
                "ContainerCreating",
            );
            s["ready"] = json!(false);
            s
        })
        .collect();
    if !ephemeral.is_empty() {
        status["ephemeralContainerStatuses"] = json!(ephemeral);
    }
    if !ctx.host_ip.is_empty() {
        status["hostIP"] = json!(ctx.host_ip);
        status["hostIPs"] = json!([{"ip": ctx.host_ip}]);
    }
    let ips: Vec<String> = if spec.host_network == Some(true) {
        vec![ctx.host_ip.clone()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        rt.ips.clone()
    };
    if let Some(first) = ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = json!(ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>());
    }
    status
}

/// BestEffort, Burstable or Guaranteed, from the containers' requests and limits.
pub fn qos_class(spec: &k8s_openapi::api::core::v1::PodSpec) -> &'static str {
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let r = c.resources.clone().unwrap_or_default();
        let req = r.requests.unwrap_or_default();
        let lim = r.limits.unwrap_or_default();
        let relevant = |m: &BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >| { m.keys().any(|k| k == "cpu" || k == "memory") };
        if relevant(&req) || relevant(&lim) {
            any = true;
        }
        for res in ["cpu", "memory"] {
            match (lim.get(res), req.get(res)) {
                (Some(l), Some(q)) if l == q => {}
                (Some(_), None) => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox"}]},
        }))
        .unwrap()
    }

    fn view(state: &'static str, attempt: u32, code: i32) -> ContainerView {
        ContainerView {
            id: format!("id{attempt}"),
            name: "c".into(),
            attempt,
            state,
            exit_code: code,
            started_at: 1_700_000_000_000_000_000,
            finished_at: if state == "exited" {
                1_700_000_001_000_000_000
            } else {
                0
            },
            ..Default::default()
        }
    }

    fn ctx() -> StatusContext {
        StatusContext {
            runtime_name: "containerd".into(),
            host_ip: "192.0.2.2".into(),
            ..Default::default()
        }
    }

    #[test]
    fn phases() {
        // (policy, runtime containers, waiting override, expected phase, ready)
        type Case = (
            &'static str,
            Vec<ContainerView>,
            Option<&'static str>,
            &'static str,
            bool,
        );
        let cases: Vec<Case> = vec![
            ("Always", vec![], None, "Pending", false),
            ("Always", vec![view("running", 0, 0)], None, "Running", true),
            ("Never", vec![view("exited", 0, 1)], None, "Failed", false),
            (
                "Never",
                vec![view("exited", 0, 0)],
                None,
                "Succeeded",
                false,
            ),
            (
                "OnFailure",
                vec![view("exited", 0, 0)],
                None,
                "Succeeded",
                false,
            ),
            (
                "OnFailure",
                vec![view("exited", 0, 2)],
                Some("CrashLoopBackOff"),
                "Running",
                false,
            ),
            (
                "Always",
                vec![view("exited", 0, 0), view("running", 1, 0)],
                None,
                "Running",
                true,
            ),
            ("Always", vec![], Some("ErrImagePull"), "Pending", false),
        ];
        for (policy, containers, waiting, want, ready) in cases {
            let rt = RuntimePod {
                sandbox: Some(("s".into(), true)),
                ips: vec!["10.42.0.5".into()],
                containers,
                ..Default::default()
            };
            let mut c = ctx();
            if let Some(w) = waiting {
                c.waiting.insert("c".into(), (w.into(), String::new()));
            }
            let st = pod_status(&pod(policy), &rt, &c);
            assert_eq!(st["phase"], want, "{policy} {waiting:?}");
            assert_eq!(st["conditions"][2]["status"] == "True", ready, "{policy}");
            assert_eq!(st["podIP"], "10.42.0.5");
        }
    }

    #[test]
    fn restart_and_last_state() {
        let rt = RuntimePod {
            sandbox: Some(("s".into(), true)),
            ips: vec![],
            containers: vec![view("exited", 0, 1), view("exited", 1, 1)],
            ..Default::default()
        };
        let mut c = ctx();
        c.waiting.insert(
            "c".into(),
            (
                "CrashLoopBackOff".into(),
                "back-off 10s restarting failed container".into(),
            ),
        );
        let st = pod_status(&pod("Always"), &rt, &c);
        let cs = &st["containerStatuses"][0];
        assert_eq!(cs["restartCount"], 1);
        assert_eq!(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(cs["containerID"], "containerd://id1");
        let c = ctx();
        let st = pod_status(&pod("Never"), &rt, &c);
        assert_eq!(
            st["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(st["conditions"][2]["reason"], "PodCompleted");
    }
}
