//! The Recreate strategy (upstream `recreate.go`): scale every old ReplicaSet to zero, wait
//! until none of their pods is still running, then create or scale up the new one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use super::util::*;
use super::DeploymentController;
use crate::common::pod_phase;

type Result<T> = std::result::Result<T, kube::Error>;

impl DeploymentController {
    /// Upstream's `rolloutRecreate`.
    pub(super) async fn rollout_recreate(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
        pod_map: &HashMap<String, Vec<Arc<Pod>>>,
    ) -> Result<Option<Duration>> {
        let (mut new_rs, mut old) = self
            .get_all_rss_and_sync_revision(d, rs_list, false)
            .await?;
        let mut all = old.clone();
        all.extend(new_rs.clone());
        let mut scaled_down = false;
        for rs in active(&old) {
            if self.scale_rs_and_record(&rs, 0, d).await?.0 {
                scaled_down = true;
            }
        }
        if scaled_down || old_pods_running(new_rs.as_ref(), &old, pod_map) {
            return self.sync_rollout_status(&all, new_rs.as_ref(), d).await;
        }
        if new_rs.is_none() {
            (new_rs, old) = self.get_all_rss_and_sync_revision(d, rs_list, true).await?;
            all = old.clone();
            all.extend(new_rs.clone());
        }
        if let Some(rs) = &new_rs {
            self.scale_rs_and_record(rs, replicas(d), d).await?;
        }
        if deployment_complete(d, &d.status.clone().unwrap_or_default()) {
            self.cleanup_deployment(&old, d).await?;
        }
        self.sync_rollout_status(&all, new_rs.as_ref(), d).await
    }
}

/// Whether old RSs still report pods, or any pod of theirs has not finished.
fn old_pods_running(
    new_rs: Option<&Arc<ReplicaSet>>,
    old: &[Arc<ReplicaSet>],
    pod_map: &HashMap<String, Vec<Arc<Pod>>>,
) -> bool {
    if actual_replica_count(old) > 0 {
        return true;
    }
    let new_uid = new_rs.and_then(|rs| rs.metadata.uid.as_deref());
    pod_map.iter().any(|(uid, pods)| {
        Some(uid.as_str()) != new_uid
            && pods
                .iter()
                .any(|p| !matches!(pod_phase(p), "Failed" | "Succeeded"))
    })
}
