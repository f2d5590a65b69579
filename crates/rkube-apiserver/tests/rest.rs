//! Component tests of the generic REST path: the router driven in-process (no network) over
//! the memory store, checking upstream semantics status code by status code.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rkube_apiserver::auth::{TokenAuth, User};
use rkube_apiserver::{Config, ConnIdentity, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

struct T {
    srv: Arc<Server>,
}

impl T {
    async fn new() -> T {
        Self::with_event_ttl(Duration::from_secs(3600)).await
    }

    async fn with_event_ttl(event_ttl: Duration) -> T {
        let store = Arc::new(rkube_store::memory::MemoryStore::new());
        let srv = Server::start(Config {
            store,
            tokens: TokenAuth::parse("tok,alice,1,").unwrap(),
            watch_cache_window: 100,
            event_ttl,
            compact_interval: None,
            advertise_address: "127.0.0.1:6443".into(),
        })
        .await
        .unwrap();
        T { srv }
    }

    async fn raw(
        &self,
        method: Method,
        uri: &str,
        ct: &str,
        body: Vec<u8>,
        accept: Option<&str>,
        auth: bool,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct);
        if let Some(a) = accept {
            b = b.header("accept", a);
        }
        let mut req = b.body(Body::from(body)).unwrap();
        if auth {
            req.extensions_mut().insert(ConnIdentity(Some(User {
                name: "admin".into(),
                uid: String::new(),
                groups: vec!["system:masters".into()],
            })));
        }
        let resp = self.srv.router().oneshot(req).await.unwrap();
        let code = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let b = body
            .map(|v| serde_json::to_vec(&v).unwrap())
            .unwrap_or_default();
        self.raw(method, uri, "application/json", b, None, true)
            .await
    }

    async fn patch(&self, uri: &str, ct: &str, body: Value) -> (StatusCode, Value) {
        self.raw(
            Method::PATCH,
            uri,
            ct,
            serde_json::to_vec(&body).unwrap(),
            None,
            true,
        )
        .await
    }
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": name}}, "data": {"a": "b"}})
}

