//! Component tests of deletion propagation on the API server side (upstream's generic store):
//! `Orphan` and `Foreground` mark the object with the garbage collector's finalizers instead of
//! removing it, `Background` removes it at once, kinds have their default policies, and a
//! second delete may change the policy. The router is driven in-process over the memory store.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use rkube_apiserver::auth::{TokenAuth, User};
use rkube_apiserver::{Config, ConnIdentity, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";
const EVENTS: &str = "/api/v1/namespaces/default/events";
const RCS: &str = "/api/v1/namespaces/default/replicationcontrollers";
const RSS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

struct T {
    srv: Arc<Server>,
}

struct Resp {
    code: StatusCode,
    body: Value,
    warnings: Vec<String>,
}

impl T {
    async fn new() -> T {
        let srv = Server::start(Config {
            store: Arc::new(rkube_store::memory::MemoryStore::new()),
            tokens: TokenAuth::default(),
            watch_cache_window: 100,
            event_ttl: Duration::from_secs(3600),
            compact_interval: None,
            advertise_address: "127.0.0.1:6443".into(),
        })
        .await
        .unwrap();
        T { srv }
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Resp {
        let bytes = body
            .map(|v| serde_json::to_vec(&v).unwrap())
            .unwrap_or_default();
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .unwrap();
        req.extensions_mut().insert(ConnIdentity(Some(User {
            name: "admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
        })));
        let resp = self.srv.router().oneshot(req).await.unwrap();
        let code = resp.status();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Resp {
            code,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            warnings,
        }
    }

    async fn create(&self, collection: &str, obj: Value) {
        let r = self.call(Method::POST, collection, Some(obj)).await;
        assert_eq!(r.code, StatusCode::CREATED, "{}", r.body);
    }

    async fn delete(&self, uri: &str, opts: Value) -> Resp {
        self.call(Method::DELETE, uri, Some(opts)).await
    }

    /// The object, or None when it is gone.
    async fn get(&self, uri: &str) -> Option<Value> {
        let r = self.call(Method::GET, uri, None).await;
        match r.code {
            StatusCode::OK => Some(r.body),
            StatusCode::NOT_FOUND => None,
            c => panic!("GET {uri}: {c} {}", r.body),
        }
    }
}

fn cm(name: &str, finalizers: &[&str]) -> Value {
    json!({"metadata": {"name": name, "finalizers": finalizers}, "data": {"a": "b"}})
}

fn finalizers(obj: &Value) -> Value {
    obj["metadata"]["finalizers"].clone()
}

fn deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

fn pod_template(name: &str) -> Value {
    json!({"metadata": {"labels": {"app": name}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

#[tokio::test]
async fn orphan_and_foreground_mark_the_object_background_removes_it() {
    let t = T::new().await;
    // (policy, finalizers the object gets, or None when it is gone at once)
    let cases = [
        ("Orphan", Some(json!(["orphan"]))),
        ("Foreground", Some(json!(["foregroundDeletion"]))),
        ("Background", None),
    ];
    for (i, (policy, want)) in cases.into_iter().enumerate() {
        let name = format!("cm{i}");
        t.create(CMS, cm(&name, &[])).await;
        let uri = format!("{CMS}/{name}");
        let r = t
            .delete(
                &uri,
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy}),
            )
            .await;
        assert!(r.code.is_success(), "{policy}: {}", r.body);
        match (want, t.get(&uri).await) {
            (None, None) => {}
            (Some(f), Some(obj)) => {
                assert_eq!(finalizers(&obj), f, "{policy}");
                assert!(deleting(&obj), "{policy}: {obj}");
                assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 0);
            }
            (want, got) => panic!("{policy}: want {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn policy_from_query_and_legacy_orphan_dependents() {
    let t = T::new().await;
    t.create(CMS, cm("q", &[])).await;
    t.call(
        Method::DELETE,
        &format!("{CMS}/q?propagationPolicy=Foreground"),
        None,
    )
    .await;
    let q = t.get(&format!("{CMS}/q")).await.expect("kept");
    assert_eq!(finalizers(&q), json!(["foregroundDeletion"]));

    t.create(CMS, cm("legacy", &["example.com/keep"])).await;
    t.delete(&format!("{CMS}/legacy"), json!({"orphanDependents": true}))
        .await;
    let l = t.get(&format!("{CMS}/legacy")).await.expect("kept");
    assert_eq!(finalizers(&l), json!(["example.com/keep", "orphan"]));

    t.create(CMS, cm("cascade", &[])).await;
    let r = t
        .delete(
            &format!("{CMS}/cascade"),
            json!({"orphanDependents": false}),
        )
        .await;
    assert_eq!(r.code, StatusCode::OK, "{}", r.body);
    assert!(t.get(&format!("{CMS}/cascade")).await.is_none());
}

#[tokio::test]
async fn invalid_delete_options_are_rejected() {
    let t = T::new().await;
    t.create(CMS, cm("x", &[])).await;
    let uri = format!("{CMS}/x");
    let r = t
        .delete(
            &uri,
            json!({"propagationPolicy": "Orphan", "orphanDependents": true}),
        )
        .await;
    assert_eq!(r.code, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Orphan\": orphanDependents and deletionPropagation cannot be both set"
    );
    let r = t
        .delete(&uri, json!({"propagationPolicy": "Sideways"}))
        .await;
    assert_eq!(r.code, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("Unsupported value: \"Sideways\""),
        "{}",
        r.body
    );
    assert!(t.get(&uri).await.is_some());
}

#[tokio::test]
async fn kinds_have_their_default_policy() {
    let t = T::new().await;
    let job = json!({"metadata": {"name": "j"}, "spec": {"template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    t.create(JOBS, job.clone()).await;
    let r = t.call(Method::DELETE, &format!("{JOBS}/j"), None).await;
    assert!(r.code.is_success(), "{}", r.body);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("child pods are preserved by default when jobs are deleted")),
        "{:?}",
        r.warnings
    );
    let j = t
        .get(&format!("{JOBS}/j"))
        .await
        .expect("batch/v1 jobs orphan by default");
    assert_eq!(finalizers(&j), json!(["orphan"]));

    // An explicit policy is not warned about.
    let mut job2 = job.clone();
    job2["metadata"]["name"] = json!("j2");
    t.create(JOBS, job2).await;
    let r = t
        .delete(
            &format!("{JOBS}/j2"),
            json!({"propagationPolicy": "Background"}),
        )
        .await;
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(t.get(&format!("{JOBS}/j2")).await.is_none());

    let rc = json!({"metadata": {"name": "rc"}, "spec": {"replicas": 0,
        "selector": {"app": "rc"}, "template": pod_template("rc")}});
    t.create(RCS, rc).await;
    t.call(Method::DELETE, &format!("{RCS}/rc"), None).await;
    let rc = t
        .get(&format!("{RCS}/rc"))
        .await
        .expect("rcs orphan by default");
    assert_eq!(finalizers(&rc), json!(["orphan"]));

    let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 0,
        "selector": {"matchLabels": {"app": "rs"}}, "template": pod_template("rs")}});
    t.create(RSS, rs).await;
    t.call(Method::DELETE, &format!("{RSS}/rs"), None).await;
    assert!(
        t.get(&format!("{RSS}/rs")).await.is_none(),
        "apps/v1 deletes in the background"
    );

    // Events never take the garbage collector's finalizers.
    let ev = json!({"metadata": {"name": "ev"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "R", "message": "m", "type": "Normal"});
    t.create(EVENTS, ev).await;
    t.delete(
        &format!("{EVENTS}/ev"),
        json!({"propagationPolicy": "Orphan"}),
    )
    .await;
    assert!(t.get(&format!("{EVENTS}/ev")).await.is_none());
}

#[tokio::test]
async fn a_second_delete_may_change_the_policy() {
    let t = T::new().await;
    let uri = format!("{CMS}/c");
    t.create(CMS, cm("c", &[])).await;
    t.delete(&uri, json!({"propagationPolicy": "Orphan"})).await;
    let first = t.get(&uri).await.expect("kept");
    // Without a policy the finalizer already there decides: nothing changes.
    t.call(Method::DELETE, &uri, None).await;
    let same = t.get(&uri).await.expect("kept");
    assert_eq!(finalizers(&same), json!(["orphan"]));
    assert_eq!(
        same["metadata"]["deletionTimestamp"],
        first["metadata"]["deletionTimestamp"]
    );
    t.delete(&uri, json!({"propagationPolicy": "Foreground"}))
        .await;
    let fg = t.get(&uri).await.expect("kept");
    assert_eq!(finalizers(&fg), json!(["foregroundDeletion"]));
    assert_eq!(
        fg["metadata"]["deletionTimestamp"],
        first["metadata"]["deletionTimestamp"]
    );
    // Background drops the last finalizer, so the object goes.
    t.delete(&uri, json!({"propagationPolicy": "Background"}))
        .await;
    assert!(t.get(&uri).await.is_none());

    // Another finalizer keeps it.
    let uri = format!("{CMS}/held");
    t.create(CMS, cm("held", &["example.com/hold"])).await;
    t.delete(&uri, json!({"propagationPolicy": "Foreground"}))
        .await;
    t.delete(&uri, json!({"propagationPolicy": "Background"}))
        .await;
    let held = t.get(&uri).await.expect("held by its own finalizer");
    assert_eq!(finalizers(&held), json!(["example.com/hold"]));
}

#[tokio::test]
async fn graceful_pod_deletion_takes_the_finalizer_too() {
    let t = T::new().await;
    t.create(
        PODS,
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1",
            "containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    let uri = format!("{PODS}/p");
    t.delete(&uri, json!({"propagationPolicy": "Orphan"})).await;
    let p = t.get(&uri).await.expect("waits for its kubelet");
    assert_eq!(finalizers(&p), json!(["orphan"]));
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
    // The pending graceful deletion is not changed by another policy.
    t.delete(&uri, json!({"propagationPolicy": "Foreground"}))
        .await;
    let p = t.get(&uri).await.expect("still there");
    assert_eq!(finalizers(&p), json!(["orphan"]));
}

#[tokio::test]
async fn dry_run_and_deletecollection_honour_the_policy() {
    let t = T::new().await;
    t.create(CMS, cm("d", &[])).await;
    let uri = format!("{CMS}/d");
    let r = t
        .delete(
            &uri,
            json!({"propagationPolicy": "Orphan", "dryRun": ["All"]}),
        )
        .await;
    assert_eq!(finalizers(&r.body), json!(["orphan"]), "{}", r.body);
    let d = t.get(&uri).await.expect("dry run");
    assert!(!deleting(&d));

    t.create(CMS, cm("e", &[])).await;
    let r = t
        .call(
            Method::DELETE,
            CMS,
            Some(json!({"propagationPolicy": "Orphan"})),
        )
        .await;
    assert_eq!(r.code, StatusCode::OK, "{}", r.body);
    for name in ["d", "e"] {
        let obj = t.get(&format!("{CMS}/{name}")).await.expect("orphaning");
        assert_eq!(finalizers(&obj), json!(["orphan"]), "{name}");
    }
}
