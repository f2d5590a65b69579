//! Deployments and ReplicaSets end to end with the real kubectl on fake nodes (pods "run"
//! without containers): rollout status, set image, history, undo, pause/resume, Recreate,
//! scale, ReplicaSet self-healing and orphaning deletion.

use rkube_e2e::*;
use serde_json::Value;

/// `(image, spec.replicas, revision)` of each ReplicaSet with `app=<app>`, sorted by revision.
fn rss(s: &Server, app: &str) -> Vec<(String, i64, i64)> {
    let list = s.get_json(&["rs", "-l", &format!("app={app}")]);
    let mut out: Vec<(String, i64, i64)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rs| {
            let rev = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            (
                rs["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                rs["spec"]["replicas"].as_i64().unwrap_or(-1),
                rev,
            )
        })
        .collect();
    out.sort_by_key(|r| r.2);
    out
}

fn rollout_ok(s: &Server, name: &str) {
    let out = s.must(&[
        "rollout",
        "status",
        &format!("deployment/{name}"),
        "--timeout=60s",
    ]);
    assert!(
        out.contains(&format!("deployment \"{name}\" successfully rolled out")),
        "{out}"
    );
}

fn revision(s: &Server, name: &str) -> String {
    s.must(&[
        "get",
        "deployment",
        name,
        "-o",
        "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ])
}

#[test]
fn rollout_history_and_undo() {
    let s = Server::with_fake_nodes(3, &[]);
    s.must(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1",
        "--replicas=5",
    ]);
    rollout_ok(&s, "web");
    assert_eq!(revision(&s, "web"), "1");
    s.must(&["set", "image", "deployment/web", "nginx=nginx:2"]);
    rollout_ok(&s, "web");
    assert_eq!(revision(&s, "web"), "2");
    assert_eq!(
        rss(&s, "web"),
        vec![("nginx:1".into(), 0, 1), ("nginx:2".into(), 5, 2)]
    );
    let hist = s.must(&["rollout", "history", "deployment/web"]);
    let revs: Vec<String> = table(&hist)
        .iter()
        .filter_map(|r| r.first().filter(|c| c.parse::<u32>().is_ok()).cloned())
        .collect();
    assert_eq!(revs, vec!["1", "2"], "{hist}");
    s.must(&["rollout", "undo", "deployment/web"]);
    rollout_ok(&s, "web");
    assert_eq!(revision(&s, "web"), "3");
    assert_eq!(
        rss(&s, "web"),
        vec![("nginx:2".into(), 0, 2), ("nginx:1".into(), 5, 3)]
    );
    s.must(&["rollout", "undo", "deployment/web", "--to-revision=2"]);
    rollout_ok(&s, "web");
    assert_eq!(revision(&s, "web"), "4");
    assert_eq!(
        rss(&s, "web"),
        vec![("nginx:1".into(), 0, 3), ("nginx:2".into(), 5, 4)]
    );
    s.wait_event(
        "deployment/web",
        "ScalingReplicaSet",
        "Scaled down replica set web-",
    );
}

#[test]
fn pause_collects_changes_into_one_revision() {
    let s = Server::with_fake_nodes(2, &[]);
    s.must(&[
        "create",
        "deployment",
        "p",
        "--image=nginx:1",
        "--replicas=2",
    ]);
    rollout_ok(&s, "p");
    s.must(&["rollout", "pause", "deployment/p"]);
    s.must(&["set", "image", "deployment/p", "nginx=nginx:2"]);
    s.must(&["set", "env", "deployment/p", "A=1"]);
    assert_eq!(rss(&s, "p").len(), 1, "no rollout while paused");
    s.must(&["rollout", "resume", "deployment/p"]);
    rollout_ok(&s, "p");
    assert_eq!(revision(&s, "p"), "2");
    assert_eq!(
        rss(&s, "p"),
        vec![("nginx:1".into(), 0, 1), ("nginx:2".into(), 2, 2)]
    );
}

#[test]
fn recreate_scale_and_replicaset_self_healing() {
    let s = Server::with_fake_nodes(2, &[]);
    s.must(&[
        "create",
        "deployment",
        "r",
        "--image=nginx:1",
        "--replicas=3",
    ]);
    s.must(&["patch", "deployment", "r", "--type=json", "-p",
        r#"[{"op":"remove","path":"/spec/strategy/rollingUpdate"},{"op":"replace","path":"/spec/strategy/type","value":"Recreate"}]"#]);
    rollout_ok(&s, "r");
    s.must(&["set", "image", "deployment/r", "nginx=nginx:2"]);
    rollout_ok(&s, "r");
    s.must(&["scale", "deployment/r", "--replicas=2"]);
    rollout_ok(&s, "r");
    assert_eq!(rss(&s, "r").last().map(|r| r.1), Some(2));

    // A ReplicaSet on its own replaces a deleted pod.
    let rs = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: solo\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: solo}\n  template:\n    metadata:\n      labels: {app: solo}\n    spec:\n      containers: [{name: c, image: nginx}]\n";
    s.kc().must_stdin(&["create", "-f", "-"], Some(rs));
    let names = |s: &Server| -> Vec<String> {
        let pods = s.get_json(&["pods", "-l", "app=solo"]);
        pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let mut first = Vec::new();
    wait_until(WAIT, "2 solo pods", || {
        first = names(&s);
        first.len() == 2
    });
    s.must(&["delete", "pod", &first[0], "--grace-period=0", "--force"]);
    wait_until(WAIT, "a replacement pod", || {
        let now = names(&s);
        now.len() == 2 && !now.contains(&first[0])
    });
    s.wait_event("replicaset/solo", "SuccessfulCreate", "Created pod: solo-");

    // Deleting with --cascade=orphan keeps the pods, without an owner.
    s.must(&["delete", "rs", "solo", "--cascade=orphan"]);
    wait_until(WAIT, "the replica set gone", || {
        !s.kc().exists(&["rs", "solo"])
    });
    let pods = s.get_json(&["pods", "-l", "app=solo"]);
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| p["metadata"]["ownerReferences"]
        .as_array()
        .is_none_or(|r| r.is_empty())
        || p["metadata"]["ownerReferences"] == Value::Null));
}

#[test]
fn rolling_update_never_drops_below_the_availability_floor() {
    let s = Server::with_fake_nodes(3, &[]);
    s.create(
        r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "floor"},
            "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "floor"}},
              "strategy": {"type": "RollingUpdate",
                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
              "template": {"metadata": {"labels": {"app": "floor"}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]}}}}"#,
    );
    s.must(&["rollout", "status", "deployment/floor", "--timeout=60s"]);
    // Every status change of the Deployment during the update, as a watch delivers it.
    let watch = s.kc().spawn(&[
        "get",
        "deployment",
        "floor",
        "--watch-only",
        "-o",
        "jsonpath={.status.availableReplicas} {.status.updatedReplicas}{\"\\n\"}",
    ]);
    s.must(&["set", "image", "deployment/floor", "c=app:2"]);
    s.must(&["rollout", "status", "deployment/floor", "--timeout=90s"]);
    // The watch may lag the rollout's last events by a moment: wait for the final state.
    wait_until(WAIT, "the watch saw the finished rollout", || {
        watch.stdout().lines().any(|l| l.trim() == "6 6")
    });
    let out = watch.stop();
    let samples: Vec<(i64, i64)> = out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|n| n.parse::<i64>().unwrap_or(0));
            Some((it.next()?, it.next().unwrap_or(0)))
        })
        .collect();
    assert!(samples.len() >= 3, "too few samples: {out}");
    let lowest = samples.iter().map(|(a, _)| *a).min().unwrap();
    assert!(
        lowest >= 5,
        "availability fell to {lowest} (floor 6 - 1): {out}"
    );
}
