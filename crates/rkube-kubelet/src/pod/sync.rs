//! One sync of one pod, level-triggered from the pod object and what the runtime has:
//! start the sandbox (CNI network, hostname, DNS, host ports), ensure images per
//! imagePullPolicy (ErrImagePull / ImagePullBackOff), run init containers in order, then the
//! app containers, restart exited ones per restartPolicy with the CrashLoopBackOff back-off,
//! report the status, and on deletion stop everything within the grace period, remove the
//! sandbox and delete the pod with grace period 0.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use k8s_cri::v1 as cri;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use rkube_client::events::EventType;
use serde_json::json;

use super::env::{container_env, expand};
use super::status::{pod_status, ContainerView, RuntimePod, StatusContext, Waiting};
use super::{Shared, CONTAINER_NAME_LABEL, POD_NAMESPACE_LABEL, POD_NAME_LABEL, POD_UID_LABEL};
use crate::error::Result;

/// What a worker remembers between syncs of its pod.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// Why containers are not running, from the last sync.
    waiting: Waiting,
    /// startTime: when the kubelet first acted on the pod.
    start_time: Option<String>,
    /// The last status written.
    reported: Option<String>,
    /// The last FailedMount message (recorded once until it changes).
    failed_mount: Option<String>,
    /// Probe state of the running containers.
    probes: super::probes::ProbeStates,
    /// preStop hooks ran for the pod's deletion.
    pre_stop_done: bool,
    /// The terminal phase this worker reported (Succeeded or Failed): the pod never runs
    /// again, even when the next sync still sees an older copy of it.
    terminal: Option<String>,
}

/// The result of a sync.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The pod is gone and so is everything the runtime had for it.
    pub done: bool,
    /// Sync again after this long even without events.
    pub wake: Option<Duration>,
}

fn wake_min(a: &mut Option<Duration>, b: Duration) {
    *a = Some(a.map_or(b, |x| x.min(b)));
}

/// Go's `time.Duration` text for whole seconds (`10s`, `1m20s`, `5m0s`).
pub fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}

fn pod_key(pod: &Pod) -> (String, String, String) {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

/// The grace period for stopping the pod's containers (at least 2 s, as upstream).
fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(secs.max(2) as u64)
}

/// Syncs one pod. `removed`: the pod no longer exists in the API.
pub async fn sync_pod(sh: &Shared, st: &mut WorkerState, pod: &Pod, removed: bool) -> Outcome {
    let (ns, name, uid) = pod_key(pod);
    if removed || pod.metadata.deletion_timestamp.is_some() {
        let mut grace = grace_period(pod);
        if !removed && !st.pre_stop_done {
            st.pre_stop_done = true;
            let started = std::time::Instant::now();
            run_pre_stop(sh, pod, grace).await;
            grace = grace
                .saturating_sub(started.elapsed())
                .max(Duration::from_secs(2));
        }
        let cleaned = remove_runtime_pod(sh, &uid, grace).await;
        if cleaned {
            super::volumes::teardown(&sh.cfg.pods_dir, &uid);
        }
        if removed {
            return Outcome {
                done: cleaned,
                wake: Some(Duration::from_secs(1)),
            };
        }
        if cleaned {
            let api: Api<Pod> = Api::namespaced(sh.client.clone(), &ns);
            let dp = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(e) => {
                    tracing::error!(pod = %format!("{ns}/{name}"), "failed to delete pod: {e:#}")
                }
            }
        }
        return Outcome {
            done: false,
            wake: Some(Duration::from_secs(1)),
        };
    }
    let phase = st.terminal.clone().unwrap_or_else(|| {
        pod.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    });
    let phase = phase.as_str();
    if matches!(phase, "Succeeded" | "Failed") {
        // A finished pod never runs again; its sandbox is stopped, its containers kept for logs.
        if let Ok(rt) = snapshot(sh, &uid).await {
            stop_sandbox(sh, &rt).await;
            // The runtime may learn of an OOM kill after the exit was reported ("Error"):
            // pass the late OOMKilled on, keeping the phase.
            let reported_oom = |name: &str| {
                pod.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| {
                        c.name == name
                            && c.state
                                .as_ref()
                                .and_then(|s| s.terminated.as_ref())
                                .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
                    })
            };
            let evicted = pod.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted");
            let late_oom = rt
                .containers
                .iter()
                .any(|c| c.state == "exited" && c.reason == "OOMKilled" && !reported_oom(&c.name));
            if late_oom && !evicted {
                let mut status = pod_status(pod, &rt, &status_context(sh, st, false));
                status["phase"] = json!(phase);
                report(sh, st, pod, status).await;
            }
        }
        return Outcome::default();
    }
    if st.start_time.is_none() {
        st.start_time = Some(
            pod.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| {
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }),
        );
    }
    let mut wake = None;
    match snapshot(sh, &uid).await {
        Ok(rt) => converge(sh, st, pod, rt, &mut wake).await,
        Err(e) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), "failed to read the runtime state: {e:#}");
            return Outcome {
                done: false,
                wake: Some(Duration::from_secs(1)),
            };
        }
    }
    let rt = match snapshot(sh, &uid).await {
        Ok(rt) => rt,
        Err(_) => {
            return Outcome {
                done: false,
                wake: Some(Duration::from_secs(1)),
            }
        }
    };
    run_probes(sh, st, pod, &rt, &mut wake).await;
    if let Some(message) = super::eviction::check(sh, pod, &rt).await {
        tracing::warn!(pod = %format!("{ns}/{name}"), "evicting: {message}");
        sh.event(pod, EventType::Warning, "Evicted", &message);
        let grace = grace_period(pod);
        for c in rt.containers.iter().filter(|c| c.state == "running") {
            if let Err(e) = sh.runtime.stop_container(&c.id, grace).await {
                tracing::warn!(container = %c.id, "failed to stop container: {e:#}");
            }
        }
        let rt = snapshot(sh, &uid).await.unwrap_or(rt);
        let mut status = pod_status(pod, &rt, &status_context(sh, st, false));
        status["phase"] = json!("Failed");
        status["reason"] = json!("Evicted");
        status["message"] = json!(message);
        stop_sandbox(sh, &rt).await;
        report(sh, st, pod, status).await;
        return Outcome::default();
    }
    let status = pod_status(pod, &rt, &status_context(sh, st, true));
    if matches!(status["phase"].as_str(), Some("Succeeded" | "Failed")) {
        stop_sandbox(sh, &rt).await;
    }
    report(sh, st, pod, status).await;
    Outcome { done: false, wake }
}

