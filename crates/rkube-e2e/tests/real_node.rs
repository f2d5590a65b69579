//! The whole cluster with a real node: `rkube server` without `--disable-agent` runs containers
//! through its own containerd, gives pods IPs on the bridge, and serves Services through the
//! nftables proxy and names through the cluster DNS. Needs root, containerd, runc, the CNI
//! plugins, busybox-static and nftables (`make test` installs them). Only one such server can
//! run on a machine at a time (nextest runs this binary in its own serial group).

use rkube_e2e::*;
use std::time::Duration;

/// The container log of a pod's container, read from the CRI log file directly.
fn container_log(s: &Server, pod: &str, container: &str) -> String {
    let base = s.data_dir.join("agent/logs/pods");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return String::new();
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&format!("default_{pod}_")) {
            let file = e.path().join(container).join("0.log");
            return std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.splitn(4, ' ').nth(3))
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    String::new()
}

#[test]
fn real_pods_services_and_dns() {
    let s = Server::start(ServerOpts {
        with_agent: true,
        ..Default::default()
    });
    wait_until(Duration::from_secs(90), "the node is Ready", || {
        let out = s.must(&["get", "nodes"]);
        lines(&out).iter().skip(1).any(|l| l.contains(" Ready "))
    });
    let node = s.get_json(&["nodes"])["items"][0].clone();
    // k3s-style role label (value "true"); `kubectl get nodes` shows the role either way.
    assert!(node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].is_string());
    assert!(node["status"]["nodeInfo"]["containerRuntimeVersion"]
        .as_str()
        .unwrap()
        .starts_with("containerd://"));

    s.must(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
        "--",
        "httpd",
        "-f",
        "-p",
        "8080",
    ]);
    s.must(&[
        "patch", "deployment", "web", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"busybox","imagePullPolicy":"IfNotPresent"}]}}}}"#,
    ]);
    s.must(&[
        "expose",
        "deployment",
        "web",
        "--port=80",
        "--target-port=8080",
    ]);
    s.must(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let pods = s.get_json(&["pods", "-l", "app=web"]);
    for p in pods["items"].as_array().unwrap() {
        let ip = p["status"]["podIP"].as_str().unwrap();
        assert!(ip.starts_with("10.42."), "pod IP {ip}");
    }
    let cluster_ip = s.must(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);

    s.must(&[
        "run",
        "client",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        &format!(
            "nslookup web.default.svc.cluster.local; \
             printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {cluster_ip} 80 | head -1; \
             printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 web 80 | head -1"
        ),
    ]);
    wait_until(Duration::from_secs(60), "the client pod finishes", || {
        s.get_json(&["pod", "client"])["status"]["phase"] == "Succeeded"
    });
    let log = s.must(&["logs", "client"]);
    assert_eq!(
        log.trim_end(),
        container_log(&s, "client", "client"),
        "kubectl logs = the CRI log file"
    );
    assert!(log.contains(&format!("Address: {cluster_ip}")), "{log}");
    let last = s.must(&["logs", "client", "--tail=1"]);
    assert_eq!(last.trim(), "HTTP/1.1 404 Not Found");
    let stamped = s.must(&["logs", "client", "--tail=1", "--timestamps"]);
    assert!(
        stamped.starts_with("20") && stamped.trim().ends_with(" HTTP/1.1 404 Not Found"),
        "{stamped}"
    );
    assert_eq!(
        log.matches("HTTP/1.1 404 Not Found").count(),
        2,
        "ClusterIP and DNS name both answer: {log}"
    );

    // `kubectl logs -f` streams lines as the container writes them.
    s.must(&[
        "run",
        "counter",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
    ]);
    s.wait_pod_phase("counter", "Running");
    let follow = s.kc().spawn(&["logs", "-f", "counter"]);
    wait_until(
        Duration::from_secs(30),
        "kubectl logs -f streams new lines",
        || {
            follow
                .stdout()
                .lines()
                .filter(|l| l.starts_with("line "))
                .count()
                >= 10
        },
    );
    drop(follow);
    let err = s.kc().fails(&["logs", "counter", "-c", "nope"]);
    assert!(
        err.contains("container nope is not valid for pod counter"),
        "{err}"
    );

    // Deleting a pod stops its container; the ReplicaSet replaces it.
    let victim = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    s.must(&["delete", "pod", &victim, "--timeout=60s"]);
    s.must(&["rollout", "status", "deployment/web", "--timeout=60s"]);
}
