//! The scheduler end to end with fake nodes and the real kubectl: node selection by
//! nodeSelector, affinity, taints and tolerations, cordon, resources, `spec.nodeName` by hand,
//! and the upstream `FailedScheduling` messages.

use rkube_e2e::*;
use serde_json::{json, Value};

fn pod_on(s: &Server, name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "c", "image": "busybox"}]);
    let p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}}, "spec": spec});
    s.create(&p.to_string());
    p
}

fn node_of(s: &Server, pod: &str) -> String {
    s.get_json(&["pod", pod])["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn fake_nodes_run_scheduled_pods() {
    let s = Server::with_fake_nodes(2, &[]);
    let nodes = s.get_json(&["nodes"]);
    let node = &nodes["items"][0];
    assert_eq!(node["metadata"]["labels"]["node.rkube.io/fake"], "true");
    assert_eq!(node["status"]["allocatable"]["pods"], "110");
    assert!(s
        .kc()
        .exists(&["lease", "-n", "kube-node-lease", "fake-node-0"]));
    pod_on(&s, "web", json!({}));
    let pod = s.wait_pod_phase("web", "Running");
    let ip = pod["status"]["podIP"].as_str().unwrap();
    let node = pod["spec"]["nodeName"].as_str().unwrap();
    let cidr = s.must(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"]);
    let prefix = cidr.trim_end_matches("0/24");
    assert!(ip.starts_with(prefix), "pod IP {ip} outside {cidr}");
    let conds = s.must(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}",
    ]);
    assert_eq!(conds, "True");
    let msg = s.wait_event(
        "pod/web",
        "Scheduled",
        "Successfully assigned default/web to",
    );
    assert!(msg.ends_with(node), "{msg}");
    let out = s.must(&["get", "pods", "-o", "wide"]);
    assert_eq!(cell(&out, "web", "STATUS"), "Running");
    assert_eq!(cell(&out, "web", "READY"), "1/1");
    // Graceful deletion is completed by the fake kubelet.
    s.must(&["delete", "pod", "web", "--timeout=30s"]);
    assert!(!s.kc().exists(&["pod", "web"]));
}

#[test]
fn run_for_and_exit_code_follow_restart_policy() {
    let s = Server::with_fake_nodes(1, &[]);
    let mk = |name: &str, policy: &str, code: &str| {
        let p = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {
                "fake.rkube.io/run-for": "500ms", "fake.rkube.io/exit-code": code}},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox"}]}});
        s.create(&p.to_string());
    };
    mk("ok", "Never", "0");
    mk("bad", "Never", "2");
    mk("retry", "OnFailure", "1");
    s.wait_pod_phase("ok", "Succeeded");
    let bad = s.wait_pod_phase("bad", "Failed");
    assert_eq!(
        bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
        2
    );
    wait_until(WAIT, "retry restarts", || {
        let p = s.get_json(&["pod", "retry"]);
        p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1)
            && p["status"]["phase"] == "Running"
    });
    let out = s.must(&["get", "pods"]);
    assert_eq!(cell(&out, "ok", "STATUS"), "Completed");
    assert_eq!(cell(&out, "bad", "STATUS"), "Error");
}

#[test]
fn node_name_set_by_hand_bypasses_the_scheduler() {
    let s = Server::with_fake_nodes(2, &[]);
    s.must(&["cordon", "fake-node-1"]);
    pod_on(&s, "pinned", json!({"nodeName": "fake-node-1"}));
    s.wait_pod_phase("pinned", "Running");
    assert_eq!(node_of(&s, "pinned"), "fake-node-1");
}