/// What the status of a pod is computed from, besides the runtime: the last sync's waiting
/// reasons and, with `probes`, the probe results.
fn status_context(sh: &Shared, st: &WorkerState, probes: bool) -> StatusContext {
    StatusContext {
        runtime_name: sh.runtime_name.clone(),
        host_ip: sh.cfg.node_ip.clone(),
        waiting: st.waiting.clone(),
        start_time: st.start_time.clone().unwrap_or_default(),
        probes: if probes {
            st.probes
                .iter()
                .map(|(id, p)| (id.clone(), (p.started, p.ready)))
                .collect()
        } else {
            Default::default()
        },
    }
}

/// Runs the preStop hooks of the pod's running containers, together, within `grace`.
async fn run_pre_stop(sh: &Shared, pod: &Pod, grace: Duration) {
    let Ok(rt) = snapshot(sh, pod.metadata.uid.as_deref().unwrap_or_default()).await else {
        return;
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let pod_ip = rt.ips.first().cloned().unwrap_or_default();
    let hooks = spec.containers.iter().filter_map(|c| {
        let h = c.lifecycle.as_ref()?.pre_stop.as_ref()?;
        let l = rt.latest(&c.name).filter(|l| l.state == "running")?;
        Some((c, l.id.clone(), h))
    });
    let runs = hooks.map(|(c, id, h)| {
        let pod_ip = pod_ip.clone();
        async move {
            let r =
                tokio::time::timeout(grace, super::hooks::run(sh, pod, c, &id, h, &pod_ip, grace))
                    .await;
            match r {
                Ok(Err(msg)) => sh.event(pod, EventType::Warning, "FailedPreStopHook", &msg),
                Err(_) => sh.event(
                    pod,
                    EventType::Warning,
                    "FailedPreStopHook",
                    &format!(
                        "PreStopHook for Container \"{}\" did not complete within the grace period",
                        c.name
                    ),
                ),
                Ok(Ok(())) => {}
            }
        }
    });
    futures::future::join_all(runs).await;
}

/// Runs the due probes of the pod's running containers and acts on them: `Unhealthy` events,
/// and a kill (in the background, with its grace period) after a failed liveness or startup
/// probe.
async fn run_probes(
    sh: &Shared,
    st: &mut WorkerState,
    pod: &Pod,
    rt: &RuntimePod,
    wake: &mut Option<Duration>,
) {
    use super::probes::{run_due, Action, Target};
    let spec = pod.spec.clone().unwrap_or_default();
    let targets: Vec<Target> = spec
        .containers
        .iter()
        .filter_map(|c| {
            let l = rt.latest(&c.name).filter(|l| l.state == "running")?;
            Some(Target {
                container: c,
                id: &l.id,
                started_at: l.started_at,
            })
        })
        .collect();
    let pod_ip = rt.ips.first().cloned().unwrap_or_default();
    let runtime = sh.runtime.clone();
    let exec = move |id: String, cmd: Vec<String>, timeout: Duration| {
        let runtime = runtime.clone();
        async move {
            match runtime.exec_sync(&id, cmd, timeout).await {
                Ok((out, err, code)) => {
                    let mut text = String::from_utf8_lossy(&out).into_owned();
                    text.push_str(&String::from_utf8_lossy(&err));
                    Ok((text, code))
                }
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let actions = run_due(pod, &pod_ip, &targets, &mut st.probes, wake, exec).await;
    for a in actions {
        match a {
            Action::Unhealthy(msg) => sh.event(pod, EventType::Warning, "Unhealthy", &msg),
            Action::Kill { id, message, grace } => {
                sh.event(pod, EventType::Normal, "Killing", &message);
                let runtime = sh.runtime.clone();
                tokio::spawn(async move {
                    if let Err(e) = runtime.stop_container(&id, grace).await {
                        tracing::warn!(container = %id, "failed to stop container: {e:#}");
                    }
                });
            }
        }
    }
}

async fn report(sh: &Shared, st: &mut WorkerState, pod: &Pod, status: serde_json::Value) {
    let (ns, name, uid) = pod_key(pod);
    let fingerprint = status.to_string();
    if st.reported.as_deref() == Some(fingerprint.as_str()) {
        return;
    }
    let api: Api<Pod> = Api::namespaced(sh.client.clone(), &ns);
    let body = json!({"metadata": {"uid": uid}, "status": status});
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(_) => {
            st.reported = Some(fingerprint);
            if let Some(p @ ("Succeeded" | "Failed")) = status["phase"].as_str() {
                st.terminal = Some(p.to_string());
            }
        }
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(e) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), "failed to update pod status: {e:#}")
        }
    }
}

