//! Leader election over a Lease (`kube-system/<name>`), with client-go's timing: a leader
//! renews every `retry_period` and gives up if it has not renewed within `renew_deadline`;
//! a candidate takes the Lease once `lease_duration` has passed since the holder's last
//! renewal. Updates are compare-and-swap on resourceVersion, so two candidates never both win.

use std::time::Duration;

use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::Error;

/// How a candidate competes for a Lease.
#[derive(Debug, Clone)]
pub struct Config {
    /// Lease name in `kube-system`, e.g. `kube-scheduler`.
    pub lease_name: String,
    /// This candidate's identity, unique per process (hostname + random suffix upstream).
    pub identity: String,
    /// How long a holder's claim lasts without renewal (upstream default 15s).
    pub lease_duration: Duration,
    /// A leader that cannot renew within this long steps down (upstream default 10s).
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew (upstream default 2s).
    pub retry_period: Duration,
}

impl Config {
    /// Upstream's defaults for `lease_name`, with a fresh identity based on `holder`.
    pub fn new(lease_name: &str, holder: &str) -> Config {
        Config {
            lease_name: lease_name.to_string(),
            identity: format!("{holder}_{}", uuid::Uuid::new_v4()),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

fn parse_time(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// One attempt to acquire or renew; `Ok(true)` when we hold the Lease afterwards.
async fn try_acquire(
    api: &Api<k8s_openapi::api::coordination::v1::Lease>,
    cfg: &Config,
) -> Result<bool, Error> {
    let now = crate::now_micro();
    let secs = cfg.lease_duration.as_secs().max(1) as i64;
    let existing = api.get_opt(&cfg.lease_name).await?;
    let Some(lease) = existing else {
        let body = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.lease_name, "namespace": "kube-system"},
            "spec": {
                "holderIdentity": cfg.identity,
                "leaseDurationSeconds": secs,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            }
        });
        let lease = serde_json::from_value(body).map_err(kube::Error::SerdeError)?;
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        };
    };
    let mut v = serde_json::to_value(&lease).map_err(kube::Error::SerdeError)?;
    let spec = &v["spec"];
    let holder = spec["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ours = holder == cfg.identity;
    if !ours && !holder.is_empty() {
        let duration = spec["leaseDurationSeconds"].as_i64().unwrap_or(secs);
        let renewed = parse_time(&spec["renewTime"]).or_else(|| parse_time(&spec["acquireTime"]));
        if let Some(renewed) = renewed {
            if chrono::Utc::now() < renewed + chrono::Duration::seconds(duration) {
                return Ok(false);
            }
        }
    }
    let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0);
    let s = &mut v["spec"];
    s["renewTime"] = json!(now);
    s["leaseDurationSeconds"] = json!(secs);
    if !ours {
        s["holderIdentity"] = json!(cfg.identity);
        s["acquireTime"] = json!(now);
        s["leaseTransitions"] = json!(transitions + 1);
    }
    let lease = serde_json::from_value(v).map_err(kube::Error::SerdeError)?;
    match api
        .replace(&cfg.lease_name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Competes for the Lease forever. The returned receiver reads `true` while this candidate
/// leads; components start their work on `true` and stop it on `false`.
pub fn run(client: kube::Client, cfg: Config) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let api = Api::namespaced(client, "kube-system");
        let mut last_renew = tokio::time::Instant::now();
        loop {
            let leading = *tx.borrow();
            match try_acquire(&api, &cfg).await {
                Ok(true) => {
                    last_renew = tokio::time::Instant::now();
                    if !leading {
                        tracing::info!(lease = %cfg.lease_name, identity = %cfg.identity, "became leader");
                        let _ = tx.send(true);
                    }
                }
                Ok(false) => {
                    if leading {
                        tracing::warn!(lease = %cfg.lease_name, "lost leadership");
                        let _ = tx.send(false);
                    }
                }
                Err(e) => {
                    tracing::warn!(lease = %cfg.lease_name, "failed to renew lease: {e:#}");
                    if leading && last_renew.elapsed() > cfg.renew_deadline {
                        tracing::warn!(lease = %cfg.lease_name, "renew deadline passed, stepping down");
                        let _ = tx.send(false);
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(cfg.retry_period).await;
        }
    });
    rx
}

/// Waits until `rx` reads `true`.
pub async fn wait_leading(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|l| *l).await;
}
