//! One pass of upstream's `updateStatefulSet`: materialise the replicas `[start,
//! start+replicas)`, create missing pods (in order and one at a time, each waiting for its
//! predecessors to be Running and Ready, under OrderedReady; all at once under Parallel),
//! replace failed ones, delete condemned ordinals from the highest down, then roll pods
//! onto the update revision from the highest ordinal down to the partition.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use rkube_client::events::EventType;
use serde_json::json;

use super::pods::{self, ordinal_of, pod_revision};
use super::{object_ref, Error, Revisions, State};
use crate::common::{is_not_found, is_pod_available, is_pod_ready, pod_phase};
use crate::history;

/// A replica slot: the pod, and whether it exists in the API (else it is still to create).
pub struct Replica {
    pub pod: Pod,
    pub created: bool,
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn is_running_and_ready(pod: &Pod) -> bool {
    pod_phase(pod) == "Running" && is_pod_ready(pod)
}

fn is_running_and_available(pod: &Pod, min_ready: i32) -> bool {
    pod_phase(pod) == "Running" && is_pod_available(pod, min_ready, chrono::Utc::now())
}

fn is_healthy(r: &Replica, min_ready: i32) -> bool {
    r.created && is_running_and_available(&r.pod, min_ready) && !is_terminating(&r.pod)
}

/// What the pass leaves behind: every replica and condemned pod, for the status.
pub struct Outcome {
    pub replicas: Vec<Replica>,
    pub condemned: Vec<Replica>,
    /// Pods deleted for the rolling update after the status was counted.
    pub rolled: i32,
}

/// Runs one pass over the set's `pods`.
pub async fn update_statefulset(
    set: &StatefulSet,
    state: &State,
    revs: &Revisions,
    pods: Vec<Pod>,
    claims: &[PersistentVolumeClaim],
) -> Result<Outcome, Error> {
    let spec = set.spec.clone().unwrap_or_default();
    let name = set.name_any();
    let start = pods::start_ordinal(set);
    let count = pods::replicas(set);
    let end = start.saturating_add(count);
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let current_template =
        history::template_of(&revs.current).unwrap_or_else(|| spec.template.clone());
    let update_template =
        history::template_of(&revs.update).unwrap_or_else(|| spec.template.clone());

    let mut slots: Vec<Option<Pod>> = (0..count).map(|_| None).collect();
    let mut condemned: Vec<Replica> = Vec::new();
    for pod in pods {
        let Some(ord) = ordinal_of(&name, &pod.name_any()) else {
            continue;
        };
        if (start..end).contains(&ord) {
            slots[(ord - start) as usize] = Some(pod);
        } else {
            condemned.push(Replica { pod, created: true });
        }
    }
    let mut replicas: Vec<Replica> = slots
        .into_iter()
        .enumerate()
        .map(|(i, p)| match p {
            Some(pod) => Replica { pod, created: true },
            None => {
                let ord = start + i as i32;
                let (template, revision) =
                    versioned_template(set, revs, &current_template, &update_template, ord);
                Replica {
                    pod: pods::new_pod(set, template, revision, ord),
                    created: false,
                }
            }
        })
        .collect();
    condemned.sort_by_key(|r| std::cmp::Reverse(ordinal_of(&name, &r.pod.name_any())));

    let mut outcome = Outcome {
        replicas: Vec::new(),
        condemned: Vec::new(),
        rolled: 0,
    };
    if set.metadata.deletion_timestamp.is_some() {
        outcome.replicas = replicas;
        outcome.condemned = condemned;
        return Ok(outcome);
    }
    // The lowest-ordinal unhealthy pod may be deleted on scale down even in order.
    let first_unhealthy: Option<String> = replicas
        .iter()
        .chain(condemned.iter().rev())
        .filter(|r| !is_healthy(r, min_ready))
        .min_by_key(|r| ordinal_of(&name, &r.pod.name_any()))
        .map(|r| r.pod.name_any());
    let monotonic = spec.pod_management_policy.as_deref() != Some("Parallel");

    let mut exit = false;
    for (i, replica) in replicas.iter_mut().enumerate() {
        let ord = start + i as i32;
        let stop = process_replica(set, state, claims, replica, ord, monotonic, min_ready).await?;
        if stop && monotonic {
            exit = true;
            break;
        }
    }
    if !exit {
        for r in &condemned {
            let stop = process_condemned(
                set,
                state,
                claims,
                r,
                first_unhealthy.as_deref(),
                monotonic,
                min_ready,
            )
            .await?;
            if stop && monotonic {
                exit = true;
                break;
            }
        }
    }
    let on_delete = spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        == Some("OnDelete");
    if !exit && !on_delete {
        let partition = spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0)
            .max(0);
        for target in (0..replicas.len()).rev() {
            if (target as i64) < i64::from(partition) {
                break;
            }
            let r = &replicas[target];
            if r.created
                && pod_revision(&r.pod) != revs.update.name_any()
                && !is_terminating(&r.pod)
            {
                delete_pod(set, state, &r.pod).await?;
                outcome.rolled = 1;
                break;
            }
            if !is_healthy(r, min_ready) {
                break;
            }
        }
    }
    outcome.replicas = replicas;
    outcome.condemned = condemned;
    Ok(outcome)
}