fn state_name(state: i32) -> &'static str {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => "created",
        Ok(cri::ContainerState::ContainerRunning) => "running",
        Ok(cri::ContainerState::ContainerExited) => "exited",
        _ => "unknown",
    }
}

/// What the runtime has for pod `uid`: its newest sandbox (with IP) and its containers.
pub async fn snapshot(sh: &Shared, uid: &str) -> Result<RuntimePod> {
    let mut out = RuntimePod::default();
    let sandboxes = sh.runtime.list_pod_sandboxes().await?;
    let newest = sandboxes
        .iter()
        .filter(|s| s.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid))
        .max_by_key(|s| s.created_at);
    if let Some(s) = newest {
        let ready = s.state == cri::PodSandboxState::SandboxReady as i32;
        out.sandbox = Some((s.id.clone(), ready));
        out.sandbox_attempt = s.metadata.as_ref().map(|m| m.attempt).unwrap_or(0);
        out.sandbox_count = sandboxes
            .iter()
            .filter(|x| x.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid))
            .count() as u32;
        if ready {
            if let Ok(status) = sh.runtime.pod_sandbox_status(&s.id).await {
                if let Some(net) = status.network {
                    if !net.ip.is_empty() {
                        out.ips.push(net.ip);
                    }
                    out.ips.extend(net.additional_ips.into_iter().map(|i| i.ip));
                }
            }
        }
    }
    let mut containers: Vec<cri::Container> = sh
        .runtime
        .list_containers()
        .await?
        .into_iter()
        .filter(|c| c.labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid))
        .collect();
    // Only the two newest attempts of each container matter (current and lastState).
    containers
        .sort_by_key(|c| std::cmp::Reverse((c.metadata.as_ref().map(|m| m.attempt), c.created_at)));
    let mut per_name: HashMap<String, usize> = HashMap::new();
    for c in containers {
        let name = c
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let n = per_name.entry(name.clone()).or_default();
        *n += 1;
        if *n > 2 {
            continue;
        }
        let mut v = ContainerView {
            id: c.id.clone(),
            name,
            attempt: c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0),
            state: state_name(c.state),
            created_at: c.created_at,
            image: c
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default(),
            image_ref: c.image_ref.clone(),
            ..Default::default()
        };
        match sh.runtime.container_status(&c.id).await {
            Ok(s) => {
                v.state = state_name(s.state);
                v.exit_code = s.exit_code;
                v.reason = s.reason;
                v.message = s.message;
                v.started_at = s.started_at;
                v.finished_at = s.finished_at;
                if !s.image_ref.is_empty() {
                    v.image_ref = s.image_ref;
                }
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        }
        out.containers.push(v);
    }
    Ok(out)
}

/// Stops the pod's ready sandbox (a finished pod keeps its containers, not its network).
async fn stop_sandbox(sh: &Shared, rt: &RuntimePod) {
    if let Some((id, true)) = &rt.sandbox {
        if let Err(e) = sh.runtime.stop_pod_sandbox(id).await {
            tracing::warn!(sandbox = %id, "failed to stop sandbox: {e:#}");
        }
    }
}

