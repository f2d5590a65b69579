//! `api`: the HTTPS API of a real `rkube server --disable-agent` child process.
//!
//! - GET of one pod, sequential on one kept-alive connection;
//! - creating N pods (POST, concurrent connections);
//! - LIST of all pods as JSON, as a server-side Table, and paged like kubectl (limit=500, Table);
//! - watch-event latency: W watch streams on configmaps, then E writes (alternating create
//!   and update), one at a time; each write waits until every watcher saw it.

use crate::client::{Api, Conn, JSON, TABLE};
use crate::report::Table;
use crate::server::{RkubeServer, ServerOpts};
use crate::stats::{fmt_rate, mib, ms, rate, summarize, Summary};
use anyhow::{bail, Context, Result};
use http_body_util::BodyExt;
use hyper::Method;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datastore {
    Embedded,
    Etcd,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ApiArgs {
    /// Store backend of the server under test
    #[arg(long, value_enum, default_value = "embedded")]
    pub datastore: Datastore,
    /// Sequential GETs of one pod
    #[arg(long, default_value_t = 2000)]
    pub gets: usize,
    /// Pods created (then listed)
    #[arg(long, default_value_t = 10000)]
    pub pods: usize,
    /// Concurrent connections creating pods
    #[arg(long, default_value_t = 32)]
    pub create_concurrency: usize,
    /// Timed runs of each LIST
    #[arg(long, default_value_t = 5)]
    pub list_runs: usize,
    /// Watch streams
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Writes whose events the watchers must see
    #[arg(long, default_value_t = 200)]
    pub watch_events: usize,
}

#[derive(Clone, Debug)]
pub struct ApiResult {
    pub datastore: String,
    pub startup: crate::server::Startup,
    pub get: Summary,
    pub creates_per_s: f64,
    pub create: Summary,
    pub list: Summary,
    pub list_bytes: usize,
    pub list_items: usize,
    pub table: Summary,
    pub table_bytes: usize,
    pub paged_table: Summary,
    pub paged_pages: usize,
    pub watch_write: Summary,
    pub watch_from_response: Summary,
    pub watch_from_send: Summary,
    pub watch_before_response: usize,
    pub watch_missed: usize,
    pub rss_after_create_kib: (u64, u64),
    pub rss_after_json_list_kib: (u64, u64),
    pub rss_after_list_kib: (u64, u64),
    pub rss_after_kib: (u64, u64),
    pub restart: Option<crate::server::Startup>,
    pub restart_idle_kib: (u64, u64),
}

fn pod(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}
    }))
    .unwrap_or_default()
}

const PODS: &str = "/api/v1/namespaces/default/pods";
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

pub async fn run(opts: &ServerOpts, args: &ApiArgs) -> Result<ApiResult> {
    let bin = opts.binary()?;
    let etcd = match args.datastore {
        Datastore::Embedded => None,
        Datastore::Etcd => Some(
            tokio::task::spawn_blocking(rkube_store::testing::EtcdProcess::try_start)
                .await?
                .map_err(|e| {
                    anyhow::anyhow!("cannot start etcd for `api --datastore etcd`: {e}")
                })?,
        ),
    };
    let work = tempfile::tempdir().context("create temp dir")?;
    let mut server = RkubeServer::spawn(
        &bin,
        &work.path().join("data"),
        &work.path().join("server.log"),
        etcd.as_ref().map(|e| e.endpoint.as_str()),
    )?;
    let startup = server.wait_ready(Duration::from_secs(60)).await?;
    let api = Api::from_kubeconfig(&server.kubeconfig())?;
    let result = measure(&api, &server, args, startup).await;
    let mut result = match result {
        Ok(r) => r,
        Err(e) => bail!("{e:#}\nserver log tail:\n{}", server.log_tail()),
    };
    server.stop()?;

    // Restart on the populated data dir: startup time and idle memory with all those objects.
    eprintln!(
        "api/{}: restart with {} pods",
        result.datastore, result.list_items
    );
    let _ = std::fs::remove_file(server.kubeconfig());
    let mut again = RkubeServer::spawn(
        &bin,
        &work.path().join("data"),
        &work.path().join("server.log"),
        etcd.as_ref().map(|e| e.endpoint.as_str()),
    )?;
    result.restart = Some(again.wait_ready(Duration::from_secs(120)).await?);
    tokio::time::sleep(Duration::from_secs(RESTART_IDLE_SECS)).await;
    result.restart_idle_kib = again.rss()?;
    again.stop()?;
    drop(etcd);
    Ok(result)
}