/// Upstream's `newVersionedStatefulSetPod`: ordinals below the partition (RollingUpdate) are
/// made from the current revision, the rest from the update revision.
fn versioned_template<'a>(
    set: &StatefulSet,
    revs: &'a Revisions,
    current: &'a PodTemplateSpec,
    update: &'a PodTemplateSpec,
    ordinal: i32,
) -> (&'a PodTemplateSpec, &'a str) {
    let strategy = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    let rolling = strategy
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    let start = pods::start_ordinal(set);
    let below = match strategy.and_then(|s| s.rolling_update.as_ref()) {
        Some(r) => ordinal < start.saturating_add(r.partition.unwrap_or(0)),
        None => {
            let current_replicas = set
                .status
                .as_ref()
                .and_then(|s| s.current_replicas)
                .unwrap_or(0);
            ordinal < start.saturating_add(current_replicas)
        }
    };
    if rolling && below {
        (
            current,
            revs.current.metadata.name.as_deref().unwrap_or_default(),
        )
    } else {
        (
            update,
            revs.update.metadata.name.as_deref().unwrap_or_default(),
        )
    }
}

/// Upstream's `processReplica`; returns whether a monotonic pass must stop here.
async fn process_replica(
    set: &StatefulSet,
    state: &State,
    claims: &[PersistentVolumeClaim],
    replica: &mut Replica,
    ordinal: i32,
    monotonic: bool,
    min_ready: i32,
) -> Result<bool, Error> {
    if replica.created && matches!(pod_phase(&replica.pod), "Failed" | "Succeeded") {
        if !is_terminating(&replica.pod) {
            delete_pod(set, state, &replica.pod).await?;
        }
        // The replacement is created once the old pod is gone.
        return Ok(true);
    }
    if !replica.created {
        create_claims(set, state, claims, &replica.pod, ordinal).await?;
        let created = create_pod(set, state, &replica.pod).await?;
        sync_claim_owners(set, state, claims, &created, ordinal, false).await?;
        replica.pod = created;
        replica.created = true;
        return Ok(monotonic);
    }
    if pod_phase(&replica.pod) == "Pending" {
        create_claims(set, state, claims, &replica.pod, ordinal).await?;
    }
    if monotonic
        && (is_terminating(&replica.pod)
            || !is_running_and_ready(&replica.pod)
            || !is_running_and_available(&replica.pod, min_ready))
    {
        return Ok(true);
    }
    let missing = pods::missing_identity(set, &replica.pod, ordinal);
    if !missing.is_empty() {
        let api: Api<Pod> =
            Api::namespaced(state.client.clone(), &set.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"labels": missing}});
        let result = api
            .patch(
                &replica.pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await;
        record_pod_event(set, state, "update", &replica.pod, result.as_ref().err());
        replica.pod = result?;
    }
    sync_claim_owners(set, state, claims, &replica.pod, ordinal, false).await?;
    Ok(false)
}

