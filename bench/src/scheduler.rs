//! The scheduler benchmark, after upstream scheduler_perf's SchedulingBasic: a server with N
//! fake nodes, then M pods created through the API as fast as a pool of connections can; the
//! throughput is pods bound per second from the first create to the last binding. Also: when
//! all pods are Running, and the server's RSS (the scheduler runs inside it, so its memory is
//! the growth over the idle server with the same nodes).

use crate::client::{Api, JSON};
use crate::report::Table;
use crate::server::{RkubeServer, ServerOpts};
use crate::stats::{fmt_rate, mib, ms, rate};
use anyhow::{bail, Context, Result};
use hyper::Method;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct SchedulerArgs {
    /// Fake nodes
    #[arg(long, default_value_t = 5000)]
    pub nodes: usize,
    /// Pods to schedule
    #[arg(long, default_value_t = 10000)]
    pub sched_pods: usize,
    /// Concurrent connections creating pods
    #[arg(long, default_value_t = 32)]
    pub sched_concurrency: usize,
    /// Further `rkube server` arguments, e.g. --disable-controller-manager
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
}

pub struct SchedulerResult {
    pub nodes: usize,
    pub pods: usize,
    pub nodes_ready: Duration,
    pub created: Duration,
    pub scheduled: Duration,
    pub running: Duration,
    pub rss_nodes_kib: u64,
    pub rss_after_kib: u64,
    pub hwm_kib: u64,
}

fn pod(i: usize) -> Vec<u8> {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("sched-{i:05}"), "labels": {"app": "sched"}},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}]},
    })
    .to_string()
    .into_bytes()
}

/// How many items a (field-selected) list returns.
async fn count(api: &Api, path: &str) -> Result<usize> {
    let mut c = api.connect().await?;
    let v = c.json(Method::GET, path, None).await?;
    Ok(v["items"].as_array().map_or(0, Vec::len))
}

async fn wait_count(
    api: &Api,
    path: &str,
    done: impl Fn(usize) -> bool,
    what: &str,
    poll: Duration,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    let mut last_log = Instant::now();
    loop {
        let n = count(api, path).await?;
        if done(n) {
            return Ok(());
        }
        if last_log.elapsed() > Duration::from_secs(5) {
            eprintln!("rkube-bench: waiting for {what}: {n}");
            last_log = Instant::now();
        }
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what} (at {n})");
        }
        tokio::time::sleep(poll).await;
    }
}

pub async fn run(opts: &ServerOpts, args: &SchedulerArgs) -> Result<SchedulerResult> {
    let bin = opts.binary()?;
    let mut tmp = tempfile::tempdir()?;
    // RKUBE_BENCH_KEEP=1 keeps the data dir and server log for a look afterwards.
    if std::env::var_os("RKUBE_BENCH_KEEP").is_some() {
        tmp.disable_cleanup(true);
        eprintln!("rkube-bench: keeping {}", tmp.path().display());
    }
    let log = tmp.path().join("server.log");
    let mut extra: Vec<String> = args.server_arg.clone();
    extra.extend([
        "--fake-nodes".into(),
        args.nodes.to_string(),
        // The default 10.42.0.0/16 holds 256 node podCIDRs.
        "--cluster-cidr".into(),
        "100.64.0.0/10".into(),
    ]);
    let mut srv = RkubeServer::spawn_with(&bin, &tmp.path().join("data"), &log, None, &extra)?;
    srv.wait_ready(Duration::from_secs(30)).await?;
    let api = Api::from_kubeconfig(&srv.kubeconfig())?;
    eprintln!("rkube-bench: waiting for {} fake nodes", args.nodes);
    let t = Instant::now();
    // Ready nodes with a podCIDR: the fake kubelet needs it to start pods.
    let want = args.nodes;
    wait_count(
        &api,
        "/api/v1/nodes",
        |n| n >= want,
        "nodes registered",
        Duration::from_secs(1),
        Duration::from_secs(300),
    )
    .await?;
    let nodes_ready = t.elapsed();
    // Let the lease heartbeats settle in before measuring the idle size.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_nodes_kib, _) = srv.rss()?;

    eprintln!("rkube-bench: creating {} pods", args.sched_pods);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.sched_concurrency.max(1) {
        let mut c = api.connect().await?;
        let next = next.clone();
        let n = args.sched_pods;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let (status, body) = c
                    .call(
                        Method::POST,
                        "/api/v1/namespaces/default/pods",
                        JSON,
                        Some(pod(i)),
                    )
                    .await?;
                if !status.is_success() {
                    bail!(
                        "create pod: {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("create task panicked")??;
    }
    let created = started.elapsed();
    wait_count(
        &api,
        "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D",
        |n| n == 0,
        "pods still unscheduled",
        Duration::from_millis(250),
        Duration::from_secs(600),
    )
    .await?;
    let scheduled = started.elapsed();
    // Without the controller manager nodes get no podCIDR, so pods never run.
    let runs = !args
        .server_arg
        .iter()
        .any(|a| a == "--disable-controller-manager");
    if runs {
        wait_count(
            &api,
            "/api/v1/namespaces/default/pods?fieldSelector=status.phase%21%3DRunning",
            |n| n == 0,
            "pods not Running yet",
            Duration::from_millis(250),
            Duration::from_secs(600),
        )
        .await?;
    }
    let running = started.elapsed();
    let (rss_after_kib, hwm_kib) = srv.rss()?;
    srv.stop()?;
    Ok(SchedulerResult {
        nodes: args.nodes,
        pods: args.sched_pods,
        nodes_ready,
        created,
        scheduled,
        running,
        rss_nodes_kib,
        rss_after_kib,
        hwm_kib,
    })
}

pub fn table(r: &SchedulerResult, args: &SchedulerArgs) -> Table {
    let mut t = Table::new(
        format!(
            "Scheduler: SchedulingBasic, {} fake nodes, {} pods ({} creating connections)",
            r.nodes, r.pods, args.sched_concurrency
        ),
        &["measure", "value"],
    );
    t.row(vec!["fake nodes registered".into(), ms(r.nodes_ready)]);
    t.row(vec![
        "pods created (API)".into(),
        format!(
            "{} ({}/s)",
            ms(r.created),
            fmt_rate(rate(r.pods, r.created))
        ),
    ]);
    t.row(vec![
        "**pods scheduled (first create → last binding)**".into(),
        format!(
            "{} (**{} pods/s**)",
            ms(r.scheduled),
            fmt_rate(rate(r.pods, r.scheduled))
        ),
    ]);
    t.row(vec![
        "pods Running on fake nodes".into(),
        format!(
            "{} ({}/s)",
            ms(r.running),
            fmt_rate(rate(r.pods, r.running))
        ),
    ]);
    t.row(vec![
        "server RSS with the nodes, before pods".into(),
        mib(r.rss_nodes_kib),
    ]);
    t.row(vec![
        "server RSS after scheduling".into(),
        mib(r.rss_after_kib),
    ]);
    t.row(vec![
        "growth (scheduler cache + watch cache + store for the pods)".into(),
        mib(r.rss_after_kib.saturating_sub(r.rss_nodes_kib)),
    ]);
    t.row(vec!["server peak RSS".into(), mib(r.hwm_kib)]);
    t
}
