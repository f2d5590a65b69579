//! The proxy loop: watches Services and EndpointSlices into local caches (event handlers
//! only wake the loop), and syncs the table in batches: changes closer together than
//! `min_sync_period` are applied in one transaction. Each sync computes the whole desired
//! [`Ruleset`] from the caches (level-triggered) and applies only its difference from the
//! last applied one ([`Mode::Diff`], so one endpoint change costs a few commands whatever
//! the cluster size); the first sync and the first after a failure recreate the table, and
//! every `full_sync_period` the table is rewritten in place (which keeps affinity state).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::model;
use crate::rules::{self, Mode, Ruleset};
use crate::{nft, Config, Error};

/// Services carrying this label are handled by another proxy (upstream's convention).
const SERVICE_PROXY_NAME: &str = "service.kubernetes.io/service-proxy-name";
/// Headless services have no ClusterIP to proxy.
const HEADLESS: &str = "service.kubernetes.io/headless";

/// The desired ruleset for these objects.
pub fn desired<'a>(
    config: &Config,
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> Ruleset {
    let ports: Vec<model::ServicePort> = services
        .into_iter()
        .flat_map(model::service_ports)
        .collect();
    let endpoints = model::endpoints(slices, &config.node_name);
    rules::build(config, &ports, &endpoints)
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStats {
    /// How the table was updated (`None`: nothing changed, nft not run).
    pub mode: Option<Mode>,
    /// Service and endpoint chains in the table afterwards.
    pub chains: usize,
    /// Size of the script sent to nft.
    pub script_bytes: usize,
}

/// Keeps what was applied, to send only differences.
pub struct Syncer {
    config: Config,
    applied: Option<Ruleset>,
    last_full: Instant,
}

impl Syncer {
    /// A syncer that has applied nothing yet (its first sync recreates the table).
    pub fn new(config: Config) -> Syncer {
        Syncer {
            config,
            applied: None,
            last_full: Instant::now(),
        }
    }

    /// Brings the table to `next`. On failure the kernel kept its previous state (one
    /// transaction) and the next sync recreates the table.
    pub async fn apply(&mut self, next: Ruleset) -> Result<SyncStats, Error> {
        let mode = match &self.applied {
            None => Mode::Recreate,
            Some(_) if self.last_full.elapsed() >= self.config.full_sync_period => Mode::Rewrite,
            Some(_) => Mode::Diff,
        };
        let empty = Ruleset::default();
        let prev = self.applied.as_ref().unwrap_or(&empty);
        let chains = next.chain_count();
        let Some(script) = rules::render(&self.config, prev, &next, mode) else {
            return Ok(SyncStats {
                mode: None,
                chains,
                script_bytes: 0,
            });
        };
        self.applied = None;
        nft::run_async(&script).await?;
        if mode != Mode::Diff {
            self.last_full = Instant::now();
        }
        self.applied = Some(next);
        Ok(SyncStats {
            mode: Some(mode),
            chains,
            script_bytes: script.len(),
        })
    }
}

/// A running proxy.
pub struct Handle {
    task: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Handle {
    /// Stops syncing (after any transaction in flight) and leaves the rules in place, so
    /// services keep working while the proxy restarts.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!("failed to stop the service proxy: {e}");
        }
    }

    /// Stops syncing and then removes every rule the proxy made.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.stop().await;
        nft::delete_table_async().await
    }

    /// Whether the proxy loop has ended (it only ends when stopped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts the proxy for this node: fails at once if nftables is unusable (no silent
/// fallback), then watches Services and EndpointSlices through `client` and keeps the
/// `ip rkube-proxy` table in sync until stopped. Must be called inside a tokio runtime.
pub fn spawn(client: kube::Client, config: Config) -> Result<Handle, Error> {
    if config.node_name.is_empty() {
        return Err(Error::Config("node name must not be empty".into()));
    }
    nft::probe()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run(client, config, stop_rx));
    Ok(Handle {
        task,
        stop: stop_tx,
    })
}

/// Feeds a reflector from a watch, waking the sync loop on every change.
fn watch_into<K>(
    api: Api<K>,
    cfg: watcher::Config,
    writer: reflector::store::Writer<K>,
    notify: Arc<Notify>,
) -> JoinHandle<()>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        let stream = reflector::reflector(writer, watcher(api, cfg).default_backoff());
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => notify.notify_one(),
                Err(e) => tracing::warn!("failed to watch {}: {e}", K::plural(&())),
            }
        }
    })
}

async fn run(client: kube::Client, config: Config, mut stop: watch::Receiver<bool>) {
    let notify = Arc::new(Notify::new());
    let (services, svc_writer) = reflector::store::<Service>();
    let (slices, eps_writer) = reflector::store::<EndpointSlice>();
    let watches = [
        watch_into(
            Api::<Service>::all(client.clone()),
            watcher::Config::default().labels(&format!("!{SERVICE_PROXY_NAME}")),
            svc_writer,
            notify.clone(),
        ),
        watch_into(
            Api::<EndpointSlice>::all(client),
            watcher::Config::default().labels(&format!("!{SERVICE_PROXY_NAME},!{HEADLESS}")),
            eps_writer,
            notify.clone(),
        ),
    ];
    // Never sync from a partial view: that would drop rules of services not listed yet.
    let ready = async {
        let _ = services.wait_until_ready().await;
        let _ = slices.wait_until_ready().await;
    };
    tokio::select! {
        _ = ready => {}
        _ = stop.changed() => {
            watches.iter().for_each(JoinHandle::abort);
            return;
        }
    }

    let min_period = config.min_sync_period;
    let full_period = config.full_sync_period;
    let mut syncer = Syncer::new(config.clone());
    let mut retry: Option<Duration> = None;
    loop {
        let started = Instant::now();
        let svcs = services.state();
        let eps = slices.state();
        let next = desired(
            &config,
            svcs.iter().map(|s| s.as_ref()),
            eps.iter().map(|s| s.as_ref()),
        );
        match syncer.apply(next).await {
            Ok(stats) => {
                retry = None;
                if stats.mode.is_some() {
                    tracing::debug!(
                        "synced nftables rules ({:?}, {} chains, {} bytes) in {:?}",
                        stats.mode,
                        stats.chains,
                        stats.script_bytes,
                        started.elapsed()
                    );
                }
            }
            Err(e) => {
                tracing::error!("failed to sync nftables rules: {e:#}");
                let next = retry.map_or(Duration::from_secs(1), |d| (d * 2).min(full_period));
                retry = Some(next.min(Duration::from_secs(30)));
            }
        }
        let wake = tokio::time::sleep(retry.unwrap_or(full_period));
        tokio::select! {
            _ = notify.notified() => {}
            _ = wake => {}
            _ = stop.changed() => break,
        }
        // Batch: whatever else arrives within min_sync_period of this sync's start.
        let batch = tokio::time::sleep(min_period.saturating_sub(started.elapsed()));
        tokio::select! {
            _ = batch => {}
            _ = stop.changed() => break,
        }
    }
    watches.iter().for_each(JoinHandle::abort);
}
