//! delete and deletecollection: preconditions, finalizers, graceful pod deletion, namespace
//! termination, and deletion propagation (upstream's generic registry store): `Orphan` and
//! `Foreground` put the garbage collector's `orphan` / `foregroundDeletion` finalizer on the
//! object instead of removing it, `Background` removes it at once and leaves the dependents to
//! the garbage collector.

use super::fieldvalidation as fv;
use super::read::{list_all, Filter};
use super::strategy;
use super::{decode_stored, decorate, encode_for_store, for_client, Request};
use crate::error::{ApiError, ApiResult, Cause};
use axum::http::StatusCode;
use axum::response::Response;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};

/// The finalizer the garbage collector handles by removing the object's ownerReferences from
/// its dependents.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// The finalizer the garbage collector handles by deleting the object's dependents first.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// metav1.DeletionPropagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    fn parse(s: &str) -> ApiResult<Propagation> {
        match s {
            "Orphan" => Ok(Propagation::Orphan),
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            other => Err(ApiError::invalid_options(
                "DeleteOptions",
                vec![Cause {
                    reason: "FieldValueNotSupported",
                    field: "propagationPolicy".into(),
                    message: format!(
                        "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                }],
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Propagation::Orphan => "Orphan",
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
        }
    }
}

/// What happens to dependents when a request names no policy (upstream's
/// `DefaultGarbageCollectionPolicy` of each strategy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GcPolicy {
    /// Events never carry the garbage collector's finalizers.
    Unsupported,
    /// Orphan by default, kept for old clients (ReplicationControllers, batch/v1 Jobs).
    Orphan,
    /// Delete dependents in the background.
    Delete,
}

fn default_gc_policy(info: &ResourceInfo) -> GcPolicy {
    match (info.group, info.version, info.plural) {
        ("", _, "events") | ("events.k8s.io", _, "events") => GcPolicy::Unsupported,
        ("", _, "replicationcontrollers") | ("batch", "v1", "jobs") => GcPolicy::Orphan,
        _ => GcPolicy::Delete,
    }
}

/// Upstream's warning when a batch/v1 Job is deleted without a policy (its pods are orphaned).
const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

/// The parts of metav1.DeleteOptions we honour.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_seconds: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    /// `propagationPolicy`; None leaves it to the kind's default.
    pub propagation: Option<Propagation>,
    /// The legacy `orphanDependents`; never set together with `propagation`.
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    pub fn from_request(req: &Request) -> ApiResult<DeleteOptions> {
        let mut o = DeleteOptions {
            dry_run: req.query.dry_run()?,
            grace_seconds: req.query.int("gracePeriodSeconds")?,
            ..Default::default()
        };
        if let Some(p) = req.query.nonempty("propagationPolicy") {
            o.propagation = Some(Propagation::parse(p)?);
        }
        match req.query.nonempty("orphanDependents") {
            None => {}
            Some("true") | Some("1") => o.orphan_dependents = Some(true),
            Some("false") | Some("0") => o.orphan_dependents = Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid value for orphanDependents: {other:?}"
                )))
            }
        }
        if !req.body.is_empty() {
            let mime = req
                .content_type()
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let body: Value = if rkube_api::protobuf::is_protobuf_media_type(&mime) {
                super::write::decode_protobuf(&req.body)?
            } else if mime == "application/json" || mime.is_empty() {
                serde_json::from_slice(&req.body).map_err(|e| {
                    ApiError::bad_request(format!("couldn't decode DeleteOptions: {e}"))
                })?
            } else {
                return Err(ApiError::unsupported_media_type(&mime));
            };
            if let Some(g) = body.get("gracePeriodSeconds").and_then(|v| v.as_i64()) {
                o.grace_seconds = Some(g);
            }
            if let Some(d) = body.get("dryRun").and_then(|v| v.as_array()) {
                for x in d {
                    match x.as_str() {
                        Some("All") => o.dry_run = true,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "Invalid dry run value: {}; supported values: All",
                                other.unwrap_or("")
                            )))
                        }
                    }
                }
            }
            o.uid = body
                .pointer("/preconditions/uid")
                .and_then(|v| v.as_str())
                .map(String::from);
            o.resource_version = body
                .pointer("/preconditions/resourceVersion")
                .and_then(|v| v.as_str())
                .map(String::from);
            if let Some(p) = body.get("propagationPolicy").and_then(|v| v.as_str()) {
                o.propagation = Some(Propagation::parse(p)?);
            }
            if let Some(b) = body.get("orphanDependents").and_then(|v| v.as_bool()) {
                o.orphan_dependents = Some(b);
            }
        }
        if let (Some(p), Some(_)) = (o.propagation, o.orphan_dependents) {
            return Err(ApiError::invalid_options(
                "DeleteOptions",
                vec![Cause {
                    reason: "FieldValueInvalid",
                    field: "propagationPolicy".into(),
                    message: format!(
                        "Invalid value: \"{}\": orphanDependents and deletionPropagation cannot be both set",
                        p.as_str()
                    ),
                }],
            ));
        }
        if o.grace_seconds.is_some_and(|g| g < 0) {
            o.grace_seconds = Some(0);
        }
        Ok(o)
    }

    /// Whether the request leaves the policy to the kind's default.
    fn names_no_policy(&self) -> bool {
        self.propagation.is_none() && self.orphan_dependents.is_none()
    }
}

