//! `schedule_one` end to end over the default framework: which node wins, and the exact
//! upstream message when none fits.

use rkube_scheduler::{schedule_one, Framework, NodeInfo};
use serde_json::{json, Value};

fn node(name: &str, cpu: &str, labels: Value, spec: Value) -> NodeInfo {
    NodeInfo::new(
        json!({"metadata": {"name": name, "labels": labels}, "spec": spec,
               "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}),
        vec![],
    )
}

fn pod(cpu: &str, spec: Value) -> Value {
    let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": cpu}}}]}});
    if let (Some(dst), Value::Object(extra)) = (p["spec"].as_object_mut(), spec) {
        dst.extend(extra);
    }
    p
}

fn cluster() -> Vec<NodeInfo> {
    let cp_taint = json!({"taints": [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]});
    vec![
        node("cp", "8", json!({"zone": "a"}), cp_taint),
        node("w1", "1", json!({"zone": "a"}), json!({})),
        node("w2", "2", json!({"zone": "b"}), json!({})),
    ]
}

#[test]
fn schedule_table() {
    let fw = Framework::default();
    let cases: Vec<(&str, Value, Result<&str, &str>)> = vec![
        // the emptiest untainted node wins
        ("500m", json!({}), Ok("w2")),
        ("1500m", json!({}), Ok("w2")),
        // tolerating the control-plane taint makes the big node the best
        (
            "1",
            json!({"tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                      "operator": "Exists"}]}),
            Ok("cp"),
        ),
        ("100m", json!({"nodeSelector": {"zone": "a"}}), Ok("w1")),
        ("100m", json!({"nodeName": "w1"}), Ok("w1")),
        (
            "100m",
            json!({"affinity": {"nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]}]}}]}}}),
            Ok("w1"),
        ),
        (
            "4",
            json!({}),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint \
             {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 \
             nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption \
             victims found for incoming pod."),
        ),
        (
            "100m",
            json!({"nodeSelector": {"zone": "c"}}),
            Err("0/3 nodes are available: 1 node(s) had untolerated taint \
             {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node \
             affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not \
             helpful for scheduling."),
        ),
        (
            "100m",
            json!({"nodeName": "elsewhere"}),
            Err(
                "0/3 nodes are available: 3 node(s) didn't match the requested node name. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            ),
        ),
    ];
    for (cpu, extra, want) in cases {
        let p = pod(cpu, extra);
        let got = schedule_one(&fw, &p, &cluster())
            .map(|r| r.node)
            .map_err(|e| e.to_string());
        assert_eq!(got, want.map(String::from).map_err(String::from), "{p}");
    }
}

#[test]
fn cordoned_and_ports() {
    let fw = Framework::default();
    let mut nodes = cluster();
    nodes[2] = node("w2", "2", json!({}), json!({"unschedulable": true}));
    let web = json!({"metadata": {"name": "web"}, "spec": {"containers": [
        {"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}});
    nodes[1].add_pod(web.clone());
    let err = schedule_one(&fw, &web, &nodes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, \
         1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) \
         were unschedulable. preemption: 0/3 nodes are available: 1 No preemption victims found \
         for incoming pod, 2 Preemption is not helpful for scheduling."
    );
}

#[test]
fn ties_break_by_name_and_assumed_pods_count() {
    let fw = Framework::default();
    let mut nodes = vec![
        node("b", "2", json!({}), json!({})),
        node("a", "2", json!({}), json!({})),
    ];
    let p = pod("1", json!({}));
    assert_eq!(schedule_one(&fw, &p, &nodes).unwrap().node, "a");
    // once the pod is assumed on "a", the next identical pod goes to "b", then nothing fits
    nodes[1].add_pod(p.clone());
    assert_eq!(schedule_one(&fw, &p, &nodes).unwrap().node, "b");
    nodes[0].add_pod(p.clone());
    nodes[0].add_pod(p.clone());
    nodes[1].add_pod(p.clone());
    assert!(schedule_one(&fw, &p, &nodes).is_err());
    assert_eq!(
        schedule_one(&fw, &p, &[]).unwrap_err().to_string(),
        "no nodes available to schedule pods"
    );
    // malformed objects never panic
    let junk = [NodeInfo::new(json!("x"), vec![json!(1)])];
    assert!(schedule_one(&fw, &json!(null), &junk).is_err());
}
