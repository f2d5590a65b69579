//! The node agent benchmark of the node-agent issue: pod startup latency on the real node
//! (containerd, runc, CNI) with a cached image, from the create request to the pod's Ready
//! condition as a client sees it (LIST polled every 10 ms) — one pod at a time, then a burst
//! of all of them at once; and the node agent's idle memory (the server's RSS with the agent
//! minus without; containerd is a separate process and not counted).

use crate::client::Api;
use crate::report::Table;
use crate::server::{RkubeServer, ServerOpts};
use crate::stats::{mib, ms, summarize, Summary};
use anyhow::{bail, Result};
use hyper::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct PodsArgs {
    /// Pods per run
    #[arg(long, default_value_t = 30)]
    pub pods: usize,
}

pub struct PodsResult {
    pub sequential: Summary,
    pub burst: Summary,
    pub burst_total: Duration,
    pub rss_with_agent_kib: u64,
    pub rss_without_agent_kib: u64,
}

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "pods"}},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
            "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3600"]}]}
    }))
    .unwrap_or_default()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Polls the pod list until every pod in `created` (name → create time) is Ready; the
/// latency of each.
async fn wait_ready(api: &Api, created: &HashMap<String, Instant>) -> Result<Vec<Duration>> {
    let mut c = api.connect().await?;
    let mut done: HashMap<String, Duration> = HashMap::new();
    let start = Instant::now();
    while done.len() < created.len() {
        let list = c
            .json(
                Method::GET,
                &format!("{PODS}?labelSelector=bench%3Dpods"),
                None,
            )
            .await?;
        let now = Instant::now();
        for p in list["items"].as_array().into_iter().flatten() {
            let name = p["metadata"]["name"].as_str().unwrap_or_default();
            if let Some(t) = created.get(name) {
                if ready(p) && !done.contains_key(name) {
                    done.insert(name.to_string(), now - *t);
                }
            }
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!(
                "only {} of {} pods Ready after 300 s",
                done.len(),
                created.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(done.into_values().collect())
}

async fn delete_all(api: &Api) -> Result<()> {
    let mut c = api.connect().await?;
    c.json(
        Method::DELETE,
        &format!("{PODS}?labelSelector=bench%3Dpods&gracePeriodSeconds=1"),
        None,
    )
    .await?;
    let start = Instant::now();
    loop {
        let list = c
            .json(
                Method::GET,
                &format!("{PODS}?labelSelector=bench%3Dpods"),
                None,
            )
            .await?;
        if list["items"].as_array().is_none_or(|a| a.is_empty()) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("pods not gone after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn idle_rss(srv: &RkubeServer) -> Result<u64> {
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(srv.rss()?.0)
}

pub async fn run(opts: &ServerOpts, args: &PodsArgs) -> Result<PodsResult> {
    let bin = opts.binary()?;
    // The server without its agent, idle, for the agent's share of memory.
    let without = {
        let tmp = tempfile::tempdir()?;
        let mut srv = RkubeServer::spawn(
            &bin,
            &tmp.path().join("data"),
            &tmp.path().join("server.log"),
            None,
        )?;
        srv.wait_ready(Duration::from_secs(30)).await?;
        let rss = idle_rss(&srv).await?;
        srv.stop()?;
        rss
    };
    let tmp = tempfile::tempdir()?;
    let mut srv = RkubeServer::spawn_full(
        &bin,
        &tmp.path().join("data"),
        &tmp.path().join("server.log"),
        None,
        &[],
        true,
    )?;
    srv.wait_ready(Duration::from_secs(30)).await?;
    let api = Api::from_kubeconfig(&srv.kubeconfig())?;
    let mut c = api.connect().await?;
    eprintln!("rkube-bench: waiting for the node to be Ready");
    let start = Instant::now();
    loop {
        let nodes = c.json(Method::GET, "/api/v1/nodes", None).await?;
        let ok = nodes["items"].as_array().into_iter().flatten().any(|n| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        });
        if ok {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!(
                "the node is not Ready after 120 s; server log:\n{}",
                srv.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let with = idle_rss(&srv).await?;
    // Warm-up: the first pod also waits for the CNI config.
    let mut created = HashMap::new();
    c.json(Method::POST, PODS, Some(pod("warmup"))).await?;
    created.insert("warmup".to_string(), Instant::now());
    wait_ready(&api, &created).await?;
    delete_all(&api).await?;
    eprintln!("rkube-bench: {} pods one at a time", args.pods);
    let mut seq = Vec::new();
    for i in 0..args.pods {
        let name = format!("seq-{i}");
        let mut one = HashMap::new();
        one.insert(name.clone(), Instant::now());
        c.json(Method::POST, PODS, Some(pod(&name))).await?;
        seq.extend(wait_ready(&api, &one).await?);
    }
    delete_all(&api).await?;
    eprintln!("rkube-bench: {} pods at once", args.pods);
    let mut created = HashMap::new();
    let burst_start = Instant::now();
    for i in 0..args.pods {
        let name = format!("burst-{i}");
        created.insert(name.clone(), Instant::now());
        c.json(Method::POST, PODS, Some(pod(&name))).await?;
    }
    let burst = wait_ready(&api, &created).await?;
    let burst_total = burst_start.elapsed();
    delete_all(&api).await?;
    srv.stop()?;
    Ok(PodsResult {
        sequential: summarize(seq),
        burst: summarize(burst),
        burst_total,
        rss_with_agent_kib: with,
        rss_without_agent_kib: without,
    })
}

pub fn table(r: &PodsResult, args: &PodsArgs) -> Table {
    let mut t = Table::new(
        format!(
            "Node agent: pod startup (create → Ready, cached image), {} pods",
            args.pods
        ),
        &["measure", "p50", "p99", "max", "aim"],
    );
    t.row(vec![
        "one pod at a time".into(),
        ms(r.sequential.p50),
        ms(r.sequential.p99),
        ms(r.sequential.max),
        "p99 < 1.5 s (upstream SLO 5 s)".into(),
    ]);
    t.row(vec![
        format!(
            "all {} at once (all Ready after {})",
            args.pods,
            ms(r.burst_total)
        ),
        ms(r.burst.p50),
        ms(r.burst.p99),
        ms(r.burst.max),
        String::new(),
    ]);
    t.row(vec![
        format!(
            "agent idle RSS (server {} with agent − {} without; containerd not counted)",
            mib(r.rss_with_agent_kib),
            mib(r.rss_without_agent_kib)
        ),
        mib(r.rss_with_agent_kib.saturating_sub(r.rss_without_agent_kib)),
        String::new(),
        String::new(),
        "< 30 MiB".into(),
    ]);
    t
}
