//! Write semantics: the status subresource is separate from the main resource, and generation
//! moves only with the spec.

use rkube_e2e::*;
use serde_json::Value;

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments/web";

fn generation(o: &Value) -> i64 {
    o["metadata"]["generation"]
        .as_i64()
        .unwrap_or_else(|| panic!("no generation: {o}"))
}

#[test]
fn generation_moves_with_spec_only() {
    let s = Server::api_only();
    s.create(&deployment("web", "default", 2));
    let d = s.get_json(&["deploy", "web"]);
    assert_eq!(generation(&d), 1);

    // Metadata-only change: same generation, new resourceVersion.
    let updated = s.kc().modify(&["deploy", "web"], |o| {
        o["metadata"]["labels"] = serde_json::json!({"touched": "yes"})
    });
    let d2 = s.get_json(&["deploy", "web"]);
    assert_eq!(d2["metadata"]["labels"]["touched"], "yes");
    assert_eq!(generation(&d2), 1, "a label change bumped generation");
    assert_ne!(
        d2["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );

    // Spec change: generation + 1.
    s.kc()
        .modify(&["deploy", "web"], |o| o["spec"]["replicas"] = 3.into());
    let d3 = s.get_json(&["deploy", "web"]);
    assert_eq!(d3["spec"]["replicas"], 3);
    assert_eq!(generation(&d3), 2, "a spec change did not bump generation");

    // A no-op update changes neither generation nor (upstream) resourceVersion.
    s.kc().modify(&["deploy", "web"], |_| {});
    let d4 = s.get_json(&["deploy", "web"]);
    assert_eq!(generation(&d4), 2);
    assert_eq!(
        d4["metadata"]["resourceVersion"], d3["metadata"]["resourceVersion"],
        "no-op update wrote"
    );
}

#[test]
fn status_subresource_is_separate() {
    let s = Server::api_only();
    s.create(&deployment("web", "default", 2));
    let orig = s.http_get(DEPLOY).expect(200);

    // PUT /status: status changes, spec changes are ignored.
    let mut body = orig.clone();
    body["status"] = serde_json::json!({"replicas": 7, "observedGeneration": 1});
    body["spec"]["replicas"] = 9.into();
    let r = s
        .http_json("PUT", &format!("{DEPLOY}/status"), &body)
        .expect(200);
    assert_eq!(r["status"]["replicas"], 7, "status write lost: {r}");
    assert_eq!(r["spec"]["replicas"], 2, "status write changed spec: {r}");
    let now = s.http_get(DEPLOY).expect(200);
    assert_eq!(now["status"]["replicas"], 7);
    assert_eq!(now["spec"]["replicas"], 2);
    assert_eq!(generation(&now), 1, "a status write bumped generation");
    let rv1: u64 = now["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rv0: u64 = orig["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv1 > rv0, "status write kept the resourceVersion");

    // GET /status returns the whole object.
    let st = s.http_get(&format!("{DEPLOY}/status")).expect(200);
    assert_eq!(st["kind"], "Deployment", "{st}");
    assert_eq!(st["status"]["replicas"], 7);

    // PUT on the main resource: spec changes, status changes are ignored.
    let mut body = now.clone();
    body["spec"]["replicas"] = 4.into();
    body["status"]["replicas"] = 0.into();
    let r = s.http_json("PUT", DEPLOY, &body).expect(200);
    assert_eq!(r["spec"]["replicas"], 4, "{r}");
    assert_eq!(
        r["status"]["replicas"], 7,
        "a main-resource write changed status: {r}"
    );
    let now = s.get_json(&["deploy", "web"]);
    assert_eq!(now["status"]["replicas"], 7);
    assert_eq!(generation(&now), 2);

    // kubectl replace with a status in the body keeps the stored status too.
    s.kc()
        .modify(&["deploy", "web"], |o| o["status"]["replicas"] = 1.into());
    assert_eq!(s.get_json(&["deploy", "web"])["status"]["replicas"], 7);

    // The table reflects the status.
    s.http_json(
        "PUT",
        &format!("{DEPLOY}/status"),
        &{
            let mut b = s.http_get(DEPLOY).expect(200);
            b["status"] = serde_json::json!({"replicas": 4, "readyReplicas": 3, "updatedReplicas": 4, "availableReplicas": 2, "observedGeneration": 2});
            b
        },
    )
    .expect(200);
    let out = s.must(&["get", "deploy", "web"]);
    assert_eq!(cell(&out, "web", "READY"), "3/4", "{out}");
    assert_eq!(cell(&out, "web", "UP-TO-DATE"), "4", "{out}");
    assert_eq!(cell(&out, "web", "AVAILABLE"), "2", "{out}");
}

#[test]
fn pod_status_subresource() {
    let s = Server::api_only();
    s.create(&pod("p", "default", None));
    let path = "/api/v1/namespaces/default/pods/p";
    let mut body = s.http_get(path).expect(200);
    body["status"]["phase"] = "Running".into();
    body["status"]["podIP"] = "10.42.0.7".into();
    let r = s
        .http_json("PUT", &format!("{path}/status"), &body)
        .expect(200);
    assert_eq!(r["status"]["phase"], "Running", "{r}");
    let out = s.must(&["get", "pod", "p", "-o", "wide"]);
    assert_eq!(cell(&out, "p", "STATUS"), "Running", "{out}");
    assert_eq!(cell(&out, "p", "IP"), "10.42.0.7", "{out}");
}
