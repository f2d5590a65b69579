//! The RollingUpdate strategy (upstream `rolling.go`): scale the new ReplicaSet up within
//! maxSurge, then scale old ones down without dropping availability below
//! `replicas - maxUnavailable`, unhealthy old replicas first.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::util::*;
use super::DeploymentController;

type Result<T> = std::result::Result<T, kube::Error>;

impl DeploymentController {
    /// Upstream's `rolloutRolling`.
    pub(super) async fn rollout_rolling(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
    ) -> Result<Option<Duration>> {
        let (new_rs, old) = self.get_all_rss_and_sync_revision(d, rs_list, true).await?;
        let mut all = old.clone();
        all.extend(new_rs.clone());
        if let Some(new_rs) = &new_rs {
            if self.reconcile_new_rs(&all, new_rs, d).await? {
                return self.sync_rollout_status(&all, Some(new_rs), d).await;
            }
            if self
                .reconcile_old_rss(&all, &active(&old), new_rs, d)
                .await?
            {
                return self.sync_rollout_status(&all, Some(new_rs), d).await;
            }
        }
        if deployment_complete(d, &d.status.clone().unwrap_or_default()) {
            self.cleanup_deployment(&old, d).await?;
        }
        self.sync_rollout_status(&all, new_rs.as_ref(), d).await
    }

    async fn reconcile_new_rs(
        &self,
        all: &[Arc<ReplicaSet>],
        new_rs: &Arc<ReplicaSet>,
        d: &Deployment,
    ) -> Result<bool> {
        let desired = replicas(d);
        let current = rs_replicas(new_rs);
        if current == desired {
            return Ok(false);
        }
        let target = if current > desired {
            desired
        } else {
            new_rs_new_replicas(d, all, new_rs)
        };
        Ok(self.scale_rs_and_record(new_rs, target, d).await?.0)
    }

    async fn reconcile_old_rss(
        &self,
        all: &[Arc<ReplicaSet>],
        old: &[Arc<ReplicaSet>],
        new_rs: &Arc<ReplicaSet>,
        d: &Deployment,
    ) -> Result<bool> {
        if replica_count(old) == 0 {
            return Ok(false);
        }
        let all_pods = replica_count(all);
        let min_available = replicas(d) - max_unavailable(d);
        let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let (old, cleaned) = match self
            .cleanup_unhealthy_replicas(old, d, max_scaled_down)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("failed to clean up unhealthy replicas: {e:#}");
                return Ok(false);
            }
        };
        let mut all = old.clone();
        all.push(new_rs.clone());
        let scaled = match self
            .scale_down_old_rss_for_rolling_update(&all, &old, d)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("failed to scale down old replica sets: {e:#}");
                return Ok(false);
            }
        };
        Ok(cleaned + scaled > 0)
    }

    /// Scales old RSs down by their unavailable replicas (at most `max_cleanup` in all),
    /// which costs no availability.
    async fn cleanup_unhealthy_replicas(
        &self,
        old: &[Arc<ReplicaSet>],
        d: &Deployment,
        max_cleanup: i32,
    ) -> Result<(Vec<Arc<ReplicaSet>>, i32)> {
        let mut old = old.to_vec();
        old.sort_by(|a, b| by_creation(a, b));
        let mut total = 0;
        for rs in old.iter_mut() {
            if total >= max_cleanup {
                break;
            }
            let spec = rs_replicas(rs);
            let available = rs_available(rs);
            if spec == 0 || spec == available {
                continue;
            }
            let down = (max_cleanup - total).min(spec - available);
            let (_, updated) = self.scale_rs_and_record(rs, spec - down, d).await?;
            total += down;
            *rs = updated;
        }
        Ok((old, total))
    }

    /// Scales old RSs down, oldest first, by what availability above the floor allows.
    async fn scale_down_old_rss_for_rolling_update(
        &self,
        all: &[Arc<ReplicaSet>],
        old: &[Arc<ReplicaSet>],
        d: &Deployment,
    ) -> Result<i32> {
        let min_available = replicas(d) - max_unavailable(d);
        let available = available_replica_count(all);
        if available <= min_available {
            return Ok(0);
        }
        let mut old = old.to_vec();
        old.sort_by(|a, b| by_creation(a, b));
        let want = available - min_available;
        let mut total = 0;
        for rs in &old {
            if total >= want {
                break;
            }
            let spec = rs_replicas(rs);
            if spec == 0 {
                continue;
            }
            let down = spec.min(want - total);
            self.scale_rs_and_record(rs, spec - down, d).await?;
            total += down;
        }
        Ok(total)
    }
}