/// Stops every container of pod `uid` (SIGTERM, SIGKILL after `grace`), then its sandboxes,
/// then removes them all. True when nothing is left.
pub async fn remove_runtime_pod(sh: &Shared, uid: &str, grace: Duration) -> bool {
    let ours = |labels: &HashMap<String, String>| {
        labels.get(POD_UID_LABEL).map(String::as_str) == Some(uid)
    };
    let containers = match sh.runtime.list_containers().await {
        Ok(c) => c
            .into_iter()
            .filter(|c| ours(&c.labels))
            .collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!("failed to list containers: {e:#}");
            return false;
        }
    };
    let running = containers
        .iter()
        .filter(|c| c.state == cri::ContainerState::ContainerRunning as i32);
    let stops = running.map(|c| async move {
        match sh.runtime.stop_container(&c.id, grace).await {
            Ok(()) => true,
            Err(e) if e.is_not_found() => true,
            Err(e) => {
                tracing::warn!(container = %c.id, "failed to stop container: {e:#}");
                false
            }
        }
    });
    let mut ok = futures::future::join_all(stops)
        .await
        .into_iter()
        .all(|x| x);
    let sandboxes = match sh.runtime.list_pod_sandboxes().await {
        Ok(s) => s
            .into_iter()
            .filter(|s| ours(&s.labels))
            .collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!("failed to list sandboxes: {e:#}");
            return false;
        }
    };
    for s in &sandboxes {
        if let Err(e) = sh.runtime.stop_pod_sandbox(&s.id).await {
            if !e.is_not_found() {
                tracing::warn!(sandbox = %s.id, "failed to stop sandbox: {e:#}");
                ok = false;
            }
        }
    }
    if !ok {
        return false;
    }
    for c in &containers {
        if let Err(e) = sh.runtime.remove_container(&c.id).await {
            if !e.is_not_found() {
                tracing::warn!(container = %c.id, "failed to remove container: {e:#}");
                ok = false;
            }
        }
    }
    for s in &sandboxes {
        if let Err(e) = sh.runtime.remove_pod_sandbox(&s.id).await {
            if !e.is_not_found() {
                tracing::warn!(sandbox = %s.id, "failed to remove sandbox: {e:#}");
                ok = false;
            }
        }
    }
    ok
}

fn should_restart(policy: &str, exit_code: i32) -> bool {
    policy == "Always" || (policy == "OnFailure" && exit_code != 0)
}

/// Starts what should run and is not running.
async fn converge(
    sh: &Shared,
    st: &mut WorkerState,
    pod: &Pod,
    rt: RuntimePod,
    wake: &mut Option<Duration>,
) {
    let (ns, name, uid) = pod_key(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".into());
    let host_network = spec.host_network == Some(true);
    let (sandbox_id, attempt, fresh) = match &rt.sandbox {
        Some((id, true)) => (id.clone(), rt.sandbox_attempt, false),
        _ => {
            if !host_network && !crate::cni::is_configured(&sh.cfg.cni_conf_dir) {
                // The node has no podCIDR (hence no CNI config) yet.
                wake_min(wake, Duration::from_secs(1));
                return;
            }
            // A pod that never restarts is not run again in a new sandbox once its
            // containers ran (upstream's rule): what still runs is stopped, and the status
            // comes from what is left.
            if rt.sandbox.is_some() && policy == "Never" && !rt.containers.is_empty() {
                for c in rt.containers.iter().filter(|c| c.state == "running") {
                    if let Err(e) = sh.runtime.stop_container(&c.id, grace_period(pod)).await {
                        tracing::warn!(container = %c.id, "failed to stop container: {e:#}");
                    }
                }
                return;
            }
            // A dead sandbox takes its containers with it: start over in a new one.
            if rt.sandbox.is_some() {
                remove_runtime_pod(sh, &uid, Duration::from_secs(2)).await;
            }
            let attempt = rt.sandbox_count;
            let config = sandbox_config(sh, pod, attempt);
            if let Err(e) = std::fs::create_dir_all(&config.log_directory) {
                tracing::warn!("failed to create {}: {e}", config.log_directory);
            }
            match sh.runtime.run_pod_sandbox(config).await {
                Ok(id) => {
                    tracing::info!(pod = %format!("{ns}/{name}"), sandbox = %id, "started pod sandbox");
                    (id, attempt, true)
                }
                Err(e) => {
                    tracing::error!(pod = %format!("{ns}/{name}"), "failed to create pod sandbox: {e:#}");
                    wake_min(wake, Duration::from_secs(5));
                    return;
                }
            }
        }
    };
    let sandbox = sandbox_config(sh, pod, attempt);
    let pod_ip = match rt.ips.first() {
        Some(ip) => ip.clone(),
        None => sh
            .runtime
            .pod_sandbox_status(&sandbox_id)
            .await
            .ok()
            .and_then(|s| s.network)
            .map(|n| n.ip)
            .unwrap_or_default(),
    };
    let vctx = super::volumes::Context {
        pods_dir: &sh.cfg.pods_dir,
        pod_ip: &pod_ip,
        host_ip: &sh.cfg.node_ip,
    };
    let volumes = match super::volumes::setup(&*sh.objects, &vctx, pod).await {
        Ok(v) => v,
        Err(msg) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), "{msg}");
            if st.failed_mount.as_deref() != Some(msg.as_str()) {
                sh.event(pod, EventType::Warning, "FailedMount", &msg);
                st.failed_mount = Some(msg);
            }
            wake_min(wake, Duration::from_secs(2));
            return;
        }
    };
    st.failed_mount = None;
    let etc_hosts = match super::volumes::write_etc_hosts(
        &sh.cfg.pods_dir,
        pod,
        &pod_ip,
        &sh.cfg.cluster_domain,
    ) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), "failed to write /etc/hosts: {e}");
            None
        }
    };
    if fresh {
        // As upstream, the pod shows its IP and ContainerCreating while images are pulled.
        if let Ok(rt) = snapshot(sh, &uid).await {
            let status = pod_status(pod, &rt, &status_context(sh, st, false));
            report(sh, st, pod, status).await;
        }
    }
    let run = Run {
        sh,
        pod,
        sandbox_id: &sandbox_id,
        sandbox: &sandbox,
        pod_ip: &pod_ip,
        volumes: &volumes,
        etc_hosts: etc_hosts.as_deref(),
    };
    // Init containers, one at a time, each to success.
    for c in spec.init_containers.iter().flatten() {
        if c.restart_policy.as_deref() == Some("Always") {
            // A sidecar: started in order, kept running (restarted with back-off), and the
            // next container starts once it runs.
            match rt.latest(&c.name) {
                Some(l) if l.state == "running" => {
                    st.waiting.remove(&c.name);
                    continue;
                }
                Some(l) if l.state == "created" => run.start_existing(st, &l.id, &c.name).await,
                Some(l) if l.state == "exited" => run.restart(st, c, l, &uid, wake).await,
                Some(_) => {}
                None => run.start(st, c, 0).await,
            }
            return;
        }
        match rt.latest(&c.name) {
            Some(l) if l.state == "exited" && l.exit_code == 0 => continue,
            Some(l) if l.state == "running" => return,
            Some(l) if l.state == "created" => {
                run.start_existing(st, &l.id, &c.name).await;
                return;
            }
            Some(l) if l.state == "exited" => {
                if policy != "Never" {
                    run.restart(st, c, l, &uid, wake).await;
                }
                return;
            }
            Some(_) => return,
            None => {
                run.start(st, c, 0).await;
                return;
            }
        }
    }
    for c in &spec.containers {
        match rt.latest(&c.name) {
            Some(l) if l.state == "running" => {
                st.waiting.remove(&c.name);
            }
            Some(l) if l.state == "created" => run.start_existing(st, &l.id, &c.name).await,
            Some(l) if l.state == "exited" => {
                if should_restart(&policy, l.exit_code) {
                    run.restart(st, c, l, &uid, wake).await;
                } else {
                    st.waiting.remove(&c.name);
                }
            }
            Some(_) => {}
            None => run.start(st, c, 0).await,
        }
        if let Some((reason, _)) = st.waiting.get(&c.name) {
            if reason != "CrashLoopBackOff" {
                wake_min(wake, Duration::from_secs(2));
            }
        }
    }
    // Ephemeral containers run once each, never restarted; a target shares its processes.
    for e in spec.ephemeral_containers.iter().flatten() {
        let c = super::status::ephemeral_as_container(e);
        match rt.latest(&c.name) {
            Some(l) if l.state == "created" => run.start_existing(st, &l.id, &c.name).await,
            Some(_) => {
                st.waiting.remove(&c.name);
            }
            None => {
                let target = e
                    .target_container_name
                    .as_deref()
                    .and_then(|t| rt.latest(t))
                    .map(|l| l.id.clone());
                run.start_with(st, &c, 0, target.as_deref()).await;
                if st.waiting.contains_key(&c.name) {
                    wake_min(wake, Duration::from_secs(2));
                }
            }
        }
    }
}

