//! The rkube controller manager: one module per controller, each a level-triggered,
//! idempotent reconcile loop on kube-runtime, talking to the cluster only through a
//! `kube::Client` (in-process inside `rkube server`, so the same code would run remotely).
//!
//! [`spawn`] waits for the `kube-controller-manager` Lease and then starts every controller.
//! Modules mirror upstream's controller names; [`common`] holds what several share
//! (ownerReferences, pod readiness and availability, creating pods from templates).

pub mod common;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod garbagecollector;
pub mod history;
pub mod job;
pub mod nodeipam;
pub mod podgc;
pub mod replicaset;
pub mod serviceaccount;
pub mod servicelb;
pub mod statefulset;
pub mod ttlafterfinished;

use std::sync::Arc;

use rkube_client::events::Recorder;

/// How the controller manager runs.
#[derive(Clone)]
pub struct Config {
    /// The client every controller uses.
    pub client: kube::Client,
    /// This process's name for leader election and events (e.g. the hostname).
    pub identity: String,
    /// Compete for the `kube-controller-manager` Lease before starting (always on in the
    /// server; tests may start controllers directly).
    pub leader_elect: bool,
    /// Pod CIDR range handed out to nodes, e.g. `10.42.0.0/16`.
    pub cluster_cidr: String,
    /// Prefix length of each node's podCIDR (24 gives a /24 per node).
    pub node_cidr_mask_size: u8,
}

/// What every controller gets.
pub struct Context {
    /// The API client.
    pub client: kube::Client,
    /// Records events with source `component` set per controller (see [`Context::recorder`]).
    pub config: Config,
}

impl Context {
    /// An event recorder naming `component` (e.g. `deployment-controller`) as the source.
    pub fn recorder(&self, component: &str) -> Recorder {
        Recorder::new(self.client.clone(), component, "")
    }
}

/// Starts the controller manager in the background: waits for leadership (when asked),
/// then runs every controller until the process ends.
pub fn spawn(config: Config) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if config.leader_elect {
            let mut rx = rkube_client::leader::run(
                config.client.clone(),
                rkube_client::leader::Config::new("kube-controller-manager", &config.identity),
            );
            rkube_client::leader::wait_leading(&mut rx).await;
        }
        let ctx = Arc::new(Context {
            client: config.client.clone(),
            config,
        });
        run_all(ctx).await;
    })
}

/// Runs every controller on `ctx` concurrently until they all return (they normally never do).
pub async fn run_all(ctx: Arc<Context>) {
    let tasks: Vec<tokio::task::JoinHandle<()>> = vec![
        tokio::spawn(replicaset::run(ctx.clone())),
        tokio::spawn(replicaset::run_replication_controllers(ctx.clone())),
        tokio::spawn(deployment::run(ctx.clone())),
        tokio::spawn(daemonset::run(ctx.clone())),
        tokio::spawn(statefulset::run(ctx.clone())),
        tokio::spawn(job::run(ctx.clone())),
        tokio::spawn(cronjob::run(ctx.clone())),
        tokio::spawn(garbagecollector::run(ctx.clone())),
        tokio::spawn(serviceaccount::run(ctx.clone())),
        tokio::spawn(podgc::run(ctx.clone())),
        tokio::spawn(ttlafterfinished::run(ctx.clone())),
        tokio::spawn(nodeipam::run(ctx.clone())),
        tokio::spawn(endpoints::run(ctx.clone())),
        tokio::spawn(endpointslice::run(ctx.clone())),
        tokio::spawn(servicelb::run(ctx.clone())),
        tokio::spawn(disruption::run(ctx.clone())),
    ];
    for t in tasks {
        if let Err(e) = t.await {
            tracing::error!("controller task ended: {e}");
        }
    }
}
