//! Server-side field validation as kubectl drives it: `--validate=strict` (the default) turns
//! unknown fields into the upstream strict decoding error, `--validate=warn` prints warnings
//! and the stored object has the unknown fields dropped.

use rkube_e2e::*;

const BAD: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: u\n  bogus: 1\ndata:\n  a: b\nextra: 2\n";

#[test]
fn unknown_fields_strict_warn_ignore() {
    let s = Server::start_default();
    let file = s.tmp().join("u.yaml");
    std::fs::write(&file, BAD).unwrap();
    let f = file.to_str().unwrap();

    let err = s.fails(&["apply", "-f", f]);
    assert!(
        err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "extra", unknown field "metadata.bogus""#),
        "{err}"
    );
    assert!(!s.kc().exists(&["cm", "u"]));

    let out = s.kc().run(&["create", "-f", f, "--validate=warn"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"Warning: unknown field "extra""#),
        "{stderr}"
    );
    let cm = s.get_json(&["cm", "u"]);
    assert!(
        cm.get("extra").is_none() && cm["metadata"].get("bogus").is_none(),
        "unknown fields dropped: {cm}"
    );

    // kubectl patch sends no fieldValidation: the default (Warn) warns and drops the field.
    let out = s
        .kc()
        .run(&["patch", "cm", "u", "--type=merge", "-p", r#"{"nope":1}"#]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"Warning: unknown field "nope""#),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("patched (no change)"));
    // Asked for explicitly, Strict refuses it as Invalid on the field `patch`.
    let r = s.request(
        "PATCH",
        "/api/v1/namespaces/default/configmaps/u?fieldValidation=Strict",
        Auth::Admin,
        &[("Content-Type", "application/merge-patch+json")],
        Some(br#"{"nope":1}"#),
    );
    let st = r.expect_status(422, "Invalid");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains(r#"patch: Invalid value: "#),
        "{st}"
    );
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains(r#"strict decoding error: unknown field \"nope\""#)
            || st["message"]
                .as_str()
                .unwrap()
                .contains(r#"strict decoding error: unknown field "nope""#),
        "{st}"
    );
}

const BAD_DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: two}}
    spec:
      containers:
      - {name: c, image: busybox, ports: [{containerPort: 70000}]}
      - {name: c, image: busybox}
";

#[test]
fn semantic_validation_and_defaults_as_upstream() {
    let s = Server::start_default();
    let file = s.tmp().join("bad.yaml");
    std::fs::write(&file, BAD_DEPLOY).unwrap();
    let err = s.fails(&["apply", "-f", file.to_str().unwrap()]);
    for line in [
        r#"The Deployment "bad" is invalid: "#,
        r#"* spec.template.metadata.labels: Invalid value: map[string]string{"app":"two"}: `selector` does not match template `labels`"#,
        "* spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        r#"* spec.template.spec.containers[1].name: Duplicate value: "c""#,
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    let err = s.fails(&["create", "configmap", "Bad_Name"]);
    assert!(err.contains(r#"error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#), "{err}");

    // Defaults, seen through a server-side dry run and a real create.
    let out = s.must(&[
        "create",
        "deployment",
        "d",
        "--image=nginx:1.2",
        "--dry-run=server",
        "-o",
        "yaml",
    ]);
    assert!(
        out.contains("maxSurge: 25%") && out.contains("progressDeadlineSeconds: 600"),
        "{out}"
    );
    assert!(!s.kc().exists(&["deploy", "d"]), "dry run stored nothing");
    s.must(&[
        "run",
        "p",
        "--image=busybox",
        "--restart=Never",
        "--labels=a=b",
        "--env=X=1",
        "--port=80",
    ]);
    let p = s.get_json(&["pod", "p"]);
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(p["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
    assert_eq!(p["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
    let client = s.must(&[
        "run",
        "q",
        "--image=busybox",
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    assert!(client.contains("name: q"), "{client}");
    s.must(&["create", "deployment", "web", "--image=nginx"]);
    s.must(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    let svc = s.get_json(&["svc", "web"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(svc["spec"]["sessionAffinity"], "None");
}

#[test]
fn wrong_type_in_a_manifest_is_the_go_decoding_error() {
    let s = Server::start_default();
    let file = s.tmp().join("wrong.yaml");
    std::fs::write(
        &file,
        BAD_DEPLOY.replace(
            "selector: {matchLabels: {app: one}}",
            "replicas: three\n  selector: {matchLabels: {app: one}}",
        ),
    )
    .unwrap();
    let err = s.fails(&["apply", "-f", file.to_str().unwrap()]);
    assert!(
        err.contains(r#"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"#),
        "{err}"
    );
}
