//! The `rkube` process: CLI, first start (certificates, kubeconfig), restart on the same data
//! dir, the data-dir lock, and clean shutdown on SIGTERM / SIGINT.

use rkube_e2e::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn run_rkube(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(rkube_bin());
    cmd.args(args);
    run_with_timeout(cmd, None, Duration::from_secs(30))
}

#[test]
fn cli_help_and_version() {
    let out = run_rkube(&["--help"]);
    assert!(out.status.success(), "rkube --help: {out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("server"), "{help}");

    let out = run_rkube(&["server", "--help"]);
    assert!(out.status.success(), "rkube server --help: {out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data-dir",
        "--bind-address",
        "--https-listen-port",
        "--disable-agent",
        "--datastore-endpoint",
        "--token-auth-file",
        "--write-kubeconfig",
        "/var/lib/rkube",
        "6443",
    ] {
        assert!(
            help.contains(flag),
            "`rkube server --help` lacks {flag}:\n{help}"
        );
    }

    let out = run_rkube(&["version"]);
    assert!(out.status.success(), "rkube version: {out:?}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "rkube version printed nothing"
    );

    let out = run_rkube(&["no-such-command"]);
    assert!(!out.status.success(), "an unknown subcommand must fail");
}

#[test]
fn first_start_writes_certificates_and_kubeconfig() {
    let s = Server::start_default();
    assert!(
        s.log().contains("kubeconfig written to"),
        "no 'kubeconfig written to' on stderr:\n{}",
        s.log()
    );
    assert!(
        s.data_dir.join("tls").is_dir(),
        "no tls dir in the data dir"
    );

    let kc: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(s.kubeconfig()).unwrap()).unwrap();
    assert_eq!(kc["current-context"].as_str(), Some("rkube"), "{kc:?}");
    assert_eq!(kc["clusters"][0]["name"].as_str(), Some("rkube"));
    assert_eq!(kc["users"][0]["name"].as_str(), Some("rkube"));
    assert_eq!(kc["contexts"][0]["name"].as_str(), Some("rkube"));
    assert_eq!(
        kc["contexts"][0]["context"]["cluster"].as_str(),
        Some("rkube")
    );
    assert_eq!(kc["contexts"][0]["context"]["user"].as_str(), Some("rkube"));
    assert_eq!(
        kc["contexts"][0]["context"]["namespace"].as_str(),
        Some("default")
    );
    assert_eq!(
        kc["clusters"][0]["cluster"]["server"].as_str(),
        Some(format!("https://127.0.0.1:{}", s.port).as_str())
    );
    assert!(kc["clusters"][0]["cluster"]["certificate-authority-data"].is_string());
    assert_eq!(s.must(&["config", "current-context"]).trim(), "rkube");

    // The admin certificate: CN=admin, O=system:masters.
    let subject = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(&s.creds().cert)
        .output()
        .expect("run openssl");
    let subject = String::from_utf8_lossy(&subject.stdout);
    assert!(subject.contains("CN=admin"), "{subject}");
    assert!(subject.contains("O=system:masters"), "{subject}");

    // The serving certificate verifies for every upstream name of the API server.
    for host in [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        let out = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "20",
                "--cacert",
            ])
            .arg(&s.creds().ca)
            .arg("--cert")
            .arg(&s.creds().cert)
            .arg("--key")
            .arg(&s.creds().key)
            .arg("--resolve")
            .arg(format!("{host}:{}:127.0.0.1", s.port))
            .arg(format!("https://{host}:{}/readyz", s.port))
            .output()
            .expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "200",
            "TLS for {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.insert(p.display().to_string(), fs::read(&p).unwrap());
        }
    }
    out
}

#[test]
fn restart_keeps_data_certificates_and_kubeconfig() {
    let mut s = Server::start_default();
    s.create(&namespace("persist"));
    s.create(&configmap("kept", "persist", &[("a", "b")]));
    s.create(&deployment("kept-deploy", "default", 2));
    s.must(&["delete", "cm", "kept", "-n", "persist", "--dry-run=server"]);
    s.create(&configmap("deleted-before-restart", "default", &[]));
    s.must(&["delete", "cm", "deleted-before-restart"]);
    let before = s.get_json(&["cm", "kept", "-n", "persist"]);
    let kubeconfig = fs::read(s.kubeconfig()).unwrap();
    let tls = files_under(&s.data_dir.join("tls"));
    assert!(!tls.is_empty());

    let status = s.stop();
    assert!(status.success(), "SIGTERM exit status {status}");
    s.restart();

    assert_eq!(
        fs::read(s.kubeconfig()).unwrap(),
        kubeconfig,
        "kubeconfig changed across restart"
    );
    assert_eq!(
        files_under(&s.data_dir.join("tls")),
        tls,
        "certificates changed across restart"
    );
    let after = s.get_json(&["cm", "kept", "-n", "persist"]);
    assert_eq!(after, before, "object changed across restart");
    assert_eq!(
        s.get_json(&["deploy", "kept-deploy"])["spec"]["replicas"],
        2
    );
    assert!(
        !s.kc().exists(&["cm", "deleted-before-restart"]),
        "a deleted object came back"
    );
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "persist",
    ] {
        assert!(s.kc().exists(&["ns", ns]), "namespace {ns} lost");
    }
    // Writes continue with higher resourceVersions.
    s.create(&configmap("after", "default", &[]));
    let rv = |o: &serde_json::Value| -> u64 {
        o["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rv(&s.get_json(&["cm", "after"])) > rv(&before));
}

#[test]
fn second_server_on_the_same_data_dir_refuses() {
    let s = Server::start_default();
    let mut args = s.server_args();
    let port_idx = args
        .iter()
        .position(|a| a == "--https-listen-port")
        .unwrap()
        + 1;
    args[port_idx] = free_port().to_string();
    let mut cmd = Command::new(rkube_bin());
    cmd.args(&args).stdin(Stdio::null());
    let out = run_with_timeout(cmd, None, Duration::from_secs(20));
    assert!(!out.status.success(), "the second server started: {out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("already in use"),
        "message should say the data dir is already in use:\n{text}"
    );
    // The first server is unharmed.
    assert_eq!(s.http_get("/readyz").code, 200);
    s.create(&configmap("still-works", "default", &[]));
}

#[test]
fn sigterm_and_sigint_exit_cleanly() {
    let mut s = Server::start_default();
    let status = s.stop();
    assert_eq!(status.code(), Some(0), "SIGTERM: {status}");

    let mut s2 = Server::start_default();
    s2.create(&configmap("x", "default", &[]));
    let mut child = s2.take_child();
    sigint(&child);
    let status =
        wait_exit(&mut child, Duration::from_secs(20)).expect("server did not exit on SIGINT");
    assert_eq!(status.code(), Some(0), "SIGINT: {status}\n{}", s2.log());
    // The lock is released: the data dir can be served again.
    s2.restart();
    assert!(s2.kc().exists(&["cm", "x"]));
}

#[test]
fn write_kubeconfig_to_another_path() {
    let extra = tempfile::tempdir().unwrap();
    let path = extra.path().join("admin.yaml");
    let s = Server::start(ServerOpts {
        extra_args: vec!["--write-kubeconfig".into(), path.display().to_string()],
        ..ServerOpts::default()
    });
    wait_until(WAIT, "the extra kubeconfig is written", || path.is_file());
    let k = s.kc().with_kubeconfig(&path);
    let out = k.must(&["get", "ns", "default", "-o", "name"]);
    assert_eq!(out.trim(), "namespace/default");
}
