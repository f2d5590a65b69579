//! create, update (main resource, `status`, namespace `finalize`), patch and `scale`.

use super::fieldvalidation as fv;
use super::patch::{apply_patch, PatchType};
use super::read::respond_one_with;
use super::strategy;
use super::{
    decode_stored, decorate, encode_for_store, for_client, now_rfc3339, parse_rv, Request,
};
use crate::error::{ApiError, ApiResult, Cause};
use axum::http::StatusCode;
use axum::response::Response;
use rkube_api::ResourceInfo;
use serde_json::{json, Value};

/// Requests larger than this are refused with 413, as upstream does.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Main,
    Status,
    Finalize,
    /// `pods/NAME/ephemeralcontainers`: only `spec.ephemeralContainers` changes.
    EphemeralContainers,
}

impl Target {
    /// The subresource, for managedFields.
    fn subresource(self) -> Option<&'static str> {
        match self {
            Target::Status => Some("status"),
            Target::EphemeralContainers => Some("ephemeralcontainers"),
            Target::Main | Target::Finalize => None,
        }
    }
}

/// Decode a request body (JSON or YAML) into an object.
pub fn decode_body(req: &Request) -> ApiResult<Value> {
    if req.body.len() > MAX_BODY {
        return Err(ApiError::too_large());
    }
    let ct = req.content_type();
    let mime = ct.split(';').next().unwrap_or("").trim();
    let v: Value = match mime {
        "application/json" | "" | "*/*" => serde_json::from_slice(&req.body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            serde_yaml::from_slice(&req.body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; yaml parse error: {e}"))
            })?
        }
        m if rkube_api::protobuf::is_protobuf_media_type(m) => decode_protobuf(&req.body)?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: expected an object, got {}",
            kind_of(&v)
        )));
    }
    Ok(v)
}

/// A `k8s\0`-enveloped protobuf body, as JSON. Kinds we cannot decode are a 415; malformed
/// bytes a 400.
pub fn decode_protobuf(body: &[u8]) -> ApiResult<Value> {
    match rkube_api::protobuf::decode_body(body) {
        Ok(d) => Ok(d.object),
        Err(e) if e.is_unsupported() => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf ({e})"),
        )),
        Err(e) => Err(ApiError::bad_request(format!("unable to decode protobuf body: {e}"))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The body's apiVersion and kind must name this endpoint's kind.
fn check_type(
    info: &ResourceInfo,
    obj: &Value,
    expected_kind: &str,
    expected_av: &str,
) -> ApiResult<()> {
    let kind = obj.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    let av = obj.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    // Missing apiVersion/kind default to the endpoint's, as upstream's decoder does.
    if !kind.is_empty() && kind != expected_kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({expected_kind}) of {}",
            info.qualified()
        )));
    }
    if !av.is_empty() && av != expected_av {
        // Other versions of the same group are accepted (they share storage).
        let group_of = |a: &str| {
            a.rsplit_once('/')
                .map(|(g, _)| g.to_string())
                .unwrap_or_default()
        };
        if group_of(av) != info.group
            || rkube_api::registry::lookup_kind(
                info.group,
                av.rsplit('/').next().unwrap_or(""),
                kind,
            )
            .is_none()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({expected_av})"
            )));
        }
    }
    Ok(())
}

/// [`check_type`] for a body that may omit apiVersion/kind.
pub fn check_type_pub(info: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    check_type(info, obj, info.kind, &info.api_version())
}

/// Namespace in the body must agree with the URL; fill it in when absent.
fn check_namespace(req: &Request, obj: &mut Value) -> ApiResult<()> {
    let info = req.info();
    let meta = obj.as_object_mut().and_then(|o| {
        let m = o.entry("metadata").or_insert_with(|| json!({}));
        if m.is_null() {
            *m = json!({});
        }
        o.get_mut("metadata")
    });
    let Some(meta) = meta.and_then(|m| m.as_object_mut()) else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    if info.namespaced {
        let url_ns = req.namespace().unwrap_or("");
        match meta.get("namespace").and_then(|v| v.as_str()) {
            Some(ns) if !ns.is_empty() && ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), json!(url_ns));
            }
        }
    } else {
        meta.remove("namespace");
    }
    Ok(())
}