/// What starting a container in a sandbox needs.
struct Run<'a> {
    sh: &'a Shared,
    pod: &'a Pod,
    sandbox_id: &'a str,
    sandbox: &'a cri::PodSandboxConfig,
    pod_ip: &'a str,
    volumes: &'a std::collections::BTreeMap<String, super::volumes::HostVolume>,
    etc_hosts: Option<&'a std::path::Path>,
}

impl Run<'_> {
    async fn start_existing(&self, st: &mut WorkerState, id: &str, name: &str) {
        if let Err(e) = self.sh.runtime.start_container(id).await {
            st.waiting
                .insert(name.into(), ("RunContainerError".into(), e.to_string()));
        }
    }

    /// Restarts an exited container unless it is backing off.
    async fn restart(
        &self,
        st: &mut WorkerState,
        c: &Container,
        last: &ContainerView,
        uid: &str,
        wake: &mut Option<Duration>,
    ) {
        let key = format!("{uid}/{}", c.name);
        let finished = if last.finished_at > 0 {
            SystemTime::UNIX_EPOCH + Duration::from_nanos(last.finished_at as u64)
        } else {
            SystemTime::now()
        };
        let mut backoff = self.sh.crash_backoff.lock().await;
        if let Some(remaining) = backoff.in_backoff_since(&key, finished) {
            let (ns, name, uid) = pod_key(self.pod);
            let msg = format!(
                "back-off {} restarting failed container={} pod={name}_{ns}({uid})",
                go_duration(backoff.get(&key)),
                c.name
            );
            if st.waiting.get(&c.name).map(|w| w.0.as_str()) != Some("CrashLoopBackOff") {
                self.sh.event(
                    self.pod,
                    EventType::Warning,
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {} in pod {name}_{ns}({uid})",
                        c.name
                    ),
                );
            }
            st.waiting
                .insert(c.name.clone(), ("CrashLoopBackOff".into(), msg));
            wake_min(wake, remaining + Duration::from_millis(50));
            return;
        }
        backoff.next(&key);
        drop(backoff);
        self.start(st, c, last.attempt + 1).await;
    }

    /// Ensures the image, creates and starts attempt `attempt` of container `c`.
    async fn start(&self, st: &mut WorkerState, c: &Container, attempt: u32) {
        self.start_with(st, c, attempt, None).await
    }

    /// As [`Run::start`]; with `pid_target`, the container joins that container's process
    /// namespace (an ephemeral container's `targetContainerName`).
    async fn start_with(
        &self,
        st: &mut WorkerState,
        c: &Container,
        attempt: u32,
        pid_target: Option<&str>,
    ) {
        let image = match self.ensure_image(c).await {
            Ok(i) => i,
            Err((reason, msg)) => {
                self.fail(st, c, &reason, msg);
                return;
            }
        };
        if let Ok(Some(img)) = self.sh.runtime.image_status(&image).await {
            let uid = img.uid.as_ref().map(|u| u.value);
            if let Err(msg) = super::security::check_non_root(self.pod, c, uid, &img.username) {
                self.fail(st, c, "CreateContainerConfigError", msg);
                return;
            }
        }
        let env = match container_env(
            &*self.sh.objects,
            self.pod,
            c,
            self.pod_ip,
            &self.sh.cfg.node_ip,
        )
        .await
        {
            Ok(e) => e,
            Err(msg) => {
                self.fail(st, c, "CreateContainerConfigError", msg);
                return;
            }
        };
        let vars: std::collections::BTreeMap<String, String> = env.iter().cloned().collect();
        let mounts = match super::volumes::container_mounts(c, self.volumes, self.etc_hosts, &vars)
        {
            Ok(m) => m,
            Err(msg) => {
                self.fail(st, c, "CreateContainerConfigError", msg);
                return;
            }
        };
        let mut config = self.container_config(c, attempt, &image, env);
        config.mounts = mounts;
        if let Some(target) = pid_target {
            let ns = config
                .linux
                .as_mut()
                .and_then(|l| l.security_context.as_mut())
                .and_then(|s| s.namespace_options.as_mut());
            if let Some(ns) = ns {
                ns.pid = cri::NamespaceMode::Target as i32;
                ns.target_id = target.to_string();
            }
        }
        let dir = std::path::Path::new(&self.sandbox.log_directory).join(&c.name);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!("failed to create {}: {e}", dir.display());
        }
        let id = match self
            .sh
            .runtime
            .create_container(self.sandbox_id, config, self.sandbox.clone())
            .await
        {
            Ok(id) => id,
            Err(e) => {
                self.fail(st, c, "CreateContainerError", e.to_string());
                return;
            }
        };
        self.sh.event(
            self.pod,
            EventType::Normal,
            "Created",
            &format!("Created container: {}", c.name),
        );
        match self.sh.runtime.start_container(&id).await {
            Ok(()) => {
                st.waiting.remove(&c.name);
                self.sh.event(
                    self.pod,
                    EventType::Normal,
                    "Started",
                    &format!("Started container {}", c.name),
                );
                let hook = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref());
                if let Some(h) = hook {
                    let grace = grace_period(self.pod);
                    if let Err(msg) =
                        super::hooks::run(self.sh, self.pod, c, &id, h, self.pod_ip, grace).await
                    {
                        self.sh
                            .event(self.pod, EventType::Warning, "FailedPostStartHook", &msg);
                        if let Err(e) = self.sh.runtime.stop_container(&id, grace).await {
                            tracing::warn!(container = %id, "failed to stop container: {e:#}");
                        }
                    }
                }
            }
            Err(e) => {
                self.fail(st, c, "RunContainerError", e.to_string());
            }
        }
    }

    /// The pod's imagePullSecrets (and its ServiceAccount's) that hold credentials for `image`.
    async fn pull_credentials(&self, image: &str) -> Vec<cri::AuthConfig> {
        use super::volumes::VolumeSource;
        let ns = self.pod.metadata.namespace.as_deref().unwrap_or("default");
        let spec = self.pod.spec.clone().unwrap_or_default();
        let mut names: Vec<String> = spec
            .image_pull_secrets
            .iter()
            .flatten()
            .map(|r| r.name.clone())
            .collect();
        let sa = spec
            .service_account_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.sh.client.clone(), ns);
        if let Ok(Some(sa)) = sas.get_opt(&sa).await {
            for r in sa.image_pull_secrets.iter().flatten() {
                if !names.contains(&r.name) {
                    names.push(r.name.clone());
                }
            }
        }
        let mut datas = Vec::new();
        for n in names {
            match self.sh.objects.secret(ns, &n).await {
                Ok(Some(d)) => datas.push(d),
                _ => tracing::debug!(secret = %n, "image pull secret not found"),
            }
        }
        crate::registries::credentials(image, &datas)
    }

    /// Container `c` cannot start: its waiting reason, and a `Failed` event when it is new.
    fn fail(&self, st: &mut WorkerState, c: &Container, reason: &str, msg: String) {
        let new = st.waiting.get(&c.name) != Some(&(reason.to_string(), msg.clone()));
        if new {
            let ty = if reason == "ImagePullBackOff" {
                "BackOff"
            } else {
                "Failed"
            };
            let text = if reason == "ImagePullBackOff" || reason == "ErrImagePull" {
                msg.clone()
            } else {
                format!("Error: {msg}")
            };
            self.sh.event(self.pod, EventType::Warning, ty, &text);
            if reason == "ErrImagePull" {
                self.sh.event(
                    self.pod,
                    EventType::Warning,
                    "Failed",
                    &format!("Error: {reason}"),
                );
            }
        }
        st.waiting.insert(c.name.clone(), (reason.to_string(), msg));
    }

    /// The image reference to run, following imagePullPolicy; or the waiting reason.
    async fn ensure_image(&self, c: &Container) -> Result<String, (String, String)> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(&image).into());
        let present = match self.sh.runtime.image_status(&image).await {
            Ok(i) => i,
            Err(e) => return Err(("ErrImageInspect".into(), e.to_string())),
        };
        match (policy.as_str(), present) {
            ("Never", Some(i)) | ("IfNotPresent", Some(i)) => {
                self.sh.event(
                    self.pod,
                    EventType::Normal,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                );
                return Ok(i.id);
            }
            ("Never", None) => {
                return Err((
                    "ErrImageNeverPull".into(),
                    format!("Container image \"{image}\" is not present with pull policy of Never"),
                ))
            }
            _ => {}
        }
        let key = format!(
            "{}/{image}",
            self.pod.metadata.uid.as_deref().unwrap_or_default()
        );
        let mut backoff = self.sh.pull_backoff.lock().await;
        if backoff.in_backoff(&key).is_some() {
            return Err((
                "ImagePullBackOff".into(),
                format!("Back-off pulling image \"{image}\""),
            ));
        }
        drop(backoff);
        self.sh.event(
            self.pod,
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        );
        let started = std::time::Instant::now();
        let (ns, name, _) = pod_key(self.pod);
        tracing::info!(pod = %format!("{ns}/{name}"), %image, "pulling image");
        let creds = self.pull_credentials(&image).await;
        // Upstream tries every matching credential, then anonymously.
        let mut result = None;
        for auth in creds {
            let r = self.sh.runtime.pull_image(&image, Some(auth)).await;
            let ok = r.is_ok();
            result = Some(r);
            if ok {
                break;
            }
        }
        let result = match result {
            Some(Ok(r)) => Ok(r),
            _ => self.sh.runtime.pull_image(&image, None).await,
        };
        match result {
            Ok(r) => {
                let took = rkube_api::duration::format_go_duration(
                    started.elapsed().as_nanos().min(i64::MAX as u128) as i64,
                );
                tracing::info!(pod = %format!("{ns}/{name}"), %image, %took, "pulled image");
                let size = match self.sh.runtime.image_status(&r).await {
                    Ok(Some(i)) => format!(" Image size: {} bytes.", i.size),
                    _ => String::new(),
                };
                // Pulls are not queued here, so the time "including waiting" is the same.
                self.sh.event(
                    self.pod,
                    EventType::Normal,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {took} ({took} including waiting).{size}"
                    ),
                );
                Ok(r)
            }
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), %image, "failed to pull image: {e:#}");
                self.sh.pull_backoff.lock().await.next(&key);
                let msg = match &e {
                    crate::error::Error::Cri { status, .. } => status.message().to_string(),
                    other => other.to_string(),
                };
                Err((
                    "ErrImagePull".into(),
                    format!("failed to pull image \"{image}\": {msg}"),
                ))
            }
        }
    }

    fn container_config(
        &self,
        c: &Container,
        attempt: u32,
        image: &str,
        env: Vec<(String, String)>,
    ) -> cri::ContainerConfig {
        let (ns, name, uid) = pod_key(self.pod);
        let vars: std::collections::BTreeMap<String, String> = env.iter().cloned().collect();
        let spec = self.pod.spec.clone().unwrap_or_default();
        let mut labels: HashMap<String, String> = HashMap::new();
        labels.insert(POD_NAME_LABEL.into(), name);
        labels.insert(POD_NAMESPACE_LABEL.into(), ns);
        labels.insert(POD_UID_LABEL.into(), uid);
        labels.insert(CONTAINER_NAME_LABEL.into(), c.name.clone());
        let mut annotations = HashMap::new();
        annotations.insert(
            "io.kubernetes.container.restartCount".to_string(),
            attempt.to_string(),
        );
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: c.name.clone(),
                attempt,
            }),
            image: Some(cri::ImageSpec {
                image: image.to_string(),
                user_specified_image: c.image.clone().unwrap_or_default(),
                ..Default::default()
            }),
            command: c
                .command
                .iter()
                .flatten()
                .map(|a| expand(a, &vars))
                .collect(),
            args: c.args.iter().flatten().map(|a| expand(a, &vars)).collect(),
            working_dir: c.working_dir.clone().unwrap_or_default(),
            envs: env
                .into_iter()
                .map(|(key, value)| cri::KeyValue { key, value })
                .collect(),
            labels,
            annotations,
            log_path: format!("{}/{attempt}.log", c.name),
            stdin: c.stdin == Some(true),
            stdin_once: c.stdin_once == Some(true),
            tty: c.tty == Some(true),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(super::security::resources(
                    c,
                    super::status::qos_class(&spec),
                )),
                security_context: Some(super::security::security_context(
                    &spec,
                    c,
                    self.sandbox
                        .linux
                        .as_ref()
                        .and_then(|l| l.security_context.as_ref())
                        .and_then(|s| s.namespace_options.clone()),
                )),
            }),
            ..Default::default()
        }
    }
}