/// Upstream's `processCondemned`; returns whether a monotonic pass must stop here.
async fn process_condemned(
    set: &StatefulSet,
    state: &State,
    claims: &[PersistentVolumeClaim],
    r: &Replica,
    first_unhealthy: Option<&str>,
    monotonic: bool,
    min_ready: i32,
) -> Result<bool, Error> {
    if is_terminating(&r.pod) {
        return Ok(monotonic);
    }
    let is_first_unhealthy = first_unhealthy == Some(r.pod.name_any().as_str());
    if monotonic
        && !is_first_unhealthy
        && (!is_running_and_ready(&r.pod) || !is_running_and_available(&r.pod, min_ready))
    {
        return Ok(true);
    }
    let ordinal = ordinal_of(&set.name_any(), &r.pod.name_any()).unwrap_or_default();
    sync_claim_owners(set, state, claims, &r.pod, ordinal, true).await?;
    delete_pod(set, state, &r.pod).await?;
    Ok(monotonic)
}

/// Records upstream's `<verb> Pod <pod> in StatefulSet <set> successful|failed` event.
fn record_pod_event(
    set: &StatefulSet,
    state: &State,
    verb: &str,
    pod: &Pod,
    err: Option<&kube::Error>,
) {
    let title = format!("{}{}", verb[..1].to_uppercase(), &verb[1..]);
    let (pod_name, set_name) = (pod.name_any(), set.name_any());
    match err {
        None => state.recorder.record(
            &object_ref(set),
            EventType::Normal,
            &format!("Successful{title}"),
            &format!("{verb} Pod {pod_name} in StatefulSet {set_name} successful"),
        ),
        Some(e) => state.recorder.record(
            &object_ref(set),
            EventType::Warning,
            &format!("Failed{title}"),
            &format!("{verb} Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
        ),
    }
}

async fn create_pod(set: &StatefulSet, state: &State, pod: &Pod) -> Result<Pod, Error> {
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &set.namespace().unwrap_or_default());
    let result = api.create(&PostParams::default(), pod).await;
    match &result {
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        other => record_pod_event(set, state, "create", pod, other.as_ref().err()),
    }
    Ok(result?)
}

async fn delete_pod(set: &StatefulSet, state: &State, pod: &Pod) -> Result<(), Error> {
    let api: Api<Pod> = Api::namespaced(state.client.clone(), &set.namespace().unwrap_or_default());
    match api.delete(&pod.name_any(), &DeleteParams::default()).await {
        Ok(_) => {
            record_pod_event(set, state, "delete", pod, None);
            Ok(())
        }
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => {
            record_pod_event(set, state, "delete", pod, Some(&e));
            Err(e.into())
        }
    }
}

/// Creates the pod's missing claims (upstream's `createPersistentVolumeClaims`); a claim
/// being deleted is an error, so the pod waits for it to go.
async fn create_claims(
    set: &StatefulSet,
    state: &State,
    existing: &[PersistentVolumeClaim],
    pod: &Pod,
    ordinal: i32,
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(state.client.clone(), &ns);
    for (_, claim) in pods::claims_for(set, ordinal) {
        let claim_name = claim.name_any();
        if let Some(have) = existing.iter().find(|c| c.name_any() == claim_name) {
            if have.metadata.deletion_timestamp.is_some() {
                return Err(Error::ClaimDeleting(claim_name));
            }
            continue;
        }
        let result = api.create(&PostParams::default(), &claim).await;
        let (pod_name, set_name) = (pod.name_any(), set.name_any());
        match &result {
            Ok(_) => state.recorder.record(
                &object_ref(set),
                EventType::Normal,
                "SuccessfulCreate",
                &format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"),
            ),
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => state.recorder.record(
                &object_ref(set),
                EventType::Warning,
                "FailedCreate",
                &format!("create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
            ),
        }
        result?;
    }
    Ok(())
}

/// Brings the ownerReferences of the pod's existing claims in line with the retention policy.
async fn sync_claim_owners(
    set: &StatefulSet,
    state: &State,
    existing: &[PersistentVolumeClaim],
    pod: &Pod,
    ordinal: i32,
    scaled_down: bool,
) -> Result<(), Error> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(state.client.clone(), &ns);
    for (_, want) in pods::claims_for(set, ordinal) {
        let Some(claim) = existing.iter().find(|c| c.name_any() == want.name_any()) else {
            continue;
        };
        let refs = pods::claim_owner_refs(set, claim, pod, scaled_down);
        let have = claim.metadata.owner_references.clone().unwrap_or_default();
        if pods::same_owners(&have, &refs) {
            continue;
        }
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": claim.resource_version()}});
        match api
            .patch(
                &claim.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
