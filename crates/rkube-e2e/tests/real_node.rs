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

/// A server with its node agent, once its node is Ready.
fn node_server(extra: &[&str]) -> Server {
    let s = Server::start(ServerOpts {
        with_agent: true,
        extra_args: extra.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    });
    wait_until(Duration::from_secs(90), "the node is Ready", || {
        let out = s.must(&["get", "nodes"]);
        lines(&out).iter().skip(1).any(|l| l.contains(" Ready "))
    });
    s
}

#[test]
fn real_pods_services_and_dns() {
    let s = node_server(&[]);
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
            // The proxy programs the service a moment after the endpoints are ready:
            // retry (up to 10 s) until the first answer.
            "nslookup web.default.svc.cluster.local; \
             get() {{ for i in $(seq 40); do out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 $1 80 2>/dev/null | head -1); \
               [ -n \"$out\" ] && break; sleep 0.25; done; echo \"$out\"; }}; \
             get {cluster_ip}; get web"
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
    assert_eq!(s.must(&["logs", "client", "--since=1h"]), log);
    assert_eq!(
        s.must(&["logs", "client", "--since-time=2099-01-01T00:00:00Z"]),
        ""
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

/// ConfigMap, Secret, downwardAPI and emptyDir volumes, a two-container pod sharing files and
/// localhost, hostAliases in /etc/hosts, a ConfigMap update seen in place, and a missing
/// ConfigMap holding the pod in ContainerCreating with a FailedMount event.
#[test]
fn volumes_and_multi_container_pods() {
    let s = node_server(&[]);
    s.must(&["create", "configmap", "cfg", "--from-literal=color=blue"]);
    s.must(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cr3t",
    ]);
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: vol
  labels: {app: vol}
spec:
  terminationGracePeriodSeconds: 1
  hostAliases:
  - ip: 10.9.8.7
    hostnames: [foo.local]
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: creds, secret: {secretName: creds}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [httpd, -f, -p, "8080", -h, /shared]
    volumeMounts:
    - {name: shared, mountPath: /shared}
  - name: probe
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      echo shared-ok > /shared/index.html
      touch /etc/cfg/new 2>/dev/null && echo cfg-writable || echo cfg-read-only
      while true; do
        peer=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 2 127.0.0.1 8080 | tail -1)
        echo "color=$(cat /etc/cfg/color) pass=$(cat /etc/creds/password) alias=$(grep -c foo.local /etc/hosts) labels=$(cat /etc/info/labels) peer=$peer"
        sleep 1
      done
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: creds, mountPath: /etc/creds, readOnly: true}
    - {name: info, mountPath: /etc/info}
"#,
    );
    s.wait_pod_phase("vol", "Running");
    let want = r#"color=blue pass=s3cr3t alias=1 labels=app="vol" peer=shared-ok"#;
    wait_until(
        Duration::from_secs(30),
        "the probe container sees every volume",
        || s.must(&["logs", "vol", "-c", "probe"]).contains(want),
    );
    let log = s.must(&["logs", "vol", "-c", "probe"]);
    assert!(log.starts_with("cfg-read-only\n"), "{log}");

    // An update of the ConfigMap reaches the running container without a restart.
    s.must(&[
        "patch",
        "configmap",
        "cfg",
        "-p",
        r#"{"data":{"color":"green"}}"#,
    ]);
    wait_until(
        Duration::from_secs(45),
        "the new ConfigMap value is seen",
        || {
            s.must(&["logs", "vol", "-c", "probe", "--tail=1"])
                .contains("color=green")
        },
    );
    let pod = s.get_json(&["pod", "vol"]);
    for c in pod["status"]["containerStatuses"].as_array().unwrap() {
        assert_eq!(c["restartCount"], 0, "{c}");
    }
    let events = s.must(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=vol",
    ]);
    for reason in ["Pulled", "Created", "Started"] {
        assert!(events.contains(reason), "{events}");
    }

    // A restartable init container (sidecar) runs beside the main container, does not hold
    // back the pod's completion, and is stopped with it.
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: side
    image: busybox
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: [sh, -c, 'while true; do echo side >> /shared/log; sleep 1; done']
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'while [ ! -s /shared/log ]; do sleep 0.2; done; head -1 /shared/log']
    volumeMounts: [{name: shared, mountPath: /shared}]
"#,
    );
    s.wait_pod_phase("sidecar", "Succeeded");
    assert_eq!(s.must(&["logs", "sidecar", "-c", "main"]), "side\n");

    // A missing ConfigMap keeps the pod waiting, with upstream's FailedMount message.
    s.must(&[
        "run",
        "nocfg",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--overrides",
        r#"{"spec":{"volumes":[{"name":"v","configMap":{"name":"absent"}}],"containers":[{"name":"nocfg","image":"busybox","imagePullPolicy":"IfNotPresent","command":["sleep","3600"],"volumeMounts":[{"name":"v","mountPath":"/v"}]}]}}"#,
    ]);
    s.wait_event(
        "nocfg",
        "FailedMount",
        r#"MountVolume.SetUp failed for volume "v" : configmap "absent" not found"#,
    );
    let out = s.must(&["get", "pod", "nocfg"]);
    assert!(out.contains("ContainerCreating"), "{out}");
    // Once it exists, the pod starts.
    s.must(&["create", "configmap", "absent", "--from-literal=k=v"]);
    s.wait_pod_phase("nocfg", "Running");

    // Deleting the pod removes its volumes from the node.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    let dir = s.data_dir.join("agent/pods").join(&uid);
    assert!(dir
        .join("volumes/kubernetes.io~configmap/cfg/color")
        .exists());
    s.must(&["delete", "pod", "vol", "--timeout=60s"]);
    wait_until(
        Duration::from_secs(30),
        "the pod directory is removed",
        || !dir.exists(),
    );
}

/// A shell command line for `cmd` (for `script -c`, which needs one string).
/// What `ip ARGS` prints.
fn ip_out(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `cmd` under a pseudo-terminal (`script`) with `input` typed in; its output, CRs removed.
fn in_pty(cmd: &std::process::Command, input: &str) -> String {
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &shell_line(cmd), "/dev/null"]);
    let out = run_with_timeout(script, Some(input.as_bytes()), Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

fn shell_line(cmd: &std::process::Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), quote(v?))))
        .collect();
    if !parts.is_empty() {
        parts.insert(0, "env".into());
    }
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

