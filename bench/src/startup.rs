//! `startup` (spawn → kubeconfig written and /readyz answering) and `rss` (idle memory).

use crate::report::Table;
use crate::server::{RkubeServer, ServerOpts, Startup};
use crate::stats::{mib, ms};
use anyhow::{Context, Result};
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct StartupArgs {
    /// Starts on a fresh data dir
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Restarts on an existing data dir (its kubeconfig.yaml is removed before each, so the
    /// server must write it again)
    #[arg(long, default_value_t = 5)]
    pub restarts: usize,
}

#[derive(Clone, Debug)]
pub struct StartupResult {
    pub fresh: Vec<Startup>,
    pub restart: Vec<Startup>,
    pub shutdown: Vec<Duration>,
}

pub async fn run_startup(opts: &ServerOpts, args: &StartupArgs) -> Result<StartupResult> {
    let bin = opts.binary()?;
    let work = tempfile::tempdir().context("create temp dir")?;
    let log = work.path().join("server.log");
    let mut fresh = Vec::new();
    let mut shutdown = Vec::new();
    for i in 0..args.runs.max(1) {
        let dir = work.path().join(format!("fresh-{i}"));
        let mut s = RkubeServer::spawn(&bin, &dir, &log, None)?;
        fresh.push(s.wait_ready(Duration::from_secs(60)).await?);
        shutdown.push(s.stop()?);
        eprintln!("startup: fresh run {i}: {:?}", fresh.last());
    }
    let dir = work.path().join("fresh-0");
    let mut restart = Vec::new();
    for i in 0..args.restarts {
        let _ = std::fs::remove_file(dir.join("kubeconfig.yaml"));
        let mut s = RkubeServer::spawn(&bin, &dir, &log, None)?;
        restart.push(s.wait_ready(Duration::from_secs(60)).await?);
        shutdown.push(s.stop()?);
        eprintln!("startup: restart {i}: {:?}", restart.last());
    }
    Ok(StartupResult {
        fresh,
        restart,
        shutdown,
    })
}

fn med_min(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    if v.is_empty() {
        return Default::default();
    }
    (v[0], v[(v.len() - 1) / 2], v[v.len() - 1])
}

pub fn startup_table(r: &StartupResult) -> Table {
    let mut t = Table::new(
        "Startup: from spawning `rkube server --disable-agent` (embedded store) until …",
        &[
            "run",
            "n",
            "kubeconfig written min / median / max",
            "/readyz 200 min / median / max",
            "both done min / median / max",
        ],
    );
    for (name, runs) in [
        ("fresh data dir", &r.fresh),
        ("restart, existing data dir", &r.restart),
    ] {
        if runs.is_empty() {
            continue;
        }
        let cell = |f: &dyn Fn(&Startup) -> Duration| {
            let (a, b, c) = med_min(runs.iter().map(f).collect());
            format!("{} / **{}** / {}", ms(a), ms(b), ms(c))
        };
        t.row(vec![
            name.into(),
            runs.len().to_string(),
            cell(&|s| s.kubeconfig),
            cell(&|s| s.readyz),
            cell(&|s| s.both()),
        ]);
    }
    let (a, b, c) = med_min(r.shutdown.clone());
    t.row(vec![
        "shutdown (SIGTERM → exit)".into(),
        r.shutdown.len().to_string(),
        String::new(),
        String::new(),
        format!("{} / {} / {}", ms(a), ms(b), ms(c)),
    ]);
    t
}

#[derive(clap::Args, Clone, Debug)]
pub struct RssArgs {
    /// Seconds of idleness after ready before reading the RSS
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
}

#[derive(Clone, Debug)]
pub struct RssResult {
    pub at_ready_kib: (u64, u64),
    pub idle_kib: (u64, u64),
    pub threads: String,
    pub idle_secs: u64,
}

pub async fn run_rss(opts: &ServerOpts, args: &RssArgs) -> Result<RssResult> {
    let bin = opts.binary()?;
    let work = tempfile::tempdir().context("create temp dir")?;
    let mut s = RkubeServer::spawn(
        &bin,
        &work.path().join("data"),
        &work.path().join("server.log"),
        None,
    )?;
    s.wait_ready(Duration::from_secs(60)).await?;
    let at_ready_kib = s.rss()?;
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle_kib = s.rss()?;
    let threads = std::fs::read_to_string(format!("/proc/{}/status", s.pid()))
        .ok()
        .and_then(|st| {
            st.lines()
                .find(|l| l.starts_with("Threads:"))
                .map(|l| l["Threads:".len()..].trim().to_string())
        })
        .unwrap_or_default();
    s.stop()?;
    Ok(RssResult {
        at_ready_kib,
        idle_kib,
        threads,
        idle_secs: args.idle_secs,
    })
}

pub fn rss_table(r: &RssResult) -> Table {
    let mut t = Table::new(
        "Memory of `rkube server --disable-agent` (fresh data dir, embedded store)",
        &["when", "VmRSS", "VmHWM (peak)", "threads"],
    );
    t.row(vec![
        "just ready".into(),
        mib(r.at_ready_kib.0),
        mib(r.at_ready_kib.1),
        String::new(),
    ]);
    t.row(vec![
        format!("idle {} s after ready", r.idle_secs),
        format!("**{}**", mib(r.idle_kib.0)),
        mib(r.idle_kib.1),
        r.threads.clone(),
    ]);
    t
}
