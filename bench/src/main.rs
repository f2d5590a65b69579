//! `rkube-bench`: the benchmark harness behind `BENCHMARKS.md`.
//!
//! Reports numbers; asserts nothing about timing. Progress goes to stderr, markdown tables to
//! stdout. Run with `cargo run --release -p rkube-bench -- all` after
//! `cargo build --release -p rkube`.

mod api;
mod client;
mod controllers;
mod machine;
mod pods;
mod report;
mod scheduler;
mod server;
mod startup;
mod stats;
mod store;

use anyhow::Result;
use clap::{Parser, Subcommand};
use report::{print, Table};
use stats::{mib, ms};

#[derive(Parser)]
#[command(
    name = "rkube-bench",
    about = "Benchmarks of rkube: store, API, startup, memory"
)]
struct Cli {
    #[command(flatten)]
    server: server::ServerOpts,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Embedded store vs a real etcd: writes/s, reads/s
    Store(store::StoreArgs),
    /// The HTTPS API of `rkube server`: GET, create, LIST, watch latency
    Api(api::ApiArgs),
    /// Time from spawn to kubeconfig written and /readyz answering
    Startup(startup::StartupArgs),
    /// Idle RSS of `rkube server --disable-agent`
    Rss(startup::RssArgs),
    /// A Deployment of many replicas on fake nodes: ready time and a rolling update
    Controllers(controllers::ControllersArgs),
    /// Scheduler throughput with fake nodes (upstream's SchedulingBasic)
    Scheduler(scheduler::SchedulerArgs),
    /// Pod startup latency on the real node and the node agent's idle memory (needs root,
    /// containerd, runc, the CNI plugins; run nothing else with a node agent meanwhile)
    Pods(pods::PodsArgs),
    /// Facts about this machine
    Machine,
    /// Everything, with the aims of issue 2 (the API part runs on both the embedded store and
    /// etcd; `--datastore` is ignored here)
    All(AllArgs),
}

#[derive(clap::Args)]
struct AllArgs {
    #[command(flatten)]
    store: store::StoreArgs,
    #[command(flatten)]
    api: api::ApiArgs,
    #[command(flatten)]
    startup: startup::StartupArgs,
    #[command(flatten)]
    rss: startup::RssArgs,
    /// Do not repeat the API benchmark on the etcd backend
    #[arg(long)]
    skip_api_etcd: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(cli)));
    if let Err(e) = result {
        eprintln!("rkube-bench: error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Store(a) => print(&store::table(&store::run(&a).await?, &a)),
        Cmd::Api(a) => print(&api::table(&api::run(&cli.server, &a).await?, &a)),
        Cmd::Startup(a) => print(&startup::startup_table(
            &startup::run_startup(&cli.server, &a).await?,
        )),
        Cmd::Rss(a) => print(&startup::rss_table(
            &startup::run_rss(&cli.server, &a).await?,
        )),
        Cmd::Controllers(a) => print(&controllers::table(
            &controllers::run(&cli.server, &a).await?,
            &a,
        )),
        Cmd::Scheduler(a) => print(&scheduler::table(
            &scheduler::run(&cli.server, &a).await?,
            &a,
        )),
        Cmd::Pods(a) => print(&pods::table(&pods::run(&cli.server, &a).await?, &a)),
        Cmd::Machine => print(&machine::table()),
        Cmd::All(a) => all(&cli.server, a).await?,
    }
    Ok(())
}

async fn all(opts: &server::ServerOpts, a: AllArgs) -> Result<()> {
    // Fail early when a binary is missing, not half-way through.
    opts.binary()?;
    if !a.store.no_etcd || !a.skip_api_etcd {
        let etcd = std::env::var_os("ETCD_BIN")
            .map_or_else(|| std::path::PathBuf::from("/usr/bin/etcd"), Into::into);
        if !etcd.is_file() {
            anyhow::bail!(
                "etcd binary {} not found: install the Debian package `etcd-server` (apt-get install etcd-server), \
                 set ETCD_BIN, or pass --no-etcd --skip-api-etcd",
                etcd.display()
            );
        }
    }
    print(&machine::table());
    // Quiet measurements first, while nothing else of ours runs.
    let st = startup::run_startup(opts, &a.startup).await?;
    print(&startup::startup_table(&st));
    let rss = startup::run_rss(opts, &a.rss).await?;
    print(&startup::rss_table(&rss));
    let stores = store::run(&a.store).await?;
    print(&store::table(&stores, &a.store));
    let mut apis = Vec::new();
    let mut datastores = vec![api::Datastore::Embedded];
    if !a.skip_api_etcd {
        datastores.push(api::Datastore::Etcd);
    }
    for ds in datastores {
        let args = api::ApiArgs {
            datastore: ds,
            ..a.api.clone()
        };
        let r = api::run(opts, &args).await?;
        print(&api::table(&r, &args));
        apis.push(r);
    }
    print(&aims(&st, &rss, &stores, &apis));
    Ok(())
}

fn yes(ok: bool) -> String {
    if ok {
        "yes".into()
    } else {
        "**no**".into()
    }
}

fn aims(
    st: &startup::StartupResult,
    rss: &startup::RssResult,
    stores: &[store::StoreResult],
    apis: &[api::ApiResult],
) -> Table {
    let mut t = Table::new("Aims (issue 2)", &["aim", "measured", "met"]);
    let idle = rss.idle_kib.0;
    t.row(vec![
        "idle RSS < 20 MiB".into(),
        mib(idle),
        yes(idle < 20 * 1024),
    ]);
    let mut both: Vec<_> = st.fresh.iter().map(|s| s.both()).collect();
    both.sort();
    if let Some(med) = both.get((both.len().max(1) - 1) / 2) {
        t.row(vec![
            "API ready and kubeconfig written within 150 ms of start (median, fresh data dir)"
                .into(),
            ms(*med),
            yes(med.as_millis() < 150),
        ]);
    }
    if let [emb, etcd] = stores {
        let serial = emb.serial_creates / etcd.serial_creates;
        let conc = emb.concurrent_creates / etcd.concurrent_creates;
        t.row(vec![
            "embedded store ≥ 2x etcd write rate, serial creates".into(),
            format!("{serial:.2}x"),
            yes(serial >= 2.0),
        ]);
        t.row(vec![
            "embedded store ≥ 2x etcd write rate, concurrent creates".into(),
            format!("{conc:.2}x"),
            yes(conc >= 2.0),
        ]);
    }
    t.row(vec![
        "vs Rusternetes idle RSS 34 MiB".into(),
        mib(idle),
        yes(idle < 34 * 1024),
    ]);
    let mut ready: Vec<_> = st.fresh.iter().map(|s| s.readyz).collect();
    ready.sort();
    if let Some(med) = ready.get((ready.len().max(1) - 1) / 2) {
        t.row(vec![
            "vs Rusternetes /readyz 0.18 s after start".into(),
            ms(*med),
            yes(med.as_millis() < 180),
        ]);
    }
    for r in apis {
        t.row(vec![
            format!("(info) API on {}: server ready in", r.datastore),
            ms(r.startup.both()),
            String::new(),
        ]);
    }
    t
}
