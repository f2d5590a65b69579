//! `store`: the embedded store against a real etcd, same workload, same run.
//!
//! Workload per backend (all values ~1 KiB pod-like JSON, keys `/registry/pods/bench/…`):
//! serial creates (one writer), concurrent creates, concurrent CAS updates, concurrent gets,
//! and a full paged range (1000 keys per page) over everything written.

use crate::report::Table;
use crate::stats::{fmt_rate, ms, rate, summarize, Summary};
use anyhow::{Context, Result};
use rkube_store::{RangeOptions, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct StoreArgs {
    /// Keys written by one serial writer
    #[arg(long, default_value_t = 2000)]
    pub serial_keys: usize,
    /// Serial rounds per backend (alternating between backends; the median is reported)
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Keys written by the concurrent writers
    #[arg(long, default_value_t = 20000)]
    pub keys: usize,
    /// Concurrent writers / readers
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Gets done by the concurrent readers
    #[arg(long, default_value_t = 100000)]
    pub reads: usize,
    /// Value size in bytes
    #[arg(long, default_value_t = 1024)]
    pub value_size: usize,
    /// Skip etcd (embedded store only)
    #[arg(long)]
    pub no_etcd: bool,
}

/// Results for one backend.
#[derive(Clone, Debug)]
pub struct StoreResult {
    pub backend: String,
    pub serial_creates: f64,
    pub serial_rounds: Vec<f64>,
    pub serial_latency: Summary,
    pub concurrent_creates: f64,
    pub concurrent_latency: Summary,
    pub updates: f64,
    pub gets: f64,
    pub get_latency: Summary,
    pub range: Duration,
    pub range_keys: usize,
}

const PREFIX: &str = "/registry/pods/bench/";

/// A pod-like JSON value padded to `size` bytes.
fn pod_value(name: &str, size: usize, generation: usize) -> Vec<u8> {
    let mut v = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "bench", "uid": format!("00000000-0000-0000-0000-{generation:012}"),
                     "labels": {"app": "bench", "tier": "backend"}, "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                 "restartPolicy": "Always", "schedulerName": "default-scheduler"},
        "status": {"phase": "Pending", "qosClass": "Burstable"},
        "pad": ""
    });
    let len = serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0);
    v["pad"] = serde_json::Value::String("x".repeat(size.saturating_sub(len)));
    serde_json::to_vec(&v).unwrap_or_default()
}

/// A tiny xorshift generator, so reads hit keys in a scattered order.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Run `total` operations over `concurrency` tasks; each op gets its index. Returns the
/// elapsed time and every op's latency.
async fn parallel<F, Fut>(
    total: usize,
    concurrency: usize,
    op: F,
) -> Result<(Duration, Vec<Duration>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let op = op.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let t = Instant::now();
                op(i).await?;
                lat.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        all.extend(r.context("bench task panicked")??);
    }
    Ok((started.elapsed(), all))
}

/// One round of serial creates: (creates/s, latencies).
async fn serial_round(
    name: &str,
    store: &Arc<dyn Store>,
    args: &StoreArgs,
    round: usize,
) -> Result<(f64, Vec<Duration>)> {
    let mut lat = Vec::with_capacity(args.serial_keys);
    let t0 = Instant::now();
    for i in 0..args.serial_keys {
        let key = format!("{PREFIX}serial-{round}-{i:06}");
        let value = pod_value(&key, args.value_size, i);
        let t = Instant::now();
        store
            .create(&key, value)
            .await
            .with_context(|| format!("{name}: create {key}"))?;
        lat.push(t.elapsed());
    }
    Ok((rate(args.serial_keys, t0.elapsed()), lat))
}

/// The concurrent phases and the range, on one backend.
async fn concurrent_phases(
    name: &str,
    store: Arc<dyn Store>,
    args: &StoreArgs,
    serial: Vec<(f64, Vec<Duration>)>,
) -> Result<StoreResult> {
    let size = args.value_size;
    eprintln!(
        "store/{name}: {} creates, {} writers",
        args.keys, args.concurrency
    );
    let s = store.clone();
    let (conc_elapsed, conc_lat) = parallel(args.keys, args.concurrency, move |i| {
        let s = s.clone();
        async move {
            let key = format!("{PREFIX}pod-{i:06}");
            s.create(&key, pod_value(&key, size, i))
                .await
                .with_context(|| format!("create {key}"))?;
            Ok(())
        }
    })
    .await?;

    eprintln!(
        "store/{name}: {} CAS updates, {} writers",
        args.keys, args.concurrency
    );
    let s = store.clone();
    let (upd_elapsed, _) = parallel(args.keys, args.concurrency, move |i| {
        let s = s.clone();
        async move {
            let key = format!("{PREFIX}pod-{i:06}");
            let kv = s
                .get(&key)
                .await?
                .with_context(|| format!("{key} vanished"))?;
            s.update(&key, pod_value(&key, size, i + 1), kv.mod_revision)
                .await
                .with_context(|| format!("update {key}"))?;
            Ok(())
        }
    })
    .await?;

    eprintln!(
        "store/{name}: {} gets, {} readers",
        args.reads, args.concurrency
    );
    let s = store.clone();
    let keys = args.keys.max(1);
    let (get_elapsed, get_lat) = parallel(args.reads, args.concurrency, move |i| {
        let s = s.clone();
        async move {
            let mut rng = Rng(i as u64 * 0x9E37_79B9_7F4A_7C15 + 1);
            let key = format!("{PREFIX}pod-{:06}", rng.next() as usize % keys);
            s.get(&key)
                .await?
                .with_context(|| format!("{key} missing"))?;
            Ok(())
        }
    })
    .await?;

    eprintln!("store/{name}: paged range");
    let mut ranges = Vec::new();
    let mut range_keys = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut n = 0;
        let mut after = None;
        loop {
            let r = store
                .range(
                    PREFIX,
                    RangeOptions {
                        start_after: after.clone(),
                        limit: 1000,
                        revision: None,
                    },
                )
                .await?;
            n += r.kvs.len();
            after = r.kvs.last().map(|kv| kv.key.clone());
            if !r.more {
                break;
            }
        }
        ranges.push(t.elapsed());
        range_keys = n;
    }
    ranges.sort();

    let mut rates: Vec<f64> = serial.iter().map(|(r, _)| *r).collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    let serial_lat: Vec<Duration> = serial.into_iter().flat_map(|(_, l)| l).collect();
    Ok(StoreResult {
        backend: name.to_string(),
        serial_creates: rates[(rates.len() - 1) / 2],
        serial_rounds: rates,
        serial_latency: summarize(serial_lat),
        concurrent_creates: rate(args.keys, conc_elapsed),
        concurrent_latency: summarize(conc_lat),
        updates: rate(args.keys, upd_elapsed),
        gets: rate(args.reads, get_elapsed),
        get_latency: summarize(get_lat),
        range: ranges[ranges.len() / 2],
        range_keys,
    })
}

