//! The steps every deployment sync shares (upstream `sync.go`): claiming ReplicaSets,
//! finding or creating the new RS and keeping the revision annotations in step, scaling with
//! events, proportional scaling on scaling events and while paused, paused conditions,
//! revisionHistoryLimit cleanup, and computing and writing the status.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_client::events::EventType;
use serde_json::json;

use super::util::{self, *};
use super::DeploymentController;
use crate::common::{
    controller_ref, get_controller_of, is_not_found, label_selector, selector_matches,
};
use crate::replicaset::error_message;

type Result<T> = std::result::Result<T, kube::Error>;

fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

impl DeploymentController {
    fn rs_api(&self, ns: &str) -> Api<ReplicaSet> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn deploy_api(&self, d: &Deployment) -> Api<Deployment> {
        Api::namespaced(
            self.client.clone(),
            d.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }

    /// Writes `status` to the deployment and keeps `d` in step with the server.
    pub(super) async fn update_status(
        &self,
        d: &mut Deployment,
        status: DeploymentStatus,
    ) -> Result<()> {
        let mut obj = d.clone();
        obj.status = Some(status);
        *d = self
            .deploy_api(d)
            .replace_status(&d.name_any(), &PostParams::default(), &obj)
            .await?;
        Ok(())
    }

    /// Sets the deployment's revision annotation (upstream's `SetDeploymentRevision`, which
    /// upstream persists with the status update; here a metadata patch).
    async fn set_deployment_revision(&self, d: &mut Deployment, revision: &str) -> Result<()> {
        let current = d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION));
        if current.map(String::as_str) == Some(revision) {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "annotations": {REVISION: revision},
            "resourceVersion": d.metadata.resource_version,
        }});
        let status = d.status.clone();
        *d = self
            .deploy_api(d)
            .patch(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        // Conditions set on `d` but not written yet stay.
        d.status = status;
        Ok(())
    }

    /// Upstream's `getReplicaSetsForDeployment`: the RSs of the namespace this deployment
    /// controls, adopting matching orphans and releasing ones that stopped matching.
    pub(super) async fn get_replica_sets_for_deployment(
        &self,
        d: &Deployment,
    ) -> Result<Vec<Arc<ReplicaSet>>> {
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let deleting = d.metadata.deletion_timestamp.is_some();
        let Ok(selector) = label_selector(d.spec.as_ref().map(|s| &s.selector)) else {
            return Ok(Vec::new());
        };
        let mut claimed = Vec::new();
        let mut can_adopt: Option<bool> = None;
        let api = self.rs_api(&ns);
        for rs in self
            .rss
            .state_filter(|rs| rs.metadata.namespace.as_deref() == Some(ns.as_str()))
        {
            let matches = selector_matches(&selector, rs.metadata.labels.as_ref());
            match get_controller_of(&rs.metadata) {
                Some(r) if r.uid != uid => {}
                Some(_) => {
                    if matches {
                        claimed.push(rs);
                    } else if !deleting {
                        let patch = json!({"metadata": {
                            "ownerReferences": [{"$patch": "delete", "uid": uid}],
                            "uid": rs.metadata.uid,
                        }});
                        match api
                            .patch(
                                &rs.name_any(),
                                &PatchParams::default(),
                                &Patch::Strategic(&patch),
                            )
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if is_not_found(&e) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                None => {
                    if deleting || !matches || rs.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    if can_adopt.is_none() {
                        let fresh = match self.deploy_api(d).get(&d.name_any()).await {
                            Ok(f) => Some(f),
                            Err(e) if is_not_found(&e) => None,
                            Err(e) => return Err(e),
                        };
                        can_adopt = Some(fresh.is_some_and(|f| {
                            f.metadata.uid.as_deref() == Some(uid.as_str())
                                && f.metadata.deletion_timestamp.is_none()
                        }));
                    }
                    if can_adopt != Some(true) {
                        continue;
                    }
                    let patch = json!({"metadata": {
                        "ownerReferences": [controller_ref(d)],
                        "uid": rs.metadata.uid,
                    }});
                    match api
                        .patch(
                            &rs.name_any(),
                            &PatchParams::default(),
                            &Patch::Strategic(&patch),
                        )
                        .await
                    {
                        Ok(adopted) => claimed.push(Arc::new(adopted)),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// Upstream's `getAllReplicaSetsAndSyncRevision`: the new RS (created when `create` and
    /// missing) and all the old ones, with revisions brought up to date.
    pub(super) async fn get_all_rss_and_sync_revision(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
        create: bool,
    ) -> Result<(Option<Arc<ReplicaSet>>, Vec<Arc<ReplicaSet>>)> {
        let new_rs = find_new_rs(d, rs_list);
        let old: Vec<Arc<ReplicaSet>> = rs_list
            .iter()
            .filter(|rs| {
                new_rs
                    .as_ref()
                    .is_none_or(|n| n.metadata.uid != rs.metadata.uid)
            })
            .cloned()
            .collect();
        let new_rs = self
            .get_new_replica_set(d, rs_list, &old, new_rs, create)
            .await?;
        Ok((new_rs, old))
    }

    /// Upstream's `getNewReplicaSet`.
    async fn get_new_replica_set(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
        old: &[Arc<ReplicaSet>],
        existing: Option<Arc<ReplicaSet>>,
        create: bool,
    ) -> Result<Option<Arc<ReplicaSet>>> {
        let new_revision = max_revision(old) + 1;
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let now = Timestamp::now();
        if let Some(existing) = existing {
            let mut rs = (*existing).clone();
            let annotations_updated = set_new_rs_annotations(d, &mut rs, new_revision, true);
            let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let rs_min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds);
            if annotations_updated || min_ready.unwrap_or(0) != rs_min_ready.unwrap_or(0) {
                if let Some(spec) = rs.spec.as_mut() {
                    spec.min_ready_seconds = min_ready;
                }
                let updated = self
                    .rs_api(&ns)
                    .replace(&rs.name_any(), &PostParams::default(), &rs)
                    .await?;
                return Ok(Some(Arc::new(updated)));
            }
            let rs_revision = rs
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned()
                .unwrap_or_default();
            self.set_deployment_revision(d, &rs_revision).await?;
            let mut status = d.status.clone().unwrap_or_default();
            if has_progress_deadline(d) && get_condition(&status, "Progressing").is_none() {
                let msg = format!("Found new replica set \"{}\"", rs.name_any());
                set_condition(
                    &mut status,
                    new_condition("Progressing", "True", FOUND_NEW_RS_REASON, &msg, now),
                );
                self.update_status(d, status).await?;
            }
            return Ok(Some(Arc::new(rs)));
        }
        if !create {
            return Ok(None);
        }
        let spec = d.spec.clone().unwrap_or_default();
        let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = compute_hash(&spec.template, collision_count);
        let mut template: PodTemplateSpec = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(Default::default);
        tmeta
            .labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = tmeta.labels.clone();
        let mut selector: LabelSelector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("{}-{}", d.name_any(), hash);
        let mut new_rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(ns.clone()),
                owner_references: Some(vec![controller_ref(d)]),
                labels,
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let mut all: Vec<Arc<ReplicaSet>> = old.to_vec();
        all.push(Arc::new(new_rs.clone()));
        let new_replicas = new_rs_new_replicas(d, &all, &new_rs);
        if let Some(s) = new_rs.spec.as_mut() {
            s.replicas = Some(new_replicas);
        }
        set_new_rs_annotations(d, &mut new_rs, new_revision, false);
        let api = self.rs_api(&ns);
        let (created, already_existed) = match api.create(&PostParams::default(), &new_rs).await {
            Ok(rs) => (rs, false),
            Err(e) if matches!(&e, kube::Error::Api(s) if s.code == 409) => {
                let found = match rs_list
                    .iter()
                    .find(|rs| rs.metadata.name.as_deref() == Some(name.as_str()))
                {
                    Some(rs) => (**rs).clone(),
                    None => api.get(&name).await?,
                };
                let ours = get_controller_of(&found.metadata)
                    .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
                let same = found
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| equal_ignore_hash(t, &spec.template));
                if ours && same {
                    (found, true)
                } else {
                    // A hash collision: bump collisionCount so the next sync picks another name.
                    let mut status = d.status.clone().unwrap_or_default();
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    if let Err(ue) = self.update_status(d, status).await {
                        tracing::warn!(deployment = %d.name_any(), "failed to update collisionCount: {ue:#}");
                    }
                    return Err(e);
                }
            }
            Err(e) => {
                if matches!(&e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"))
                {
                    return Err(e);
                }
                let msg = format!(
                    "Failed to create new replica set \"{name}\": {}",
                    error_message(&e)
                );
                if has_progress_deadline(d) {
                    let mut status = d.status.clone().unwrap_or_default();
                    set_condition(
                        &mut status,
                        new_condition("Progressing", "False", FAILED_RS_CREATE_REASON, &msg, now),
                    );
                    let _ = self.update_status(d, status).await;
                }
                self.event(d, EventType::Warning, FAILED_RS_CREATE_REASON, &msg);
                return Err(e);
            }
        };
        if !already_existed && new_replicas > 0 {
            let msg = format!(
                "Scaled up replica set {} from 0 to {new_replicas}",
                created.name_any()
            );
            self.event(d, EventType::Normal, "ScalingReplicaSet", &msg);
        }
        self.set_deployment_revision(d, &new_revision.to_string())
            .await?;
        if !already_existed && has_progress_deadline(d) {
            let mut status = d.status.clone().unwrap_or_default();
            let msg = format!("Created new replica set \"{}\"", created.name_any());
            set_condition(
                &mut status,
                new_condition("Progressing", "True", NEW_RS_REASON, &msg, now),
            );
            self.update_status(d, status).await?;
        }
        Ok(Some(Arc::new(created)))
    }

    /// Scales `rs` to `new_scale` and records a ScalingReplicaSet event when the size
    /// changes; returns whether it did and the RS as written.
    pub(super) async fn scale_rs_and_record(
        &self,
        rs: &Arc<ReplicaSet>,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<(bool, Arc<ReplicaSet>)> {
        if rs_replicas(rs) == new_scale {
            return Ok((false, rs.clone()));
        }
        self.scale_rs(rs, new_scale, d).await
    }

    /// Upstream's `scaleReplicaSet`: writes the size and the replica annotations.
    pub(super) async fn scale_rs(
        &self,
        rs: &Arc<ReplicaSet>,
        new_scale: i32,
        d: &Deployment,
    ) -> Result<(bool, Arc<ReplicaSet>)> {
        let desired = replicas(d);
        let max = desired + max_surge(d);
        let old_scale = rs_replicas(rs);
        let size_changed = old_scale != new_scale;
        if !size_changed && !replicas_annotations_need_update(rs, desired, max) {
            return Ok((false, rs.clone()));
        }
        let mut copy = (**rs).clone();
        if let Some(s) = copy.spec.as_mut() {
            s.replicas = Some(new_scale);
        }
        set_replicas_annotations(&mut copy, desired, max);
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        let updated = self
            .rs_api(&ns)
            .replace(&rs.name_any(), &PostParams::default(), &copy)
            .await?;
        if size_changed {
            let op = if old_scale < new_scale { "up" } else { "down" };
            let msg = format!(
                "Scaled {op} replica set {} from {old_scale} to {new_scale}",
                updated.name_any()
            );
            self.event(d, EventType::Normal, "ScalingReplicaSet", &msg);
        }
        Ok((size_changed, Arc::new(updated)))
    }

    /// Upstream's `checkPausedConditions`.
    pub(super) async fn check_paused_conditions(&self, d: &mut Deployment) -> Result<()> {
        if !has_progress_deadline(d) {
            return Ok(());
        }
        let mut status = d.status.clone().unwrap_or_default();
        let cond = get_condition(&status, "Progressing");
        if cond.is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT_REASON)) {
            return Ok(());
        }
        let paused_cond = cond.is_some_and(|c| c.reason.as_deref() == Some(PAUSED_REASON));
        let now = Timestamp::now();
        let paused = is_paused(d);
        if paused && !paused_cond {
            set_condition(
                &mut status,
                new_condition(
                    "Progressing",
                    "Unknown",
                    PAUSED_REASON,
                    "Deployment is paused",
                    now,
                ),
            );
        } else if !paused && paused_cond {
            set_condition(
                &mut status,
                new_condition(
                    "Progressing",
                    "Unknown",
                    RESUMED_REASON,
                    "Deployment is resumed",
                    now,
                ),
            );
        } else {
            return Ok(());
        }
        self.update_status(d, status).await
    }

    /// Upstream's `isScalingEvent`: an active RS was sized for another replica count.
    pub(super) async fn is_scaling_event(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
    ) -> Result<bool> {
        let (new_rs, old) = self
            .get_all_rss_and_sync_revision(d, rs_list, false)
            .await?;
        let mut all = old;
        all.extend(new_rs);
        let desired = replicas(d);
        Ok(active(&all)
            .iter()
            .filter_map(|rs| desired_replicas_annotation(rs))
            .any(|want| want != desired))
    }

    /// Upstream's `sync`: scaling events and paused deployments.
    pub(super) async fn sync_scale(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
    ) -> Result<()> {
        let (new_rs, old) = self
            .get_all_rss_and_sync_revision(d, rs_list, false)
            .await?;
        self.scale(d, new_rs.as_ref(), &old).await?;
        if is_paused(d) {
            self.cleanup_deployment(&old, d).await?;
        }
        let mut all = old;
        all.extend(new_rs.clone());
        self.sync_deployment_status(&all, new_rs.as_ref(), d).await
    }

    /// Upstream's `syncStatusOnly`, for deployments being deleted.
    pub(super) async fn sync_status_only(
        &self,
        d: &mut Deployment,
        rs_list: &[Arc<ReplicaSet>],
    ) -> Result<()> {
        let (new_rs, old) = self
            .get_all_rss_and_sync_revision(d, rs_list, false)
            .await?;
        let mut all = old;
        all.extend(new_rs.clone());
        self.sync_deployment_status(&all, new_rs.as_ref(), d).await
    }

    /// Upstream's `scale`: the one active (or newest) RS takes the whole count; otherwise a
    /// rolling deployment spreads the change over its active RSs in proportion to their size.
    async fn scale(
        &self,
        d: &Deployment,
        new_rs: Option<&Arc<ReplicaSet>>,
        old: &[Arc<ReplicaSet>],
    ) -> Result<()> {
        let desired = replicas(d);
        if let Some(rs) = find_active_or_latest(new_rs, old) {
            if rs_replicas(&rs) != desired {
                self.scale_rs_and_record(&rs, desired, d).await?;
            }
            return Ok(());
        }
        if is_saturated(d, new_rs) {
            for rs in active(old) {
                self.scale_rs_and_record(&rs, 0, d).await?;
            }
            return Ok(());
        }
        if !is_rolling(d) {
            return Ok(());
        }
        let mut all: Vec<Arc<ReplicaSet>> = old.to_vec();
        all.extend(new_rs.cloned());
        let mut all = active(&all);
        let current = replica_count(&all);
        let allowed = if desired > 0 {
            desired + max_surge(d)
        } else {
            0
        };
        let to_add = allowed - current;
        if to_add > 0 {
            all.sort_by(|a, b| by_size_newer(a, b));
        } else if to_add < 0 {
            all.sort_by(|a, b| by_size_older(a, b));
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(all.len());
        for rs in &all {
            if to_add != 0 {
                let p = proportion(rs, d, to_add, added);
                sizes.push(rs_replicas(rs) + p);
                added += p;
            } else {
                sizes.push(rs_replicas(rs));
            }
        }
        if to_add != 0 {
            if let Some(first) = sizes.first_mut() {
                *first = (*first + to_add - added).max(0);
            }
        }
        for (rs, size) in all.iter().zip(sizes) {
            self.scale_rs(rs, size, d).await?;
        }
        Ok(())
    }

    /// Upstream's `cleanupDeployment`: deletes the oldest fully scaled-down RSs beyond
    /// revisionHistoryLimit.
    pub(super) async fn cleanup_deployment(
        &self,
        old: &[Arc<ReplicaSet>],
        d: &Deployment,
    ) -> Result<()> {
        let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return Ok(());
        };
        if limit == i32::MAX {
            return Ok(());
        }
        let mut cleanable: Vec<Arc<ReplicaSet>> = old
            .iter()
            .filter(|rs| rs.metadata.deletion_timestamp.is_none())
            .cloned()
            .collect();
        let diff = cleanable.len() as i64 - limit as i64;
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| by_revision(a, b));
        for rs in cleanable.iter().take(diff as usize) {
            let status = rs.status.clone().unwrap_or_default();
            if status.replicas != 0
                || rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0)
            {
                continue;
            }
            let ns = rs.metadata.namespace.clone().unwrap_or_default();
            match self
                .rs_api(&ns)
                .delete(&rs.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes the status computed from the RSs when it differs.
    pub(super) async fn sync_deployment_status(
        &self,
        all: &[Arc<ReplicaSet>],
        new_rs: Option<&Arc<ReplicaSet>>,
        d: &mut Deployment,
    ) -> Result<()> {
        let status = calculate_status(all, new_rs, d, Timestamp::now());
        if same_status(d.status.as_ref(), &status) {
            return Ok(());
        }
        self.update_status(d, status).await
    }
}

/// Status fields compared with absent counts as 0, as upstream's omitempty makes them.
pub(super) fn same_status(a: Option<&DeploymentStatus>, b: &DeploymentStatus) -> bool {
    let norm = |s: &DeploymentStatus| {
        let z = |v: Option<i32>| Some(v.unwrap_or(0));
        DeploymentStatus {
            available_replicas: z(s.available_replicas),
            collision_count: s.collision_count,
            conditions: Some(s.conditions.clone().unwrap_or_default()),
            observed_generation: Some(s.observed_generation.unwrap_or(0)),
            ready_replicas: z(s.ready_replicas),
            replicas: z(s.replicas),
            terminating_replicas: s.terminating_replicas,
            unavailable_replicas: z(s.unavailable_replicas),
            updated_replicas: z(s.updated_replicas),
        }
    };
    norm(&a.cloned().unwrap_or_default()) == norm(b)
}

/// Upstream's `calculateStatus`: counts over the RSs and the Available condition.
pub(super) fn calculate_status(
    all: &[Arc<ReplicaSet>],
    new_rs: Option<&Arc<ReplicaSet>>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available = available_replica_count(all);
    let total = replica_count(all);
    let unavailable = (total - available).max(0);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(actual_replica_count(all)),
        updated_replicas: Some(
            new_rs.map_or(0, |rs| actual_replica_count(std::slice::from_ref(rs))),
        ),
        ready_replicas: Some(ready_replica_count(all)),
        available_replicas: Some(available),
        unavailable_replicas: Some(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone(),
        terminating_replicas: None,
    };
    let cond = if available >= replicas(d) - max_unavailable(d) {
        util::new_condition(
            "Available",
            "True",
            MIN_AVAILABLE_REASON,
            "Deployment has minimum availability.",
            now,
        )
    } else {
        util::new_condition(
            "Available",
            "False",
            MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.",
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}
