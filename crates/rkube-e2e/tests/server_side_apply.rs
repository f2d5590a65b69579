//! `kubectl apply --server-side`: create-if-absent, re-apply, conflicts between managers
//! (including `kubectl scale`), `--force-conflicts`, and managedFields on ordinary writes.

use rkube_e2e::*;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: busybox:1}
";

/// `ua` is kubectl's program name, which upstream uses as the manager of writes that name none
/// (`kubectl scale`).
fn ssa_flow(s: &Server, k: &Kubectl, ua: &str) {
    let file = s.tmp().join("d.yaml");
    std::fs::write(&file, DEPLOY).unwrap();
    let f = file.to_str().unwrap();
    assert!(k
        .must(&["apply", "--server-side", "-f", f])
        .contains("serverside-applied"));
    let d = s.get_json(&["deploy", "web", "--show-managed-fields"]);
    let mf = &d["metadata"]["managedFields"][0];
    assert_eq!(mf["manager"], "kubectl");
    assert_eq!(mf["operation"], "Apply");
    assert!(
        mf["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]
            .is_object(),
        "{mf}"
    );

    k.must(&["scale", "deploy", "web", "--replicas=5"]);
    let err = k.fails(&["apply", "--server-side", "-f", f]);
    let want = format!(
        r#"Apply failed with 1 conflict: conflict with "{ua}" with subresource "scale" using apps/v1: .spec.replicas"#
    );
    assert!(err.contains(&want), "{err}");
    k.must(&["apply", "--server-side", "--force-conflicts", "-f", f]);
    assert_eq!(
        s.must(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );

    let other = s.tmp().join("other.yaml");
    std::fs::write(&other, DEPLOY.replace("replicas: 2", "replicas: 7")).unwrap();
    let err = k.fails(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        other.to_str().unwrap(),
    ]);
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas"#),
        "{err}"
    );

    // Ordinary writes are recorded as Update entries.
    k.must(&["create", "configmap", "cm", "--from-literal=a=b"]);
    let cm = s.get_json(&["cm", "cm", "--show-managed-fields"]);
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"], "kubectl-create",
        "{cm}"
    );
    assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Update");
}

#[test]
fn server_side_apply_with_kubectl_1_32() {
    let s = Server::start_default();
    ssa_flow(&s, &s.kc(), "kubectl");
}

#[test]
fn server_side_apply_with_kubectl_1_33() {
    let s = Server::start_default();
    ssa_flow(&s, &s.kc_at("1.33"), "kubectl.1.33");
}
