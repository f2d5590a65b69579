//! `rkube agent` joining a server with the join token: it checks the server CA against the
//! token's hash before sending the secret, then registers its (fake) nodes over HTTPS, and the
//! scheduler places pods on them.

use rkube_e2e::*;
use std::process::{Command, Stdio};
use std::time::Duration;

fn agent(s: &Server, token: &str, prefix: &str) -> std::process::Child {
    Command::new(rkube_bin())
        .args([
            "agent",
            "--server",
            &format!("https://127.0.0.1:{}", s.port),
            "--token",
            token,
            "--fake-nodes",
            "2",
            "--fake-node-prefix",
            prefix,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rkube agent")
}

#[test]
fn agent_joins_with_token_and_runs_pods() {
    let s = Server::start_default();
    let token = std::fs::read_to_string(s.data_dir.join("token")).expect("read join token");
    let token = token.trim();
    assert!(
        token.starts_with("K10") && token.contains("::server:"),
        "{token}"
    );
    let mut child = agent(&s, token, "edge-");
    s.wait_nodes_ready(2);
    let node = s.get_json(&["node", "edge-1"]);
    assert_eq!(node["metadata"]["labels"]["node.rkube.io/fake"], "true");
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": "edge-1"},
                 "containers": [{"name": "c", "image": "busybox"}]}});
    s.create(&pod.to_string());
    let p = s.wait_pod_phase("p", "Running");
    assert_eq!(p["spec"]["nodeName"], "edge-1");
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).is_some_and(|st| st.success()));
}

#[test]
fn agent_refuses_a_server_whose_ca_does_not_match_the_token() {
    let s = Server::start_default();
    let token = std::fs::read_to_string(s.data_dir.join("token")).expect("read join token");
    let secret = token.trim().split("::").nth(1).unwrap();
    let forged = format!("K10{}::{secret}", "0".repeat(64));
    let mut child = agent(&s, &forged, "bad-");
    let status = wait_exit(&mut child, Duration::from_secs(20)).expect("agent should exit");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("does not match the token"), "{err}");
    assert!(s.must(&["get", "nodes", "-o", "name"]).is_empty());
}