/// 404 when the namespace is missing, 403 while it terminates.
pub async fn check_namespace_open(req: &Request, info: &ResourceInfo, name: &str) -> ApiResult<()> {
    let Some(ns) = req.namespace() else {
        return Ok(());
    };
    let key = format!("/registry/namespaces/{ns}");
    let kv = req
        .srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::namespace_not_found(ns))?;
    let nsobj = decode_stored(&key, &kv.value)?;
    if nsobj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::forbidden(
            info,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        ));
    }
    Ok(())
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix() -> String {
    let u = uuid::Uuid::new_v4();
    u.as_bytes()
        .iter()
        .take(5)
        .map(|b| GENERATE_CHARS[*b as usize % GENERATE_CHARS.len()] as char)
        .collect()
}

pub async fn create(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let dry_run = req.query.dry_run()?;
    let fv = fv::directive(&req, "CreateOptions")?;
    let mut obj = decode_body(&req)?;
    check_type(info, &obj, info.kind, &info.api_version())?;
    obj["kind"] = json!(info.kind);
    obj["apiVersion"] = json!(info.api_version());
    super::typecheck::check(info, &obj)?;
    let warnings = if fv.checks() {
        fv::judge_body(info, fv, fv::body_problems(&req, &obj))?
    } else {
        Vec::new()
    };
    fv::prune_unknown(info, &mut obj);
    check_namespace(&req, &mut obj)?;
    let given = obj
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let generate = obj
        .pointer("/metadata/generateName")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if given.is_empty() && generate.is_empty() {
        return Err(ApiError::invalid(
            info,
            "",
            vec![Cause {
                reason: "FieldValueRequired",
                field: "metadata.name".into(),
                message: "Required value: name or generateName is required".into(),
            }],
        ));
    }
    if obj
        .pointer("/metadata/resourceVersion")
        .and_then(|v| v.as_str())
        .is_some_and(|s| !s.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let obj = track_fields(&req, None, None, obj);
    for _attempt in 0..8 {
        let name = if given.is_empty() {
            format!("{generate}{}", random_suffix())
        } else {
            given.clone()
        };
        let mut candidate = obj.clone();
        candidate["metadata"]["name"] = json!(name);
        match store_new(&req, candidate, dry_run).await {
            Ok(created) => {
                return Ok(fv::add_warnings(
                    respond_one_with(&req, created, StatusCode::CREATED),
                    &warnings,
                ))
            }
            Err(e) if e.reason == "AlreadyExists" && given.is_empty() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::new(
        500,
        "AlreadyExists",
        format!(
            "{} could not generate a unique name from {generate:?}, try again",
            info.qualified()
        ),
    ))
}

/// Store a new, named object: server-set metadata, create-time resets, defaults,
/// validation, namespace checks, then the store (unless a dry run). Returns the object as the
/// client sees it.
pub async fn store_new(req: &Request, mut obj: Value, dry_run: bool) -> ApiResult<Value> {
    let info = req.info();
    let name = obj
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    {
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
        meta["creationTimestamp"] = json!(now_rfc3339());
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("generation");
            m.remove("selfLink");
        }
    }
    if strategy::tracks_generation(info) {
        obj["metadata"]["generation"] = json!(1);
    }
    strategy::prepare_create(info, &mut obj);
    rkube_api::defaults::apply_defaults(info.group, info.version, info.kind, &mut obj);
    if info.group == "batch" && info.kind == "Job" {
        rkube_api::defaults::prepare_job_for_create(&mut obj);
    }
    crate::rest::admission::admit_create(&req.srv, info, &name, &mut obj).await?;
    let errs = rkube_api::validation::validate_create(info.group, info.version, info.kind, &obj);
    if !errs.is_empty() {
        return Err(ApiError::invalid(info, &name, crate::error::causes(&errs)));
    }
    check_namespace_open(req, info, &name).await?;
    // Services: cluster IPs and node ports (rest::service), given back unless committed.
    let svc_txn = super::service::begin_create(&req.srv, info, &mut obj)?;
    if dry_run {
        return Ok(obj);
    }
    match req
        .srv
        .store
        .create(&req.key(&name), encode_for_store(info, &obj)?)
        .await
    {
        Ok(kv) => {
            super::service::commit(svc_txn); // rest::service
            decorate(info, &mut obj, kv.mod_revision);
            Ok(obj)
        }
        Err(rkube_store::Error::AlreadyExists(_)) => Err(ApiError::already_exists(info, &name)),
        Err(e) => Err(e.into()),
    }
}

/// The field manager of a write: the `fieldManager` parameter, else the user agent's
/// program name, as upstream does.
pub fn field_manager(req: &Request) -> String {
    if let Some(m) = req.query.nonempty("fieldManager") {
        return m.to_string();
    }
    let ua = req
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let prog = ua.split('/').next().unwrap_or("").trim();
    if prog.is_empty() {
        "unknown".into()
    } else {
        prog.chars().take(128).collect()
    }
}

/// Record a non-apply write in `metadata.managedFields`.
pub fn track_fields(
    req: &Request,
    old: Option<&Value>,
    subresource: Option<&str>,
    new: Value,
) -> Value {
    let info = req.info();
    rkube_api::ssa::track_update(
        info.group,
        info.version,
        info.kind,
        old,
        &new,
        &field_manager(req),
        subresource,
        &now_rfc3339(),
    )
}

fn tracked(
    req: &Request,
    cur: &Value,
    subresource: Option<&str>,
    out: ApiResult<Outcome>,
) -> ApiResult<Outcome> {
    match out? {
        Outcome::Write(new) => Ok(Outcome::Write(track_fields(
            req,
            Some(cur),
            subresource,
            new,
        ))),
        other => Ok(other),
    }
}

/// What an update callback decided.
pub enum Outcome {
    Write(Value),
    /// The update completed a deletion (last finalizer removed).
    Delete,
}

/// Read-modify-write with CAS, retried on conflicts. `f` gets the current object (client
/// form, with resourceVersion) and its revision. Returns the resulting object.
pub async fn guaranteed_update(
    req: &Request,
    name: &str,
    dry_run: bool,
    mut f: impl FnMut(&Value, i64) -> ApiResult<Outcome>,
) -> ApiResult<Value> {
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
        match f(&cur, kv.mod_revision)? {
            Outcome::Write(mut new) => {
                decorate(info, &mut new, kv.mod_revision);
                // Services: allocate what the new spec needs (rest::service).
                let svc_txn = super::service::begin_update(&req.srv, info, &cur, &mut new)?;
                if new == cur || dry_run {
                    return Ok(new);
                }
                match req
                    .srv
                    .store
                    .update(&key, encode_for_store(info, &new)?, kv.mod_revision)
                    .await
                {
                    Ok(kv2) => {
                        super::service::commit(svc_txn); // rest::service
                        decorate(info, &mut new, kv2.mod_revision);
                        return Ok(new);
                    }
                    Err(rkube_store::Error::Conflict { .. }) => continue,
                    Err(rkube_store::Error::NotFound(_)) => {
                        return Err(ApiError::not_found(info, name))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Outcome::Delete => {
                if dry_run {
                    return Ok(cur);
                }
                match req.srv.store.delete(&key, Some(kv.mod_revision)).await {
                    Ok(kv2) => {
                        super::service::release_deleted(&req.srv, info, &cur); // rest::service
                        return Ok(for_client(info, &cur, kv2.mod_revision));
                    }
                    Err(rkube_store::Error::Conflict { .. }) => continue,
                    Err(rkube_store::Error::NotFound(_)) => {
                        return Err(ApiError::not_found(info, name))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(ApiError::conflict(
        info,
        name,
        "too many concurrent updates, try again",
    ))
}

/// Build the object an update stores, from the current one and the client's.
pub fn merge_update(
    info: &ResourceInfo,
    target: Target,
    cur: &Value,
    incoming: &Value,
) -> ApiResult<Outcome> {
    let mut new = match target {
        Target::Main => {
            let mut new = incoming.clone();
            if info.has_status {
                match cur.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(o) = new.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
            }
            new
        }
        Target::Status => {
            let mut new = cur.clone();
            match incoming.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(o) = new.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
            new
        }
        Target::EphemeralContainers => {
            let mut new = cur.clone();
            match incoming.pointer("/spec/ephemeralContainers") {
                Some(list) if !list.is_null() => new["spec"]["ephemeralContainers"] = list.clone(),
                _ => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("ephemeralContainers");
                    }
                }
            }
            new
        }
        Target::Finalize => {
            let mut new = cur.clone();
            new["spec"]["finalizers"] = incoming
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
            new
        }
    };
    // Server-owned metadata is kept from the current object.
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "name",
        "namespace",
    ] {
        match cur.pointer(&format!("/metadata/{f}")) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                    m.remove(f);
                }
            }
        }
    }
    let errs = match target {
        Target::Main => {
            if info.group.is_empty() && info.kind == "Service" {
                rkube_api::defaults::prepare_service_update(cur, &mut new);
            }
            rkube_api::defaults::apply_defaults(info.group, info.version, info.kind, &mut new);
            rkube_api::validation::validate_update(info.group, info.version, info.kind, cur, &new)
        }
        Target::EphemeralContainers => {
            rkube_api::defaults::apply_defaults(info.group, info.version, info.kind, &mut new);
            rkube_api::validation::validate_ephemeral_containers_update(cur, &new)
        }
        Target::Status | Target::Finalize => Vec::new(),
    };
    if !errs.is_empty() {
        let name = cur
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        return Err(ApiError::invalid(info, name, crate::error::causes(&errs)));
    }
    if strategy::tracks_generation(info) && strategy::spec_changed(cur, &new) {
        let g = cur
            .pointer("/metadata/generation")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    let deleting = new
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let no_finalizers = new
        .pointer("/metadata/finalizers")
        .and_then(|v| v.as_array())
        .is_none_or(|a| a.is_empty());
    let ns_spec_done = info.plural != "namespaces"
        || new
            .pointer("/spec/finalizers")
            .and_then(|v| v.as_array())
            .is_none_or(|a| a.is_empty());
    if deleting && no_finalizers && ns_spec_done && info.plural != "pods" {
        return Ok(Outcome::Delete);
    }
    if deleting
        && no_finalizers
        && info.plural == "pods"
        && !strategy::pod_needs_graceful_delete(&new)
    {
        return Ok(Outcome::Delete);
    }
    Ok(Outcome::Write(new))
}

fn body_rv(obj: &Value) -> ApiResult<Option<i64>> {
    match obj
        .pointer("/metadata/resourceVersion")
        .and_then(|v| v.as_str())
    {
        None | Some("") => Ok(None),
        Some(s) => parse_rv(s).map(Some),
    }
}

pub async fn update(req: Request, target: Target) -> ApiResult<Response> {
    let info = req.info();
    let dry_run = req.query.dry_run()?;
    let name = req.path.name.clone().unwrap_or_default();
    let fv = fv::directive(&req, "UpdateOptions")?;
    let mut obj = decode_body(&req)?;
    check_type(info, &obj, info.kind, &info.api_version())?;
    obj["kind"] = json!(info.kind);
    obj["apiVersion"] = json!(info.api_version());
    super::typecheck::check(info, &obj)?;
    let warnings = if fv.checks() {
        fv::judge_body(info, fv, fv::body_problems(&req, &obj))?
    } else {
        Vec::new()
    };
    fv::prune_unknown(info, &mut obj);
    check_namespace(&req, &mut obj)?;
    match obj.pointer("/metadata/name").and_then(|v| v.as_str()) {
        Some(n) if !n.is_empty() && n != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => obj["metadata"]["name"] = json!(name),
    }
    let precondition = body_rv(&obj)?;
    let out = guaranteed_update(&req, &name, dry_run, |cur, rev| {
        if precondition.is_some_and(|p| p != rev) {
            return Err(ApiError::modified(info, &name));
        }
        tracked(
            &req,
            cur,
            target.subresource(),
            merge_update(info, target, cur, &obj),
        )
    })
    .await?;
    Ok(fv::add_warnings(
        respond_one_with(&req, out, StatusCode::OK),
        &warnings,
    ))
}

pub async fn patch(req: Request, target: Target) -> ApiResult<Response> {
    let info = req.info();
    let dry_run = req.query.dry_run()?;
    let name = req.path.name.clone().unwrap_or_default();
    if req.body.len() > MAX_BODY {
        return Err(ApiError::too_large());
    }
    let ptype = PatchType::from_content_type(req.content_type())?;
    let fv = fv::directive(&req, "PatchOptions")?;
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut warnings = Vec::new();
    let out = guaranteed_update(&req, &name, dry_run, |cur, rev| {
        let mut patched = apply_patch(ptype, (info.group, info.version, info.kind), cur, &patch)?;
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patch produced something that is not an object",
            ));
        }
        super::typecheck::check(info, &patched)?;
        if fv.checks() {
            warnings = fv::judge_patch(
                info,
                &name,
                fv,
                fv::patch_problems(info, ptype, &req.body, &patched),
                &patched,
            )?;
        }
        fv::prune_unknown(info, &mut patched);
        if let Some(p) = body_rv(&patched)? {
            if p != rev {
                return Err(ApiError::modified(info, &name));
            }
        }
        let pname = patched
            .pointer("/metadata/name")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if pname != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({pname}) does not match the name on the URL ({name})"
            )));
        }
        tracked(
            &req,
            cur,
            target.subresource(),
            merge_update(info, target, cur, &patched),
        )
    })
    .await?;
    Ok(fv::add_warnings(
        respond_one_with(&req, out, StatusCode::OK),
        &warnings,
    ))
}