/// `kubectl exec` (WebSocket and the SPDY fallback: exit codes, stdin to EOF, a TTY through a
/// pseudo-terminal, big outputs), `kubectl cp`, `kubectl attach`, `kubectl run -i --rm`, and
/// `kubectl port-forward` to a pod and a service, over both protocols.
#[test]
fn exec_attach_and_port_forward() {
    let s = node_server(&[]);
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /www && exec httpd -f -p 8080 -h /www']
  - name: ticker
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']
"#,
    );
    s.wait_pod_phase("web", "Running");
    wait_until(Duration::from_secs(30), "both containers are ready", || {
        s.must(&["get", "pod", "web"]).contains("2/2")
    });
    let ws = s.kc();
    let spdy = s
        .kc()
        .with_env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .with_env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    for (proto, kc, code) in [("websocket", &ws, 3), ("spdy", &spdy, 4)] {
        let out = run_with_timeout(
            kc.command(&[
                "exec",
                "web",
                "-c",
                "web",
                "--",
                "sh",
                "-c",
                &format!("echo out; echo err >&2; exit {code}"),
            ]),
            None,
            Duration::from_secs(30),
        );
        assert_eq!(out.status.code(), Some(code), "{proto}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n", "{proto}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("err\n"), "{proto}: {err}");
        assert!(
            err.contains(&format!("command terminated with exit code {code}")),
            "{proto}: {err}"
        );
        // stdin reaches the command, and its end reaches it too.
        let input: String = (1..=50_000).map(|i| format!("{i}\n")).collect();
        let out = run_with_timeout(
            kc.command(&["exec", "-i", "web", "-c", "web", "--", "wc", "-l"]),
            Some(input.as_bytes()),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{proto}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "50000",
            "{proto}"
        );
        let out = run_with_timeout(
            kc.command(&["exec", "web", "-c", "web", "--", "seq", "1", "200000"]),
            None,
            Duration::from_secs(30),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), 200_000, "{proto}");
        assert_eq!(text.lines().last(), Some("200000"), "{proto}");
        // A TTY: kubectl exec -it under a pseudo-terminal.
        let text = in_pty(
            &kc.command(&["exec", "-it", "web", "-c", "web", "--", "sh"]),
            "echo $((1+1))\nexit\n",
        );
        assert!(text.lines().any(|l| l == "2"), "{proto}: {text:?}");
    }
    let err = s.kc().fails(&["exec", "web", "-c", "nope", "--", "true"]);
    assert!(
        err.contains("container nope is not valid for pod web"),
        "{err}"
    );

    // kubectl cp goes through exec with tar on stdin.
    let local = s.tmp().join("index.html");
    std::fs::write(&local, "hi-from-web\n").unwrap();
    s.must(&[
        "cp",
        local.to_str().unwrap(),
        "web:/www/index.html",
        "-c",
        "web",
    ]);
    let got = s.must(&["exec", "web", "-c", "web", "--", "cat", "/www/index.html"]);
    assert_eq!(got, "hi-from-web\n");

    // kubectl attach streams the container's output.
    let attach = s.kc().spawn(&["attach", "web", "-c", "ticker"]);
    attach.wait_for_output("attach streams ticks", |out| {
        out.matches("tick ").count() >= 3
    });
    drop(attach);
    let out = s.kc().must_stdin(
        &[
            "run",
            "once",
            "-i",
            "--rm",
            "--restart=Never",
            "--image=busybox",
            "--image-pull-policy=IfNotPresent",
            "--",
            "sh",
            "-c",
            "read x; echo got $x",
        ],
        Some("abc\n"),
    );
    assert!(out.contains("got abc"), "{out}");

    // kubectl debug: an ephemeral container in the running pod, in the target's processes.
    s.must(&[
        "debug",
        "web",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--target=web",
        "-c",
        "dbg",
        "--",
        "ps",
    ]);
    wait_until(Duration::from_secs(60), "the debug container ran", || {
        let pod = s.get_json(&["pod", "web"]);
        pod["status"]["ephemeralContainerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["name"] == "dbg" && c["state"]["terminated"]["exitCode"] == 0)
    });
    let ps = s.must(&["logs", "web", "-c", "dbg"]);
    assert!(
        ps.contains("httpd -f -p 8080"),
        "the target's processes: {ps}"
    );
    let listing = s.must(&["get", "pod", "web"]);
    assert!(
        listing.contains("2/2") && listing.contains("Running"),
        "{listing}"
    );
    // Interactive, under a pseudo-terminal, as `kubectl debug -it` is used.
    let text = in_pty(
        &s.kc().command(&[
            "debug",
            "-it",
            "web",
            "--image=busybox",
            "--image-pull-policy=IfNotPresent",
            "-c",
            "dbg-tty",
            "--",
            "sh",
        ]),
        "echo $((6*7))\nexit\n",
    );
    assert!(text.lines().any(|l| l == "42"), "{text:?}");
    let err = s.kc().fails(&[
        "debug",
        "web",
        "--image=busybox",
        "--target=nope",
        "-c",
        "dbg-bad",
        "--",
        "true",
    ]);
    assert!(
        err.contains("spec.ephemeralContainers[2].targetContainerName: Not found: \"nope\"")
            || err.contains("targetContainerName: Not found: \"nope\""),
        "{err}"
    );

    // kubectl debug node/NAME: a host-network, host-PID pod with the node's root at /host.
    let node = s.must(&["get", "nodes", "-o", "name"]).trim().to_string();
    s.must(&[
        "debug",
        &node,
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--",
        "sh",
        "-c",
        "hostname; test -d /host/proc && echo host-root",
    ]);
    let mut debugger = String::new();
    wait_until(Duration::from_secs(60), "the node debugger ran", || {
        let pods = s.get_json(&["pods"]);
        let found = pods["items"].as_array().into_iter().flatten().find(|p| {
            p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("node-debugger-"))
        });
        if let Some(p) = found {
            debugger = p["metadata"]["name"].as_str().unwrap().to_string();
            return p["status"]["phase"] == "Succeeded";
        }
        false
    });
    let out = s.must(&["logs", &debugger]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out, format!("{}\nhost-root\n", host.trim()), "{out}");

    // port-forward to the pod and to a service, over both protocols.
    s.must(&["expose", "pod", "web", "--port=80", "--target-port=8080"]);
    for (proto, kc) in [("websocket", &ws), ("spdy", &spdy)] {
        for target in ["pod/web", "svc/web"] {
            let port = free_port();
            let remote = if target == "svc/web" { "80" } else { "8080" };
            let pf = kc.spawn(&["port-forward", target, &format!("{port}:{remote}")]);
            pf.wait_for_output("port-forward listens", |out| {
                out.contains("Forwarding from")
            });
            for _ in 0..2 {
                let out = run_with_timeout(
                    {
                        let mut c = std::process::Command::new("curl");
                        c.args(["-sS", "--max-time", "10"])
                            .arg(format!("http://127.0.0.1:{port}/index.html"));
                        c
                    },
                    None,
                    Duration::from_secs(20),
                );
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    "hi-from-web\n",
                    "{proto} {target}: {out:?}"
                );
            }
            drop(pf);
        }
    }
}