/// Upstream's default: Always for `:latest` or untagged images, else IfNotPresent.
pub fn default_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// The pod's hostname: spec.hostname, else its name cut to 63 characters.
fn hostname(pod: &Pod) -> String {
    if let Some(h) = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
    {
        return h;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    let cut: String = name.chars().take(63).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

fn host_resolv() -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let (mut servers, mut searches, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            // Loopback resolvers (systemd-resolved's stub) are unreachable from a pod.
            Some("nameserver") => servers.extend(
                f.filter(|s| {
                    s.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| !ip.is_loopback())
                })
                .map(String::from),
            ),
            Some("search") => searches = f.map(String::from).collect(),
            Some("options") => options.extend(f.map(String::from)),
            _ => {}
        }
    }
    (servers, searches, options)
}

/// The sandbox's resolv.conf per dnsPolicy and dnsConfig.
fn dns_config(sh: &Shared, pod: &Pod) -> cri::DnsConfig {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network == Some(true);
    let cluster = !sh.cfg.cluster_dns.is_empty()
        && match policy {
            "ClusterFirst" => !host_network,
            "ClusterFirstWithHostNet" => true,
            _ => false,
        };
    let (mut servers, mut searches, mut options) = if cluster {
        let d = &sh.cfg.cluster_domain;
        let (_, host_searches, _) = host_resolv();
        let mut s = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
        s.extend(host_searches);
        (sh.cfg.cluster_dns.clone(), s, vec!["ndots:5".to_string()])
    } else if policy == "None" {
        (vec![], vec![], vec![])
    } else {
        host_resolv()
    };
    if let Some(cfg) = &spec.dns_config {
        servers.extend(cfg.nameservers.iter().flatten().cloned());
        searches.extend(cfg.searches.iter().flatten().cloned());
        for o in cfg.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            options.retain(|x| x.split(':').next() != Some(name.as_str()));
            options.push(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name,
            });
        }
    }
    searches.dedup();
    cri::DnsConfig {
        servers,
        searches,
        options,
    }
}