/// The finalizers an object should carry once this delete request is applied (upstream's
/// `deletionFinalizersForGarbageCollection`): the request's policy wins, then a garbage
/// collector finalizer already on the object, then the kind's default. Returns None when
/// nothing changes.
fn gc_finalizers(
    info: &ResourceInfo,
    current: &[String],
    opts: &DeleteOptions,
) -> Option<Vec<String>> {
    let default = default_gc_policy(info);
    if default == GcPolicy::Unsupported {
        return None;
    }
    let existing = current.iter().find_map(|f| match f.as_str() {
        FINALIZER_ORPHAN => Some(Propagation::Orphan),
        FINALIZER_FOREGROUND => Some(Propagation::Foreground),
        _ => None,
    });
    let wanted = match (opts.orphan_dependents, opts.propagation) {
        (Some(true), _) => Some(Propagation::Orphan),
        (Some(false), _) => None,
        (None, Some(p)) => Some(p),
        (None, None) => match existing {
            Some(p) => Some(p),
            None if default == GcPolicy::Orphan => Some(Propagation::Orphan),
            None => None,
        },
    };
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND)
        .cloned()
        .collect();
    match wanted {
        Some(Propagation::Orphan) => out.push(FINALIZER_ORPHAN.into()),
        Some(Propagation::Foreground) => out.push(FINALIZER_FOREGROUND.into()),
        Some(Propagation::Background) | None => {}
    }
    let same = out.len() == current.len() && out.iter().all(|f| current.contains(f));
    (!same).then_some(out)
}

