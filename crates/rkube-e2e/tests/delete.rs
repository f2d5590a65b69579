//! Deletion: `delete` (with and without waiting), `wait --for=delete`, finalizers, graceful pod
//! deletion and namespace deletion.

use rkube_e2e::*;
use serde_json::Value;
use std::time::Duration;

#[test]
fn delete_removes_objects() {
    let s = Server::start_default();
    s.create(&configmap("gone", "default", &[]));
    s.create(&configmap("also-gone", "default", &[]));
    s.create(&configmap("stays", "default", &[]));

    let out = s.must(&["delete", "cm", "gone", "--wait=true", "--timeout=30s"]);
    assert_eq!(out.trim(), "configmap \"gone\" deleted");
    let err = s.fails(&["get", "cm", "gone"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"gone\" not found"),
        "{err}"
    );

    let out = s.must(&["delete", "configmap/also-gone", "--wait=false"]);
    assert_eq!(out.trim(), "configmap \"also-gone\" deleted");
    wait_until(WAIT, "also-gone is gone", || {
        !s.kc().exists(&["cm", "also-gone"])
    });
    assert!(
        s.kc().exists(&["cm", "stays"]),
        "an unrelated configmap was deleted"
    );

    let err = s.fails(&["delete", "cm", "never-was"]);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"never-was\" not found"),
        "{err}"
    );
    let out = s.must(&["delete", "cm", "never-was", "--ignore-not-found"]);
    assert!(out.trim().is_empty(), "{out}");
}

#[test]
fn delete_by_label_selector() {
    let s = Server::start_default();
    for (n, l) in [("x1", "x"), ("x2", "x"), ("y1", "y")] {
        s.create(&configmap(n, "default", &[("grp", l)]));
    }
    let out = s.must(&["delete", "cm", "-l", "grp=x"]);
    assert_eq!(
        lines(&out),
        ["configmap \"x1\" deleted", "configmap \"x2\" deleted"]
    );
    let out = s.must(&["get", "cm", "-l", "grp", "-o", "name"]);
    assert_eq!(lines(&out), ["configmap/y1"]);
}

#[test]
fn finalizers_hold_an_object_until_removed() {
    let s = Server::start_default();
    s.create(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\ndata:\n  a: b\n",
    );
    let out = s.must(&["delete", "cm", "held", "--wait=false"]);
    assert!(out.contains("configmap \"held\" deleted"), "{out}");

    // Still there, marked for deletion, finalizer intact.
    let obj = s.get_json(&["cm", "held"]);
    assert!(
        obj["metadata"]["deletionTimestamp"].is_string(),
        "no deletionTimestamp: {obj}"
    );
    assert_eq!(
        obj["metadata"]["finalizers"],
        serde_json::json!(["example.com/hold"]),
        "{obj}"
    );

    // `kubectl wait --for=delete` blocks while the finalizer is there ...
    let mut waiter = s
        .kc()
        .spawn(&["wait", "--for=delete", "configmap/held", "--timeout=30s"]);
    assert!(
        wait_exit(&mut waiter.child, Duration::from_secs(2)).is_none(),
        "wait --for=delete returned while the object still exists: {}{}",
        waiter.stdout(),
        waiter.stderr()
    );
    // ... an update of a terminating object must not clear deletionTimestamp ...
    let obj = s
        .kc()
        .modify(&["cm", "held"], |o| o["data"]["a"] = "c".into());
    assert_eq!(obj["data"]["a"], "c");
    let now = s.get_json(&["cm", "held"]);
    assert_eq!(now["data"]["a"], "c", "{now}");
    assert!(
        now["metadata"]["deletionTimestamp"].is_string(),
        "update cleared deletionTimestamp: {now}"
    );

    // ... and removing the finalizer lets the deletion finish.
    s.kc().modify(&["cm", "held"], |o| {
        o["metadata"].as_object_mut().unwrap().remove("finalizers");
    });
    let status = waiter.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "wait --for=delete failed: {}{}",
        waiter.stdout(),
        waiter.stderr()
    );
    assert!(
        waiter.stdout().contains("condition met"),
        "{}",
        waiter.stdout()
    );
    assert!(
        !s.kc().exists(&["cm", "held"]),
        "object survived its last finalizer"
    );
}