/// The sandbox config for attempt `attempt` of the pod (the same every time for one attempt,
/// as CreateContainer needs it again).
pub fn sandbox_config(sh: &Shared, pod: &Pod, attempt: u32) -> cri::PodSandboxConfig {
    let (ns, name, uid) = pod_key(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = pod
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_NAMESPACE_LABEL.into(), ns.clone());
    labels.insert(POD_UID_LABEL.into(), uid.clone());
    let annotations: HashMap<String, String> = pod
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut port_mappings = Vec::new();
    for c in &spec.containers {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|h| *h > 0) {
                let protocol = match p.protocol.as_deref() {
                    Some("UDP") => cri::Protocol::Udp,
                    Some("SCTP") => cri::Protocol::Sctp,
                    _ => cri::Protocol::Tcp,
                };
                port_mappings.push(cri::PortMapping {
                    protocol: protocol as i32,
                    container_port: p.container_port,
                    host_port: hp,
                    host_ip: p.host_ip.clone().unwrap_or_default(),
                });
            }
        }
    }
    let mode = |host: Option<bool>, default: cri::NamespaceMode| {
        if host == Some(true) {
            cri::NamespaceMode::Node as i32
        } else {
            default as i32
        }
    };
    let pid_default = if spec.share_process_namespace == Some(true) {
        cri::NamespaceMode::Pod
    } else {
        cri::NamespaceMode::Container
    };
    let log_directory = sh.cfg.log_dir.join(format!("{ns}_{name}_{uid}"));
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name,
            uid,
            namespace: ns,
            attempt,
        }),
        // A host-network pod keeps the node's UTS namespace, hence its hostname (as upstream,
        // which leaves the sandbox hostname empty there; runc refuses to set one).
        hostname: if spec.host_network == Some(true) {
            String::new()
        } else {
            hostname(pod)
        },
        log_directory: log_directory.to_string_lossy().into_owned(),
        dns_config: Some(dns_config(sh, pod)),
        port_mappings,
        labels,
        annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: mode(spec.host_network, cri::NamespaceMode::Pod),
                    pid: mode(spec.host_pid, pid_default),
                    ipc: mode(spec.host_ipc, cri::NamespaceMode::Pod),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        windows: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults() {
        for (image, want) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("busybox:1.36", "IfNotPresent"),
            ("localhost:5000/busybox", "Always"),
            ("localhost:5000/busybox:1", "IfNotPresent"),
            ("busybox@sha256:abc", "IfNotPresent"),
        ] {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
    }
}
