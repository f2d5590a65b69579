//! Bad input gets a clear 4xx `metav1.Status` and changes nothing (raw requests through curl,
//! for the cases kubectl never sends).

use rkube_e2e::*;
use serde_json::{json, Value};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn post_raw(s: &Server, path: &str, content_type: &str, body: &[u8]) -> Response {
    s.request(
        "POST",
        path,
        Auth::Admin,
        &[("Content-Type", content_type)],
        Some(body),
    )
}

/// Names of the configmaps in default (what a failed request must not have changed).
fn cm_names(s: &Server) -> Vec<String> {
    item_names(&s.http_get(CMS).expect(200))
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let s = Server::start_default();
    s.create(&configmap("existing", "default", &[]));
    let before = cm_names(&s);

    post_raw(
        &s,
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"#,
    )
    .expect_status(400, "BadRequest");
    post_raw(&s, CMS, "application/json", b"not json at all").expect_status(400, "BadRequest");
    post_raw(&s, CMS, "application/json", b"").expect_status(400, "BadRequest");
    post_raw(&s, CMS, "application/json", br#"["a list"]"#).expect_status(400, "BadRequest");
    post_raw(
        &s,
        CMS,
        "application/yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    )
    .expect_status(400, "BadRequest");
    // Wrong types inside an otherwise valid document.
    post_raw(
        &s,
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"typed","labels":"oops"}}"#,
    )
    .expect_status(400, "BadRequest");
    post_raw(
        &s,
        CMS,
        "application/json",
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"typed2"},"data":{"k":5}}"#,
    )
    .expect_status(400, "BadRequest");

    // A valid YAML body works.
    let r = post_raw(
        &s,
        CMS,
        "application/yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n",
    );
    assert_eq!(r.expect(201)["metadata"]["name"], "from-yaml");

    let mut want = before.clone();
    want.push("from-yaml".into());
    want.sort();
    assert_eq!(cm_names(&s), want, "a bad request changed the store");
    assert_server_healthy(&s);
}

#[test]
fn wrong_kind_version_or_namespace() {
    let s = Server::start_default();
    let cases: Vec<(&str, Value)> = vec![
        (
            "unknown kind",
            json!({"apiVersion": "v1", "kind": "Bogus", "metadata": {"name": "k1"}}),
        ),
        (
            "kind of another resource",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k2"}}),
        ),
        (
            "unknown apiVersion",
            json!({"apiVersion": "nope.example.com/v9", "kind": "ConfigMap", "metadata": {"name": "k3"}}),
        ),
        (
            "namespace differs from URL",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k4", "namespace": "kube-system"}}),
        ),
    ];
    for (what, body) in cases {
        let r = s.http_json("POST", CMS, &body);
        assert_eq!(r.code, 400, "{what}: {}", r.text());
        r.expect_status(400, "BadRequest");
    }
    let st = s
        .http_json("POST", CMS, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k5", "namespace": "kube-system"}}))
        .expect_status(400, "BadRequest");
    assert!(
        st["message"].as_str().unwrap().contains("does not match the namespace"),
        "upstream text: the namespace of the provided object does not match the namespace sent on the request: {st}"
    );
    // Name in the body differs from the URL on update.
    s.create(&configmap("a", "default", &[]));
    let mut obj = s.http_get(&format!("{CMS}/a")).expect(200);
    obj["metadata"]["name"] = "b".into();
    s.http_json("PUT", &format!("{CMS}/a"), &obj)
        .expect_status(400, "BadRequest");

    assert_eq!(cm_names(&s), ["a"], "a bad request changed the store");
    assert!(
        s.http_get("/api/v1/namespaces/kube-system/configmaps/k4")
            .code
            == 404
    );
    assert_server_healthy(&s);
}

#[test]
fn invalid_names_are_unprocessable() {
    let s = Server::start_default();
    let long = "a".repeat(254);
    for name in ["Bad_Name", "-leading-dash", long.as_str(), "has space"] {
        let st = s
            .http_json(
                "POST",
                CMS,
                &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}),
            )
            .expect_status(422, "Invalid");
        assert!(
            st["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("ConfigMap \"{name}\" is invalid: metadata.name")),
            "{st}"
        );
        let causes = st["details"]["causes"]
            .as_array()
            .unwrap_or_else(|| panic!("no causes: {st}"));
        assert!(causes.iter().any(|c| c["field"] == "metadata.name"), "{st}");
        assert_eq!(st["details"]["kind"], "ConfigMap", "{st}");
    }
    let err = s.kc().fails_stdin(
        &["create", "-f", "-", "--validate=false"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"),
    );
    assert!(
        err.contains(
            "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""
        ),
        "{err}"
    );
    // An invalid namespace name in the URL.
    s.http_json(
        "POST",
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "UPPER"}}),
    )
    .expect_status(422, "Invalid");
    assert!(cm_names(&s).is_empty());
    assert_server_healthy(&s);
}