#[test]
fn selectors_affinity_taints_and_cordon() {
    let s = Server::with_fake_nodes(3, &[]);
    s.must(&["label", "node", "fake-node-0", "disk=ssd", "size=10"]);
    s.must(&["label", "node", "fake-node-2", "size=30"]);
    s.must(&["taint", "node", "fake-node-2", "dedicated=gpu:NoSchedule"]);

    pod_on(&s, "sel", json!({"nodeSelector": {"disk": "ssd"}}));
    s.wait_pod_phase("sel", "Running");
    assert_eq!(node_of(&s, "sel"), "fake-node-0");

    // Gt on a label value: only fake-node-2 (size=30), which needs a toleration.
    let gt = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["20"]}]}]}}});
    pod_on(&s, "untolerated", json!({"affinity": gt}));
    let msg = s.wait_event(
        "pod/untolerated",
        "FailedScheduling",
        "0/3 nodes are available",
    );
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let pending = s.get_json(&["pod", "untolerated"]);
    assert_eq!(pending["status"]["phase"], "Pending");
    let cond = pending["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "Unschedulable");

    pod_on(
        &s,
        "tolerated",
        json!({"affinity": gt, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    s.wait_pod_phase("tolerated", "Running");
    assert_eq!(node_of(&s, "tolerated"), "fake-node-2");

    // Removing the taint lets the pending pod in.
    s.must(&["taint", "node", "fake-node-2", "dedicated=gpu:NoSchedule-"]);
    s.wait_pod_phase("untolerated", "Running");

    // Cordon every node but one: new pods land there; kubectl shows SchedulingDisabled.
    s.must(&["cordon", "fake-node-0"]);
    s.must(&["cordon", "fake-node-2"]);
    let nodes = s.must(&["get", "nodes"]);
    assert_eq!(
        cell(&nodes, "fake-node-0", "STATUS"),
        "Ready,SchedulingDisabled"
    );
    for i in 0..3 {
        pod_on(&s, &format!("c{i}"), json!({}));
    }
    for i in 0..3 {
        s.wait_pod_phase(&format!("c{i}"), "Running");
        assert_eq!(node_of(&s, &format!("c{i}")), "fake-node-1");
    }
    s.must(&["cordon", "fake-node-1"]);
    pod_on(&s, "nowhere", json!({}));
    s.wait_event(
        "pod/nowhere",
        "FailedScheduling",
        "3 node(s) were unschedulable",
    );
    s.must(&["uncordon", "fake-node-1"]);
    s.wait_pod_phase("nowhere", "Running");
}

#[test]
fn insufficient_resources_stay_pending_until_capacity_frees() {
    let s = Server::with_fake_nodes(2, &["--fake-node-capacity", "cpu=2,memory=4Gi,pods=10"]);
    let big = |name: &str| {
        let p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "1500m", "memory": "1Gi"}}}]}});
        s.create(&p.to_string());
    };
    big("a");
    big("b");
    s.wait_pod_phase("a", "Running");
    s.wait_pod_phase("b", "Running");
    assert_ne!(
        node_of(&s, "a"),
        node_of(&s, "b"),
        "assumed pods must not overcommit"
    );
    big("c");
    let msg = s.wait_event("pod/c", "FailedScheduling", "Insufficient cpu");
    assert!(
        msg.starts_with("0/2 nodes are available: 2 Insufficient cpu."),
        "{msg}"
    );
    s.must(&["delete", "pod", "a", "--timeout=30s"]);
    s.wait_pod_phase("c", "Running");
}

#[test]
fn required_anti_affinity_spreads_replicas_one_per_node() {
    let s = Server::with_fake_nodes(3, &[]);
    let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "spread"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "spread"}},
            "template": {"metadata": {"labels": {"app": "spread"}}, "spec": {
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "spread"}},
                     "topologyKey": "kubernetes.io/hostname"}]}},
                "containers": [{"name": "c", "image": "busybox"}]}}}});
    s.create(&dep.to_string());
    s.must(&["rollout", "status", "deployment/spread", "--timeout=60s"]);
    let pods = s.get_json(&["pods", "-l", "app=spread"]);
    let mut nodes: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["fake-node-0", "fake-node-1", "fake-node-2"]);
    // A fourth replica has nowhere to go.
    s.must(&["scale", "deployment/spread", "--replicas=4"]);
    let mut pending = String::new();
    wait_until(WAIT, "a pending fourth replica", || {
        let list = s.get_json(&[
            "pods",
            "-l",
            "app=spread",
            "--field-selector",
            "status.phase=Pending",
        ]);
        match list["items"][0]["metadata"]["name"].as_str() {
            Some(n) => {
                pending = n.to_string();
                true
            }
            None => false,
        }
    });
    let msg = s.wait_event(&format!("pod/{pending}"), "FailedScheduling", "0/3 nodes");
    assert!(
        msg.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."),
        "{msg}"
    );
}

