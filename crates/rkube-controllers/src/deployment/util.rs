//! Pure helpers of the deployment controller (upstream `pkg/controller/deployment/util`):
//! the pod-template-hash, revision and replica annotations, maxSurge/maxUnavailable
//! resolution, replica counts over ReplicaSets, proportions for scaling, ordering, and the
//! Deployment conditions with their upstream reasons.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Longest `revision-history` annotation kept (upstream's `maxRevHistoryLengthInChars`).
const MAX_REV_HISTORY_CHARS: usize = 2000;

// Condition reasons, as upstream names them.
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const PAUSED_REASON: &str = "DeploymentPaused";
pub const RESUMED_REASON: &str = "DeploymentResumed";
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
pub const MIN_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

/// Upstream's `rand.SafeEncodeString` alphabet: no vowels, no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Upstream's `SafeEncodeString`: maps each byte to a consonant or digit.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

fn fnv32a(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The pod-template-hash of a template and collision count (upstream's `ComputeHash`: FNV-1a
/// over the template, then the count as 8 little-endian bytes, printed in decimal and safe
/// encoded). The template is hashed as its canonical JSON.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut h = fnv32a(&bytes, 0x811c_9dc5);
    if let Some(c) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h = fnv32a(&buf, h);
    }
    safe_encode(&h.to_string())
}

fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(l) = m.labels.as_mut() {
            l.remove(POD_TEMPLATE_HASH);
            if l.is_empty() {
                m.labels = None;
            }
        }
    }
    t
}

/// Whether two templates are equal once the pod-template-hash label is ignored.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn is_rolling(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

pub fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// Upstream's `GetScaledValueFromIntOrPercent`: an int as is, `N%` of `total` rounded up or
/// down; anything else is 0.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => {
            let Some(pct) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let scaled = pct * total as i64;
            let v = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
        }
    }
}

/// Upstream's `ResolveFenceposts`: (maxSurge rounded up, maxUnavailable rounded down), with
/// maxUnavailable 1 when both come out 0.
pub fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = replicas(d);
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let surge = scaled_value(ru.and_then(|r| r.max_surge.as_ref()), desired, true);
    let unavailable = scaled_value(ru.and_then(|r| r.max_unavailable.as_ref()), desired, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    resolve_fenceposts(d).0
}

pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(desired)
}

/// `spec.replicas` summed over `rss`.
pub fn replica_count(rss: &[Arc<ReplicaSet>]) -> i32 {
    rss.iter().map(|rs| rs_replicas(rs)).sum()
}

/// `status.replicas` summed over `rss`.
pub fn actual_replica_count(rss: &[Arc<ReplicaSet>]) -> i32 {
    rss.iter()
        .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas))
        .sum()
}

pub fn ready_replica_count(rss: &[Arc<ReplicaSet>]) -> i32 {
    rss.iter()
        .map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        })
        .sum()
}

pub fn available_replica_count(rss: &[Arc<ReplicaSet>]) -> i32 {
    rss.iter().map(|rs| rs_available(rs)).sum()
}

pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// The RSs with `spec.replicas > 0`.
pub fn active(rss: &[Arc<ReplicaSet>]) -> Vec<Arc<ReplicaSet>> {
    rss.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .cloned()
        .collect()
}

fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The RS's revision; missing or invalid is 0.
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn max_revision(rss: &[Arc<ReplicaSet>]) -> i64 {
    rss.iter().map(|rs| revision(rs)).max().unwrap_or(0)
}

pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, DESIRED_REPLICAS)?.parse().ok()
}

fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(rs, MAX_REPLICAS)?.parse().ok()
}

/// Sets desired- and max-replicas; true when anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if a.get(k) != Some(&v) {
            a.insert(k.to_string(), v);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS) != Some(max.to_string().as_str())
}

fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO
    )
}

/// Upstream's `SetNewReplicaSetAnnotations`: copies the deployment's annotations (except the
/// controller's own and kubectl's last-applied), raises the revision to `new_revision` and
/// records the one it replaces in `revision-history` (a rollback to this RS), and for a new
/// RS sets the replica annotations. True when anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    let old = annotations.get(REVISION).cloned();
    let old_rev = match old.as_deref() {
        None => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(v) => v,
            Err(_) => return changed,
        },
    };
    if old_rev < new_revision {
        annotations.insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.into(), old);
            } else {
                let mut parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                while total > MAX_REV_HISTORY_CHARS && !parts.is_empty() {
                    total -= parts[0].len() + 1;
                    parts.remove(0);
                }
                if total <= MAX_REV_HISTORY_CHARS {
                    parts.push(&old);
                    let joined = parts.join(",");
                    annotations.insert(REVISION_HISTORY.into(), joined);
                }
            }
        }
    }
    if !exists {
        let desired = replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge(d));
    }
    changed
}

