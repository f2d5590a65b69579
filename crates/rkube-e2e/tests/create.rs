//! Creating objects (`kubectl create -f … --validate=false` and raw POSTs): server-set metadata,
//! generateName, AlreadyExists, missing namespaces, NotFound texts, dry runs.

use rkube_e2e::*;
use serde_json::json;

#[test]
fn create_sets_server_metadata() {
    let s = Server::start_default();
    let out = s.create(&configmap("meta", "default", &[]));
    assert_eq!(out.trim(), "configmap/meta created");
    let a = s.get_json(&["cm", "meta"]);
    s.create(&configmap("meta2", "default", &[]));
    let b = s.get_json(&["cm", "meta2"]);
    assert_ne!(
        a["metadata"]["uid"], b["metadata"]["uid"],
        "uids must differ"
    );
    let rv = |o: &serde_json::Value| -> u64 {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        rv(&b) > rv(&a),
        "resourceVersion must grow: {} then {}",
        rv(&a),
        rv(&b)
    );

    // Raw POST answers 201 with the stored object.
    let r = s.http_json(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "raw"}, "data": {"k": "v"}}),
    );
    let obj = r.expect(201);
    assert_eq!(obj["kind"], "ConfigMap", "{obj}");
    assert_eq!(obj["metadata"]["namespace"], "default", "{obj}");
    assert!(obj["metadata"]["uid"].is_string(), "{obj}");
    let got = s
        .http_get("/api/v1/namespaces/default/configmaps/raw")
        .expect(200);
    assert_eq!(got["metadata"]["uid"], obj["metadata"]["uid"]);
    assert_eq!(got["data"]["k"], "v");

    // Deployments start at generation 1.
    s.create(&deployment("gen", "default", 1));
    let d = s.get_json(&["deploy", "gen"]);
    assert_eq!(d["metadata"]["generation"], 1, "{d}");
}

#[test]
fn generate_name() {
    let s = Server::start_default();
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}});
    let a = s
        .http_json("POST", "/api/v1/namespaces/default/configmaps", &body)
        .expect(201);
    let b = s
        .http_json("POST", "/api/v1/namespaces/default/configmaps", &body)
        .expect(201);
    let (na, nb) = (
        a["metadata"]["name"].as_str().unwrap(),
        b["metadata"]["name"].as_str().unwrap(),
    );
    assert!(na.starts_with("gen-") && na.len() > 4, "{na}");
    assert_ne!(na, nb);
    assert!(s.kc().exists(&["cm", na]));

    let out = s.create("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: viakubectl-\n");
    assert!(out.starts_with("configmap/viakubectl-"), "{out}");
}

#[test]
fn already_exists() {
    let s = Server::start_default();
    s.create(&configmap("dup", "default", &[("v", "1")]));
    let err = s.kc().fails_stdin(
        &["create", "-f", "-", "--validate=false"],
        Some(&configmap("dup", "default", &[("v", "2")])),
    );
    assert!(err.contains("Error from server (AlreadyExists)"), "{err}");
    assert!(err.contains("configmaps \"dup\" already exists"), "{err}");
    // The original is untouched.
    assert_eq!(s.get_json(&["cm", "dup"])["metadata"]["labels"]["v"], "1");

    let r = s.http_json(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}}),
    );
    let st = r.expect_status(409, "AlreadyExists");
    assert_eq!(st["message"], "configmaps \"dup\" already exists");
    assert_eq!(st["details"]["name"], "dup", "{st}");
    assert_eq!(st["details"]["kind"], "configmaps", "{st}");
}