/// Probes on real containers: a failing httpGet liveness probe restarts the container with
/// upstream's events, a failing exec readiness probe flips READY (and the Service's endpoint),
/// and a startup probe holds the container unstarted until it passes.
#[test]
fn probes_restart_and_gate_readiness() {
    let s = node_server(&[]);
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: live
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /www && exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
      failureThreshold: 2
      timeoutSeconds: 5
---
apiVersion: v1
kind: Pod
metadata: {name: ready, labels: {app: ready}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: ready
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'touch /tmp/ready; exec sleep 3600']
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
      timeoutSeconds: 5
---
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: slow
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    startupProbe:
      exec: {command: [test, -f, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 600
      timeoutSeconds: 5
"#,
    );
    // Liveness: the restart count grows, with upstream's events.
    s.wait_event(
        "live",
        "Unhealthy",
        "Liveness probe failed: HTTP probe failed with statuscode: 404",
    );
    s.wait_event(
        "live",
        "Killing",
        "Container live failed liveness probe, will be restarted",
    );
    wait_until(
        Duration::from_secs(60),
        "the live container restarts",
        || {
            s.get_json(&["pod", "live"])["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0)
                >= 1
        },
    );

    // Readiness: READY follows the probe, and so does the Service's endpoint.
    s.must(&["expose", "pod", "ready", "--port=80"]);
    wait_until(Duration::from_secs(30), "the ready pod is 1/1", || {
        s.must(&["get", "pod", "ready"]).contains("1/1")
    });
    s.must(&["exec", "ready", "--", "rm", "/tmp/ready"]);
    wait_until(Duration::from_secs(30), "the ready pod is 0/1", || {
        s.must(&["get", "pod", "ready"]).contains("0/1")
    });
    let pod = s.get_json(&["pod", "ready"]);
    let cond = pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap();
    assert_eq!(cond["status"], "False", "{cond}");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    wait_until(Duration::from_secs(30), "the endpoint is not ready", || {
        let ep = s.get_json(&["endpoints", "ready"]);
        ep["subsets"][0]["notReadyAddresses"].is_array() && ep["subsets"][0]["addresses"].is_null()
    });
    s.must(&["exec", "ready", "--", "touch", "/tmp/ready"]);
    wait_until(
        Duration::from_secs(30),
        "the ready pod is 1/1 again",
        || s.must(&["get", "pod", "ready"]).contains("1/1"),
    );

    // Lifecycle hooks: postStart after the start, preStop before the stop; a failing
    // postStart hook is reported.
    let hostdir = s.tmp().join("hooks");
    s.create(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hooks}}
spec:
  terminationGracePeriodSeconds: 5
  volumes: [{{name: host, hostPath: {{path: {dir}, type: DirectoryOrCreate}}}}]
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']
    volumeMounts: [{{name: host, mountPath: /host}}]
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'echo started > /host/poststart']}}}}
      preStop: {{exec: {{command: [sh, -c, 'echo stopping > /host/prestop']}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: badhook}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'exit 3']}}}}
"#,
        dir = hostdir.display()
    ));
    s.wait_pod_phase("hooks", "Running");
    wait_until(Duration::from_secs(30), "the postStart hook ran", || {
        std::fs::read_to_string(hostdir.join("poststart"))
            .ok()
            .as_deref()
            == Some("started\n")
    });
    s.must(&["delete", "pod", "hooks", "--timeout=60s"]);
    assert_eq!(
        std::fs::read_to_string(hostdir.join("prestop")).unwrap(),
        "stopping\n"
    );
    let msg = s.wait_event("badhook", "FailedPostStartHook", "exited with 3");
    assert!(msg.contains("Exec lifecycle hook"), "{msg}");

    // Startup: not started (so not ready) until the probe passes.
    s.wait_pod_phase("slow", "Running");
    let st = &s.get_json(&["pod", "slow"])["status"]["containerStatuses"][0];
    assert_eq!(st["started"], false, "{st}");
    assert_eq!(st["ready"], false, "{st}");
    s.must(&["exec", "slow", "--", "touch", "/tmp/started"]);
    wait_until(
        Duration::from_secs(30),
        "the slow container has started",
        || {
            let st = &s.get_json(&["pod", "slow"])["status"]["containerStatuses"][0];
            st["started"] == true && st["ready"] == true
        },
    );
}

/// Security contexts and resources on real containers: runAsNonRoot against a root image
/// (CreateContainerConfigError with upstream's message), runAsUser/runAsGroup/fsGroup, a
/// read-only root filesystem, dropped capabilities and no_new_privs, the CPU quota and memory
/// limit in the container's cgroup, and a memory hog OOMKilled.
#[test]
fn security_contexts_and_limits() {
    let s = node_server(&[]);
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: nonroot}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - {name: nonroot, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: locked}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, runAsNonRoot: true,
                    seccompProfile: {type: RuntimeDefault}}
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: locked
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
      touch /rootfs-write 2>&1 || true
      grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status
      touch /data/f && echo "data group $(stat -c %g /data) file group $(stat -c %g /data/f)"
      cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes
    volumeMounts: [{name: data, mountPath: /data}]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    resources:
      limits: {cpu: 500m, memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [tail, /dev/zero]
    resources:
      limits: {memory: 32Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: hoard}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hoard
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'dd if=/dev/zero of=/big bs=1M count=30; exec sleep 3600']
    resources:
      limits: {ephemeral-storage: 10Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: cache}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: cache, emptyDir: {sizeLimit: 5Mi}}]
  containers:
  - name: cache
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'dd if=/dev/zero of=/cache/big bs=1M count=10; exec sleep 3600']
    volumeMounts: [{name: cache, mountPath: /cache}]