const RESTART_IDLE_SECS: u64 = 3;

async fn measure(
    api: &Api,
    server: &RkubeServer,
    args: &ApiArgs,
    startup: crate::server::Startup,
) -> Result<ApiResult> {
    let datastore = match args.datastore {
        Datastore::Embedded => "embedded".to_string(),
        Datastore::Etcd => format!("etcd {}", crate::machine::etcd_version()),
    };
    // GET one pod.
    let mut c = api.connect().await?;
    c.json(Method::POST, PODS, Some(pod("bench-get")))
        .await
        .context("create the pod to GET")?;
    let path = format!("{PODS}/bench-get");
    eprintln!("api/{datastore}: {} sequential GETs", args.gets);
    for _ in 0..100 {
        get_ok(&mut c, &path, JSON).await?;
    }
    let mut gets = Vec::with_capacity(args.gets);
    for _ in 0..args.gets {
        let t = Instant::now();
        get_ok(&mut c, &path, JSON).await?;
        gets.push(t.elapsed());
    }

    // Create pods.
    eprintln!(
        "api/{datastore}: creating {} pods over {} connections",
        args.pods, args.create_concurrency
    );
    let (create_elapsed, create_lat) = create_pods(api, args.pods, args.create_concurrency).await?;
    let rss_after_create_kib = server.rss()?;

    // LIST.
    eprintln!("api/{datastore}: LIST x{}", args.list_runs);
    let (list, list_bytes) = timed_list(&mut c, PODS, JSON, args.list_runs).await?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&c.call(Method::GET, PODS, JSON, None).await?.1)?;
    let list_items = parsed["items"].as_array().map_or(0, |a| a.len());
    if list_items < args.pods {
        bail!(
            "LIST returned {list_items} pods, expected at least {}",
            args.pods
        );
    }
    let rss_after_json_list_kib = server.rss()?;
    let (table, table_bytes) = timed_list(&mut c, PODS, TABLE, args.list_runs).await?;
    let mut paged = Vec::new();
    let mut paged_pages = 0;
    for _ in 0..args.list_runs {
        let t = Instant::now();
        paged_pages = paged_list(&mut c).await?;
        paged.push(t.elapsed());
    }
    let rss_after_list_kib = server.rss()?;

    // Watch latency.
    eprintln!(
        "api/{datastore}: {} watchers x {} events",
        args.watchers, args.watch_events
    );
    let w = watch_latency(api, &mut c, args.watchers, args.watch_events).await?;

    let rss_after_kib = server.rss()?;
    Ok(ApiResult {
        datastore,
        startup,
        get: summarize(gets),
        creates_per_s: rate(args.pods, create_elapsed),
        create: summarize(create_lat),
        list: summarize(list),
        list_bytes,
        list_items,
        table: summarize(table),
        table_bytes,
        paged_table: summarize(paged),
        paged_pages,
        watch_write: summarize(w.write),
        watch_from_response: summarize(w.from_response),
        watch_from_send: summarize(w.from_send),
        watch_before_response: w.before_response,
        watch_missed: w.missed,
        rss_after_create_kib,
        rss_after_json_list_kib,
        rss_after_list_kib,
        rss_after_kib,
        restart: None,
        restart_idle_kib: (0, 0),
    })
}