fn selector_string(obj: &Value) -> String {
    let sel = obj.pointer("/spec/selector");
    let mut parts: Vec<String> = Vec::new();
    let labels = sel
        .and_then(|s| s.get("matchLabels").or(Some(s)))
        .and_then(|m| m.as_object());
    if let Some(m) = labels {
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    if let Some(exprs) = sel
        .and_then(|s| s.get("matchExpressions"))
        .and_then(|e| e.as_array())
    {
        for e in exprs {
            let key = e.get("key").and_then(|v| v.as_str()).unwrap_or("");
            let vals: Vec<&str> = e
                .get("values")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(|v| v.as_str()).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.sort();
    parts.join(",")
}

fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(obj),
        },
    })
}

pub async fn get_scale(req: Request) -> ApiResult<Response> {
    let info = req.info();
    let name = req.path.name.clone().unwrap_or_default();
    let key = req.key(&name);
    let kv = req
        .srv
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let obj = for_client(info, &decode_stored(&key, &kv.value)?, kv.mod_revision);
    Ok(crate::response::json(StatusCode::OK, &scale_of(&obj)))
}

fn scale_replicas(scale: &Value, info: &ResourceInfo, name: &str) -> ApiResult<i64> {
    match scale.pointer("/spec/replicas") {
        None => Ok(0),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 0 && n <= i32::MAX as i64 => Ok(n),
            _ => Err(ApiError::invalid(
                info,
                name,
                vec![Cause {
                    reason: "FieldValueInvalid",
                    field: "spec.replicas".into(),
                    message: format!("Invalid value: {v}: must be greater than or equal to 0"),
                }],
            )),
        },
    }
}