#[test]
fn stale_resource_version_conflicts() {
    let s = Server::start_default();
    s.create(&configmap("c", "default", &[]));
    let v1 = s.http_get(&format!("{CMS}/c")).expect(200);
    let mut first = v1.clone();
    first["data"]["key"] = "first".into();
    s.http_json("PUT", &format!("{CMS}/c"), &first).expect(200);
    let mut stale = v1.clone();
    stale["data"]["key"] = "stale".into();
    let st = s
        .http_json("PUT", &format!("{CMS}/c"), &stale)
        .expect_status(409, "Conflict");
    assert_eq!(
        st["message"],
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(s.get_json(&["cm", "c"])["data"]["key"], "first");

    // kubectl replace with the stale object prints the same conflict.
    let err = s.kc().fails_stdin(
        &["replace", "-f", "-", "--validate=false"],
        Some(&stale.to_string()),
    );
    assert!(err.contains("Error from server (Conflict)"), "{err}");
    assert!(
        err.contains("Operation cannot be fulfilled on configmaps \"c\""),
        "{err}"
    );

    // Delete with a stale resourceVersion precondition conflicts too.
    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": v1["metadata"]["resourceVersion"]}});
    s.http_json("DELETE", &format!("{CMS}/c"), &opts)
        .expect_status(409, "Conflict");
    assert!(s.kc().exists(&["cm", "c"]));
}

#[test]
fn oversized_body_is_rejected() {
    let s = Server::start_default();
    let big = "x".repeat(3 * 1024 * 1024 + 1024);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": big}});
    s.http_json("POST", CMS, &body)
        .expect_status(413, "RequestEntityTooLarge");
    assert!(cm_names(&s).is_empty());
    // A large body under both the 3 MiB request limit and the 1 MiB ConfigMap limit is fine.
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "medium"}, "data": {"k": "y".repeat(512 * 1024)}});
    s.http_json("POST", CMS, &ok).expect(201);
    assert_server_healthy(&s);
}

#[test]
fn bad_selectors_are_bad_requests() {
    let s = Server::start_default();
    for q in [
        format!("labelSelector={}", urlencode("env in (prod")),
        format!("labelSelector={}", urlencode("a=b=c")),
        format!("labelSelector={}", urlencode("!")),
        format!("fieldSelector={}", urlencode("spec.bogus=x")),
        format!("fieldSelector={}", urlencode("metadata.name")),
    ] {
        let r = s.http_get(&format!("/api/v1/namespaces/default/pods?{q}"));
        assert_eq!(r.code, 400, "{q}: {}", r.text());
        r.expect_status(400, "BadRequest");
    }
    let err = s.fails(&["get", "pods", "--field-selector", "spec.bogus=x"]);
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    assert!(
        err.contains("field label not supported: spec.bogus"),
        "{err}"
    );
    assert_server_healthy(&s);
}

#[test]
fn media_types_methods_and_paths() {
    let s = Server::start_default();
    post_raw(&s, CMS, "text/plain", b"{}").expect_status(415, "UnsupportedMediaType");
    // PUT on a collection, POST on an item.
    s.http_json(
        "PUT",
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}}),
    )
    .expect_status(405, "MethodNotAllowed");
    s.http_json(
        "POST",
        &format!("{CMS}/m"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}}),
    )
    .expect_status(405, "MethodNotAllowed");
    // Unknown resources, groups and versions.
    s.http_get("/api/v1/namespaces/default/bogus")
        .expect_status(404, "NotFound");
    s.http_get("/apis/nope.example.com/v1/things")
        .expect_status(404, "NotFound");
    s.http_get("/api/v2/pods").expect_status(404, "NotFound");
    assert!(cm_names(&s).is_empty());
    assert_server_healthy(&s);
}

fn assert_server_healthy(s: &Server) {
    assert_eq!(s.http_get("/readyz").code, 200);
    let log = s.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
