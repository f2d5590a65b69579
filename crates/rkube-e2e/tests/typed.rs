//! kubectl's typed commands (protobuf request bodies), OpenAPI-backed commands (`explain`,
//! `apply -f` / `create -f` with validation on) and the review kinds (`auth can-i`,
//! `auth whoami`), with the real kubectl 1.32 and 1.33.

use rkube_e2e::*;

fn typed_creates(s: &Server, k: &Kubectl) {
    k.must(&["create", "namespace", "typed"]);
    k.must(&[
        "-n",
        "typed",
        "create",
        "configmap",
        "cm1",
        "--from-literal=a=b",
    ]);
    k.must(&[
        "-n",
        "typed",
        "create",
        "secret",
        "generic",
        "s1",
        "--from-literal=p=q",
    ]);
    k.must(&[
        "-n",
        "typed",
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ]);
    k.must(&[
        "-n",
        "typed",
        "create",
        "service",
        "clusterip",
        "svc1",
        "--tcp=80:8080",
    ]);
    k.must(&["-n", "typed", "create", "job", "j1", "--image=busybox"]);
    k.must(&["-n", "typed", "create", "serviceaccount", "sa1"]);
    k.must(&[
        "-n",
        "typed",
        "create",
        "role",
        "r1",
        "--verb=get",
        "--resource=pods",
    ]);
    let cm = s.get_json(&["-n", "typed", "cm", "cm1"]);
    assert_eq!(cm["data"]["a"], "b", "{cm}");
    let sec = s.get_json(&["-n", "typed", "secret", "s1"]);
    assert_eq!(sec["data"]["p"], "cQ==", "{sec}");
    let d = s.get_json(&["-n", "typed", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 2, "{d}");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox"
    );
    assert_eq!(d["metadata"]["generation"], 1);
    // The scale subresource, labels and annotations on a typed object.
    k.must(&["-n", "typed", "scale", "deploy", "web", "--replicas=0"]);
    let d = s.get_json(&["-n", "typed", "deploy", "web"]);
    assert_eq!(d["spec"]["replicas"], 0, "{d}");
    k.must(&["-n", "typed", "label", "deploy", "web", "tier=front"]);
    k.must(&["-n", "typed", "label", "deploy", "web", "tier-"]);
    let d = s.get_json(&["-n", "typed", "deploy", "web"]);
    assert!(d["metadata"]["labels"].get("tier").is_none(), "{d}");
    k.must(&[
        "delete",
        "namespace",
        "typed",
        "--wait=true",
        "--timeout=60s",
    ]);
}

#[test]
fn typed_create_commands_send_protobuf_and_work() {
    let s = Server::start_default();
    typed_creates(&s, &s.kc());
}

#[test]
fn typed_create_commands_with_kubectl_1_33() {
    let s = Server::start_default();
    typed_creates(&s, &s.kc_at("1.33"));
}

#[test]
fn explain_uses_openapi_docs() {
    let s = Server::start_default();
    let out = s.must(&["explain", "pod.spec.containers.livenessProbe"]);
    assert!(out.contains("FIELD: livenessProbe <Probe>"), "{out}");
    assert!(
        out.contains("Periodic probe of container liveness"),
        "{out}"
    );
    let out = s.must(&["explain", "deploy", "--recursive"]);
    assert!(out.contains("progressDeadlineSeconds"), "{out}");
}

#[test]
fn create_and_apply_with_validation_on() {
    let s = Server::start_default();
    let path = s.tmp().join("multi.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: multi\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: multi\ndata:\n  a: \"1\"\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = s.must(&["apply", "-f", p]);
    assert!(
        out.contains("namespace/multi created") && out.contains("configmap/applied created"),
        "{out}"
    );
    let cm = s.get_json(&["-n", "multi", "cm", "applied"]);
    assert!(
        cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string(),
        "{cm}"
    );
    let err = s.fails(&["create", "-f", p]);
    assert!(err.contains("AlreadyExists"), "{err}");
}

#[test]
fn auth_reviews_answer() {
    let s = Server::start_default();
    assert_eq!(s.must(&["auth", "can-i", "delete", "pods"]).trim(), "yes");
    let out = s.must(&["auth", "whoami"]);
    assert!(
        out.contains("admin") && out.contains("system:masters"),
        "{out}"
    );
}