async fn write_scale(
    req: &Request,
    name: &str,
    mut f: impl FnMut(&Value) -> ApiResult<Value>,
) -> ApiResult<Response> {
    let info = req.info();
    let dry_run = req.query.dry_run()?;
    let out = guaranteed_update(req, name, dry_run, |cur, rev| {
        let scale = f(&scale_of(cur))?;
        if let Some(p) = body_rv(&scale)? {
            if p != rev {
                return Err(ApiError::modified(info, name));
            }
        }
        let n = scale_replicas(&scale, info, name)?;
        let mut new = cur.clone();
        new["spec"]["replicas"] = json!(n);
        tracked(
            req,
            cur,
            Some("scale"),
            merge_update(info, Target::Main, cur, &new),
        )
    })
    .await?;
    Ok(crate::response::json(StatusCode::OK, &scale_of(&out)))
}

pub async fn update_scale(req: Request) -> ApiResult<Response> {
    let name = req.path.name.clone().unwrap_or_default();
    let body = decode_body(&req)?;
    write_scale(&req, &name, |_| Ok(body.clone())).await
}

pub async fn patch_scale(req: Request) -> ApiResult<Response> {
    let name = req.path.name.clone().unwrap_or_default();
    let ptype = PatchType::from_content_type(req.content_type())?;
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    write_scale(&req, &name, |scale| {
        apply_patch(ptype, ("autoscaling", "v1", "Scale"), scale, &patch)
    })
    .await
}