"#,
    );
    s.wait_event(
        "nonroot",
        "Failed",
        "Error: container has runAsNonRoot and image will run as root (pod: \"nonroot_default(",
    );
    let st = &s.get_json(&["pod", "nonroot"])["status"]["containerStatuses"][0]["state"];
    assert_eq!(
        st["waiting"]["reason"], "CreateContainerConfigError",
        "{st}"
    );

    s.wait_pod_phase("locked", "Succeeded");
    let log = s.must(&["logs", "locked"]);
    assert!(log.contains("uid=1000 gid=3000 groups=3000 2000"), "{log}");
    assert!(log.contains("Read-only file system"), "{log}");
    assert!(log.contains("CapEff:\t0000000000000000"), "{log}");
    assert!(log.contains("NoNewPrivs:\t1"), "{log}");
    assert!(log.contains("Seccomp:\t2"), "RuntimeDefault seccomp: {log}");
    assert!(
        log.contains("data group 2000 file group 2000"),
        "fsGroup: {log}"
    );
    assert!(log.contains("\n50000\n67108864"), "{log}");

    wait_until(Duration::from_secs(60), "the hog is OOMKilled", || {
        let st = &s.get_json(&["pod", "hog"])["status"]["containerStatuses"][0]["state"];
        st["terminated"]["reason"] == "OOMKilled"
    });
    let pod = s.get_json(&["pod", "hog"]);
    assert_eq!(pod["status"]["phase"], "Failed");
    assert_eq!(pod["status"]["qosClass"], "Burstable");

    // Local ephemeral storage: over a container limit, or an emptyDir over its sizeLimit.
    for (pod, message) in [
        (
            "hoard",
            "Container hoard exceeded its local ephemeral storage limit \"10Mi\". ",
        ),
        (
            "cache",
            "Usage of EmptyDir volume \"cache\" exceeds the limit \"5Mi\". ",
        ),
    ] {
        wait_until(
            Duration::from_secs(60),
            &format!("{pod} is evicted"),
            || s.get_json(&["pod", pod])["status"]["reason"] == "Evicted",
        );
        let st = s.get_json(&["pod", pod])["status"].clone();
        assert_eq!(st["phase"], "Failed", "{st}");
        assert_eq!(st["message"], message, "{st}");
        s.wait_event(pod, "Evicted", message);
    }
}

/// Static pods from the manifests directory appear as mirror pods `<name>-<node>`, restart
/// when the manifest changes and go when it is removed; `rkube crictl` shows the node's
/// containers, pods and images, their logs, stats and details, and runs commands in them.
#[test]
fn static_pods_and_crictl() {
    let s = node_server(&[]);
    let node = s.must(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"]);
    let manifest = |msg: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  labels: {{tier: static}}\n\
             spec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: busybox\n    \
             imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo {msg}; exec sleep 3600']\n"
        )
    };
    let dir = s.data_dir.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("static-web.yaml"), manifest("first")).unwrap();
    let mirror = format!("static-web-{node}");
    wait_until(Duration::from_secs(60), "the mirror pod exists", || {
        s.kc().exists(&["pod", &mirror])
    });
    let pod = s.wait_pod_phase(&mirror, "Running");
    assert_eq!(pod["spec"]["nodeName"], node.as_str());
    assert_eq!(
        pod["metadata"]["annotations"]["kubernetes.io/config.source"],
        "file"
    );
    assert!(pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string());
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Node");
    wait_until(Duration::from_secs(30), "the static pod logs", || {
        s.must(&["logs", &mirror]).contains("first")
    });

    // rkube crictl against the node's containerd.
    let crictl = |args: &[&str]| -> std::process::Output {
        let mut cmd = std::process::Command::new(rkube_bin());
        cmd.arg("crictl")
            .arg("--data-dir")
            .arg(&s.data_dir)
            .args(args);
        run_with_timeout(cmd, None, Duration::from_secs(30))
    };
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    let ps = crictl(&["ps"]);
    assert!(ps.status.success(), "{ps:?}");
    let row = text(&ps)
        .lines()
        .find(|l| l.contains(" web ") && l.contains(&mirror))
        .map(String::from)
        .unwrap_or_else(|| panic!("no web container in\n{}", text(&ps)));
    assert!(text(&ps).starts_with("CONTAINER"), "{}", text(&ps));
    assert!(row.contains("Running"), "{row}");
    let id = row.split_whitespace().next().unwrap().to_string();
    let pods = text(&crictl(&["pods"]));
    assert!(pods.contains(&mirror) && pods.contains("Ready"), "{pods}");
    let images = text(&crictl(&["images"]));
    assert!(images.contains("busybox"), "{images}");
    let out = crictl(&["exec", &id, "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(text(&out), "hi\n");
    assert_eq!(text(&crictl(&["logs", &id])), "first\n");
    let inspect: serde_json::Value =
        serde_json::from_str(&text(&crictl(&["inspect", &id]))).unwrap();
    assert_eq!(inspect["status"]["state"], "CONTAINER_RUNNING", "{inspect}");
    assert_eq!(inspect["status"]["metadata"]["name"], "web");
    let stats = text(&crictl(&["stats"]));
    assert!(stats.contains(" web "), "{stats}");
    let info: serde_json::Value = serde_json::from_str(&text(&crictl(&["info"]))).unwrap();
    assert_eq!(info["runtimeName"], "containerd", "{info}");
    let err = crictl(&["inspect", "nope"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("container \"nope\" not found"));

    // A restartPolicy Never pod whose sandbox dies is not run again in a new one: its
    // container is stopped and the pod fails (upstream's rule).
    s.must(&[
        "run",
        "once-only",
        "--restart=Never",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--overrides",
        r#"{"spec": {"terminationGracePeriodSeconds": 1}}"#,
        "--",
        "sleep",
        "3600",
    ]);
    let first = s.wait_pod_phase("once-only", "Running");
    let first_id = first["status"]["containerStatuses"][0]["containerID"].clone();
    let sandbox = text(&crictl(&["pods"]))
        .lines()
        .find(|l| l.contains("once-only"))
        .and_then(|l| l.split_whitespace().next())
        .map(String::from)
        .expect("the once-only sandbox");
    let shims = std::process::Command::new("pgrep")
        .args(["-f", &format!("containerd-shim-runc-v2 .*-id {sandbox}")])
        .output()
        .unwrap();
    let shim = String::from_utf8_lossy(&shims.stdout).trim().to_string();
    let children = std::process::Command::new("pgrep")
        .args(["-P", &shim])
        .output()
        .unwrap();
    let pause = String::from_utf8_lossy(&children.stdout)
        .lines()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("2147483647"))
        })
        .map(String::from)
        .unwrap_or_else(|| panic!("no pause process under shim {shim:?}"));
    assert!(std::process::Command::new("kill")
        .args(["-9", &pause])
        .status()
        .unwrap()
        .success());
    let failed = s.wait_pod_phase("once-only", "Failed");
    let c = &failed["status"]["containerStatuses"][0];
    assert_eq!(c["containerID"], first_id, "not run again: {c}");
    assert_eq!(c["restartCount"], 0, "{c}");
    assert!(c["state"]["terminated"].is_object(), "{c}");

    // The kubelet's Summary API through the API server's node proxy.
    let summary: serde_json::Value = serde_json::from_str(&s.must(&[
        "get",
        "--raw",
        &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
    ]))
    .unwrap();
    assert_eq!(summary["node"]["nodeName"], node.as_str());
    assert!(
        summary["node"]["memory"]["workingSetBytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        summary["node"]["cpu"]["usageCoreNanoSeconds"]
            .as_u64()
            .unwrap()
            > 0
    );
    let pod_stats = summary["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["podRef"]["name"] == mirror.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no stats for {mirror}: {summary}"));
    assert_eq!(pod_stats["containers"][0]["name"], "web");
    assert!(
        pod_stats["containers"][0]["memory"]["workingSetBytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        s.must(&[
            "get",
            "--raw",
            &format!("/api/v1/nodes/{node}/proxy/healthz")
        ]),
        "ok"
    );
    let err = s
        .kc()
        .fails(&["get", "--raw", "/api/v1/nodes/nope/proxy/healthz"]);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );

    // Editing the manifest replaces the pod; removing it removes the pod.
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_string();
    std::fs::write(dir.join("static-web.yaml"), manifest("second")).unwrap();
    wait_until(
        Duration::from_secs(60),
        "the edited static pod runs",
        || {
            let p = s.get_json(&["pods"]);
            p["items"].as_array().unwrap().iter().any(|p| {
                p["metadata"]["name"] == mirror.as_str()
                    && p["metadata"]["uid"] != uid.as_str()
                    && p["status"]["phase"] == "Running"
            })
        },
    );
    wait_until(Duration::from_secs(30), "the new static pod logs", || {
        s.must(&["logs", &mirror]).contains("second")
    });
    std::fs::remove_file(dir.join("static-web.yaml")).unwrap();
    wait_until(Duration::from_secs(60), "the static pod is gone", || {
        !s.kc().exists(&["pod", &mirror])
    });
}

