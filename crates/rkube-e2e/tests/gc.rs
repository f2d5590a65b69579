//! Cascading deletion and the serviceaccount controller through the real kubectl:
//! `kubectl delete --cascade=background|orphan|foreground` on a ReplicaSet whose dependents
//! are ConfigMaps (so no other controller touches them), and the `default` ServiceAccount of
//! a new namespace.

use rkube_e2e::*;

/// A ReplicaSet with no replicas: only its dependents matter here.
fn replicaset(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {name}\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers: [{{name: c, image: busybox}}]\n"
    )
}

/// A ConfigMap owned by the ReplicaSet `owner` (blocking its foreground deletion), with
/// `finalizers`.
fn dependent(s: &Server, name: &str, owner: &str, finalizers: &str) -> String {
    let uid = s.must(&["get", "rs", owner, "-o", "jsonpath={.metadata.uid}"]);
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  finalizers: [{finalizers}]\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: ReplicaSet, name: {owner}, uid: {uid}, blockOwnerDeletion: true}}\ndata: {{k: v}}\n"
    )
}

#[test]
fn cascading_deletion_of_a_replicaset() {
    let s = Server::start_default();
    for rs in ["bg", "orph", "fg"] {
        s.create(&replicaset(rs));
    }
    s.create(&dependent(&s, "bg-dep", "bg", ""));
    s.create(&dependent(&s, "orph-dep", "orph", ""));
    s.create(&dependent(&s, "fg-dep", "fg", "example.com/hold"));

    let out = s.must(&["delete", "rs", "bg", "--cascade=background"]);
    assert!(out.contains("replicaset.apps \"bg\" deleted"), "{out}");
    wait_until(WAIT, "dependent deleted in the background", || {
        !s.kc().exists(&["cm", "bg-dep"])
    });

    s.must(&["delete", "rs", "orph", "--cascade=orphan"]);
    wait_until(WAIT, "orphaned owner gone", || {
        !s.kc().exists(&["rs", "orph"])
    });
    let owners = s.must(&[
        "get",
        "cm",
        "orph-dep",
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert_eq!(
        owners, "",
        "the dependent keeps no reference to its deleted owner"
    );

    s.must(&["delete", "rs", "fg", "--cascade=foreground", "--wait=false"]);
    wait_until(WAIT, "dependent being deleted", || {
        let ts = s.must(&[
            "get",
            "cm",
            "fg-dep",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ]);
        !ts.is_empty()
    });
    let fins = s.must(&["get", "rs", "fg", "-o", "jsonpath={.metadata.finalizers}"]);
    assert!(fins.contains("foregroundDeletion"), "{fins}");
    s.must(&[
        "patch",
        "cm",
        "fg-dep",
        "--type=merge",
        "-p",
        "{\"metadata\":{\"finalizers\":null}}",
    ]);
    wait_until(WAIT, "owner deleted after its dependent", || {
        !s.kc().exists(&["rs", "fg"])
    });
}

#[test]
fn new_namespace_gets_a_default_serviceaccount() {
    let s = Server::start_default();
    s.must(&["create", "namespace", "team-a"]);
    wait_until(WAIT, "default serviceaccount in team-a", || {
        s.must(&["get", "sa", "-n", "team-a", "-o", "name"])
            .lines()
            .any(|l| l == "serviceaccount/default")
    });
    let table = s.must(&["get", "sa", "-n", "team-a"]);
    assert!(table.lines().any(|l| l.starts_with("default ")), "{table}");
}
