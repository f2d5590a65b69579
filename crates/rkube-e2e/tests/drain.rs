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