fn finalizers_of(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Delete one object. Returns the object (last state, or the terminating state) and whether it
/// is gone from the store.
pub async fn delete_one(
    req: &Request,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<(Value, bool)> {
    let info = req.info();
    let key = req.key(name);
    for _ in 0..32 {
        let kv = req
            .srv
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, name))?;
        let cur = for_client(info, &decode_stored(&key, &kv.value)?, kv.mod_revision);
        let meta = &cur["metadata"];
        if let Some(u) = &opts.uid {
            let have = meta["uid"].as_str().unwrap_or("");
            if u != have {
                return Err(ApiError::conflict(
                    info,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {u}, UID in object meta: {have}"
                    ),
                ));
            }
        }
        if let Some(r) = &opts.resource_version {
            let have = kv.mod_revision.to_string();
            if *r != have {
                return Err(ApiError::conflict(info, name, &format!("Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {have}")));
            }
        }
        let deleting = meta.get("deletionTimestamp").is_some_and(|v| !v.is_null());
        let finalizers = finalizers_of(&cur);
        let mut new: Option<Value> = None;

        if info.plural == "namespaces" && info.group.is_empty() {
            if strategy::is_protected_namespace(name) {
                return Err(ApiError::forbidden(
                    info,
                    name,
                    "this namespace may not be deleted",
                ));
            }
            if deleting {
                return Ok((cur, false));
            }
            let mut n = cur.clone();
            n["metadata"]["deletionTimestamp"] = json!(super::now_rfc3339());
            n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            n["status"]["phase"] = json!("Terminating");
            // A namespace only takes the garbage collector's finalizers when asked explicitly.
            let explicit = DeleteOptions {
                propagation: opts.propagation,
                orphan_dependents: opts.orphan_dependents,
                ..Default::default()
            };
            if !explicit.names_no_policy() {
                if let Some(f) = gc_finalizers(info, &finalizers, &explicit) {
                    n["metadata"]["finalizers"] = json!(f);
                }
            }
            new = Some(n);
        } else if info.plural == "pods"
            && info.group.is_empty()
            && strategy::pod_needs_graceful_delete(&cur)
        {
            let grace = opts
                .grace_seconds
                .unwrap_or_else(|| strategy::pod_grace_seconds(&cur));
            let current_grace = meta
                .get("deletionGracePeriodSeconds")
                .and_then(|v| v.as_i64());
            // A pending graceful deletion is only shortened, and its finalizers stay as
            // they are.
            if deleting
                && current_grace.is_some_and(|g| g <= grace)
                && (grace > 0 || !finalizers.is_empty())
            {
                return Ok((cur, false));
            }
            let changed = gc_finalizers(info, &finalizers, opts);
            let pending = changed
                .as_deref()
                .map_or(!finalizers.is_empty(), |f| !f.is_empty());
            if grace > 0 || pending {
                let when = chrono::Utc::now() + chrono::Duration::seconds(grace);
                let mut n = cur.clone();
                n["metadata"]["deletionTimestamp"] =
                    json!(when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                n["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                if let Some(f) = changed {
                    n["metadata"]["finalizers"] = json!(f);
                }
                new = Some(n);
            }
        } else {
            let changed = gc_finalizers(info, &finalizers, opts);
            let pending = changed
                .as_deref()
                .map_or(!finalizers.is_empty(), |f| !f.is_empty());
            if pending {
                if deleting && changed.is_none() {
                    return Ok((cur, false));
                }
                let mut n = cur.clone();
                if let Some(f) = changed {
                    n["metadata"]["finalizers"] = json!(f);
                }
                if !deleting {
                    n["metadata"]["deletionTimestamp"] = json!(super::now_rfc3339());
                    n["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    if strategy::tracks_generation(info) {
                        let g = meta["generation"].as_i64().unwrap_or(0);
                        n["metadata"]["generation"] = json!(g + 1);
                    }
                }
                new = Some(n);
            }
        }

        if opts.dry_run {
            return Ok((new.unwrap_or(cur), false));
        }
        match new {
            Some(mut n) => match req
                .srv
                .store
                .update(&key, encode_for_store(info, &n)?, kv.mod_revision)
                .await
            {
                Ok(kv2) => {
                    decorate(info, &mut n, kv2.mod_revision);
                    return Ok((n, false));
                }
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(info, name))
                }
                Err(e) => return Err(e.into()),
            },
            None => match req.srv.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(kv2) => {
                    super::service::release_deleted(&req.srv, info, &cur); // rest::service
                    return Ok((for_client(info, &cur, kv2.mod_revision), true));
                }
                Err(rkube_store::Error::Conflict { .. }) => continue,
                Err(rkube_store::Error::NotFound(_)) => {
                    return Err(ApiError::not_found(info, name))
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    Err(ApiError::conflict(
        info,
        name,
        "too many concurrent updates, try again",
    ))
}

pub async fn delete(req: Request) -> ApiResult<Response> {
    let name = req.path.name.clone().unwrap_or_default();
    let opts = DeleteOptions::from_request(&req)?;
    let (obj, gone) = delete_one(&req, &name, &opts).await?;
    // As upstream: 202 only for an object still there (finalizers, graceful deletion) whose
    // client asked for cascading with the legacy `orphanDependents=false`; 200 otherwise.
    let code = if !gone && opts.orphan_dependents == Some(false) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let resp = super::read::respond_one_with(&req, obj, code);
    Ok(fv::add_warnings(resp, &policy_warnings(req.info(), &opts)))
}

/// Warnings about the policy a request left to the default (upstream's Job storage).
fn policy_warnings(info: &ResourceInfo, opts: &DeleteOptions) -> Vec<String> {
    if info.group == "batch"
        && info.plural == "jobs"
        && opts.names_no_policy()
        && default_gc_policy(info) == GcPolicy::Orphan
    {
        vec![JOB_ORPHAN_WARNING.to_string()]
    } else {
        Vec::new()
    }
}

pub async fn delete_collection(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let opts = DeleteOptions::from_request(&req)?;
    let filter = Filter::from_request(&req)?;
    let items = list_all(&req, &filter).await?;
    let mut out = Vec::new();
    for (_, obj) in items {
        let name = obj
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        match delete_one(&req, &name, &opts).await {
            Ok((o, _)) => out.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rev = req.srv.cache.revision();
    let resp = crate::response::json(
        StatusCode::OK,
        &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": {"resourceVersion": rev.to_string()}, "items": out}),
    );
    Ok(fv::add_warnings(resp, &policy_warnings(info, &opts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(group: &str, version: &str, plural: &str) -> &'static ResourceInfo {
        rkube_api::registry::lookup(group, version, plural).expect("resource in registry")
    }

    fn opts(propagation: Option<Propagation>, orphan: Option<bool>) -> DeleteOptions {
        DeleteOptions {
            propagation,
            orphan_dependents: orphan,
            ..Default::default()
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finalizers_follow_policy_then_existing_then_default() {
        use Propagation::*;
        let rs = info("apps", "v1", "replicasets");
        let job = info("batch", "v1", "jobs");
        let rc = info("", "v1", "replicationcontrollers");
        let ev = info("", "v1", "events");
        // (resource, finalizers now, request, finalizers wanted or None when unchanged)
        type Case<'a> = (
            &'a ResourceInfo,
            &'a [&'a str],
            DeleteOptions,
            Option<&'a [&'a str]>,
        );
        let cases: Vec<Case> = vec![
            (rs, &[], opts(None, None), None),
            (rs, &[], opts(Some(Background), None), None),
            (rs, &[], opts(Some(Orphan), None), Some(&["orphan"])),
            (
                rs,
                &[],
                opts(Some(Foreground), None),
                Some(&["foregroundDeletion"]),
            ),
            (rs, &[], opts(None, Some(true)), Some(&["orphan"])),
            (rs, &["a"], opts(None, Some(true)), Some(&["a", "orphan"])),
            // An existing GC finalizer is kept when the request names no policy...
            (rs, &["orphan"], opts(None, None), None),
            // ...and replaced when it names another one.
            (
                rs,
                &["orphan", "a"],
                opts(Some(Foreground), None),
                Some(&["a", "foregroundDeletion"]),
            ),
            (
                rs,
                &["foregroundDeletion"],
                opts(Some(Background), None),
                Some(&[]),
            ),
            (rs, &["orphan"], opts(None, Some(false)), Some(&[])),
            (job, &[], opts(None, None), Some(&["orphan"])),
            (job, &[], opts(Some(Background), None), None),
            (rc, &[], opts(None, None), Some(&["orphan"])),
            (ev, &[], opts(Some(Orphan), None), None),
        ];
        for (i, (info, cur, o, want)) in cases.into_iter().enumerate() {
            let got = gc_finalizers(info, &strs(cur), &o);
            assert_eq!(
                got,
                want.map(strs),
                "case {i}: {} {cur:?} {o:?}",
                info.plural
            );
        }
    }

    #[test]
    fn only_jobs_left_to_default_are_warned_about() {
        let job = info("batch", "v1", "jobs");
        assert_eq!(policy_warnings(job, &opts(None, None)).len(), 1);
        assert!(policy_warnings(job, &opts(Some(Propagation::Orphan), None)).is_empty());
        assert!(policy_warnings(job, &opts(None, Some(true))).is_empty());
        let rs = info("apps", "v1", "replicasets");
        assert!(policy_warnings(rs, &opts(None, None)).is_empty());
    }
}
