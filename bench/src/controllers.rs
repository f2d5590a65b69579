//! The controller benchmark of the controllers issue: a Deployment of N replicas on M fake
//! nodes — time from create until all replicas are Ready and available, then the time of a
//! full rolling update (new image) until the rollout is complete as `kubectl rollout status`
//! judges it. Everything goes through the real API: scheduler, ReplicaSet and Deployment
//! controllers, and the fake kubelet.

use crate::client::Api;
use crate::report::Table;
use crate::server::{RkubeServer, ServerOpts};
use crate::stats::{mib, ms};
use anyhow::{bail, Result};
use hyper::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct ControllersArgs {
    /// Fake nodes
    #[arg(long, default_value_t = 100)]
    pub deploy_nodes: usize,
    /// Deployment replicas
    #[arg(long, default_value_t = 1000)]
    pub replicas: usize,
}

pub struct ControllersResult {
    pub ready: Duration,
    pub rollout: Duration,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/bench";

/// Whether the rollout is complete by kubectl's rules (observedGeneration caught up, all
/// replicas updated, no old replicas left, all available).
fn complete(d: &Value, replicas: usize) -> bool {
    let st = &d["status"];
    let n = |k: &str| st[k].as_u64().unwrap_or(0) as usize;
    st["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64()
        && n("updatedReplicas") == replicas
        && n("replicas") == replicas
        && n("availableReplicas") == replicas
        && n("readyReplicas") == replicas
}

async fn wait_complete(api: &Api, replicas: usize, what: &str) -> Result<()> {
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut c = api.connect().await?;
    loop {
        let d = c.json(Method::GET, DEPLOY, None).await?;
        if complete(&d, replicas) {
            return Ok(());
        }
        if last_log.elapsed() > Duration::from_secs(5) {
            eprintln!("rkube-bench: {what}: status {}", d["status"]);
            last_log = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{what}: not complete after 600 s: {}", d["status"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(opts: &ServerOpts, args: &ControllersArgs) -> Result<ControllersResult> {
    let bin = opts.binary()?;
    let tmp = tempfile::tempdir()?;
    let mut srv = RkubeServer::spawn_with(
        &bin,
        &tmp.path().join("data"),
        &tmp.path().join("server.log"),
        None,
        &["--fake-nodes".into(), args.deploy_nodes.to_string()],
    )?;
    srv.wait_ready(Duration::from_secs(30)).await?;
    let api = Api::from_kubeconfig(&srv.kubeconfig())?;
    let mut c = api.connect().await?;
    eprintln!("rkube-bench: waiting for {} fake nodes", args.deploy_nodes);
    let t = Instant::now();
    loop {
        let nodes = c.json(Method::GET, "/api/v1/nodes", None).await?;
        let ready = nodes["items"].as_array().map_or(0, |a| {
            a.iter()
                .filter(|n| n["spec"]["podCIDR"].is_string())
                .count()
        });
        if ready >= args.deploy_nodes {
            break;
        }
        if t.elapsed() > Duration::from_secs(120) {
            bail!("only {ready} fake nodes have a podCIDR after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {"replicas": args.replicas, "selector": {"matchLabels": {"app": "bench"}},
            "template": {"metadata": {"labels": {"app": "bench"}}, "spec": {
                "containers": [{"name": "c", "image": "example/app:1",
                    "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}}},
    });
    eprintln!("rkube-bench: deployment of {} replicas", args.replicas);
    let started = Instant::now();
    c.json(
        Method::POST,
        "/apis/apps/v1/namespaces/default/deployments",
        Some(body.to_string().into_bytes()),
    )
    .await?;
    wait_complete(&api, args.replicas, "initial rollout").await?;
    let ready = started.elapsed();

    eprintln!("rkube-bench: rolling update");
    let patch = json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                        "value": "example/app:2"}]);
    let started = Instant::now();
    let resp = c
        .send_as(
            Method::PATCH,
            DEPLOY,
            crate::client::JSON,
            "application/json-patch+json",
            Some(patch.to_string().into_bytes()),
        )
        .await?;
    if !resp.status().is_success() {
        bail!("patch deployment: {}", resp.status());
    }
    drop(resp);
    wait_complete(&api, args.replicas, "rolling update").await?;
    let rollout = started.elapsed();
    let (rss_kib, hwm_kib) = srv.rss()?;
    srv.stop()?;
    Ok(ControllersResult {
        ready,
        rollout,
        rss_kib,
        hwm_kib,
    })
}

pub fn table(r: &ControllersResult, args: &ControllersArgs) -> Table {
    let mut t = Table::new(
        format!(
            "Controllers: Deployment of {} replicas on {} fake nodes",
            args.replicas, args.deploy_nodes
        ),
        &["measure", "value", "aim"],
    );
    t.row(vec![
        "create → all replicas Ready and available".into(),
        ms(r.ready),
        "< 10 s".into(),
    ]);
    t.row(vec![
        "full rolling update (new image) → rollout complete".into(),
        ms(r.rollout),
        "< 10 s".into(),
    ]);
    t.row(vec![
        "server RSS afterwards".into(),
        mib(r.rss_kib),
        String::new(),
    ]);
    t.row(vec![
        "server peak RSS".into(),
        mib(r.hwm_kib),
        String::new(),
    ]);
    t
}
