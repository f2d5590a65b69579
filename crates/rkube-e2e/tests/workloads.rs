//! DaemonSets and StatefulSets end to end on fake nodes with the real kubectl: `kubectl
//! rollout status`, `rollout history` and `rollout undo` (which read the controllers'
//! ControllerRevisions and patch their data back), and ordered StatefulSet pod creation.

use rkube_e2e::*;
use serde_json::Value;

const DS: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: c, image: 'busybox:1'}]
";

const STS: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  serviceName: web
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 0
      containers: [{name: c, image: 'busybox:1'}]
";

/// `(pod name, node, image)` of the live pods labelled `app=<app>`, sorted.
fn pods(s: &Server, app: &str) -> Vec<(String, String, String)> {
    let list = s.get_json(&["pods", "-l", &format!("app={app}")]);
    let mut out: Vec<(String, String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&p["metadata"]["name"]),
                s(&p["spec"]["nodeName"]),
                s(&p["spec"]["containers"][0]["image"]),
            )
        })
        .collect();
    out.sort();
    out
}

/// The REVISION column of `kubectl rollout history`.
fn history_revisions(out: &str) -> Vec<String> {
    lines(out)
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.bytes().all(|b| b.is_ascii_digit()))
        .map(String::from)
        .collect()
}

fn all_images(s: &Server, app: &str, n: usize, image: &str) -> bool {
    let p = pods(s, app);
    p.len() == n && p.iter().all(|(_, _, i)| i == image)
}

#[test]
fn daemonset_rollout_status_history_and_undo() {
    let s = Server::with_fake_nodes(3, &[]);
    s.create(DS);
    let out = s.must(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );
    let p = pods(&s, "agent");
    let mut nodes: Vec<&str> = p.iter().map(|(_, n, _)| n.as_str()).collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["fake-node-0", "fake-node-1", "fake-node-2"],
        "{p:?}"
    );

    s.must(&["set", "image", "ds/agent", "c=busybox:2"]);
    let out = s.must(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    wait_until(WAIT, "all daemon pods on busybox:2", || {
        all_images(&s, "agent", 3, "busybox:2")
    });
    let history = s.must(&["rollout", "history", "ds/agent"]);
    let revisions = history_revisions(&history);
    assert_eq!(revisions, ["1", "2"], "{history}");
    let rev1 = s.must(&["rollout", "history", "ds/agent", "--revision=1"]);
    assert!(rev1.contains("busybox:1"), "{rev1}");

    let out = s.must(&["rollout", "undo", "ds/agent"]);
    assert!(out.contains("daemonset.apps/agent rolled back"), "{out}");
    let out = s.must(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    wait_until(WAIT, "all daemon pods back on busybox:1", || {
        all_images(&s, "agent", 3, "busybox:1")
    });
    let history = s.must(&["rollout", "history", "ds/agent"]);
    let revisions = history_revisions(&history);
    assert_eq!(
        revisions,
        ["2", "3"],
        "the first revision is re-used as 3: {history}"
    );
}

#[test]
fn statefulset_ordered_rollout_status_and_undo() {
    let s = Server::with_fake_nodes(3, &[]);
    s.create(STS);
    let out = s.must(&["rollout", "status", "sts/web", "--timeout=60s"]);
    // The server defaults `rollingUpdate.partition: 0`, so kubectl reports a partitioned
    // roll out, as against upstream.
    assert!(
        out.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{out}"
    );
    let p = pods(&s, "web");
    let names: Vec<&str> = p.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);

    // The controller's SuccessfulCreate events, in the order they were written (event
    // names end in the hex nanoseconds of their creation).
    let events = s.get_json(&[
        "events",
        "--field-selector",
        "involvedObject.name=web,reason=SuccessfulCreate",
    ]);
    let mut created: Vec<(u128, String)> = events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e["metadata"]["name"].as_str()?;
            let nanos = u128::from_str_radix(name.rsplit('.').next()?, 16).ok()?;
            Some((nanos, e["message"].as_str()?.to_string()))
        })
        .collect();
    created.sort();
    let messages: Vec<&str> = created.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "create Pod web-0 in StatefulSet web successful",
            "create Pod web-1 in StatefulSet web successful",
            "create Pod web-2 in StatefulSet web successful",
        ]
    );

    s.must(&["set", "image", "sts/web", "c=busybox:2"]);
    let out = s.must(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("roll out complete: 3 new pods"), "{out}");
    wait_until(WAIT, "all pods on busybox:2", || {
        all_images(&s, "web", 3, "busybox:2")
    });

    let out = s.must(&["rollout", "undo", "sts/web"]);
    assert!(out.contains("statefulset.apps/web rolled back"), "{out}");
    let out = s.must(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(out.contains("roll out complete: 3 new pods"), "{out}");
    wait_until(WAIT, "all pods back on busybox:1", || {
        all_images(&s, "web", 3, "busybox:1")
    });
    let history = s.must(&["rollout", "history", "sts/web"]);
    assert!(
        lines(&history).iter().any(|l| l.starts_with('3')),
        "{history}"
    );
}