async fn get_ok(c: &mut Conn, path: &str, accept: &str) -> Result<usize> {
    let (status, body) = c.call(Method::GET, path, accept, None).await?;
    if !status.is_success() {
        bail!(
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    Ok(body.len())
}

async fn create_pods(api: &Api, n: usize, concurrency: usize) -> Result<(Duration, Vec<Duration>)> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..concurrency.max(1) {
        conns.push(api.connect().await?);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in conns {
        let next = next.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                let (status, body) = c
                    .call(
                        Method::POST,
                        PODS,
                        JSON,
                        Some(pod(&format!("bench-{i:05}"))),
                    )
                    .await?;
                if !status.is_success() {
                    bail!(
                        "create pod bench-{i:05}: {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(500)])
                    );
                }
                lat.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        all.extend(r.context("create task panicked")??);
    }
    Ok((started.elapsed(), all))
}

/// One warm-up run, then `runs` timed ones (whole body received). Returns times and body size.
async fn timed_list(
    c: &mut Conn,
    path: &str,
    accept: &str,
    runs: usize,
) -> Result<(Vec<Duration>, usize)> {
    let mut bytes = get_ok(c, path, accept).await?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        bytes = get_ok(c, path, accept).await?;
        times.push(t.elapsed());
    }
    Ok((times, bytes))
}

/// A kubectl-style `get pods`: Table pages of 500 following `continue`. Returns the page count.
async fn paged_list(c: &mut Conn) -> Result<usize> {
    let mut pages = 0;
    let mut cont = String::new();
    loop {
        let path = if cont.is_empty() {
            format!("{PODS}?limit=500")
        } else {
            format!("{PODS}?limit=500&continue={cont}")
        };
        let (status, body) = c.call(Method::GET, &path, TABLE, None).await?;
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        pages += 1;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        cont = v["metadata"]["continue"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if cont.is_empty() {
            return Ok(pages);
        }
        if pages > 10_000 {
            bail!("paged LIST did not end after 10000 pages");
        }
    }
}

struct WatchTimes {
    write: Vec<Duration>,
    from_response: Vec<Duration>,
    from_send: Vec<Duration>,
    before_response: usize,
    missed: usize,
}

/// (watcher, seq, when received)
type Seen = (usize, i64, Instant);

async fn watch_latency(
    api: &Api,
    c: &mut Conn,
    watchers: usize,
    events: usize,
) -> Result<WatchTimes> {
    let list = c.json(Method::GET, CONFIGMAPS, None).await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .context("configmap list has no resourceVersion")?
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Seen>();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<Result<()>>();
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..watchers {
        let api = api.clone();
        let (tx, ready_tx) = (tx.clone(), ready_tx.clone());
        let path = format!("{CONFIGMAPS}?watch=true&resourceVersion={rv}");
        tasks.spawn(async move {
            if let Err(e) = watcher(id, api, &path, tx, &ready_tx).await {
                let _ = ready_tx.send(Err(e));
            }
        });
    }
    drop(ready_tx);
    for _ in 0..watchers {
        match tokio::time::timeout(Duration::from_secs(30), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(e.context("open watch")),
            Ok(None) => bail!("watchers ended before they were ready"),
            Err(_) => bail!("watch streams not established within 30 s"),
        }
    }

    const WARMUP: usize = 4;
    let mut out = WatchTimes {
        write: Vec::new(),
        from_response: Vec::new(),
        from_send: Vec::new(),
        before_response: 0,
        missed: 0,
    };
    let mut last: Option<serde_json::Value> = None;
    for seq in 0..(WARMUP + events) {
        let sent = Instant::now();
        let obj = if seq % 2 == 0 {
            let body = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("bench-watch-{}", seq / 2)},
                "data": {"seq": seq.to_string()}
            });
            c.json(Method::POST, CONFIGMAPS, Some(serde_json::to_vec(&body)?))
                .await?
        } else {
            let mut obj = last.take().context("no object to update")?;
            obj["data"]["seq"] = serde_json::Value::String(seq.to_string());
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            c.json(
                Method::PUT,
                &format!("{CONFIGMAPS}/{name}"),
                Some(serde_json::to_vec(&obj)?),
            )
            .await?
        };
        let responded = Instant::now();
        last = Some(obj);
        let mut got = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while got < watchers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((_, s, at))) if s == seq as i64 => {
                    got += 1;
                    if seq >= WARMUP {
                        out.from_send.push(at.saturating_duration_since(sent));
                        if at < responded {
                            out.before_response += 1;
                        }
                        out.from_response
                            .push(at.saturating_duration_since(responded));
                    }
                }
                Ok(Some(_)) => {} // a late event of an earlier write
                Ok(None) => bail!("all watch streams ended"),
                Err(_) => break,
            }
        }
        if seq >= WARMUP {
            out.write.push(responded - sent);
            out.missed += watchers - got;
        } else if got < watchers {
            bail!("warm-up event {seq} reached only {got} of {watchers} watchers within 10 s");
        }
    }
    tasks.abort_all();
    Ok(out)
}