/// Run the store benchmark on every backend; etcd is required unless `--no-etcd`. Serial
/// rounds alternate between the backends (their rate is the most sensitive to the machine's
/// mood), then each backend runs the concurrent phases.
pub async fn run(args: &StoreArgs) -> Result<Vec<StoreResult>> {
    let dir = tempfile::tempdir().context("create temp dir")?;
    let path = dir.path().join("state.redb");
    let embedded = Arc::new(
        rkube_store::embedded::EmbeddedStore::open(&path, rkube_store::EmbeddedConfig::default())
            .with_context(|| format!("open embedded store {}", path.display()))?,
    );
    let mut backends: Vec<(String, Arc<dyn Store>)> =
        vec![("embedded (redb)".into(), embedded.clone())];
    let mut etcd = None;
    if !args.no_etcd {
        let p = tokio::task::spawn_blocking(rkube_store::testing::EtcdProcess::try_start)
            .await?
            .map_err(|e| anyhow::anyhow!("cannot start etcd for the store benchmark: {e}"))?;
        let store = rkube_store::etcd::EtcdStore::connect(std::slice::from_ref(&p.endpoint))
            .await
            .with_context(|| format!("connect to etcd at {}", p.endpoint))?;
        backends.push((
            format!("etcd {}", crate::machine::etcd_version()),
            Arc::new(store),
        ));
        etcd = Some(p);
    }
    let mut serial: Vec<Vec<(f64, Vec<Duration>)>> = vec![Vec::new(); backends.len()];
    for round in 0..args.rounds.max(1) {
        for k in 0..backends.len() {
            let b = if round % 2 == 0 {
                k
            } else {
                backends.len() - 1 - k
            };
            let (name, store) = &backends[b];
            eprintln!(
                "store/{name}: serial round {round}: {} creates",
                args.serial_keys
            );
            serial[b].push(serial_round(name, store, args, round).await?);
        }
    }
    let mut results = Vec::new();
    for ((name, store), serial) in backends.into_iter().zip(serial) {
        results.push(concurrent_phases(&name, store, args, serial).await?);
    }
    embedded.close().await.context("close embedded store")?;
    drop(etcd);
    Ok(results)
}

pub fn table(results: &[StoreResult], args: &StoreArgs) -> Table {
    let mut t = Table::new(
        format!(
            "Store ({}-byte values; serial = 1 writer, {} rounds of {} keys, alternating backends; concurrent = {} writers/readers, {} keys, {} gets)",
            args.value_size, args.rounds, args.serial_keys, args.concurrency, args.keys, args.reads
        ),
        &["backend", "serial creates/s (median; min–max)", "serial create p50 / p99", "concurrent creates/s", "concurrent create p50 / p99",
          "CAS updates/s (get+update)", "gets/s", "get p50 / p99", "paged range of all keys"],
    );
    for r in results {
        t.row(vec![
            r.backend.clone(),
            format!(
                "{} ({}–{})",
                fmt_rate(r.serial_creates),
                fmt_rate(r.serial_rounds.first().copied().unwrap_or_default()),
                fmt_rate(r.serial_rounds.last().copied().unwrap_or_default())
            ),
            format!(
                "{} / {}",
                ms(r.serial_latency.p50),
                ms(r.serial_latency.p99)
            ),
            fmt_rate(r.concurrent_creates),
            format!(
                "{} / {}",
                ms(r.concurrent_latency.p50),
                ms(r.concurrent_latency.p99)
            ),
            fmt_rate(r.updates),
            fmt_rate(r.gets),
            format!("{} / {}", ms(r.get_latency.p50), ms(r.get_latency.p99)),
            format!("{} ({} keys)", ms(r.range), r.range_keys),
        ]);
    }
    if results.len() == 2 {
        let (a, b) = (&results[0], &results[1]);
        t.row(vec![
            "ratio embedded / etcd".into(),
            format!("{:.2}x", a.serial_creates / b.serial_creates),
            String::new(),
            format!("{:.2}x", a.concurrent_creates / b.concurrent_creates),
            String::new(),
            format!("{:.2}x", a.updates / b.updates),
            format!("{:.2}x", a.gets / b.gets),
            String::new(),
            format!(
                "{:.2}x faster",
                b.range.as_secs_f64() / a.range.as_secs_f64().max(1e-9)
            ),
        ]);
    }
    t
}