#[test]
fn missing_namespace_is_not_found() {
    let s = Server::start_default();
    // kubectl create -f puts `error when creating "STDIN": ` between the reason and the message.
    let err = s.kc().fails_stdin(
        &["create", "-f", "-", "--validate=false"],
        Some(&configmap("x", "nope", &[])),
    );
    assert!(err.contains("Error from server (NotFound): "), "{err}");
    assert!(
        err.trim_end().ends_with("namespaces \"nope\" not found"),
        "{err}"
    );
    let err = s.kc().fails_stdin(
        &["create", "-n", "nope", "-f", "-", "--validate=false"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"),
    );
    assert!(err.contains("Error from server (NotFound): "), "{err}");
    assert!(
        err.trim_end().ends_with("namespaces \"nope\" not found"),
        "{err}"
    );
    s.http_json(
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "z"}}),
    )
    .expect_status(404, "NotFound");
    let out = s.must(&[
        "get",
        "cm",
        "-A",
        "--field-selector",
        "metadata.namespace=nope",
        "-o",
        "name",
    ]);
    assert!(
        out.trim().is_empty(),
        "created in a missing namespace:\n{out}"
    );
    assert!(
        !s.kc().exists(&["ns", "nope"]),
        "the namespace must not be created implicitly"
    );
}

#[test]
fn not_found_messages() {
    let s = Server::start_default();
    for (args, msg) in [
        (
            vec!["get", "pod", "nope"],
            "Error from server (NotFound): pods \"nope\" not found",
        ),
        (
            vec!["get", "ns", "nope"],
            "Error from server (NotFound): namespaces \"nope\" not found",
        ),
        (
            vec!["get", "deploy", "nope"],
            "Error from server (NotFound): deployments.apps \"nope\" not found",
        ),
        (
            vec!["get", "cm", "nope", "-n", "kube-system"],
            "Error from server (NotFound): configmaps \"nope\" not found",
        ),
        (
            vec!["get", "no", "nope"],
            "Error from server (NotFound): nodes \"nope\" not found",
        ),
    ] {
        let err = s.fails(&args);
        assert!(
            err.contains(msg),
            "`kubectl {}`: want {msg:?}, got {err:?}",
            args.join(" ")
        );
    }
    let st = s
        .http_get("/api/v1/namespaces/default/pods/nope")
        .expect_status(404, "NotFound");
    assert_eq!(st["message"], "pods \"nope\" not found");
    assert_eq!(st["details"]["name"], "nope", "{st}");
    assert_eq!(st["details"]["kind"], "pods", "{st}");
    let err = s.fails(&["get", "bogusresource"]);
    assert!(
        err.contains("the server doesn't have a resource type \"bogusresource\""),
        "{err}"
    );
}

#[test]
fn server_dry_run_changes_nothing() {
    let s = Server::start_default();
    let out = s.must_dry_run_create(&configmap("dry", "default", &[]));
    assert!(
        out.contains("configmap/dry created (server dry run)"),
        "{out}"
    );
    let err = s.fails(&["get", "cm", "dry"]);
    assert!(err.contains("configmaps \"dry\" not found"), "{err}");

    let r = s.http_json(
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=All",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry2"}}),
    );
    let obj = r.expect(201);
    assert_eq!(obj["metadata"]["name"], "dry2");
    s.http_get("/api/v1/namespaces/default/configmaps/dry2")
        .expect_status(404, "NotFound");

    // Dry-run delete and update leave the object as it was.
    s.create(&configmap("real", "default", &[("v", "1")]));
    let before = s.get_json(&["cm", "real"]);
    let out = s.must(&["delete", "cm", "real", "--dry-run=server"]);
    assert!(out.contains("(server dry run)"), "{out}");
    let mut changed = before.clone();
    changed["metadata"]["labels"]["v"] = "2".into();
    let r = s.http_json(
        "PUT",
        "/api/v1/namespaces/default/configmaps/real?dryRun=All",
        &changed,
    );
    assert_eq!(
        r.expect(200)["metadata"]["labels"]["v"],
        "2",
        "dry-run PUT answers with the would-be object"
    );
    let after = s.get_json(&["cm", "real"]);
    assert_eq!(after, before, "dry runs changed the object");

    // A dry-run create in a missing namespace still fails.
    s.http_json(
        "POST",
        "/api/v1/namespaces/nope/configmaps?dryRun=All",
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry3"}}),
    )
    .expect_status(404, "NotFound");
}

trait DryRun {
    fn must_dry_run_create(&self, manifest: &str) -> String;
}

impl DryRun for Server {
    fn must_dry_run_create(&self, manifest: &str) -> String {
        self.kc().must_stdin(
            &["create", "-f", "-", "--validate=false", "--dry-run=server"],
            Some(manifest),
        )
    }
}
