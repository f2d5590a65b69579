//! Patch paths with the real kubectl: client-side re-apply (strategic merge patches with
//! `$setElementOrder` and deletions), `set image`, `rollout pause/resume`, `edit`, the three
//! `patch` types, `diff`, `scale`.

use rkube_e2e::*;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: busybox:1
        env:
        - {name: A, value: \"1\"}
        - {name: B, value: \"2\"}
";

fn field(s: &Server, path: &str) -> String {
    s.must(&["get", "deploy", "web", "-o", &format!("jsonpath={path}")])
}

fn patch_flow(s: &Server, k: &Kubectl) {
    let file = s.tmp().join("d.yaml");
    std::fs::write(&file, DEPLOY).unwrap();
    let f = file.to_str().unwrap();
    assert!(k
        .must(&["apply", "-f", f])
        .contains("deployment.apps/web created"));

    // Re-apply with an env entry removed and replicas changed.
    std::fs::write(
        &file,
        DEPLOY
            .replace("        - {name: B, value: \"2\"}\n", "")
            .replace("replicas: 1", "replicas: 3"),
    )
    .unwrap();
    assert!(k.must(&["apply", "-f", f]).contains("configured"));
    assert_eq!(field(s, "{.spec.replicas}"), "3");
    assert_eq!(
        field(s, "{.spec.template.spec.containers[0].env[*].name}"),
        "A"
    );

    // Nothing changed: apply reports unchanged, diff finds no difference (exit 0).
    assert!(k.must(&["apply", "-f", f]).contains("unchanged"));
    let out = k.run(&["diff", "-f", f]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    k.must(&["set", "image", "deploy/web", "c=busybox:2"]);
    assert_eq!(
        field(s, "{.spec.template.spec.containers[0].image}"),
        "busybox:2"
    );
    k.must(&["rollout", "pause", "deploy/web"]);
    assert_eq!(field(s, "{.spec.paused}"), "true");
    k.must(&["rollout", "resume", "deploy/web"]);
    assert_eq!(field(s, "{.spec.paused}"), "");

    let mut edit = k.command(&["edit", "deploy", "web"]);
    edit.env("EDITOR", "sed -i s/busybox:2/busybox:3/");
    let out = run_with_timeout(edit, None, std::time::Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        field(s, "{.spec.template.spec.containers[0].image}"),
        "busybox:3"
    );

    k.must(&["patch", "deploy", "web", "-p", r#"{"spec":{"replicas":5}}"#]);
    assert_eq!(field(s, "{.spec.replicas}"), "5");
    k.must(&[
        "patch",
        "deploy",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":4}}"#,
    ]);
    assert_eq!(field(s, "{.spec.replicas}"), "4");
    k.must(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    ]);
    assert_eq!(field(s, "{.spec.replicas}"), "2");
    k.must(&["scale", "deploy", "web", "--replicas=6"]);
    assert_eq!(field(s, "{.spec.replicas}"), "6");

    // diff shows the pending change and exits 1.
    let out = k.run(&["diff", "-f", f]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("+  replicas: 3"));

    // A strategic patch that names a container without its merge key is refused.
    let err = k.fails(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
    ]);
    assert!(
        err.contains("does not contain declared merge key: name"),
        "{err}"
    );
}

#[test]
fn patch_paths_with_kubectl_1_32() {
    let s = Server::start_default();
    patch_flow(&s, &s.kc());
}

#[test]
fn patch_paths_with_kubectl_1_33() {
    let s = Server::start_default();
    patch_flow(&s, &s.kc_at("1.33"));
}
