//! ControllerRevision history shared by the DaemonSet and StatefulSet controllers (upstream's
//! `pkg/controller/history`): a revision snapshots an owner's pod template as the strategic
//! patch `{"spec":{"template":{…,"$patch":"replace"}}}` (what `kubectl rollout undo` applies),
//! is named `<owner>-<hash>` with the hash in the `controller-revision-hash` label, and carries
//! a revision number. Equal snapshots are re-used (their number bumped on rollback), hash
//! collisions bump the owner's `collisionCount`, and old revisions are pruned down to
//! `revisionHistoryLimit`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use crate::common::{is_controlled_by, is_not_found};

/// The label holding a revision's hash (and, on StatefulSet pods, the revision's name).
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Revisions kept when the owner does not say.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Longest owner-name prefix of a revision name, leaving room for `-<hash>`.
const MAX_PREFIX_LEN: usize = 223;

/// Upstream's `rand.SafeEncodeString` alphabet: no vowels, no look-alike characters.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The revision data for `template`: a strategic patch replacing the owner's whole template.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(o) = t.as_object_mut() {
        o.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

/// The pod template a revision's data snapshots, if it has one.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// The revision's data (null when absent).
pub fn data_of(revision: &ControllerRevision) -> &Value {
    revision.data.as_ref().map(|d| &d.0).unwrap_or(&Value::Null)
}

/// 32-bit FNV-1, as Go's `hash/fnv.New32`.
fn fnv1_32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        h.wrapping_mul(0x0100_0193) ^ u32::from(*b)
    })
}

/// Upstream's `HashControllerRevision`: FNV-1 over the data and the collision count, printed
/// in decimal and mapped onto the safe alphabet.
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(c.to_string().as_bytes());
    }
    fnv1_32(&bytes)
        .to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// `<prefix>-<hash>`, the prefix cut so the name stays a valid object name.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix: String = prefix.chars().take(MAX_PREFIX_LEN).collect();
    format!("{prefix}-{hash}")
}

/// A new (unsaved) revision of an owner: `labels` are the template's, plus the hash label.
pub fn new_revision(
    owner: OwnerReference,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
    annotations: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(&data, collision_count);
    let mut labels = labels.cloned().unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&owner.name, &hash)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations: annotations.cloned(),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// The label selector in `labelSelector` query syntax, `None` when it selects nothing.
pub fn selector_string(selector: &LabelSelector) -> Option<String> {
    let v = serde_json::to_value(selector).ok()?;
    let sel = rkube_api::selectors::LabelSelector::from_label_selector_json(&v).ok()?;
    if sel.matches_nothing() {
        return None;
    }
    Some(sel.to_string())
}

/// The revisions in `namespace` matching `selector` and controlled by `owner_uid`, sorted by
/// revision number (then name).
pub async fn list_owned(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    owner_uid: &str,
) -> Result<Vec<ControllerRevision>, kube::Error> {
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), namespace);
    let list = api.list(&ListParams::default().labels(selector)).await?;
    let mut revs: Vec<ControllerRevision> = list
        .items
        .into_iter()
        .filter(|r| is_controlled_by(&r.metadata, owner_uid))
        .collect();
    sort_by_revision(&mut revs);
    Ok(revs)
}

/// Sorts by revision number, then name, oldest first.
pub fn sort_by_revision(revs: &mut [ControllerRevision]) {
    revs.sort_by(|a, b| {
        (a.revision, a.metadata.name.as_deref()).cmp(&(b.revision, b.metadata.name.as_deref()))
    });
}

/// One more than the highest revision number (1 for none).
pub fn next_revision(revs: &[ControllerRevision]) -> i64 {
    revs.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Whether two revisions snapshot the same template.
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    data_of(a) == data_of(b)
}

/// The revisions among `revs` whose data equals `data`, in `revs`' order.
pub fn find_equal<'a>(revs: &'a [ControllerRevision], data: &Value) -> Vec<&'a ControllerRevision> {
    revs.iter().filter(|r| data_of(r) == data).collect()
}

/// Creates `rev`, named from its data and `collision_count`. When the name is taken by an
/// equal revision that one is returned; when taken by a different one the count is bumped
/// and the name recomputed (the caller persists the new count in the owner's status).
pub async fn create_revision(
    client: &kube::Client,
    rev: &ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, kube::Error> {
    let namespace = rev.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let owner = rev
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
        .map(|o| o.name.clone())
        .unwrap_or_default();
    loop {
        let mut clone = rev.clone();
        let hash = hash_revision(data_of(rev), Some(*collision_count));
        clone.metadata.name = Some(revision_name(&owner, &hash));
        clone
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(CONTROLLER_REVISION_HASH_LABEL.into(), hash);
        match api.create(&PostParams::default(), &clone).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let name = clone.metadata.name.clone().unwrap_or_default();
                let existing = api.get(&name).await?;
                if equal_revision(&existing, &clone) {
                    return Ok(existing);
                }
                *collision_count = collision_count.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sets a revision's number (a rollback re-uses an old snapshot as the newest).
pub async fn update_revision_number(
    client: &kube::Client,
    rev: &ControllerRevision,
    revision: i64,
) -> Result<ControllerRevision, kube::Error> {
    let namespace = rev.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let name = rev.metadata.name.clone().unwrap_or_default();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"revision": revision})),
    )
    .await
}

/// Deletes a revision; one already gone is fine.
pub async fn delete_revision(
    client: &kube::Client,
    rev: &ControllerRevision,
) -> Result<(), kube::Error> {
    let namespace = rev.metadata.namespace.clone().unwrap_or_default();
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let name = rev.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the oldest revisions that are not `live` until at most `limit` non-live ones
/// remain (upstream's history truncation). `revs` must be sorted by revision.
pub async fn truncate(
    client: &kube::Client,
    revs: &[ControllerRevision],
    live: impl Fn(&ControllerRevision) -> bool,
    limit: Option<i32>,
) -> Result<(), kube::Error> {
    let limit = usize::try_from(limit.unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)).unwrap_or(0);
    let history: Vec<&ControllerRevision> = revs.iter().filter(|r| !live(r)).collect();
    let excess = history.len().saturating_sub(limit);
    for rev in history.into_iter().take(excess) {
        delete_revision(client, rev).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_go() {
        // Go: fnv.New32() over "" and "a".
        assert_eq!(fnv1_32(b""), 0x811c9dc5);
        assert_eq!(fnv1_32(b"a"), 0x050c5d7e);
    }

    #[test]
    fn hash_uses_safe_alphabet_and_collision_count() {
        let data = json!({"spec": {"template": {"$patch": "replace"}}});
        let h0 = hash_revision(&data, Some(0));
        let h1 = hash_revision(&data, Some(1));
        assert_ne!(h0, h1);
        assert!(h0.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(h0, hash_revision(&data, Some(0)));
    }

    #[test]
    fn patch_round_trips_template() {
        let t: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap();
        let data = template_patch(&t);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        let rev = ControllerRevision {
            data: Some(RawExtension(data)),
            ..Default::default()
        };
        assert_eq!(template_of(&rev), Some(t));
    }

    #[test]
    fn long_owner_names_are_cut() {
        let name = revision_name(&"a".repeat(300), "xyz");
        assert_eq!(name.len(), MAX_PREFIX_LEN + 4);
    }
}
