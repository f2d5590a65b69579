//! `kubectl cordon`, `drain` (through the pods/eviction subresource) and `uncordon` on a node
//! object (no kubelet yet, so the node is created by hand and eviction uses grace period 0).

use rkube_e2e::*;

const NODE: &str = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n  conditions:\n  - {type: Ready, status: \"True\"}\n";
const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n  nodeName: n1\n  containers: [{name: c, image: busybox}]\n";

#[test]
fn cordon_drain_uncordon() {
    let s = Server::start_default();
    s.kc().must_stdin(&["create", "-f", "-"], Some(NODE));
    s.kc().must_stdin(&["create", "-f", "-"], Some(POD));
    let out = s.must(&[
        "drain",
        "n1",
        "--grace-period=0",
        "--force",
        "--timeout=60s",
    ]);
    assert!(
        out.contains("pod/p1 evicted") && out.contains("node/n1 drained"),
        "{out}"
    );
    assert!(!s.kc().exists(&["pod", "p1"]));
    let nodes = s.must(&["get", "nodes"]);
    assert!(nodes.contains("Ready,SchedulingDisabled"), "{nodes}");
    s.must(&["uncordon", "n1"]);
    assert_eq!(
        s.must(&["get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}"]),
        ""
    );
}

/// `kubectl drain` respects a PodDisruptionBudget: the disruption controller keeps its status,
/// evictions spend it, and the drain proceeds as replacements become Ready elsewhere.
#[test]
fn drain_respects_disruption_budgets() {
    let s = Server::start(ServerOpts {
        extra_args: vec!["--fake-nodes".into(), "2".into()],
        ..Default::default()
    });
    s.wait_nodes_ready(2);
    s.must(&["cordon", "fake-node-1"]);
    s.must(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=3",
    ]);
    s.must(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    s.must(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    wait_until(WAIT, "the budget allows one disruption", || {
        let pdb = s.must(&["get", "pdb", "web", "--no-headers"]);
        pdb.split_whitespace().nth(3) == Some("1")
    });
    let status = s.get_json(&["pdb", "web"])["status"].clone();
    assert_eq!(status["currentHealthy"], 3, "{status}");
    assert_eq!(status["desiredHealthy"], 2, "{status}");
    // All three pods sit on fake-node-0; draining it moves them one at a time.
    s.must(&["uncordon", "fake-node-1"]);
    let out = s.must(&[
        "drain",
        "fake-node-0",
        "--ignore-daemonsets",
        "--timeout=90s",
    ]);
    assert!(out.contains("node/fake-node-0 drained"), "{out}");
    let pods = s.get_json(&["pods", "-l", "app=web"]);
    let nodes: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["spec"]["nodeName"].as_str())
        .collect();
    assert_eq!(nodes, ["fake-node-1"; 3], "{pods}");
}