#[test]
fn higher_priority_pod_preempts_a_lower_one() {
    let s = Server::with_fake_nodes(1, &["--fake-node-capacity", "cpu=1,memory=2Gi,pods=10"]);
    s.create(
        r#"{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "high"}, "value": 1000}"#,
    );
    let mk = |name: &str, class: Option<&str>| {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "700m"}}}]});
        if let Some(c) = class {
            spec["priorityClassName"] = json!(c);
        }
        s.create(
            &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name}, "spec": spec})
            .to_string(),
        );
    };
    mk("low", None);
    s.wait_pod_phase("low", "Running");
    assert_eq!(s.get_json(&["pod", "low"])["spec"]["priority"], 0);
    mk("high", Some("high"));
    let high = s.get_json(&["pod", "high"]);
    assert_eq!(high["spec"]["priority"], 1000);
    assert_eq!(high["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    let uid = high["metadata"]["uid"].as_str().unwrap().to_string();
    let msg = s.wait_event("pod/low", "Preempted", "Preempted by pod");
    assert_eq!(msg, format!("Preempted by pod {uid} on node fake-node-0"));
    let high = s.wait_pod_phase("high", "Running");
    assert_eq!(high["spec"]["nodeName"], "fake-node-0");
    assert!(!s.kc().exists(&["pod", "low"]));

    // Unknown classes are refused by admission, with upstream's text.
    let err = s.kc().fails_stdin(
        &["create", "-f", "-"],
        Some(r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
                 "spec": {"priorityClassName": "nope", "containers": [{"name": "c", "image": "b"}]}}"#),
    );
    assert!(
        err.contains(r#"pods "x" is forbidden: no PriorityClass with name nope was found"#),
        "{err}"
    );
    // The built-in classes exist.
    let classes = s.must(&["get", "priorityclasses", "-o", "name"]);
    assert!(
        classes.contains("priorityclass.scheduling.k8s.io/system-node-critical"),
        "{classes}"
    );
}

#[test]
fn scheduler_config_selects_profiles_by_scheduler_name() {
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: default-scheduler\n- schedulerName: packer\n  pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: MostAllocated\n",
    )
    .unwrap();
    let path = cfg.path().display().to_string();
    let s = Server::with_fake_nodes(2, &["--scheduler-config", &path]);
    // MostAllocated packs pods onto the node that already has the most requested.
    let mk = |name: &str, scheduler: &str| {
        s.create(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "1"}}}]}})
            .to_string(),
        );
    };
    mk("p0", "packer");
    s.wait_pod_phase("p0", "Running");
    let first = node_of(&s, "p0");
    for i in 1..4 {
        mk(&format!("p{i}"), "packer");
        s.wait_pod_phase(&format!("p{i}"), "Running");
        assert_eq!(
            node_of(&s, &format!("p{i}")),
            first,
            "MostAllocated should pack"
        );
    }
    // A pod for a scheduler nobody runs stays Pending, untouched.
    mk("other", "someone-else");
    mk("marker", "default-scheduler");
    s.wait_pod_phase("marker", "Running");
    let other = s.get_json(&["pod", "other"]);
    assert_eq!(other["status"]["phase"], "Pending");
    assert!(other["spec"]["nodeName"].is_null());
}