/// Images from local registries (Debian's docker-registry, images built by `rkube image
/// build` and pushed with skopeo): a registry mirror with credentials from
/// `--registry-config`, a private plain-HTTP registry reached with imagePullSecrets (on the pod
/// and through the ServiceAccount), and the seeds' ubuntu-sleeper (ENTRYPOINT vs command,
/// CMD vs args) and APP_COLOR web app.
#[test]
fn registries_pull_secrets_and_entrypoints() {
    let mirror = Registry::start(Some(("mirror-user", "mirror-pass")));
    let private = Registry::start(Some(("alice", "s3cret")));
    mirror.push_built(
        "demo/ubuntu-sleeper:1.0",
        &["--entrypoint", "sleep", "--cmd", "5"],
    );
    mirror.push_built(
        "demo/webapp:1.0",
        &[
            "--env",
            "APP_COLOR=blue",
            "--entrypoint",
            "sh",
            "--entrypoint",
            "-c",
            "--entrypoint",
            "mkdir -p /www && echo \"color: $APP_COLOR\" > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
    );
    let secret_image = private.push_built("team/app:2.0", &["--cmd", "sleep", "--cmd", "3600"]);
    // A registry that accepts connections and never answers: pulls from it hang.
    let hang = BlackHole::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("registries.yaml");
    std::fs::write(
        &config,
        format!(
            "mirrors:\n  registry.example:\n    endpoint: [\"http://{m}\"]\n  \"{p}\":\n    endpoint: [\"http://{p}\"]\n\
             \x20 hang.example:\n    endpoint: [\"http://{h}\"]\n\
             configs:\n  \"{m}\":\n    auth: {{username: mirror-user, password: mirror-pass}}\n",
            m = mirror.host(),
            p = private.host(),
            h = hang.addr,
        ),
    )
    .unwrap();
    let s = node_server(&["--registry-config", &config.display().to_string()]);
    // The seeds' ubuntu-sleeper, through the mirror: CMD by default, args replace CMD,
    // command replaces ENTRYPOINT.
    s.create(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  restartPolicy: Never
  containers: [{name: s, image: registry.example/demo/ubuntu-sleeper:1.0}]
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper-args}
spec:
  restartPolicy: Never
  containers: [{name: s, image: registry.example/demo/ubuntu-sleeper:1.0, args: ["1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper-cmd}
spec:
  restartPolicy: Never
  containers: [{name: s, image: registry.example/demo/ubuntu-sleeper:1.0, command: [sh, -c], args: ["echo overridden; sleep 1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: webapp}
spec:
  containers:
  - name: web
    image: registry.example/demo/webapp:1.0
    env: [{name: APP_COLOR, value: green}]
"#,
    );
    let ran_for = |pod: &str| {
        let p = s.wait_pod_phase(pod, "Succeeded");
        let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
        let secs = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(t[k].as_str().unwrap())
                .unwrap()
                .timestamp()
        };
        secs("finishedAt") - secs("startedAt")
    };
    let long = ran_for("sleeper");
    assert!((4..=7).contains(&long), "sleep 5 ran {long}s");
    let short = ran_for("sleeper-args");
    assert!(short <= 2, "sleep 1 ran {short}s");
    ran_for("sleeper-cmd");
    assert_eq!(s.must(&["logs", "sleeper-cmd"]), "overridden\n");
    let web = s.wait_pod_phase("webapp", "Running");
    let ip = web["status"]["podIP"].as_str().unwrap().to_string();
    wait_until(
        Duration::from_secs(30),
        "the web app answers with its color",
        || {
            let mut c = std::process::Command::new("curl");
            c.args(["-s", "--max-time", "2"])
                .arg(format!("http://{ip}:8080/index.html"));
            String::from_utf8_lossy(&run_with_timeout(c, None, Duration::from_secs(10)).stdout)
                == "color: green\n"
        },
    );
    let events = s.must(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=webapp",
    ]);
    assert!(
        events.contains("Successfully pulled image \"registry.example/demo/webapp:1.0\" in ")
            && events.contains(" including waiting). Image size: "),
        "{events}"
    );

    // While an image is pulled, the pod already shows its IP and ContainerCreating.
    s.must(&["run", "slowpull", "--image=hang.example/app:1"]);
    wait_until(
        Duration::from_secs(30),
        "slowpull shows ContainerCreating and its IP while pulling",
        || {
            let st = &s.get_json(&["pod", "slowpull"])["status"];
            st["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
                && st["podIP"]
                    .as_str()
                    .is_some_and(|ip| ip.starts_with("10.42."))
        },
    );
    let listing = s.must(&["get", "pod", "slowpull", "--no-headers"]);
    assert!(listing.contains("ContainerCreating"), "{listing}");
    assert!(
        hang.connections() > 0,
        "the pull never reached the registry"
    );
    // The registry hangs up: the pull fails.
    drop(hang);
    wait_until(Duration::from_secs(60), "slowpull fails to pull", || {
        let st = &s.get_json(&["pod", "slowpull"])["status"]["containerStatuses"][0]["state"];
        matches!(
            st["waiting"]["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });

    // A private registry: no credentials, no image.
    s.must(&["run", "nocreds", &format!("--image={secret_image}")]);
    let msg = s.wait_event("nocreds", "Failed", "failed to pull image");
    assert!(msg.contains(&secret_image), "{msg}");
    wait_until(Duration::from_secs(60), "nocreds backs off", || {
        let st = &s.get_json(&["pod", "nocreds"])["status"]["containerStatuses"][0]["state"];
        matches!(
            st["waiting"]["reason"].as_str(),
            Some("ErrImagePull" | "ImagePullBackOff")
        )
    });
    // imagePullSecrets on the pod.
    s.must(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", private.host()),
        "--docker-username=alice",
        "--docker-password=s3cret",
    ]);
    s.must(&[
        "run",
        "withcreds",
        &format!("--image={secret_image}"),
        "--overrides",
        r#"{"spec":{"imagePullSecrets":[{"name":"regcred"}]}}"#,
    ]);
    s.wait_pod_phase("withcreds", "Running");
    // And through the namespace's default ServiceAccount.
    s.must(&["create", "namespace", "team"]);
    s.must(&[
        "-n",
        "team",
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", private.host()),
        "--docker-username=alice",
        "--docker-password=s3cret",
    ]);
    wait_until(
        Duration::from_secs(30),
        "the default ServiceAccount exists",
        || s.kc().exists(&["-n", "team", "serviceaccount", "default"]),
    );
    s.must(&[
        "-n",
        "team",
        "patch",
        "serviceaccount",
        "default",
        "-p",
        r#"{"imagePullSecrets":[{"name":"regcred"}]}"#,
    ]);
    s.must(&[
        "-n",
        "team",
        "run",
        "viasa",
        &format!("--image={secret_image}"),
    ]);
    wait_until(
        Duration::from_secs(60),
        "the pod pulled with the ServiceAccount's secret",
        || s.get_json(&["-n", "team", "pod", "viasa"])["status"]["phase"] == "Running",
    );
}

/// A TCP server that accepts connections and never answers; closes them all on drop.
struct BlackHole {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlackHole {
    fn start() -> BlackHole {
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop2, accepted2) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        held.push(c);
                        accepted2.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        BlackHole {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A second node on this machine: a network namespace on a host bridge (one L2 segment, as
/// host-gw wants), removed on drop.
struct NodeNetns {
    name: String,
    bridge: String,
}

fn sh(cmd: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NodeNetns {
    /// Bridge `bridge` with `host_ip`/24 on the host; netns `name` with `ip`/24 on it.
    fn new(name: &str, bridge: &str, host_ip: &str, ip: &str) -> NodeNetns {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", bridge])
            .status();
        let n = NodeNetns {
            name: name.into(),
            bridge: bridge.into(),
        };
        sh(&format!(
            "ip link add {bridge} type bridge && ip addr add {host_ip}/24 dev {bridge} && \
             ip link set {bridge} up && sysctl -qw net.ipv4.ip_forward=1"
        ));
        add_netns(name, bridge, host_ip, ip);
        n
    }
}

impl Drop for NodeNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// A process killed (with its children) on drop.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        sigterm(&self.0);
        if wait_exit(&mut self.0, Duration::from_secs(10)).is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Two nodes on one machine: `rkube server` on the host and `rkube agent` (a real node with
/// its own containerd) in a network namespace, on one bridge. Pods on either node reach pods
/// on the other by pod IP through the host-gw routes, and through a Service, and pods on the
/// agent resolve names through the cluster DNS on the server's node.
#[test]
fn multi_node_pod_network() {
    let net = NodeNetns::new("rkmn-a1", "rkmn0", "10.99.0.1", "10.99.0.2");
    let s = Server::start(ServerOpts {
        with_agent: true,
        extra_args: vec!["--node-ip".into(), "10.99.0.1".into()],
        ..Default::default()
    });
    let _agent = start_agent(
        &s,
        &net.name,
        "agent-1",
        "10.99.0.2",
        &[
            "--kube-reserved",
            "cpu=250m",
            "--system-reserved",
            "cpu=250m,memory=1Gi",
        ],
    );
    wait_until(Duration::from_secs(120), "both nodes are Ready", || {
        let out = s.must(&["get", "nodes"]);
        let ready = lines(&out)
            .iter()
            .skip(1)
            .filter(|l| l.contains(" Ready "))
            .count();
        if ready < 2 {
            eprintln!(
                "{}",
                std::fs::read_to_string(s.tmp().join("agent-1.log")).unwrap_or_default()
            );
        }
        ready == 2
    });
    let server_node = s.get_json(&["nodes"])["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .find(|n| n != "agent-1")
        .unwrap();
    // Reservations and the default eviction threshold come off the agent's allocatable.
    let agent_node = s.get_json(&["node", "agent-1"]);
    let cap = agent_node["status"]["capacity"]["cpu"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(
        agent_node["status"]["allocatable"]["cpu"].as_str().unwrap(),
        format!("{}m", cap * 1000 - 500)
    );
    let kib = |v: &serde_json::Value| {
        v.as_str()
            .unwrap()
            .trim_end_matches("Ki")
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        kib(&agent_node["status"]["capacity"]["memory"])
            - kib(&agent_node["status"]["allocatable"]["memory"]),
        (1 << 20) + 100 * 1024
    );
    let web = |name: &str, node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {name}}}}}\nspec:\n  nodeName: {node}\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    \
             command: [sh, -c, 'mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 8080 -h /www']\n"
        )
    };
    s.create(&web("web-agent", "agent-1"));
    s.create(&web("web-server", &server_node));
    let agent_ip = s.wait_pod_phase("web-agent", "Running")["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    let server_ip = s.wait_pod_phase("web-server", "Running")["status"]["podIP"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(agent_ip.starts_with("10.42.") && server_ip.starts_with("10.42."));
    assert_ne!(
        agent_ip.rsplit_once('.').unwrap().0,
        server_ip.rsplit_once('.').unwrap().0,
        "each node has its own podCIDR"
    );
    s.must(&[
        "expose",
        "pod",
        "web-agent",
        "--port=80",
        "--target-port=8080",
    ]);
    let fetch = |target: &str| {
        format!(
            // Retry for up to 20 s: the server may still be starting.
            "end=$(($(date +%s)+20)); while [ $(date +%s) -lt $end ]; do \
             out=$(printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} | tail -1); \
             [ -n \"$out\" ] && break; sleep 1; done; echo \"$out\""
        )
    };
    // The host-gw routes are in place on both nodes.
    let agent_cidr = s.get_json(&["node", "agent-1"])["spec"]["podCIDR"]
        .as_str()
        .unwrap()
        .to_string();
    let server_cidr = s.get_json(&["node", &server_node])["spec"]["podCIDR"]
        .as_str()
        .unwrap()
        .to_string();
    wait_until(
        Duration::from_secs(30),
        "the pod network routes exist",
        || {
            ip_out(&["route", "show", &agent_cidr]).contains("via 10.99.0.2")
                && ip_out(&["-n", &net.name, "route", "show", &server_cidr])
                    .contains("via 10.99.0.1")
        },
    );
    // Server node → agent node, by pod IP and through the Service (DNS name).
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client-s}}\nspec:\n  nodeName: {server_node}\n  restartPolicy: Never\n  \
         containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, {:?}]\n",
        format!("{}; {}", fetch(&format!("{agent_ip} 8080")), fetch("web-agent 80"))
    );
    s.create(&client);
    s.wait_pod_phase("client-s", "Succeeded");
    assert_eq!(s.must(&["logs", "client-s"]), "web-agent\nweb-agent\n");
    // Agent node → server node by pod IP, and the cluster DNS from the agent node: the pod
    // succeeds only if both work (its logs stay on the agent).
    let check = format!(
        "out=$({}); [ \"$out\" = web-server ] && nslookup web-agent.default.svc.cluster.local | grep -q 'Address: 10.43.'",
        fetch(&format!("{server_ip} 8080"))
    );
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client-a}}\nspec:\n  nodeName: agent-1\n  restartPolicy: Never\n  \
         containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, {check:?}]\n"
    );
    s.create(&client);
    wait_until(Duration::from_secs(60), "client-a finishes", || {
        let phase = s.get_json(&["pod", "client-a"])["status"]["phase"].clone();
        phase == "Succeeded" || phase == "Failed"
    });
    assert_eq!(
        s.get_json(&["pod", "client-a"])["status"]["phase"],
        "Succeeded"
    );

    // The agent's kubelet serves logs, exec, attach, port-forward and stats for its pods,
    // through the API server.
    s.create(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: talker}\nspec:\n  nodeName: agent-1\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    \
         imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo hello from agent; exec sleep 3600']\n",
    );
    s.wait_pod_phase("talker", "Running");
    wait_until(
        Duration::from_secs(30),
        "logs of a pod on the agent",
        || s.kc().run(&["logs", "talker"]).stdout == b"hello from agent\n",
    );
    let stamped = s.must(&["logs", "talker", "--timestamps"]);
    assert_eq!(stamped.split_once(' ').unwrap().1, "hello from agent\n");
    let spdy = s
        .kc()
        .with_env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
    for kc in [s.kc(), spdy] {
        assert_eq!(
            kc.must(&["exec", "web-agent", "--", "cat", "/www/index.html"]),
            "web-agent\n"
        );
        let out = kc.must_stdin(
            &["exec", "-i", "web-agent", "--", "wc", "-c"],
            Some("12345"),
        );
        assert_eq!(out.trim(), "5");
        let err = kc.fails(&["exec", "web-agent", "--", "sh", "-c", "exit 7"]);
        assert!(err.contains("command terminated with exit code 7"), "{err}");
    }
    let port = free_port();
    let pf = s
        .kc()
        .spawn(&["port-forward", "pod/web-agent", &format!("{port}:8080")]);
    pf.wait_for_output("port-forward listens", |out| {
        out.contains("Forwarding from")
    });
    let mut curl = std::process::Command::new("curl");
    curl.args(["-sS", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{port}/index.html"));
    let out = run_with_timeout(curl, None, Duration::from_secs(20));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web-agent\n",
        "{out:?}"
    );
    drop(pf);
    let summary: serde_json::Value = serde_json::from_str(&s.must(&[
        "get",
        "--raw",
        "/api/v1/nodes/agent-1/proxy/stats/summary",
    ]))
    .unwrap();
    assert_eq!(summary["node"]["nodeName"], "agent-1");
    assert!(summary["pods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["podRef"]["name"] == "talker"));
    let node = s.get_json(&["node", "agent-1"]);
    assert_eq!(
        node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
        10250
    );
}

/// Network namespace `name` with `ip`/24 on `bridge`, routed through `host_ip`, forwarding.
fn add_netns(name: &str, bridge: &str, host_ip: &str, ip: &str) {
    sh(&format!(
        "ip netns add {name} && ip link add {name}-h type veth peer name eth0 netns {name} && \
         ip link set {name}-h master {bridge} up && \
         ip -n {name} addr add {ip}/24 dev eth0 && ip -n {name} link set eth0 up && \
         ip -n {name} link set lo up && ip -n {name} route add default via {host_ip} && \
         ip netns exec {name} sysctl -qw net.ipv4.ip_forward=1"
    ));
}

/// One more node's namespace on an existing bridge; removed on drop.
struct ExtraNetns(String);

impl ExtraNetns {
    fn new(name: &str, bridge: &str, host_ip: &str, ip: &str) -> ExtraNetns {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", name])
            .status();
        add_netns(name, bridge, host_ip, ip);
        ExtraNetns(name.into())
    }
}

impl Drop for ExtraNetns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// `rkube agent` for node `node` with IP `ip`, in network namespace `netns` (entered with
/// nsenter: `ip netns exec` remounts /sys, hiding the cgroup mounts runc needs).
fn start_agent(s: &Server, netns: &str, node: &str, ip: &str, extra: &[&str]) -> Proc {
    let port = s
        .creds()
        .server
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let token = std::fs::read_to_string(s.data_dir.join("token")).unwrap();
    let log = std::fs::File::create(s.tmp().join(format!("{node}.log"))).unwrap();
    let child = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{netns}"))
        .arg(rkube_bin())
        .args(["agent", "--server", &format!("https://10.99.0.1:{port}")])
        .args([
            "--token",
            token.trim(),
            "--node-name",
            node,
            "--node-ip",
            ip,
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(s.tmp().join(node))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

/// Three nodes (the server and two agents in network namespaces): a Deployment behind a
/// NodePort Service answers on every node's IP, including nodes without a backend; requests
/// spread over the pods; the Service resolves as `demo.prod` from another namespace and by
/// FQDN; a headless Service returns the pod IPs; deleting the Service removes its rules.
#[test]
fn three_nodes_services_and_dns() {
    let _net = NodeNetns::new("rk3-a1", "rk3br0", "10.99.0.1", "10.99.0.2");
    let _net2 = ExtraNetns::new("rk3-a2", "rk3br0", "10.99.0.1", "10.99.0.3");
    let s = Server::start(ServerOpts {
        with_agent: true,
        extra_args: vec!["--node-ip".into(), "10.99.0.1".into()],
        ..Default::default()
    });
    let _a1 = start_agent(&s, "rk3-a1", "agent-1", "10.99.0.2", &[]);
    let _a2 = start_agent(&s, "rk3-a2", "agent-2", "10.99.0.3", &[]);
    wait_until(Duration::from_secs(120), "three nodes are Ready", || {
        let out = s.must(&["get", "nodes"]);
        lines(&out)
            .iter()
            .skip(1)
            .filter(|l| l.contains(" Ready "))
            .count()
            == 3
    });
    // Every node routes to the others' pod networks.
    wait_until(
        Duration::from_secs(30),
        "the pod network routes exist",
        || {
            let routes = |args: &[&str]| ip_out(args).matches(" via ").count();
            routes(&["route", "show", "root", "10.42.0.0/16"]) >= 2
                && routes(&["-n", "rk3-a1", "route", "show", "root", "10.42.0.0/16"]) >= 2
                && routes(&["-n", "rk3-a2", "route", "show", "root", "10.42.0.0/16"]) >= 2
        },
    );
    s.must(&["create", "namespace", "prod"]);
    s.create(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo, namespace: prod}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      nodeSelector: {kubernetes.io/hostname: agent-1}
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Service
metadata: {name: demo, namespace: prod}
spec:
  type: NodePort
  selector: {app: demo}
  ports: [{port: 8888, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: demo-headless, namespace: prod}
spec:
  clusterIP: None
  selector: {app: demo}
  ports: [{port: 8080}]
"#,
    );
    s.must(&[
        "-n",
        "prod",
        "rollout",
        "status",
        "deployment/demo",
        "--timeout=90s",
    ]);
    let pods = s.get_json(&["-n", "prod", "pods", "-l", "app=demo"]);
    let mut pod_ips: Vec<String> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"]["podIP"].as_str().unwrap().to_string())
        .collect();
    pod_ips.sort();
    let node_port = s.must(&[
        "-n",
        "prod",
        "get",
        "svc",
        "demo",
        "-o",
        "jsonpath={.spec.ports[0].nodePort}",
    ]);
    // The NodePort answers on every node's IP; only agent-1 has backends.
    let curl = |url: &str| {
        let mut c = std::process::Command::new("curl");
        c.args(["-s", "--max-time", "3"]).arg(url);
        String::from_utf8_lossy(&run_with_timeout(c, None, Duration::from_secs(10)).stdout)
            .to_string()
    };
    for ip in ["10.99.0.1", "10.99.0.2", "10.99.0.3"] {
        wait_until(
            Duration::from_secs(30),
            &format!("NodePort on {ip}"),
            || curl(&format!("http://{ip}:{node_port}/index.html")).starts_with("demo-"),
        );
    }
    // From a pod in another namespace: demo.prod, the FQDN, spreading, and headless DNS.
    let script = "for i in $(seq 30); do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 demo.prod 8888 | tail -1; done; \
                  printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 demo.prod.svc.cluster.local 8888 | tail -1 | sed 's/^/fqdn /'; \
                  nslookup demo-headless.prod.svc.cluster.local | grep '^Address: ' | sed 's/^/headless /'";
    s.create(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  restartPolicy: Never\n  nodeName: agent-2\n  \
         containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, {script:?}]\n"
    ));
    s.wait_pod_phase("client", "Succeeded");
    let log = s.must(&["logs", "client"]);
    let answers: std::collections::BTreeSet<&str> =
        log.lines().filter(|l| l.starts_with("demo-")).collect();
    assert_eq!(answers.len(), 2, "requests spread over both pods: {log}");
    assert!(log.lines().any(|l| l.starts_with("fqdn demo-")), "{log}");
    let mut headless: Vec<String> = log
        .lines()
        .filter_map(|l| l.strip_prefix("headless Address: "))
        .map(|a| a.trim().to_string())
        .collect();
    headless.sort();
    assert_eq!(headless, pod_ips, "{log}");
    // Deleting the Service removes its rules: the NodePort stops answering.
    s.must(&["-n", "prod", "delete", "svc", "demo"]);
    wait_until(
        Duration::from_secs(30),
        "the NodePort rules are gone",
        || {
            let table = std::process::Command::new("nft")
                .args(["list", "table", "ip", "rkube-proxy"])
                .output()
                .unwrap();
            !String::from_utf8_lossy(&table.stdout).contains(&node_port)
                && curl(&format!("http://10.99.0.2:{node_port}/index.html")).is_empty()
        },
    );
}

/// Lines of iptables-nft's `ip nat` table that mention `ip` as a source (the CNI bridge
/// plugin's per-pod masquerade rules).
fn nat_rules_for(ip: &str) -> usize {
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", "nat"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("ip saddr {ip} ")))
        .count()
}

/// Pods outlive a server restart (the same container carries on), and `rkube killall` (refused
/// while the server runs) stops them for good: no process left under the data dir, the pod's
/// CNI masquerade rule released, the proxy's nftables table, the pod bridge and the mounts gone.
#[test]
fn restart_keeps_pods_and_killall_cleans_the_node() {
    let mut s = node_server(&[]);
    s.must(&[
        "run",
        "keep",
        "--image=busybox",
        "--image-pull-policy=IfNotPresent",
        "--",
        "sleep",
        "3600",
    ]);
    let pod = s.wait_pod_phase("keep", "Running");
    let ip = pod["status"]["podIP"].as_str().unwrap().to_string();
    let id = pod["status"]["containerStatuses"][0]["containerID"].clone();
    s.stop();
    s.restart();
    wait_until(WAIT, "the pod is Ready again after the restart", || {
        let p = s.get_json(&["pod", "keep"]);
        p["status"]["containerStatuses"][0]["ready"] == true
    });
    let pod = s.get_json(&["pod", "keep"]);
    assert_eq!(pod["status"]["containerStatuses"][0]["containerID"], id);
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);

    let data_dir = s.data_dir.clone();
    let killall = || {
        let mut cmd = std::process::Command::new(rkube_bin());
        cmd.arg("killall").arg("--data-dir").arg(&data_dir);
        run_with_timeout(cmd, None, Duration::from_secs(120))
    };
    let refused = killall();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("stopped first"), "{err}");
    assert_eq!(s.get_json(&["pod", "keep"])["status"]["phase"], "Running");

    s.stop();
    let rules_before = nat_rules_for(&ip);
    assert!(rules_before > 0, "the pod has a CNI masquerade rule");
    let out = killall();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("done"),
        "{out:?}"
    );
    let dir = s.data_dir.display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&dir))
        .collect();
    assert!(left.is_empty(), "processes left: {left:?}");
    assert_eq!(nat_rules_for(&ip), rules_before - 1, "CNI DEL ran");
    let tables = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&tables.stdout).contains("rkube-proxy"));
    assert!(!std::path::Path::new("/sys/class/net/rkube0").exists());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains(&dir), "{mounts}");
}
