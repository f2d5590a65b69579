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
    let s = Server::start(ServerOpts {
        with_agent: true,
        ..Default::default()
    });
    wait_until(Duration::from_secs(90), "the node is Ready", || {
        let out = s.must(&["get", "nodes"]);
        lines(&out).iter().skip(1).any(|l| l.contains(" Ready "))
    });
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
    let s = Server::start(ServerOpts {
        with_agent: true,
        ..Default::default()
    });
    wait_until(Duration::from_secs(90), "the node is Ready", || {
        let out = s.must(&["get", "nodes"]);
        lines(&out).iter().skip(1).any(|l| l.contains(" Ready "))
    });
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
        let line = shell_line(&kc.command(&["exec", "-it", "web", "-c", "web", "--", "sh"]));
        let mut script = std::process::Command::new("script");
        script.args(["-qec", &line, "/dev/null"]);
        let out = run_with_timeout(
            script,
            Some(b"echo $((1+1))\nexit\n"),
            Duration::from_secs(30),
        );
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
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
