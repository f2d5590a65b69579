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
    // The v2 (protobuf) document, kubectl's fallback, read through explain's v2 printer.
    let out = s.must(&[
        "explain",
        "deploy.spec.strategy",
        "--output=plaintext-openapiv2",
    ]);
    assert!(
        out.contains("RESOURCE: strategy <Object>") && out.contains("rollingUpdate"),
        "{out}"
    );
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

#[test]
fn more_typed_commands_set_annotate_replace() {
    let s = Server::start_default();
    let file = s.tmp().join("f.txt");
    std::fs::write(&file, "hello\n").unwrap();
    let env = s.tmp().join("e.env");
    std::fs::write(&env, "A=1\nB=2\n").unwrap();
    s.must(&[
        "create",
        "configmap",
        "c1",
        &format!("--from-file={}", file.display()),
    ]);
    assert_eq!(s.get_json(&["cm", "c1"])["data"]["f.txt"], "hello\n");
    s.must(&[
        "create",
        "configmap",
        "c2",
        &format!("--from-env-file={}", env.display()),
    ]);
    assert_eq!(s.get_json(&["cm", "c2"])["data"]["B"], "2");
    for args in [
        vec![
            "create",
            "cronjob",
            "cj",
            "--image=busybox",
            "--schedule=*/5 * * * *",
        ],
        vec!["create", "quota", "q", "--hard=pods=10"],
        vec![
            "create",
            "pdb",
            "pdb",
            "--selector=app=web",
            "--min-available=1",
        ],
        vec!["create", "rolebinding", "rb", "--role=r", "--user=u"],
        vec![
            "create",
            "clusterrole",
            "cr",
            "--verb=get",
            "--resource=pods",
        ],
        vec![
            "create",
            "clusterrolebinding",
            "crb",
            "--clusterrole=cr",
            "--user=u",
        ],
        vec!["create", "priorityclass", "pc", "--value=100"],
        vec!["create", "ingress", "ing", "--rule=a.com/=svc:80"],
        vec!["create", "deployment", "web", "--image=nginx"],
        vec!["set", "env", "deploy/web", "X=1"],
        vec![
            "set",
            "resources",
            "deploy/web",
            "--limits=cpu=200m,memory=64Mi",
        ],
        vec!["annotate", "deploy", "web", "a=1"],
        vec!["annotate", "deploy", "web", "a=2", "--overwrite"],
        vec!["autoscale", "deploy", "web", "--max=5"],
    ] {
        s.must(&args);
    }
    let d = s.get_json(&["deploy", "web"]);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["env"][0]["name"], "X", "{d}");
    assert_eq!(c["resources"]["limits"]["memory"], "64Mi", "{d}");
    assert_eq!(d["metadata"]["annotations"]["a"], "2");
    s.must(&["annotate", "deploy", "web", "a-"]);
    assert!(s.get_json(&["deploy", "web"])["metadata"]["annotations"]
        .get("a")
        .is_none());
    // Without --overwrite an existing annotation is not replaced (kubectl checks the live object).
    s.must(&["annotate", "deploy", "web", "x=1"]);
    let err = s.fails(&["annotate", "deploy", "web", "x=2"]);
    assert!(err.contains("--overwrite is false"), "{err}");

    // get -o json | replace -f -, and replace -f FILE.
    let json = s.must(&["get", "deploy", "web", "-o", "json"]);
    let out = s.kc().must_stdin(&["replace", "-f", "-"], Some(&json));
    assert!(out.contains("deployment.apps/web replaced"), "{out}");
    let yaml = s.tmp().join("w.yaml");
    std::fs::write(&yaml, s.must(&["get", "deploy", "web", "-o", "yaml"])).unwrap();
    assert!(s
        .must(&["replace", "-f", yaml.to_str().unwrap()])
        .contains("replaced"));
    let hpa = s.get_json(&["hpa", "web"]);
    assert_eq!(hpa["spec"]["maxReplicas"], 5, "{hpa}");
}
