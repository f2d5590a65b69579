//! The kubelet's Summary API (`/stats/summary`, what metrics-server and `kubectl top` read):
//! per-container CPU and memory from the runtime's `ListContainerStats` (containerd reads them
//! from the containers' cgroups), summed per pod, and the node's from the root cgroups and
//! `/proc/meminfo`. CPU rates (`usageNanoCores`) come from the previous sample, kept here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::pod::{CONTAINER_NAME_LABEL, POD_NAMESPACE_LABEL, POD_NAME_LABEL, POD_UID_LABEL};
use crate::runtime::ContainerRuntime;

/// (namespace, name, uid) of a pod.
type PodKey = (String, String, String);

/// CPU samples from the previous call: id → (timestamp ns, usage ns).
#[derive(Default)]
pub struct Samples(Mutex<HashMap<String, (i64, u64)>>);

impl Samples {
    /// The usage rate in nanocores since the previous sample of `id`.
    fn rate(&self, id: &str, ts: i64, usage: u64) -> u64 {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let prev = m.insert(id.to_string(), (ts, usage));
        match prev {
            Some((t0, u0)) if ts > t0 && usage >= u0 => {
                ((usage - u0) as u128 * 1_000_000_000 / (ts - t0) as u128) as u64
            }
            _ => 0,
        }
    }
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The node's CPU and memory.
fn node_usage(samples: &Samples) -> (Value, Value) {
    let now = chrono::Utc::now();
    let ts = now.timestamp_nanos_opt().unwrap_or_default();
    let cpu_total = read_u64("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage")
        .or_else(|| read_u64("/sys/fs/cgroup/cpuacct/cpuacct.usage"))
        .or_else(|| {
            // cgroup v2: usage_usec of the root.
            std::fs::read_to_string("/sys/fs/cgroup/cpu.stat")
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find(|l| l.starts_with("usage_usec"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                        .map(|us| us * 1000)
                })
        })
        .unwrap_or(0);
    let total = meminfo("MemTotal:").unwrap_or(0);
    let available = meminfo("MemAvailable:").unwrap_or(0);
    let usage = total.saturating_sub(meminfo("MemFree:").unwrap_or(0));
    let working_set = total.saturating_sub(available);
    let time = rfc3339(ts);
    (
        json!({"time": time, "usageNanoCores": samples.rate("/", ts, cpu_total),
               "usageCoreNanoSeconds": cpu_total}),
        json!({"time": time, "availableBytes": available, "usageBytes": usage,
               "workingSetBytes": working_set, "rssBytes": working_set,
               "pageFaults": 0, "majorPageFaults": 0}),
    )
}

/// `/stats/summary` for node `node` (started at `node_start`, RFC 3339).
pub async fn summary(
    rt: &dyn ContainerRuntime,
    samples: &Samples,
    node: &str,
    node_start: &str,
) -> Result<Value, String> {
    let stats = rt.container_stats().await.map_err(|e| e.to_string())?;
    let containers = rt.list_containers().await.map_err(|e| e.to_string())?;
    let created: HashMap<&str, i64> = containers
        .iter()
        .map(|c| (c.id.as_str(), c.created_at))
        .collect();
    let mut pods: BTreeMap<PodKey, Vec<Value>> = BTreeMap::new();
    // Per pod: CPU rate, CPU time, working set, newest sample time.
    let mut totals: HashMap<PodKey, (u64, u64, u64, i64)> = HashMap::new();
    for s in &stats {
        let Some(a) = &s.attributes else { continue };
        let label = |k: &str| a.labels.get(k).cloned().unwrap_or_default();
        let key = (
            label(POD_NAMESPACE_LABEL),
            label(POD_NAME_LABEL),
            label(POD_UID_LABEL),
        );
        if key.2.is_empty() {
            continue;
        }
        let (ts, used) = s
            .cpu
            .as_ref()
            .map(|c| {
                (
                    c.timestamp,
                    c.usage_core_nano_seconds
                        .as_ref()
                        .map(|v| v.value)
                        .unwrap_or(0),
                )
            })
            .unwrap_or((0, 0));
        let rate = samples.rate(&a.id, ts, used);
        let mem = s.memory.as_ref();
        let mv = |f: fn(&k8s_cri::v1::MemoryUsage) -> Option<u64>| mem.and_then(f).unwrap_or(0);
        let ws = mv(|m| m.working_set_bytes.as_ref().map(|v| v.value));
        let usage = mv(|m| m.usage_bytes.as_ref().map(|v| v.value));
        let rss = mv(|m| m.rss_bytes.as_ref().map(|v| v.value));
        let time = rfc3339(ts);
        let name = a
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_else(|| label(CONTAINER_NAME_LABEL));
        let start = created.get(a.id.as_str()).copied().unwrap_or(ts);
        pods.entry(key.clone()).or_default().push(json!({
            "name": name,
            "startTime": rfc3339(start),
            "cpu": {"time": time, "usageNanoCores": rate, "usageCoreNanoSeconds": used},
            "memory": {"time": time, "usageBytes": usage, "workingSetBytes": ws, "rssBytes": rss,
                       "pageFaults": mv(|m| m.page_faults.as_ref().map(|v| v.value)),
                       "majorPageFaults": mv(|m| m.major_page_faults.as_ref().map(|v| v.value))},
        }));
        let t = totals.entry(key).or_default();
        t.0 += rate;
        t.1 += used;
        t.2 += ws;
        t.3 = t.3.max(ts);
        let _ = usage;
    }
    let (node_cpu, node_mem) = node_usage(samples);
    let pods: Vec<Value> = pods
        .into_iter()
        .map(|(key, containers)| {
            let (rate, used, ws, ts) = totals.get(&key).copied().unwrap_or_default();
            let time = rfc3339(ts);
            let start = containers
                .iter()
                .filter_map(|c| c["startTime"].as_str())
                .min()
                .unwrap_or_default()
                .to_string();
            json!({
                "podRef": {"name": key.1, "namespace": key.0, "uid": key.2},
                "startTime": start,
                "containers": containers,
                "cpu": {"time": time, "usageNanoCores": rate, "usageCoreNanoSeconds": used},
                "memory": {"time": time, "workingSetBytes": ws, "usageBytes": ws},
            })
        })
        .collect();
    Ok(json!({
        "node": {"nodeName": node, "startTime": node_start, "cpu": node_cpu, "memory": node_mem},
        "pods": pods,
    }))
}
