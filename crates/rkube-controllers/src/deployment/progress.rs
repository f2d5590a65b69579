//! Rollout status and the progress deadline (upstream `progress.go`): the Progressing
//! condition (ReplicaSetUpdated while making progress, NewReplicaSetAvailable when done,
//! ProgressDeadlineExceeded when stuck), ReplicaFailure copied from the ReplicaSets, and when
//! to look again for a deadline check.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::sync::{calculate_status, same_status};
use super::util::*;
use super::DeploymentController;

impl DeploymentController {
    /// Upstream's `syncRolloutStatus`; returns when to check the deadline again (zero: soon,
    /// rate limited) when the status did not change.
    pub(super) async fn sync_rollout_status(
        &self,
        all: &[Arc<ReplicaSet>],
        new_rs: Option<&Arc<ReplicaSet>>,
        d: &mut Deployment,
    ) -> Result<Option<Duration>, kube::Error> {
        let now = Timestamp::now();
        let mut status = calculate_status(all, new_rs, d, now);
        if !has_progress_deadline(d) {
            remove_condition(&mut status, "Progressing");
        }
        let current = d.status.clone().unwrap_or_default();
        let current_cond = get_condition(&current, "Progressing").cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current_cond
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
        if has_progress_deadline(d) && !complete_before {
            let subject = match new_rs {
                Some(rs) => format!("ReplicaSet \"{}\"", rs.name_any()),
                None => format!("Deployment \"{}\"", d.name_any()),
            };
            if deployment_complete(d, &status) {
                let msg = format!("{subject} has successfully progressed.");
                set_condition(
                    &mut status,
                    new_condition("Progressing", "True", NEW_RS_AVAILABLE_REASON, &msg, now),
                );
            } else if deployment_progressing(d, &status) {
                let msg = format!("{subject} is progressing.");
                let mut cond = new_condition("Progressing", "True", RS_UPDATED_REASON, &msg, now);
                // Progress refreshes lastUpdateTime even with the same reason.
                if let Some(cur) = &current_cond {
                    if cur.status == "True" {
                        cond.last_transition_time = cur.last_transition_time.clone();
                    }
                    remove_condition(&mut status, "Progressing");
                }
                set_condition(&mut status, cond);
            } else if deployment_timed_out(d, &status, now) {
                let msg = format!("{subject} has timed out progressing.");
                set_condition(
                    &mut status,
                    new_condition("Progressing", "False", TIMED_OUT_REASON, &msg, now),
                );
            }
        }
        match replica_failure(all, new_rs) {
            Some(c) => set_condition(&mut status, c),
            None => remove_condition(&mut status, "ReplicaFailure"),
        }
        if same_status(d.status.as_ref(), &status) {
            return Ok(requeue_stuck(d, &status, now));
        }
        self.update_status(d, status).await?;
        Ok(None)
    }
}

/// The ReplicaFailure condition of the new RS, else of any RS, as a deployment condition.
fn replica_failure(
    all: &[Arc<ReplicaSet>],
    new_rs: Option<&Arc<ReplicaSet>>,
) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")
            .map(|c| DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            })
    };
    new_rs
        .and_then(|rs| failure(rs))
        .or_else(|| all.iter().find_map(|rs| failure(rs)))
}

/// Upstream's `requeueStuckDeployment`: when a rollout in progress should be checked for its
/// deadline (the Progressing condition's lastUpdateTime plus the deadline).
fn requeue_stuck(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let current = d.status.clone().unwrap_or_default();
    let cond = get_condition(&current, "Progressing")?;
    if !has_progress_deadline(d)
        || deployment_complete(d, status)
        || cond.reason.as_deref() == Some(TIMED_OUT_REASON)
    {
        return None;
    }
    let deadline = d.spec.as_ref()?.progress_deadline_seconds? as i64;
    let last = cond.last_update_time.as_ref()?.0.as_second();
    let after = last + deadline - now.as_second();
    if after < 1 {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_secs(after as u64 + 1))
}