/// Oldest first, then by name (upstream's `ReplicaSetsByCreationTimestamp`).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ta.cmp(&tb)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Lowest revision first, then oldest (upstream's `ReplicaSetsByRevision`).
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// Larger first, ties newer first (`ReplicaSetsBySizeNewer`).
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// Larger first, ties older first (`ReplicaSetsBySizeOlder`).
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// The oldest RS whose template equals the deployment's (upstream's `FindNewReplicaSet`).
pub fn find_new_rs(d: &Deployment, rss: &[Arc<ReplicaSet>]) -> Option<Arc<ReplicaSet>> {
    let template = &d.spec.as_ref()?.template;
    let mut sorted = rss.to_vec();
    sorted.sort_by(|a, b| by_creation(a, b));
    sorted.into_iter().find(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// How many replicas the new RS should have now (upstream's `NewRSNewReplicas`).
pub fn new_rs_new_replicas(d: &Deployment, all: &[Arc<ReplicaSet>], new_rs: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) {
        return desired;
    }
    let surge = max_surge(d);
    let current = replica_count(all);
    let max_total = desired + surge;
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(desired - rs_replicas(new_rs));
    rs_replicas(new_rs) + up
}

/// Upstream's `FindActiveOrLatest`: the only active RS, or the newest when none is active,
/// or `None` when several are active.
pub fn find_active_or_latest(
    new_rs: Option<&Arc<ReplicaSet>>,
    old: &[Arc<ReplicaSet>],
) -> Option<Arc<ReplicaSet>> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut old = old.to_vec();
    old.sort_by(|a, b| by_creation(b, a));
    let mut all = old.clone();
    all.extend(new_rs.cloned());
    let act = active(&all);
    match act.len() {
        0 => new_rs.cloned().or_else(|| old.first().cloned()),
        1 => act.into_iter().next(),
        _ => None,
    }
}

/// The new RS runs exactly the deployment's replicas, all available.
pub fn is_saturated(d: &Deployment, rs: Option<&Arc<ReplicaSet>>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let desired = replicas(d);
    desired_replicas_annotation(rs) == Some(desired)
        && rs_replicas(rs) == desired
        && rs_available(rs) == desired
}

/// The share of `to_add` for `rs` (upstream's `GetProportion`).
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = rs_fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

fn rs_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let desired = replicas(d);
    if desired == 0 {
        return -rs_replicas(rs);
    }
    let deployment_replicas = desired + max_surge(d);
    let annotated = max_replicas_annotation(rs)
        .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
    if annotated == 0 {
        return 0;
    }
    let size = rs_replicas(rs) as f64 * deployment_replicas as f64 / annotated as f64;
    size.round() as i32 - rs_replicas(rs)
}

pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|p| p != i32::MAX)
}

pub fn get_condition<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> DeploymentCondition {
    let t = Some(Time(crate::replicaset::seconds(now)));
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: t.clone(),
        last_transition_time: t,
    }
}

/// Upstream's `SetDeploymentCondition`: no change when status and reason are the same; keeps
/// the transition time when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(cur) = get_condition(status, &cond.type_) {
        if cur.status == cond.status && cur.reason == cond.reason {
            return;
        }
        if cur.status == cond.status {
            cond.last_transition_time = cur.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
    }
}

fn observed_generation(s: &DeploymentStatus) -> i64 {
    s.observed_generation.unwrap_or(0)
}

/// Every replica updated and available, and the latest spec observed.
pub fn deployment_complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let desired = replicas(d);
    s.updated_replicas.unwrap_or(0) == desired
        && s.replicas.unwrap_or(0) == desired
        && s.available_replicas.unwrap_or(0) == desired
        && observed_generation(s) >= d.metadata.generation.unwrap_or(0)
}

/// The new status shows progress over the deployment's current one.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let g = |v: Option<i32>| v.unwrap_or(0);
    let old_old = g(old.replicas) - g(old.updated_replicas);
    let new_old = g(new.replicas) - g(new.updated_replicas);
    g(new.updated_replicas) > g(old.updated_replicas)
        || new_old < old_old
        || g(new.ready_replicas) > g(old.ready_replicas)
        || g(new.available_replicas) > g(old.available_replicas)
}