async fn watcher(
    id: usize,
    api: Api,
    path: &str,
    tx: tokio::sync::mpsc::UnboundedSender<Seen>,
    ready: &tokio::sync::mpsc::UnboundedSender<Result<()>>,
) -> Result<()> {
    let mut c = api.connect().await?;
    let resp = c.send(Method::GET, path, JSON, None).await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    let _ = ready.send(Ok(()));
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("read watch stream")?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let now = Instant::now();
        buf.extend_from_slice(data);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let ev: serde_json::Value =
                serde_json::from_slice(&line).context("watch event is not JSON")?;
            match ev["type"].as_str() {
                Some("ADDED") | Some("MODIFIED") => {
                    if let Some(seq) = ev["object"]["data"]["seq"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                    {
                        let _ = tx.send((id, seq, now));
                    }
                }
                Some("ERROR") => bail!("watch error event: {ev}"),
                _ => {}
            }
        }
    }
    Ok(())
}

pub fn table(r: &ApiResult, args: &ApiArgs) -> Table {
    let mut t = Table::new(
        format!(
            "API over HTTPS + mTLS, HTTP/1.1 kept-alive connections, datastore: {}",
            r.datastore
        ),
        &["measurement", "p50", "p99", "other"],
    );
    t.row(vec![
        format!("GET one pod ({} sequential)", r.get.n),
        ms(r.get.p50),
        ms(r.get.p99),
        format!("mean {}, max {}", ms(r.get.mean), ms(r.get.max)),
    ]);
    t.row(vec![
        format!(
            "create pod (POST, {} pods, {} connections)",
            r.create.n, args.create_concurrency
        ),
        ms(r.create.p50),
        ms(r.create.p99),
        format!("{} pods/s", fmt_rate(r.creates_per_s)),
    ]);
    t.row(vec![
        format!("LIST {} pods, JSON ({} runs)", r.list_items, r.list.n),
        ms(r.list.p50),
        ms(r.list.max),
        format!(
            "min {}, {:.1} MiB",
            ms(r.list.min),
            r.list_bytes as f64 / 1048576.0
        ),
    ]);
    t.row(vec![
        format!("LIST {} pods, as=Table ({} runs)", r.list_items, r.table.n),
        ms(r.table.p50),
        ms(r.table.max),
        format!(
            "min {}, {:.1} MiB",
            ms(r.table.min),
            r.table_bytes as f64 / 1048576.0
        ),
    ]);
    t.row(vec![
        format!(
            "LIST pods as=Table, limit=500 pages like kubectl ({} pages, {} runs)",
            r.paged_pages, r.paged_table.n
        ),
        ms(r.paged_table.p50),
        ms(r.paged_table.max),
        format!("min {}", ms(r.paged_table.min)),
    ]);
    t.row(vec![
        format!(
            "configmap write seen by watchers ({} writes)",
            r.watch_write.n
        ),
        ms(r.watch_write.p50),
        ms(r.watch_write.p99),
        "write request → response".into(),
    ]);
    t.row(vec![
        format!(
            "watch event latency, {} watchers x {} writes ({} samples)",
            args.watchers, r.watch_write.n, r.watch_from_response.n
        ),
        ms(r.watch_from_response.p50),
        ms(r.watch_from_response.p99),
        format!(
            "from write response; {} arrived before the response (counted as 0), {} missed (10 s)",
            r.watch_before_response, r.watch_missed
        ),
    ]);
    t.row(vec![
        "watch event latency from write request sent".into(),
        ms(r.watch_from_send.p50),
        ms(r.watch_from_send.p99),
        format!("max {}", ms(r.watch_from_send.max)),
    ]);
    for (when, (rss, hwm)) in [
        ("after the creates", r.rss_after_create_kib),
        ("after the JSON LISTs", r.rss_after_json_list_kib),
        ("after the Table LISTs", r.rss_after_list_kib),
        ("after the watch test (end)", r.rss_after_kib),
    ] {
        t.row(vec![
            format!("server memory {when}"),
            String::new(),
            String::new(),
            format!("VmRSS {}, VmHWM (peak so far) {}", mib(rss), mib(hwm)),
        ]);
    }
    if let Some(st) = r.restart {
        t.row(vec![
            format!(
                "restart on this data dir ({} pods): kubeconfig written + /readyz 200",
                r.list_items
            ),
            String::new(),
            String::new(),
            format!(
                "{} (kubeconfig {}, /readyz {})",
                ms(st.both()),
                ms(st.kubeconfig),
                ms(st.readyz)
            ),
        ]);
        t.row(vec![
            format!("server memory idle {RESTART_IDLE_SECS} s after that restart"),
            String::new(),
            String::new(),
            format!(
                "VmRSS {}, VmHWM {}",
                mib(r.restart_idle_kib.0),
                mib(r.restart_idle_kib.1)
            ),
        ]);
    }
    t
}