#[test]
fn wait_for_delete() {
    let s = Server::start_default();
    s.create(&pod("short-lived", "default", None));
    // -v=6 logs each request: delete only once the waiter watches, else there is nothing to wait
    // for and kubectl exits 0 silently.
    let mut waiter = s.kc().spawn(&[
        "wait",
        "--for=delete",
        "pod/short-lived",
        "--timeout=30s",
        "-v=6",
    ]);
    wait_until(WAIT, "kubectl wait watches the pod", || {
        waiter.stderr().contains("watch=true")
    });
    s.must(&["delete", "pod", "short-lived", "--wait=false"]);
    let status = waiter.wait(Duration::from_secs(30));
    assert!(
        status.success(),
        "{status}: {}{}",
        waiter.stdout(),
        waiter.stderr()
    );
    assert!(
        waiter.stdout().contains("pod/short-lived condition met"),
        "{}",
        waiter.stdout()
    );

    // A wait on an object that stays times out and fails.
    s.create(&pod("stays", "default", None));
    let out = s.kubectl(&["wait", "--for=delete", "pod/stays", "--timeout=1s"]);
    assert!(
        !out.status.success(),
        "wait on an existing pod must time out"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out waiting for the condition"), "{err}");
}

#[test]
fn graceful_pod_deletion() {
    let s = Server::start_default();
    // An unscheduled pod has nothing to stop: it goes at once.
    s.create(&pod("unbound", "default", None));
    s.must(&["delete", "pod", "unbound", "--wait=true", "--timeout=30s"]);
    assert!(!s.kc().exists(&["pod", "unbound"]));

    // A pod bound to a node waits for its kubelet (there is none): it stays, Terminating.
    s.create(&pod("bound", "default", Some("ghost-node")));
    s.must(&["delete", "pod", "bound", "--wait=false"]);
    let obj = s.get_json(&["pod", "bound"]);
    assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{obj}");
    assert_eq!(obj["metadata"]["deletionGracePeriodSeconds"], 30, "{obj}");
    let out = s.must(&["get", "pod", "bound"]);
    assert_eq!(cell(&out, "bound", "STATUS"), "Terminating", "{out}");

    // --force --grace-period=0 removes it right away.
    let out = s.kubectl(&["delete", "pod", "bound", "--force", "--grace-period=0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(WAIT, "pod bound is gone", || {
        !s.kc().exists(&["pod", "bound"])
    });
}

#[test]
fn namespace_deletion_terminates_then_removes_everything() {
    let s = Server::start_default();
    s.create(&namespace("doomed"));
    s.create(&configmap("plain", "doomed", &[]));
    s.create(&pod("pod", "doomed", None));
    s.create(&deployment("dep", "doomed", 1));
    // A finalizer keeps the namespace Terminating until we release it.
    s.create(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: doomed\n  finalizers:\n  - example.com/hold\n",
    );

    let out = s.must(&["delete", "namespace", "doomed", "--wait=false"]);
    assert!(out.contains("namespace \"doomed\" deleted"), "{out}");

    wait_until(WAIT, "namespace doomed is Terminating", || {
        let ns = s.get_json(&["ns", "doomed"]);
        ns["status"]["phase"] == "Terminating" && ns["metadata"]["deletionTimestamp"].is_string()
    });
    let out = s.must(&["get", "ns", "doomed"]);
    assert_eq!(cell(&out, "doomed", "STATUS"), "Terminating", "{out}");
    wait_until(WAIT, "the namespace's other objects are deleted", || {
        s.must(&["get", "cm,pods,deployments", "-n", "doomed", "-o", "name"])
            .trim()
            == "configmap/held"
    });
    let held = s.get_json(&["cm", "held", "-n", "doomed"]);
    assert!(held["metadata"]["deletionTimestamp"].is_string(), "{held}");
    assert!(
        s.kc().exists(&["ns", "doomed"]),
        "namespace went before its content"
    );

    s.kc()
        .modify(&["cm", "held", "-n", "doomed"], |o: &mut Value| {
            o["metadata"]["finalizers"] = serde_json::json!([]);
        });
    wait_until(WAIT, "namespace doomed disappears", || {
        !s.kc().exists(&["ns", "doomed"])
    });
    let out = s.must(&[
        "get",
        "cm,pods,deployments",
        "-A",
        "--field-selector",
        "metadata.namespace=doomed",
        "-o",
        "name",
    ]);
    assert!(
        out.trim().is_empty(),
        "objects outlived their namespace:\n{out}"
    );

    // The name can be reused, and starts empty.
    s.create(&namespace("doomed"));
    let out = s.must(&["get", "cm,pods,deployments", "-n", "doomed", "-o", "name"]);
    assert!(
        !out.contains("held") && !out.contains("plain") && !out.contains("dep"),
        "{out}"
    );
}

#[test]
fn delete_namespace_waits_until_gone() {
    let s = Server::start_default();
    s.create(&namespace("quick"));
    let out = s.must(&["delete", "ns", "quick", "--timeout=30s"]);
    assert!(out.contains("namespace \"quick\" deleted"), "{out}");
    assert!(
        !s.kc().exists(&["ns", "quick"]),
        "delete --wait returned before the namespace was gone"
    );
}