fn deploy(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
        "status": {"replicas": 7}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn create_get_conflict_and_errors() {
    let t = T::new().await;
    let (c, v) = t.call(Method::POST, CMS, Some(cm("a"))).await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    assert!(v["metadata"]["uid"].is_string());
    assert!(v["metadata"]["creationTimestamp"].is_string());
    let rv = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    // (method, uri, body, code, reason, message fragment)
    type Case = (
        Method,
        String,
        Option<Value>,
        u16,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            CMS.into(),
            Some(cm("a")),
            409,
            "AlreadyExists",
            "configmaps \"a\" already exists",
        ),
        (
            Method::GET,
            format!("{CMS}/nope"),
            None,
            404,
            "NotFound",
            "configmaps \"nope\" not found",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/missing/configmaps".into(),
            Some(cm("x")),
            404,
            "NotFound",
            "namespaces \"missing\" not found",
        ),
        (
            Method::POST,
            CMS.into(),
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}),
            ),
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
        (
            Method::POST,
            CMS.into(),
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}),
            ),
            422,
            "Invalid",
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\"",
        ),
        (
            Method::POST,
            CMS.into(),
            Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})),
            400,
            "BadRequest",
            "does not match the expected kind",
        ),
        (
            Method::POST,
            CMS.into(),
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})),
            422,
            "Invalid",
            "name or generateName is required",
        ),
        (
            Method::PUT,
            format!("{CMS}/a"),
            Some(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}}),
            ),
            409,
            "Conflict",
            "Operation cannot be fulfilled on configmaps \"a\": the object has been modified",
        ),
        (
            Method::PUT,
            format!("{CMS}/a"),
            Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}})),
            400,
            "BadRequest",
            "does not match the name on the URL",
        ),
        (
            Method::GET,
            format!("{CMS}?labelSelector=a+in+b"),
            None,
            400,
            "BadRequest",
            "unable to parse requirement",
        ),
        (
            Method::GET,
            format!("{CMS}?fieldSelector=spec.bogus%3Dx"),
            None,
            400,
            "BadRequest",
            "\"spec.bogus\" is not a known field selector",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3Dx".into(),
            None,
            400,
            "BadRequest",
            "field label not supported: spec.bogus",
        ),
        (
            Method::GET,
            format!("{CMS}?limit=x"),
            None,
            400,
            "BadRequest",
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/bogus".into(),
            None,
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
        (
            Method::DELETE,
            "/api/v1/namespaces/default".into(),
            None,
            403,
            "Forbidden",
            "this namespace may not be deleted",
        ),
        (
            Method::POST,
            "/api/v1/namespaces/default/componentstatuses".into(),
            Some(json!({})),
            404,
            "NotFound",
            "",
        ),
    ];
    for (m, uri, body, code, reason, msg) in cases {
        let (c, v) = t.call(m.clone(), &uri, body).await;
        assert_eq!(c.as_u16(), code, "{m} {uri}: {v}");
        assert_eq!(v["kind"], "Status", "{m} {uri}");
        assert_eq!(v["reason"], reason, "{m} {uri}: {v}");
        assert!(
            v["message"].as_str().unwrap_or("").contains(msg),
            "{m} {uri}: {v}"
        );
    }
    // Nothing above changed the object.
    let (_, v) = t.call(Method::GET, &format!("{CMS}/a"), None).await;
    assert_eq!(v["metadata"]["resourceVersion"].as_str().unwrap(), rv);

    // Malformed bodies, oversized bodies and unknown media types never write.
    let (c, v) = t
        .raw(
            Method::POST,
            CMS,
            "application/json",
            b"{not json".to_vec(),
            None,
            true,
        )
        .await;
    assert_eq!(
        (c.as_u16(), v["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    let (c, v) = t
        .raw(
            Method::POST,
            CMS,
            "application/yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n".to_vec(),
            None,
            true,
        )
        .await;
    assert_eq!(c.as_u16(), 201, "{v}");
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y".repeat(3 * 1024 * 1024 + 10)}});
    let (c, v) = t.call(Method::POST, CMS, Some(big)).await;
    assert_eq!(
        (c.as_u16(), v["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    let (c, v) = t
        .raw(
            Method::POST,
            CMS,
            "application/xml",
            b"<x/>".to_vec(),
            None,
            true,
        )
        .await;
    assert_eq!(
        (c.as_u16(), v["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (c, _) = t.call(Method::GET, &format!("{CMS}/big"), None).await;
    assert_eq!(c.as_u16(), 404);
}

#[tokio::test]
async fn anonymous_is_unauthorized_but_tokens_work() {
    let t = T::new().await;
    let (c, v) = t
        .raw(Method::GET, CMS, "application/json", vec![], None, false)
        .await;
    assert_eq!(
        (c.as_u16(), v["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    let req = Request::builder()
        .uri(CMS)
        .header("authorization", "Bearer tok")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        t.srv.router().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let req = Request::builder()
        .uri(CMS)
        .header("authorization", "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        t.srv.router().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn status_is_separate_and_generation_tracks_spec() {
    let t = T::new().await;
    let (c, v) = t.call(Method::POST, DEPLOYS, Some(deploy("d"))).await;
    assert_eq!(c, StatusCode::CREATED);
    assert_eq!(v["metadata"]["generation"], 1);
    assert_eq!(v["status"], json!({}), "create resets status");

    // Status write changes status only.
    let mut s = v.clone();
    s["status"] = json!({"replicas": 3});
    s["spec"]["replicas"] = json!(9);
    let (c, v) = t
        .call(Method::PUT, &format!("{DEPLOYS}/d/status"), Some(s))
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    assert_eq!(v["status"]["replicas"], 3);
    assert_eq!(v["spec"]["replicas"], 1);
    assert_eq!(v["metadata"]["generation"], 1);

    // Label change: no generation bump; spec change: bump; status in a main write is ignored.
    let (_, v) = t
        .patch(
            &format!("{DEPLOYS}/d"),
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await;
    assert_eq!(v["metadata"]["generation"], 1);
    let (_, v) = t
        .patch(
            &format!("{DEPLOYS}/d"),
            "application/merge-patch+json",
            json!({"spec": {"replicas": 2}, "status": {"replicas": 100}}),
        )
        .await;
    assert_eq!(v["metadata"]["generation"], 2);
    assert_eq!(v["status"]["replicas"], 3);

    // Scale subresource.
    let (c, v) = t
        .patch(
            &format!("{DEPLOYS}/d/scale"),
            "application/merge-patch+json",
            json!({"spec": {"replicas": 5}}),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], "Scale");
    assert_eq!(v["spec"]["replicas"], 5);
    assert_eq!(v["status"]["selector"], "app=d");
    let (_, v) = t.call(Method::GET, &format!("{DEPLOYS}/d"), None).await;
    assert_eq!(v["spec"]["replicas"], 5);
    assert_eq!(v["metadata"]["generation"], 3);

    // JSON patch; a failing test op changes nothing.
    let (c, _) = t
        .patch(
            &format!("{DEPLOYS}/d"),
            "application/json-patch+json",
            json!([{"op": "test", "path": "/spec/replicas", "value": 1}]),
        )
        .await;
    assert_eq!(c.as_u16(), 422);
    let (c, v) = t
        .patch(
            &format!("{DEPLOYS}/d"),
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/replicas", "value": 1}]),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    assert_eq!(v["spec"]["replicas"], 1);
}

#[tokio::test]
async fn empty_metadata_lists_and_maps_are_omitted() {
    let t = T::new().await;
    let mut obj = cm("e");
    obj["metadata"]["finalizers"] = json!(["example.com/a"]);
    obj["metadata"]["labels"] = json!({"x": "y"});
    obj["metadata"]["annotations"] = json!({});
    let (c, v) = t.call(Method::POST, CMS, Some(obj)).await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    assert!(v["metadata"].get("annotations").is_none(), "{v}");
    let (c, v) = t
        .patch(
            &format!("{CMS}/e"),
            "application/json-patch+json",
            json!([{"op": "remove", "path": "/metadata/finalizers/0"},
                   {"op": "remove", "path": "/metadata/labels/x"}]),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    for key in ["finalizers", "labels"] {
        assert!(v["metadata"].get(key).is_none(), "{key}: {v}");
    }
    let (_, v) = t.call(Method::GET, &format!("{CMS}/e"), None).await;
    assert!(v["metadata"].get("finalizers").is_none(), "{v}");
}

#[tokio::test]
async fn finalizers_and_graceful_pod_deletion() {
    let t = T::new().await;
    let mut obj = cm("f");
    obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
    t.call(Method::POST, CMS, Some(obj)).await;
    let (c, v) = t.call(Method::DELETE, &format!("{CMS}/f"), None).await;
    assert_eq!(c, StatusCode::OK, "still there, yet 200 as upstream");
    assert!(v["metadata"]["deletionTimestamp"].is_string());
    // The legacy orphanDependents=false asks for 202 when the object stays.
    let (c, v) = t
        .call(
            Method::DELETE,
            &format!("{CMS}/f"),
            Some(json!({"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": false})),
        )
        .await;
    assert_eq!(c, StatusCode::ACCEPTED, "{v}");
    let (c, _) = t.call(Method::GET, &format!("{CMS}/f"), None).await;
    assert_eq!(c, StatusCode::OK, "held by its finalizer");
    let (c, v) = t
        .patch(
            &format!("{CMS}/f"),
            "application/merge-patch+json",
            json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    let (c, _) = t.call(Method::GET, &format!("{CMS}/f"), None).await;
    assert_eq!(
        c,
        StatusCode::NOT_FOUND,
        "removing the last finalizer deletes"
    );

    // A bound pod waits for its kubelet; an unbound one goes at once.
    let pod = |name: &str, node: Option<&str>| {
        let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
        if let Some(n) = node {
            p["spec"]["nodeName"] = json!(n);
        }
        p
    };
    let pods = "/api/v1/namespaces/default/pods";
    let (_, v) = t
        .call(Method::POST, pods, Some(pod("bound", Some("n1"))))
        .await;
    assert_eq!(v["status"]["phase"], "Pending");
    assert_eq!(v["status"]["qosClass"], "BestEffort");
    t.call(Method::POST, pods, Some(pod("free", None))).await;
    let (_, v) = t.call(Method::DELETE, &format!("{pods}/bound"), None).await;
    assert_eq!(v["metadata"]["deletionGracePeriodSeconds"], 30);
    let (c, _) = t.call(Method::GET, &format!("{pods}/bound"), None).await;
    assert_eq!(c, StatusCode::OK);
    let (c, _) = t.call(Method::DELETE, &format!("{pods}/free"), None).await;
    assert_eq!(c, StatusCode::OK);
    let (c, _) = t
        .call(
            Method::DELETE,
            &format!("{pods}/bound?gracePeriodSeconds=0"),
            None,
        )
        .await;
    assert_eq!(c, StatusCode::OK);
    let (c, _) = t.call(Method::GET, &format!("{pods}/bound"), None).await;
    assert_eq!(c, StatusCode::NOT_FOUND);

    // Preconditions.
    t.call(Method::POST, CMS, Some(cm("p"))).await;
    let (c, v) = t
        .call(
            Method::DELETE,
            &format!("{CMS}/p"),
            Some(json!({"preconditions": {"uid": "nope"}})),
        )
        .await;
    assert_eq!(c.as_u16(), 409, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("Precondition failed: UID in precondition: nope"));
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let t = T::new().await;
    let (c, v) = t
        .call(Method::POST, &format!("{CMS}?dryRun=All"), Some(cm("d")))
        .await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    assert_eq!(
        t.call(Method::GET, &format!("{CMS}/d"), None).await.0,
        StatusCode::NOT_FOUND
    );
    t.call(Method::POST, CMS, Some(cm("d"))).await;
    t.call(Method::DELETE, &format!("{CMS}/d?dryRun=All"), None)
        .await;
    assert_eq!(
        t.call(Method::GET, &format!("{CMS}/d"), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.call(Method::POST, &format!("{CMS}?dryRun=Bogus"), Some(cm("e")))
            .await
            .0
            .as_u16(),
        400
    );
}

#[tokio::test]
async fn list_paging_selectors_and_tables() {
    let t = T::new().await;
    for i in 0..5 {
        t.call(Method::POST, CMS, Some(cm(&format!("c{i}")))).await;
    }
    // Page through 2 at a time; every object exactly once.
    let mut names = Vec::new();
    let mut cont = String::new();
    let mut first_rv = None;
    loop {
        let uri = if cont.is_empty() {
            format!("{CMS}?limit=2")
        } else {
            format!("{CMS}?limit=2&continue={cont}")
        };
        let (c, v) = t.call(Method::GET, &uri, None).await;
        assert_eq!(c, StatusCode::OK, "{v}");
        first_rv.get_or_insert(v["metadata"]["resourceVersion"].clone());
        assert_eq!(
            v["metadata"]["resourceVersion"],
            *first_rv.as_ref().unwrap(),
            "pages share one snapshot"
        );
        names.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        // A write between pages must not show up in later pages.
        if cont.is_empty() {
            t.call(Method::POST, CMS, Some(cm("c9"))).await;
        }
        match v["metadata"]["continue"].as_str() {
            Some(c) => cont = c.to_string(),
            None => break,
        }
    }
    assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4"]);

    let cases = [
        ("labelSelector=app%3Dc1", vec!["c1"]),
        ("labelSelector=app+in+(c1,c3)", vec!["c1", "c3"]),
        ("labelSelector=app+notin+(c1,c3,c9)", vec!["c0", "c2", "c4"]),
        (
            "labelSelector=app!%3Dc0,app!%3Dc9",
            vec!["c1", "c2", "c3", "c4"],
        ),
        ("labelSelector=!app", vec![]),
        ("fieldSelector=metadata.name%3Dc2", vec!["c2"]),
        (
            "fieldSelector=metadata.name!%3Dc2,metadata.namespace%3Ddefault&labelSelector=app",
            vec!["c0", "c1", "c3", "c4", "c9"],
        ),
    ];
    for (q, want) in cases {
        let (_, v) = t.call(Method::GET, &format!("{CMS}?{q}"), None).await;
        let got: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{q}");
    }

    // All namespaces.
    let (_, v) = t.call(Method::GET, "/api/v1/configmaps", None).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 6);

    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let (c, v) = t
        .raw(Method::GET, CMS, "", vec![], Some(accept), true)
        .await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(v["kind"], "Table");
    let cols: Vec<&str> = v["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, vec!["Name", "Data", "Age"]);
    assert_eq!(v["rows"][0]["cells"][0], "c0");
    assert_eq!(v["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(v["rows"][0]["object"]["metadata"]["namespace"], "default");
}

/// Reads watch lines from a streaming response until `n` events arrived.
async fn watch_events(t: &T, uri: &str, n: usize) -> Vec<(String, String)> {
    let mut req = Request::builder().uri(uri).body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnIdentity(Some(User {
        name: "admin".into(),
        uid: String::new(),
        groups: vec![],
    })));
    let resp = t.srv.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body().into_data_stream();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    use futures::StreamExt;
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("watch event in time")
            .expect("stream open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let v: Value = serde_json::from_slice(&line).unwrap();
            out.push((
                v["type"].as_str().unwrap().to_string(),
                v["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn watch_from_resource_version_and_expiry() {
    let t = T::new().await;
    let (_, v) = t.call(Method::GET, CMS, None).await;
    let rv: i64 = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    t.call(Method::POST, CMS, Some(cm("w"))).await;
    t.patch(
        &format!("{CMS}/w"),
        "application/merge-patch+json",
        json!({"data": {"x": "y"}}),
    )
    .await;
    t.call(Method::DELETE, &format!("{CMS}/w"), None).await;
    let got = watch_events(&t, &format!("{CMS}?watch=true&resourceVersion={rv}"), 3).await;
    assert_eq!(
        got,
        vec![
            ("ADDED".into(), "w".into()),
            ("MODIFIED".into(), "w".into()),
            ("DELETED".into(), "w".into())
        ]
    );

    // A label selector turns a change that leaves the selection into DELETED.
    t.call(Method::POST, CMS, Some(cm("s"))).await;
    let (_, v) = t.call(Method::GET, CMS, None).await;
    let rv2 = v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    t.patch(
        &format!("{CMS}/s"),
        "application/merge-patch+json",
        json!({"metadata": {"labels": {"app": "other"}}}),
    )
    .await;
    let got = watch_events(
        &t,
        &format!("{CMS}?watch=true&labelSelector=app%3Ds&resourceVersion={rv2}"),
        1,
    )
    .await;
    assert_eq!(got, vec![("DELETED".into(), "s".into())]);

    // Without a resourceVersion, a watch starts with the current objects.
    let got = watch_events(&t, &format!("{CMS}?watch=true"), 1).await;
    assert_eq!(got, vec![("ADDED".into(), "s".into())]);

    // Past the window (100 events) the watch is 410 Gone with reason Expired.
    for i in 0..120 {
        t.patch(
            &format!("{CMS}/s"),
            "application/merge-patch+json",
            json!({"data": {"i": i.to_string()}}),
        )
        .await;
    }
    // A consistent list first, so the watch cache has seen every write.
    t.call(Method::GET, CMS, None).await;
    let (c, v) = t
        .call(
            Method::GET,
            &format!("{CMS}?watch=true&resourceVersion={rv}"),
            None,
        )
        .await;
    // As upstream: 200, then a single ERROR event carrying the 410 Expired Status.
    assert_eq!(
        (
            c.as_u16(),
            v["type"].as_str(),
            v["object"]["code"].as_i64(),
            v["object"]["reason"].as_str()
        ),
        (200, Some("ERROR"), Some(410), Some("Expired")),
        "{v}"
    );
}

#[tokio::test]
async fn namespace_termination_removes_contents() {
    let t = T::new().await;
    let (c, _) = t
        .call(
            Method::POST,
            "/api/v1/namespaces",
            Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED);
    t.call(
        Method::POST,
        "/api/v1/namespaces/tmp/configmaps",
        Some(cm("x")),
    )
    .await;
    let (_, v) = t.call(Method::DELETE, "/api/v1/namespaces/tmp", None).await;
    assert_eq!(v["status"]["phase"], "Terminating");
    let (c, v) = t
        .call(
            Method::POST,
            "/api/v1/namespaces/tmp/configmaps",
            Some(cm("y")),
        )
        .await;
    assert!(c.as_u16() == 403 || c.as_u16() == 404, "{v}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (c, _) = t.call(Method::GET, "/api/v1/namespaces/tmp", None).await;
        if c == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "namespace still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, v) = t
        .call(Method::GET, "/api/v1/namespaces/tmp/configmaps", None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn discovery_formats() {
    let t = T::new().await;
    let agg = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    let (_, v) = t
        .raw(Method::GET, "/apis", "", vec![], Some(agg), true)
        .await;
    assert_eq!(v["kind"], "APIGroupDiscoveryList");
    let apps = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap();
    let d = apps["versions"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "deployments")
        .unwrap();
    assert_eq!(d["shortNames"], json!(["deploy"]));
    assert_eq!(d["categories"], json!(["all"]));
    let (_, v) = t
        .raw(
            Method::GET,
            "/apis",
            "",
            vec![],
            Some("application/json"),
            true,
        )
        .await;
    assert_eq!(v["kind"], "APIGroupList");
    let (_, v) = t.call(Method::GET, "/api/v1", None).await;
    let names: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pods/eviction") && names.contains(&"pods/status"),
        "{names:?}"
    );
}

#[tokio::test]
async fn events_expire_after_their_ttl() {
    let t = T::with_event_ttl(Duration::from_secs(2)).await;
    let now = chrono::Utc::now();
    let ev = |name: &str, last: chrono::DateTime<chrono::Utc>| {
        json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
               "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
               "reason": "Test", "message": "m", "type": "Normal",
               "lastTimestamp": last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)})
    };
    let events = "/api/v1/namespaces/default/events";
    let (c, v) = t
        .call(
            Method::POST,
            events,
            Some(ev("old", now - chrono::Duration::hours(2))),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    t.call(
        Method::POST,
        events,
        Some(ev("fresh", now + chrono::Duration::hours(1))),
    )
    .await;
    // The same objects read through events.k8s.io/v1 use that API's field names.
    let (_, v) = t
        .call(
            Method::GET,
            "/apis/events.k8s.io/v1/namespaces/default/events/fresh",
            None,
        )
        .await;
    assert_eq!(v["regarding"]["name"], "p", "{v}");
    assert_eq!(v["note"], "m", "{v}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (c, _) = t.call(Method::GET, &format!("{events}/old"), None).await;
        if c == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "old event never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (c, _) = t.call(Method::GET, &format!("{events}/fresh"), None).await;
    assert_eq!(c, StatusCode::OK, "a fresh event stays");
}

#[tokio::test]
async fn openapi_documents_are_served() {
    let t = T::new().await;
    let (c, v) = t.call(Method::GET, "/openapi/v3", None).await;
    assert_eq!(c, StatusCode::OK);
    let url = v["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (c, doc) = t.call(Method::GET, &url, None).await;
    assert_eq!(c, StatusCode::OK);
    assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());

    let mut req = Request::builder()
        .uri("/openapi/v2")
        .header(
            "accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .body(Body::empty())
        .unwrap();
    req.extensions_mut().insert(ConnIdentity(Some(User {
        name: "admin".into(),
        uid: String::new(),
        groups: vec![],
    })));
    let resp = t.srv.router().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    // Field 1 (swagger), a 3-byte string: "2.0".
    assert_eq!(&bytes[..5], b"\x0a\x032.0");
}

#[tokio::test]
async fn binding_and_eviction() {
    let t = T::new().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = |name: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
    t.call(Method::POST, pods, Some(pod("a"))).await;
    t.call(Method::POST, pods, Some(pod("b"))).await;

    let bind = |pod: &str, node: &str| json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}, "target": {"kind": "Node", "name": node}});
    let (c, v) = t
        .call(
            Method::POST,
            &format!("{pods}/a/binding"),
            Some(bind("a", "n1")),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "Success");
    let (_, v) = t.call(Method::GET, &format!("{pods}/a"), None).await;
    assert_eq!(v["spec"]["nodeName"], "n1");
    assert_eq!(v["status"]["conditions"][0]["type"], "PodScheduled");
    let (c, v) = t
        .call(
            Method::POST,
            &format!("{pods}/a/binding"),
            Some(bind("a", "n2")),
        )
        .await;
    assert_eq!(c.as_u16(), 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("pod a is already assigned to node \"n1\""),
        "{v}"
    );
    // The legacy bindings collection.
    let (c, v) = t
        .call(
            Method::POST,
            "/api/v1/namespaces/default/bindings",
            Some(bind("b", "n2")),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    let (_, v) = t.call(Method::GET, &format!("{pods}/b"), None).await;
    assert_eq!(v["spec"]["nodeName"], "n2");

    // A running pod covered by a budget that allows no disruption cannot be evicted.
    let mut a = t.call(Method::GET, &format!("{pods}/a"), None).await.1;
    a["status"]["phase"] = json!("Running");
    a["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    t.call(Method::PUT, &format!("{pods}/a/status"), Some(a))
        .await;
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let (c, v) = t
        .call(
            Method::POST,
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            Some(pdb),
        )
        .await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "a", "namespace": "default"}, "deleteOptions": {"gracePeriodSeconds": 0}});
    let evict_path = format!("{pods}/a/eviction");
    let evict_a = || t.call(Method::POST, &evict_path, Some(eviction.clone()));
    let (c, v) = evict_a().await;
    assert_eq!(
        (c.as_u16(), v["reason"].as_str()),
        (429, Some("TooManyRequests")),
        "{v}"
    );
    assert_eq!(
        v["details"]["causes"][0]["message"],
        "The disruption budget pdb is still being processed by the server.",
        "no controller has seen the budget yet: {v}"
    );
    assert_eq!(
        t.call(Method::GET, &format!("{pods}/a"), None).await.0,
        StatusCode::OK
    );
    let status = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb/status";
    let (c, v) = t.patch(status, "application/merge-patch+json", json!({"status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}})).await;
    assert_eq!(c, StatusCode::OK, "{v}");
    let (c, v) = evict_a().await;
    assert_eq!(c.as_u16(), 429, "{v}");
    assert_eq!(
        v["details"]["causes"][0]["message"],
        "The disruption budget pdb needs 1 healthy pods and has 1 currently",
        "{v}"
    );
    // Once the budget allows a disruption, the pod goes, and the budget records it.
    let (c, v) = t
        .patch(
            status,
            "application/merge-patch+json",
            json!({"status": {"disruptionsAllowed": 1, "currentHealthy": 2}}),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    let (c, v) = evict_a().await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    assert_eq!(
        t.call(Method::GET, &format!("{pods}/a"), None).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, v) = t.call(Method::GET, status, None).await;
    assert_eq!(v["status"]["disruptionsAllowed"], 0, "{v}");
    assert!(v["status"]["disruptedPods"]["a"].is_string(), "{v}");
}

#[tokio::test]
async fn ephemeral_containers_subresource() {
    let t = T::new().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}});
    let (c, v) = t.call(Method::POST, pods, Some(pod)).await;
    assert_eq!(c, StatusCode::CREATED, "{v}");
    let sub = format!("{pods}/p/ephemeralcontainers");
    // kubectl debug's strategic merge patch adds one.
    let dbg = json!({"name": "dbg", "image": "busybox", "targetContainerName": "app",
        "stdin": true, "tty": true, "resources": {}});
    let (c, v) = t
        .patch(
            &sub,
            "application/strategic-merge-patch+json",
            json!({"spec": {"ephemeralContainers": [dbg]}}),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    let e = &v["spec"]["ephemeralContainers"][0];
    assert_eq!(e["name"], "dbg");
    assert_eq!(e["terminationMessagePolicy"], "File", "defaulted: {e}");
    // A second one merges by name (kubectl sends the order too).
    let (c, v) = t
        .patch(
            &sub,
            "application/strategic-merge-patch+json",
            json!({"spec": {
                "$setElementOrder/ephemeralContainers": [{"name": "dbg"}, {"name": "dbg2"}],
                "ephemeralContainers": [{"name": "dbg2", "image": "busybox"}]}}),
        )
        .await;
    assert_eq!(c, StatusCode::OK, "{v}");
    assert_eq!(
        v["spec"]["ephemeralContainers"].as_array().unwrap().len(),
        2
    );
    // GET through the subresource is the pod.
    let (c, v) = t.call(Method::GET, &sub, None).await;
    assert_eq!(c, StatusCode::OK);
    assert_eq!(v["kind"], "Pod");
    // Other spec changes through the subresource are ignored.
    let (_, v) = t
        .patch(
            &sub,
            "application/merge-patch+json",
            json!({"spec": {"activeDeadlineSeconds": 5}}),
        )
        .await;
    assert!(v["spec"].get("activeDeadlineSeconds").is_none(), "{v}");

    let invalid = |v: &serde_json::Value| -> String {
        assert_eq!(v["reason"], "Invalid", "{v}");
        v["message"].as_str().unwrap_or_default().to_string()
    };
    // Removing or changing one is forbidden.
    let (c, v) = t
        .patch(
            &sub,
            "application/json-patch+json",
            json!([{"op": "remove", "path": "/spec/ephemeralContainers/0"}]),
        )
        .await;
    assert_eq!(c.as_u16(), 422);
    let msg = invalid(&v);
    assert!(
        msg.contains("spec.ephemeralContainers: Forbidden: existing ephemeral containers \"dbg\" may not be removed"),
        "{msg}"
    );
    let (c, v) = t
        .patch(
            &sub,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "other"}]),
        )
        .await;
    assert_eq!(c.as_u16(), 422);
    assert!(invalid(&v).contains("may not be changed"), "{v}");
    // Ports, probes and resources are not for ephemeral containers; names are unique; the
    // target must exist. (Without `$setElementOrder`, new items go first, as upstream.)
    let (c, v) = t
        .patch(
            &sub,
            "application/strategic-merge-patch+json",
            json!({"spec": {"ephemeralContainers": [
                {"name": "app", "image": "busybox"},
                {"name": "bad", "image": "busybox", "ports": [{"containerPort": 80}],
                 "readinessProbe": {"exec": {"command": ["true"]}},
                 "targetContainerName": "nope"}]}}),
        )
        .await;
    assert_eq!(c.as_u16(), 422);
    let msg = invalid(&v);
    for want in [
        "spec.ephemeralContainers[0].name: Duplicate value: \"app\"",
        "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[1].readinessProbe: Forbidden: cannot be set for an Ephemeral Container",
        "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"",
    ] {
        assert!(msg.contains(want), "{want}: {msg}");
    }
}