/// The Progressing condition has not been updated for progressDeadlineSeconds.
pub fn deployment_timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(c) = get_condition(s, "Progressing") else {
        return false;
    };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => return false,
        Some(TIMED_OUT_REASON) => return true,
        _ => {}
    }
    let Some(from) = c.last_update_time.as_ref() else {
        return false;
    };
    let deadline = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(0) as i64;
    from.0.as_second() + deadline < now.as_second()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(
        replicas: i32,
        surge: serde_json::Value,
        unavailable: serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "d"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": []}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let cases = [
            (10, json!("25%"), json!("25%"), (3, 2)),
            (4, json!("25%"), json!("25%"), (1, 1)),
            (1, json!("25%"), json!("25%"), (1, 0)),
            (3, json!(0), json!(0), (0, 1)),
            (5, json!(2), json!("10%"), (2, 0)),
            (10, json!("0%"), json!("0%"), (0, 1)),
        ];
        for (n, s, u, want) in cases {
            let d = deployment(n, s.clone(), u.clone());
            assert_eq!(resolve_fenceposts(&d), want, "{n} {s} {u}");
        }
        assert_eq!(max_unavailable(&deployment(2, json!(0), json!(5))), 2);
    }

    #[test]
    fn hash_is_stable_encoded_and_depends_on_collisions() {
        let d = deployment(1, json!(1), json!(1));
        let t = &d.spec.as_ref().unwrap().template;
        let h = compute_hash(t, None);
        assert_eq!(h, compute_hash(t, None));
        assert!(h.bytes().all(|b| ALPHANUMS.contains(&b)), "{h}");
        assert!(!h.is_empty() && h.len() <= 10);
        assert_ne!(h, compute_hash(t, Some(1)));
        // '0' is 48: 48 % 27 = 21 -> '4'.
        assert_eq!(safe_encode("0"), "4");
    }

    #[test]
    fn template_equality_ignores_the_hash_label() {
        let d = deployment(1, json!(1), json!(1));
        let t = d.spec.as_ref().unwrap().template.clone();
        let mut with = t.clone();
        with.metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(POD_TEMPLATE_HASH.into(), "x".into());
        assert!(equal_ignore_hash(&t, &with));
        with.spec.as_mut().unwrap().hostname = Some("h".into());
        assert!(!equal_ignore_hash(&t, &with));
    }

    #[test]
    fn rollback_records_revision_history() {
        let d = deployment(3, json!(1), json!(0));
        let mut rs: ReplicaSet =
            serde_json::from_value(json!({"metadata": {"annotations": {REVISION: "1"}}})).unwrap();
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        let a = rs.metadata.annotations.as_ref().unwrap();
        assert_eq!(a[REVISION], "3");
        assert_eq!(a[REVISION_HISTORY], "1");
        assert!(!set_new_rs_annotations(&d, &mut rs, 3, true));
        assert!(set_new_rs_annotations(&d, &mut rs, 5, true));
        assert_eq!(
            rs.metadata.annotations.as_ref().unwrap()[REVISION_HISTORY],
            "1,3"
        );
    }

    #[test]
    fn annotations_copied_except_skipped() {
        let mut d = deployment(3, json!(1), json!(0));
        d.metadata.annotations = Some(
            [
                ("kubernetes.io/change-cause", "set image"),
                (LAST_APPLIED, "{}"),
                (REVISION, "7"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let mut rs = ReplicaSet::default();
        set_new_rs_annotations(&d, &mut rs, 1, false);
        let a = rs.metadata.annotations.unwrap();
        assert_eq!(a["kubernetes.io/change-cause"], "set image");
        assert!(!a.contains_key(LAST_APPLIED));
        assert_eq!(a[REVISION], "1");
        assert_eq!(a[DESIRED_REPLICAS], "3");
        assert_eq!(a[MAX_REPLICAS], "4");
    }

    #[test]
    fn proportions_follow_max_replicas() {
        // 10 replicas, surge 3: an RS of 5 annotated with max 13, deployment scaled to 20
        // (allowed 23): 5 * 23 / 13 = 8.85 -> 9, so +4.
        let d = deployment(20, json!(3), json!(2));
        let rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"annotations": {MAX_REPLICAS: "13"}}, "spec": {"replicas": 5, "selector": {}}
        }))
        .unwrap();
        assert_eq!(proportion(&rs, &d, 10, 0), 4);
        assert_eq!(proportion(&rs, &d, 10, 8), 2, "capped by what is left");
    }
}
